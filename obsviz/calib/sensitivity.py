"""``cal.sensitivity(batches)``: the model output's SQNR with one module left float at a
time, and ``suggest(budget_db=...)``: the qconfig_dict that buys the SQNR wanted.

Leaving a module float is obsviz's own pass with that module's key set to None; the
observers that pass keeps are matched to the calibrated ones by where they sit (module,
method, position in the graph), so nothing is calibrated again: the simulation keeps
quantizing at the kept observers and leaves the others float. An observer the changed
configuration adds (a value no calibrated observer watched) cannot be simulated without
calibrating it; it stays float and the table counts it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from functools import cached_property
from typing import TYPE_CHECKING

from ..errors import ObsvizError
from .batches import as_args, clone_args, progress
from .error import Agreement, simulation_runner
from .simulate import FLOAT, SIMULATE
from .sites import find_sites

if TYPE_CHECKING:
    import pandas as pd

    from .calibration import Calibration


class Sensitivity:
    """Modules ranked by the output SQNR gained when each alone is left float."""

    def __init__(
        self,
        cal: Calibration,
        batches: list[tuple],
        float_outputs: list,
        baseline: Agreement,
        rows: list[list],
    ) -> None:
        self.calibration = cal
        self.batches = batches
        self.float_outputs = float_outputs
        self.baseline = baseline
        self.rows = rows

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
                "observers_not_simulated",
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
            kept, _ = kept_observers(cal, [*chosen, path])
            measured = simulate(cal, self.batches, self.float_outputs, kept)
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
        return (
            f"<obsviz Sensitivity: {len(self.rows)} modules over {len(self.batches)} "
            f"batches; all quantized: output SQNR {self.baseline_db:.2f} dB>"
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


def kept_observers(cal: Calibration, float_modules: Iterable[str]) -> tuple[set[str], int]:
    """The calibrated observers the pass keeps with these modules' qconfig set to None,
    and how many observers it adds that no calibrated one matches."""
    float_modules = list(float_modules)
    run = cal.run
    if run is None or run.original is None:  # no pass to run: drop the modules' own
        kept = {
            s.observer_path
            for s in cal.sites
            if not any(
                s.module_path == m or s.module_path.startswith(f"{m}.") for m in float_modules
            )
        }
        return kept, 0
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
    places = {s.placement_key for s in find_sites(changed.module, cal.method)}
    kept = {s.observer_path for s in cal.sites if s.placement_key in places}
    known = {s.placement_key for s in cal.sites}
    return kept, len(places - known)


def simulate(
    cal: Calibration, batches: list[tuple], float_outputs: list, kept: set[str] | None
) -> Agreement:
    sim = cal.simulation
    runner = simulation_runner(cal, "sensitivity")
    result = Agreement()
    sim.quantize_only(kept)
    sim.set_mode(SIMULATE)
    try:
        for index, args in enumerate(batches):
            result.add(float_outputs[index], runner(index, clone_args(args)))
    finally:
        sim.quantize_only(None)
        sim.set_mode(FLOAT)
    return result


def candidates(cal: Calibration) -> list[str]:
    """Modules with a weight observer (convs, linears), else every module observing."""
    weights = [s.module_path for s in cal.sites if s.role == "weight"]
    paths = weights or [s.module_path for s in cal.sites]
    return list(dict.fromkeys(p for p in paths if p))


def measure_sensitivity(
    cal: Calibration, batches: Iterable, *, modules: Iterable[str] | None, show_progress: bool
) -> Sensitivity:
    batches = [as_args(b) for b in batches]
    if not batches:
        raise ObsvizError("sensitivity needs at least one batch")
    sim = cal.simulation
    runner = simulation_runner(cal, "sensitivity")
    sim.set_mode(FLOAT)
    float_outputs = [runner(i, clone_args(args)) for i, args in enumerate(batches)]
    baseline = simulate(cal, batches, float_outputs, None)
    paths = list(modules) if modules is not None else candidates(cal)
    rows = []
    for path in progress(paths, show_progress, "sensitivity", unit="module"):
        kept, added = kept_observers(cal, [path])
        measured = simulate(cal, batches, float_outputs, kept)
        rows.append(
            [
                path,
                measured.sqnr_db,
                measured.sqnr_db - baseline.sqnr_db,
                len(cal.sites) - len(kept),
                added,
            ]
        )
    return Sensitivity(cal, batches, float_outputs, baseline, rows)


__all__ = ["Sensitivity", "SuggestedQConfig", "measure_sensitivity"]
