"""A shareable HTML report of one run: one self-contained file, readable offline.

The report holds the summary counts, the figures as inline SVG, the tables, and an
explanation for every tensor value that has a quantizable use but no observer. When the
pass failed, the diagnosis comes first and the partial run's views follow.

Every string taken from the model (module paths, method and value names, op kinds, class
names, verdicts that quote them) goes through :func:`html.escape`; the figures' SVG comes
from Graphviz, which escapes text itself. The page carries no script at all, and a
Content-Security-Policy that forbids any, so a hostile name cannot run one.
"""

from __future__ import annotations

import dataclasses
import datetime
import html
import os
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import torch

from .errors import ObsvizError
from .explain import Explanation
from .reasons import REASONS
from .refs import display_path
from .rules import (
    STATIC,
    is_propagate_quant_op,
    is_tensor_or_tensor_list,
    node_quantizable,
    use_quantizable,
)

if TYPE_CHECKING:
    from .calib import Calibration
    from .diagnosis import Diagnosis
    from .run import Run

esc = html.escape

WHEN_TITLES = {
    "diff": "What the pass added to the model you gave it",
    "after": "The observed module (run.module)",
    "before": "The model before the pass, each value in its state",
}

TABLES = (
    ("inserted", "Observers inserted"),
    ("delay", "Observation delayed by fusion patterns"),
    ("qconfig", "QConfig of each module instance"),
    ("observed", "Values that count as observed, and how"),
    ("observer_map", "Values valueNeedsToBeQuantized configured an observer for"),
    ("pass_through", "Pass-through values and the inputs they follow"),
    ("boundary", "Call and If boundaries"),
    ("values", "Every value of every graph reached"),
)

MODULE_FIGURES = 8  # submodule graphs drawn at most; the rest are named
OPEN_GROUP_SIZE = 12  # the first group of explanations starts open when this small
HIDDEN_COLUMNS = ("graph", "unique")  # internal keys: useful in pandas, noise in a report


class Progress:
    """Where a long report build is; the command line shows it as a progress bar."""

    def add(self, units: int) -> None:
        """More work is planned."""

    def step(self, label: str, units: int = 1) -> None:
        """``units`` of work are done; ``label`` says what is being done now."""


@dataclass(frozen=True)
class ReportHeader:
    """What the report is about, as its first lines say."""

    model: str
    qconfig: Sequence[tuple[str, str]] = ()  # (module path, qconfig name) as given
    notes: Sequence[str] = ()  # e.g. "conv-bn folded first, as prepare_jit does"
    warnings: Sequence[str] = ()  # warnings the pass gave


@dataclass(frozen=True)
class ModuleFigure:
    """The diff of one submodule graph where the pass observed activations."""

    path: str  # the first instance that runs the graph, in call order
    method: str
    graph_name: str  # e.g. "BasicBlock.forward"
    observers: int  # activation observers the pass put in this graph
    shared_with: tuple[str, ...]  # other instances running the same graph
    svg: str = ""  # the figure, once drawn


@dataclass
class Report:
    """The sections of a report, built from one run; ``html()`` renders the page."""

    run: Run
    header: ReportHeader
    explanations: list[Explanation] = field(default_factory=list)
    figures: list[tuple[str, str, str]] = field(default_factory=list)  # (id, title, svg)
    module_figures: list[ModuleFigure] = field(default_factory=list)
    modules_not_drawn: list[str] = field(default_factory=list)  # paths past MODULE_FIGURES
    tables: list[tuple[str, str, pd.DataFrame]] = field(default_factory=list)
    unavailable: list[str] = field(default_factory=list)  # views that could not be built
    calibration: str = ""  # the calibration section's HTML (see obsviz.calib.section)


# ---------------------------------------------------------------------- what to explain
def quantizable_unobserved(run: Run) -> pd.DataFrame:
    """Rows of ``run.values()``: tensor values with a quantizable use and no observer.

    A value has a quantizable use when a quantizable op (static rules: conv, linear, add,
    cat, ...) produces it or takes it as an input it quantizes, the same tests
    ``valueNeedsToBeQuantized`` makes; static rules are used for dynamic runs too, so the
    activations dynamic quantization leaves float are listed.
    """
    values = run.values()
    index = run.at().index
    keep = []
    for row in values.itertuples(index=False):
        if row.observed:
            keep.append(False)
            continue
        slot = index.graphs[row.graph].slots.get(row.unique)
        keep.append(slot is not None and _has_quantizable_use(slot.value))
    return values[keep].reset_index(drop=True)


def _has_quantizable_use(value: torch._C.Value) -> bool:
    if not is_tensor_or_tensor_list(value):
        return False
    producer = value.node()
    if node_quantizable(producer, STATIC) or is_propagate_quant_op(producer):
        return True
    return any(use_quantizable(use.user, use.offset, STATIC) for use in value.uses())


# ---------------------------------------------------------------------- building
def build_report(
    run: Run,
    header: ReportHeader,
    *,
    progress: Progress | None = None,
    figures: Iterable[str] = ("diff", "after", "before"),
    calibration: Calibration | None = None,
) -> Report:
    """Collect the report's sections from ``run`` (a complete or a partial run), and with
    ``calibration`` (of this run, its error measured or not) a calibration section."""
    progress = progress or Progress()
    report = Report(run, header)
    if calibration is not None:
        from .calib.section import calibration_html

        progress.add(1)
        report.calibration = (
            _section(report, "the calibration section", lambda: calibration_html(calibration)) or ""
        )
        progress.step("calibration section")
    figures = tuple(figures)
    progress.add(len(TABLES) + len(figures) + 2)

    candidates = _section(report, "explanations", lambda: quantizable_unobserved(run))
    progress.step("finding values to explain")
    if candidates is not None:
        progress.add(len(candidates))
        for row in candidates.itertuples(index=False):
            explanation = _section(
                report,
                f"the explanation of %{row.value}",
                lambda r=row: run.explain(
                    r.value, module=r.module_path, method=r.method, names="model"
                ),
            )
            if explanation is not None:
                report.explanations.append(explanation)
            progress.step("explaining values")

    for name, title in TABLES:
        frame = _section(report, f"the {name} table", lambda n=name: getattr(run.tables, n))
        if frame is not None:
            report.tables.append((name, title, frame))
        progress.step(f"table {name}")

    for when in figures:
        svg = _section(report, f"the {when} figure", lambda w=when: figure_svg(run, w))
        if svg is not None:
            report.figures.append((when, WHEN_TITLES[when], svg))
        progress.step(f"figure {when}")

    targets = _section(report, "the submodule figures", lambda: graphs_observed_inside(run))
    progress.step("finding submodule graphs")
    if targets:
        drawn = targets[:MODULE_FIGURES]
        report.modules_not_drawn = [target.path for target in targets[MODULE_FIGURES:]]
        progress.add(len(drawn))
        for target in drawn:
            svg = _section(
                report,
                f"the figure of {target.path}.{target.method}",
                lambda t=target: figure_svg(run, "diff", t.path, method=t.method),
            )
            if svg is not None:
                report.module_figures.append(dataclasses.replace(target, svg=svg))
            progress.step("submodule figures")
    return report


def graphs_observed_inside(run: Run) -> list[ModuleFigure]:
    """The submodule graphs holding activation observers, in the order the pass put them,
    each as a figure still to draw (of the first instance that runs it). Graphs with weight
    observers only (every conv, every linear) are left to ``run.render(module=...)``: their
    diff is the same one-node story.
    """
    inserted = run.tables.inserted
    index = run.at().index
    activations = inserted[
        (inserted["producer"] != "prim::GetAttr")
        & (inserted["graph"] != index.instances[index.entry].graph)
    ]
    figures = []
    # a shared graph's observers are listed once per instance they are attached to
    per_graph = activations.groupby("graph", sort=False)["unique"].nunique()
    for graph, observers in per_graph.items():
        instances = index.by_graph.get(graph) or []
        if not instances:
            continue
        first, *others = instances
        graph_name = ".".join(graph.split(".")[-2:])
        figures.append(
            ModuleFigure(
                first.path, first.method, graph_name, int(observers), tuple(i.path for i in others)
            )
        )
    return figures


def _section(report: Report, what: str, build: Callable[[], object]) -> object | None:
    """Build one part of the report; a part a partial run cannot give is noted, not fatal."""
    try:
        return build()
    except ObsvizError as err:
        report.unavailable.append(f"{what}: {err}")
        return None


def figure_svg(
    run: Run, when: str, module: str = "", depth: int = 0, *, method: str | None = None
) -> str:
    """One figure of the run as an ``<svg>`` element to inline in HTML, scaling with the
    page."""
    figure = run.render(module=module, method=method, when=when, depth=depth, max_nodes=None)
    return figure.svg(scalable=True)


# ---------------------------------------------------------------------- rendering
CSS = """
:root { --ink:#1f2328; --muted:#57606a; --line:#d0d7de; --bg:#f6f8fa; --blue:#0072B2;
        --ok:#1a7f37; --warn:#9a6700; --bad:#cf222e; }
* { box-sizing: border-box; }
body { font: 15px/1.5 -apple-system, "Segoe UI", Helvetica, Arial, "DejaVu Sans", sans-serif;
       color: var(--ink); margin: 0; background: #fff; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 64px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 36px 0 8px; padding-bottom: 4px;
     border-bottom: 1px solid var(--line); }
h3 { font-size: 16px; margin: 18px 0 6px; }
code, .mono { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 13px; }
.sub { color: var(--muted); margin: 0 0 2px; }
nav { margin: 14px 0 0; display: flex; flex-wrap: wrap; gap: 6px 16px; }
nav a { color: var(--blue); text-decoration: none; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr));
         gap: 10px; margin: 12px 0; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px;
        background: var(--bg); }
.card .n { font-size: 26px; font-weight: 600; }
.card .t { color: var(--muted); font-size: 13px; }
.failure { border: 2px solid var(--bad); border-radius: 8px; padding: 12px 16px;
           background: #fff5f5; margin: 16px 0; }
.failure h2 { margin-top: 0; border: none; color: var(--bad); }
.failure p { margin: 6px 0; }
.failure ul { margin: 0 0 6px; }
.warnings li, .unavailable li { color: var(--warn); }
table { border-collapse: collapse; margin: 6px 0 12px; font-size: 13px; }
th, td { border: 1px solid var(--line); padding: 3px 8px; text-align: left;
         vertical-align: top; }
th { background: var(--bg); position: sticky; top: 0; }
tr:nth-child(even) td { background: #fbfcfd; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.scroll { max-height: 560px; overflow: auto; border: 1px solid var(--line);
          border-radius: 6px; }
.scroll table { margin: 0; }
details { margin: 6px 0; }
details > summary { cursor: pointer; }
details.group { border: 1px solid var(--line); border-radius: 8px; padding: 6px 12px; }
details.group > summary { font-weight: 600; }
details.value { border-left: 4px solid var(--warn); padding: 2px 0 2px 10px;
                margin: 8px 0; }
details.value.seen { border-left-color: var(--ok); }
details.value > summary { font-weight: normal; }
.verdict { margin: 2px 0 4px; }
.reason { display: inline-block; padding: 0 6px; border-radius: 10px; font-size: 12px;
          background: #fff8c5; border: 1px solid #d4a72c; }
.reason.seen { background: #dafbe1; border-color: #4ac26b; }
.figure { border: 1px solid var(--line); border-radius: 8px; padding: 8px; overflow: auto;
          max-height: 85vh; background: #fff; text-align: center; }
.figure svg { height: auto; }
.muted { color: var(--muted); }
footer { margin-top: 48px; color: var(--muted); font-size: 13px; }
"""

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def render_html(report: Report) -> str:
    """The report as one self-contained HTML page."""
    run, header = report.run, report.header
    failed = run.failure is not None
    title = f"obsviz report: {header.model}"
    parts = [
        "<!DOCTYPE html>",
        "<html lang='en'><head><meta charset='utf-8'>",
        f"<meta http-equiv='Content-Security-Policy' content=\"{CSP}\">",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body><main>",
        f"<h1>{esc(title)}</h1>",
        *(f"<p class='sub'>{line}</p>" for line in _header_lines(run, header)),
        _nav(report),
    ]
    if failed:
        parts.append(_failure(run.failure))
    parts.append(_summary(report))
    parts.append(_explanations(report))
    parts.append(report.calibration)
    parts.append(_figures(report))
    parts.append(_tables(report))
    if report.unavailable:
        items = "".join(f"<li>{esc(text)}</li>" for text in report.unavailable)
        parts.append(
            f"<h2 id='unavailable'>Views not available</h2><ul class='unavailable'>{items}</ul>"
        )
    generated = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    parts.append(
        f"<footer>Written by obsviz {esc(_version())} with torch "
        f"{esc(torch.__version__)} on {esc(generated)}.</footer>"
    )
    parts.append("</main></body></html>")
    return "\n".join(parts)


def _version() -> str:
    from . import __version__

    return __version__


def _header_lines(run: Run, header: ReportHeader) -> list[str]:
    qconfig = (
        ", ".join(f"<code>{esc(repr(path))}</code>: {esc(name)}" for path, name in header.qconfig)
        or "none given"
    )
    lines = [
        f"{esc(run.quant_type)} <code>InsertObservers</code> on method "
        f"<code>{esc(run.method_name)}</code> · qconfig_dict {qconfig}"
    ]
    lines += [esc(note) for note in header.notes]
    return lines


def _nav(report: Report) -> str:
    links = [
        ("summary", "Summary"),
        ("explanations", "Explanations"),
        ("figures", "Figures"),
        ("tables", "Tables"),
    ]
    if report.calibration:
        links.insert(2, ("calibration", "Calibration"))
    if report.run.failure is not None:
        links.insert(0, ("failure", "Failure"))
    return "<nav>" + "".join(f"<a href='#{anchor}'>{text}</a>" for anchor, text in links) + "</nav>"


def _failure(diagnosis: Diagnosis) -> str:
    body = []
    for part in diagnosis.parts():
        body.append(f"<p><b>{esc(part.label)}:</b> {esc(part.text)}</p>")
        if part.details:  # an If's branches
            items = "".join(f"<li><code>{esc(detail)}</code></li>" for detail in part.details)
            body.append(f"<ul>{items}</ul>")
    return (
        "<section class='failure' id='failure'><h2>The pass failed</h2>"
        f"<p><b>{esc(diagnosis.summary)}</b></p>{''.join(body)}"
        "<p class='muted'>Below: the run as it stood when the pass stopped.</p></section>"
    )


def _summary(report: Report) -> str:
    run = report.run
    values = next((frame for name, _, frame in report.tables if name == "values"), None)
    reasons: Counter[str] = Counter(values["reason"]) if values is not None else Counter()
    explained = Counter(e.reason for e in report.explanations)
    no_qconfig = sum(1 for assigned in run.qconfigs.values() if assigned.qconfig is None)
    cards = [
        (run.observer_count, "observers inserted"),
        (len(report.explanations), "values with a quantizable use and no observer (listed below)"),
        (explained["delayed"], "of them delayed: a fusion pattern observes a later value"),
        (
            explained["propagate_input_unobserved"],
            "of them add / mul / cat outputs left unobserved",
        ),
        (explained["observed_at_call_site"], "of them observed at the call site instead"),
        (f"{no_qconfig} / {len(run.qconfigs)}", "module instances with no qconfig"),
    ]
    html_cards = "".join(
        f"<div class='card'><div class='n'>{n}</div><div class='t'>{esc(text)}</div></div>"
        for n, text in cards
    )
    rows = "".join(
        f"<tr><td><code>{esc(code)}</code></td><td class='num'>{count}</td>"
        f"<td>{'yes' if REASONS[code].observed else 'no'}</td>"
        f"<td>{esc(REASONS[code].summary)}</td></tr>"
        for code, count in sorted(reasons.items(), key=lambda kv: _reason_rank(kv[0]))
    )
    parts = ["<section id='summary'><h2>Summary</h2>", f"<div class='cards'>{html_cards}</div>"]
    if rows:
        parts.append(
            "<details><summary>Values by reason code</summary><table><tr><th>reason"
            "</th><th>values</th><th>own observer</th><th>meaning</th></tr>"
            f"{rows}</table></details>"
        )
    if run.splits:
        items = "".join(
            f"<li><code>{esc(', '.join(g.module_paths))}</code>: class "
            f"<code>{esc(g.original_type)}</code> split into "
            f"<code>{esc(g.new_type)}</code></li>"
            for g in run.splits
        )
        parts.append(f"<h3>Shared class types split</h3><ul>{items}</ul>")
    if report.header.warnings:
        items = "".join(f"<li>{esc(text)}</li>" for text in report.header.warnings)
        parts.append(f"<h3>Warnings</h3><ul class='warnings'>{items}</ul>")
    parts.append("</section>")
    return "".join(parts)


def _reason_rank(code: str) -> int:
    """Reasons listed first in the explanations: the ones users are surprised by."""
    return REASONS[code].report_rank


def _explanations(report: Report) -> str:
    parts = [
        "<section id='explanations'><h2>Values with a quantizable use but no observer"
        "</h2><p class='muted'>Each value a quantizable op (conv, linear, add, cat, ...) "
        "produces or quantizes as an input, without an observer of its own: why, and "
        "where its observer is instead. Grouped by reason; open one to read the trail "
        "of rule checks that led there.</p>"
    ]
    if not report.explanations:
        parts.append("<p>None: every such value has an observer.</p>")
    groups: dict[str, list[Explanation]] = {}
    for explanation in report.explanations:
        groups.setdefault(explanation.reason, []).append(explanation)
    for position, code in enumerate(sorted(groups, key=_reason_rank)):
        members = groups[code]
        reason = REASONS[code]
        opened = " open" if position == 0 and len(members) <= OPEN_GROUP_SIZE else ""
        parts.append(
            f"<details class='group'{opened}><summary><code>{esc(code)}</code> "
            f"· {len(members)} value{'s' if len(members) != 1 else ''} — "
            f"{esc(reason.summary)}</summary>"
        )
        parts.extend(_explanation(e) for e in members)
        parts.append("</details>")
    parts.append("</section>")
    return "".join(parts)


def _explanation(e: Explanation) -> str:
    seen = " seen" if REASONS[e.reason].observed_without_observer else ""
    return (
        f"<details class='value{seen}'><summary><code>{esc(str(e.value))}</code> "
        f"<span class='muted'>({esc(e.producer)})</span>"
        f"<div class='verdict'><span class='reason{seen}'>{esc(e.reason)}</span> "
        f"{esc(e.verdict)}</div></summary>{e.related_html()}{e.trail_html()}</details>"
    )


def _figures(report: Report) -> str:
    parts = [
        "<section id='figures'><h2>Figures</h2><p class='muted'>The top-level graph; "
        "calls to submodules stay collapsed, labelled with how many observers the pass "
        "put inside them, and the submodules with activation observers are drawn "
        "below. Hover an edge for the decision about its value. "
        "<code>run.render(module=...)</code> draws any submodule.</p>"
    ]
    if not report.figures:
        parts.append("<p>No figure could be drawn.</p>")
    for position, (when, title, svg) in enumerate(report.figures):
        parts.append(
            _collapsible(
                f"figure-{when}",
                f"<b>{esc(title)}</b> <code>run.render(when={esc(repr(when))})</code>",
                f"<div class='figure'>{svg}</div>",
                opened=position == 0,
            )
        )
    parts.append(_module_figures(report))
    parts.append("</section>")
    return "".join(parts)


def _module_figures(report: Report) -> str:
    if not report.module_figures:
        return ""
    parts = [
        "<h3 id='module-figures'>Inside the submodules</h3><p class='muted'>Each "
        "submodule graph where the pass observed activations, drawn once for the first "
        "instance that runs it (instances of one type share a graph, and its "
        "observers). Graphs with weight observers only are not drawn.</p>"
    ]
    for number, figure in enumerate(report.module_figures):
        plural = "s" if figure.observers != 1 else ""
        shared = f" · same graph in {_path_list(figure.shared_with)}" if figure.shared_with else ""
        call = f"run.render(module={figure.path!r}, method={figure.method!r}, when='diff')"
        summary = (
            f"<b>{esc(figure.path)}</b> <span class='muted'>"
            f"{esc(figure.graph_name)} · {figure.observers} activation observer"
            f"{plural}{esc(shared)}</span> <code>{esc(call)}</code>"
        )
        parts.append(
            _collapsible(
                f"module-figure-{number}",
                summary,
                f"<div class='figure'>{figure.svg}</div>",
                opened=False,
            )
        )
    if report.modules_not_drawn:
        parts.append(
            f"<p class='muted'>Not drawn, to keep the page light: "
            f"{esc(_path_list(report.modules_not_drawn))}.</p>"
        )
    return "".join(parts)


def _path_list(paths: Sequence[str], shown: int = 6) -> str:
    more = f" and {len(paths) - shown} more" if len(paths) > shown else ""
    return ", ".join(paths[:shown]) + more


def _tables(report: Report) -> str:
    parts = [
        "<section id='tables'><h2>Tables</h2><p class='muted'>The maps and decisions "
        "of the pass, as <code>run.tables.&lt;name&gt;</code> gives them in "
        "pandas.</p>"
    ]
    for position, (name, title, frame) in enumerate(report.tables):
        parts.append(
            _collapsible(
                f"table-{name}",
                f"<b>{esc(title)}</b> <code>run.tables.{esc(name)}</code> · {len(frame)} rows",
                f"<div class='scroll'>{html_table(frame)}</div>",
                opened=position == 0,
            )
        )
    parts.append("</section>")
    return "".join(parts)


def _collapsible(anchor: str, summary: str, body: str, *, opened: bool) -> str:
    """A ``<details>`` section; ``summary`` and ``body`` are HTML already escaped."""
    return (
        f"<details id='{esc(anchor)}'{' open' if opened else ''}><summary>{summary}"
        f"</summary>{body}</details>"
    )


def html_table(frame: pd.DataFrame, hidden: Sequence[str] = HIDDEN_COLUMNS) -> str:
    """A DataFrame as an HTML table, every cell escaped; ``<top>`` for the empty path."""
    columns = [
        c for c in frame.columns if c not in hidden and not any(c.endswith(f"_{h}") for h in hidden)
    ]
    head = "".join(f"<th>{esc(str(c))}</th>" for c in columns)
    body = []
    for row in frame[columns].itertuples(index=False):
        cells = []
        for column, cell in zip(columns, row, strict=True):
            cells.append(_cell(column, cell))
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _cell(column: str, cell: object) -> str:
    if cell is None or (isinstance(cell, float) and pd.isna(cell)) or cell is pd.NA:
        return "<td></td>"
    if isinstance(cell, bool):
        return f"<td>{'yes' if cell else 'no'}</td>"
    if isinstance(cell, int | float):
        return f"<td class='num'>{cell}</td>"
    text = str(cell)
    if column == "module_path" or column.endswith("_module_path"):
        text = display_path(text)
    if column == "value" or column.endswith("_value"):
        return f"<td><code>%{esc(text)}</code></td>" if text else "<td></td>"
    return f"<td>{esc(text)}</td>"


def write_report(
    path: str | os.PathLike[str],
    run: Run,
    header: ReportHeader,
    *,
    progress: Progress | None = None,
    calibration: Calibration | None = None,
) -> Path:
    """Build the report of ``run`` (with ``calibration``'s section) and write it to
    ``path``; returns the path."""
    report = build_report(run, header, progress=progress, calibration=calibration)
    target = Path(path)
    if target.parent and not target.parent.exists():
        target.parent.mkdir(parents=True)
    target.write_text(render_html(report), encoding="utf-8")
    return target
