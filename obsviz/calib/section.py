"""The calibration section of the HTML report: ranges, flags, the values quantizing costs
most, the overlay figure and the worst values' plots, all inline and script-free.

Every string from the model goes through the report's escaping (:func:`html_table`,
``esc``); the plots are matplotlib SVG with text drawn as paths.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..refs import display_path, value_label
from .note import short_numbers

if TYPE_CHECKING:
    from .calibration import Calibration

WORST_SHOWN = 12  # rows of the error table in the report
PLOTS_SHOWN = 3  # the worst values plotted


def _inline(svg: str) -> str:
    """A standalone SVG document as an element to inline in HTML (no prolog, no DOCTYPE)."""
    return svg[svg.index("<svg") :]


def calibration_html(cal: Calibration) -> str:
    from ..report import _collapsible, esc, html_table

    err = cal.last_error
    seen = f" over {cal.batches} batches" if cal.batches is not None else ""
    output = (
        f"; with every observer quantizing, the model output's {err.output}"
        if err is not None
        else ""
    )
    parts = [
        "<section id='calibration'><h2>Calibration</h2>",
        f"<p>{len(cal.sites)} observers calibrated{esc(seen)} "
        f"({esc(cal.quant_type)} quantization){esc(output)}.</p>",
    ]
    flags = cal.flags.table
    parts.append(
        _collapsible(
            "calibration-flags",
            f"<b>Flags</b> <code>cal.flags</code> · {len(flags)}",
            f"<div class='scroll'>{html_table(flags)}</div>"
            if len(flags)
            else "<p>No flags: every observer saw data and its range looks usable.</p>",
            opened=True,
        )
    )
    if err is not None:
        worst = err.table.head(WORST_SHOWN).round({"sqnr_local_db": 2, "sqnr_accumulated_db": 2})
        for column in ("mse_local", "mse_accumulated"):
            worst[column] = worst[column].map(lambda v: f"{v:.3g}")
        parts.append(
            _collapsible(
                "calibration-error",
                "<b>Values quantizing costs most</b> "
                "<code>cal.error(batches).table</code> · worst first (SQNR in dB)",
                f"<div class='scroll'>{html_table(worst)}</div>",
                opened=True,
            )
        )
    ranges = cal.ranges.copy()
    for column in ("scale", "zero_point"):
        ranges[column] = ranges[column].map(short_numbers)
    parts.append(
        _collapsible(
            "calibration-ranges",
            f"<b>Ranges</b> <code>cal.ranges</code> · {len(ranges)} observers",
            f"<div class='scroll'>{html_table(ranges)}</div>",
            opened=False,
        )
    )
    parts += _overlay_figures(cal)
    parts.append(_plots(cal))
    parts.append("</section>")
    return "".join(parts)


def _overlay_figures(cal: Calibration) -> list[str]:
    """The top-level graph coloured by SQNR (by range before the error is measured), and
    the graph of the module holding the worst value when that is another one."""
    from ..report import _collapsible, esc

    if cal.run is None:
        return []
    err = cal.last_error
    overlay = "sqnr" if err is not None else "range"
    modules = [""]
    if err is not None and len(err.table) and err.table.module_path.iloc[0]:
        modules.append(err.table.module_path.iloc[0])
    parts = []
    for module in modules:
        figure = cal.run.render(
            module=module, when="diff", overlay=overlay, calibration=cal, max_nodes=None
        )
        call = (
            f"run.render({f'module={module!r}, ' if module else ''}when='diff', "
            f"overlay={overlay!r})"
        )
        parts.append(
            _collapsible(
                f"calibration-figure-{len(parts)}",
                f"<b>{esc(display_path(module))}, coloured by "
                f"{'SQNR' if overlay == 'sqnr' else 'calibrated range'}</b> <code>{esc(call)}"
                "</code>",
                f"<div class='figure'>{figure.svg(scalable=True)}</div>",
                opened=True,
            )
        )
    return parts


def _plots(cal: Calibration) -> str:
    from ..report import esc

    err = cal.last_error
    rows = err.table.head(PLOTS_SHOWN) if err is not None else cal.ranges.head(PLOTS_SHOWN)
    import matplotlib.pyplot as plt

    parts = ["<h3 id='calibration-plots'>What the observers of the worst values saw</h3>"]
    for row in rows.itertuples(index=False):
        path = f"{row.module_path}.{row.observer}" if row.module_path else row.observer
        plot = cal.plot(path)
        where = value_label(row.module_path, row.method, row.value)
        parts.append(
            f"<p><code>{esc(where)}</code> <code>cal.plot({esc(repr(path))})"
            f"</code></p><div class='figure'>{_inline(plot.svg())}</div>"
        )
        plt.close(plot.figure)
    return "".join(parts)
