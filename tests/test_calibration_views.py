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
from tests.calibration_models import OutlierChannel, scripted


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
        weight, scale.float(), zero_point.int(), 0, -128, 127)
    expected = 10 * math.log10(float((weight.double() ** 2).sum())
                               / float(((quantized - weight).double() ** 2).sum()))
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
    assert (ex.calibration.low, ex.calibration.high) == (float(observer.min_val),
                                                          float(observer.max_val))
    for shown in (f"scale {float(scale):.6g}, zero_point {int(zero_point)}",
                  f"[{float(observer.min_val):.6g}, {float(observer.max_val):.6g}]"):
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
    uncalibrated = obsviz.insert_observers(scripted(OutlierChannel()),
                                           {"": get_default_qconfig("fbgemm")})
    assert uncalibrated.explain("x.14").calibration is None


# ---------------------------------------------------------------------- the overlay
def _overlay_edges(svg: str) -> dict[str, tuple[str, list[str]]]:
    """Per observer named in an overlaid edge's tooltip: (stroke colour, label lines)."""
    edges = {}
    for block in re.findall(r'<g id="edge\d+" class="edge[^"]*overlay[^"]*">(.*?)</g>\n'
                            r'((?:<text[^>]*>[^<]*</text>\n)*)', svg, re.S):
        body, texts = block
        observer = re.search(r"observed by (_observer_\d+)", body).group(1)
        stroke = re.search(r'<path fill="none" stroke="([^"]+)"', body).group(1).upper()
        edges[observer] = (stroke, [html.unescape(t) for t in re.findall(r">([^<]*)</text>",
                                                                          texts)])
    return edges


def _weight_sqnr(cal, conv: str) -> tuple[str, float]:
    module = getattr(cal.module, conv)
    name = next(n for n, _ in module.named_children() if n.startswith("_observer_"))
    scale, zero_point = getattr(module, name).calculate_qparams()
    weight = module.weight.detach()
    quantized = torch.fake_quantize_per_channel_affine(
        weight, scale.float(), zero_point.int(), 0, -128, 127)
    return name, 10 * math.log10(float((weight.double() ** 2).sum())
                                 / float(((quantized - weight).double() ** 2).sum()))


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
    fresh = obsviz.insert_observers(scripted(OutlierChannel()),
                                    {"": get_default_qconfig("fbgemm")})
    with pytest.raises(RenderError, match="run.calibrate"):
        fresh.render(overlay="range")
    unmeasured = fresh.calibrate([torch.randn(1, 3, 8, 8)], progress=False)
    with pytest.raises(RenderError, match=r"cal.error\(batches\)"):
        fresh.render(overlay="sqnr")
    fresh.render(overlay="range", calibration=unmeasured)
    with pytest.raises(RenderError, match="'sqnr', 'range'"):
        run.render(overlay="mse")
    with pytest.raises(RenderError, match="when=\"after\""):
        run.render(overlay="sqnr", when="diff")
