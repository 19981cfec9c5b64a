"""``cal.sensitivity(batches)``: the model output's SQNR with one module left float at a
time, and ``suggest(budget_db=...)``: the qconfig_dict that buys the SQNR wanted.

Leaving a module float is obsviz's own pass with that module's key set to None; the
observers that pass keeps are matched to the calibrated ones by where they sit (module,
method, position in the graph) and how they are configured. When it only keeps and drops
observers, nothing is calibrated again: the calibrated simulation quantizes at the kept
observers and leaves the others float. When it adds observers (a value no calibrated
observer watched, e.g. one the caller of the module left float must now observe), its
own observed module is calibrated on the calibration batches and simulated, the kept
observers quantizing with their calibrated qparams and the added ones with theirs: what
``convert_jit`` of ``prepare_jit`` with that key None computes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

import torch
from torch.jit._recursive import wrap_cpp_module

from ..errors import ObsvizError
from .batches import BatchRunner, as_args, clone_args, progress
from .error import Agreement, simulation_runner
from .observers import ObserverState
from .simulate import FLOAT, SIMULATE, Simulation
from .sites import Site, find_sites, observer_of, parameter_of, remove_observer_calls

if TYPE_CHECKING:
    import pandas as pd

    from .calibration import Calibration


class Sensitivity:
    """Modules ranked by the output SQNR gained when each alone is left float."""

    def __init__(
        self,
        cal: Calibration,
        batches: list[tuple],
        calibration_batches: list[tuple],
        float_outputs: list,
        baseline: Agreement,
        rows: list[list],
    ) -> None:
        self.calibration = cal
        self.batches = batches
        self.calibration_batches = calibration_batches  # where added observers get ranges
        self.float_outputs = float_outputs
        self.baseline = baseline
        self.rows = rows

    @property
    def exact(self) -> bool:
        """Whether each row is obsviz's pass re-run with that module's key None. Not on a
        module obsviz did not prepare (``obsviz.calibration`` of torch's ``prepare_jit``
        output): there each row only drops the module's own observers, and observers the
        pass would add at its boundary are unknown (``observers_added`` is None)."""
        run = self.calibration.run
        return run is not None and run.original is not None

    @property
    def baseline_db(self) -> float:
        """The output SQNR with every observer quantizing."""
        return self.baseline.sqnr_db

    @cached_property
    def table(self) -> pd.DataFrame:
        import pandas as pd

        frame = pd.DataFrame(
            self.rows,
            columns=[
                "module_path",
                "sqnr_db",
                "gain_db",
                "observers_dropped",
                "observers_added",
            ],
        )
        return frame.sort_values("gain_db", ascending=False, kind="stable").reset_index(drop=True)

    def suggest(self, budget_db: float = 3.0, *, max_modules: int = 10) -> SuggestedQConfig:
        """Modules to leave float, best first, until the output SQNR has gained
        ``budget_db`` dB: each is kept only if, measured together with those before it,
        it raises the SQNR (gains do not add up). Returns a qconfig_dict."""
        cal = self.calibration
        chosen: list[str] = []
        best = self.baseline
        ranked = self.table[self.table.gain_db > 0].module_path
        for path in ranked:
            if best.sqnr_db - self.baseline_db >= budget_db or len(chosen) >= max_modules:
                break
            changed = variant(cal, [*chosen, path])
            measured = measure(
                cal, changed, self.batches, self.float_outputs, self.calibration_batches
            )
            if measured.sqnr_db > best.sqnr_db:
                chosen.append(path)
                best = measured
        base = dict(cal.run.qconfig_dict) if cal.run is not None else {}
        suggestion = SuggestedQConfig({**base, **dict.fromkeys(chosen)})
        suggestion.float_modules = tuple(chosen)
        suggestion.baseline_db = self.baseline_db
        suggestion.sqnr_db = best.sqnr_db
        return suggestion

    def __repr__(self) -> str:
        approximate = (
            ""
            if self.exact
            else "; approximate: no pass to re-run on this module, so each row only drops "
            "the module's own observers (prepare it with obsviz for exact rows)"
        )
        return (
            f"<obsviz Sensitivity: {len(self.rows)} modules over {len(self.batches)} "
            f"batches; all quantized: output SQNR {self.baseline_db:.2f} dB{approximate}>"
        )


class SuggestedQConfig(dict):
    """A qconfig_dict: the run's, with the suggested modules set to None."""

    float_modules: tuple[str, ...] = ()
    baseline_db: float = math.nan
    sqnr_db: float = math.nan

    def code(self, name: str = "qconfig_dict") -> str:
        """Python to paste: the run's qconfig_dict with the suggested keys set to None."""
        keys = "".join(f"\n    {path!r}: None," for path in self.float_modules)
        return (
            f"# output SQNR {self.baseline_db:.2f} dB -> {self.sqnr_db:.2f} dB "
            f"(simulated)\n{name} = {{**{name},{keys}\n}}"
        )

    def __str__(self) -> str:
        return self.code()


@dataclass
class Variant:
    """What obsviz's pass makes of the model with some modules left float."""

    float_modules: tuple[str, ...]
    kept: set[str]  # the calibrated observers (paths in cal.module) it keeps as they are
    added: list[Site] = field(default_factory=list)  # its sites no calibrated observer matches
    module: torch.jit.ScriptModule | None = None  # its observed module, never run
    sites: list[Site] = field(default_factory=list)  # every site of that module
    rerun: bool = True  # False: no pass to re-run, the modules' own observers dropped


def variant(cal: Calibration, float_modules: Iterable[str]) -> Variant:
    """Run the pass with these modules' qconfig set to None and match its observers to
    the calibrated ones by where they sit and how they are configured."""
    float_modules = tuple(float_modules)
    run = cal.run
    if run is None or run.original is None:  # no pass to run: drop the modules' own
        kept = {
            s.observer_path
            for s in cal.sites
            if not any(
                s.module_path == m or s.module_path.startswith(f"{m}.") for m in float_modules
            )
        }
        return Variant(float_modules, kept, rerun=False)
    from ..api import insert_observers

    qconfig_dict = {**run.qconfig_dict, **dict.fromkeys(float_modules)}
    try:
        changed = insert_observers(
            run.original,
            qconfig_dict,
            method_name=run.method_name,
            quant_type=run.quant_type,
            record=False,
        )
    except ObsvizError as err:
        raise ObsvizError(
            f"{', '.join(float_modules)}: the pass fails with these modules left float: {err}"
        ) from err
    calibrated = {s.placement_key: s for s in cal.sites}
    sites = find_sites(changed.module, cal.method)
    kept, added = set(), []
    for site in sites:
        match = calibrated.get(site.placement_key)
        config = ObserverState(observer_of(changed.module, site)).config
        if match is not None and cal.state(match).config == config:
            kept.add(match.observer_path)
        else:
            added.append(site)
    return Variant(float_modules, kept, added, changed.module, sites)


def simulate(
    simulation: Simulation,
    runner: BatchRunner,
    batches: list[tuple],
    float_outputs: list,
    kept: set[str] | None,
) -> Agreement:
    """The simulated output against the float one, quantizing at ``kept`` only (every
    observer when None)."""
    result = Agreement()
    simulation.quantize_only(kept)
    simulation.set_mode(SIMULATE)
    try:
        for index, args in enumerate(batches):
            result.add(float_outputs[index], runner(index, clone_args(args)))
    finally:
        simulation.quantize_only(None)
        simulation.set_mode(FLOAT)
    return result


def calibrate_added(
    cal: Calibration, changed: Variant, calibration_batches: list[tuple]
) -> dict[tuple[str, str, str], ObserverState]:
    """The observers ``changed`` adds, calibrated on ``calibration_batches``, by
    placement: run on a class clone of its module in which no other observer is called
    (the histograms of the others would cost more than the model)."""
    clone = wrap_cpp_module(
        torch._C._hack_do_not_use_clone_module_with_class(changed.module._c, [], [])
    )
    added_places = {s.placement_key for s in changed.added}
    added = [s for s in find_sites(clone, cal.method) if s.placement_key in added_places]
    remove_observer_calls(clone._c, cal.method, {(s.graph, s.unique) for s in added})
    what = f"sensitivity, calibrating the observers {', '.join(changed.float_modules)} adds"
    calibrate = BatchRunner(clone, cal.method, what=what, describe_module=cal.module)
    for index, args in enumerate(calibration_batches):
        calibrate(index, clone_args(args))
    return {s.placement_key: ObserverState(observer_of(clone, s)) for s in added}


def variant_simulation(
    cal: Calibration, changed: Variant, calibration_batches: list[tuple]
) -> Simulation:
    """The simulation of a variant that adds observers: its own observed module, the
    added observers calibrated on ``calibration_batches``, the others quantizing with the
    calibrated qparams, as ``convert_jit`` of ``prepare_jit`` with those keys None would."""
    module = changed.module
    added = calibrate_added(cal, changed, calibration_batches)
    calibrated = {s.placement_key: s for s in cal.sites}
    states, frozen, weights = {}, {}, {}
    for site in changed.sites:
        key = site.observer_path
        if site.placement_key in added:
            states[key] = added[site.placement_key]
            if site.role == "weight":
                weights[key] = parameter_of(module, site)
        else:
            match = calibrated[site.placement_key]
            states[key] = cal.state(match)
            if site.role == "weight":
                frozen[key] = cal.simulation.simulators[match.observer_path]
    return Simulation(
        module,
        cal.method,
        states,
        {s.observer_path: s.role for s in changed.sites},
        {k: w for k, w in weights.items() if w is not None},
        frozen,
    )


def measure(
    cal: Calibration,
    changed: Variant,
    batches: list[tuple],
    float_outputs: list,
    calibration_batches: list[tuple],
) -> Agreement:
    """The output SQNR of ``changed``: on the calibrated simulation quantizing at the kept
    observers only, or on its own simulation when it adds observers."""
    if not changed.added:
        runner = simulation_runner(cal, "sensitivity")
        return simulate(cal.simulation, runner, batches, float_outputs, changed.kept)
    simulation = variant_simulation(cal, changed, calibration_batches)
    runner = BatchRunner(
        simulation.module, cal.method, what="sensitivity", describe_module=cal.module
    )
    return simulate(simulation, runner, batches, float_outputs, None)


def candidates(cal: Calibration) -> list[str]:
    """Modules with a weight observer (convs, linears), else every module observing."""
    weights = [s.module_path for s in cal.sites if s.role == "weight"]
    paths = weights or [s.module_path for s in cal.sites]
    return list(dict.fromkeys(p for p in paths if p))


def measure_sensitivity(
    cal: Calibration,
    batches: Iterable,
    *,
    modules: Iterable[str] | None,
    calibration_batches: Iterable | None,
    show_progress: bool,
) -> Sensitivity:
    batches = [as_args(b) for b in batches]
    if not batches:
        raise ObsvizError("sensitivity needs at least one batch")
    calibration_batches = (
        batches if calibration_batches is None else [as_args(b) for b in calibration_batches]
    )
    if not calibration_batches:
        raise ObsvizError(
            "sensitivity: calibration_batches is empty; the observers leaving a module "
            "float adds need at least one batch to record a range"
        )
    sim = cal.simulation
    runner = simulation_runner(cal, "sensitivity")
    sim.set_mode(FLOAT)
    float_outputs = [runner(i, clone_args(args)) for i, args in enumerate(batches)]
    baseline = simulate(sim, runner, batches, float_outputs, None)
    paths = list(modules) if modules is not None else candidates(cal)
    rows = []
    for path in progress(paths, show_progress, "sensitivity", unit="module"):
        changed = variant(cal, [path])
        measured = measure(cal, changed, batches, float_outputs, calibration_batches)
        rows.append(
            [
                path,
                measured.sqnr_db,
                measured.sqnr_db - baseline.sqnr_db,
                len(cal.sites) - len(changed.kept),
                len(changed.added) if changed.rerun else None,
            ]
        )
    return Sensitivity(cal, batches, calibration_batches, float_outputs, baseline, rows)


__all__ = ["Sensitivity", "SuggestedQConfig", "measure_sensitivity"]
