"""Headless Chromium (Debian's, driven by Playwright) for tests that open a page.

``open_page`` loads a URL, collects console errors, page errors and dialogs (an
``alert`` a hostile name managed to run would show up there), and saves a screenshot
under ``test-artifacts/`` for a person to look at.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from .required import CHROMIUM

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@dataclass
class PageProblems:
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def all(self) -> list[str]:
        return self.console_errors + self.page_errors + self.dialogs


def watch(page: object) -> PageProblems:
    """Collect the page's console errors, uncaught errors and dialogs from now on."""
    problems = PageProblems()
    page.on(
        "console",
        lambda message: (
            problems.console_errors.append(message.text) if message.type == "error" else None
        ),
    )
    page.on("pageerror", lambda error: problems.page_errors.append(str(error)))

    def on_dialog(dialog: object) -> None:
        problems.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    return problems


@contextmanager
def open_page(
    url: str, screenshot: str, *, width: int = 1280, height: int = 900, full_page: bool = False
) -> Iterator[tuple[object, PageProblems]]:
    """The loaded page and the problems seen while loading it; screenshot on exit."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            problems = watch(page)
            page.goto(url, wait_until="load")
            yield page, problems
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / screenshot), full_page=full_page)
        finally:
            browser.close()
