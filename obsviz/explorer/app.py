"""``obsviz.Explorer``: the ipywidgets app that composes the pass, tables, explanations
and figures for what-if work in a notebook.

The widget holds one :class:`~obsviz.explorer.state.ExplorerState`. Every control
makes a new state; :meth:`Explorer.set_state` then redraws only the views whose inputs
changed (each view remembers the key it was drawn for), reading runs and rendered views
from the :class:`~obsviz.explorer.session.Session`.
"""

from __future__ import annotations

import html
import time
import traceback
from collections.abc import Callable, Hashable, Iterable, Mapping

import ipywidgets as widgets
import torch

from ..api import _check_inputs
from ..errors import ObsvizError
from ..figures import DEFAULT_MAX_NODES
from ..fixes import ArgumentFold, self_attributes
from ..refs import display_path
from ..rules import DYNAMIC, STATIC
from ..torch_api import QConfig
from . import calibrate, panels
from .choices import INHERIT, QConfigChoices
from .session import Outcome, Session
from .state import OVERLAYS, WHEN, ExplorerState
from .tree import ModuleTree, module_infos

CSS = """
<style>
.obsviz-explorer { font-size: 13px; color: #1f2328; }
.obsviz-explorer h4 { margin: 10px 0 4px 0; font-size: 14px; }
.obsviz-explorer h4 .obsviz-num { display: inline-block; width: 20px; height: 20px;
  line-height: 20px; border-radius: 10px; background: #0072B2; color: white;
  text-align: center; margin-right: 6px; font-size: 12px; }
.obsviz-explorer .obsviz-help { color: #57606a; margin: 0 0 6px 0; }
.obsviz-explorer .obsviz-muted { color: #57606a; }
.obsviz-box { padding: 6px 10px; border-radius: 4px; margin: 4px 0;
  border-left: 4px solid #8c959f; background: #f6f8fa; }
.obsviz-warn { border-left-color: #E69F00; background: #fff8e5; }
.obsviz-error { border-left-color: #cf222e; background: #ffebe9; }
.obsviz-legend { font-size: 12px; line-height: 1.5; }
.obsviz-legend-grid { display: grid; grid-template-columns: repeat(auto-fill,
  minmax(230px, 1fr)); column-gap: 12px; }
.obsviz-legend-entry { display: grid; grid-template-columns: 80px 1fr; column-gap: 6px;
  padding: 1px 0; }
.obsviz-sample { white-space: nowrap; font-weight: bold; }
.obsviz-start { background: #f0f7fc; border: 1px solid #9ecae9; border-radius: 6px;
  padding: 4px 8px 8px 8px; }
.obsviz-node { display: inline-block; border: 1px solid; padding: 0 4px; margin-right: 6px;
  font-size: 11px; }
.obsviz-explorer .widget-html-content { line-height: 1.45; }
.obsviz-svg { overflow: auto; border: 1px solid #d0d7de; background: white; }
.obsviz-figure-title { font-weight: bold; font-size: 14px; margin: 2px 0 4px 0;
  overflow-wrap: anywhere; }
.obsviz-svg svg { max-width: none; }
.obsviz-graph .obsviz-svg { max-height: 680px; }
.obsviz-why .obsviz-svg { max-height: 520px; }
.obsviz-diff .widget-html-content { max-height: 300px; overflow: auto; }
.obsviz-diff-head { margin-bottom: 4px; }
.obsviz-diff-entry { border-left: 4px solid; padding: 2px 8px; margin: 4px 0;
  background: #fafafa; }
.obsviz-events { font-family: monospace; font-size: 12px; margin: 4px 0; }
.obsviz-event { white-space: nowrap; overflow: hidden; text-overflow: ellipsis;
  color: #57606a; }
.obsviz-current { color: #1f2328; background: #D6EAF8; font-weight: bold; }
.obsviz-step { display: inline-block; width: 48px; text-align: right; margin-right: 6px; }
.obsviz-rows select, .obsviz-rows-header { font-family: monospace; font-size: 12px; }
.obsviz-rows-header { white-space: pre; color: #57606a; overflow: visible; }
.obsviz-explorer .obsviz-table > .widget-html,
.obsviz-explorer .obsviz-table > .widget-select { max-width: none;
  width: max-content; min-width: 100%; }
.obsviz-table .widget-select select { width: max-content; min-width: 100%; }
.obsviz-explorer button.obsviz-name { background: none; box-shadow: none;
  text-align: left; overflow: hidden; text-overflow: ellipsis; }
.obsviz-explorer button.obsviz-name:hover { text-decoration: underline; color: #0072B2; }
.obsviz-hint { color: #57606a; font-size: 12px; line-height: 1.2; white-space: nowrap; }
/* Every panel keeps its content inside: long lines and figures scroll there. */
.obsviz-panel, .obsviz-panel > * { min-width: 0; max-width: 100%; }
/* ...inside the scrollers below (and the tree and tables, scrolling by their layout): no
   other box scrolls, or a margin sticking out by a pixel or two would give it a
   scrollbar that moves nothing. */
.obsviz-explorer, .obsviz-explorer .widget-box,
.obsviz-explorer .widget-html:not(.obsviz-diff) > .widget-html-content { overflow: visible; }
.obsviz-explorer .widget-html, .obsviz-explorer .widget-html-content { min-width: 0;
  max-width: 100%; }
.obsviz-graph .widget-html-content, .obsviz-why .widget-html-content,
.obsviz-step-view .widget-html-content, .obsviz-code .widget-html-content,
.obsviz-diff .widget-html-content { width: 100%; }
.obsviz-step-view .widget-html-content { overflow: hidden; }
.obsviz-svg { max-width: 100%; box-sizing: border-box; }
.obsviz-explorer .obsviz-explanation table { display: block; max-width: 100%;
  overflow-x: auto; }
.obsviz-table-picker, .obsviz-table-picker .widget-toggle-buttons { flex-wrap: wrap;
  height: auto; }
.obsviz-table-picker .widget-toggle-button { width: auto; flex: 0 0 auto; margin: 0 2px 2px 0;
  padding: 0 8px; }
.obsviz-explorer .widget-checkbox label { white-space: nowrap; }
.obsviz-when .widget-toggle-button { padding: 0 12px; }
.obsviz-link { color: #0072B2; cursor: pointer; text-decoration: underline dotted; }
.obsviz-link:hover { text-decoration: underline; }
.obsviz-svg[data-obsviz-graph] g.edge, .obsviz-svg[data-obsviz-graph] g.node.op,
.obsviz-svg[data-obsviz-graph] g.node.call { cursor: pointer; }
.obsviz-scroll { overflow: auto; max-width: 100%; border: 1px solid #d0d7de; }
.obsviz-ranges { max-height: 320px; }
.obsviz-calib-table { border-collapse: collapse; font-size: 12px; }
.obsviz-calib-table th, .obsviz-calib-table td { padding: 1px 8px; text-align: left;
  white-space: nowrap; border-bottom: 1px solid #eaeef2; }
.obsviz-calib-table th { position: sticky; top: 0; background: #f6f8fa; }
.obsviz-flag { border-left: 4px solid #E69F00; padding: 2px 8px; margin: 4px 0;
  background: #fff8e5; }
.obsviz-flag-error { border-left-color: #cf222e; background: #ffebe9; }
.obsviz-flag-info { border-left-color: #8c959f; background: #f6f8fa; }
.obsviz-swatch { display: inline-block; width: 28px; height: 12px; margin-top: 3px; }
.obsviz-calibrate-graph .obsviz-svg { max-height: 680px; }
.obsviz-calibrate-graph .widget-html-content { width: 100%; }
.obsviz-code pre { background: #f6f8fa; padding: 6px; font-size: 12px; margin: 0;
                   white-space: pre; word-break: normal; overflow-x: auto; }
</style>
"""


def heading(number: str, title: str, help_text: str = "") -> widgets.HTML:
    num = f"<span class='obsviz-num'>{number}</span>" if number else ""
    help_html = f"<div class='obsviz-help'>{help_text}</div>" if help_text else ""
    return widgets.HTML(f"<h4>{num}{html.escape(title)}</h4>{help_html}")


class Explorer(widgets.VBox):
    """Toggle qconfigs per module, step through the pass, and ask why, in one widget.

    ``qconfig_dict`` is the starting configuration (``{"": get_default_qconfig("fbgemm")}``
    when None); ``qconfigs`` names more QConfigs to offer in every module's menu. As
    ``prepare_jit`` does, conv-bn pairs are folded before the pass; ``fold_conv_bn=False``
    (or the header's checkbox) runs the bare pass on the model as scripted. ``inputs``
    (a list of input tuples, as ``forward`` takes them) are what step 6 calibrates the
    run on, while that step is shown.
    ``explorer.state`` is the whole UI state; ``explorer.qconfig_dict`` and
    ``explorer.code()`` read it back for code; ``explorer.run`` is the run shown.
    """

    def __init__(
        self,
        model: torch.jit.ScriptModule,
        qconfig_dict: Mapping[str, QConfig | None] | None = None,
        *,
        qconfigs: Mapping[str, QConfig | None] | None = None,
        quant_type: str = STATIC,
        method: str = "forward",
        max_nodes: int | None = DEFAULT_MAX_NODES,
        name: str | None = None,
        fold_conv_bn: bool = True,
        inputs: Iterable | None = None,
    ) -> None:
        model = _check_inputs(model, method, quant_type)
        self.choices = QConfigChoices(qconfigs)
        if qconfig_dict is None:
            entries = (("", "static"),)
        else:
            entries = tuple(
                sorted((key, self.choices.name_of(q, key)) for key, q in qconfig_dict.items())
            )
        self.session = Session(model, self.choices, inputs=_batches(inputs))
        self.model_name = name or _type_name(model)
        self.max_nodes = max_nodes
        self.initial = ExplorerState(
            qconfig=entries, quant_type=quant_type, method=method, fold_conv_bn=fold_conv_bn
        )
        self.state = self.initial
        self.outcome: Outcome | None = None
        self.baseline: Outcome | None = None
        self.errors: list[str] = []  # views that failed to draw, with their tracebacks
        self.timings: dict[str, float] = {}  # seconds each part of the last update took
        self.shown_after: dict[str, float] = {}  # seconds from the change to each view
        self._started = 0.0
        self._shown: dict[str, Hashable] = {}
        self._syncing = False
        self._infos = module_infos(model)
        self._build()
        super().__init__(
            [
                widgets.HTML(CSS),
                self.header,
                widgets.VBox([self.problems, self.fold_button]),
                self.body,
            ]
        )
        self.add_class("obsviz-explorer")
        self.set_state(self.state)

    # ------------------------------------------------------------------ reading it back
    @property
    def run(self):
        """The run the views show (the partial run when the pass failed)."""
        return self.outcome.run if self.outcome else None

    @property
    def qconfig_dict(self) -> dict[str, QConfig | None]:
        """The state's qconfig_dict, with the QConfig objects, to pass to prepare_jit."""
        return self.state.qconfig_dict(self.choices)

    def code(self, model: str = "model") -> str:
        """The state as Python: the qconfig_dict, the run, and the step."""
        return self.state.code(self.choices, model)

    # ------------------------------------------------------------------ driving it
    def set_qconfig(self, path: str, choice: str) -> None:
        """Give module ``path`` a qconfig choice, as picking it in its row's menu does."""
        if path not in self._infos:
            raise ObsvizError(f"the model has no submodule {path!r}")
        row = self.tree.expand_to(path)
        row.dropdown.value = choice

    def set_state(self, state: ExplorerState) -> None:
        """Show ``state``: run the pass if its run key is new, redraw what changed."""
        start = self._started = time.perf_counter()
        previous = self.outcome
        self.state = state
        self.timings, self.shown_after = {}, {}
        if previous is None or previous.key != state.run_key:
            self.status.value = "<i>running the pass…</i>" if previous else ""
            self.outcome = self.session.outcome(state)
            self.timings["run"] = time.perf_counter() - start
            if previous is not None:
                self.baseline = previous
        self._sync_controls()
        self._refresh()
        self.timings["total"] = time.perf_counter() - start

    def fold(self, *attributes: str, arguments: bool = True) -> None:
        """Run on the model with these ``self`` attributes folded to constants, and with
        ``arguments`` the arguments every call passes alike, as the button a failed
        pass's diagnosis offers does (``obsviz.fold_constant_branches``)."""
        folded = tuple(dict.fromkeys((*self.state.folded, *attributes)))
        self.set_state(
            self.state.with_run(
                folded=folded, fold_arguments=self.state.fold_arguments or arguments
            )
        )

    def _fold_offered(self) -> tuple[tuple[str, ...], tuple[ArgumentFold, ...]]:
        """The attributes and arguments the shown run's diagnosis offers to fold that
        are not folded yet."""
        failure = self.outcome.failure if self.outcome else None
        if failure is None:
            return (), ()
        attributes = tuple(
            name for name in failure.diagnosis.fold_attributes if name not in self.state.folded
        )
        arguments = () if self.state.fold_arguments else failure.diagnosis.fold_arguments
        return attributes, arguments

    def _change(self, **changes: object) -> None:
        if not self._syncing:
            self.set_state(self.state.replace(**changes))

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        title = widgets.HTML(
            f"<div style='font-size:16px'><b>obsviz Explorer</b> · "
            f"{panels.esc(self.model_name)}</div>"
            "<div class='obsviz-help'><b>Start here:</b> ① pick a qconfig for a module in "
            "the tree on the left → ② read which observers that adds or removes, and why → "
            "③ see them in the graph (blue octagons are observers) → ④ step through the "
            "pass, or ⑤ click a value to ask why it is (not) observed.</div>"
        )
        self.prepare = widgets.HTML(layout=widgets.Layout(flex="1 1 320px", min_width="0"))
        self.prepare.add_class("obsviz-prepare")
        self.fold_conv_bn = widgets.Checkbox(
            value=self.state.fold_conv_bn,
            indent=False,
            description="fold conv-bn first, as prepare_jit does",
            tooltip="off: the bare pass (obsviz.insert_observers) on the model as scripted",
            layout=widgets.Layout(width="auto", flex="0 0 auto"),
        )
        self.fold_conv_bn.add_class("obsviz-fold-conv-bn")
        # the folded and the scripted graphs name values differently: forget the value
        self.fold_conv_bn.observe(
            lambda c: self._run_change(fold_conv_bn=c["new"], value="", search=""), names="value"
        )
        self.header = widgets.VBox(
            [
                title,
                widgets.HBox(
                    [self.prepare, self.fold_conv_bn],
                    layout=widgets.Layout(flex_flow="row wrap", align_items="center"),
                ),
            ]
        )
        self.status = widgets.HTML()
        self.problems = widgets.HTML()
        self.fold_button = widgets.Button(
            button_style="warning",
            icon="wrench",
            layout=widgets.Layout(
                width="auto", display="none", align_self="flex-start", margin="0 0 10px 6px"
            ),
            tooltip="obsviz.fold_constant_branches: make these attributes and arguments "
            "constants, so constant propagation removes the branches on them",
        )
        self.fold_button.on_click(lambda _: self.fold(*self._fold_offered()[0]))
        # Panels side by side while they fit, stacked when they do not: each row wraps.
        top = _row([self._build_left(), self._build_right()])
        bottom = _row([self._build_tables(), self._build_why()])
        self.body = widgets.VBox(
            [top, bottom, self._build_calibrate()], layout=widgets.Layout(width="100%")
        )

    def _build_left(self) -> widgets.VBox:
        self.quant_type = widgets.ToggleButtons(
            options=[STATIC, DYNAMIC],
            value=self.state.quant_type,
            tooltips=[
                "static: observe activations and weights",
                "dynamic: observe only what dynamically quantized ops need",
            ],
            style={"button_width": "80px"},
        )
        self.quant_type.observe(lambda c: self._run_change(quant_type=c["new"]), names="value")
        methods = sorted(self.session.model._c._method_names())
        self.method = widgets.Dropdown(
            options=methods,
            value=self.state.method,
            description="method",
            style={"description_width": "70px"},
            layout=widgets.Layout(width="260px"),
        )
        self.method.observe(lambda c: self._run_change(method=c["new"]), names="value")
        self.tree = ModuleTree(
            self._infos,
            self.choices.names,
            self._choose,
            self._show_module,
            made_for=lambda name: (
                self.choices[name].made_for if name in self.choices and name != INHERIT else None
            ),
        )
        self.reset = widgets.Button(
            description="reset to the start", tooltip="back to the qconfig_dict you opened it with"
        )
        self.reset.on_click(lambda _: self.set_state(self.initial))
        self.code_view = widgets.HTML()
        self.code_view.add_class("obsviz-code")
        start = widgets.VBox(
            [
                heading(
                    "1",
                    "Choose qconfigs",
                    "Each module inherits its parent's qconfig unless you set one: pick "
                    "one in its menu. ▸ opens a module; its name shows it in the graph.",
                ),
                _row(
                    [
                        widgets.Label("quant type", layout=widgets.Layout(width="74px")),
                        self.quant_type,
                    ],
                    align="center",
                ),
                self.method,
                self.tree,
                self.reset,
            ]
        )
        start.add_class("obsviz-start")
        return _panel(
            "left",
            [
                start,
                heading("", "As code", "The state as a qconfig_dict to paste into your code."),
                self.code_view,
            ],
            flex="1 1 440px",
            min_width="340px",
            max_width="540px",
            margin="0 16px 8px 0",
        )

    def _build_right(self) -> widgets.VBox:
        # width "auto" fills the panel (a column stretches it); "100%" plus the widget's
        # margin would stick out of it, as the search boxes and step 6's view would too
        self.diff = widgets.HTML(layout=widgets.Layout(width="auto"))
        self.diff.add_class("obsviz-diff")
        modules = [(f"{display_path(p)} · {i.type_name}", p) for p, i in self._infos.items()]
        self.module = widgets.Dropdown(
            options=modules,
            value="",
            description="module",
            style={"description_width": "50px"},
            layout=widgets.Layout(flex="0 1 300px", min_width="200px"),
        )
        self.module.observe(lambda c: self._change(module=c["new"]), names="value")
        self.when = widgets.ToggleButtons(
            options=list(WHEN),
            value=self.state.when,
            tooltips=[
                "your model with the observers the pass added (octagons)",
                "your model, each value coloured by what the pass decided",
                "the observed module run.module",
                "what your last change did: observers added and removed, modules set to None",
            ],
            style={"button_width": "auto"},
        )
        self.when.add_class("obsviz-when")
        self.when.observe(lambda c: self._change(when=c["new"]), names="value")
        self.depth = widgets.Dropdown(
            options=[0, 1, 2, 3],
            value=0,
            description="depth",
            tooltip="how many levels of submodule calls to open",
            style={"description_width": "40px"},
            layout=widgets.Layout(width="110px"),
        )
        self.depth.observe(lambda c: self._change(depth=c["new"]), names="value")
        # The legend sits beside the graph while both fit, else below it: never over it.
        self.graph = widgets.HTML(
            layout=widgets.Layout(flex="4 1 360px", min_width="0", margin="0 10px 6px 0")
        )
        self.graph.add_class("obsviz-graph")
        legend = self.legend = widgets.HTML(
            panels.legend_html(), layout=widgets.Layout(flex="1 1 240px")
        )
        legend.add_class("obsviz-legend-box")
        self.step_controls = self._build_step()
        self.step_view = widgets.HTML()
        self.step_view.add_class("obsviz-step-view")
        return _panel(
            "right",
            [
                heading(
                    "2",
                    "What changed",
                    "Observers your last change added or removed, with the pass's reasons.",
                ),
                self.status,
                self.diff,
                heading(
                    "3",
                    "The graph",
                    "Pick a module and a view; a collapsed call says how "
                    "many observers are inside it.",
                ),
                _row([self.module, self.when, self.depth], align="center"),
                _row([self.graph, legend]),
                heading(
                    "4",
                    "Step through the pass",
                    "Replays the recorded decisions: the "
                    "graph and the tables show the pass as it stood at the step.",
                ),
                self.step_controls,
                self.step_view,
            ],
            # grows where the left panel does not
            flex="100 1 560px",
            min_width="0",
            margin="0 0 8px 0",
        )

    def _build_step(self) -> widgets.HBox:
        def button(label: str, tip: str, move: Callable[[], None]) -> widgets.Button:
            b = widgets.Button(
                description=label, tooltip=tip, layout=widgets.Layout(width="auto", flex="0 0 auto")
            )
            b.on_click(lambda _: move())
            return b

        self.first_button = button("|◀ start", "the first event", lambda: self.go_to_step(0))
        self.prev_phase_button = button(
            "◀ phase", "the start of this or the previous phase", lambda: self.jump_phase(-1)
        )
        self.prev_button = button("◀", "the previous event", lambda: self.move_step(-1))
        self.slider = widgets.IntSlider(
            min=0,
            max=0,
            value=0,
            continuous_update=False,
            description="step",
            style={"description_width": "40px"},
            layout=widgets.Layout(flex="1 1 220px", min_width="200px"),
        )
        self.slider.observe(lambda c: self._slid(c["new"]), names="value")
        self.next_button = button("▶", "the next event", lambda: self.move_step(1))
        self.next_phase_button = button(
            "phase ▶", "the start of the next phase", lambda: self.jump_phase(1)
        )
        self.end_button = button(
            "end ▶|", "the end of the pass: the final result", lambda: self.go_to_step(None)
        )
        return _row(
            [
                self.first_button,
                self.prev_phase_button,
                self.prev_button,
                self.slider,
                self.next_button,
                self.next_phase_button,
                self.end_button,
            ],
            align="center",
        )

    def _build_tables(self) -> widgets.VBox:
        self.query = widgets.Text(
            placeholder="filter rows: a name, op or reason",
            continuous_update=False,
            layout=widgets.Layout(width="auto"),
        )
        self.query.observe(lambda c: self._change(query=c["new"]), names="value")
        # one button per table, wrapping onto more lines rather than cutting names
        self.table_picker = widgets.ToggleButtons(
            options=list(panels.TABLE_NAMES),
            value=self.state.table,
            tooltips=[panels.DESCRIPTIONS[name] for name in panels.TABLE_NAMES],
            style={"button_width": "auto"},
        )
        self.table_picker.add_class("obsviz-table-picker")
        self.table_picker.observe(lambda c: self._change(table=c["new"]), names="value")
        self.table_header = widgets.HTML()
        self.table_header.add_class("obsviz-rows-header")
        self.table_rows = widgets.Select(options=[], rows=14)
        self.table_rows.add_class("obsviz-rows")
        self.table_rows.observe(self._row_picked, names="value")
        table = widgets.VBox(
            [self.table_header, self.table_rows],
            layout=widgets.Layout(overflow="auto", width="100%"),
        )
        table.add_class("obsviz-table")  # header and rows scroll sideways together
        self.table_info = widgets.HTML()
        return _panel(
            "tables",
            [
                heading("", "Tables", "The pass's maps at the step; click a row to ask why."),
                self.query,
                self.table_picker,
                table,
                self.table_info,
            ],
            flex="3 1 480px",
            min_width="0",
            margin="0 16px 8px 0",
        )

    def _build_why(self) -> widgets.VBox:
        # Typing stays in the browser; Enter searches. One match is explained at once,
        # several are offered in the pick list.
        self.search = widgets.Text(
            placeholder="search a value, then Enter: %out.1 or layer1.0:forward:%out.1",
            continuous_update=False,
            layout=widgets.Layout(width="auto"),
        )
        self.search.add_class("obsviz-search")
        self.search.observe(self._searched, names="value")
        self.search_info = widgets.HTML()
        self.search_info.add_class("obsviz-search-info")
        self.picks = widgets.Select(
            options=[], rows=8, layout=widgets.Layout(width="auto", display="none")
        )
        self.picks.add_class("obsviz-picks")
        self.picks.observe(self._picked, names="value")
        self.why = widgets.HTML()
        self.why.add_class("obsviz-why")
        # where a click on a link or a figure's value puts the value to explain (hidden)
        self.follow = widgets.Text(continuous_update=False, layout=widgets.Layout(display="none"))
        self.follow.add_class("obsviz-follow")
        self.follow.observe(self._followed, names="value")
        return _panel(
            "why",
            [
                heading("5", "Why is a value (not) observed?"),
                self.search,
                self.search_info,
                self.picks,
                self.why,
                self.follow,
            ],
            flex="2 1 360px",
            min_width="0",
        )

    def _build_calibrate(self) -> widgets.VBox:
        inputs = self.session.inputs
        self.calibrate_button = widgets.ToggleButton(
            value=self.state.calibrate,
            description=f"calibrate on the {len(inputs)} inputs" if inputs else "calibrate",
            icon="play",
            tooltip="run the inputs through the observers of the run shown (again after "
            "each qconfig change, while this step is shown)",
            layout=widgets.Layout(width="auto", align_self="flex-start", margin="0 0 6px 0"),
        )
        self.calibrate_button.add_class("obsviz-calibrate-button")
        self.calibrate_button.observe(lambda c: self._change(calibrate=c["new"]), names="value")
        self.overlay = widgets.ToggleButtons(
            options=list(OVERLAYS),
            value=self.state.overlay,
            description="colour by",
            tooltips=[
                "each observed value's SQNR with every observer quantizing",
                "the width of each observed value's calibrated range",
            ],
            style={"button_width": "auto", "description_width": "70px"},
        )
        self.overlay.add_class("obsviz-overlay")
        self.overlay.observe(lambda c: self._change(overlay=c["new"]), names="value")
        self.calibration_view = widgets.HTML(layout=widgets.Layout(width="auto"))
        self.calibration_view.add_class("obsviz-calibration")
        self.calibrate_graph = widgets.HTML(
            layout=widgets.Layout(flex="4 1 360px", min_width="0", margin="0 10px 6px 0")
        )
        self.calibrate_graph.add_class("obsviz-calibrate-graph")
        self.calibrate_legend = widgets.HTML(layout=widgets.Layout(flex="1 1 240px"))
        self.calibrate_legend.add_class("obsviz-calibrate-legend")
        self.calibrate_body = widgets.VBox(
            [
                self.calibration_view,
                heading(
                    "",
                    "The graph, coloured by what the observers saw",
                    "The module picked in ③ with the observers the pass added; "
                    "hover an edge for its numbers.",
                ),
                self.overlay,
                _row([self.calibrate_graph, self.calibrate_legend]),
            ],
            layout=widgets.Layout(width="100%", display="none"),
        )
        return _panel(
            "calibrate",
            [
                heading(
                    "6",
                    "Calibrate",
                    "What the observers see on your inputs: each one's range and qparams, "
                    "what looks wrong, and what quantizing each value costs.",
                ),
                self.calibrate_button,
                self.calibrate_body,
            ],
            width="100%",
            min_width="0",
        )

    # ------------------------------------------------------------------ control callbacks
    def _choose(self, path: str, choice: str) -> None:
        if not self._syncing:
            self.set_state(self.state.with_choice(path, choice))

    def _run_change(self, **changes: object) -> None:
        if not self._syncing:
            self.set_state(self.state.with_run(**changes))

    def _show_module(self, path: str) -> None:
        self._change(module=path)

    def _slid(self, value: int) -> None:
        last = self._last_step()
        self._change(step=None if value >= last else value)

    def _row_picked(self, change: dict) -> None:
        pick = change["new"]
        if self._syncing or not pick:
            return
        if pick.startswith("module:"):
            self._change(module=pick.removeprefix("module:"))
        else:
            self._change(value=pick, search=pick)

    def _searched(self, change: dict) -> None:
        if self._syncing or self.run is None:
            return
        found = self._matches(change["new"])
        self._change(search=change["new"], value=found.unique or "")

    def _followed(self, change: dict) -> None:
        """A link or a figure's value was clicked: explain that value."""
        label = change["new"]
        if self._syncing or not label:
            return
        self._syncing = True
        try:
            self.follow.value = ""  # so the same link works again
        finally:
            self._syncing = False
        self._change(value=label, search=label)

    def _picked(self, change: dict) -> None:
        if not self._syncing and change["new"]:
            self._change(value=change["new"])

    def _matches(self, query: str) -> panels.Matches:
        if not query.strip():
            return panels.Matches((), 0, "")
        key = self.state.run_key
        index = self.session.view(("values", key), lambda: panels.ValueIndex.of(self.run))
        return self.session.view(
            ("matches", key, query), lambda: panels.value_matches(index, query)
        )

    def _last_step(self) -> int:
        run = self.run
        return run.events[-1].step if run is not None and run.events else 0

    def go_to_step(self, step: int | None) -> None:
        """Show the pass at ``step`` (None: the end)."""
        last = self._last_step()
        if step is not None and step >= last:
            step = None
        self._change(step=None if step is None else max(0, step))

    def move_step(self, delta: int) -> None:
        current = self._last_step() if self.state.step is None else self.state.step
        self.go_to_step(current + delta)

    def jump_phase(self, direction: int) -> None:
        """To the start of the next phase, or of this (or the previous) one."""
        if self.run is None:
            return
        starts = panels.phase_starts(self.run)
        current = self._last_step() if self.state.step is None else self.state.step
        if direction > 0:
            later = [s for s in starts if s > current]
            self.go_to_step(later[0] if later else None)
        else:
            earlier = [s for s in starts if s < current]
            self.go_to_step(earlier[-1] if earlier else 0)

    # ------------------------------------------------------------------ drawing
    def _sync_controls(self) -> None:
        """Make every control show the state (without their callbacks firing)."""
        state, self._syncing = self.state, True
        try:
            self.quant_type.value = state.quant_type
            self.method.value = state.method
            self.fold_conv_bn.value = state.fold_conv_bn
            self.module.value = state.module
            self.when.value = state.when
            self.depth.value = state.depth
            self.query.value = state.query
            self.table_picker.value = state.table
            last = self._last_step()
            self.slider.max = last
            self.slider.value = last if state.step is None else state.step
            self.search.value = state.search
            self.calibrate_button.value = state.calibrate
            self.overlay.value = state.overlay
        finally:
            self._syncing = False

    def _refresh(self) -> None:
        state, outcome = self.state, self.outcome
        assert outcome is not None
        run, key = outcome.run, state.run_key
        base_key = self.baseline.key if self.baseline else None
        self._draw("status", (key,), lambda: self._draw_status(outcome))
        self._draw("diff", (base_key, key), self._draw_diff)
        self._draw("tree", (key, state.qconfig), self._draw_tree)
        self._draw(
            "code",
            (key, state.step),
            lambda: setattr(self.code_view, "value", f"<pre>{panels.esc(self.code())}</pre>"),
        )
        if run is None:
            for widget in (self.graph, self.step_view, self.why):
                widget.value = panels.box("No run to show: the pass could not start.")
            self._draw_calibration_views()
            return
        self._draw("search", (key, state.search), self._draw_search)
        changes = base_key if state.when == "changes" else None
        self._draw(
            "graph",
            (key, state.module, state.method, state.when, state.depth, state.step, changes),
            self._draw_graph,
        )
        self._draw(
            "step",
            (key, state.step),
            lambda: setattr(self.step_view, "value", panels.step_html(run, state.step)),
        )
        self._draw("table", (key, state.step, state.table, state.query), self._draw_table)
        self._draw_why()
        # last, as it takes seconds on a large model: every other view is drawn meanwhile
        self._draw_calibration_views()
        self._draw_why()  # with what the observers saw, once they are calibrated

    def _draw_why(self) -> None:
        """The explanation of the picked value; with step 6 shown and its calibration
        made, with the numbers of the value's observer."""
        state, run = self.state, self.run
        calibrated = self._calibrated(calibrate=False)
        calibration = calibrated.calibration if calibrated is not None else None
        why = (state.run_key, state.step, state.value, calibration is not None)
        self._draw(
            "why",
            why,
            lambda: setattr(
                self.why,
                "value",
                self.session.view(
                    ("why", *why),
                    lambda: panels.explanation_html(run, state, self.max_nodes, calibration),
                ),
            ),
        )

    def _draw_calibration_views(self) -> None:
        """Step 6: its tables and its coloured graph, saying so first when the run is still
        to be calibrated (seconds, on a large model)."""
        state, key = self.state, self.state.run_key
        if self._calibrated(calibrate=False) is None and self._calibrated_when_shown():
            self.calibrate_body.layout.display = ""
            self.calibration_view.value = panels.box(
                f"<b>Calibrating on {len(self.session.inputs)} inputs…</b> running them "
                f"through the {self.run.observer_count} observers of the run shown, then "
                "measuring what quantizing each value costs."
            )
            self.calibrate_graph.value = self.calibrate_legend.value = ""
            self.overlay.layout.display = "none"
            self.shown_after["calibrating…"] = time.perf_counter() - self._started
        self._draw("calibrate", (key, state.calibrate), self._draw_calibrate)
        self._draw(
            "calibrate-graph",
            (key, state.calibrate, state.module, state.method, state.depth, state.overlay),
            self._draw_calibrate_graph,
        )

    def _draw(self, name: str, key: Hashable, draw: Callable[[], None]) -> None:
        """Draw one view unless it already shows ``key``; a failing view says so and the
        others still draw."""
        if self._shown.get(name) == key:
            return
        start = time.perf_counter()
        try:
            draw()
        except Exception as err:  # a bug in one view must not blank the whole app
            self.errors.append(f"{name}: {traceback.format_exc()}")
            message = panels.box(f"This view failed: {panels.esc(repr(err))}", "error")
            target = {
                "graph": self.graph,
                "step": self.step_view,
                "why": self.why,
                "diff": self.diff,
                "status": self.problems,
                "calibrate": self.calibration_view,
                "calibrate-graph": self.calibrate_graph,
            }.get(name)
            if target is not None:
                target.value = message
        self._shown[name] = key
        now = time.perf_counter()
        self.timings[name] = now - start
        self.shown_after[name] = now - self._started  # the browser has it from here on

    def _draw_status(self, outcome: Outcome) -> None:
        self.status.value = panels.status_html(outcome, self.model_name)
        self.prepare.value = self._prepare_html(outcome)
        self.problems.value = panels.problems_html(outcome)
        attributes, arguments = self._fold_offered()
        offered = [self_attributes(attributes)] if attributes else []
        offered += [f"{fold.argument}={fold.value!r}" for fold in arguments]
        self.fold_button.description = f"Fold {', '.join(offered)} and run again"
        self.fold_button.layout.display = "" if offered else "none"

    def _prepare_html(self, outcome: Outcome) -> str:
        """The header's line on prepare_jit: the pairs it folds, and the observers of the
        other kind of run when that run is kept."""
        key = outcome.key
        batchnorms = (
            outcome.conv_bn
            if key.fold_conv_bn
            else self.session.conv_bn_folded(
                self.session.model_for(key.folded, key.fold_arguments, key.method)
            )[1]
        )
        other = self.session.kept(key._replace(fold_conv_bn=not key.fold_conv_bn))
        observers = (
            other.run.observer_count
            if other is not None and other.run is not None and other.failure is None
            else None
        )
        return panels.prepare_html(key.fold_conv_bn, batchnorms, observers)

    def _draw_diff(self) -> None:
        baseline, outcome = self.baseline, self.outcome
        assert outcome is not None
        if baseline is None:
            self.diff.value = panels.diff_html(None, "")
            return
        change = panels.change_text(baseline.key, outcome.key)
        if baseline.key.fold_conv_bn != outcome.key.fold_conv_bn:
            self.diff.value = panels.refold_html(baseline, outcome, change)
            return
        diff = self.session.diff(baseline, outcome)
        note = ""
        if baseline.failure is not None or outcome.failure is not None:
            note = panels.box(
                "One of the two runs stopped part-way, so values it never "
                "reached count as unobserved there.",
                "warn",
            )
        self.diff.value = note + panels.diff_html(diff, change)

    def _draw_search(self) -> None:
        found = self._matches(self.state.search)
        self._syncing = True
        try:
            offered = found.picks if found.total > 1 else ()
            self.picks.options = offered
            self.picks.value = (
                self.state.value if any(label == self.state.value for _, label in offered) else None
            )
        finally:
            self._syncing = False
        self.picks.layout.display = "" if found.total > 1 else "none"
        self.search_info.value = (
            panels.box(found.message, "warn" if not found.total else "note")
            if found.message
            else ""
        )

    def _draw_tree(self) -> None:
        counts = self.run.observers_by_module() if self.run is not None else None
        self.tree.sync(self.state, counts)

    def _draw_graph(self) -> None:
        state, run = self.state, self.run
        change = self._change_drawn() if state.when == "changes" else None
        key = (
            "graph",
            state.run_key,
            state.module,
            state.method,
            state.when,
            state.depth,
            state.step,
            self.max_nodes,
            self.baseline.key if change else None,
        )
        figure = self.session.view(
            key, lambda: panels.graph_html(run, state, self.max_nodes, change)
        )
        # the legend first: the browser shows it no later than the figure it explains
        self.legend.value = panels.legend_html(
            change_drawn=change is not None and not change.refolded
        )
        self.graph.value = figure

    def _change_drawn(self) -> panels.Change | None:
        """What the last change did, for the "changes" view (None: no change yet)."""
        baseline, outcome = self.baseline, self.outcome
        if baseline is None or outcome is None or baseline.run is None or outcome.run is None:
            return None
        before, after = baseline.key, outcome.key
        if (before.fold_conv_bn, before.folded, before.fold_arguments) != (
            after.fold_conv_bn,
            after.folded,
            after.fold_arguments,
        ):
            return panels.Change.refolding()  # the graphs differ: nothing to draw on one
        diff = self.session.diff(baseline, outcome)
        if diff is None:
            return None
        return self.session.view(
            ("change", before, after),
            lambda: panels.Change(
                diff, baseline.run, outcome.run, panels.change_text(before, after)
            ),
        )

    def _calibrated_when_shown(self) -> bool:
        """Whether step 6 calibrates the run shown: it is shown, and has inputs and a run."""
        return self.state.calibrate and self.session.inputs is not None and self.run is not None

    def _calibrated(self, calibrate: bool = True):
        """The run shown, calibrated on the inputs (None: step 6 hidden, no inputs, or no
        run; or, with ``calibrate=False``, not calibrated yet)."""
        if not self._calibrated_when_shown():
            return None
        if not calibrate:
            return self.session.kept_calibration(self.outcome.key)
        return self.session.calibrated(self.outcome)

    def _draw_calibrate(self) -> None:
        shown = self.state.calibrate
        self.calibrate_body.layout.display = "" if shown else "none"
        if not shown:
            return
        if self.session.inputs is None:
            self.calibration_view.value = panels.box(calibrate.NO_INPUTS, "warn")
        elif self.run is None:
            self.calibration_view.value = panels.box(
                "No run to calibrate: the pass could not start."
            )
        else:
            self.calibration_view.value = self.session.view(
                ("calibration", self.state.run_key),
                lambda: calibrate.tables_html(self._calibrated(), len(self.session.inputs)),
            )

    def _draw_calibrate_graph(self) -> None:
        calibrated = self._calibrated()
        if calibrated is None or calibrated.calibration is None:
            self.calibrate_graph.value = self.calibrate_legend.value = ""
            self.overlay.layout.display = "none"
            return
        state = self.state
        key = ("calibrated graph", state.run_key, state.module, state.method, state.depth)
        figure, legend = self.session.view(
            (*key, state.overlay, self.max_nodes),
            lambda: calibrate.figure_and_legend(
                self.run, calibrated.calibration, state, self.max_nodes
            ),
        )
        self.overlay.layout.display = ""
        self.calibrate_graph.value, self.calibrate_legend.value = figure, legend

    def _draw_table(self) -> None:
        state, run = self.state, self.run
        frame = panels.table_frame(run, state)
        header, rows, matched = panels.table_rows(frame, state.query)
        self._syncing = True
        try:
            self.table_header.value = panels.esc(header)
            self.table_rows.options = rows
            self.table_rows.value = None
        finally:
            self._syncing = False
        at = "the end" if state.step is None else f"step {state.step}"
        shown = f"showing the first {len(rows)} of " if len(rows) < matched else ""
        self.table_info.value = (
            f"<span class='obsviz-muted'><code>run.tables."
            f"{state.table}</code> at {at}: {shown}{matched} row{'s' if matched != 1 else ''}"
            f"{' matching the filter' if state.query else ''} · "
            f"{panels.esc(panels.DESCRIPTIONS[state.table])}</span>"
        )

    # ------------------------------------------------------------------ notebook display
    def __repr__(self) -> str:
        return f"<obsviz Explorer of {self.model_name}: {self.state}>"


def _row(children: list[widgets.Widget], align: str = "flex-start") -> widgets.Box:
    """Children side by side, wrapping onto the next line where they do not fit."""
    return widgets.Box(
        children, layout=widgets.Layout(width="100%", flex_flow="row wrap", align_items=align)
    )


def _panel(name: str, children: list[widgets.Widget], **layout: str) -> widgets.VBox:
    """A column of the app (class ``obsviz-panel-<name>``): its content never wider than
    the panel, scrolling inside where it must."""
    panel = widgets.VBox(children, layout=widgets.Layout(**layout))
    panel.add_class("obsviz-panel")
    panel.add_class(f"obsviz-panel-{name}")
    return panel


def _batches(inputs: Iterable | None) -> list | None:
    """The inputs as a list of batches (each a tensor or a tuple of arguments)."""
    if inputs is None:
        return None
    if isinstance(inputs, torch.Tensor) or not isinstance(inputs, Iterable):
        raise ObsvizError(
            f"inputs must be a list of input tuples, as forward takes them (e.g. "
            f"obsviz.samples.inputs(name, 8)), got {type(inputs).__name__}"
        )
    batches = list(inputs)
    if not batches:
        raise ObsvizError("inputs is empty: give at least one input tuple to calibrate on")
    return batches


def _type_name(model: torch.jit.ScriptModule) -> str:
    return model._c._type().qualified_name().rsplit(".", 1)[-1]
