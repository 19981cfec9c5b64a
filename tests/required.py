"""Programs outside Python that some tests need.

Outside CI a missing one skips the tests that need it, with how to install it; in CI
(``CI`` set, as ``.ci/run`` does) it is an error, so a broken set-up cannot pass quietly.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"


def require(present: bool, what: str, how_to_install: str) -> None:
    if present:
        return
    if os.environ.get("CI"):
        raise RuntimeError(f"{what} is missing: {how_to_install}")
    pytest.skip(f"{what} is not installed ({how_to_install})")


def require_dot() -> None:
    """Graphviz's ``dot``, which lays out every figure."""
    require(
        shutil.which("dot") is not None, "Graphviz's dot", "`make setup` installs Debian's graphviz"
    )


def require_chromium() -> None:
    """Debian's Chromium and Playwright, which drive it, for the tests that open a page."""
    pytest.importorskip("playwright.sync_api")
    require(Path(CHROMIUM).exists(), CHROMIUM, "`make setup` installs Debian's chromium")
