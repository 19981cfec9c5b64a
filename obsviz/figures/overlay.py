"""The calibration overlay: observed values' edges coloured by what the observers saw.

``overlay="sqnr"`` colours each observed value by its SQNR with every observer quantizing
(``cal.error(...)`` must have run), ``overlay="range"`` by the width of its calibrated
range, both on :data:`style.RAMP`; the value's state keeps its line style, arrowhead and
legend row, the overlay changes only the colour and adds a label line. It draws on the
"after" view (``run.module``'s graphs and names) or on the "diff" view, whose values carry
the input model's names, as every table does.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

import torch

from .figure import RenderError
from .graph import Lookup, Marker, Scope
from .style import RAMP, OverlayLegend, Shade

if TYPE_CHECKING:
    from ..calib import Calibration
    from ..run import Run
    from .run_figures import _RunMarks

UniqueOf = Callable[[torch._C.Value], int | None]

OVERLAYS = ("sqnr", "range")
# SQNR steps in dB, worst first: below 10 dB a value keeps little of its signal, at 40 dB
# and above its quantization noise is below what 8 bits usually cost.
SQNR_STEPS = (10.0, 20.0, 30.0, 40.0)


def _step(value: float, bounds: tuple[float, ...]) -> int:
    return sum(1 for bound in bounds if value >= bound)


def _sqnr_shades(cal: Calibration) -> tuple[dict[tuple, Shade], OverlayLegend]:
    if cal.last_error is None:
        raise RenderError(
            'overlay="sqnr" needs the quantization error: call '
            'cal.error(batches) first (or use overlay="range")'
        )
    table = cal.last_error.table
    shades = {}
    for row in table.itertuples(index=False):
        sqnr = row.sqnr_accumulated_db
        if math.isnan(sqnr):
            continue
        color = RAMP[_step(sqnr, SQNR_STEPS)]
        shades[(row.module_path, row.method, row.unique)] = Shade(
            color,
            f"SQNR {sqnr:.1f} dB",
            f"SQNR {sqnr:.2f} dB with every observer quantizing, "
            f"{row.sqnr_local_db:.2f} dB quantized alone",
        )
    meanings = [
        f"below {SQNR_STEPS[0]:g} dB",
        *(f"{a:g} to {b:g} dB" for a, b in itertools.pairwise(SQNR_STEPS)),
        f"{SQNR_STEPS[-1]:g} dB and above",
    ]
    steps = tuple(zip(RAMP, meanings, strict=True))
    return shades, OverlayLegend("SQNR with every observer quantizing (worst dark)", steps)


def _range_shades(cal: Calibration) -> tuple[dict[tuple, Shade], OverlayLegend]:
    table = cal.ranges
    widths = {}
    for row in table.itertuples(index=False):
        width = row.max - row.min
        if math.isfinite(width) and width > 0:
            widths[(row.module_path, row.method, row.unique)] = (width, row.min, row.max)
    if not widths:
        return {}, OverlayLegend("calibrated range width: no observer saw data", ())
    logs = [math.log10(w) for w, _, _ in widths.values()]
    low, high = min(logs), max(logs)
    span = (high - low) or 1.0
    bounds = tuple(low + span * i / len(RAMP) for i in range(1, len(RAMP)))
    shades = {
        key: Shade(
            RAMP[_step(math.log10(w), bounds)],
            f"[{lo:.3g}, {hi:.3g}]",
            f"calibrated range [{lo:.6g}, {hi:.6g}]",
        )
        for key, (w, lo, hi) in widths.items()
    }
    edges = [low, *bounds, high]
    steps = tuple(
        (RAMP[i], f"{10 ** edges[i]:.3g} to {10 ** edges[i + 1]:.3g}") for i in range(len(RAMP))
    )
    return shades, OverlayLegend("calibrated range width, max - min (log scale)", steps)


def shades_of(cal: Calibration, overlay: str) -> tuple[dict[tuple, Shade], OverlayLegend]:
    """Per observed value (module path, method, unique): its shade; and the legend."""
    if overlay not in OVERLAYS:
        raise RenderError(
            f"overlay must be one of {', '.join(map(repr, OVERLAYS))}, got {overlay!r}"
        )
    return _sqnr_shades(cal) if overlay == "sqnr" else _range_shades(cal)


def shaded(
    marker: Marker, shades: dict[tuple, Shade], unique_in_run: Callable[[Scope], UniqueOf]
) -> Marker:
    """``marker`` with each observed value's mark shaded (the edges into its observer);
    ``unique_in_run`` gives, per scope, each drawn value's unique in run.module's graphs,
    by which the calibration's tables key the value."""

    def for_scope(scope: Scope) -> Lookup:
        lookup, unique_of = marker(scope), unique_in_run(scope)

        def shade_of(value):
            mark = lookup(value)
            shade = shades.get((scope.path, scope.method, unique_of(value)))
            return replace(mark, shade=shade) if mark is not None and shade else mark

        return shade_of

    return for_scope


def overlaid(
    run: Run, marks: _RunMarks, overlay: str, calibration: Calibration | None, when: str
) -> tuple[Marker, OverlayLegend]:
    """The marks of a run's figure with ``overlay`` from ``calibration`` (by default the
    run's latest), and the overlay's legend."""
    calibration = calibration if calibration is not None else run.calibration
    if calibration is None:
        raise RenderError(
            f"overlay={overlay!r} needs a calibration: call "
            "run.calibrate(batches) first, or pass calibration="
        )
    if when not in ("after", "diff"):
        raise RenderError(
            f'overlay={overlay!r} colours the observers\' values: use when="after" '
            f'(run.module) or when="diff" (the input model\'s names), not {when!r}'
        )
    shades, legend = shades_of(calibration, overlay)
    return shaded(marks, shades, marks.unique_in_run), legend
