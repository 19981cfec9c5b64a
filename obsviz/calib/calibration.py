"""``run.calibrate(batches)`` and ``obsviz.calibration(observed)``: the :class:`Calibration`."""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

import torch
from torch.jit._recursive import wrap_cpp_module

from ..errors import ObsvizError
from ..refs import join_path, value_label
from .batches import BatchRunner, as_args, progress
from .observers import ObserverState
from .record import Recorders
from .sites import Site, find_sites, instance_at, observer_of, replace_observer_calls

if TYPE_CHECKING:
    import pandas as pd

    from ..run import Run
    from .error import ErrorReport
    from .flags import Flags
    from .plots import Plot
    from .sensitivity import Sensitivity
    from .simulate import Simulation

RECORDER_PREFIX = "_obsviz_record"


@dataclass
class SiteRecord:
    """What calibrating through obsviz saw at one observer, batch by batch."""

    calls: list[int] = field(default_factory=list)  # per batch
    low: list[float] = field(default_factory=list)  # per batch (inf when not called)
    high: list[float] = field(default_factory=list)
    channel_dim: int | None = None
    channel_low: torch.Tensor | None = None  # over every batch
    channel_high: torch.Tensor | None = None

    @property
    def batches_seen(self) -> int:
        return sum(1 for c in self.calls if c)

    @property
    def seen_low(self) -> float:
        return min(self.low, default=math.inf)

    @property
    def seen_high(self) -> float:
        return max(self.high, default=-math.inf)


class Calibration:
    """What the observers of a calibrated observed module saw, and what quantizing costs.

    ``ranges`` and ``flags`` read the observers; ``error(batches)``,
    ``sensitivity(batches)`` and ``plot(...)`` build on them. ``module`` is the calibrated
    observed module, ready for ``convert_jit``.
    """

    def __init__(
        self,
        module: torch.jit.ScriptModule,
        *,
        method: str = "forward",
        run: Run | None = None,
        records: dict[str, SiteRecord] | None = None,
        batches: int | None = None,
        quant_type: str | None = None,
    ) -> None:
        self.module = module
        self.method = method
        self.run = run
        self.records = records
        self.batches = batches
        self.last_error: ErrorReport | None = None  # the latest error(...), for explain
        self.sites: list[Site] = find_sites(module, method)
        self.states: dict[str, ObserverState] = {
            s.observer_path: ObserverState(observer_of(module, s)) for s in self.sites
        }
        self.quant_type = quant_type or (
            run.quant_type
            if run is not None
            else (
                "dynamic"
                if any(state.config.is_dynamic for state in self.states.values())
                else "static"
            )
        )

    # ------------------------------------------------------------------ lookups
    def state(self, site: Site) -> ObserverState:
        return self.states[site.observer_path]

    def record(self, site: Site) -> SiteRecord | None:
        return self.records.get(site.observer_path) if self.records is not None else None

    def weight(self, site: Site) -> torch.Tensor | None:
        if site.parameter is None:
            return None
        return instance_at(self.module, site.module_path)._c.getattr(site.parameter)

    def branch_not_taken(self, site: Site) -> tuple[str, bool, object] | None:
        """(attribute, the value taking the branch, the module's value) when ``site`` runs
        only in an ``if self.<attribute>:`` branch its module never takes."""
        if site.branch is None:
            return None
        owner, name, taken = site.branch
        actual = instance_at(self.module, owner)._c.getattr(name)
        return (name, taken, actual) if isinstance(actual, bool) and actual != taken else None

    def label(self, site: Site) -> str:
        """``module:method:%value`` with the value named as in ``ranges``."""
        row = self.ranges.iloc[self.sites.index(site)]
        return value_label(site.module_path, site.method, row["value"])

    def site(self, value: object, module: str = "", method: str | None = None) -> Site:
        """The observer site of a value, named as in ``ranges`` (the ``value`` column), as
        in the observed graph, or as ``run.explain`` takes it; or an observer path."""
        from .lookup import find_site

        return find_site(self, value, module, method)

    @cached_property
    def simulation(self) -> Simulation:
        """The simulated quantized model (built on first use, from the qparams now)."""
        from .simulate import Simulation

        weights = {s.observer_path: self.weight(s) for s in self.sites if s.role == "weight"}
        return Simulation(
            self.module,
            self.method,
            self.states,
            {s.observer_path: s.role for s in self.sites},
            {k: w for k, w in weights.items() if w is not None},
        )

    def simulate(self, batch: object) -> object:
        """The simulated quantized model's output on one batch (a tensor or a tuple)."""
        from .batches import as_args, clone_args
        from .error import simulation_runner
        from .simulate import FLOAT, SIMULATE

        self.simulation.set_mode(SIMULATE)
        try:
            return simulation_runner(self, "simulate")(0, clone_args(as_args(batch)))
        finally:
            self.simulation.set_mode(FLOAT)

    # ------------------------------------------------------------------ views
    @cached_property
    def ranges(self) -> pd.DataFrame:
        """One row per observer: where it is, how it quantizes, what it saw, its qparams."""
        from .ranges import ranges_table

        return ranges_table(self)

    @cached_property
    def flags(self) -> Flags:
        """What looks wrong, each with why it matters and what to change."""
        from .flags import find_flags

        return find_flags(self)

    def error(self, batches: Iterable, *, progress: bool = True) -> ErrorReport:
        """Quantize->dequantize error per observed value, local and accumulated, and the
        model output's SQNR, streamed over ``batches``."""
        from .error import measure_error

        self.last_error = measure_error(self, batches, show_progress=progress)
        return self.last_error

    def sensitivity(
        self,
        batches: Iterable,
        *,
        modules: Iterable[str] | None = None,
        calibration_batches: Iterable | None = None,
        progress: bool = True,
    ) -> Sensitivity:
        """Output SQNR with one module left float at a time, ranked by the SQNR gained.
        An observer that leaving a module float adds is calibrated on
        ``calibration_batches`` (``batches`` when None): pass the batches this
        calibration saw for the numbers ``prepare_jit`` with that key None would give."""
        from .sensitivity import measure_sensitivity

        return measure_sensitivity(
            self,
            batches,
            modules=modules,
            calibration_batches=calibration_batches,
            show_progress=progress,
        )

    def plot(self, value: object, module: str = "", method: str | None = None) -> Plot:
        """The observer's histogram or min/max (per channel for weights) with its
        quantization grid; renders inline and as SVG."""
        from .plots import plot_site

        return plot_site(self, self.site(value, module, method))

    def __repr__(self) -> str:
        seen = f" over {self.batches} batches" if self.batches is not None else ""
        return (
            f"<obsviz Calibration: {len(self.sites)} observers{seen}, "
            f"{self.quant_type} quantization>"
        )


# ---------------------------------------------------------------------- calibrating
class _ObserverSnapshot:
    """The observers' state before a batch, to put back when the batch fails."""

    def __init__(self, observers: list[torch._C.ScriptModule]) -> None:
        self.saved = [entry for observer in observers for entry in _state(observer)]

    def restore(self) -> None:
        for owner, name, value in self.saved:
            owner.setattr(name, value)


def _state(module: torch._C.ScriptModule) -> list[tuple[torch._C.ScriptModule, str, object]]:
    iterators = torch._C._jit_debug_module_iterators(module)
    state = [
        (module, name, value.clone() if isinstance(value, torch.Tensor) else value)
        for name, value in iterators["named_attributes"]
        if isinstance(value, (torch.Tensor, int, float, bool))
    ]
    for _, child in iterators["named_children"]:
        state += _state(child)
    return state


def calibrate_module(
    module: torch.jit.ScriptModule,
    batches: Iterable,
    *,
    method: str = "forward",
    run: Run | None = None,
    show_progress: bool = True,
) -> Calibration:
    """Run ``batches`` through ``module``'s observers (``module`` itself is calibrated)."""
    sites = find_sites(module, method)
    roles = {(s.module_path, s.attribute): s.role for s in sites}
    instrumented = wrap_cpp_module(
        torch._C._hack_do_not_use_clone_module_with_class(module._c, [], [])
    )
    recorders: dict[str, torch.jit.ScriptModule] = {}
    make = Recorders()

    def make_recorder(
        path: str, attribute: str, _: torch._C.ScriptModule
    ) -> torch.jit.ScriptModule:
        observer = getattr(instance_at(module, path), attribute)
        made = make(observer, channels=roles.get((path, attribute)) == "activation")
        recorders[join_path(path, [attribute])] = made
        return made

    replace_observer_calls(instrumented._c, method, RECORDER_PREFIX, make_recorder)
    observers = [observer_of(module, s)._c for s in sites]
    records = {path: SiteRecord() for path in recorders}
    runner = BatchRunner(instrumented, method, what="calibration", describe_module=module)
    count = 0
    for index, batch in enumerate(progress(batches, show_progress, "calibrating")):
        snapshot = _ObserverSnapshot(observers)
        channels = {
            path: (recorder._c.getattr("channel_low"), recorder._c.getattr("channel_high"))
            for path, recorder in recorders.items()
        }
        try:
            runner(index, as_args(batch))
        except ObsvizError:
            snapshot.restore()
            for path, recorder in recorders.items():
                recorder._c.setattr("channel_low", channels[path][0])
                recorder._c.setattr("channel_high", channels[path][1])
            raise
        for path, recorder in recorders.items():
            _collect(recorder._c, records[path])
        count += 1
    for path, recorder in recorders.items():
        record = records[path]
        dim = recorder._c.getattr("channel_dim")
        low = recorder._c.getattr("channel_low")
        if dim >= 0 and low.numel():
            record.channel_dim = dim
            record.channel_low = low
            record.channel_high = recorder._c.getattr("channel_high")
    return Calibration(module, method=method, run=run, records=records, batches=count)


def _collect(recorder: torch._C.ScriptModule, record: SiteRecord) -> None:
    record.calls.append(recorder.getattr("calls"))
    record.low.append(recorder.getattr("low"))
    record.high.append(recorder.getattr("high"))
    recorder.setattr("calls", 0)
    recorder.setattr("low", math.inf)
    recorder.setattr("high", -math.inf)


def calibrate(
    run: Run, batches: Iterable, *, inplace: bool = False, progress: bool = True
) -> Calibration:
    """Calibrate a copy of ``run.module`` (``run.module`` itself when ``inplace``)."""
    module = run.module if inplace else copy.deepcopy(run.module)
    return calibrate_module(
        module, batches, method=run.entry_method, run=run, show_progress=progress
    )


def calibration(observed: torch.jit.ScriptModule, *, method: str = "forward") -> Calibration:
    """The ranges, flags, error and sensitivity of any calibrated observed module (from
    obsviz or torch's ``prepare_jit``), read from its observers without running anything."""
    if not isinstance(observed, torch.jit.ScriptModule):
        raise ObsvizError(
            f"obsviz.calibration takes an observed torch.jit.ScriptModule, got "
            f"{type(observed).__name__}"
        )
    run = getattr(observed, "_obsviz_run", None)
    return Calibration(observed, method=method, run=run if run is not None else None)
