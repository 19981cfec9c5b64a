"""The Explorer in a real browser: JupyterLab runs a notebook that opens it, headless
Chromium (Debian's, driven by Playwright) shows it, and a qconfig toggle changes the graph.

Screenshots go to ``test-artifacts/`` for a person to look at. The server runs on a free
localhost port with a token, in a temporary directory, and is always shut down.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
from torch.ao.quantization import get_default_qconfig

import obsviz

from .browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, PageProblems, watch
from .corpus import real_pass
from .observed_graphs import observer_sites
from .required import require_chromium

REPO = Path(__file__).resolve().parent.parent
NOTEBOOK_SOURCE = """\
import obsviz
from torch.ao.quantization import get_default_qconfig

model = obsviz.samples.load("resnet_small")
obsviz.Explorer(model, qconfig_dict={"": get_default_qconfig("fbgemm")})"""
FAILING_SOURCE = """\
import torch, obsviz
from torch.ao.quantization import default_qconfig
from tests.failure_models import StochasticDepthBlocks

model = torch.jit.script(StochasticDepthBlocks().eval())
obsviz.Explorer(model, qconfig_dict={"": default_qconfig})"""

playwright_api = pytest.importorskip("playwright.sync_api")
pytest.importorskip("jupyterlab")
pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _chromium() -> None:
    require_chromium()


def _lab_config(config_dir: Path) -> None:
    """No news toast over the screenshots: turn off JupyterLab's announcements plugin."""
    labconfig = config_dir / "labconfig"
    labconfig.mkdir(parents=True)
    (labconfig / "page_config.json").write_text(
        json.dumps({"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}})
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _notebook(path: Path, source: str) -> None:
    cell = {
        "cell_type": "code",
        "execution_count": None,
        "id": "explorer",
        "metadata": {},
        "outputs": [],
        "source": source,
    }
    notebook = {
        "cells": [cell],
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
    }
    path.write_text(json.dumps(notebook))


def _wait_for_server(url: str, server: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"JupyterLab exited early:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(
        f"JupyterLab did not answer within {timeout:.0f} s:\n{log.read_text()[-3000:]}"
    )


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A JupyterLab server on a free port, serving a temp dir with the test notebooks;
    gives the URL of explorer.ipynb (failing.ipynb is beside it)."""
    root = tmp_path_factory.mktemp("lab")
    _notebook(root / "explorer.ipynb", NOTEBOOK_SOURCE)
    _notebook(root / "failing.ipynb", FAILING_SOURCE)
    _lab_config(root / ".config")
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(
        os.environ,
        JUPYTER_CONFIG_DIR=str(root / ".config"),
        JUPYTER_RUNTIME_DIR=str(root / ".runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(root / ".settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(root / ".workspaces"),
        IPYTHONDIR=str(root / ".ipython"),
        # the kernel imports the obsviz under test, wherever it is installed from
        PYTHONPATH=os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]),
        PYTHONWARNINGS="ignore",
    )
    log = root / "jupyterlab.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jupyterlab",
                "--no-browser",
                f"--port={port}",
                "--ServerApp.ip=127.0.0.1",
                f"--IdentityProvider.token={token}",
                f"--ServerApp.root_dir={root}",
                "--ServerApp.port_retries=0",
                "--ServerApp.allow_root=True",
                "--LabApp.news_url=None",
                "--LabApp.extension_manager=readonly",
                "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            ],
            cwd=root,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_for_server(f"{base}/api/status?token={token}", server, log, timeout=60)
        yield f"{base}/doc/tree/explorer.ipynb?token={token}", root
    finally:
        _stop(server)


def _stop(server: subprocess.Popen) -> None:
    """Stop the server and the kernels it started (its own process group)."""
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=5)
    with contextlib.suppress(ProcessLookupError):  # kernels left behind in the group
        os.killpg(server.pid, signal.SIGKILL)


def _run_first_cell(page, tries: int = 5) -> None:
    """Click into the first cell and press Shift+Enter, as a user would; again if the
    kernel was not connected yet and the cell did not start."""
    editor = page.locator(".jp-Notebook .jp-Cell .jp-InputArea-editor").first
    editor.wait_for(timeout=60_000)
    page.get_by_text("Python 3 (ipykernel) | Idle").wait_for(timeout=60_000)
    prompt = page.locator(".jp-Notebook .jp-Cell .jp-InputPrompt").first
    for _ in range(tries):
        editor.click()
        page.keyboard.press("Shift+Enter")
        try:
            page.wait_for_function(
                "el => /\\[(\\*|\\d+)\\]/.test(el.textContent)",
                arg=prompt.element_handle(),
                timeout=5_000,
            )
            return
        except playwright_api.TimeoutError:
            continue
    raise AssertionError("the notebook's cell never started running")


def _graph_svg(page) -> str:
    return page.locator(".obsviz-graph svg").first.inner_html()


@contextlib.contextmanager
def _explorer_page(url: str, root: Path) -> Iterator[tuple[object, object, PageProblems]]:
    """Chromium on the notebook at ``url``, its cell run: (page, the Explorer element, the
    console errors, page errors and dialogs seen from loading the page on)."""
    ARTIFACTS.mkdir(exist_ok=True)
    with playwright_api.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(root / ".chromium-profile"),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1680, "height": 3000},
        )
        try:
            page = context.new_page()
            problems = watch(page)
            page.goto(url)
            _run_first_cell(page)
            explorer = page.locator(".obsviz-explorer")
            explorer.wait_for(timeout=90_000)
            page.locator(".obsviz-graph svg").first.wait_for(timeout=60_000)
            assert "Error displaying widget" not in page.content()
            page.mouse.move(0, 0)
            yield page, explorer, problems
        finally:
            context.close()


# ---------------------------------------------------------------------- the oracle
QCONFIG = get_default_qconfig("fbgemm")
TOGGLED = "layer1"


@pytest.fixture(scope="module")
def real_sites() -> dict[str, dict]:
    """The real pass's observers on the notebook's model, before and after the toggle."""
    before = observer_sites(real_pass(obsviz.samples.load("resnet_small"), {"": QCONFIG}))
    after = observer_sites(
        real_pass(obsviz.samples.load("resnet_small"), {"": QCONFIG, TOGGLED: None})
    )
    return {"before": before, "after": after}


def _paths(sites: Iterable[tuple]) -> Counter[str]:
    return Counter(path or "<top>" for path, _, _ in sites)


def _inside(sites: Iterable[tuple], path: str) -> int:
    return sum(
        1 for site_path, _, _ in sites if site_path == path or site_path.startswith(f"{path}.")
    )


# ---------------------------------------------------------------------- reading the page
def _call_node_texts(page, path: str) -> list[str]:
    """The lines of the collapsed call node for submodule ``path`` in the graph."""
    found = page.evaluate(
        """path => [...document.querySelectorAll('.obsviz-graph svg g.node')]
             .map(g => [...g.querySelectorAll('text')].map(t => t.textContent.trim()))
             .filter(lines => lines[0] === path)""",
        path,
    )
    assert len(found) == 1, found
    return found[0]


def _observers_inside(page, path: str) -> int:
    counts = [
        int(m.group(1))
        for line in _call_node_texts(page, path)
        if (m := re.fullmatch(r"\+?(\d+) observers? inside", line))
    ]
    return counts[0] if counts else 0


def _diff_entries(page) -> Counter[tuple[str, str]]:
    """(what happened, module path) of each observer the diff lists."""
    entries: Counter[tuple[str, str]] = Counter()
    for text in page.locator(".obsviz-diff .obsviz-diff-entry").all_inner_texts():
        match = re.match(r"\W*observer (removed|added) ([^\s:]+):", text)
        assert match, text
        entries[(match.group(1), match.group(2))] += 1
    return entries


def _diff_count(page, what: str) -> int:
    match = re.search(rf"(\d+) observers? {what}", page.locator(".obsviz-diff-head").inner_text())
    return int(match.group(1)) if match else 0


def _ask_why(page, label: str) -> str:
    """Filter the values table to ``label``, click its row, and read the explanation."""
    query = page.get_by_placeholder("filter rows: a name, op or reason")
    query.fill(label)
    query.press("Enter")
    row = page.locator(".obsviz-rows select").first.locator(
        "option", has_text=re.compile(re.escape(label) + r"(\s|$)")
    )
    row.first.wait_for(state="attached", timeout=30_000)
    page.locator(".obsviz-rows select").first.select_option(value=row.first.get_attribute("value"))
    explanation = page.locator(".obsviz-why .obsviz-explanation", has_text=label)
    explanation.wait_for(timeout=30_000)
    return explanation.inner_text()


def test_explorer_renders_and_a_toggle_changes_the_graph(
    lab: tuple[str, Path], real_sites: dict
) -> None:
    """What the page shows after the toggle is what the real pass does with that
    qconfig_dict: the observers it removes and adds, where; how many the collapsed
    layer1 call holds; and, for a clicked row, whether the value is observed."""
    url, root = lab
    before, after = real_sites["before"], real_sites["after"]
    removed, added = set(before) - set(after), set(after) - set(before)
    assert removed  # the toggle must matter for this test to mean anything
    with _explorer_page(url, root) as (page, explorer, problems):
        explorer.screenshot(path=str(ARTIFACTS / "explorer-start.png"))
        assert _observers_inside(page, TOGGLED) == _inside(before, TOGGLED) > 0

        svg = _graph_svg(page)
        page.locator(f".obsviz-qconfig.obsviz-m-{TOGGLED} select").select_option("None")
        page.wait_for_function(
            "before => { const svg = document.querySelector('.obsviz-graph svg');"
            " return svg !== null && svg.innerHTML !== before; }",
            arg=svg,
            timeout=30_000,
        )
        assert (
            f"You changed {TOGGLED}: inherit → None"
            in page.locator(".obsviz-diff-head").inner_text()
        )
        assert (_diff_count(page, "removed"), _diff_count(page, "added")) == (
            len(removed),
            len(added),
        )
        assert _diff_entries(page) == Counter(
            {("removed", path): n for path, n in _paths(removed).items()}
            | {("added", path): n for path, n in _paths(added).items()}
        )
        assert _observers_inside(page, TOGGLED) == _inside(after, TOGGLED) == 0
        explorer.screenshot(path=str(ARTIFACTS / "explorer-toggled.png"))

        # the model's own input, which the top module still observes
        model_input = list(obsviz.samples.load("resnet_small").graph.inputs())[1].debugName()
        observer_class = after[("", "forward", ("input", 1))]
        why = _ask_why(page, f"<top>:forward:%{model_input}")
        assert re.search(r"(?m)^observed\b", why) and observer_class in why, why
        # a value whose observer the toggle removed: the real pass left layer1 bare
        first_removed = page.locator(".obsviz-diff .obsviz-diff-entry code").first.inner_text()
        assert first_removed.startswith(f"{TOGGLED}.")
        why = _ask_why(page, first_removed)
        assert re.search(r"(?m)^not observed\b", why), why
        explorer.screenshot(path=str(ARTIFACTS / "explorer-why.png"))
    assert problems.all() == []


def test_a_failed_pass_offers_its_fold_and_the_click_runs_it(lab: tuple[str, Path]) -> None:
    url, root = lab
    with _explorer_page(url.replace("explorer.ipynb", "failing.ipynb"), root) as (
        page,
        explorer,
        problems,
    ):
        assert "The pass failed" in explorer.inner_text()
        button = page.get_by_role("button", name="Fold self.training and run again")
        button.wait_for(timeout=30_000)
        explorer.screenshot(path=str(ARTIFACTS / "explorer-failed.png"))
        button.click()
        page.get_by_text("folded: nothing → self.training").wait_for(timeout=60_000)
        assert "The pass failed" not in explorer.inner_text()
        assert not button.is_visible()
        assert "Error displaying widget" not in page.content()
        explorer.screenshot(path=str(ARTIFACTS / "explorer-folded.png"))
    assert problems.all() == []
