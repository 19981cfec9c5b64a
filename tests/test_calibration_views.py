"""The calibration where the user already looks: ``run.explain`` answers with the
observer's range, qparams and error, checked against the observer itself and torch's
fake-quantize arithmetic."""

from __future__ import annotations

import html
import math
import re

import pytest
import torch
from torch.ao.quantization import get_default_qconfig

import obsviz
from obsviz.figures import RenderError
from obsviz.figures.style import RAMP
from tests.calibration_models import OutlierChannel, scripted, sqnr_labels, sqnr_rows


@pytest.fixture(scope="module")
def calibrated():
    run = obsviz.insert_observers(scripted(OutlierChannel()), {"": get_default_qconfig("fbgemm")})
    g = torch.Generator().manual_seed(0)
    batches = [torch.randn(2, 3, 8, 8, generator=g) for _ in range(4)]
    cal = run.calibrate(batches, progress=False)
    cal.error(batches, progress=False)
    return run, cal


def _observer(cal, explanation):
    return dict(cal.module.named_modules())[explanation.calibration.observer]


def test_explain_of_a_weight_shows_its_observers_qparams_and_error(calibrated):
    run, cal = calibrated
    ex = run.explain("weight", module="conv2")
    observer = _observer(cal, ex)
    scale, zero_point = observer.calculate_qparams()
    assert torch.equal(ex.calibration.scale, scale)
    assert torch.equal(ex.calibration.zero_point, zero_point)
    assert ex.calibration.low == float(observer.min_val.min())
    assert ex.calibration.high == float(observer.max_val.max())
    weight = cal.module.conv2.weight.detach()
    quantized = torch.fake_quantize_per_channel_affine(
        weight, scale.float(), zero_point.int(), 0, -128, 127
    )
    expected = 10 * math.log10(
        float((weight.double() ** 2).sum()) / float(((quantized - weight).double() ** 2).sum())
    )
    assert ex.calibration.error["sqnr_local_db"] == pytest.approx(expected, abs=1e-3)
    assert ex.calibration.error["sqnr_accumulated_db"] == pytest.approx(expected, abs=1e-3)
    text, page = str(ex), ex._repr_html_()
    assert f"{float(scale[0]):.6g}" in text and f"{float(scale[0]):.6g}" in page
    assert f"{expected:.2f} dB" in text and f"{expected:.2f} dB" in page


def test_explain_of_an_activation_shows_the_range_its_observer_holds(calibrated):
    run, cal = calibrated
    ex = run.explain("x.14")
    observer = _observer(cal, ex)
    scale, zero_point = observer.calculate_qparams()
    assert ex.calibration.scale == float(scale) and ex.calibration.zero_point == int(zero_point)
    assert (ex.calibration.low, ex.calibration.high) == (
        float(observer.min_val),
        float(observer.max_val),
    )
    for shown in (
        f"scale {float(scale):.6g}, zero_point {int(zero_point)}",
        f"[{float(observer.min_val):.6g}, {float(observer.max_val):.6g}]",
    ):
        assert shown in str(ex)
    assert html.escape(f"{float(observer.max_val):.6g}") in ex._repr_html_()


def test_outlier_flag_reaches_the_explanation(calibrated):
    run, cal = calibrated
    ex = run.explain("x.10")  # relu2's output: conv2's 1000x channel sets its range
    assert [f.kind for f in ex.calibration.flags] == ["outliers"]
    assert "outliers" in str(ex) and "outliers" in ex._repr_html_()


def test_explanation_given_a_calibration(calibrated):
    run, cal = calibrated
    plain = run.at().explain("x.14")
    assert plain.calibration is None and "calibrated observer" not in str(plain)
    given = plain.with_calibration(cal)
    assert given.calibration == run.explain("x.14").calibration
    uncalibrated = obsviz.insert_observers(
        scripted(OutlierChannel()), {"": get_default_qconfig("fbgemm")}
    )
    assert uncalibrated.explain("x.14").calibration is None


# ---------------------------------------------------------------------- the overlay
def _overlay_edges(svg: str) -> dict[str, tuple[str, list[str]]]:
    """Per observer named in an overlaid edge's tooltip: (stroke colour, label lines)."""
    edges = {}
    for block in re.findall(
        r'<g id="edge\d+" class="edge[^"]*overlay[^"]*">(.*?)</g>\n'
        r"((?:<text[^>]*>[^<]*</text>\n)*)",
        svg,
        re.S,
    ):
        body, texts = block
        observer = re.search(r"observed by (_observer_\d+)", body).group(1)
        stroke = re.search(r'<path fill="none" stroke="([^"]+)"', body).group(1).upper()
        edges[observer] = (
            stroke,
            [html.unescape(t) for t in re.findall(r">([^<]*)</text>", texts)],
        )
    return edges


def _weight_sqnr(cal, conv: str) -> tuple[str, float]:
    module = getattr(cal.module, conv)
    name = next(n for n, _ in module.named_children() if n.startswith("_observer_"))
    scale, zero_point = getattr(module, name).calculate_qparams()
    weight = module.weight.detach()
    quantized = torch.fake_quantize_per_channel_affine(
        weight, scale.float(), zero_point.int(), 0, -128, 127
    )
    return name, 10 * math.log10(
        float((weight.double() ** 2).sum()) / float(((quantized - weight).double() ** 2).sum())
    )


def test_sqnr_overlay_colours_each_observed_value_by_its_error(calibrated):
    run, cal = calibrated
    svg = run.render(overlay="sqnr", depth=1).pipe(format="svg").decode()
    edges = _overlay_edges(svg)
    assert len(edges) == len(cal.sites)  # every observer's value, and only those
    for conv in ("conv1", "conv2", "conv3", "conv4"):
        observer, sqnr = _weight_sqnr(cal, conv)
        assert sqnr >= 40  # 8-bit per-channel weights: the top step of the scale
        assert edges[observer] == (RAMP[-1], ["%weight.1 : Tensor", f"SQNR {sqnr:.1f} dB"])
    # conv3's input range is set by conv2's 1000x channel: with every observer quantizing,
    # the values after it keep almost nothing of their signal and take the darkest step
    for observer in ("_observer_7", "_observer_8"):
        assert edges[observer][0] == RAMP[0]
    assert "SQNR with every observer quantizing" in html.unescape(svg)
    for color in RAMP:
        assert f'fill="{color.lower()}" stroke="transparent"' in svg  # a legend swatch


def test_range_overlay_labels_each_value_with_its_observers_range(calibrated):
    run, cal = calibrated
    edges = _overlay_edges(run.render(overlay="range").pipe(format="svg").decode())
    for name in ("_observer_4", "_observer_7"):  # the input (signed), relu3's output
        observer = getattr(cal.module, name)
        low, high = float(observer.min_val), float(observer.max_val)
        assert edges[name][1][-1] == f"[{low:.3g}, {high:.3g}]"
    # the outlier channel makes relu2's range (observer 6) the widest: the lightest step
    assert edges["_observer_6"][0] == RAMP[-1] and edges["_observer_4"][0] == RAMP[0]


def test_overlay_refuses_what_it_cannot_draw(calibrated):
    run, cal = calibrated
    fresh = obsviz.insert_observers(scripted(OutlierChannel()), {"": get_default_qconfig("fbgemm")})
    with pytest.raises(RenderError, match="run.calibrate"):
        fresh.render(overlay="range")
    unmeasured = fresh.calibrate([torch.randn(1, 3, 8, 8)], progress=False)
    with pytest.raises(RenderError, match=r"cal.error\(batches\)"):
        fresh.render(overlay="sqnr")
    fresh.render(overlay="range", calibration=unmeasured)
    with pytest.raises(RenderError, match="'sqnr', 'range'"):
        run.render(overlay="mse")
    with pytest.raises(RenderError, match='when="after".*when="diff"'):
        run.render(overlay="sqnr", when="before")


@pytest.fixture(scope="module")
def folded_resnet():
    """resnet_small with conv-bn folded, whose run.module names values unlike the input."""
    model = obsviz.prepare_jit(
        obsviz.samples.load("resnet_small"), {"": get_default_qconfig("fbgemm")}
    )
    run = model._obsviz_run
    batches = obsviz.samples.inputs("resnet_small", 2)
    cal = run.calibrate(batches, progress=False)
    return run, cal, cal.error(batches, progress=False).table


def test_the_diff_overlay_names_each_value_as_the_error_table_does(folded_resnet):
    """Each value the diff view colours is labelled with the name and SQNR its row of the
    error table gives it: the top level, and the module holding the worst value."""
    run, cal, table = folded_resnet
    worst_module = table.module_path.iloc[0]
    assert worst_module  # a submodule, whose graph is drawn on its own
    for module in ("", worst_module):
        figure = run.render(module=module, when="diff", overlay="sqnr", calibration=cal)
        drawn = sqnr_labels(figure.pipe(format="svg").decode())
        assert drawn == sqnr_rows(table, module) and drawn, module


# ---------------------------------------------------------------------- report and CLI
def _table_rows(page: str, anchor: str) -> list[dict[str, str]]:
    """The rows of the table in the report's ``<details id=anchor>``, as text by column."""
    section = page[page.index(f"<details id='{anchor}'") :]
    table = section[section.index("<table>") : section.index("</table>")]
    head = [html.unescape(c) for c in re.findall(r"<th>(.*?)</th>", table)]
    rows = []
    for row in re.findall(r"<tr>(<td.*?)</tr>", table):
        cells = [
            html.unescape(re.sub(r"<[^>]+>", "", c))
            for c in re.findall(r"<td[^>]*>(.*?)</td>", row)
        ]
        rows.append(dict(zip(head, cells, strict=True)))
    return rows


def _observer_calls(module: torch.jit.ScriptModule) -> list[str]:
    """The observers the top-level graph calls, in order."""
    return [
        node.s("name")
        for node in module.graph.nodes()
        if node.kind() == "prim::GetAttr" and node.s("name").startswith("_observer_")
    ]


def test_cli_report_with_inputs_has_a_calibration_section_torch_agrees_with(tmp_path, capsys):
    from torch.ao.quantization.quantize_jit import prepare_jit

    from obsviz.__main__ import main

    batches = obsviz.samples.inputs("resnet_small", 3)
    inputs, out = tmp_path / "inputs.pt", tmp_path / "report.html"
    torch.save(batches, inputs)
    status = main(
        [
            "report",
            "--sample",
            "resnet_small",
            "--inputs",
            str(inputs),
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert status == 0, capsys.readouterr().err
    page = out.read_text()
    assert "<a href='#calibration'>" in page and "<section id='calibration'>" in page
    # torch's own prepare_jit, calibrated on the same batches: the same observers hold the
    # same qparams as the report's ranges table shows
    theirs = prepare_jit(obsviz.samples.load("resnet_small"), {"": get_default_qconfig("fbgemm")})
    for batch in batches:
        theirs(*batch)
    # (torch and obsviz number the top-level observers differently: pair them by call order)
    ours = obsviz.prepare_jit(
        obsviz.samples.load("resnet_small"), {"": get_default_qconfig("fbgemm")}
    )
    rows = {
        r["observer"]: r
        for r in _table_rows(page, "calibration-ranges")
        if r["module_path"] == "<top>"
    }
    pairs = list(zip(_observer_calls(theirs), _observer_calls(ours), strict=True))
    assert len(pairs) == len(rows) == 3
    for their_name, our_name in pairs:
        scale, zero_point = getattr(theirs, their_name).calculate_qparams()
        assert (rows[our_name]["scale"], rows[our_name]["zero_point"]) == (
            f"{float(scale):.6g}",
            str(int(zero_point)),
        )
    worst = _table_rows(page, "calibration-error")
    sqnr = [float(r["sqnr_accumulated_db"]) for r in worst]
    assert sqnr == sorted(sqnr) and len(worst) == 12
    assert "run.render(when=&#x27;diff&#x27;, overlay=&#x27;sqnr&#x27;)" in page
    assert page.count("<svg") >= 2 + 3  # the overlay figures and the worst values' plots
    # self-contained and script-free; the plots' clip paths point inside the page only
    assert not re.search(r"<script|<link|<iframe|\bsrc=|@import|url\((?!#)", page, re.I)


def test_calibration_section_escapes_model_names(tmp_path):
    from obsviz.report import ReportHeader, build_report, render_html
    from tests.hostile_models import EVIL_METHOD, EVIL_VALUE, hostile_model

    run = obsviz.insert_observers(
        hostile_model(), {"": get_default_qconfig("fbgemm")}, method_name=EVIL_METHOD
    )
    batches = [torch.randn(1, 3, 4, 4) for _ in range(2)]
    cal = run.calibrate(batches, progress=False)
    cal.error(batches, progress=False)
    assert EVIL_VALUE.removeprefix("%") in set(cal.ranges.value)  # it reaches the section
    page = render_html(build_report(run, ReportHeader("hostile"), figures=(), calibration=cal))
    section = page[page.index("<section id='calibration'>") :]
    assert html.escape(EVIL_VALUE) in section
    assert not re.search(r"<(img|script)\b|<svg[^>]*\sonload", page, re.I)


@pytest.mark.parametrize(
    "saved, message",
    [
        ({"x": 1}, "holds a dict"),
        ([], "holds a list, not a non-empty list"),
        ([(torch.zeros(1), "text")], r"batch 0 is \(Tensor, str\)"),
    ],
)
def test_cli_refuses_inputs_it_cannot_calibrate_on(saved, message, tmp_path, capsys):
    from obsviz.__main__ import EXIT_BAD_INPUT, main

    inputs = tmp_path / "inputs.pt"
    torch.save(saved, inputs)
    status = main(
        [
            "report",
            "--sample",
            "resnet_small",
            "--inputs",
            str(inputs),
            "--out",
            str(tmp_path / "r.html"),
            "--no-progress",
        ]
    )
    assert status == EXIT_BAD_INPUT
    assert re.search(f"--inputs {re.escape(str(inputs))}: {message}", capsys.readouterr().err)


class FunctionalRelu(torch.nn.Module):
    """Functional relus: the observed graph names its values so that one observer's
    value name in ``cal.ranges`` is another observer's name in ``run.module``."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv1 = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(8, 8, 3, padding=1)
        self.conv3 = torch.nn.Conv2d(8, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv3(torch.relu(self.conv2(torch.relu(self.conv1(x)))))


def test_a_value_named_as_the_tables_name_it_finds_that_observer():
    run = obsviz.insert_observers(
        torch.jit.script(FunctionalRelu().eval()), {"": get_default_qconfig("fbgemm")}
    )
    cal = run.calibrate([torch.randn(1, 3, 8, 8)], progress=False)
    observed_names = {(s.module_path, s.value) for s in cal.sites}
    ranges = cal.ranges
    assert any(
        (r.module_path, r.value) in observed_names and r.value != s.value
        for r, s in zip(ranges.itertuples(), cal.sites, strict=True)
    )  # the trap
    for row in ranges.itertuples():
        site = cal.site(row.value, module=row.module_path, method=row.method)
        assert site.attribute == row.observer
        assert row.observer in cal.plot(row.value, module=row.module_path).title
