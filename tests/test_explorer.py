"""The Explorer driven as a user would: set menus, press buttons, pick rows; then check
what each view shows, and that only a change of qconfigs, quant type or method re-runs."""

from __future__ import annotations

import re

import pytest
import torch
from torch.ao.quantization import QConfig, default_qconfig, get_default_qconfig
from torch.ao.quantization.observer import MinMaxObserver
from torch.jit._recursive import wrap_cpp_module

import obsviz
from obsviz.explorer import INHERIT, ExplorerState, QConfigChoices
from obsviz.explorer.panels import change_text, table_rows
from obsviz.explorer.state import parse_value

from . import failure_models as fm
from .corpus import count_observer_calls, real_pass

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


# ---------------------------------------------------------------------- opening it
def test_opens_on_the_given_qconfig_dict(explorer: obsviz.Explorer) -> None:
    assert explorer.state.qconfig == (("", "static"),)
    assert explorer.session.runs_made == 1
    assert len(explorer.run.inserted) == 42
    assert "42 observers inserted by static InsertObservers" in text(explorer.status.value)
    assert "Change a module's qconfig" in text(explorer.diff.value)
    assert "what InsertObservers added" in svg(explorer.graph.value)
    assert explorer.tree.rows[""].dropdown.value == "static"
    assert "42 obs." in explorer.tree.rows[""].hint.value
    assert "the end of the pass" in text(explorer.step_view.value)
    assert "Ask why" in text(explorer.why.value)


def test_the_legend_is_the_figures_style_table(explorer: obsviz.Explorer) -> None:
    from obsviz.figures import style

    legend = explorer.legend.value
    for state in style.STATES.values():
        assert state.legend in text(legend)
        assert state.color in legend
    for meaning in style.NODE_LEGEND.values():
        assert meaning in text(legend)


# ---------------------------------------------------------------------- toggling qconfigs
def test_a_toggle_shows_the_observers_it_removes_each_with_its_reason(
    explorer: obsviz.Explorer,
) -> None:
    before_graph = explorer.graph.value
    row = explorer.tree.rows["layer1"]
    row.dropdown.value = "None"  # what picking "None" in layer1's menu does
    assert explorer.session.runs_made == 2
    diff = text(explorer.diff.value)
    assert "You changed layer1: inherit → None" in diff
    assert "7 observers removed" in diff and "1 observer added" in diff
    assert "observer removed layer1.0:forward:%out.1" in diff
    assert "no_qconfig" in diff and "observed_after_fusion" in diff  # now and before
    assert explorer.graph.value != before_graph
    assert "0 obs." in row.hint.value and row.dropdown.layout.border
    assert set(explorer.qconfig_dict) == {"", "layer1"}
    assert explorer.qconfig_dict["layer1"] is None
    assert '"layer1": None,' in explorer.code()
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
    explorer.tables.selected_index = 1
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


def test_the_tables_follow_the_step(explorer: obsviz.Explorer) -> None:
    explorer.tables.selected_index = explorer.tables.titles.index("inserted")
    at_end = len(explorer.table_rows["inserted"].options)
    assert at_end == len(explorer.run.tables.inserted) > 0
    explorer.go_to_step(explorer.run.events[-1].step - 20)
    assert 0 < len(explorer.table_rows["inserted"].options) < at_end


# ---------------------------------------------------------------------- asking why
def test_filter_then_click_a_row_explains_the_value(explorer: obsviz.Explorer) -> None:
    explorer.query.value = "delayed"
    rows = explorer.table_rows["values"]
    assert rows.options and all("delayed" in label for label, _ in rows.options)
    label, pick = rows.options[0]
    rows.value = pick  # a click on the row
    assert explorer.state.value == pick
    shown = explorer.why.value
    assert "obsviz-explanation" in shown and "delayed" in text(shown)
    assert "<svg" in shown  # its neighbourhood


def test_the_value_picker_searches_by_name(explorer: obsviz.Explorer) -> None:
    assert "layer1.0:forward:%out.1" in explorer.picker.options
    explorer.picker.value = "layer1.0:forw"  # typing: not a value yet
    assert explorer.state.value == ""
    explorer.picker.value = "layer1.0:forward:%out.1"
    assert explorer.state.value == "layer1.0:forward:%out.1"
    assert "observed_after_fusion" in text(explorer.why.value)


def test_a_qconfig_table_row_shows_the_module(explorer: obsviz.Explorer) -> None:
    explorer.tables.selected_index = explorer.tables.titles.index("qconfig")
    rows = explorer.table_rows["qconfig"]
    pick = next(p for label, p in rows.options if p == "module:layer2.0")
    rows.value = pick
    assert explorer.state.module == "layer2.0"
    assert "layer2.0 · BasicBlock.forward" in svg(explorer.graph.value)


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
    assert explorer.table_rows["values"].options
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
    before = ((("", "static"),), "static", "forward", (), False)
    after = ((("", "static"), ("fc", "None")), "dynamic", "forward", (), False)
    assert change_text(before, after) == "fc: inherit → None; quant type: static → dynamic"
    folded = ((("", "static"),), "static", "forward", ("training",), False)
    assert change_text(before, folded) == "folded: nothing → self.training"
    folded = ((("", "static"),), "static", "forward", ("training",), True)
    assert change_text(before, folded) == "folded: nothing → self.training and constant arguments"


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
