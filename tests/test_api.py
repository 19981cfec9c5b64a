"""The public entry points: drop-in prepare, the input left alone, names, hooks, steps."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch
from torch.ao.quantization import get_default_qconfig
from torch.ao.quantization.quantize_jit import (
    convert_dynamic_jit,
    convert_jit,
    prepare_dynamic_jit,
    prepare_jit,
    script_qconfig_dict,
)
from torch.jit._recursive import wrap_cpp_module

import obsviz
from obsviz import events as ev
from obsviz.placement import observer_placement
from obsviz.qconfig import named_modules

from .corpus import CASES, Case, case, script

DROP_IN_CASES = [
    "resnet_small_fbgemm",
    "mobilenet_v3_tiny_static",
    "transformer_encoder_static",
    "transformer_encoder_dynamic",
    "conv_then_linear_static",
    "functional_linear_relu_static",
    "two_linears_dynamic_per_channel",
]


def _run(c: Case, model: torch.jit.ScriptModule, **kwargs: object) -> obsviz.Run:
    return obsviz.insert_observers(
        model, c.qconfig_dict(), method_name=c.method_name, quant_type=c.quant_type, **kwargs
    )


@pytest.mark.parametrize("name", DROP_IN_CASES)
def test_drop_in_prepare_calibrate_convert_gives_torchs_outputs(name: str) -> None:
    c = case(name)
    dynamic = c.quant_type == "dynamic"
    prepare_torch, prepare_ours = (
        (prepare_dynamic_jit, obsviz.prepare_dynamic_jit)
        if dynamic
        else (prepare_jit, obsviz.prepare_jit)
    )
    convert = convert_dynamic_jit if dynamic else convert_jit
    inputs = c.example_inputs()
    outputs = []
    for prepare in (prepare_torch, prepare_ours):
        observed = prepare(script(c), c.qconfig_dict())
        observed(*inputs)
        observed(*[x * 0.5 for x in inputs])
        outputs.append(convert(observed)(*inputs))
    assert torch.equal(outputs[0], outputs[1])


def test_prepare_jit_keeps_the_run_and_matches_the_real_placement() -> None:
    c = case("resnet_small_fbgemm")
    ours = obsviz.prepare_jit(script(c), c.qconfig_dict())
    theirs = prepare_jit(script(c), c.qconfig_dict())
    assert isinstance(ours._obsviz_run, obsviz.Run)
    assert observer_placement(ours) == observer_placement(theirs)


def _snapshot(model: torch.jit.ScriptModule) -> dict[str, object]:
    """Everything about a model that the pass could touch: types, code, tensors."""
    state: dict[str, object] = {}
    for path, module in named_modules(model._c):
        state[f"{path}:type"] = module._type().qualified_name()
        for method in module._method_names():
            state[f"{path}:{method}"] = str(module._get_method(method).graph)
    for name, tensor in list(model.named_parameters()) + list(model.named_buffers()):
        state[f"tensor:{name}"] = (tensor.detach().clone(), tensor.data_ptr())
    return state


def _assert_same(before: dict[str, object], after: dict[str, object]) -> None:
    assert before.keys() == after.keys()
    for key, old in before.items():
        new = after[key]
        if key.startswith("tensor:"):
            assert torch.equal(old[0], new[0]) and old[1] == new[1], key
        else:
            assert old == new, key


@pytest.mark.parametrize("c", CASES, ids=[c.name for c in CASES])
def test_input_model_is_never_changed(c: Case) -> None:
    model = script(c)
    before = _snapshot(model)
    with warnings.catch_warnings(), contextlib.suppress(obsviz.ObsvizError):
        warnings.simplefilter("ignore")
        _run(c, model)
    _assert_same(before, _snapshot(model))


def test_inplace_turns_the_input_into_the_observed_module() -> None:
    c = case("conv_then_linear_static")
    model = script(c)
    weight = model.conv.weight
    run = _run(c, model, inplace=True)
    assert run.module is model
    assert observer_placement(model) == observer_placement(_run(c, script(c)).module)
    assert model.conv.weight.data_ptr() == weight.data_ptr()


def test_prepare_jit_leaves_its_input_alone() -> None:
    c = case("resnet_small_fbgemm")
    model = script(c)
    before = _snapshot(model)
    obsviz.prepare_jit(model, c.qconfig_dict())
    _assert_same(before, _snapshot(model))


def test_observer_names_are_the_same_on_every_run() -> None:
    c = case("mobilenet_v3_tiny_static")
    model = script(c)
    names = [
        [(path, name, str(value)) for path, name, value in _run(c, model).inserted]
        for _ in range(3)
    ]
    assert names[0] == names[1] == names[2]
    assert [n for _, n, _ in names[0]] == [f"_observer_{i}" for i in range(len(names[0]))]


def test_hooks_see_every_phase_and_every_inserted_observer() -> None:
    c = case("resnet_small_fbgemm")
    seen: list[ev.Event] = []
    run = _run(c, script(c), hooks=[seen.append])
    assert seen == list(run.events)
    started = [e.phase for e in seen if isinstance(e, ev.PhaseStarted)]
    finished = [e.phase for e in seen if isinstance(e, ev.PhaseFinished)]
    assert started == finished == [p for p in ev.PHASES if p != "insert_reset_observer_method"]
    inserted = [e for e in seen if isinstance(e, ev.ObserverInserted)]
    assert len(inserted) == len(run.inserted) > 0
    assert [e.step for e in seen] == list(range(len(seen)))
    kinds = {type(e) for e in seen}
    assert {
        ev.BoundaryEntry,
        ev.DelayMatched,
        ev.RuleEvaluated,
        ev.ObserverRecorded,
        ev.QConfigAssigned,
        ev.ObservedPropagated,
    } <= kinds


def test_phase_snapshots_fill_up_in_pass_order() -> None:
    c = case("resnet_small_fbgemm")
    run = _run(c, script(c))
    maps = {e.phase: e.maps for e in run.events if isinstance(e, ev.PhaseFinished)}
    assert not maps["preprocess"].boundary
    assert maps["fill_boundary_value_map"].boundary and not maps["fill_boundary_value_map"].delay
    assert maps["analyze"].delay and maps["analyze"].observer_for_value
    assert not maps["analyze"].inserted and maps["insert_observers"].inserted


def test_the_maps_hold_what_the_events_recorded() -> None:
    c = case("resnet_small_fbgemm")
    run = _run(c, script(c))
    boundary = {
        caller.key: [callee.key for callee in callees]
        for caller, callees in run.maps.boundary.items()
    }
    entries = run.events_of(ev.BoundaryEntry)
    assert entries and all(e.callee.key in boundary[e.caller.key] for e in entries)
    delay = {first.key: second.key for first, second in run.maps.delay.items()}
    matched = {e.first.key: e.second.key for e in run.events_of(ev.DelayMatched)}
    assert matched and delay == matched
    pass_through = {
        output.key: [value.key for value in inputs]
        for output, inputs in run.maps.pass_through.items()
    }
    entries = run.events_of(ev.PassThroughEntry)
    assert entries and all([i.key for i in e.inputs] == pass_through[e.output.key] for e in entries)


def test_no_events_are_kept_without_recording_or_hooks() -> None:
    c = case("conv_then_linear_static")
    run = _run(c, script(c), record=False)
    assert run.events == ()
    assert observer_placement(run.module) == observer_placement(_run(c, script(c)).module)


def test_steps_yields_the_recorded_events_then_the_run() -> None:
    c = case("conv_then_linear_static")
    items = list(obsviz.steps(script(c), c.qconfig_dict()))
    *events, run = items
    assert isinstance(run, obsviz.Run)
    assert [type(e) for e in events] == [type(e) for e in run.events]
    assert isinstance(events[0], ev.PhaseStarted)


def test_steps_can_stop_early_and_reraise_errors() -> None:
    c = case("conv_then_linear_static")
    first = next(iter(obsviz.steps(script(c), c.qconfig_dict())))
    assert isinstance(first, ev.PhaseStarted) and first.phase == "fill_qconfig_map"
    with pytest.raises(obsviz.ObsvizError, match="no method 'nope'"):
        list(obsviz.steps(script(c), c.qconfig_dict(), method_name="nope"))


@pytest.mark.parametrize(
    "name",
    [
        "resnet_small_fbgemm",
        "conv_then_linear_dynamic",
        "functional_linear_relu_static",
        "linear_dynamic",
    ],
)
def test_on_device_ptq_matches_torch(name: str) -> None:
    c = case(name)
    quant_type = 1 if c.quant_type == "static" else 0
    # torch's on-device prepare inlines forward in place; do it on a copy with its own types
    model = wrap_cpp_module(torch._C._hack_do_not_use_clone_module_with_class(script(c)._c, [], []))
    torch._C._jit_pass_inline(model._c._get_method("forward").graph)
    real = torch._C._jit_pass_insert_observer_method_for_ondevice_ptq(
        model._c, "forward", script_qconfig_dict(c.qconfig_dict()), False, quant_type
    )
    run = _run(c, model, on_device=True)
    assert observer_placement(run.module, "observe_forward") == observer_placement(
        real, "observe_forward"
    )
    assert sorted(run.module._c._method_names()) == sorted(real._method_names())
    reset = run.module._c._get_method("reset_observers_forward")
    assert str(reset.graph).count("reset_min_max_vals") == str(
        real._get_method("reset_observers_forward").graph
    ).count("reset_min_max_vals")
    run.module._c._get_method("observe_forward")(*c.example_inputs())
    if c.quant_type == "dynamic":  # HistogramObserver (fbgemm static) cannot reset
        reset()


def test_prepare_ondevice_does_not_inline_the_callers_model() -> None:
    c = case("resnet_small_fbgemm")
    model = script(c)
    before = _snapshot(model)
    observed = obsviz.prepare_ondevice_jit(model, {"": get_default_qconfig("fbgemm")})
    assert observed._c._has_method("observe_forward")
    _assert_same(before, _snapshot(model))


def test_abandoning_steps_stops_its_worker_thread() -> None:
    import threading

    c = case("conv_then_linear_static")
    before = threading.active_count()
    iterator = obsviz.steps(script(c), c.qconfig_dict())
    next(iterator)
    assert threading.active_count() == before + 1
    iterator.close()
    assert threading.active_count() == before


def test_import_obsviz_leaves_pandas_to_the_views() -> None:
    """Running the pass needs no pandas; the tables (obsviz.run_view) import it when asked."""
    code = (
        "import sys, obsviz; before = 'pandas' in sys.modules; import obsviz.run_view; "
        "print(before, 'pandas' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert out.stdout.split() == ["False", "True"]
