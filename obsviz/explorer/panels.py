"""The Explorer's panels: pure functions of a run outcome and the state, returning HTML.

Nothing here touches a widget, so every view can be tested (and reused) on its own;
``obsviz.explorer.app`` only places the strings these functions return.
"""

from __future__ import annotations

import dataclasses
import html
from typing import TYPE_CHECKING

import pandas as pd

from .. import events as ev
from ..errors import ObsvizError
from ..figures import RenderError, TooManyNodesError, style
from ..figures.states import run_states
from ..fixes import self_attributes
from ..refs import GraphRef, ValueRef, display_path
from ..run_view import VALUE_COLUMNS, RunView
from ..tables import DESCRIPTIONS
from .choices import INHERIT
from .state import ExplorerState, RunKey, parse_value, value_label

if TYPE_CHECKING:
    from ..diff import RunDiff
    from ..run import Run
    from .session import Outcome

esc = html.escape

CHANGE_STYLES = {  # diff entries: the mark, its colour (the figures' palette), the verb
    "added": ("+", style.BLUE, "added"),
    "removed": ("−", style.VERMILION, "removed"),
    "changed": ("~", style.ORANGE, "changed class"),
}
TABLE_NAMES = tuple(DESCRIPTIONS)
ROW_LIMIT = 300
COLUMN_WIDTH = 40
DIFF_LIMIT = 60


# ---------------------------------------------------------------------- small pieces
def box(text: str, kind: str = "note") -> str:
    """A message box: "note" (grey), "warn" (orange) or "error" (red)."""
    return f"<div class='obsviz-box obsviz-{kind}'>{text}</div>"


def legend_html() -> str:
    """What the colours, line styles and node shapes mean: the figures' own style table."""
    rows = [
        f"<tr><td class='obsviz-sample' style='color:{s.color}'>{esc(s.sample)}</td>"
        f"<td>{esc(s.legend)}</td></tr>"
        for s in style.STATES.values()
    ]
    for role, meaning in style.NODE_LEGEND.items():
        attrs = style.NODES[role]
        rows.append(
            f"<tr><td><span class='obsviz-node' style='background:"
            f"{attrs.get('fillcolor', 'white')};border-color:{attrs.get('color', '#404040')}'>"
            f"{esc(style.ROLE_SAMPLES[role])}</span></td><td>{esc(meaning)}</td></tr>"
        )
    return (
        "<div class='obsviz-legend'><b>What the colours mean</b><br>Edges are values, "
        "boxes are ops; hover an edge for its reason.<table>" + "".join(rows) + "</table></div>"
    )


# ---------------------------------------------------------------------- run and failure
def status_html(outcome: Outcome, model_name: str) -> str:
    """One line on the run the views read: observers, quant type, method, time."""
    if outcome.run is None:
        return f"<b>{esc(model_name)}</b>: no run (see the error above)"
    run = outcome.run
    state = "stopped part-way" if outcome.failure else f"{len(run.inserted)} observers inserted"
    warned = f" · {len(outcome.warnings)} warnings" if outcome.warnings else ""
    return (
        f"<b>{esc(model_name)}</b>: {state} by {esc(run.quant_type)} InsertObservers "
        f"on <code>{esc(run.method_name)}</code> · {len(run.events)} events recorded · "
        f"the pass took {outcome.seconds:.2f} s{warned}"
    )


def problems_html(outcome: Outcome) -> str:
    """The failure's diagnosis (or the error) at the top, then any warnings; "" if none."""
    parts = []
    if outcome.failure is not None:
        diagnosis = outcome.failure.diagnosis
        body = (
            diagnosis._repr_html_()
            if hasattr(diagnosis, "_repr_html_")
            else f"<pre>{esc(str(diagnosis))}</pre>"
        )
        parts.append(
            box(
                "<b>The pass failed.</b> The diagnosis says what to change; the views "
                "below show the partial run, up to where the pass stopped." + body,
                "error",
            )
        )
    elif outcome.error is not None:
        parts.append(box(f"<b>The pass could not run:</b> {esc(str(outcome.error))}", "error"))
    if outcome.warnings:
        items = "".join(f"<li>{esc(w)}</li>" for w in outcome.warnings)
        parts.append(box(f"<b>Warnings from the pass</b><ul>{items}</ul>", "warn"))
    return "".join(parts)


# ---------------------------------------------------------------------- what changed
def change_text(before: RunKey, after: RunKey) -> str:
    """What differs between two run keys: ``layer1: inherit → None``."""
    old, new = dict(before[0]), dict(after[0])
    parts = [
        f"{display_path(path)}: {old.get(path, INHERIT)} → {new.get(path, INHERIT)}"
        for path in sorted(set(old) | set(new))
        if old.get(path) != new.get(path)
    ]
    for what, a, b in (("quant type", before[1], after[1]), ("method", before[2], after[2])):
        if a != b:
            parts.append(f"{what}: {a} → {b}")
    if before[3:] != after[3:]:
        parts.append(f"folded: {_folded(*before[3:])} → {_folded(*after[3:])}")
    return "; ".join(parts) or "nothing"


def _folded(attributes: tuple[str, ...], arguments: bool) -> str:
    what = [self_attributes(attributes)] if attributes else []
    return " and ".join([*what, "constant arguments"] if arguments else what) or "nothing"


def diff_html(diff: RunDiff | None, change: str, limit: int = DIFF_LIMIT) -> str:
    """Observers the change added and removed, each with why, now and before."""
    if diff is None:
        return box(
            "Nothing to compare yet. <b>Change a module's qconfig</b> (or the quant "
            "type) on the left, and the observers that change adds or removes show "
            "here, each with its reason."
        )
    head = f"<div class='obsviz-diff-head'>You changed <b>{esc(change)}</b>: "
    if not len(diff):
        return head + "<b>no observer moved</b>.</div>"
    counts: dict[str, int] = {}
    for entry in diff:
        counts[entry.change] = counts.get(entry.change, 0) + 1
    head += ", ".join(
        f"<span style='color:{CHANGE_STYLES[c][1]}'><b>{n} observer{'s' if n > 1 else ''} "
        f"{CHANGE_STYLES[c][2]}</b></span>"
        for c, n in counts.items()
    )
    rows = []
    for entry in list(diff)[:limit]:
        mark, color, words = CHANGE_STYLES[entry.change]
        now, then = entry.other, entry.this  # diff is before.diff(after)
        label = value_label(entry.module_path, entry.method, entry.value)
        lines = [
            f"<div class='obsviz-diff-entry' style='border-left-color:{color}'>"
            f"<span style='color:{color}'><b>{mark} observer {words}</b></span> "
            f"<code>{esc(label)}</code>"
        ]
        for when, e in (("now", now), ("before", then)):
            text = (
                "the value does not exist"
                if e is None
                else f"<b>{'observed' if e.observed else 'not observed'}</b> "
                f"(<code>{esc(e.reason)}</code>): {esc(e.verdict)}"
            )
            lines.append(f"<div><i>{when}:</i> {text}</div>")
        rows.append("".join(lines) + "</div>")
    more = len(diff) - limit
    tail = f"<div>… and {more} more (see <code>run.diff(other)</code>)</div>" if more > 0 else ""
    return head + "</div>" + "".join(rows) + tail


# ---------------------------------------------------------------------- the graph
def graph_html(run: Run, state: ExplorerState, max_nodes: int | None) -> str:
    """The graph of ``state.module`` as SVG, coloured by the decisions made by the step."""
    method = state.method if not state.module else "forward"
    try:
        figure = run.render(
            module=state.module,
            method=method,
            when=state.when,
            depth=state.depth,
            max_nodes=max_nodes,
            legend=False,
            states=run_states(run, state.step),
        )
        svg = figure.svg()
    except TooManyNodesError as err:
        return box(
            f"<b>This graph is too big to draw.</b> {esc(str(err))} Pick a submodule "
            "in <i>module</i> above, or a smaller <i>depth</i>.",
            "warn",
        )
    except RenderError as err:
        return box(f"<b>No figure:</b> {esc(str(err))}", "warn")
    return f"<div class='obsviz-svg'>{svg}</div>"


# ---------------------------------------------------------------------- stepping
def _field_text(value: object) -> str:
    if isinstance(value, ValueRef | GraphRef):
        return str(value)
    if isinstance(value, tuple):
        return "(" + ", ".join(_field_text(v) for v in value) + ")"
    return repr(value)


def event_text(event: ev.Event) -> str:
    """One line for an event: its kind and fields, values as ``path:method:%name``."""
    fields = [
        f"{f.name}={_field_text(getattr(event, f.name))}"
        for f in dataclasses.fields(event)
        if f.name not in ("step", "maps")
    ]
    return f"{type(event).__name__}({', '.join(fields)})"


def step_html(run: Run, step: int | None, context: int = 3) -> str:
    """Where the pass is at ``step``: its phase, the event, its neighbours, the maps' sizes."""
    if not run.events:
        return box("This run kept no events, so it cannot be stepped through.")
    last = run.events[-1].step
    at = last if step is None else step
    view: RunView = run.at(step)
    facts = view.facts
    sizes = {
        "boundary entries": sum(len(v) for v in facts.boundary.values()) // 2,
        "delayed (fusion)": len(facts.delayed),
        "configured (valueNeedsToBeQuantized)": sum(
            e.outcome for e in facts.needs_quantization.values()
        ),
        "pass-through": len(facts.pass_through),
        "observers inserted": len(facts.inserted),
    }
    where = "the end of the pass (the final result)" if at == last else f"step {at} of {last}"
    lines = []
    for event in run.events[max(0, at - context) : at + context + 1]:
        current = event.step == at
        text = esc(event_text(event))
        lines.append(
            f"<div class='obsviz-event{' obsviz-current' if current else ''}'>"
            f"<span class='obsviz-step'>{event.step}</span> {text}</div>"
        )
    maps = " · ".join(f"{n} {label}" for label, n in sizes.items())
    return (
        f"<div><b>{esc(where)}</b> · phase <b>{esc(view.phase or 'none')}</b></div>"
        f"<div class='obsviz-events'>{''.join(lines)}</div>"
        f"<div class='obsviz-muted'>maps so far: {esc(maps)}</div>"
    )


def phase_starts(run: Run) -> list[int]:
    """The steps at which a phase starts, for the step control's phase jumps."""
    return [e.step for e in run.events if isinstance(e, ev.PhaseStarted)]


# ---------------------------------------------------------------------- tables
def table_frame(run: Run, state: ExplorerState) -> pd.DataFrame:
    """The state's table at the state's step."""
    if state.table not in TABLE_NAMES:
        raise ObsvizError(f"no table {state.table!r}; the tables are {', '.join(TABLE_NAMES)}")
    return getattr(run.at(state.step).tables, state.table)


def _value_prefixes(frame: pd.DataFrame) -> list[str]:
    """ "" for the row's own value, then each prefix of a second value (``callee``, ...)."""
    columns = set(frame.columns)
    found = [""] if {"module_path", "method", "value"} <= columns else []
    for column in frame.columns:
        if column.endswith("_module_path"):
            prefix = column[: -len("module_path")]
            if {f"{prefix}method", f"{prefix}value"} <= columns:
                found.append(prefix)
    return found


def _labels(frame: pd.DataFrame, prefix: str) -> list[str]:
    return [
        value_label(p, m, v) if isinstance(v, str) and isinstance(m, str) else ""
        for p, m, v in zip(
            frame[f"{prefix}module_path"],
            frame[f"{prefix}method"],
            frame[f"{prefix}value"],
            strict=True,
        )
    ]


def table_rows(
    frame: pd.DataFrame, query: str = "", limit: int = ROW_LIMIT
) -> tuple[str, list[tuple[str, str]], int]:
    """A table as fixed-width text rows for a list box: the header line, (row text, what a
    click picks) pairs for the rows matching ``query``, and how many rows matched.

    Values are shown as ``path:method:%name``; a click picks the row's first value, or
    for a table of modules (``qconfig``) the module path prefixed with ``module:``."""
    shown: dict[str, list[str]] = {}  # column -> cells, in the frame's order
    prefixes = _value_prefixes(frame)
    hidden = {f"{p}{c}" for p in prefixes for c in VALUE_COLUMNS} - {"producer"}
    for column in frame.columns:
        prefix = column.removesuffix("module_path")
        if column.endswith("module_path") and prefix in prefixes:
            shown[f"{prefix}value"] = _labels(frame, prefix)
        elif column not in hidden:
            shown[column] = ["" if pd.isna(x) else str(x) for x in frame[column]]
    if prefixes:
        picks = shown["value"]
    elif "module_path" in frame.columns:
        picks = [f"module:{p}" for p in frame["module_path"]]
    else:
        picks = [""] * len(frame)
    if "module_path" in shown:
        shown["module_path"] = [display_path(p) for p in shown["module_path"]]
    widths = {c: min(COLUMN_WIDTH, max([len(c), *map(len, cells)])) for c, cells in shown.items()}

    def fit(text: str, width: int) -> str:
        return text.ljust(width) if len(text) <= width else text[: width - 1] + "…"

    header = "  ".join(fit(c, w) for c, w in widths.items())
    needle = query.strip().lower()
    rows: list[tuple[str, str]] = []
    matched = 0
    for index in range(len(frame)):
        cells = [shown[c][index] for c in widths]
        if needle and not any(needle in cell.lower() for cell in cells):
            continue
        matched += 1
        if len(rows) < limit:
            text = "  ".join(fit(cell, widths[c]) for c, cell in zip(widths, cells, strict=True))
            rows.append((f"{index:>5} {text}", picks[index]))
    return f"{'row':>5} {header}", rows, matched


# ---------------------------------------------------------------------- one value
def explanation_of(run: Run, state: ExplorerState):
    """The explanation of the picked value at the state's step (None: nothing picked)."""
    if not state.value:
        return None
    path, method, name = parse_value(state.value)
    return run.at(state.step).explain(name, module=path, method=method)


def explanation_html(run: Run, state: ExplorerState, max_nodes: int | None) -> str:
    """Why the picked value was (or wasn't) observed, and its neighbourhood as SVG."""
    if not state.value:
        return box(
            "<b>Ask why:</b> type a value's name in the search box above "
            "(e.g. <code>%out</code>), or click a row of a table."
        )
    try:
        explanation = explanation_of(run, state)
    except ObsvizError as err:
        return box(esc(str(err)), "warn")
    try:
        svg = explanation.render(legend=False, states=run_states(run, state.step)).svg()
        figure = f"<div class='obsviz-svg'>{svg}</div>"
    except RenderError as err:
        figure = box(f"No neighbourhood figure: {esc(str(err))}", "warn")
    return explanation._repr_html_() + figure


def value_options(run: Run) -> list[str]:
    """Every value of the run as ``path:method:%name``, for the value picker."""
    values = run.values()
    return _labels(values, "")
