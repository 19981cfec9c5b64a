"""How far the simulation can be trusted: the simulated model against torch's own
``convert_jit`` / ``convert_dynamic_jit`` on the samples.

Measured on 4 batches of ``obsviz.samples.inputs`` after calibrating on 4 others: the
simulated and the converted outputs agree exactly on resnet_small and mobilenet_v3_small
(static fbgemm) and to about 136 dB on transformer_encoder (dynamic), where the only
differences are float32 rounding between the fused int8 kernels and float ops on
dequantized values. A simulation that quantizes one thing differently (reduce_range,
the clamping range, a value's quantization at a use convert_dynamic_jit leaves float)
falls to 30-40 dB, at or below the converted model's own SQNR against float. 60 dB
leaves room for an occasional one-level rounding flip and catches any of those.
"""

from __future__ import annotations

import pytest
import torch
from torch.ao.quantization import default_dynamic_qconfig, get_default_qconfig

import obsviz

THRESHOLD_DB = 60.0

CASES = [
    ("resnet_small", "static"),
    ("mobilenet_v3_small", "static"),
    ("transformer_encoder", "dynamic"),
]


@pytest.mark.parametrize(("name", "quant_type"), CASES)
def test_the_simulation_agrees_with_the_converted_model(name: str, quant_type: str) -> None:
    model = obsviz.samples.load(name)
    if quant_type == "static":
        observed = obsviz.prepare_jit(model, {"": get_default_qconfig("fbgemm")})
    else:
        observed = obsviz.prepare_dynamic_jit(model, {"": default_dynamic_qconfig})
    cal = observed._obsviz_run.calibrate(obsviz.samples.inputs(name, 4, seed=1), progress=False)
    err = cal.error(obsviz.samples.inputs(name, 4, seed=2), progress=False)
    comparison = err.against_converted(obsviz.samples.inputs(name, 4, seed=2), progress=False)
    assert comparison.converted_vs_simulated.sqnr_db >= THRESHOLD_DB, str(comparison)
    # the converted model does lose something, and the simulation says how much
    assert comparison.converted_vs_float.sqnr_db < THRESHOLD_DB
    assert comparison.simulated_vs_float.sqnr_db == pytest.approx(
        comparison.converted_vs_float.sqnr_db, abs=0.5
    )
    assert err.output.sqnr_db == pytest.approx(comparison.simulated_vs_float.sqnr_db, abs=1e-6)


def test_the_simulation_is_torchs_debug_convert() -> None:
    """``convert_jit(debug=True)`` keeps quantize/dequantize around float ops: the
    simulation's arithmetic, done by torch."""
    model = obsviz.samples.load("resnet_small")
    observed = obsviz.prepare_jit(model, {"": get_default_qconfig("fbgemm")})
    cal = observed._obsviz_run.calibrate(
        obsviz.samples.inputs("resnet_small", 2, seed=1), progress=False
    )
    debug = torch.ao.quantization.convert_jit(cal.module, debug=True)
    for (x,) in obsviz.samples.inputs("resnet_small", 2, seed=2):
        assert torch.allclose(cal.simulate(x), debug(x), atol=1e-5, rtol=0)
