"""The notebooks run top to bottom and show what their prose says they show.

Each committed notebook is executed again in a temporary copy; the key facts are
checked in the fresh outputs and in the committed ones (which readers on the web see).
"""

from __future__ import annotations

import importlib.util
import re
import shutil
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"

pytestmark = pytest.mark.slow

TOUR_FACTS = [
    r"observers inserted by static InsertObservers on forward",
    r"not observed \[delayed\]: The nn_conv2d_nn_relu fusion pattern delays observing %\d+ "
    r"\(the result of conv1\.forward\(\)\)",
    r"delayObservingValuesInPattern\(pattern=nn_conv2d_nn_relu",
    r"\d+ observer differences \(\d+ removed, \d+ added\)",
    r"removed +layer1\.0\.conv2:forward:%weight",
    r"added +<top>:forward:%x\.9",
    r"fill_boundary_value_map +\d+ +0 +0 +0 +0",
    r"step \d+: nn_conv2d_nn_relu delays layer1\.0:forward:%6",
    r'"layer1\.0\.conv2": None,\n\}\nobserved = obsviz\.prepare_jit\(model, qconfig_dict\)',
]

WHY_FACTS = [
    r"<top>:forward:%y\.1: NOT observed \[delayed\]\nThe nn_conv2d_nn_relu fusion pattern",
    r"<top>:forward:%y\.1: observed \[observed_for_callee_output\]",
    r"nn_conv2d_nn_relu does not fuse",
    r"<top>:forward:%total\.1: NOT observed \[propagate_input_unobserved\]",
    r"<top>:forward:%total\.1: observed \[observed_here\]",
    r"head\.fc:forward:%weight: NOT observed \[no_qconfig\]\nModule head\.fc has no qconfig "
    r"\(it inherits None from 'head'\)",
    r"head\.fc:forward:%weight: observed \[observed_here\]",
    r"split: b1 -> ",
    r"b0\.conv:forward:%weight: observed \[observed_here\]",
    r"b1\.conv:forward:%weight: NOT observed \[no_qconfig\]",
    r"splits: \(\)",
    r"the branches of an `if` return values observed differently",
    r"Fix: the branch depends on self\.training",
    r"obsviz Run: 3 observers inserted by static InsertObservers",
    r"Fix: the branch depends on self\.p, self\.training \(passed to function "
    r"stochastic_depth\)",
    r"obsviz Run: 4 observers inserted by static InsertObservers",
    r"FunctionWarning: <top>\.forward calls function .*scale_and_project",
    r"in_function",
    r"project:forward:%weight: observed \[observed_here\]",
    r"conv:_conv_forward:%\d+: NOT observed \[dynamic_rules\]",
    r"<top>:forward:%features\.1: observed \[observed_here\]\n_observer_\d+ "
    r"\(PlaceholderObserver\)",
    r"<top>:forward:%y\.1: observed \[observed_for_callee_output\]\n_observer_\d+ "
    r"\(HistogramObserver\)",
]

CALIBRATION_FACTS = [
    r"<obsviz Calibration: \d+ observers over 8 batches, static quantization>",
    r"\[warning\] outliers at <top>:forward:%9 \(_observer_5\): channel 3 \(dim 1\)",
    r"<obsviz Plot: <top>:forward:%9  \(_observer_5: HistogramObserver",
    r"calibrated observer _observer_5 on <top>:forward:%9: HistogramObserver",
    r"flag \[warning\] outliers: channel 3",
    r"equals calculate_qparams\(\): True",  # the notebook's own torch check
    r"converted vs simulated +inf dB",
    r"# output SQNR [\d.]+ dB -> [\d.]+ dB \(simulated\)\nqconfig_dict = \{\*\*qconfig_dict,",
    r"same scales as ours: True",
]


def _build_module():
    spec = importlib.util.spec_from_file_location("notebooks_build", NOTEBOOKS / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def text_of(notebook: nbformat.NotebookNode) -> str:
    """Every text output, in order: streams, plain-text results, and errors."""
    parts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.output_type == "stream":
                parts.append(output.text)
            elif output.output_type in ("execute_result", "display_data"):
                parts.append(output.data.get("text/plain", ""))
            elif output.output_type == "error":
                parts.append(f"ERROR {output.ename}: {output.evalue}")
    return "\n".join(parts)


def mime_count(notebook: nbformat.NotebookNode, mime: str) -> int:
    return sum(
        mime in output.get("data", {})
        for cell in notebook.cells
        for output in cell.get("outputs", [])
    )


def check_facts(text: str, facts: list[str]) -> None:
    missing = [fact for fact in facts if not re.search(fact, text)]
    assert not missing, f"outputs lack {missing}"
    assert "ERROR " not in text and "Traceback" not in text


@pytest.fixture(scope="module")
def build():
    return _build_module()


@pytest.fixture(scope="module")
def executed(build, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Both committed notebooks, executed again in a temp copy of the folder."""
    workdir = tmp_path_factory.mktemp("notebooks")
    result = {}
    for name in ("tour", "why_not_observed", "calibration"):
        copy = workdir / f"{name}.ipynb"
        shutil.copy(NOTEBOOKS / f"{name}.ipynb", copy)
        result[name] = build.execute(nbformat.read(copy, as_version=4), workdir)
    return result


@pytest.mark.parametrize(
    ("name", "facts"),
    [("tour", TOUR_FACTS), ("why_not_observed", WHY_FACTS), ("calibration", CALIBRATION_FACTS)],
)
def test_notebook_runs_and_shows_its_facts(executed, name, facts):
    notebook = executed[name]
    check_facts(text_of(notebook), facts)
    assert all(cell.get("execution_count") for cell in notebook.cells if cell.cell_type == "code")


def test_tour_shows_figures_tables_and_the_explorer(executed):
    tour = executed["tour"]
    assert mime_count(tour, "image/svg+xml") == 4  # neighbourhood, before, after, diff
    assert mime_count(tour, "text/html") >= 4  # tables
    assert mime_count(tour, "application/vnd.jupyter.widget-view+json") == 1


@pytest.mark.parametrize(
    ("name", "facts"),
    [("tour", TOUR_FACTS), ("why_not_observed", WHY_FACTS), ("calibration", CALIBRATION_FACTS)],
)
def test_committed_notebooks_carry_outputs_and_match_their_source(build, name, facts):
    path = NOTEBOOKS / f"{name}.ipynb"
    committed = nbformat.read(path, as_version=4)
    nbformat.validate(committed)
    check_facts(text_of(committed), facts)
    fresh = build.make_notebook(build.NOTEBOOKS[name])
    assert [c.source for c in committed.cells] == [c.source for c in fresh.cells], (
        f"{path.name} differs from notebooks/build.py: run python notebooks/build.py"
    )
    assert path.stat().st_size < 2_000_000


def test_calibration_notebook_shows_the_plot_and_the_overlay(executed):
    notebook = executed["calibration"]
    svgs = [
        output.data["image/svg+xml"]
        for cell in notebook.cells
        for output in cell.get("outputs", [])
        if "image/svg+xml" in output.get("data", {})
    ]
    assert len(svgs) == 2  # the observer's plot, the figure with overlay="sqnr"
    assert "SQNR with every observer quantizing" in svgs[1]
    assert re.search(r"SQNR [\d.]+ dB", svgs[1])


def test_a_print_flushed_in_two_parts_is_one_output(build, tmp_path):
    """The kernel sends stdout on a timer; the facts above must not depend on when."""
    notebook = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell(
                "import sys, time\n"
                "sys.stdout.write('first line\\n'); sys.stdout.flush(); time.sleep(0.3)\n"
                "print('second line')"
            )
        ]
    )
    outputs = build.execute(notebook, tmp_path).cells[0].outputs
    assert [(o.output_type, o.text) for o in outputs] == [("stream", "first line\nsecond line\n")]
