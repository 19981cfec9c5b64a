"""Entry points: ``insert_observers``, ``steps`` and drop-in ``prepare_jit`` variants."""

from __future__ import annotations

import contextlib
import dataclasses
import queue
import threading
from collections.abc import Iterable, Iterator, Mapping

import torch
from torch.jit._recursive import wrap_cpp_module

from . import events as ev
from .convbn import fold_conv_bn
from .diagnosis import diagnose
from .engine import InsertObserversPass
from .errors import ObsvizError, PassError, PassFailure
from .qconfig import check_qconfig_dict, script_qconfig_dict
from .recorder import NullRecorder, Recorder
from .refs import display_path
from .rules import DYNAMIC, STATIC
from .run import Run
from .torch_api import require_jit_quantization

QUANT_TYPES = (STATIC, DYNAMIC)


def _check_inputs(model: object, method_name: str, quant_type: str) -> torch.jit.ScriptModule:
    require_jit_quantization()
    if isinstance(model, torch.nn.Module) and not isinstance(model, torch.jit.ScriptModule):
        raise ObsvizError(
            f"obsviz needs a TorchScript module, got an eager {type(model).__name__}; script it "
            "first: model = torch.jit.script(model.eval())"
        )
    if not isinstance(model, torch.jit.ScriptModule):
        raise ObsvizError(f"expected a torch.jit.ScriptModule, got {type(model).__name__}")
    if not model._c._has_method(method_name):
        methods = ", ".join(model._c._method_names()) or "none"
        raise ObsvizError(
            f"{display_path('')}: the model has no method {method_name!r} (its methods: {methods})"
        )
    if quant_type not in QUANT_TYPES:
        raise ObsvizError(f"quant_type must be 'static' or 'dynamic', got {quant_type!r}")
    return model


def insert_observers(
    model: torch.jit.ScriptModule,
    qconfig_dict: Mapping[str, object],
    *,
    method_name: str = "forward",
    quant_type: str = STATIC,
    inplace: bool = False,
    hooks: Iterable[ev.Hook] = (),
    record: bool = True,
    on_device: bool = False,
) -> Run:
    """Run obsviz's port of ``InsertObservers`` and return the :class:`Run`.

    ``qconfig_dict`` takes the plain ``QConfig`` objects (and ``None``) that
    ``prepare_jit`` takes. ``run.module`` is the observed module. The input model is not
    changed unless ``inplace=True``, in which case it becomes the observed module.
    With ``record=False`` and no hooks no events are kept (the fastest run).
    ``on_device=True`` is ``InsertObserversForOnDevicePTQ``: observers go into a copy of
    the method named ``observe_<method>``, and ``reset_observers_<method>`` is added.
    """
    model = _check_inputs(model, method_name, quant_type)
    check_qconfig_dict(qconfig_dict, model._c)
    recorder = Recorder(hooks) if (record or hooks) else NullRecorder()
    observers = InsertObserversPass(recorder)
    insert = (
        observers.insert_observers_for_on_device_ptq if on_device else observers.insert_observers
    )
    try:
        module = insert(
            model._c, method_name, script_qconfig_dict(qconfig_dict), inplace, quant_type
        )
    except PassError as err:
        partial = observers.partial_module()
        run = _run(
            observers,
            wrap_cpp_module(partial) if partial is not None else model,
            model,
            qconfig_dict,
            method_name,
            quant_type,
        )
        diagnosis = diagnose(err, model, method_name)
        raise PassFailure(err, diagnosis, dataclasses.replace(run, failure=diagnosis)) from err
    observed, original = wrap_cpp_module(module), model
    if inplace:
        original = wrap_cpp_module(model._c)  # its graphs stay as they were
        model._reconstruct(module)
        observed = model
    return _run(observers, observed, original, qconfig_dict, method_name, quant_type)


def _run(
    observers: InsertObserversPass,
    module: torch.jit.ScriptModule,
    original: torch.jit.ScriptModule,
    qconfig_dict: Mapping[str, object],
    method_name: str,
    quant_type: str,
) -> Run:
    recorder = observers.recorder
    return Run(
        module=module,
        events=tuple(recorder.events),
        qconfigs=observers.module_qconfig_map,
        splits=observers.splits,
        maps=recorder.maps_view(),
        method_name=method_name,
        quant_type=quant_type,
        qconfig_dict=dict(qconfig_dict),
        original_names=recorder.original_names,
        original=original,
    )


class _StepsAbandoned(BaseException):
    """Stops the worker of :func:`steps` when its consumer stops iterating."""


def steps(
    model: torch.jit.ScriptModule, qconfig_dict: Mapping[str, object], **kwargs: object
) -> Iterator[ev.Event]:
    """The events of ``insert_observers``, yielded one at a time as the pass makes them.

    The engine runs in a worker thread that waits for each event to be consumed, so a
    notebook can step through the pass. The final event is the ``Run`` itself. Closing
    the iterator early (or dropping it) stops the worker.
    """
    handoff: queue.Queue = queue.Queue(maxsize=1)
    abandoned = threading.Event()
    finished = object()

    def hand_over(item: object) -> None:
        while not abandoned.is_set():
            try:
                handoff.put(item, timeout=0.05)
                return
            except queue.Full:
                continue
        raise _StepsAbandoned

    def work() -> None:
        try:
            result = insert_observers(model, qconfig_dict, hooks=(hand_over,), **kwargs)
            hand_over((finished, result))
        except _StepsAbandoned:
            pass
        except BaseException as err:  # handed to the consumer, which re-raises it
            with contextlib.suppress(_StepsAbandoned):
                hand_over((finished, err))

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    try:
        while True:
            item = handoff.get()
            if isinstance(item, tuple) and item and item[0] is finished:
                if isinstance(item[1], BaseException):
                    raise item[1]
                yield item[1]
                return
            yield item
    finally:
        abandoned.set()
        worker.join(timeout=10)


def _prepare(
    model: torch.jit.ScriptModule,
    qconfig_dict: Mapping[str, object],
    inplace: bool,
    quant_type: str,
    method_name: str = "forward",
    on_device: bool = False,
) -> torch.jit.ScriptModule:
    model = _check_inputs(model, method_name, quant_type)
    if not all(isinstance(key, str) for key in qconfig_dict):
        raise ObsvizError("qconfig_dict should only contain names (str) as keys.")
    if on_device:
        torch._C._jit_pass_inline(model._c._get_method(method_name).graph)
    run = insert_observers(
        fold_conv_bn(model),
        qconfig_dict,
        method_name=method_name,
        quant_type=quant_type,
        inplace=True,
        on_device=on_device,
    )
    observed = run.module
    if inplace:
        model._reconstruct(observed._c)
        observed = model
    observed._obsviz_run = run
    return observed


def prepare_jit(
    model: torch.jit.ScriptModule, qconfig_dict: Mapping[str, object], inplace: bool = False
) -> torch.jit.ScriptModule:
    """Drop-in for ``torch.ao.quantization.prepare_jit``: fold conv-bn, insert observers.

    The :class:`Run` behind the result is ``observed._obsviz_run`` (or call
    :func:`insert_observers` yourself to get it directly).
    """
    return _prepare(model, qconfig_dict, inplace, STATIC)


def prepare_dynamic_jit(
    model: torch.jit.ScriptModule, qconfig_dict: Mapping[str, object], inplace: bool = False
) -> torch.jit.ScriptModule:
    """Drop-in for ``torch.ao.quantization.prepare_dynamic_jit``; the run is ``._obsviz_run``."""
    return _prepare(model, qconfig_dict, inplace, DYNAMIC)


def prepare_ondevice_jit(
    model: torch.jit.ScriptModule,
    qconfig_dict: Mapping[str, object],
    method_name: str = "forward",
    inplace: bool = False,
    quant_type: str = STATIC,
) -> torch.jit.ScriptModule:
    """Like torch's ``_prepare_ondevice_jit``: adds ``observe_<method>`` and a reset method.

    Unlike torch, the input model's method graph is not inlined in place unless
    ``inplace=True``.
    """
    if not inplace:
        model = wrap_cpp_module(torch._C._hack_do_not_use_clone_module_with_class(model._c, [], []))
    return _prepare(model, qconfig_dict, inplace, quant_type, method_name, on_device=True)
