"""The HTML report: its sections, a failed run, hostile names, and a real browser."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from torch.ao.quantization import get_default_qconfig
from torch.ao.quantization.quantize_jit import prepare_jit

import obsviz
from obsviz.__main__ import main
from obsviz.report import (
    Report,
    ReportHeader,
    build_report,
    quantizable_unobserved,
    render_html,
    write_report,
)

from .browser import open_page
from .corpus import case, script
from .failure_models import AuxHead
from .hostile_models import EVIL_METHOD, EVIL_MODULE, EVIL_NAMES, EVIL_VALUE, hostile_model
from .observed_graphs import quantizable_without_observer
from .required import require_chromium

QCONFIG = get_default_qconfig("fbgemm")


@pytest.fixture(scope="module")
def small_run() -> obsviz.Run:
    return obsviz.prepare_jit(obsviz.samples.load("resnet_small"), {"": QCONFIG})._obsviz_run


@pytest.fixture(scope="module")
def small_html(small_run: obsviz.Run) -> str:
    header = ReportHeader("resnet_small", qconfig=[("", "fbgemm")])
    return render_html(build_report(small_run, header))


@pytest.fixture(scope="module")
def hostile_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    model = hostile_model()
    run = obsviz.insert_observers(model, {"": QCONFIG, EVIL_MODULE: None}, method_name=EVIL_METHOD)
    path = tmp_path_factory.mktemp("hostile") / "hostile.html"
    header = ReportHeader(
        EVIL_MODULE, qconfig=[("", "fbgemm"), (EVIL_MODULE, EVIL_VALUE)], warnings=[EVIL_VALUE]
    )
    return write_report(path, run, header)


def _listed_values(report: Report) -> set[tuple[str, str, int]]:
    return {
        (e.value.module_path, e.value.graph.method, e.value.unique) for e in report.explanations
    }


def _assert_page_lists_exactly(run: obsviz.Run, name: str) -> str:
    """The report explains every tensor value with a quantizable use and no observer,
    found by reading run.module's graphs with helper.cpp's op lists (tests/observed_graphs),
    and nothing else."""
    expected = quantizable_without_observer(run.module, run.entry_method)
    report = build_report(run, ReportHeader(name))
    page = render_html(report)
    assert _listed_values(report) == expected
    assert page.count("<details class='value") == len(expected) > 0
    for explanation in report.explanations:
        assert f"<summary><code>{html.escape(str(explanation.value))}</code>" in page
    return page


# Between them, each clause of "a quantizable use" decides some value: a quantizable
# producer, an add / mul / cat producer, a quantizable user, batch_norm's input-only rule,
# static lists in a dynamic run; and values in loops, If branches and called functions.
REPORT_CASES = (
    "mobilenet_v3_tiny_static",
    "conv_bn_dynamic",
    "loop_between_convs_static",
    "function_needs_observer_conv_static",
    "nested_if_static",
)


@pytest.mark.parametrize("name", REPORT_CASES)
@pytest.mark.filterwarnings("ignore::obsviz.LoopWarning", "ignore::obsviz.FunctionWarning")
def test_explains_every_value_with_a_quantizable_use_and_no_observer(name):
    c = case(name)
    run = obsviz.insert_observers(
        script(c), c.qconfig_dict(), method_name=c.method_name, quant_type=c.quant_type
    )
    _assert_page_lists_exactly(run, name)


def test_explanations_of_resnet_small(small_run, small_html):
    _assert_page_lists_exactly(small_run, "resnet_small")
    candidates = quantizable_unobserved(small_run)
    assert set(candidates["reason"]) >= {"delayed", "observed_at_call_site"}
    # the stem conv's output (aten::conv2d's, in conv1), delayed by the conv-relu fusion
    stem = candidates.query("module_path == 'conv1' and producer == 'aten::conv2d'")
    assert list(stem["reason"]) == ["delayed"]
    assert f"<code>conv1:_conv_forward:%{stem['value'].iloc[0]}</code>" in small_html
    assert (
        "The nn_conv2d_nn_relu fusion pattern delays observing the value it stands for, "
        "%4 in conv1.forward, to %10 in &lt;top&gt;.forward" in small_html
    )


def test_summary_figures_and_tables(small_run, small_html):
    # the observers torch's own prepare_jit puts in the module: one per instance, so an
    # observer of a type two instances share counts twice
    observed = prepare_jit(obsviz.samples.load("resnet_small"), {"": QCONFIG})
    held = sum(
        name.rsplit(".", 1)[-1].startswith("_observer_") for name, _ in observed.named_modules()
    )
    assert held > len(small_run.inserted)  # resnet_small has such a shared type
    assert f"<div class='n'>{held}</div><div class='t'>observers inserted" in small_html
    # diff, after, before, and one BasicBlock per stage (each stage's block is its own type)
    assert small_html.count("<svg") == 3 + 4
    assert "<?xml" not in small_html and "<!DOCTYPE svg" not in small_html
    for table in ("inserted", "delay", "qconfig", "observed", "values"):
        assert f"<code>run.tables.{table}</code>" in small_html
    assert "nn_conv2d_nn_relu" in small_html and "_observer_0" in small_html


def test_submodule_figures_show_the_observers_the_pass_put_inside(small_run):
    report = build_report(small_run, ReportHeader("resnet_small"))
    drawn = {figure.path: figure for figure in report.module_figures}
    assert set(drawn) == {f"layer{stage}.0" for stage in range(1, 5)}
    for path, figure in drawn.items():
        block = small_run.module
        for name in path.split("."):
            block = getattr(block, name)
        observers = [name for name, _ in block.named_children() if name.startswith("_observer_")]
        assert figure.observers == len(observers) > 0
        assert all(f"+ {name}" in figure.svg for name in observers), path
        assert figure.graph_name == "BasicBlock.forward"
    assert report.modules_not_drawn == []


def test_self_contained_and_script_free(small_html):
    assert not re.search(r"<script|<link|<iframe|\bsrc=|@import|url\(", small_html, re.IGNORECASE)
    assert "Content-Security-Policy" in small_html


def test_failed_run_shows_diagnosis_then_partial_views(tmp_path, capsys):
    model_path = tmp_path / "aux.pt"
    import torch

    torch.jit.save(torch.jit.script(AuxHead()), str(model_path))
    out = tmp_path / "aux.html"
    assert main(["report", str(model_path), "--out", str(out)]) == 1
    page = out.read_text()
    failure = page.index("<section class='failure' id='failure'>")
    assert failure < page.index("id='summary'") < page.index("id='explanations'")
    assert "the branches of an `if` return values observed differently" in page
    assert "branch 1 returns %" in page and "NOT observed" in page
    assert "<code>run.tables.inserted</code>" in page  # the partial run's views follow
    assert "the pass failed" in capsys.readouterr().err


def test_hostile_names_are_escaped(hostile_report):
    page = hostile_report.read_text()
    for name in EVIL_NAMES:
        assert name not in page
    # as elements, never: only as escaped text (html.escape's &#x27;, Graphviz's &#39;)
    assert not re.search(r"<(img|script)\b|<svg[^>]*\sonload", page, re.IGNORECASE)
    assert "&lt;img src=x onerror=alert(&#x27;module&#x27;)&gt;" in page
    assert "&lt;script&gt;alert(&#x27;value&#x27;)&lt;/script&gt;" in page


@pytest.mark.slow
def test_hostile_names_show_as_text_in_the_browser(hostile_report):
    require_chromium()
    with open_page(hostile_report.as_uri(), "report_hostile.png") as (page, problems):
        page.locator("details").evaluate_all("els => els.forEach(e => e.open = true)")
        text = page.inner_text("body")
        assert page.locator("script, img, [onload], [onerror]").count() == 0
    assert problems.all() == []
    for name in EVIL_NAMES:
        assert name in text, name


@pytest.mark.slow
def test_resnet50_report_opens_cleanly(tmp_path, capsys):
    """Its speed is measured in benchmarks/bench_report.py, not here."""
    out = tmp_path / "resnet50.html"
    assert main(["report", "--sample", "resnet50", "--out", str(out)]) == 0
    require_chromium()
    with open_page(out.as_uri(), "report_resnet50.png") as (page, problems):
        # diff, after, before, and the first and a repeated Bottleneck of each stage
        assert page.locator("svg").count() == 3 + 8
        assert "observers inserted" in page.inner_text("#summary")
    assert problems.all() == []
