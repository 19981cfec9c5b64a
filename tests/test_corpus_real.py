"""Check that the recorded behaviour of every corpus case matches the real C++ pass."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import torch
from torch.ao.quantization import convert_dynamic_jit, convert_jit

from .corpus import (
    CASES,
    LOOP_SHARED_TYPE_MSG,
    QUANT_TYPES,
    TAGS,
    Case,
    case,
    count_observer_calls,
    real_insert_observers,
    run_method,
)

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning")

# Observed modules produced by the real pass, shared between tests of one session.
_OBSERVED: dict[str, torch.jit.ScriptModule] = {}


def _observed(c: Case) -> torch.jit.ScriptModule:
    if c.name not in _OBSERVED:
        _OBSERVED[c.name] = real_insert_observers(c)
    return _OBSERVED[c.name]


def _params(cases: tuple[Case, ...] | list[Case]) -> list[pytest.param]:
    return [pytest.param(c.name, id=c.name) for c in cases]


REAL_PASS_IN_A_SUBPROCESS = """
import sys
import torch
from torch.ao.quantization.quantize_jit import script_qconfig_dict
from torch.jit._recursive import wrap_cpp_module
from tests.corpus import QUANT_TYPES, case, script
c = case(sys.argv[1])
observed = torch._C._jit_pass_insert_observers(
    script(c)._c, c.method_name, script_qconfig_dict(c.qconfig_dict()), False,
    QUANT_TYPES[c.quant_type])
print("the pass returned", flush=True)
wrap_cpp_module(observed)
"""


@pytest.mark.parametrize("name", _params(CASES))
def test_real_pass_matches_record(name: str) -> None:
    c = case(name)
    if c.real_raises == LOOP_SHARED_TYPE_MSG:
        # The pass returns, but reading the corrupt module it returns is undefined
        # behaviour: it raises one error or another (c.real_raises is the usual one) or
        # crashes the process, so it runs in a process of its own.
        result = subprocess.run(
            [sys.executable, "-c", REAL_PASS_IN_A_SUBPROCESS, name],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=Path(__file__).resolve().parent.parent,
        )
        assert "the pass returned" in result.stdout, result.stderr[-2000:]
        assert result.returncode != 0
        return
    if c.real_raises is not None:
        with pytest.raises(RuntimeError) as excinfo:
            real_insert_observers(c)
        assert c.real_raises in str(excinfo.value)
        return
    observed = _observed(c)
    assert isinstance(observed, torch.jit.ScriptModule)
    run_method(observed, c)  # calibration must work
    # calibrating twice must work as well (observers accumulate statistics)
    run_method(observed, c)


@pytest.mark.parametrize("name", _params([c for c in CASES if c.convertible]))
def test_real_convert(name: str) -> None:
    c = case(name)
    observed = real_insert_observers(c)
    run_method(observed, c)
    convert = convert_jit if c.quant_type == "static" else convert_dynamic_jit
    quantized = convert(observed)
    run_method(quantized, c)


def test_corpus_is_well_formed() -> None:
    names = [c.name for c in CASES]
    assert len(names) >= 60
    assert len(set(names)) == len(names)
    for c in CASES:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", c.name), c.name
        assert c.quant_type in QUANT_TYPES, c.name
        assert c.tags, c.name
        assert c.tags <= TAGS, (c.name, c.tags - TAGS)
        assert not (c.convertible and c.real_raises), c.name
        qconfig_dict = c.qconfig_dict()
        assert qconfig_dict is not c.qconfig_dict(), "qconfig_dict must return a fresh dict"
        assert all(isinstance(key, str) for key in qconfig_dict), c.name
    covered = Counter(tag for c in CASES for tag in c.tags)
    assert set(covered) == TAGS, TAGS - set(covered)
    assert sum(c.convertible for c in CASES) >= 8
    assert any(c.convertible and "realistic" in c.tags for c in CASES)
    assert any(c.quant_type == "dynamic" and c.convertible for c in CASES)


def _same(a: object, b: object) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and torch.equal(a, b)
    if isinstance(a, tuple | list):
        return (
            isinstance(b, tuple | list)
            and len(a) == len(b)
            and all(_same(x, y) for x, y in zip(a, b, strict=True))
        )
    return a == b


def test_example_inputs_are_deterministic() -> None:
    for c in CASES:
        assert isinstance(c.example_inputs(), tuple), c.name
        assert _same(c.example_inputs(), c.example_inputs()), c.name


def test_corpus_is_not_trivially_empty() -> None:
    counts = {
        c.name: count_observer_calls(_observed(c), c.method_name)
        for c in CASES
        if c.real_raises is None
    }
    assert sum(1 for n in counts.values() if n > 0) >= 45
    zero = {name for name, n in counts.items() if n == 0}
    # interesting zero-observer situations that must stay zero
    assert {
        "qconfig_none_global",
        "qconfig_empty_dict",
        "conv2d_dynamic_not_observed",
        "loop_conv_static",
        "matmul_inputs_only_static",
    } <= zero
    # fp16 dynamic: only the weights are observed, never activations
    assert counts["two_linears_dynamic_fp16"] == 2
    assert counts["functional_linear_dynamic_fp16"] == 1
