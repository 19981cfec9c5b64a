"""Per-submodule qconfigs inside repeated blocks (shared class types).

The real pass's cloning fails when instances of one class type get different qconfigs
below their own level. obsviz splits the types by the qconfigs of the whole subtree;
the oracle is the real pass on the same model scripted without type sharing, compared by
``tests/oracle.py`` (whole module interfaces, observer sites, settings and objects).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import torch
import torch.nn as nn
from torch.ao.quantization import (
    QConfig,
    default_dynamic_qconfig,
    default_qconfig,
    get_default_qconfig,
    per_channel_dynamic_qconfig,
)
from torch.ao.quantization.quantize_jit import (
    convert_dynamic_jit,
    convert_jit,
)
from torch.jit._recursive import create_script_module, infer_methods_to_compile, wrap_cpp_module

import obsviz

from .corpus import real_pass
from .oracle import assert_same_as_real, describe, twins_left_unprepared


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv(x)) + x


class Pair(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.b0 = Block()
        self.b1 = Block()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b1(self.b0(x))


class Trio(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.b0 = Block()
        self.b1 = Block()
        self.b2 = Block()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b2(self.b1(self.b0(x)))


class Stages(nn.Module):
    """Two stages of two blocks: the Block type is shared across stages."""

    def __init__(self) -> None:
        super().__init__()
        self.layer1 = nn.Sequential(Block(), Block())
        self.layer2 = nn.Sequential(Block(), Block())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer2(self.layer1(x))


class CalledTwice(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.b0 = Block()
        self.b1 = Block()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b1(self.b0(self.b0(x)))


class Mlp(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(8, 8)
        self.fc2 = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.relu(self.fc1(x)))


class Mlps(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.m0 = Mlp()
        self.m1 = Mlp()
        self.m2 = Mlp()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.m2(self.m1(self.m0(x)))


class Forker(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.block = Block()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.jit.wait(torch.jit.fork(self.block, x))


class PairThenForkedTwins(nn.Module):
    """A pair split below the instance, then twins whose type stays shared: the second
    called only through fork."""

    def __init__(self) -> None:
        super().__init__()
        self.pair = Pair()
        self.f0 = Forker()
        self.f1 = Forker()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.jit.wait(torch.jit.fork(self.f1, self.f0(self.pair(x))))


FBGEMM = get_default_qconfig("fbgemm")
IMAGE = (1, 4, 8, 8)
VECTOR = (2, 8)


@dataclass(frozen=True)
class SplitCase:
    name: str
    build: Callable[[], nn.Module]
    qconfig_dict: dict[str, QConfig | None]
    shape: tuple[int, ...]
    quant_type: str = "static"

    def inputs(self) -> tuple[torch.Tensor]:
        return (torch.randn(self.shape, generator=torch.Generator().manual_seed(0)),)


SPLIT_CASES = [
    SplitCase("none_one_level_below", Pair, {"": FBGEMM, "b0.conv": None}, IMAGE),
    SplitCase("relu_none_one_level_below", Pair, {"": FBGEMM, "b1.relu": None}, IMAGE),
    SplitCase("qconfig_only_below", Pair, {"b0.conv": FBGEMM}, IMAGE),
    SplitCase(
        "sibling_qconfigs_below", Pair, {"b0.conv": FBGEMM, "b1.conv": default_qconfig}, IMAGE
    ),
    SplitCase("three_instances_middle_below", Trio, {"": FBGEMM, "b1.conv": None}, IMAGE),
    SplitCase(
        "three_instances_two_below", Trio, {"": FBGEMM, "b0.conv": None, "b2.conv": None}, IMAGE
    ),
    SplitCase("three_instances_mixed", Trio, {"": FBGEMM, "b0": None, "b2.conv": None}, IMAGE),
    SplitCase("two_levels_below", Stages, {"": FBGEMM, "layer1.0.conv": None}, IMAGE),
    SplitCase("two_levels_below_qconfig_only", Stages, {"layer2.1.conv": FBGEMM}, IMAGE),
    SplitCase(
        "across_stages", Stages, {"": FBGEMM, "layer1.1.conv": None, "layer2.0.conv": None}, IMAGE
    ),
    SplitCase(
        "stage_none_and_block_below",
        Stages,
        {"": FBGEMM, "layer1": None, "layer2.0.relu": None},
        IMAGE,
    ),
    SplitCase("called_twice_below", CalledTwice, {"": FBGEMM, "b0.conv": None}, IMAGE),
    SplitCase("called_twice_other_below", CalledTwice, {"": FBGEMM, "b1.conv": None}, IMAGE),
    SplitCase(
        "dynamic_one_below", Mlps, {"": default_dynamic_qconfig, "m1.fc2": None}, VECTOR, "dynamic"
    ),
    SplitCase(
        "dynamic_per_channel_below",
        Mlps,
        {"": default_dynamic_qconfig, "m0.fc1": per_channel_dynamic_qconfig},
        VECTOR,
        "dynamic",
    ),
    SplitCase(
        "dynamic_qconfig_only_below", Mlps, {"m2.fc1": default_dynamic_qconfig}, VECTOR, "dynamic"
    ),
    SplitCase("static_mlps_below", Mlps, {"": default_qconfig, "m0.fc2": None}, VECTOR),
]


def _shared(case: SplitCase) -> torch.jit.ScriptModule:
    torch.manual_seed(0)
    return torch.jit.script(case.build().eval())


def _unshared(case: SplitCase) -> torch.jit.ScriptModule:
    torch.manual_seed(0)
    return create_script_module(case.build().eval(), infer_methods_to_compile, share_types=False)


def _real(case: SplitCase, model: torch.jit.ScriptModule) -> torch.jit.ScriptModule:
    return wrap_cpp_module(real_pass(model, case.qconfig_dict, case.quant_type))


def _ours(case: SplitCase) -> obsviz.Run:
    return obsviz.insert_observers(_shared(case), case.qconfig_dict, quant_type=case.quant_type)


@pytest.mark.parametrize("case", SPLIT_CASES, ids=[c.name for c in SPLIT_CASES])
def test_real_pass_fails_on_the_shared_model(case: SplitCase) -> None:
    with pytest.raises(RuntimeError, match="is not compatible with the type"):
        _real(case, _shared(case))


@pytest.mark.parametrize("case", SPLIT_CASES, ids=[c.name for c in SPLIT_CASES])
def test_observed_module_equals_the_real_pass_without_type_sharing(case: SplitCase) -> None:
    run = _ours(case)
    oracle = _real(case, _unshared(case))
    assert_same_as_real(run.module, oracle, same_type_sharing=False)
    assert any(group.below for group in run.splits)


@pytest.mark.parametrize("case", SPLIT_CASES, ids=[c.name for c in SPLIT_CASES])
def test_calibrated_and_converted_outputs_equal_the_oracle(case: SplitCase) -> None:
    convert = convert_jit if case.quant_type == "static" else convert_dynamic_jit
    outputs = []
    for observed in (_ours(case).module, _real(case, _unshared(case))):
        observed(*case.inputs())
        outputs.append(convert(observed)(*case.inputs()))
    assert torch.equal(outputs[0], outputs[1])


def test_prepare_jit_succeeds_on_a_resnet_stage_with_one_conv_excluded() -> None:
    model = obsviz.samples.load("resnet50")
    qconfig_dict = {"": FBGEMM, "layer1.1.conv1": None}
    with pytest.raises(RuntimeError, match="is not compatible with the type"):
        torch.ao.quantization.prepare_jit(model, qconfig_dict)
    observed = obsviz.prepare_jit(model, qconfig_dict)
    sites = describe(observed).sites
    assert not any(site.path == "layer1.1.conv1" for site in sites)
    assert any(site.path == "layer1.2.conv1" for site in sites)
    observed(*obsviz.samples.SAMPLES["resnet50"].example_inputs())


def test_a_twin_called_only_through_fork_is_observed_as_without_the_split() -> None:
    # the real pass does not prepare an instance called only through fork; obsviz keeps
    # f1's type shared with f0's, so f1 is observed as by the real pass on an unsplit model
    case = SplitCase("forked_twin", PairThenForkedTwins, {"": FBGEMM, "pair.b0.conv": None}, IMAGE)
    run = _ours(case)
    unshared = _unshared(case)
    # f0.block, called through fork too, shares pair.b1's type and graph in obsviz's
    assert twins_left_unprepared(run.module, _real(case, unshared), unshared) == {
        "f1",
        "f0.block",
        "f0.block.conv",
        "f0.block.relu",
    }
    without_split = replace(case, qconfig_dict={"": FBGEMM})
    unsplit = _real(without_split, _shared(without_split))
    twins = {
        "f0",
        "f0.block",
        "f0.block.conv",
        "f0.block.relu",
        "f1",
        "f1.block",
        "f1.block.conv",
        "f1.block.relu",
    }
    assert_same_as_real(run.module, unsplit, paths=twins)
    observers_of_f1_output = [
        site for site in describe(run.module).sites if not site.path and "f1.forward" in site.reads
    ]
    assert len(observers_of_f1_output) == 1


def test_a_saved_split_model_has_the_methods_of_the_model(tmp_path: Path) -> None:
    case = SPLIT_CASES[0]
    model = _shared(case)
    path = tmp_path / "observed.pt"
    torch.jit.save(obsviz.prepare_jit(model, case.qconfig_dict), path)
    saved = dict(torch.jit.load(path).named_modules())
    for name, module in model.named_modules():
        assert sorted(saved[name]._c._method_names()) == sorted(module._c._method_names()), name


def test_split_is_reported_with_the_paths_and_the_reason() -> None:
    case = SPLIT_CASES[0]
    run = _ours(case)
    events = run.events_of(obsviz.events.TypeSplit)
    block_groups = [g for g in run.splits if g.original_type.endswith(".Block")]
    assert sorted(g.module_paths for g in block_groups) == [("b0",), ("b1",)]
    assert all(g.below and g.qconfig_key == "" for g in block_groups)
    assert len(events) == len(run.splits)


def test_shared_types_with_one_qconfig_are_not_split() -> None:
    run = obsviz.insert_observers(_shared(SPLIT_CASES[0]), {"": FBGEMM})
    assert run.splits == ()
    assert run.module.b0._c._type().qualified_name() == run.module.b1._c._type().qualified_name()
