"""Entry points: ``insert_observers``, ``steps`` and drop-in ``prepare_jit`` variants."""

from __future__ import annotations

import contextlib
import dataclasses
import queue
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager

import torch
from torch.jit._recursive import wrap_cpp_module

from . import events as ev
from . import failures
from .clone import check_remap_types, clone_module
from .diagnosis import diagnose
from .engine import InsertObserversHelper, ModuleCtx
from .errors import ObsvizError, PassError, PassFailure
from .functions import FunctionResolver
from .qconfig import check_qconfig_dict, fill_qconfig_map, named_modules, script_qconfig_dict
from .recorder import NullRecorder, Recorder
from .rules import DYNAMIC, STATIC
from .run import Run
from .slots import empty_module_slots
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
            f"<top>: the model has no method {method_name!r} (its methods: {methods})"
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
    return _Pass(model, qconfig_dict, method_name, quant_type, recorder).run(inplace, on_device)


def _failure(error: PassError, partial: Run) -> PassFailure:
    diagnosis = diagnose(error, partial.original, partial.method_name)
    return PassFailure(error, diagnosis, dataclasses.replace(partial, failure=diagnosis))


class _Pass:
    """``InsertObservers`` / ``InsertObserversForOnDevicePTQ``, one phase per method."""

    def __init__(
        self,
        model: torch.jit.ScriptModule,
        qconfig_dict: Mapping[str, object],
        method_name: str,
        quant_type: str,
        recorder: Recorder,
    ) -> None:
        self.model = model
        self.qconfig_dict = qconfig_dict
        self.method_name = method_name
        self.quant_type = quant_type
        self.recorder = recorder
        self.helper: InsertObserversHelper | None = None
        self.cloned: torch._C.ScriptModule | None = None
        self.instances: list[tuple[str, torch._C.ScriptModule]] = []
        self.qconfigs: dict = {}
        self.splits: tuple = ()

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Report the phase, and turn torch's internal errors into ones users can act on."""
        self.recorder.phase_started(name)
        try:
            yield
        except ObsvizError:
            raise
        except (RuntimeError, torch.jit.Error) as err:
            where = self.helper.where if self.helper else "<top>"
            first_line = str(err).strip().splitlines()[0] if str(err).strip() else repr(err)
            raise ObsvizError(
                f"{where}: torch failed during the {name} phase of the pass on "
                f"{self.method_name!r}: {first_line}"
            ) from err
        self.recorder.phase_finished(name)

    def run(self, inplace: bool, on_device: bool) -> Run:
        try:
            return self._run(inplace, on_device)
        except PassError as err:
            raise _failure(err, self.partial_run()) from err

    def partial_run(self) -> Run:
        """The run as it stood when the pass failed, with a module that can be read: the
        partly observed one, or the input model when that one has an empty slot."""
        helper, module = self.helper, self.cloned
        if helper is not None and module is not None:
            helper.fill_empty_observer_slots(self.instances)
        readable = module is not None and not empty_module_slots(module)
        return Run(
            module=wrap_cpp_module(module) if readable else self.model,
            events=tuple(self.recorder.events),
            qconfigs=self.qconfigs,
            splits=self.splits,
            maps=self.recorder.maps_view(),
            method_name=self.method_name,
            quant_type=self.quant_type,
            qconfig_dict=dict(self.qconfig_dict),
            original_names=self.recorder.original_names,
            original=self.model,
        )

    def _run(self, inplace: bool, on_device: bool) -> Run:
        recorder, method_name = self.recorder, self.method_name
        scripted = script_qconfig_dict(self.qconfig_dict)
        with self.phase("fill_qconfig_map"):
            qconfigs = self.qconfigs = fill_qconfig_map(self.model._c, scripted)
            recorder.qconfigs_assigned(qconfigs)
        with self.phase("clone"):
            check_remap_types(self.model._c)
            cloned, splits = clone_module(self.model._c, qconfigs, inplace=inplace)
            self.cloned, self.splits = cloned, tuple(splits)
            recorder.types_split(splits)
            recorder.values_named(self.model._c, cloned)

        entry_method = method_name
        with self.phase("swap_functional_linear"):
            if on_device:
                torch._C._jit_pass_swap_functional_linear(cloned._get_method(method_name).graph)
                entry_method = f"observe_{method_name}"
                cloned = self.cloned = _clone_method(cloned, method_name)
            else:
                torch._C._jit_pass_swap_functional_linear(cloned)

        qconfigs = self.qconfigs = fill_qconfig_map(cloned, scripted)
        self.instances = list(named_modules(cloned))
        helper = self.helper = InsertObserversHelper(
            qconfigs, self.quant_type, recorder, FunctionResolver(self.model._c)
        )
        top = ModuleCtx(cloned, "")
        with self.phase("preprocess"):
            helper.preprocess(top, entry_method)
        with self.phase("fill_boundary_value_map"):
            helper.fill_boundary_value_map(top, entry_method)
        with self.phase("analyze"):
            helper.analyze(top, entry_method)
            if on_device and self.quant_type == DYNAMIC:
                helper.remove_activation_observers()
        if on_device:
            helper.insert_reset_observer_method = True
            helper.reset_observer_method_name = f"reset_observers_{method_name}"
        with self.phase("insert_observers"):
            helper.insert_observers(top, entry_method, is_entry_point=True)
            helper.fill_empty_observer_slots(self.instances)
        if on_device:
            with self.phase("insert_reset_observer_method"):
                helper.add_reset_observer_methods()

        check_every_slot_holds_a_value(cloned)
        observed, original = wrap_cpp_module(cloned), self.model
        if inplace:
            original = wrap_cpp_module(self.model._c)  # its graphs stay as they were
            self.model._reconstruct(cloned)
            observed = self.model
        return Run(
            module=observed,
            events=tuple(recorder.events),
            qconfigs=qconfigs,
            splits=tuple(splits),
            maps=recorder.maps_view(),
            method_name=method_name,
            quant_type=self.quant_type,
            qconfig_dict=dict(self.qconfig_dict),
            original_names=recorder.original_names,
            original=original,
        )


def check_every_slot_holds_a_value(module: torch._C.ScriptModule) -> None:
    """Refuse to wrap a module with an empty submodule slot: reading it crashes torch."""
    empty = empty_module_slots(module)
    if empty:
        raise failures.empty_observer_slots(empty)


def _clone_method(module: torch._C.ScriptModule, method_name: str) -> torch._C.ScriptModule:
    """``cloneMethod``: a module whose type also has ``observe_<method>``, a graph copy.

    Torch has no binding that adds a graph to a class type, so this runs torch's on-device
    pass with every qconfig None: it copies the method and, with no qconfig, observes
    nothing. The engine then makes every decision on the copy.
    """
    return torch._C._jit_pass_insert_observer_method_for_ondevice_ptq(
        module, method_name, {"": None}, True, 1
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
    fused = torch._C._jit_pass_fold_convbn(model._c)
    fused_module = wrap_cpp_module(fused)
    run = insert_observers(
        fused_module,
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
