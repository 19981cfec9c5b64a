"""The tables: the pass's maps and decisions as tidy DataFrames that join on value columns."""

from __future__ import annotations

import functools

import pandas as pd
import pytest
import torch
from torch.ao.quantization import get_default_qconfig

import obsviz
from obsviz import events as ev
from obsviz.run_view import VALUE_COLUMNS

from .corpus import case, script
from .explain_models import run_of
from .observed_graphs import observer_class, observers_called, observers_of, read_observed

VALUE_TABLES = (
    "values",
    "delay",
    "boundary",
    "observer_map",
    "pass_through",
    "observed",
    "inserted",
)


def _row(frame: pd.DataFrame, **where: object) -> pd.DataFrame:
    mask = pd.Series(True, index=frame.index)
    for column, value in where.items():
        mask &= frame[column] == value
    return frame[mask]


@pytest.mark.parametrize("name", VALUE_TABLES)
@pytest.mark.parametrize("model", ["ConvFlattenLinear", "ConvRelu"])
def test_every_value_table_names_values_the_same_way(name: str, model: str) -> None:
    frame = getattr(run_of(model).tables, name)
    assert list(frame.columns[: len(VALUE_COLUMNS)]) == VALUE_COLUMNS
    assert len(frame) or (model, name) == ("ConvFlattenLinear", "delay")


def test_delay_table_one_row_per_delayed_value() -> None:
    delay = run_of("ConvRelu").tables.delay
    assert len(delay) == 1
    row = delay.iloc[0]
    assert (row.module_path, row.method, row.value, row.producer) == (
        "",
        "forward",
        "y.1",
        "prim::CallMethod",
    )
    assert (row.pattern, row.observed_instead_value) == ("nn_conv2d_nn_relu", "z.1")


def test_delay_rows_for_every_instance_of_a_shared_graph() -> None:
    delay = run_of("case:two_blocks_same_qconfig_static").tables.delay
    assert sorted(delay.module_path) == ["b0", "b1"]
    assert delay.graph.nunique() == 1


def test_boundary_table_pairs_caller_and_callee_values() -> None:
    boundary = run_of("ConvRelu").tables.boundary
    into_conv = _row(boundary, module_path="", value="x.1", callee_module_path="conv")
    assert list(into_conv.callee_value) == ["input.1"] and list(into_conv.kind) == ["input"]
    returned = _row(boundary, module_path="", value="y.1", callee_module_path="conv")
    assert list(returned.kind) == ["return"]
    # the two calls that receive y.1: the relu's input, and the conv's return
    assert set(_row(boundary, value="y.1").kind) == {"input", "return"}


def test_boundary_table_has_if_outputs() -> None:
    boundary = run_of("IfConvs").tables.boundary
    branches = _row(boundary, kind="if_output", value="y")
    assert sorted(branches.callee_value) == ["y.1", "y.3"]


def test_observer_map_gives_role_and_observer_settings() -> None:
    observer_map = run_of("ConvFlattenLinear").tables.observer_map
    weight = _row(observer_map, module_path="fc", value="weight").iloc[0]
    assert (weight.role, weight.observer_class) == ("weight", "MinMaxObserver")
    assert (weight["dtype"], weight["qscheme"]) == ("torch.qint8", "torch.per_tensor_symmetric")
    linear_input = _row(observer_map, module_path="fc", value="input.1").iloc[0]
    assert (linear_input.role, linear_input["dtype"]) == ("activation", "torch.quint8")


def test_observer_map_per_channel_axis() -> None:
    run = obsviz.insert_observers(
        torch.jit.script(torch.nn.Conv2d(3, 4, 3)), {"": get_default_qconfig("fbgemm")}
    )
    weight = _row(run.tables.observer_map, role="weight").iloc[0]
    assert weight.observer_class == "PerChannelMinMaxObserver" and weight.ch_axis == 0


class _ScriptedSetting(torch.nn.Module):
    """Holds a dtype or qscheme, for TorchScript to give the integer it stores it as."""

    def __init__(self, setting: object) -> None:
        super().__init__()
        self.setting = setting

    def forward(self) -> int:
        return 0


@functools.cache
def _as_scripted(text: str) -> int | None:
    """A table's "torch.qint8" or "torch.per_tensor_affine" as a scripted observer holds it."""
    if not text:
        return None
    holder = torch.jit.script(_ScriptedSetting(getattr(torch, text.removeprefix("torch."))))
    return holder._c.getattr("setting")


def _settings(observer: torch._C.ScriptModule) -> tuple:
    """Class name, dtype, qscheme and channel axis of an observer in run.module."""
    return (
        observer_class(observer),
        *(
            observer.getattr(name) if observer.hasattr(name) else None
            for name in ("dtype", "qscheme", "ch_axis")
        ),
    )


def _row_settings(row: object) -> tuple:
    return (
        row.observer_class,
        _as_scripted(row.dtype),
        _as_scripted(row.qscheme),
        None if pd.isna(row.ch_axis) else row.ch_axis,
    )


# default_qconfig (one observer class for weights and activations), per-channel weights,
# dynamic int8 and fp16, embedding_bag weight-only, and several qconfigs in one model
OBSERVER_MAP_CASES = (
    "two_blocks_diff_qconfig_static",
    "two_blocks_diff_qconfig_per_channel",
    "sequential_layers_per_channel",
    "two_linears_dynamic_per_channel",
    "functional_linear_dynamic_fp16",
    "two_mlps_dynamic_diff_qconfig",
    "embedding_bag_then_linear_mixed",
    "resnet_small_nested_keys",
    "add_relu_module_static",
    "conv_relu_module_qnnpack",
)


@pytest.mark.parametrize("name", OBSERVER_MAP_CASES)
def test_observer_map_describes_the_observers_in_the_observed_module(name: str) -> None:
    """Each row's class, dtype, qscheme and axis are those of the observer run.module has
    for the value (its own, or at the call sites it is passed through, or, when a fusion
    delays it, the later value's), and every observer run.module calls has a row."""
    c = case(name)
    run = obsviz.insert_observers(script(c), c.qconfig_dict(), quant_type=c.quant_type)
    observed = read_observed(run.module, run.entry_method)
    delay = run.tables.delay
    assert (delay.observed_instead_module_path == delay.module_path).all()
    assert (delay.observed_instead_method == delay.method).all()
    instead = {
        (row.module_path, row.method, row.unique): row.observed_instead_unique
        for row in delay.itertuples()
    }
    described = set()
    for row in run.tables.observer_map.itertuples():
        observers = observers_of(observed, row.module_path, row.method, row.unique, instead)
        for path, attribute in observers:
            observer = observed.submodule(path).getattr(attribute)
            assert _settings(observer) == _row_settings(row), (row.module_path, row.value)
        described |= observers
    called = {
        (instance.path, attribute)
        for instance in observed.instances.values()
        for attribute in observers_called(instance.graph)
    }
    assert described == called and called


def test_pass_through_table() -> None:
    pass_through = run_of("ConvFlattenLinear").tables.pass_through
    flatten = _row(pass_through, module_path="", value="f.1")
    assert list(flatten.input_value) == ["p.1"] and list(flatten.producer) == ["aten::flatten"]


def test_observed_table_says_how() -> None:
    observed = run_of("ConvFlattenLinear").tables.observed
    how = {(r.module_path, r.value): r.how for r in observed.itertuples()}
    assert how[("", "x.1")] == "observer"
    assert how[("", "f.1")] == "propagated"
    assert how[("", "p.1")] == "propagated"
    assert how[("conv", "input.1")] == "at_call_site"
    assert ("", "n.1") not in how


def test_inserted_table_matches_the_observed_module() -> None:
    run = run_of("case:two_blocks_same_qconfig_static")
    inserted = run.tables.inserted
    for row in inserted.itertuples():
        module = run.module._c
        for part in filter(None, row.module_path.split(".")):
            module = module.getattr(part)
        assert module.hasattr(row.attribute)
    assert set(inserted.how) == {"inserted", "copied"}
    copied = _row(inserted, how="copied")
    assert all(path.startswith("b1") for path in copied.module_path)


def test_qconfig_table_explicit_or_inherited() -> None:
    qconfig = run_of("ConvFlattenLinear", "fc_none").tables.qconfig.set_index("module_path")
    assert qconfig.loc["", "how"] == "explicit"
    assert qconfig.loc["conv", "how"] == "inherited"
    assert qconfig.loc["fc", "how"] == "explicit_none" and qconfig.loc["fc", "qconfig"] == "None"
    assert "MinMaxObserver(torch.quint8" in qconfig.loc["conv", "qconfig"]


def test_values_has_a_verdict_for_every_value() -> None:
    values = run_of("ConvRelu").values()
    assert values.reason.notna().all()
    observed = _row(values, observed=True)
    assert set(zip(observed.module_path, observed.value, strict=True)) == {
        ("", "x.1"),
        ("", "z.1"),
        ("conv", "weight"),
    }
    assert all(name.startswith("_observer_") for name in observed.observer)


def test_tables_join_on_value_columns() -> None:
    tables = run_of("ConvRelu").tables
    joined = tables.delay.merge(tables.values, on=VALUE_COLUMNS)
    assert list(joined.reason) == ["delayed"]


def test_tables_at_a_step() -> None:
    run = run_of("ConvRelu")
    matched = next(e for e in run.events if isinstance(e, ev.DelayMatched))
    assert run.at(matched.step - 1).tables.delay.empty
    assert len(run.at(matched.step).tables.delay) == 1
    first_insert = next(e for e in run.events if isinstance(e, ev.ObserverInserted))
    assert run.at(first_insert.step - 1).tables.inserted.empty
    assert len(run.at(first_insert.step).tables.inserted) == 1
    assert run.at(-1).tables.delay.equals(run.tables.delay)
    with pytest.raises(obsviz.ObsvizError, match="out of range"):
        run.at(len(run.events) + 5)


def test_tables_are_built_once() -> None:
    run = run_of("ConvRelu")
    assert run.tables is run.tables and run.tables.delay is run.tables.delay
    assert run.at(3).tables is run.at(3).tables


def test_tables_repr() -> None:
    tables = run_of("ConvRelu").tables
    assert ".delay" in repr(tables)
    assert "<table>" in tables._repr_html_() and "observer_map" in tables._repr_html_()
