"""The tests' oracle (``tests/oracle.py``) on modules whose differences are known."""

from __future__ import annotations

import torch
from torch import nn
from torch.ao.quantization import default_qconfig

import obsviz

from .corpus import real_pass
from .oracle import describe, differences, walked_paths


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class BlocksTheWalkSkips(nn.Module):
    """Three instances of one class type; the pass walks only the first."""

    def __init__(self) -> None:
        super().__init__()
        self.walked = Block()
        self.in_raising_branch = Block()
        self.in_loop = Block()

    def forward(self, x: torch.Tensor, flag: bool) -> torch.Tensor:
        y = self.walked(x)
        if flag:
            y = self.in_raising_branch(y)
            raise RuntimeError("unsupported")
        for _ in range(2):
            y = self.in_loop(y)
        return y


def _model() -> torch.jit.ScriptModule:
    torch.manual_seed(0)
    return torch.jit.script(BlocksTheWalkSkips().eval())


def test_only_the_instances_the_pass_walks_are_walked() -> None:
    assert walked_paths(_model()) == {"", "walked", "walked.conv"}


def test_the_real_pass_agrees_with_itself_and_its_empty_slots_are_not_read() -> None:
    # the real pass leaves the observer slots of the two instances it skips empty
    model = _model()
    first, second = real_pass(model, {"": default_qconfig}), real_pass(model, {"": default_qconfig})
    assert differences(describe(first), describe(second)) == []


def test_an_extra_method_and_a_missing_rewire_are_reported() -> None:
    model = _model()
    real = real_pass(model, {"": default_qconfig})
    ours = obsviz.insert_observers(model, {"": default_qconfig}).module
    assert differences(describe(real), describe(ours)) == []
    ours._c._define(
        torch._C.ConcreteModuleType.from_jit_type(ours._c._type()),
        "def extra(self) -> None:\n    return None\n",
        lambda name: None,
    )
    graph = ours.graph
    observer_call = next(
        n
        for n in graph.findAllNodes("prim::CallMethod")
        if n.inputsAt(0).node().s("name").startswith("_observer_")
    )
    observer_call.output().replaceAllUsesWith(observer_call.inputsAt(1))
    found = differences(describe(real), describe(ours))
    assert any("methods differ" in line and "only obsviz: extra" in line for line in found)
    assert any("other uses of the observed value" in line for line in found)
