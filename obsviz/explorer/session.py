"""Runs of the pass for one model, kept by run key, so only a change of qconfigs, quant
type or method runs the pass again; stepping and switching views read a kept run."""

from __future__ import annotations

import time
import warnings
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

import torch

from ..api import insert_observers
from ..convbn import fold_conv_bn, folded_batchnorms, has_conv_bn_call
from ..errors import ObsvizError, ObsvizWarning, PassFailure
from ..fixes import fold_constant_branches
from .choices import QConfigChoices
from .state import ExplorerState, RunKey

if TYPE_CHECKING:
    from ..calib import Calibration
    from ..calib.error import ErrorReport
    from ..diff import RunDiff
    from ..run import Run

T = TypeVar("T")


@dataclass(frozen=True, eq=False)
class Outcome:
    """One run of the pass: the run (the partial run when it failed), or the error."""

    key: RunKey
    run: Run | None
    failure: PassFailure | None = None
    error: ObsvizError | None = None
    seconds: float = 0.0
    warnings: tuple[str, ...] = field(default=())
    # the BatchNorms folded into their convs before the pass, as prepare_jit does
    conv_bn: tuple[str, ...] = ()


@dataclass(frozen=True, eq=False)
class Calibrated:
    """One run calibrated on the Explorer's inputs, and its quantization error measured on
    them; ``problem`` says why either is missing."""

    calibration: Calibration | None
    error: ErrorReport | None
    problem: str = ""
    seconds: float = 0.0


class _Lru(OrderedDict):
    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def get_or_build(self, key: Hashable, build: Callable[[], T]) -> T:
        if key in self:
            self.move_to_end(key)
            return self[key]
        value = self[key] = build()
        while len(self) > self.size:
            self.popitem(last=False)
        return value


class Session:
    """The model, its qconfig choices, and the runs and rendered views made so far.

    ``runs_made`` counts the passes run, so tests can check that only a change of the run
    key runs the pass. Runs hold a copy of the model each, so only ``keep_runs`` are kept.
    """

    def __init__(
        self,
        model: torch.jit.ScriptModule,
        choices: QConfigChoices,
        *,
        inputs: list | None = None,
        keep_runs: int = 6,
        keep_views: int = 64,
    ) -> None:
        self.model = model
        self.choices = choices
        self.inputs = inputs  # the batches step 6 calibrates on (None: none given)
        self.runs_made = 0
        self.calibrations_made = 0
        self._runs: _Lru = _Lru(keep_runs)
        self._calibrations: _Lru = _Lru(keep_runs)  # each holds a calibrated module copy
        self._views: _Lru = _Lru(keep_views)
        self._folded_models: dict[tuple[tuple[str, ...], str], torch.jit.ScriptModule] = {
            ((), ""): model
        }
        # model -> (conv-bn folded, the BatchNorms folded), by the model's id: the models
        # folded are the ones kept above
        self._conv_bn: dict[int, tuple[torch.jit.ScriptModule, tuple[str, ...]]] = {}

    def model_for(
        self, folded: tuple[str, ...], arguments: bool, method: str
    ) -> torch.jit.ScriptModule:
        """The model with these attributes (and with ``arguments``, the arguments every
        call from ``method`` passes alike) folded; the model itself for none."""
        key = (folded, method if arguments else "")
        if key not in self._folded_models:
            self._folded_models[key] = fold_constant_branches(
                self.model, folded, arguments, method_name=method
            )
        return self._folded_models[key]

    def conv_bn_folded(
        self, model: torch.jit.ScriptModule
    ) -> tuple[torch.jit.ScriptModule, tuple[str, ...]]:
        """The model with its conv-bn pairs folded, as prepare_jit does first, and the
        BatchNorms folded (none: the model itself)."""
        if id(model) not in self._conv_bn:
            folded = fold_conv_bn(model) if has_conv_bn_call(model) else model
            batchnorms = tuple(folded_batchnorms(model, folded)) if folded is not model else ()
            self._conv_bn[id(model)] = (folded, batchnorms) if batchnorms else (model, ())
        return self._conv_bn[id(model)]

    def kept(self, key: RunKey) -> Outcome | None:
        """The run of ``key`` if it is kept (never runs the pass)."""
        return self._runs.get(key)

    def outcome(self, state: ExplorerState) -> Outcome:
        """The run for the state's run key, run now only if it is not kept."""
        return self._runs.get_or_build(state.run_key, lambda: self._run(state))

    def _run(self, state: ExplorerState) -> Outcome:
        self.runs_made += 1
        qconfig_dict = state.qconfig_dict(self.choices)
        start = time.perf_counter()
        conv_bn: tuple[str, ...] = ()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                model = self.model_for(state.folded, state.fold_arguments, state.method)
                if state.fold_conv_bn:
                    model, conv_bn = self.conv_bn_folded(model)
                run = insert_observers(
                    model,
                    qconfig_dict,
                    method_name=state.method,
                    quant_type=state.quant_type,
                    record=True,
                )
                failure = error = None
            except PassFailure as err:
                run, failure, error = err.run, err, None
            except ObsvizError as err:
                run, failure, error = None, None, err
        messages = tuple(
            dict.fromkeys(str(w.message) for w in caught if issubclass(w.category, ObsvizWarning))
        )
        return Outcome(
            state.run_key, run, failure, error, time.perf_counter() - start, messages, conv_bn
        )

    def calibrated(self, outcome: Outcome) -> Calibrated:
        """The run of ``outcome`` calibrated on the inputs, calibrated now only if it is
        not kept; the inputs must be given and the run whole."""
        return self._calibrations.get_or_build(outcome.key, lambda: self._calibrate(outcome))

    def kept_calibration(self, key: RunKey) -> Calibrated | None:
        """The calibration of the run of ``key`` if it is kept (never calibrates)."""
        return self._calibrations.get(key)

    def _calibrate(self, outcome: Outcome) -> Calibrated:
        assert self.inputs is not None and outcome.run is not None
        if outcome.failure is not None:
            return Calibrated(None, None, "the pass failed, so there is no observed module to run")
        self.calibrations_made += 1
        start = time.perf_counter()
        calibration = error = None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's chatter; problems are ObsvizErrors
            try:
                calibration = outcome.run.calibrate(self.inputs, progress=False)
                error = calibration.error(self.inputs, progress=False)
                problem = ""
            except ObsvizError as err:
                problem = str(err)
        return Calibrated(calibration, error, problem, time.perf_counter() - start)

    def diff(self, before: Outcome, after: Outcome) -> RunDiff | None:
        """Observers ``after`` has that ``before`` lacks and the reverse (None: no runs)."""
        if before.run is None or after.run is None or before.key == after.key:
            return None
        return self.view(("diff", before.key, after.key), lambda: before.run.diff(after.run))

    def view(self, key: Hashable, build: Callable[[], T]) -> T:
        """A rendered view, built once per key (keys hold the run key and the state
        fields the view depends on)."""
        return self._views.get_or_build(key, build)
