"""The Explorer in a real browser: JupyterLab runs a notebook that opens it, headless
Chromium (Debian's, driven by Playwright) shows it in JupyterLab's full interface with the
file browser open (its default), and a user's paths are driven: a qconfig toggle, stepping,
searching a value, at window widths of 1,280, 1,600 and 1,920 px, asserting what the page
lays out (nothing overflows its panel, the legend never covers the figure, no label is cut).

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
from torch.ao.quantization.quantize_jit import prepare_jit

import obsviz

from .browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, PageProblems, watch
from .observed_graphs import modules_naming, observer_sites
from .required import require_chromium

REPO = Path(__file__).resolve().parent.parent
NOTEBOOK_SOURCE = """\
import obsviz
from torch.ao.quantization import get_default_qconfig
from torch.ao.quantization.quantize_jit import prepare_jit

model = obsviz.samples.load("resnet_small")
obsviz.Explorer(model, qconfig_dict={"": get_default_qconfig("fbgemm")})"""
# the same, given inputs for step 6, one pixel of them planted to set the input's range
OUTLIER_AT = "<top>:forward:%x.1"
LAYOUT_SOURCE = """\
import obsviz
from torch.ao.quantization import get_default_qconfig

model = obsviz.samples.load("resnet_small")
inputs = obsviz.samples.inputs("resnet_small", 4)
inputs[0][0][0, 0, 0, 0] = 1000.0
obsviz.Explorer(model, qconfig_dict={"": get_default_qconfig("fbgemm")}, inputs=inputs)"""
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
    _notebook(root / "layout.ipynb", LAYOUT_SOURCE)
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
        # JupyterLab's whole interface, its workspace reset (the file browser open)
        yield f"{base}/lab/tree/explorer.ipynb?reset&token={token}", root
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
def _explorer_page(
    url: str, root: Path, width: int = 1680, height: int = 3000
) -> Iterator[tuple[object, object, PageProblems]]:
    """Chromium on the notebook at ``url``, its cell run: (page, the Explorer element, the
    console errors, page errors and dialogs seen from loading the page on)."""
    ARTIFACTS.mkdir(exist_ok=True)
    with playwright_api.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(root / ".chromium-profile"),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            # scrollbars as a user sees them (Playwright hides them by default), so the
            # screenshots show which panels scroll, and the layout check can tell
            ignore_default_args=["--hide-scrollbars"],
            viewport={"width": width, "height": height},
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
    """Torch's prepare_jit's observers on the notebook's model (conv-bn folded, then the
    real pass), before and after the toggle."""
    before = observer_sites(prepare_jit(obsviz.samples.load("resnet_small"), {"": QCONFIG}))
    after = observer_sites(
        prepare_jit(obsviz.samples.load("resnet_small"), {"": QCONFIG, TOGGLED: None})
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


def _change_marks_in_legend(page) -> list[bool]:
    """Whether step 3's legend lists the "+ new" and the "− removed" observer marks."""
    legend = page.locator(".obsviz-legend-box").inner_text()
    return [f"your last change {what}" in legend for what in ("added", "removed")]


def _ask_why(page, label: str) -> str:
    """Filter the values table to ``label``, click its row, and read the explanation."""
    query = page.get_by_placeholder("filter rows: a name, op or reason")
    query.fill(label)
    query.press("Enter")
    page.wait_for_function(  # the rows are the filtered ones, not those shown before
        """label => { const rows = [...document.querySelectorAll('.obsviz-rows option')];
                      return rows.length > 0
                             && rows.every(o => o.textContent.includes(label)); }""",
        arg=label,
        timeout=30_000,
    )
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
        assert _change_marks_in_legend(page) == [False, False]  # nothing changed yet
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

        # the change itself on the graph: observers added at the top, the module set to None
        svg = _graph_svg(page)
        page.get_by_role("button", name="changes", exact=True).click()
        page.wait_for_function(
            "before => document.querySelector('.obsviz-graph svg').innerHTML !== before",
            arg=svg,
            timeout=30_000,
        )
        assert page.locator(".obsviz-graph svg g.node.observer_added").count() == sum(
            1 for path, _, _ in added if path == ""
        )
        assert page.locator(".obsviz-graph svg g.node.qconfig-none", has_text=TOGGLED).count() == 1
        assert _change_marks_in_legend(page) == [True, True]
        explorer.screenshot(path=str(ARTIFACTS / "explorer-changes.png"))
        svg = _graph_svg(page)
        page.get_by_role("button", name="diff", exact=True).click()
        page.wait_for_function(
            "before => document.querySelector('.obsviz-graph svg').innerHTML !== before",
            arg=svg,
            timeout=30_000,
        )
        assert _change_marks_in_legend(page) == [False, False]  # the diff view draws none

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
    with _explorer_page(url.replace("/explorer.ipynb", "/failing.ipynb"), root) as (
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


# ---------------------------------------------------------------------- the layout
WIDTHS = (1280, 1600, 1920)
LAYOUT_PROBLEMS = """
root => {
  const tolerance = 1;  // rounding
  const box = el => el.getBoundingClientRect();
  // where content may be wider than the panel: it scrolls there, on purpose
  const SCROLLERS = '.obsviz-svg, .obsviz-table, .obsviz-tree, .obsviz-scroll, pre, select, '
                    + 'table';
  const problems = {overflowing: [], cut: [], untitled: [], legendOverFigure: false,
                    outsideOutput: false, titlesCut: [], clipped: [], strayScrollbars: []};
  const output = root.closest('.jp-OutputArea-output');
  if (output && box(root).right > box(output).right + tolerance) problems.outsideOutput = true;
  for (const el of root.querySelectorAll('*')) {
    const r = box(el);
    if (r.width === 0 || r.height === 0) continue;
    if (el.parentElement.closest(SCROLLERS)) continue;
    const panel = el.parentElement.closest('.obsviz-panel') || root;
    const p = box(panel);
    if (r.right > p.right + tolerance || r.left < p.left - tolerance) {
      problems.overflowing.push(`${el.tagName}.${String(el.className.baseVal ?? el.className)
        .split(' ').filter(c => c.startsWith('obsviz') || c.startsWith('widget')).join('.')}`
        + ` ${Math.round(r.left)}..${Math.round(r.right)} outside ${Math.round(p.left)}..`
        + `${Math.round(p.right)}`);
    }
  }
  // what is wider than its box shows a scrollbar there, or ends in "…" with the whole
  // in a tooltip: never cut without a sign
  for (const el of root.querySelectorAll('*')) {
    if (el.closest('svg') || el.offsetParent === null) continue;
    if (el.scrollWidth <= el.clientWidth + 1) continue;
    const style = getComputedStyle(el);
    if (style.overflowX === 'visible') continue;
    const scrollbar = el.offsetHeight - el.clientHeight - parseFloat(style.borderTopWidth)
                      - parseFloat(style.borderBottomWidth);
    const scrolls = ['auto', 'scroll'].includes(style.overflowX) && scrollbar > 0;
    const ellipsis = style.textOverflow === 'ellipsis' && el.title !== '';
    const what = `${el.tagName}.${String(el.className).split(' ')
      .filter(c => c.startsWith('obsviz')).join('.')} "${el.textContent.trim().slice(0, 60)}" `
      + `${el.scrollWidth} > ${el.clientWidth}`;
    if (!scrolls && !ellipsis) problems.clipped.push(what);
    // a scrollbar that moves a few pixels (a margin sticking out) only says "more here"
    if (scrolls && el.scrollWidth - el.clientWidth < 10) problems.strayScrollbars.push(what);
  }
  for (const el of root.querySelectorAll('button, label, .widget-label')) {
    if (el.offsetParent === null || el.scrollWidth <= el.clientWidth + 1) continue;
    if (el.classList.contains('obsviz-name')) {  // tree names: cut, with the whole in a tooltip
      if (!el.title.includes(el.textContent.split(' · ')[1] || '')) {
        problems.untitled.push(el.textContent);
      }
      continue;
    }
    problems.cut.push(`${el.tagName} "${el.textContent.trim()}" ${el.scrollWidth} > `
                      + `${el.clientWidth}`);
  }
  // step 3's legend and graph, and step 6's
  for (const [legend, graph] of [['.obsviz-legend-box', '.obsviz-graph'],
                                 ['.obsviz-calibrate-legend', '.obsviz-calibrate-graph']]) {
    const a = box(root.querySelector(legend)), b = box(root.querySelector(graph));
    if (a.width === 0 || b.width === 0) continue;
    problems.legendOverFigure ||= !(a.right <= b.left || b.right <= a.left
                                    || a.bottom <= b.top || b.bottom <= a.top);
  }
  // each figure's title (above it, or drawn in its SVG) readable whole: inside every box
  // of the app that clips it, so never under a scroller's edge
  for (const figure of ['.obsviz-graph', '.obsviz-why', '.obsviz-calibrate-graph']) {
    const titles = root.querySelectorAll(`${figure} .obsviz-figure-title, `
                                         + `${figure} svg g.graph > text`);
    if (!titles.length) problems.titlesCut.push(`${figure}: no title`);
    for (const title of titles) {
      const r = box(title);
      for (let clip = title.parentElement; clip && clip !== root; clip = clip.parentElement) {
        const style = getComputedStyle(clip);
        if (style.overflowX === 'visible' && style.overflowY === 'visible') continue;
        const c = box(clip), left = c.left + clip.clientLeft, top = c.top + clip.clientTop;
        if (r.left < left - tolerance || r.right > left + clip.clientWidth + tolerance
            || r.top < top - tolerance || r.bottom > top + clip.clientHeight + tolerance) {
          problems.titlesCut.push(`${figure} "${title.textContent.trim()}" `
            + `${Math.round(r.left)}..${Math.round(r.right)} shown in ${Math.round(left)}..`
            + `${Math.round(left + clip.clientWidth)}`);
          break;
        }
      }
    }
  }
  return problems;
}"""


# every text step 6's tables show from now on, in order
RECORD_CALIBRATION_VIEW = """() => {
  window.obsvizCalibrationSaid = [];
  const view = document.querySelector('.obsviz-calibration');
  new MutationObserver(() => window.obsvizCalibrationSaid.push(view.textContent.trim()))
    .observe(view, {childList: true, subtree: true, characterData: true});
}"""


def _settle(page) -> None:
    """Let JupyterLab and the widgets lay out after a resize."""
    page.wait_for_timeout(600)
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def _search(page, text: str) -> None:
    box = page.locator(".obsviz-search input")
    box.fill(text)
    box.press("Enter")


def _explained(page, label: str) -> None:
    """Wait until the explanation shown is that of ``label``."""
    page.locator(
        ".obsviz-why .obsviz-explanation > div:first-child code",
        has_text=re.compile(f"^{re.escape(label)}$"),
    ).wait_for(timeout=30_000)


def test_the_layout_fits_and_the_paths_work_at_three_widths(lab: tuple[str, Path]) -> None:
    """With JupyterLab's file browser open, at 1,280, 1,600 and 1,920 px: nothing overflows
    its panel, the legend is never over the figure, no button, label or figure title is
    cut; an ambiguous name offers a pick list, a pick explains it, and mid-pass the figure
    is titled with the step and shows values not reached yet in their own style; related
    values and the neighbourhood's values open their own explanation; step 6 calibrates
    on the notebook's inputs and shows a row per observer, the planted outlier's flag,
    and the graph coloured by SQNR with its legend."""
    url, root = lab
    with _explorer_page(
        url.replace("/explorer.ipynb", "/layout.ipynb"), root, width=WIDTHS[0], height=1100
    ) as (page, explorer, problems):
        assert page.locator(".jp-FileBrowser").is_visible()
        assert page.locator(".jp-FileBrowser").bounding_box()["width"] > 150

        _search(page, "%out.1")
        picks = page.locator(".obsviz-picks select option")
        picks.nth(1).wait_for(state="attached", timeout=30_000)
        count = picks.count()
        assert (
            count
            == len(
                modules_naming(obsviz.fold_conv_bn(obsviz.samples.load("resnet_small")), "out.1")
            )
            > 1
        )
        assert f"{count} values match" in page.locator(".obsviz-search-info").inner_text()
        assert not page.locator(".obsviz-why .obsviz-explanation").count()
        line = picks.nth(1).get_attribute("value")  # module:method:%name, then the producer
        page.locator(".obsviz-picks select").select_option(value=line)
        page.locator(".obsviz-why .obsviz-explanation", has_text=line.split()[0]).wait_for(
            timeout=30_000
        )

        # the explanation's related values, and its neighbourhood's values, are links
        link = page.locator(".obsviz-why a.obsviz-link").first
        target = link.get_attribute("data-obsviz-value")
        link.click()
        _explained(page, target)
        figure = page.locator(".obsviz-why [data-obsviz-graph]")
        graph = figure.get_attribute("data-obsviz-graph")
        edge = figure.locator("g.edge", has=page.locator("text", has_text="%")).last
        name = edge.locator("text").first.text_content().split()[0]
        edge.locator("path").first.click(force=True)
        _explained(page, f"{graph}:{name}")

        svg = _graph_svg(page)
        page.get_by_role("button", name="◀ phase").click()
        page.wait_for_function(
            "before => document.querySelector('.obsviz-graph svg').innerHTML !== before",
            arg=svg,
            timeout=30_000,
        )
        title = page.locator(".obsviz-graph .obsviz-figure-title").inner_text()
        assert re.search(r"what InsertObservers had added by step \d+ of \d+", title), title
        assert page.locator(".obsviz-graph svg g.edge.state-not_reached").count() > 0
        assert page.locator(".obsviz-graph svg g.edge.state-not_visited").count() == 0

        # step 6: calibrate on the notebook's inputs, saying so while it does
        page.evaluate(RECORD_CALIBRATION_VIEW)
        page.get_by_role("button", name="calibrate on the 4 inputs").click()
        rows = page.locator(".obsviz-calibration .obsviz-ranges tbody tr")
        rows.first.wait_for(timeout=120_000)
        said = page.evaluate("() => window.obsvizCalibrationSaid")
        first_result = next(i for i, text in enumerate(said) if "observers calibrated" in text)
        assert any(text.startswith("Calibrating on 4 inputs…") for text in said[:first_result]), (
            said
        )
        folded = obsviz.fold_conv_bn(obsviz.samples.load("resnet_small"))
        assert rows.count() == len(observer_sites(prepare_jit(folded, {"": QCONFIG})))
        flags = page.locator(".obsviz-calibration .obsviz-flag")
        assert flags.count() == 1
        flag = flags.first.inner_text()
        assert flag.startswith(f"outliers (warning) at {OUTLIER_AT}") and "Fix:" in flag, flag
        worst = page.locator(".obsviz-calibration .obsviz-worst tbody tr")
        assert worst.count() == 12
        legend = page.locator(".obsviz-calibrate-legend .obsviz-overlay-legend")
        assert legend.inner_text().startswith("SQNR with every observer quantizing")
        assert legend.locator(".obsviz-swatch").count() == 5
        assert page.locator(".obsviz-calibrate-graph svg g.edge.overlay").count() > 0

        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 1100})
            _settle(page)
            found = explorer.evaluate(LAYOUT_PROBLEMS)
            assert found == {
                "overflowing": [],
                "cut": [],
                "untitled": [],
                "legendOverFigure": False,
                "outsideOutput": False,
                "titlesCut": [],
                "clipped": [],
                "strayScrollbars": [],
            }, (width, found)
            page.screenshot(path=str(ARTIFACTS / f"explorer-{width}-window.png"))
            height = explorer.bounding_box()["height"]
            page.set_viewport_size({"width": width, "height": int(height) + 400})
            _settle(page)
            explorer.screenshot(path=str(ARTIFACTS / f"explorer-{width}.png"))
            page.locator(".obsviz-panel-calibrate").screenshot(
                path=str(ARTIFACTS / f"explorer-calibrate-{width}.png")
            )
    assert problems.all() == []
