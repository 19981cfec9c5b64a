"""The Explorer's panels: pure functions of a run outcome and the state, returning HTML.

Nothing here touches a widget, so every view can be tested (and reused) on its own;
``obsviz.explorer.app`` only places the strings these functions return.
"""

from __future__ import annotations

import dataclasses
import difflib
import html
import re
from dataclasses import dataclass
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
    from ..calib import Calibration
    from ..diff import RunDiff
    from ..figures.graph import Mark, Scope
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


CHANGE_ROLES = ("observer_added", "observer_removed")  # drawn only by the "changes" view


def legend_html(change_drawn: bool = False) -> str:
    """What the colours, line styles and node shapes mean: the figures' own style table;
    the marks of what a change did only when the graph draws one (``change_drawn``)."""
    rows = [
        f"<div class='obsviz-legend-entry'><span class='obsviz-sample' "
        f"style='color:{s.color}'>{esc(s.sample)}</span><span>{esc(s.legend)}</span></div>"
        for s in style.STATES.values()
    ]
    for role, meaning in style.NODE_LEGEND.items():
        if role in CHANGE_ROLES and not change_drawn:
            continue
        attrs = style.NODES[role]
        rows.append(
            f"<div class='obsviz-legend-entry'><span><span class='obsviz-node' style='"
            f"background:{attrs.get('fillcolor', 'white')};border-color:"
            f"{attrs.get('color', '#404040')}'>{esc(style.ROLE_SAMPLES[role])}</span></span>"
            f"<span>{esc(meaning)}</span></div>"
        )
    # one column beside the graph; as many as fit when it is below
    return (
        "<div class='obsviz-legend'><b>What the colours mean</b><br>Edges are values, "
        "boxes are ops; hover an edge for its reason.<div class='obsviz-legend-grid'>"
        + "".join(rows)
        + "</div></div>"
    )


# ---------------------------------------------------------------------- run and failure
def status_html(outcome: Outcome, model_name: str) -> str:
    """One line on the run the views read: observers, quant type, method, time."""
    if outcome.run is None:
        return f"<b>{esc(model_name)}</b>: no run (see the error above)"
    run = outcome.run
    state = "stopped part-way" if outcome.failure else f"{run.observer_count} observers inserted"
    warned = f" · {len(outcome.warnings)} warnings" if outcome.warnings else ""
    folded = f" after folding {_pairs(len(outcome.conv_bn))}" if outcome.conv_bn else ""
    return (
        f"<b>{esc(model_name)}</b>: {state} by {esc(run.quant_type)} InsertObservers "
        f"on <code>{esc(run.method_name)}</code>{folded} · {len(run.events)} events "
        f"recorded · the pass took {outcome.seconds:.2f} s{warned}"
    )


def _pairs(count: int) -> str:
    return f"{count} conv-bn pair{'s' if count != 1 else ''}"


def prepare_html(
    fold_conv_bn: bool, batchnorms: tuple[str, ...], other_observers: int | None
) -> str:
    """What the run is in prepare_jit's terms: prepare_jit's (the conv-bn pairs of
    ``batchnorms`` folded, then the pass) or the bare pass's. ``other_observers`` is how
    many observers the other kind of run inserts, when it is known."""
    pairs = _pairs(len(batchnorms))
    if fold_conv_bn:
        if not batchnorms:
            return (
                "As <code>prepare_jit</code> does, except that there is no conv-bn pair "
                "to fold: the pass runs on the model as scripted."
            )
        named = ", ".join(batchnorms[:3]) + (", …" if len(batchnorms) > 3 else "")
        bare = f" (the bare pass inserts {other_observers})" if other_observers is not None else ""
        return (
            f"As <code>prepare_jit</code> does: {pairs} folded first (BatchNorm "
            f"{esc(named)}), then the pass{bare}. Values are named as in the folded "
            "graphs."
        )
    text = (
        "The bare pass, <code>obsviz.insert_observers</code>, on the model as scripted "
        "(no conv-bn folding)."
    )
    if batchnorms:
        instead = (
            f" and insert {other_observers} observers instead"
            if other_observers is not None
            else ""
        )
        text += f" <code>prepare_jit</code> would fold {pairs} first{instead}."
    return text


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
    old, new = dict(before.qconfig), dict(after.qconfig)
    parts = [
        f"{display_path(path)}: {old.get(path, INHERIT)} → {new.get(path, INHERIT)}"
        for path in sorted(set(old) | set(new))
        if old.get(path) != new.get(path)
    ]
    for what, a, b in (
        ("quant type", before.quant_type, after.quant_type),
        ("method", before.method, after.method),
    ):
        if a != b:
            parts.append(f"{what}: {a} → {b}")
    if (before.folded, before.fold_arguments) != (after.folded, after.fold_arguments):
        parts.append(
            f"folded: {_folded(before.folded, before.fold_arguments)} → "
            f"{_folded(after.folded, after.fold_arguments)}"
        )
    if before.fold_conv_bn != after.fold_conv_bn:
        parts.append(
            "conv-bn folding: "
            + " → ".join(
                "on (prepare_jit)" if on else "off (the bare pass)"
                for on in (before.fold_conv_bn, after.fold_conv_bn)
            )
        )
    return "; ".join(parts) or "nothing"


def _folded(attributes: tuple[str, ...], arguments: bool) -> str:
    what = [self_attributes(attributes)] if attributes else []
    return " and ".join([*what, "constant arguments"] if arguments else what) or "nothing"


_OBSERVER_NAME = re.compile(r"\b_observer_\d+ \((\w+)\)")


def without_observer_names(text: str) -> str:
    """``_observer_3 (HistogramObserver)`` -> ``a HistogramObserver``: each run numbers its
    observers afresh, so two runs are compared by the values observed, not by names."""
    return _OBSERVER_NAME.sub(
        lambda m: f"{'an' if m.group(1)[0] in 'AEIOU' else 'a'} {m.group(1)}", text
    )


def refold_html(before: Outcome, after: Outcome, change: str) -> str:
    """A change of conv-bn folding: the counts, and why observers are not matched."""
    counts = " → ".join(
        str(o.run.observer_count) if o.run is not None else "no run" for o in (before, after)
    )
    head = f"You changed <b>{esc(change)}</b>: <b>{counts} observers</b>."
    return f"<div class='obsviz-diff-head'>{head}</div>" + box(
        "Folding conv-bn changes the graphs themselves (the BatchNorm calls go and values "
        "are renumbered), so the two runs' observers are not matched value by value. "
        "Compare qconfig changes within one of the two.",
        "warn",
    )


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
                f"(<code>{esc(e.reason)}</code>): {esc(without_observer_names(e.verdict))}"
            )
            lines.append(f"<div><i>{when}:</i> {text}</div>")
        rows.append("".join(lines) + "</div>")
    more = len(diff) - limit
    tail = f"<div>… and {more} more (see <code>run.diff(other)</code>)</div>" if more > 0 else ""
    return head + "</div>" + "".join(rows) + tail


# ---------------------------------------------------------------------- the graph
def graph_html(
    run: Run, state: ExplorerState, max_nodes: int | None, change: Change | None = None
) -> str:
    """The graph of ``state.module`` as SVG, coloured by the decisions made by the step;
    the "changes" view draws ``change`` (what the last qconfig change did) on it."""
    method = state.method if not state.module else "forward"
    note, looks = "", {}
    if state.when == "changes":
        note, looks = _change_note(change)
    try:
        figure = run.render(
            module=state.module,
            method=method,
            when="diff" if state.when == "changes" else state.when,
            depth=state.depth,
            max_nodes=max_nodes,
            legend=False,
            title=False,
            states=run_states(run, state.step),
            **looks,
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
    # values and ops open their explanation where the figure draws one graph by the names
    # of the model given to the pass (run.module's renumber values)
    graph = (
        f"{display_path(state.module)}:{method}"
        if state.depth == 0 and state.when != "after"
        else None
    )
    return note + followable(figure_html(svg, graph, figure.title))


def _change_note(change: Change | None) -> tuple[str, dict[str, object]]:
    """The "changes" view's sentence above the graph, and the figure's hooks that draw
    the change (none when there is nothing to draw on one graph)."""
    if change is None:
        return box(
            "No change to draw yet: change a module's qconfig on the left, and this view "
            "marks the observers it added and removed, and the modules it set to None. "
            "Until then it is the <i>diff</i> view."
        ), {}
    if change.refolded:
        return box(
            "This change folds or unfolds conv-bn, so the two runs' graphs differ and their "
            "observers cannot be drawn on one; this is the <i>diff</i> view of the run now.",
            "warn",
        ), {}
    note = (
        f"<div class='obsviz-change-note'>What your last change (<b>{esc(change.text)}</b>) "
        f"did: <span style='color:{style.GREEN}'><b>+ new</b></span> observers it added, "
        f"<span style='color:{style.VERMILION}'><b>− removed</b></span> ones it removed; "
        "modules it set to None are shaded red.</div>"
    )
    return note, {"restyle": change.restyle, "call_attrs": change.call_attrs}


class Change:
    """What a qconfig change did, to draw on the graph: the observers it added and
    removed (matched by value, as ``run.diff`` matches them) and the modules it left with
    no qconfig."""

    refolded = False  # True: a change of folding, whose two runs' graphs differ

    def __init__(self, diff: RunDiff, before: Run, after: Run, text: str = "") -> None:
        self.text = text  # what changed, in words
        self.entries = {(e.module_path, e.method, e.value): e for e in diff}
        values = before.values()
        observed = values[values["observed"]]
        keys = zip(observed["module_path"], observed["method"], observed["value"], strict=True)
        self.classes_before = dict(zip(keys, observed["observer_class"], strict=True))
        self.none_now = {path for path, mq in after.qconfigs.items() if mq.qconfig is None}
        self.none_before = {path for path, mq in before.qconfigs.items() if mq.qconfig is None}

    @classmethod
    def refolding(cls) -> Change:
        change = cls.__new__(cls)
        change.refolded = True
        return change

    def restyle(self, scope: Scope, value: object, mark: Mark | None) -> Mark | None:
        """An added observer drawn green ("+ new"), a removed one red and dashed; the
        others without the diff view's "+", which here would read as new."""
        key = (scope.path, scope.method, value.debugName())
        entry = self.entries.get(key)
        if mark is None:
            return mark
        if entry is None:
            if mark.observer is None:
                return mark
            return dataclasses.replace(mark, observer=mark.observer.removeprefix("+ "))
        if entry.change == "removed":  # observed before the change only
            return dataclasses.replace(
                mark,
                observer=f"− removed\n{self.classes_before.get(key, 'observer')}",
                observer_role="observer_removed",
                detail=f"your last change removed its observer; {mark.detail}",
            )
        attribute, _, class_name = (mark.observer or "").removeprefix("+ ").partition("\n")
        was = f" (was {self.classes_before.get(key)})" if entry.change == "changed" else ""
        return dataclasses.replace(
            mark,
            observer=f"+ new {attribute}\n{class_name}{was}",
            observer_role="observer_added",
            detail=f"your last change added its observer; {mark.detail}",
        )

    def call_attrs(self, path: str) -> dict[str, str]:
        """A collapsed call of a module with no qconfig: shaded, and said so."""
        if path not in self.none_now:
            return {}
        newly = path not in self.none_before
        return {
            "class": "call qconfig-none",
            "style": "filled,dashed",
            "fillcolor": "#FADBD8" if newly else "#EDEDED",
            "xlabel": "set to None" if newly else "qconfig None",
        }


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
        "observers inserted": len(facts.inserted)
        + sum(len(attached) for attached in facts.attached.values()),
    }
    where = "the end of the pass (the final result)" if at == last else f"step {at} of {last}"
    lines = []
    for event in run.events[max(0, at - context) : at + context + 1]:
        current = event.step == at
        text = esc(event_text(event), quote=True)
        lines.append(  # one line each, cut with "…": the whole line is its tooltip
            f"<div class='obsviz-event{' obsviz-current' if current else ''}' title=\"{text}\">"
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
def explanation_of(run: Run, state: ExplorerState, calibration: Calibration | None = None):
    """The explanation of the picked value at the state's step (None: nothing picked);
    at the end of the pass, with what ``calibration`` says of its observer."""
    if not state.value:
        return None
    path, method, name = parse_value(state.value)
    explanation = run.at(state.step).explain(name, module=path, method=method)
    if calibration is not None and state.step is None:
        explanation = explanation.with_calibration(calibration)
    return explanation


# A click on a link (data-obsviz-value) or on a value or op of a figure (data-obsviz-graph,
# its module and method) puts the value into the hidden .obsviz-follow box, which tells
# the kernel to explain it. Names are read from the data attributes and the figure's own
# edge labels ("%name : Type"), never from code.
FOLLOW_JS = """
var explorer = this.closest('.obsviz-explorer');
var box = explorer && explorer.querySelector('.obsviz-follow input');
if (!box) return;
var value = null, link = event.target.closest('[data-obsviz-value]');
if (link) {
  value = link.getAttribute('data-obsviz-value');
} else {
  var graph = event.target.closest('[data-obsviz-graph]');
  var item = graph && event.target.closest('g.edge, g.node');
  if (item && item.classList.contains('node')) {
    var id = item.querySelector('title').textContent;
    item = Array.prototype.find.call(graph.querySelectorAll('g.edge'), function (e) {
      var t = e.querySelector('title').textContent;
      return t.indexOf(id + '->') === 0 || t.indexOf(id + ':') === 0;
    });
  }
  var label = item && item.querySelector('text');
  var name = label && /^%(\\S+)/.exec(label.textContent);
  if (name) value = graph.getAttribute('data-obsviz-graph') + ':%' + name[1];
}
if (value) {
  event.preventDefault();
  box.value = value;
  box.dispatchEvent(new Event('change', {bubbles: true}));
}"""


def followable(body: str) -> str:
    """HTML whose links and figure items open the explanation of the value they name."""
    return f"<div class='obsviz-followable' onclick=\"{esc(FOLLOW_JS, quote=True)}\">{body}</div>"


def link(label: str, text: str | None = None) -> str:
    """A link that opens the explanation of the value ``label`` (``path:method:%name``)."""
    return (
        f"<a class='obsviz-link' role='button' tabindex='0' data-obsviz-value="
        f"'{esc(label, quote=True)}'>{text if text is not None else esc(label)}</a>"
    )


def figure_html(svg: str, graph: str | None = None, title: str = "") -> str:
    """A figure's SVG under its ``title`` (drawn here, where it wraps to the panel's width,
    rather than in the SVG, which is often wider than the panel); with ``graph``
    (``path:method``, the graph it draws, by the names of the model given to the pass)
    its values and ops open their explanation."""
    where = f" data-obsviz-graph='{esc(graph, quote=True)}'" if graph else ""
    head = f"<div class='obsviz-figure-title'>{esc(title)}</div>" if title else ""
    return f"{head}<div class='obsviz-svg'{where}>{svg}</div>"


def explanation_html(
    run: Run, state: ExplorerState, max_nodes: int | None, calibration: Calibration | None = None
) -> str:
    """Why the picked value was (or wasn't) observed, and its neighbourhood as SVG; the
    related values and the neighbourhood's values and ops are links to their own. With a
    ``calibration``, the observer's range, qparams and error too."""
    if not state.value:
        return box(
            "<b>Ask why:</b> type a value's name in the search box above and press "
            "Enter (e.g. <code>%out.1</code>), or click a row of a table."
        )
    try:
        explanation = explanation_of(run, state, calibration)
    except ObsvizError as err:
        return box(esc(str(err)), "warn")
    path, method, _ = parse_value(state.value)
    try:
        drawn = explanation.render(legend=False, title=False, states=run_states(run, state.step))
        # its caption, the verdict, is the explanation's own first line: the value alone
        figure = figure_html(
            drawn.svg(),
            f"{display_path(path)}:{explanation.value.graph.method}",
            drawn.title.split("\n")[0],
        )
    except RenderError as err:
        figure = box(f"No neighbourhood figure: {esc(str(err))}", "warn")
    text = explanation._repr_html_()
    for ref in explanation.related.values():  # the related values' names become links
        code = f"<code>{esc(str(ref))}</code>"
        text = text.replace(code, link(str(ref), code))
    return followable(text + figure)


MATCH_LIMIT = 200


@dataclass(frozen=True)
class ValueIndex:
    """Every value of a run by label (``path:method:%name``), for the search box: its
    debug name, and the op that produces it."""

    labels: tuple[str, ...]
    names: tuple[str, ...]
    producers: tuple[str, ...]

    @classmethod
    def of(cls, run: Run) -> ValueIndex:
        values = run.values()
        return cls(
            tuple(_labels(values, "")),
            tuple(values["value"].astype(str)),
            tuple(values["producer"].fillna("").astype(str)),
        )


@dataclass(frozen=True)
class Matches:
    """What a search finds: (pick-list line, label) pairs, how many matched in all, and
    a sentence saying so (or why nothing did)."""

    picks: tuple[tuple[str, str], ...]
    total: int
    message: str

    @property
    def unique(self) -> str | None:
        """The label of the one value found, if exactly one was."""
        return self.picks[0][1] if self.total == 1 else None


def value_matches(index: ValueIndex, query: str, limit: int = MATCH_LIMIT) -> Matches:
    """The values a search means: a whole label, or every value with that debug name
    (with or without ``%``); failing those, the labels (with ``:``) or names containing
    the text."""
    text = query.strip()
    if not text:
        return Matches((), 0, "")
    if text in index.labels:
        found = [index.labels.index(text)]
    else:
        name = text.removeprefix("%")
        found = [i for i, n in enumerate(index.names) if n == name] if ":" not in text else []
        if not found:
            needle = text.lower()
            found = (
                [i for i, label in enumerate(index.labels) if needle in label.lower()]
                if ":" in text
                else [i for i, n in enumerate(index.names) if name.lower() in n.lower()]
            )
    width = max((len(index.labels[i]) for i in found[:limit]), default=0)
    picks = tuple(
        (f"{index.labels[i]:<{width}}  {index.producers[i]}", index.labels[i])
        for i in found[:limit]
    )
    if not found:
        close = difflib.get_close_matches(text.removeprefix("%"), set(index.names), n=5)
        hint = f"; the closest names are {', '.join('%' + c for c in close)}" if close else ""
        return Matches(
            (),
            0,
            f"No value matches <code>{esc(text)}</code>{esc(hint)}. "
            "Values are named <code>%name</code>, or "
            "<code>module:method:%name</code> as in the tables.",
        )
    if len(found) == 1:
        return Matches(picks, 1, "")
    shown = f"; the first {limit} are listed" if len(found) > limit else ""
    return Matches(
        picks,
        len(found),
        f"<b>{len(found)} values</b> match "
        f"<code>{esc(text)}</code>{shown}: pick one below "
        "(module:method:%name, and the op that makes it).",
    )
