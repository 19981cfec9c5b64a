"""The calibration where the user already looks: ``run.explain`` answers with the
observer's range, qparams and error, checked against the observer itself and torch's
fake-quantize arithmetic."""

from __future__ import annotations

import html
import math

import pytest
import torch
from torch.ao.quantization import get_default_qconfig

import obsviz
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
