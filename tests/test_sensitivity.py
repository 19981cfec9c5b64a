"""Sensitivity against torch: the output SQNR of "module M left float" is what torch's own
``prepare_jit`` -> calibrate -> ``convert_jit`` with M's key None gives, also when leaving
M float makes the pass observe values the fully quantized model did not.

Measured: the simulated SQNR equals torch's exactly on FloatBoundary and within 2e-5 dB on
resnet_small (float32 rounding in the converted model's kernels). Leaving the added observer
float instead, as sensitivity once did, misses by 5.0 dB on FloatBoundary and by 1.7 to
3.0 dB on resnet_small's conv1, layer1.0 and layer2.0.downsample. 0.01 dB is far from both.
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch.ao.quantization import convert_jit, default_qconfig, get_default_qconfig, prepare_jit

import obsviz

from .calibration_models import FloatBoundary, scripted

TOLERANCE_DB = 0.01


def data(n: int, seed: int) -> list[tuple[torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    return [(FloatBoundary.scaled_input(torch.randn(4, 3, 8, 8, generator=g)),) for _ in range(n)]


def torch_output_sqnr(
    model: torch.jit.ScriptModule, qconfig_dict: dict, calibration: list, evaluation: list
) -> float:
    """torch alone: prepare_jit, calibrate, convert_jit, output SQNR against float."""
    observed = prepare_jit(copy.deepcopy(model), qconfig_dict)
    with torch.no_grad():
        for args in calibration:
            observed(*args)
        converted = convert_jit(observed)
        reference = torch.cat([model(*args) for args in evaluation]).double()
        quantized = torch.cat([converted(*args) for args in evaluation]).double()
    return float(
        10 * torch.log10(reference.square().sum() / (quantized - reference).square().sum())
    )


def observed_by_top(observed: torch.jit.ScriptModule) -> set[str]:
    """The values the top graph of torch's observed module feeds to its own observers."""
    return {
        node.inputsAt(1).debugName()
        for node in observed.graph.nodes()
        if node.kind() == "prim::CallMethod"
        and node.inputsAt(0).node().kind() == "prim::GetAttr"
        and node.inputsAt(0).node().s("name").startswith("_observer_")
    }


def test_leaving_a_module_float_that_makes_the_caller_observe_is_what_convert_jit_gives() -> None:
    model = scripted(FloatBoundary())
    qconfig_dict = {"": default_qconfig}
    float_conv = {**qconfig_dict, "sub.conv": None}
    # the premise, from torch alone: the top graph observes a value it did not before
    base = observed_by_top(prepare_jit(copy.deepcopy(model), qconfig_dict))
    changed = observed_by_top(prepare_jit(copy.deepcopy(model), float_conv))
    assert changed - base

    calibration, held_out = data(4, seed=1), data(4, seed=2)
    cal = obsviz.insert_observers(model, qconfig_dict).calibrate(calibration, progress=False)
    sens = cal.sensitivity(held_out, calibration_batches=calibration, progress=False)
    row = sens.table.set_index("module_path").loc["sub.conv"]
    assert row.observers_added == 1
    expected = torch_output_sqnr(model, float_conv, calibration, held_out)
    assert row.sqnr_db == pytest.approx(expected, abs=TOLERANCE_DB)
    baseline = torch_output_sqnr(model, qconfig_dict, calibration, held_out)
    assert sens.baseline_db == pytest.approx(baseline, abs=TOLERANCE_DB)

    suggestion = sens.suggest(budget_db=2.0)
    assert suggestion.float_modules == ("sub.conv",)
    expected = torch_output_sqnr(model, dict(suggestion), calibration, held_out)
    assert suggestion.sqnr_db == pytest.approx(expected, abs=TOLERANCE_DB)


def test_blocks_and_the_stem_left_float_on_resnet_small_are_what_convert_jit_gives() -> None:
    model = obsviz.samples.load("resnet_small")
    qconfig_dict = {"": get_default_qconfig("fbgemm")}
    batches = obsviz.samples.inputs("resnet_small", 2)
    modules = ["conv1", "layer1.0", "layer2.0.downsample"]
    cal = obsviz.prepare_jit(model, qconfig_dict)._obsviz_run.calibrate(batches, progress=False)
    table = cal.sensitivity(batches, modules=modules, progress=False).table.set_index("module_path")
    assert (table.observers_added > 0).all()
    for path in modules:
        expected = torch_output_sqnr(model, {**qconfig_dict, path: None}, batches, batches)
        assert table.sqnr_db[path] == pytest.approx(expected, abs=TOLERANCE_DB), path


def test_a_bad_calibration_batch_names_itself_and_the_module_left_float() -> None:
    model = scripted(FloatBoundary())
    calibration = data(2, seed=1)
    cal = obsviz.insert_observers(model, {"": default_qconfig}).calibrate(
        calibration, progress=False
    )
    bad = [*calibration, (torch.randn(4, 5, 8, 8),)]
    with pytest.raises(obsviz.ObsvizError) as caught:
        cal.sensitivity(calibration, calibration_batches=bad, progress=False)
    message = str(caught.value)
    assert "calibrating the observers sub.conv adds, batch 2" in message
    assert "forward(x: Tensor) -> Tensor" in message
    assert "earlier batches were (Tensor 4x3x8x8 float32)" in message
    with pytest.raises(obsviz.ObsvizError, match="calibration_batches is empty"):
        cal.sensitivity(calibration, calibration_batches=[], progress=False)
