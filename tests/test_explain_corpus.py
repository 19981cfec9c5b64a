"""Over the whole differential corpus: an explanation says "observed" exactly when the
observed module calls an observer on that value.

The observer calls are read straight from ``run.module``'s graphs here, independently of
obsviz's index; every value of every graph reached is explained by the name it has in
the model handed to the pass.
"""

from __future__ import annotations

import warnings

import pytest
import torch

import obsviz
from obsviz.explain import REASONS
from obsviz.refs import GraphRef, ValueRef

from .corpus import CASES, LOOP_SHARED_TYPE_MSG, SPLIT_BELOW_MSG, Case, script

# obsviz succeeds on these where the real pass fails (documented differences)
RUNS = [c for c in CASES if c.real_raises in (None, SPLIT_BELOW_MSG, LOOP_SHARED_TYPE_MSG)]


def _observed_uniques(module: torch._C.ScriptModule, method: str) -> set[int]:
    graph = module._get_method(method).graph
    observed = set()
    for node in graph.findAllNodes("prim::CallMethod", True):
        owner = node.inputsAt(0).node()
        if owner.kind() == "prim::GetAttr" and owner.s("name").startswith("_observer_"):
            observed.add(node.inputsAt(1).unique())
    return observed


def _module_at(root: torch._C.ScriptModule, path: str) -> torch._C.ScriptModule:
    module = root
    for part in filter(None, path.split(".")):
        module = module.getattr(part)
    return module


@pytest.mark.parametrize("case", RUNS, ids=[c.name for c in RUNS])
def test_observed_exactly_when_an_observer_is_called_on_the_value(case: Case) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = obsviz.insert_observers(
            script(case),
            case.qconfig_dict(),
            method_name=case.method_name,
            quant_type=case.quant_type,
        )
    values = run.values()
    assert len(values)
    calls: dict[tuple[str, str], set[int]] = {}
    duplicated = values.duplicated(["module_path", "method", "value"], keep=False)
    for row, twice in zip(values.itertuples(index=False), duplicated, strict=True):
        module = _module_at(run.module._c, row.module_path)
        is_method = (
            module._has_method(row.method)
            and row.graph.endswith(f".{row.method}")
            and row.graph.rsplit(".", 1)[0] == module._type().qualified_name()
        )
        key = (row.module_path, row.method)
        if key not in calls:
            calls[key] = _observed_uniques(module, row.method) if is_method else set()
        if twice:  # a name preprocessing reused: explain by reference instead
            ref = ValueRef(
                GraphRef(row.graph, "method" if is_method else "function"),
                row.unique,
                row.value,
                row.module_path,
            )
            e = run.explain(ref)
        else:
            e = run.explain(row.value, module=row.module_path, method=row.method, names="model")
        assert e.value.unique == row.unique and e.value.graph.qualname == row.graph
        expected = row.unique in calls[key]
        assert e.observed == expected, f"{e}"
        assert e.reason in REASONS and REASONS[e.reason].observed == e.observed
        assert (e.observed, e.reason) == (row.observed, row.reason)
        assert e.verdict and e.trail or e.reason == "removed_by_preprocessing"
