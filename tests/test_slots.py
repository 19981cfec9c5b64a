"""Observer slots: every instance of a shared class type gets a value for each observer
attribute the pass adds to the type, and obsviz never hands torch a module with an empty
one. Reading an empty slot is undefined behaviour (an error, or a dead process), so
everything that may meet one runs in a process of its own."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import obsviz

from .corpus import CASES, LOOP_SHARED_TYPE_MSG, FloatFunctionalAddAndMul, case, run_method, script

pytestmark = pytest.mark.filterwarnings(
    "ignore::DeprecationWarning", "ignore::obsviz.errors.LoopWarning"
)

ROOT = Path(__file__).resolve().parent.parent
EMPTY_SLOT_CASES = [c for c in CASES if c.real_raises == LOOP_SHARED_TYPE_MSG]


def _in_a_process(source: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(source), *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )


def _observers_called(module: torch._C.ScriptModule, method: str) -> set[str]:
    """The observer attributes a method's graph reads, from the graph alone."""
    graph = module._get_method(method).graph
    return {
        n.s("name")
        for n in graph.findAllNodes("prim::GetAttr")
        if n.s("name").startswith("_observer_")
    }


def _submodule(module: torch.jit.ScriptModule, path: str) -> torch.jit.ScriptModule:
    for part in filter(None, path.split(".")):
        module = getattr(module, part)
    return module


REAL_PASS_EMPTY_SLOTS = """
    import json, sys
    from obsviz.slots import empty_module_slots
    from tests.corpus import case, real_pass, script
    from tests.test_slots import _observers_called
    c = case(sys.argv[1])
    real = real_pass(script(c), c.qconfig_dict(), c.quant_type, c.method_name)
    print(json.dumps(sorted(empty_module_slots(real))), flush=True)
    if c.name == "float_functional_add_and_mul_static":
        add_observers = _observers_called(real.getattr("skip_add"), "add")
        mul_observers = _observers_called(real.getattr("scale").getattr("skip_mul"), "mul")
        print(json.dumps(sorted([("skip_add", name) for name in mul_observers]
                                + [("scale.skip_mul", name) for name in add_observers])))
"""


@pytest.mark.parametrize("name", [c.name for c in EMPTY_SLOT_CASES])
def test_empty_slots_of_the_real_pass_are_found_without_crashing(name: str) -> None:
    result = _in_a_process(REAL_PASS_EMPTY_SLOTS, name)
    assert result.returncode == 0, result.stderr[-2000:]
    found, *expected = (json.loads(line) for line in result.stdout.splitlines())
    assert found, "the real pass left no empty slot: the case no longer has its shape"
    if expected:  # each FloatFunctional lacks the observers of the method it never runs
        assert found == expected[0]


@pytest.mark.parametrize("name", [c.name for c in EMPTY_SLOT_CASES])
def test_obsviz_module_can_be_saved_and_its_walked_observers_record(
    name: str, tmp_path: Path
) -> None:
    c = case(name)
    run = obsviz.insert_observers(script(c), c.qconfig_dict(), quant_type=c.quant_type)
    torch.jit.save(run.module, tmp_path / "observed.pt")  # serializing reads every slot
    loaded = torch.jit.load(tmp_path / "observed.pt")
    run_method(loaded, c)
    for path, attribute, _ in run.inserted:
        observer = getattr(_submodule(loaded, path), attribute)
        assert torch.isfinite(observer.min_val).all(), f"{path}.{attribute} never ran"


def test_each_float_functional_holds_the_observers_of_both_methods() -> None:
    run = obsviz.insert_observers(
        torch.jit.script(FloatFunctionalAddAndMul().eval()),
        {"": torch.ao.quantization.default_qconfig},
    )
    observed = run.module
    observed(torch.randn(1, 3, 8, 8))
    adds = _observers_called(observed.skip_add._c, "add")
    muls = _observers_called(observed.scale.skip_mul._c, "mul")
    assert adds and muls
    for path, calls, holds_too in (("skip_add", adds, muls), ("scale.skip_mul", muls, adds)):
        instance = _submodule(observed, path)
        for attribute in calls:
            observer = getattr(instance, attribute)
            assert torch.isfinite(observer.min_val).all(), f"{path}.{attribute} never ran"
        for attribute in holds_too:  # a method never run on this instance: its own copy
            assert isinstance(getattr(instance, attribute), torch.jit.ScriptModule)
            assert getattr(instance, attribute) is not getattr(
                _submodule(observed, "scale.skip_mul" if path == "skip_add" else "skip_add"),
                attribute,
            )


BROKEN_ENGINE = """
    import json, sys
    import torch
    from torch.ao.quantization import default_qconfig
    import obsviz
    from obsviz.engine import InsertObserversHelper
    from tests.corpus import FloatFunctionalAddAndMul
    left_empty = sys.argv[1]  # the instance whose empty slots stay empty; "*" for all
    fill = InsertObserversHelper.fill_empty_observer_slots

    def fill_all_but(self, instances):
        if left_empty != "*":
            fill(self, [(path, m) for path, m in instances if path != left_empty])

    InsertObserversHelper.fill_empty_observer_slots = fill_all_but
    model = torch.jit.script(FloatFunctionalAddAndMul().eval())
    try:
        obsviz.insert_observers(model, {"": default_qconfig})
    except obsviz.PassFailure as err:
        inserted = [(path, name, ref.graph.method) for path, name, ref in err.run.inserted]
        print(json.dumps({"path": err.module_path, "attribute": err.value,
                          "message": str(err), "input_returned": err.run.module is model,
                          "inserted": inserted}))
"""


def _broken_run(left_empty: str) -> dict:
    result = _in_a_process(BROKEN_ENGINE, left_empty)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout, "obsviz returned a module with an empty slot instead of raising"
    return json.loads(result.stdout)


def test_an_empty_slot_is_a_pass_failure_naming_its_module_and_attribute() -> None:
    failure = _broken_run("skip_add")
    mul_observers = [
        name
        for path, name, method in failure["inserted"]
        if path == "scale.skip_mul" and method == "mul"
    ]
    assert failure["path"] == "skip_add"
    assert [failure["attribute"]] == mul_observers
    assert (
        f"skip_add: the observed module's attribute {mul_observers[0]} holds no value"
        in failure["message"]
    )
    assert failure["input_returned"]  # the partial run does not wrap the corrupt module


def test_every_empty_slot_is_listed() -> None:
    failure = _broken_run("*")
    by_method = {
        method: name
        for path, name, method in failure["inserted"]
        if path in ("skip_add", "scale.skip_mul")
    }
    assert (
        f"Empty: scale.skip_mul.{by_method['add']}, skip_add.{by_method['mul']}."
        in failure["message"]
    )
