"""The engine against the real pass: the same observed module, or both raise.

"The same" is judged by ``tests/oracle.py``, which shares no code with obsviz: the
module interface of every instance, each observer's call site, the value it reads and the
rewiring of that value's later uses, its settings, and that each observer is an object of
its own.

Three kinds of real-pass failure get a deliberate, documented difference:
- a shared class type whose instances get different qconfigs below their own level
  (the real clone fails): obsviz must match the real pass on the same model scripted
  without type sharing, on the instances it can be compared on (``comparable_paths``:
  obsviz keeps a type shared where the instances' qconfigs agree, so a twin called only
  through fork or only in a loop gets the graph and observers its twin got, as with the
  real pass on a model it does not split);
- a shared type whose instances are not all visited (the real pass returns a module
  with empty observer slots): obsviz must place observers the same way and return a
  module that runs.
Every other real failure must be an obsviz ``PassError`` naming the rule.
"""

from __future__ import annotations

import pytest
import torch

import obsviz

from .corpus import (
    CASES,
    LOOP_SHARED_TYPE_MSG,
    SPLIT_BELOW_MSG,
    Case,
    real_insert_observers,
    real_pass,
    script,
)
from .oracle import assert_same_as_real, comparable_paths
from .real_messages import cpp_check, torch_message


def _engine(case: Case, model: torch.jit.ScriptModule) -> obsviz.Run:
    return obsviz.insert_observers(
        model, case.qconfig_dict(), method_name=case.method_name, quant_type=case.quant_type
    )


def _unshared(case: Case) -> torch.jit.ScriptModule:
    torch.manual_seed(0)
    return torch.jit._recursive.create_script_module(
        case.build(), torch.jit._recursive.infer_methods_to_compile, share_types=False
    )


def _real_cpp_module(case: Case, model: torch.jit.ScriptModule) -> torch._C.ScriptModule:
    """The real pass's result left unwrapped: wrapping a corrupt module raises."""
    return real_pass(model, case.qconfig_dict(), case.quant_type, case.method_name)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_placement_matches_real_pass(case: Case) -> None:
    model = script(case)
    if case.real_raises == SPLIT_BELOW_MSG:
        with pytest.raises(RuntimeError, match="is not compatible with the type"):
            real_insert_observers(case, model)
        oracle = _real_cpp_module(case, _unshared(case))
        observed = _engine(case, model).module
        assert_same_as_real(
            observed,
            oracle,
            case.method_name,
            paths=comparable_paths(observed, oracle, case.method_name),
            same_type_sharing=False,
        )
    elif case.real_raises == LOOP_SHARED_TYPE_MSG:
        real = _real_cpp_module(case, model)
        run = _engine(case, model)
        assert_same_as_real(run.module, real, case.method_name)
        run.module(*case.example_inputs())
    elif case.real_raises is not None:
        with pytest.raises(RuntimeError) as real_err:
            real_insert_observers(case, model)
        real_message = torch_message(real_err.value)
        assert case.real_raises in real_message
        with pytest.raises(obsviz.PassFailure) as err:
            _engine(case, model)
        assert err.value.rule == cpp_check(real_message)
        quoted = err.value.diagnosis.cpp_message
        assert quoted and quoted in real_message, (quoted, real_message)
    else:
        real = _real_cpp_module(case, model)
        assert_same_as_real(_engine(case, model).module, real, case.method_name)
