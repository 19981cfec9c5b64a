"""The Explorer driven as a user would: set menus, press buttons, pick rows; then check
what each view shows, and that only a change of qconfigs, quant type or method re-runs."""

from __future__ import annotations

import html
import re

import pytest
import torch
from torch.ao.quantization import QConfig, default_qconfig, get_default_qconfig
from torch.ao.quantization.observer import MinMaxObserver
from torch.ao.quantization.quantize_jit import prepare_jit
from torch.jit._recursive import wrap_cpp_module

import obsviz
from obsviz.explorer import INHERIT, ExplorerState, QConfigChoices
from obsviz.explorer.panels import change_text, table_rows
from obsviz.explorer.state import RunKey, parse_value

from . import failure_models as fm
from .calibration_models import sqnr_labels, sqnr_rows
from .corpus import count_observer_calls, real_pass
from .observed_graphs import (
    conv_bn_pairs_folded,
    modules_naming,
    observer_paths,
    observer_sites,
)

STATIC = {"": get_default_qconfig("fbgemm")}


@pytest.fixture(scope="module")
def model() -> torch.jit.ScriptModule:
    return obsviz.samples.load("resnet_small")


@pytest.fixture
def explorer(model: torch.jit.ScriptModule) -> obsviz.Explorer:
    x = obsviz.Explorer(model, STATIC)
    assert x.errors == []
    return x


def text(html: str) -> str:
    """What a person reads in an HTML view."""
    return (
        re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#x27;", "'")
    )


def svg(html: str) -> str:
    found = re.search(r"<svg.*</svg>", html, re.S)
    assert found, f"no SVG in {text(html)[:300]}"
    return found.group(0)


def observer_labels(html: str, role: str) -> list[str]:
    """The first line of each observer node of ``role`` in the figure."""
    return [
        text(first).strip()
        for first in re.findall(
            rf'<g id="node\d+" class="node {role}">.*?<text[^>]*>(.*?)</text>', svg(html), re.S
        )
    ]


def figure_title(html: str) -> str:
    """The title a view shows above its figure (the SVG draws none: it would be cut where
    the SVG is wider than the panel)."""
    titles = re.findall(r"<div class='obsviz-figure-title'>(.*?)</div>", html)
    assert len(titles) == 1, text(html)[:300]
    above_the_graph = re.search(r'class="graph".*?<g id=', svg(html), re.S)
    assert above_the_graph and "<text" not in above_the_graph.group(0)
    return text(titles[0])


# ---------------------------------------------------------------------- opening it
def prepared_sites(model: torch.jit.ScriptModule, qconfig_dict: dict) -> dict:
    """Torch's prepare_jit (conv-bn folded, then the pass): its observers by site."""
    return observer_sites(prepare_jit(model, qconfig_dict))


def test_opens_on_what_prepare_jit_does(
    explorer: obsviz.Explorer, model: torch.jit.ScriptModule
) -> None:
    assert explorer.state.qconfig == (("", "static"),)
    assert explorer.session.runs_made == 1
    observers = len(prepared_sites(model, STATIC))
    pairs = conv_bn_pairs_folded(model)
    assert explorer.run.observer_count == observers
    assert (
        f"{observers} observers inserted by static InsertObservers on forward after "
        f"folding {pairs} conv-bn pairs"
    ) in text(explorer.status.value)
    assert f"As prepare_jit does: {pairs} conv-bn pairs folded first" in text(
        explorer.prepare.value
    )
    assert explorer.fold_conv_bn.value
    assert "Change a module's qconfig" in text(explorer.diff.value)
    assert (
        figure_title(explorer.graph.value) == "<top> · ResNet.forward — what InsertObservers added"
    )
    assert explorer.tree.rows[""].dropdown.value == "static"
    assert f"{observers} obs." in explorer.tree.rows[""].hint.value
    assert "the end of the pass" in text(explorer.step_view.value)
    assert "Ask why" in text(explorer.why.value)


def test_the_legend_is_the_figures_style_table(explorer: obsviz.Explorer) -> None:
    from obsviz.figures import style

    legend = explorer.legend.value
    for state in style.STATES.values():
        assert state.legend in text(legend)
        assert state.color in legend
    for role, meaning in style.NODE_LEGEND.items():
        assert (meaning in text(legend)) == (role not in ("observer_added", "observer_removed"))


def test_the_legend_names_a_changes_marks_only_where_one_is_drawn(
    explorer: obsviz.Explorer,
) -> None:
    """ "+ new" and "− removed" are drawn only by the "changes" view after a change: the
    legend lists them there and nowhere else."""
    drawn_by_a_change = ("your last change added", "your last change removed")

    def listed() -> list[bool]:
        return [words in text(explorer.legend.value) for words in drawn_by_a_change]

    for when in ("diff", "before", "after", "changes"):
        explorer.when.value = when
        assert listed() == [False, False], when  # no change yet
    explorer.set_qconfig("layer1", "None")
    assert 'class="node observer_added"' in svg(explorer.graph.value)
    assert listed() == [True, True]
    for when in ("diff", "before", "after"):
        explorer.when.value = when
        assert listed() == [False, False], when
    assert explorer.errors == []


def test_the_bare_pass_is_one_click_away(
    explorer: obsviz.Explorer, model: torch.jit.ScriptModule
) -> None:
    prepared = len(prepared_sites(model, STATIC))
    bare = len(observer_sites(real_pass(model, STATIC)))
    assert bare != prepared
    explorer.fold_conv_bn.value = False  # a click on the header's checkbox
    assert explorer.run.observer_count == bare
    assert f"{bare} observers inserted" in text(explorer.status.value)
    assert "after folding" not in text(explorer.status.value)
    pairs = conv_bn_pairs_folded(model)
    assert (
        f"prepare_jit would fold {pairs} conv-bn pairs first and "
        f"insert {prepared} observers instead"
    ) in text(explorer.prepare.value)
    diff = re.sub(r" ([:.])", r"\1", text(explorer.diff.value))
    assert (
        f"conv-bn folding: on (prepare_jit) → off (the bare pass): {prepared} → {bare} observers"
    ) in diff
    scope: dict = {"model": model}
    exec(explorer.code(), scope)
    assert "obsviz.insert_observers(model, qconfig_dict)" in explorer.code()
    assert scope["run"].placement() == explorer.run.placement()
    explorer.fold_conv_bn.value = True
    assert explorer.session.runs_made == 2  # the folded run was kept
    assert f"(the bare pass inserts {bare})" in text(explorer.prepare.value)


def test_the_code_is_prepare_jit_and_gives_the_same_observers(
    explorer: obsviz.Explorer, model: torch.jit.ScriptModule
) -> None:
    explorer.set_qconfig("layer2", "None")
    code = explorer.code()
    assert "observed = obsviz.prepare_jit(model, qconfig_dict)" in code
    scope: dict = {"model": model}
    exec(code, scope)
    assert observer_sites(scope["observed"]) == prepared_sites(model, explorer.qconfig_dict)
    explorer.quant_type.value = "dynamic"
    assert "obsviz.prepare_dynamic_jit(model, qconfig_dict)" in explorer.code()


# ---------------------------------------------------------------------- toggling qconfigs
def test_a_toggle_shows_the_observers_it_removes_each_with_its_reason(
    explorer: obsviz.Explorer,
) -> None:
    before_graph = explorer.graph.value
    row = explorer.tree.rows["layer1"]
    row.dropdown.value = "None"  # what picking "None" in layer1's menu does
    assert explorer.session.runs_made == 2
    before = prepared_sites(explorer.session.model, STATIC)
    after = prepared_sites(explorer.session.model, {**STATIC, "layer1": None})
    removed, added = set(before) - set(after), set(after) - set(before)
    diff = text(explorer.diff.value)
    assert "You changed layer1: inherit → None" in diff
    assert f"{len(removed)} observers removed" in diff
    assert f"{len(added)} observer{'s' if len(added) > 1 else ''} added" in diff
    assert {path for path, _, _ in removed} <= {
        path for path, _ in re.findall(r"observer removed (\S+):forward:(%\S+)", diff)
    }
    assert "no_qconfig" in diff and "observed_after_fusion" in diff  # now and before
    assert "a HistogramObserver in layer1.0 observes" in diff
    assert not re.search(r"_observer_\d", diff)  # each run numbers its observers afresh
    assert explorer.graph.value != before_graph
    assert "0 obs." in row.hint.value and row.dropdown.layout.border
    assert set(explorer.qconfig_dict) == {"", "layer1"}
    assert explorer.qconfig_dict["layer1"] is None
    assert '"layer1": None,' in explorer.code()
    assert explorer.errors == []


def test_the_graph_draws_what_a_change_did(
    explorer: obsviz.Explorer, model: torch.jit.ScriptModule
) -> None:
    explorer.when.value = "changes"
    assert "No change to draw yet" in text(explorer.graph.value)
    before = prepared_sites(model, STATIC)
    explorer.set_qconfig("layer1", "None")
    after = prepared_sites(model, {**STATIC, "layer1": None})
    for module in ("", "layer1.0"):
        explorer.module.value = module
        drawn = svg(explorer.graph.value)
        added = {k for k in set(after) - set(before) if k[0] == module}
        removed = {k for k in set(before) - set(after) if k[0] == module}
        assert drawn.count('class="node observer_added"') == len(added)
        assert drawn.count('class="node observer_removed"') == len(removed)
        assert "layer1: inherit → None" in text(explorer.graph.value)
    explorer.module.value = ""
    # only what the change added reads "+ new": the others lose the diff view's "+"
    kept = observer_labels(explorer.graph.value, "observer")
    assert kept and not any(label.startswith("+") for label in kept), kept
    assert all(
        label.startswith("+ new")
        for label in observer_labels(explorer.graph.value, "observer_added")
    )
    # nor do the collapsed calls' counts of the observers inside them
    inside = re.compile(r">(\+?)\d+ observers? inside<")
    assert set(inside.findall(svg(explorer.graph.value))) == {""}
    explorer.when.value = "diff"
    assert all(
        label.startswith("+ _observer_")
        for label in observer_labels(explorer.graph.value, "observer")
    )
    assert set(inside.findall(svg(explorer.graph.value))) == {"+"}
    explorer.when.value = "changes"
    layer1 = re.search(
        r'<g id="node\d+" class="node call qconfig&#45;none">.*?'
        r'(?=<g id="(node|edge))',
        svg(explorer.graph.value),
        re.S,
    )
    assert layer1 and ">layer1<" in layer1.group(0) and "set to None" in layer1.group(0)
    assert explorer.errors == []


def test_children_inherit_and_show_from_where(explorer: obsviz.Explorer) -> None:
    explorer.set_qconfig("layer2", "static per-tensor")
    conv = explorer.tree.expand_to("layer2.0.conv1")
    assert conv.dropdown.value == INHERIT
    assert "static per-tensor from layer2" in conv.hint.value
    assert conv in explorer.tree.children  # its parents were opened to show it


def test_quant_type_and_inherit_back(explorer: obsviz.Explorer) -> None:
    explorer.quant_type.value = "dynamic"
    assert explorer.run.quant_type == "dynamic"
    assert "quant type: static → dynamic" in text(explorer.diff.value)
    explorer.quant_type.value = "static"
    explorer.set_qconfig("fc", "None")
    explorer.set_qconfig("fc", INHERIT)
    assert explorer.state.qconfig == (("", "static"),)
    assert explorer.session.runs_made == 3  # the start, dynamic, fc None; the rest were kept


def test_the_tree_says_when_a_qconfig_runs_in_the_other_pass(explorer: obsviz.Explorer) -> None:
    explorer.quant_type.value = "dynamic"
    top, fc = explorer.tree.rows[""], explorer.tree.rows["fc"]
    observers = explorer.run.observers_by_module()
    assert text(fc.hint.value).strip() == f"static · dynamic pass · {observers.get('fc', 0)} obs."
    assert text(top.hint.value).strip() == f"dynamic pass · {explorer.run.observer_count} obs."
    explorer.set_qconfig("", "dynamic")
    assert text(fc.hint.value).strip().startswith("dynamic · ") and "pass ·" not in fc.hint.value
    explorer.quant_type.value = "static"
    assert text(fc.hint.value).strip().startswith("dynamic · static pass · ")


def test_the_code_runs_and_gives_the_same_run(
    explorer: obsviz.Explorer, model: torch.jit.ScriptModule
) -> None:
    explorer.set_qconfig("layer3", "dynamic")
    explorer.set_qconfig("layer4.0.conv2", "None")
    scope: dict = {"model": model}
    exec(explorer.code(), scope)
    assert scope["run"].placement() == explorer.run.placement()
    explorer.go_to_step(10)
    assert "view = run.at(10)" in explorer.code()


def test_repeated_blocks_toggle_one_submodule_alone() -> None:
    from obsviz.samples import BasicBlock, ResNet

    torch.manual_seed(0)
    model = torch.jit.script(ResNet(BasicBlock, [2, 2, 1, 1], 10, width=8).eval())
    explorer = obsviz.Explorer(model, STATIC)
    explorer.set_qconfig("layer1.1.conv1", "None")
    diff = explorer.session.diff(explorer.baseline, explorer.outcome)
    assert [(e.module_path, e.value, e.change) for e in diff] == [
        ("layer1.1.conv1", "weight", "removed")
    ]
    assert explorer.errors == []
    assert "1 observer removed" in text(explorer.diff.value)


# ---------------------------------------------------------------------- never re-running
def test_stepping_and_switching_views_never_rerun(explorer: obsviz.Explorer) -> None:
    explorer.set_qconfig("layer1", "None")
    made = explorer.session.runs_made
    explorer.first_button.click()
    explorer.next_button.click()
    explorer.next_phase_button.click()
    explorer.when.value = "before"
    explorer.module.value = "layer2"
    explorer.depth.value = 1
    explorer.table_picker.value = "delay"
    explorer.query.value = "relu"
    explorer.end_button.click()
    explorer.set_qconfig("layer1", INHERIT)  # back to a kept run
    assert explorer.session.runs_made == made
    assert explorer.errors == []


def test_only_changed_views_are_redrawn(explorer: obsviz.Explorer) -> None:
    shown = dict(explorer._shown)
    explorer.when.value = "after"
    changed = {k for k, v in explorer._shown.items() if shown.get(k) != v}
    assert changed == {"graph"}


# ---------------------------------------------------------------------- stepping
def test_step_buttons_walk_the_recorded_pass(explorer: obsviz.Explorer) -> None:
    observed_edge = "state&#45;observed"  # an edge's class in Graphviz's SVG
    end_graph = svg(explorer.graph.value)
    assert observed_edge in end_graph
    explorer.first_button.click()
    assert explorer.state.step == 0 and explorer.slider.value == 0
    shown = text(explorer.step_view.value)
    assert "step 0 of" in shown and "phase fill_qconfig_map" in shown
    assert "PhaseStarted(phase='fill_qconfig_map')" in shown
    assert observed_edge not in svg(explorer.graph.value)  # nothing decided yet
    explorer.next_button.click()
    assert explorer.state.step == 1
    explorer.next_phase_button.click()
    step = explorer.state.step
    assert isinstance(explorer.run.events[step], obsviz.events.PhaseStarted)
    assert explorer.run.events[step].phase == "clone"
    explorer.slider.value = 700
    assert explorer.state.step == 700
    assert "at step 700" in text(explorer.table_info.value)
    explorer.prev_button.click()
    assert explorer.state.step == 699
    explorer.prev_phase_button.click()
    assert isinstance(explorer.run.events[explorer.state.step], obsviz.events.PhaseStarted)
    explorer.end_button.click()
    assert explorer.state.step is None
    assert svg(explorer.graph.value) == end_graph
    assert explorer.errors == []


def test_mid_pass_a_value_not_reached_yet_says_so(model: torch.jit.ScriptModule) -> None:
    explorer = obsviz.Explorer(model, {**STATIC, "layer1": None})
    run = explorer.run
    walked = next(
        e.step
        for e in run.events
        if isinstance(e, obsviz.events.GraphEntered) and e.module_path == "layer1.0"
    )
    step = walked - 5
    explorer.go_to_step(step)
    explorer.search.value = "layer1.0:forward:%out.9"
    why = text(explorer.why.value)
    assert (
        f"not decided yet at step {step}: the pass walks layer1.0.forward for the "
        f"first time at step {walked}"
    ) in why
    assert "never walks" not in why and "would need an observer" not in why
    graph = svg(explorer.graph.value)
    assert figure_title(explorer.graph.value).endswith(
        f"what InsertObservers had added by step {step} of {run.events[-1].step}"
    )
    assert "state&#45;not_reached" in graph and "state&#45;not_visited" not in graph
    assert "not reached yet at this step" in text(explorer.legend.value)
    explorer.end_button.click()
    assert "has no qconfig" in text(explorer.why.value)
    assert "state&#45;not_reached" not in svg(explorer.graph.value)


def test_nothing_in_a_graph_the_walk_has_not_reached_is_decided(explorer: obsviz.Explorer) -> None:
    run = explorer.run
    walked = next(
        e.step
        for e in run.events
        if isinstance(e, obsviz.events.GraphEntered) and e.module_path == "layer1.0"
    )
    values = run.at(walked - 1).values()
    unwalked = values[values["module_path"] == "layer1.0"]
    assert len(unwalked) and set(unwalked["reason"]) == {"not_reached"}


@pytest.mark.parametrize("name", ["resnet_small", "transformer_encoder"])
def test_mid_pass_answers_are_the_final_ones_or_say_they_are_not_final(name: str) -> None:
    """At any step, a value is told its answer at the end of the pass, or that the pass
    has not decided it yet (not_reached), or that its observer is recorded, not inserted."""
    run = obsviz.insert_observers(
        obsviz.samples.load(name), {**STATIC, "layer1": None} if name == "resnet_small" else STATIC
    )
    final = dict(
        zip(
            run.values()["graph"] + run.values()["value"] + run.values()["module_path"],
            run.values()["reason"],
            strict=True,
        )
    )
    last = run.events[-1].step
    for step in range(0, last, max(1, last // 12)):
        values = run.at(step).values()
        keys = values["graph"] + values["value"] + values["module_path"]
        wrong = {
            (k, r, final[k])
            for k, r in zip(keys, values["reason"], strict=True)
            if r not in ("not_reached", "observer_recorded", final[k])
        }
        assert not wrong, (step, sorted(wrong)[:5])


def test_the_tables_follow_the_step(explorer: obsviz.Explorer) -> None:
    explorer.table_picker.value = "inserted"
    at_end = len(explorer.table_rows.options)
    assert at_end == len(explorer.run.tables.inserted) > 0
    explorer.go_to_step(explorer.run.events[-1].step - 20)
    assert 0 < len(explorer.table_rows.options) < at_end


# ---------------------------------------------------------------------- asking why
def test_filter_then_click_a_row_explains_the_value(explorer: obsviz.Explorer) -> None:
    explorer.query.value = "delayed"
    rows = explorer.table_rows
    assert rows.options and all("delayed" in label for label, _ in rows.options)
    label, pick = rows.options[0]
    rows.value = pick  # a click on the row
    assert explorer.state.value == pick
    shown = explorer.why.value
    assert "obsviz-explanation" in shown and "delayed" in text(shown)
    assert "<svg" in shown  # its neighbourhood


def test_an_ambiguous_name_offers_a_pick_list(explorer: obsviz.Explorer) -> None:
    explorer.search.value = "%out.1"  # typed, then Enter
    modules = {path or "<top>" for path in modules_naming(explorer.run.original, "out.1")}
    assert len(modules) > 1
    picks = explorer.picks.options
    assert {label.split(":")[0] for _, label in picks} == modules
    assert all(label.endswith(":forward:%out.1") for _, label in picks)
    assert explorer.picks.layout.display != "none"
    assert f"{len(modules)} values match %out.1" in text(explorer.search_info.value)
    assert explorer.state.value == "" and "obsviz-explanation" not in explorer.why.value
    line, label = picks[1]
    assert "aten::" in line or "prim::" in line  # the op that makes it
    explorer.picks.value = label  # a click on one
    assert explorer.state.value == label
    assert f"{label}" in text(explorer.why.value) and "<svg" in explorer.why.value


def test_a_unique_name_is_explained_and_a_missing_one_says_why(explorer: obsviz.Explorer) -> None:
    explorer.search.value = "layer2.0:forward:%out.1"
    assert explorer.errors == []
    assert explorer.state.value == "layer2.0:forward:%out.1"
    assert explorer.picks.layout.display == "none"
    assert "observed" in text(explorer.why.value)
    explorer.search.value = "%no_such_value"
    assert explorer.state.value == ""
    assert "No value matches %no_such_value" in text(explorer.search_info.value)
    assert "obsviz-explanation" not in explorer.why.value
    explorer.search.value = "layer3.0:forward:%ou"  # no such value: labels holding it
    assert explorer.picks.options and all(
        label.startswith("layer3.0:forward:%ou") for _, label in explorer.picks.options
    )


def test_related_values_and_the_neighbourhood_open_their_explanations(
    explorer: obsviz.Explorer,
) -> None:
    explorer.query.value = "delayed"
    label = explorer.table_rows.options[0][1]
    explorer.table_rows.value = label  # a click on the row
    explanation = explorer.run.explain(label)
    assert explanation.related
    why = explorer.why.value
    for ref in explanation.related.values():  # each a link to its own explanation
        assert f"data-obsviz-value='{html.escape(str(ref))}'" in why
    path, method, _ = label.split(":", 2)
    assert f"data-obsviz-graph='{html.escape(path)}:{method}'" in why  # its values and ops
    target = str(next(iter(explanation.related.values())))
    explorer.follow.value = target  # what a click on the link sends
    assert explorer.state.value == target and explorer.follow.value == ""
    assert target in text(explorer.why.value)
    assert explorer.errors == []


def test_a_qconfig_table_row_shows_the_module(explorer: obsviz.Explorer) -> None:
    explorer.table_picker.value = "qconfig"
    rows = explorer.table_rows
    pick = next(p for label, p in rows.options if p == "module:layer2.0")
    rows.value = pick
    assert explorer.state.module == "layer2.0"
    assert figure_title(explorer.graph.value).startswith("layer2.0 · BasicBlock.forward")


def test_module_names_in_the_tree_show_the_module(explorer: obsviz.Explorer) -> None:
    explorer.tree.rows["layer3"].name.click()
    assert explorer.state.module == "layer3" and explorer.module.value == "layer3"


# ---------------------------------------------------------------------- failures, limits
def test_a_failed_pass_shows_the_diagnosis_and_the_partial_run() -> None:
    torch.manual_seed(0)
    model = torch.jit.script(fm.AuxHead().eval())
    explorer = obsviz.Explorer(model, {"": default_qconfig})
    problems = text(explorer.problems.value)
    assert "The pass failed" in problems
    assert "branches of an `if` return values observed differently" in problems
    assert "stopped part-way" in text(explorer.status.value)
    assert "<svg" in explorer.graph.value  # the partial views below
    assert explorer.table_rows.options
    assert explorer.errors == []


def test_the_fold_a_diagnosis_offers_is_one_click_away() -> None:
    torch.manual_seed(0)
    model = torch.jit.script(fm.StochasticDepthBlocks().eval())
    explorer = obsviz.Explorer(model, {"": default_qconfig})
    assert explorer.run.failure is not None
    button = explorer.fold_button
    assert button.layout.display != "none"
    assert button.description == "Fold self.training and run again"
    button.click()
    assert explorer.state.folded == ("training",)
    assert explorer.run.failure is None and explorer.errors == []
    assert button.layout.display == "none" and "The pass failed" not in explorer.problems.value
    assert "folded: nothing → self.training" in text(explorer.diff.value)
    real = real_pass(obsviz.fold_constant_branches(model), {"": default_qconfig})
    assert len(explorer.run.inserted) == count_observer_calls(wrap_cpp_module(real))
    code = explorer.code()
    assert "model = obsviz.fold_constant_branches(model)\n" in code
    namespace = {"model": model}
    exec(code, namespace)  # the code reproduces the run the Explorer shows
    assert namespace["run"].placement() == explorer.run.placement()


def test_too_big_a_graph_says_what_to_do(model: torch.jit.ScriptModule) -> None:
    explorer = obsviz.Explorer(model, STATIC, max_nodes=5)
    shown = text(explorer.graph.value)
    assert "too big to draw" in shown and "max_nodes=5" in shown
    explorer.module.value = "relu"
    assert "<svg" in explorer.graph.value


def test_named_and_unknown_qconfigs_become_choices(model: torch.jit.ScriptModule) -> None:
    mine = QConfig(
        activation=MinMaxObserver.with_args(reduce_range=True), weight=default_qconfig.weight
    )
    other = QConfig(
        activation=MinMaxObserver.with_args(quant_min=0, quant_max=63),
        weight=default_qconfig.weight,
    )
    explorer = obsviz.Explorer(
        model, {"": get_default_qconfig("fbgemm"), "fc": other}, qconfigs={"mine": mine}
    )
    options = explorer.tree.rows[""].dropdown.options
    assert options[:7] == (
        INHERIT,
        "static",
        "static per-tensor",
        "dynamic",
        "dynamic per-channel",
        "dynamic fp16",
        "None",
    )
    assert "mine" in options and "yours (fc)" in options
    explorer.set_qconfig("layer1", "mine")
    assert explorer.qconfig_dict["layer1"] is mine
    assert explorer.qconfig_dict["fc"] is other
    assert 'qconfigs["mine"]' in explorer.code()


def test_an_eager_model_is_refused() -> None:
    with pytest.raises(obsviz.ObsvizError, match="torch.jit.script"):
        obsviz.Explorer(torch.nn.Linear(2, 2))


# ---------------------------------------------------------------------- step 6: calibrate
OUTLIER = 1000.0  # one pixel of the first batch: the model input's range is set by it


def planted_inputs() -> list[tuple[torch.Tensor, ...]]:
    batches = obsviz.samples.inputs("resnet_small", 4, seed=3)
    batches[0][0][0, 0, 0, 0] = OUTLIER
    return batches


def shown_while(explorer: obsviz.Explorer, act) -> list[str]:
    """What step 6's tables said, in order, while ``act()`` ran: each value sent to the
    browser."""
    said: list[str] = []
    explorer.calibration_view.observe(lambda c: said.append(text(c["new"])), names="value")
    act()
    return said


@pytest.fixture(scope="module")
def calibrating(model: torch.jit.ScriptModule) -> obsviz.Explorer:
    """An Explorer given inputs, its Calibrate step open."""
    explorer = obsviz.Explorer(model, STATIC, inputs=planted_inputs())
    assert explorer.session.calibrations_made == 0  # nothing until the step is shown
    explorer.calibrate_button.value = True  # a click on the step's button
    assert explorer.errors == [] and explorer.session.calibrations_made == 1
    return explorer


def shown_rows(html_text: str, table: str) -> dict[str, list[str]]:
    """The cells of a step 6 table (``obsviz-ranges`` or ``obsviz-worst``) by the observer
    path each row names."""
    body = re.search(rf"<div class='obsviz-scroll {table}'>(.*?)</table>", html_text, re.S)
    assert body, text(html_text)[:300]
    return {
        html.unescape(path): [text(cell).strip() for cell in re.findall(r"<td>(.*?)</td>", row)]
        for path, row in re.findall(r"<tr data-obsviz-observer='([^']+)'>(.*?)</tr>", body.group(1))
    }


def torch_calibrated(explorer: obsviz.Explorer, qconfig_dict: dict) -> dict:
    """Torch's own prepare_jit model, run on the same inputs: its observers by the path of
    the Explorer's observer on the same value (each names its observers in its own order)."""
    observed = prepare_jit(explorer.session.model, qconfig_dict)
    with torch.no_grad():
        for batch in planted_inputs():
            observed(*batch)
    ours, theirs = observer_paths(explorer.run.module), observer_paths(observed)
    assert set(ours) == set(theirs)  # the same values observed
    modules = dict(observed.named_modules())
    return {ours[site]: modules[theirs[site]] for site in ours}


def numbers(cell: str) -> list[float]:
    """``0.0651312`` -> [0.0651312]; ``[0.1, 0.2, ... (8 channels)]`` -> its first ones."""
    return [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?", cell.split("...")[0])]


def test_the_calibrate_step_shows_the_qparams_torchs_own_observers_compute(
    calibrating: obsviz.Explorer, model: torch.jit.ScriptModule
) -> None:
    rows = shown_rows(calibrating.calibration_view.value, "obsviz-ranges")
    theirs = torch_calibrated(calibrating, STATIC)
    assert set(rows) == set(theirs)  # one row per observer prepare_jit inserts
    for path, cells in rows.items():
        low, high, scale, zero_point = cells[5:9]
        observer = theirs[path]
        expected_scale, expected_zero_point = observer.calculate_qparams()
        shown = numbers(scale)
        assert shown == pytest.approx(expected_scale.flatten()[: len(shown)].tolist(), rel=1e-5)
        shown = numbers(zero_point)
        assert shown == expected_zero_point.flatten()[: len(shown)].tolist(), path
        assert numbers(low)[0] == pytest.approx(float(observer.min_val.min()), rel=1e-5, abs=1e-6)
        assert numbers(high)[0] == pytest.approx(float(observer.max_val.max()), rel=1e-5)
    model_input = f"<top>:forward:%{list(model.graph.inputs())[1].debugName()}"
    (input_row,) = [cells for cells in rows.values() if cells[0] == model_input]
    assert numbers(input_row[6]) == [OUTLIER]


def test_the_calibrate_step_flags_the_planted_outlier_with_its_fix(
    calibrating: obsviz.Explorer, model: torch.jit.ScriptModule
) -> None:
    flags = re.findall(
        r"<div class='obsviz-flag .*?</div></div>", calibrating.calibration_view.value
    )
    model_input = f"<top>:forward:%{list(model.graph.inputs())[1].debugName()}"
    planted = [text(flag) for flag in flags if model_input in text(flag)]
    assert len(planted) == 1 and "outliers" in planted[0] and "Fix:" in planted[0], flags
    assert "the median channel gets" in planted[0]


def test_the_worst_values_come_worst_first_and_open_their_explanation(
    calibrating: obsviz.Explorer,
) -> None:
    worst = shown_rows(calibrating.calibration_view.value, "obsviz-worst")
    assert len(worst) == 12
    accumulated = [float(cells[2]) for cells in worst.values()]
    assert accumulated == sorted(accumulated)
    every = shown_rows(calibrating.calibration_view.value, "obsviz-ranges")
    assert set(worst) <= set(every)
    observer, cells = next(iter(worst.items()))
    calibrating.follow.value = cells[0]  # a click on its link
    why = text(calibrating.why.value)
    assert why.startswith(f" {cells[0]}")
    scale, zero_point = every[observer][7:9]  # checked against torch above
    assert f"Calibrated observer {observer}" in why
    assert f"scale {scale} zero_point {zero_point}" in why, why


def test_the_calibrate_graph_is_coloured_with_its_legend(calibrating: obsviz.Explorer) -> None:
    from obsviz.figures.style import RAMP

    legend = calibrating.calibrate_legend.value
    assert "SQNR with every observer quantizing" in text(legend)
    assert [c.upper() for c in re.findall(r"background:(#\w+)", legend)] == list(RAMP)
    drawn = svg(calibrating.calibrate_graph.value)
    assert figure_title(calibrating.calibrate_graph.value).endswith("what InsertObservers added")
    assert 'class="edge' in drawn
    assert re.search(r'class="[^"]*\boverlay\b', drawn)
    calibrating.overlay.value = "range"
    assert "calibrated range width" in text(calibrating.calibrate_legend.value)
    calibrating.module.value = "layer1.0"  # step 3's module is the one coloured
    assert "layer1.0 · BasicBlock" in text(calibrating.calibrate_graph.value)
    calibrating.overlay.value, calibrating.module.value = "sqnr", ""
    assert calibrating.session.calibrations_made == 1 and calibrating.errors == []


def test_the_calibrate_graph_names_values_as_the_worst_values_table_does(
    calibrating: obsviz.Explorer,
) -> None:
    """Each value the coloured graph labels with an SQNR is the value the error table
    (whose rows the worst values show) gives that SQNR, in the module drawn."""
    table = calibrating.session.kept_calibration(calibrating.state.run_key).error.table
    for module in ("", "layer1.0"):
        calibrating.module.value = module
        drawn = sqnr_labels(svg(calibrating.calibrate_graph.value))
        assert drawn == sqnr_rows(table, module) and drawn, module
    calibrating.module.value = ""


def test_the_step_says_it_is_calibrating_before_it_does(model: torch.jit.ScriptModule) -> None:
    """Calibrating takes seconds on a large model: the step says so first, and once done
    shows the result in its place; the same after a qconfig change while it is shown,
    whose coloured graph is not the previous run's meanwhile."""
    explorer = obsviz.Explorer(model, STATIC, inputs=planted_inputs())

    def click() -> None:
        explorer.calibrate_button.value = True

    made = []
    explorer.calibration_view.observe(
        lambda _: made.append(explorer.session.calibrations_made), names="value"
    )
    said = shown_while(explorer, click)
    assert said[0].startswith(" Calibrating on 4 inputs…") and made[0] == 0, said
    observers = len(prepared_sites(model, STATIC))
    assert f"{observers} observers calibrated" not in said[0]
    assert said[-1].startswith(f" {observers} observers calibrated on 4 batches"), said
    assert made[-1] == 1
    graphs = []
    explorer.calibrate_graph.observe(lambda c: graphs.append(c["new"]), names="value")
    said = shown_while(explorer, lambda: explorer.set_qconfig("layer1", "None"))
    observers = explorer.run.observer_count
    assert said[0].startswith(" Calibrating on 4 inputs…"), said
    assert f"through the {observers} observers" in said[0]
    assert said[-1].startswith(f" {observers} observers calibrated"), said
    assert graphs[0] == "" and "<svg" in graphs[-1]
    assert explorer.session.calibrations_made == 2 and explorer.errors == []


def test_a_qconfig_change_recalibrates_only_while_the_step_is_shown(
    model: torch.jit.ScriptModule,
) -> None:
    explorer = obsviz.Explorer(model, STATIC, inputs=planted_inputs())
    explorer.calibrate_button.value = True
    explorer.set_qconfig("layer1", "None")
    assert explorer.session.calibrations_made == 2
    rows = shown_rows(explorer.calibration_view.value, "obsviz-ranges")
    assert set(rows) == set(torch_calibrated(explorer, {**STATIC, "layer1": None}))
    assert "cal = run.calibrate(inputs)" in explorer.code()
    explorer.calibrate_button.value = False
    explorer.set_qconfig("layer2", "None")
    assert explorer.session.calibrations_made == 2  # hidden: nothing calibrated
    explorer.set_qconfig("layer2", INHERIT)  # back to a run calibrated before: kept
    explorer.calibrate_button.value = True
    assert explorer.session.calibrations_made == 2
    assert explorer.errors == []


def test_without_inputs_the_step_says_how_to_pass_them(explorer: obsviz.Explorer) -> None:
    explorer.calibrate_button.value = True
    shown = text(explorer.calibration_view.value)
    assert "inputs=[(x,), ...]" in shown and "obsviz.samples.inputs(name, 8)" in shown
    assert explorer.session.calibrations_made == 0 and explorer.errors == []


def test_bad_inputs_are_refused_or_said_why(model: torch.jit.ScriptModule) -> None:
    with pytest.raises(obsviz.ObsvizError, match="list of input tuples"):
        obsviz.Explorer(model, STATIC, inputs=torch.randn(1, 3, 32, 32))
    with pytest.raises(obsviz.ObsvizError, match="inputs is empty"):
        obsviz.Explorer(model, STATIC, inputs=[])
    explorer = obsviz.Explorer(model, STATIC, inputs=[(torch.randn(1, 5, 32, 32),)])
    explorer.calibrate_button.value = True
    shown = text(explorer.calibration_view.value)
    assert "Not calibrated" in shown and "batch 0" in shown and "forward" in shown
    assert explorer.calibrate_graph.value == "" and explorer.errors == []


# ---------------------------------------------------------------------- the pieces
def test_state_changes_are_new_values() -> None:
    state = ExplorerState()
    toggled = state.replace(step=5).with_choice("layer1.0", "None")
    assert state.qconfig == (("", "static"),) and toggled.step is None
    assert toggled.effective("layer1.0.conv1") == ("None", "layer1.0")
    assert toggled.effective("layer2") == ("static", "")
    assert toggled.with_choice("layer1.0", INHERIT).run_key == state.run_key
    with pytest.raises(obsviz.ObsvizError):
        state.replace(when="sideways")


def test_names_of_values_and_changes() -> None:
    assert parse_value("<top>:forward:%x.1") == ("", "forward", "x.1")
    assert parse_value("layer1.0:forward:%out.1") == ("layer1.0", "forward", "out.1")
    with pytest.raises(obsviz.ObsvizError):
        parse_value("out.1")
    before = RunKey((("", "static"),), "static", "forward", (), False, True)
    after = before._replace(qconfig=(("", "static"), ("fc", "None")), quant_type="dynamic")
    assert change_text(before, after) == "fc: inherit → None; quant type: static → dynamic"
    folded = before._replace(folded=("training",))
    assert change_text(before, folded) == "folded: nothing → self.training"
    folded = folded._replace(fold_arguments=True)
    assert change_text(before, folded) == "folded: nothing → self.training and constant arguments"
    assert (
        change_text(before, before._replace(fold_conv_bn=False))
        == "conv-bn folding: on (prepare_jit) → off (the bare pass)"
    )


def test_choices_reject_what_is_not_a_qconfig() -> None:
    with pytest.raises(obsviz.ObsvizError, match="QConfig"):
        QConfigChoices({"bad": object()})
    with pytest.raises(obsviz.ObsvizError, match="no qconfig choice"):
        QConfigChoices()["fast"]


def test_table_rows_filter_and_pick(explorer: obsviz.Explorer) -> None:
    frame = explorer.run.tables.delay
    header, rows, matched = table_rows(frame, "relu")
    assert header.split()[:3] == ["row", "value", "producer"]
    assert matched == len(rows) > 0
    assert all(pick.count(":") == 2 for _, pick in rows)
    _, _, everything = table_rows(frame)
    assert everything == len(frame)
