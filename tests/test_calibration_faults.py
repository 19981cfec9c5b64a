"""Planted faults: calibration must find them, and rank what they damage worst."""

from __future__ import annotations

import copy

import pytest
import torch
from torch.ao.quantization import convert_jit, default_qconfig, get_default_qconfig

import obsviz

from .calibration_models import FragileLayer, Gated, OutlierChannel, RareBranch, scripted


def data(shape: tuple[int, ...], n: int = 4, seed: int = 1) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(shape, generator=g) for _ in range(n)]


def activations_in_order(cal: obsviz.calib.Calibration) -> list[str]:
    return [s.observer_path for s in cal.sites if s.role == "activation"]


@pytest.mark.parametrize(
    "qconfig", [default_qconfig, get_default_qconfig("fbgemm")], ids=["minmax", "histogram"]
)
def test_one_channel_1000x_is_flagged_and_it_and_what_follows_rank_worst(qconfig) -> None:
    run = obsviz.insert_observers(scripted(OutlierChannel()), {"": qconfig})
    batches = data((2, 3, 8, 8))
    cal = run.calibrate(batches, progress=False)
    # execution order: the input, relu1, relu2 (conv2's output), relu3, conv4's output
    x, relu1, relu2, relu3, output = activations_in_order(cal)
    outliers = cal.flags.of("outliers")
    assert [f"{f.observer}" for f in outliers] == [relu2]
    assert outliers[0].details["channel"] == OutlierChannel.outlier_channel
    table = cal.error(batches, progress=False).table
    ranked = table[table.role == "activation"].observer.tolist()
    assert set(ranked[:3]) == {relu2, relu3, output}
    assert ranked[3:] == [relu1, x] or set(ranked[3:]) == {relu1, x}


def test_one_batch_far_beyond_the_others_is_flagged_under_min_max() -> None:
    run = obsviz.insert_observers(scripted(OutlierChannel()), {"": default_qconfig})
    batches = data((2, 3, 8, 8), n=6)
    batches[4] = batches[4] * 50
    cal = run.calibrate(batches, progress=False)
    x = activations_in_order(cal)[0]
    flagged = [f for f in cal.flags.of("outliers") if f.observer == x]
    assert len(flagged) == 1 and flagged[0].details["batch"] == 4


def test_a_few_huge_values_in_a_histogram_are_flagged() -> None:
    run = obsviz.insert_observers(scripted(RareBranch()), {"": get_default_qconfig("fbgemm")})
    batches = data((4000, 8), n=2)
    batches[1][0, :5] = 1e4
    cal = run.calibrate(batches, progress=False)
    flagged = [f for f in cal.flags.of("outliers") if f.value == "x.1"]
    assert len(flagged) == 1
    assert flagged[0].details["levels_used"] < 16


def test_a_branch_never_taken_is_flagged_as_seeing_no_data() -> None:
    run = obsviz.insert_observers(scripted(RareBranch()), {"": default_qconfig})
    cal = run.calibrate(data((2, 8), n=3), progress=False)
    no_data = cal.flags.of("no_data")
    assert {(f.module_path, f.role) for f in no_data} == {("rare", "weight"), ("", "activation")}
    assert all(
        f.severity == "error" and "any of the 3 calibration batches" in f.message for f in no_data
    )
    rare = cal.ranges[cal.ranges.module_path == "rare"].iloc[0]
    assert rare["batches"] == 0


def test_a_branch_an_attribute_turns_off_is_harmless_and_says_so() -> None:
    run = obsviz.insert_observers(scripted(Gated()), {"": default_qconfig})
    cal = run.calibrate(data((2, 8), n=2), progress=False)
    no_data = cal.flags.of("no_data")
    assert no_data and all(f.severity == "info" and "use_extra" in f.message for f in no_data)


def output_sqnr(
    model: torch.jit.ScriptModule, converted: torch.jit.ScriptModule, batches: list[torch.Tensor]
) -> float:
    with torch.no_grad():
        ref = torch.cat([model(b) for b in batches])
        got = torch.cat([converted(b) for b in batches])
    return float(10 * torch.log10((ref**2).sum() / ((got - ref) ** 2).sum()))


def converted(model: torch.jit.ScriptModule, qconfig_dict: dict, batches: list) -> object:
    observed = obsviz.prepare_jit(copy.deepcopy(model), qconfig_dict)
    for b in batches:
        observed(b)
    return convert_jit(observed)


def test_sensitivity_ranks_the_fragile_layer_first_and_its_suggestion_pays_off() -> None:
    model = scripted(FragileLayer())
    qconfig_dict = {"": default_qconfig}
    calibration_batches, held_out = data((8, 16), n=4, seed=1), data((8, 16), n=4, seed=2)
    run = obsviz.insert_observers(model, qconfig_dict)
    cal = run.calibrate(calibration_batches, progress=False)
    sens = cal.sensitivity(calibration_batches, progress=False)
    assert sens.table.module_path[0] == "fc2"
    suggestion = sens.suggest(budget_db=3.0)
    assert dict(suggestion) == {"": default_qconfig, "fc2": None}
    assert suggestion.sqnr_db - suggestion.baseline_db >= 3.0
    before = output_sqnr(model, converted(model, qconfig_dict, calibration_batches), held_out)
    after = output_sqnr(model, converted(model, dict(suggestion), calibration_batches), held_out)
    # measured: +4.7 dB on the converted model over held-out batches (18.0 -> 22.7 dB)
    assert after - before >= 3.0
