"""Fuzzing obsviz against the real pass: random scripted models, random qconfig dicts.

For each model drawn by :func:`tests.fuzz_models.fuzz_cases` the engine's observed
module must equal ``torch._C._jit_pass_insert_observers``' as ``tests/oracle.py`` compares
them (module interfaces, observer sites, settings and objects), or both must fail (the
engine with ``obsviz.PassError``), with the documented deliberate differences of
``tests/test_differential.py``: where the real clone fails because instances of one
type get different qconfigs below their own level, the engine must match the real pass
on the model scripted without type sharing, on the instances the pass walks. Where a
shared type's instance is only called in a loop, the real pass leaves its observer
slots empty; the modules are compared on the real pass's module unwrapped, and the oracle
reads no slot of such an instance. The engine's observed module must also run and
compute what the model computes.

A failure prints the generated source, inputs, qconfig dict and quant type; minimize it
and add it to ``tests/corpus.py`` as a named case, so ``tests/test_differential.py``
keeps checking it.

Profiles: "ci" (the default; 300 examples, derandomized so CI is reproducible) and
"long" (5,000 examples, ``make fuzz``), chosen with ``HYPOTHESIS_PROFILE``.
"""

from __future__ import annotations

import os
import warnings

import pytest
import torch
from hypothesis import HealthCheck, event, given, note, settings

import obsviz

from .corpus import SPLIT_BELOW_MSG, paths_walked, real_pass
from .fuzz_models import FuzzCase, fuzz_cases
from .oracle import assert_same_as_real

_COMMON = {
    "deadline": None,
    "database": None,
    "print_blob": True,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large,
                              HealthCheck.filter_too_much],
}
settings.register_profile("ci", max_examples=300, derandomize=True, **_COMMON)
settings.register_profile("long", max_examples=5000, **_COMMON)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
INTERNAL_ASSERT = "INTERNAL ASSERT FAILED"

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning")


def _script(case: FuzzCase, share_types: bool = True) -> torch.jit.ScriptModule:
    model = case.build()
    if share_types:
        return torch.jit.script(model)
    return torch.jit._recursive.create_script_module(
        model, torch.jit._recursive.infer_methods_to_compile, share_types=False)


def _real(case: FuzzCase, model: torch.jit.ScriptModule) -> torch._C.ScriptModule:
    """The real pass's result, left unwrapped."""
    return real_pass(model, case.qconfig_dict(), case.quant_type)


def _engine(case: FuzzCase, model: torch.jit.ScriptModule) -> obsviz.Run:
    return obsviz.insert_observers(model, case.qconfig_dict(), quant_type=case.quant_type)


def _same(a: object, b: object) -> bool:
    if isinstance(a, torch.Tensor):
        # observers pass values through unchanged; exp and friends may overflow to nan
        return isinstance(b, torch.Tensor) and a.shape == b.shape and torch.allclose(
            a, b, rtol=0.0, atol=0.0, equal_nan=True)
    if isinstance(a, tuple):
        return isinstance(b, tuple) and len(a) == len(b) and all(
            _same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def _try_real(case: FuzzCase, model: torch.jit.ScriptModule
              ) -> tuple[torch._C.ScriptModule | None, RuntimeError | None]:
    try:
        return _real(case, model), None
    except RuntimeError as err:
        return None, err


def _outcome(error: RuntimeError | None) -> str:
    if error is None:
        return "ok"
    if SPLIT_BELOW_MSG in str(error):
        return "raises: shared type split below the instance"
    if INTERNAL_ASSERT in str(error):
        return "raises: torch internal assert"
    return "raises: " + " ".join(str(error).strip().split()[:6])


def check_case(case: FuzzCase) -> None:
    """The differential check for one generated case (also used to replay a failure)."""
    # Models may change their buffers in place, so each run starts from a fresh copy.
    with torch.no_grad():
        expected = _script(case)(*case.example_inputs())  # a model that fails is a bug
    model = _script(case)
    real, real_error = _try_real(case, model)
    note(f"real pass: {_outcome(real_error)}")
    event(f"real pass {_outcome(real_error)}")
    split = real_error is not None and SPLIT_BELOW_MSG in str(real_error)
    if split:
        # the deliberate difference: obsviz splits the types and must then agree with the
        # real pass on the model scripted without type sharing, on the instances the
        # pass walks (see tests/test_differential.py)
        real, real_error = _try_real(case, _script(case, share_types=False))
        note(f"real pass without type sharing: {_outcome(real_error)}")
    if real_error is not None and INTERNAL_ASSERT in str(real_error):
        # torch itself breaks (e.g. FuseLinear makes aten::linear with a float bias);
        # obsviz reports torch's failure as an ObsvizError
        with pytest.raises(obsviz.ObsvizError):
            _engine(case, model)
        return
    if real_error is not None:
        with pytest.raises(obsviz.PassError) as err:
            _engine(case, model)
        assert err.value.rule
        return

    run = _engine(case, model)
    assert real is not None
    walked = paths_walked(run.module) if split else None
    observed = assert_same_as_real(run.module, real, paths=walked, same_type_sharing=not split)
    sites = len(observed.sites)
    event(f"observers: {min(sites, 5)}{'+' if sites >= 5 else ''}")
    with torch.no_grad():
        output = run.module(*case.example_inputs())
    assert _same(output, expected), "the observed module computes something else"


@settings(settings.get_profile(PROFILE))
@given(case=fuzz_cases())
def test_engine_matches_real_pass_on_random_models(case: FuzzCase) -> None:
    note(str(case))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_case(case)
