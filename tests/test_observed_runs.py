"""The observed module at work: it computes what the model computes, and its observers record.

An observer returns its input unchanged, so ``run.module`` must give exactly what the
real pass's module gives, which is the input model's outputs except where torch's own
preprocessing rewrites the model (listed below); and calibration is what the observers
are for, so each observer that every call runs must have recorded statistics after one
call.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch

import obsviz

from .corpus import CASES, Case, real_insert_observers, script
from .observed_graphs import observer_class, observers_called, read_observed

RUNNING_CASES = [c for c in CASES if c.real_raises is None]

# Cases whose observed module, the real pass's as much as obsviz's, computes something
# other than the model: preprocessing changes the computation.
REWRITTEN_BY_TORCH = {
    # SwapFunctionalLinear turns any call of a function named ``linear`` into aten::linear
    "function_name_linear_static",
}


def _call(module: torch.jit.ScriptModule, c: Case, inputs: tuple[Any, ...]) -> Any:
    torch.manual_seed(0)  # dropout in training mode draws the same mask for both
    with torch.no_grad():
        return getattr(module, c.method_name)(*copy.deepcopy(inputs))


def _assert_same(expected: Any, actual: Any, where: str = "output") -> None:
    assert type(actual) is type(expected), where
    if isinstance(expected, torch.Tensor):
        assert torch.equal(actual, expected), where
    elif isinstance(expected, list | tuple):
        assert len(actual) == len(expected), where
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            _assert_same(e, a, f"{where}[{i}]")
    elif isinstance(expected, dict):
        assert actual.keys() == expected.keys(), where
        for key in expected:
            _assert_same(expected[key], actual[key], f"{where}[{key!r}]")
    else:
        assert actual == expected, where


def _finite_range(observer: torch._C.ScriptModule) -> bool:
    low, high = observer.getattr("min_val"), observer.getattr("max_val")
    return low.numel() > 0 and bool(
        torch.isfinite(low).all() and torch.isfinite(high).all() and (low <= high).all()
    )


# What "recorded" means for each observer class the corpus's qconfigs use; an observer
# of any other class fails the test until it is added here.
RECORDED = {
    "MinMaxObserver": _finite_range,
    "MovingAverageMinMaxObserver": _finite_range,
    "PerChannelMinMaxObserver": _finite_range,
    "MovingAveragePerChannelMinMaxObserver": _finite_range,
    "HistogramObserver": lambda o: _finite_range(o) and bool(o.getattr("histogram").sum() > 0),
    "PlaceholderObserver": None,  # fp16 dynamic: holds a dtype and records nothing
}


@pytest.mark.filterwarnings("ignore::obsviz.ObsvizWarning")
@pytest.mark.parametrize("c", RUNNING_CASES, ids=[c.name for c in RUNNING_CASES])
def test_observed_module_computes_the_models_outputs_and_its_observers_record(c: Case) -> None:
    model = script(c)
    run = obsviz.insert_observers(
        model, c.qconfig_dict(), method_name=c.method_name, quant_type=c.quant_type
    )
    inputs = c.example_inputs()
    real = real_insert_observers(c, model)
    _assert_same(_call(real, c, inputs), _call(run.module, c, inputs))
    if c.name not in REWRITTEN_BY_TORCH:
        _assert_same(_call(model, c, inputs), _call(run.module, c, inputs))

    observed = read_observed(run.module, run.entry_method)
    modules = dict(run.module.named_modules())
    held = {
        (path, name)
        for path, _ in observed.instances
        for name, _ in modules[path].named_children()
        if name.startswith("_observer_")
    }
    called = {
        (instance.path, attribute)
        for instance in observed.instances.values()
        for attribute in observers_called(instance.graph)
    }
    assert held == called, "observers the module holds and never calls, or calls and lacks"
    for path, attribute in observed.observers_always_called():
        observer = observed.submodule(path).getattr(attribute)
        class_name, where = observer_class(observer), f"{path or '<top>'}.{attribute}"
        assert class_name in RECORDED, f"{where}: {class_name}"
        recorded = RECORDED[class_name]
        assert recorded is None or recorded(observer), f"{where} recorded nothing"
