"""Step 6 of the Explorer, Calibrate: what the observers of the run saw on the inputs the
Explorer was given, what quantizing each value costs, and the graph coloured by it.

Pure functions of a :class:`~obsviz.explorer.session.Calibrated` and the state, returning
HTML, as :mod:`obsviz.explorer.panels` are; the numbers are those of ``obsviz.calib``
(``cal.ranges``, ``cal.flags``, ``cal.error(inputs).table``), formatted, never recomputed.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ..calib.note import short_numbers
from ..figures import RenderError, TooManyNodesError
from ..figures.overlay import shades_of
from .panels import box, esc, figure_html, followable, link
from .state import ExplorerState, value_label

if TYPE_CHECKING:
    import pandas as pd

    from ..calib import Calibration
    from ..run import Run
    from .session import Calibrated

WORST_SHOWN = 12  # rows of the error table
FLAGS_SHOWN = 20

NO_INPUTS = (
    "<b>No inputs to calibrate on.</b> Give the Explorer a list of input tuples, as the "
    "model's <code>forward</code> takes them: <code>obsviz.Explorer(model, qconfig_dict, "
    "inputs=[(x,), ...])</code>; for a sample, <code>inputs=obsviz.samples.inputs(name, 8)"
    "</code>. This step then runs them through the observers of the run shown, and says "
    "what each observer saw and what quantizing each value costs."
)


def _number(value: object) -> str:
    """A range or qparam as the tables show it: 6 significant digits, a tensor's first
    channels."""
    if isinstance(value, float) and math.isnan(value):
        return "-"
    return short_numbers(value)


def _row(row: object, cells: list[str]) -> str:
    """A table row of one observed value (``row`` of ``cal.ranges`` or the error table):
    its observer's path on the row, the value as a link to its explanation, its role, and
    ``cells`` (HTML)."""
    observer = f"{row.module_path}.{row.observer}" if row.module_path else row.observer
    label = value_label(row.module_path, row.method, str(row.value))
    return (
        f"<tr data-obsviz-observer='{esc(observer, quote=True)}'><td>{link(label)}</td>"
        f"<td>{esc(row.role)}</td>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>"
    )


def _table(head: list[str], rows: list[str], css: str) -> str:
    header = "".join(f"<th>{esc(h)}</th>" for h in head)
    return (
        f"<div class='obsviz-scroll {css}'><table class='obsviz-calib-table'>"
        f"<thead><tr>{header}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def summary_html(calibrated: Calibrated, batches: int) -> str:
    """What was calibrated, on how many batches, how long it took, the model output's
    SQNR; or why nothing was."""
    cal, err = calibrated.calibration, calibrated.error
    if cal is None:
        return box(f"<b>Not calibrated:</b> {esc(calibrated.problem)}", "error")
    output = (
        f"; with every observer quantizing, the model output's {esc(str(err.output))}"
        if err is not None
        else ""
    )
    text = (
        f"<div class='obsviz-calib-summary'><b>{len(cal.sites)} observers</b> calibrated "
        f"on {batches} batches ({esc(cal.quant_type)}), the error measured on the same "
        f"batches, in {calibrated.seconds:.1f} s{output}. "
        "<span class='obsviz-muted'><code>cal = run.calibrate(inputs)</code>, "
        "<code>cal.error(inputs)</code></span></div>"
    )
    if calibrated.problem:
        text += box(f"<b>No error measured:</b> {esc(calibrated.problem)}", "warn")
    return text


def flags_html(cal: Calibration) -> str:
    """Each flag: what is wrong where, why it matters, and the fix."""
    flags = list(cal.flags)
    if not flags:
        return box(
            "<b>No flags</b> (<code>cal.flags</code>): every observer saw data and its range "
            "looks usable."
        )
    items = []
    for flag in flags[:FLAGS_SHOWN]:
        label = value_label(flag.module_path, flag.method, flag.value)
        items.append(
            f"<div class='obsviz-flag obsviz-flag-{esc(flag.severity)}'>"
            f"<b>{esc(flag.kind)}</b> ({esc(flag.severity)}) at {link(label)} "
            f"<span class='obsviz-muted'>{esc(flag.observer)}, {esc(flag.role)}</span>"
            f"<div>{esc(flag.message)}</div><div><i>Fix:</i> {esc(flag.fix)}</div></div>"
        )
    more = len(flags) - FLAGS_SHOWN
    tail = f"<div>… and {more} more (<code>cal.flags</code>)</div>" if more > 0 else ""
    head = f"<div><b>{len(flags)} flag{'s' if len(flags) > 1 else ''}</b> <code>cal.flags</code>"
    return f"<div class='obsviz-flags'>{head}</div>{''.join(items)}{tail}</div>"


def worst_html(error: pd.DataFrame) -> str:
    """The values quantizing costs most: lowest SQNR with every observer quantizing first."""
    rows = [
        _row(
            row,
            [
                f"{row.sqnr_accumulated_db:.2f}",
                f"{row.sqnr_local_db:.2f}",
                f"{row.mse_accumulated:.3g}",
            ],
        )
        for row in error.head(WORST_SHOWN).itertuples(index=False)
    ]
    head = ["value", "role", "SQNR, all quantizing (dB)", "SQNR, alone (dB)", "MSE, all"]
    return (
        f"<div><b>Worst values</b> <code>cal.error(inputs).table</code> · the {len(rows)} "
        f"of {len(error)} that quantizing costs most</div>" + _table(head, rows, "obsviz-worst")
    )


RANGE_HEAD = ["value", "role", "observer", "dtype", "qscheme", "min", "max", "scale", "zero_point"]


def ranges_html(ranges: pd.DataFrame) -> str:
    """One row per observer: what it saw and the qparams ``calculate_qparams()`` gives."""
    rows = [
        _row(
            row,
            [
                esc(str(text))
                for text in (
                    row.observer_class,
                    row.dtype,
                    row.qscheme,
                    *map(_number, (row.min, row.max, row.scale, row.zero_point)),
                )
            ],
        )
        for row in ranges.itertuples(index=False)
    ]
    return (
        f"<div><b>Ranges</b> <code>cal.ranges</code> · {len(rows)} observers: what each saw, "
        "and its <code>calculate_qparams()</code></div>" + _table(RANGE_HEAD, rows, "obsviz-ranges")
    )


def tables_html(calibrated: Calibrated, batches: int) -> str:
    """The summary, the flags, the worst values and the ranges; links open explanations."""
    cal, err = calibrated.calibration, calibrated.error
    parts = [summary_html(calibrated, batches)]
    if cal is not None:
        parts.append(flags_html(cal))
        if err is not None:
            parts.append(worst_html(err.table))
        parts.append(ranges_html(cal.ranges))
    return followable("".join(parts))


def figure_and_legend(
    run: Run, cal: Calibration, state: ExplorerState, max_nodes: int | None
) -> tuple[str, str]:
    """The graph of the module picked in step 3 with the observers the pass added (the
    "diff" view, whose values carry the names the tables use), each observed value
    coloured by the overlay; and the overlay's legend."""
    method = state.method if not state.module else "forward"
    try:
        figure = run.render(
            module=state.module,
            method=method,
            when="diff",
            depth=state.depth,
            max_nodes=max_nodes,
            legend=False,
            title=False,
            overlay=state.overlay,
            calibration=cal,
        )
        svg = figure.svg()
        _, legend = shades_of(cal, state.overlay)
    except TooManyNodesError as err:
        return box(
            f"<b>This graph is too big to draw.</b> {esc(str(err))} Pick a submodule "
            "in step 3's <i>module</i>, or a smaller <i>depth</i>.",
            "warn",
        ), ""
    except RenderError as err:
        return box(f"<b>No figure:</b> {esc(str(err))}", "warn"), ""
    steps = "".join(
        f"<div class='obsviz-legend-entry'><span class='obsviz-swatch' style='background:"
        f"{color}'></span><span>{esc(meaning)}</span></div>"
        for color, meaning in legend.steps
    )
    legend_html = (
        f"<div class='obsviz-legend obsviz-overlay-legend'><b>{esc(legend.title)}</b>"
        f"<br>Observed values' edges take the colour; hover one for its numbers."
        f"<div class='obsviz-legend-grid'>{steps}</div></div>"
    )
    return figure_html(svg, title=figure.title), legend_html
