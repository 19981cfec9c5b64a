"""A failure quotes the real pass: ``diagnosis.cpp_message`` is torch's own message.

Every model of the corpus and of ``tests/failure_models.py`` on which the real pass
raises is run through both; the text obsviz quotes must be in the message the real
pass raised (without torch's C++ stack trace), and ``str(err)`` shows it on a line of
its own. The corpus's deliberate differences (a type split below the instance, which
obsviz carries out; a loop-only instance, where the real pass returns a broken module)
raise nothing in obsviz and are left out.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.ao.quantization import default_qconfig

import obsviz
from obsviz.placement import observer_placement

from . import failure_models as fm
from .corpus import (
    CASES,
    IMG,
    LOOP_SHARED_TYPE_MSG,
    SPLIT_BELOW_MSG,
    case,
    real_pass,
    script,
)
from .real_messages import cpp_check, raised_from, torch_message

ROOT = Path(__file__).resolve().parent.parent

# the models of failure_models.py on which the real pass raises (the others return a
# broken module or crash the process, see tests/test_failures.py)
FAILURE_MODELS = (
    fm.AuxHead,
    fm.StochasticDepthNet,
    fm.StochasticDepthBlocks,
    fm.ShiftedBlocks,
    fm.ObjectCall,
    fm.ObjectArgument,
)

Failing = tuple[Callable[[], torch.jit.ScriptModule], dict, str]  # model, qconfigs, quant type


def _failing() -> dict[str, Failing]:
    found: dict[str, Failing] = {
        c.name: (lambda c=c: script(c), c.qconfig_dict(), c.quant_type)
        for c in CASES
        if c.real_raises not in (None, SPLIT_BELOW_MSG, LOOP_SHARED_TYPE_MSG)
    }
    for cls in FAILURE_MODELS:
        found[f"failure_models.{cls.__name__}"] = (
            lambda cls=cls: torch.jit.script(cls().eval()),
            {"": default_qconfig},
            "static",
        )
    return found


FAILING = _failing()


@pytest.mark.parametrize("name", sorted(FAILING))
def test_every_failure_quotes_what_the_real_pass_raises(name: str) -> None:
    build, qconfig_dict, quant_type = FAILING[name]
    torch.manual_seed(0)
    model = build()
    with pytest.raises(RuntimeError) as real_err:
        real_pass(model, qconfig_dict, quant_type)
    real_message = torch_message(real_err.value)
    with pytest.raises(obsviz.PassFailure) as err:
        obsviz.insert_observers(model, qconfig_dict, quant_type=quant_type)
    quoted = err.value.diagnosis.cpp_message
    assert quoted and quoted in real_message, (quoted, real_message)
    assert err.value.rule == cpp_check(real_message)
    assert f"torch says: {quoted}" in str(err.value).splitlines()


REAL_PASS_WITH_CPP_STACK_TRACES = """
import json, sys
from tests.test_torch_messages import FAILING
from tests.corpus import real_pass
from tests.real_messages import raised_from, torch_message
found = {}
for name, (build, qconfig_dict, quant_type) in FAILING.items():
    try:
        real_pass(build(), qconfig_dict, quant_type)
    except RuntimeError as err:
        found[name] = [torch_message(err), raised_from(err)]
print(json.dumps(found))
"""


def test_each_message_is_attributed_to_the_function_torch_names() -> None:
    """``cpp_check`` maps a message to the C++ function that raises it; torch itself names
    that function when it prints C++ stack traces."""
    env = dict(
        os.environ,
        TORCH_SHOW_CPP_STACKTRACES="1",
        TORCH_DISABLE_ADDR2LINE="1",
        PYTHONWARNINGS="ignore",
    )
    result = subprocess.run(
        [sys.executable, "-c", REAL_PASS_WITH_CPP_STACK_TRACES],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(found) == set(FAILING)
    for name, (message, function) in found.items():
        assert function is not None, name
        assert cpp_check(message) == function, (name, message[:100])


def test_stack_traces_are_cut_from_the_message() -> None:
    error = RuntimeError(
        "Expecting one observer\nException raised from getObserverFor at "
        "x.cpp:1 (most recent call first):\nframe #0"
    )
    assert torch_message(error) == "Expecting one observer"
    assert raised_from(error) == "getObserverFor"
    assert raised_from(RuntimeError("no trace")) is None


def _diagnosis(name: str) -> obsviz.Diagnosis:
    c = case(name)
    with pytest.raises(obsviz.PassFailure) as err:
        obsviz.insert_observers(script(c), c.qconfig_dict())
    return err.value.diagnosis


def test_one_qconfig_under_two_keys_says_each_key_is_scripted_separately() -> None:
    diagnosis = _diagnosis("shared_input_two_keys_same_qconfig")
    assert diagnosis.kind == "observer_conflict"
    summary = diagnosis.summary
    assert "%x.1 reaches a.forward and b.forward" in summary
    assert "two qconfig_dict keys, 'a' and 'b'" in summary
    assert "same QConfig" in summary and "scripted separately" in summary
    assert "MinMaxObserver and MinMaxObserver" not in str(diagnosis)
    assert "replace the 'a' and 'b' entries by one for their common parent ''" in diagnosis.fix
    assert "own value" in diagnosis.fix


def test_two_different_qconfigs_under_two_keys_name_both_observers() -> None:
    diagnosis = _diagnosis("shared_input_two_keys_different_qconfigs")
    assert (
        "The two qconfigs differ (MinMaxObserver for 'a', HistogramObserver for 'b')"
        in diagnosis.summary
    )


def test_with_the_parent_key_set_the_fix_is_to_drop_the_two_keys() -> None:
    diagnosis = _diagnosis("shared_input_two_keys_with_parent")
    assert "remove the 'a' and 'b' entries, so that both inherit the qconfig of ''" in diagnosis.fix


class SharedInputCloned(nn.Module):
    """SharedInputPair with the fix the diagnosis gives: one of them gets its own value."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 4, 1)
        self.b = nn.Conv2d(3, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.a(x) + self.b(x.clone())


@pytest.mark.parametrize("fixed", ["one key", "own value"])
def test_both_fixes_make_both_passes_succeed_alike(fixed: str) -> None:
    c = case("shared_input_two_keys_same_qconfig")
    if fixed == "one key":
        model, qconfig_dict = script(c), {"": default_qconfig}
    else:
        torch.manual_seed(0)
        model, qconfig_dict = torch.jit.script(SharedInputCloned().eval()), c.qconfig_dict()
    run = obsviz.insert_observers(model, qconfig_dict)
    assert observer_placement(run.module) == observer_placement(real_pass(model, qconfig_dict))
    run.module(*IMG())


def test_an_object_argument_names_its_class_and_quotes_remap_types() -> None:
    diagnosis = _diagnosis("torchscript_object_argument_static")
    assert diagnosis.kind == "object_argument"
    assert diagnosis.method == "shifted"
    assert (
        "of TorchScript class tests.corpus.failures.Offset) as argument %offset.1"
        in diagnosis.summary
    )
    assert diagnosis.cpp_message == (
        "We don't support quantizing methods that has Object as arguments"
    )


def test_a_created_object_quotes_get_module_access_path_with_its_value() -> None:
    diagnosis = _diagnosis("torchscript_object_created_static")
    assert diagnosis.kind == "module_access"
    assert "TorchScript class" in diagnosis.summary
    assert diagnosis.cpp_message.startswith(
        "Can't handle the access pattern of GetAttr  in getModuleAccessPath, traced back to:"
    )
    assert diagnosis.cpp_message.endswith(" which is not self:self")
