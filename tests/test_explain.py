"""The explanation casebook: (model, value) -> expected reason and related values.

Each expectation is what InsertObservers decides by its rules (insert_observers.cpp and
helper.cpp), worked out by hand for the model; values are named as users see them in
the scripted model's graphs. Numeric debug names are looked up by the op producing
them, in the graph of the model handed to the pass.
"""

from __future__ import annotations

import functools
import html
from dataclasses import dataclass, field

import pytest
import torch
from torch.ao.quantization import default_qconfig

import obsviz
from obsviz import events as ev
from obsviz.explain import REASONS, Explanation, TrailStep
from obsviz.reasons import Reason

from .explain_models import STATIC, Op, ondevice_run, run_of, scripted_model, user_name

# ---------------------------------------------------------------------------- casebook


@dataclass(frozen=True)
class Entry:
    id: str
    model: str
    qconfig: str
    value: str | Op
    reason: str
    module: str = ""
    method: str = "forward"
    related: dict[str, tuple[str, str, str | Op]] = field(default_factory=dict)
    pattern: str = ""


CASEBOOK = [
    # conv -> relu as modules: the conv result's observation moves to the relu result
    Entry(
        "conv_relu_conv_output",
        "ConvRelu",
        "static",
        "y.1",
        "delayed",
        related={"observed_instead": ("", "forward", "z.1")},
        pattern="nn_conv2d_nn_relu",
    ),
    Entry(
        "conv_relu_relu_output",
        "ConvRelu",
        "static",
        "z.1",
        "observed_after_fusion",
        related={"delayed_from": ("", "forward", "y.1")},
        pattern="nn_conv2d_nn_relu",
    ),
    Entry(
        "conv_relu_graph_input",
        "ConvRelu",
        "static",
        "x.1",
        "observed_here",
        related={"needed_by": ("conv", "_conv_forward", "input.1")},
    ),
    Entry(
        "conv_relu_callee_input",
        "ConvRelu",
        "static",
        "input.1",
        "observed_at_call_site",
        module="conv",
        related={"caller_value": ("", "forward", "x.1"), "observer_on": ("", "forward", "x.1")},
    ),
    Entry(
        "conv_relu_callee_input_two_levels",
        "ConvRelu",
        "static",
        "input.1",
        "observed_at_call_site",
        module="conv",
        method="_conv_forward",
        related={
            "caller_value": ("conv", "forward", "input.1"),
            "observer_on": ("", "forward", "x.1"),
        },
    ),
    Entry(
        "conv_relu_weight",
        "ConvRelu",
        "static",
        "weight",
        "observed_here",
        module="conv",
        related={"needed_by": ("conv", "_conv_forward", "weight.1")},
    ),
    Entry(
        "conv_relu_bias",
        "ConvRelu",
        "static",
        "bias.1",
        "bias",
        module="conv",
        method="_conv_forward",
    ),
    Entry("conv_relu_self", "ConvRelu", "static", "self", "not_tensor"),
    Entry(
        "conv_relu_conv2d_output_inside",
        "ConvRelu",
        "static",
        Op("aten::conv2d"),
        "delayed",
        module="conv",
        method="_conv_forward",
        related={"observed_instead": ("", "forward", "z.1")},
        pattern="nn_conv2d_nn_relu",
    ),
    Entry(
        "conv_relu_relu_input_inside",
        "ConvRelu",
        "static",
        "input.1",
        "delayed",
        module="relu",
        related={
            "caller_value": ("", "forward", "y.1"),
            "observed_instead": ("", "forward", "z.1"),
        },
    ),
    # add with an input nothing quantizable uses
    Entry(
        "add_unobserved_sum",
        "AddUnobserved",
        "static",
        "z.1",
        "propagate_input_unobserved",
        related={
            "unobserved_input": ("", "forward", "w.1"),
            "observed_input": ("", "forward", "y.1"),
        },
    ),
    Entry("add_unobserved_input", "AddUnobserved", "static", "w.1", "no_quantizable_use"),
    Entry(
        "add_unobserved_conv_result",
        "AddUnobserved",
        "static",
        "y.1",
        "observed_for_callee_output",
        related={"callee_return": ("conv", "forward", Op("prim::CallMethod"))},
    ),
    Entry(
        "add_unobserved_conv2d_inside",
        "AddUnobserved",
        "static",
        Op("aten::conv2d"),
        "observed_at_call_site",
        module="conv",
        method="_conv_forward",
        related={
            "caller_value": ("conv", "forward", Op("prim::CallMethod")),
            "observer_on": ("", "forward", "y.1"),
        },
    ),
    # ... which the fc call site then observes for its input
    Entry(
        "unobserved_into_linear",
        "UnobservedIntoLinear",
        "static",
        "z.1",
        "observed_for_callee_input",
        related={"callee_input": ("fc", "forward", "input.1")},
    ),
    Entry("add_both_observed", "AddObserved", "static", "s.1", "observed_here"),
    # add -> relu
    Entry(
        "add_relu_sum",
        "AddRelu",
        "static",
        "s.1",
        "delayed",
        related={"observed_instead": ("", "forward", "r.1")},
        pattern="add_f_relu",
    ),
    Entry(
        "add_relu_relu",
        "AddRelu",
        "static",
        "r.1",
        "observed_after_fusion",
        related={"delayed_from": ("", "forward", "s.1")},
        pattern="add_f_relu",
    ),
    # pass-through ops and values observed upstream
    Entry(
        "flatten_pass_through",
        "ConvFlattenLinear",
        "static",
        "f.1",
        "pass_through",
        related={"inherits_from": ("", "forward", "p.1")},
    ),
    Entry(
        "pool_result_upstream",
        "ConvFlattenLinear",
        "static",
        "p.1",
        "observed_upstream",
        related={"callee_return": ("pool", "forward", Op("prim::CallFunction"))},
    ),
    Entry(
        "pool_inside_pass_through",
        "ConvFlattenLinear",
        "static",
        Op("prim::CallFunction"),
        "pass_through",
        module="pool",
        related={"inherits_from": ("pool", "forward", "input.1")},
    ),
    Entry(
        "fc_input_upstream",
        "ConvFlattenLinear",
        "static",
        "input.1",
        "observed_upstream",
        module="fc",
        related={"caller_value": ("", "forward", "f.1")},
    ),
    Entry("size_not_tensor", "ConvFlattenLinear", "static", "n.1", "not_tensor"),
    Entry("linear_bias", "ConvFlattenLinear", "static", "bias", "bias", module="fc"),
    Entry(
        "linear_weight_own_need",
        "ConvFlattenLinear",
        "static",
        "weight",
        "observed_here",
        module="fc",
    ),
    Entry(
        "fc_result_for_callee_output",
        "ConvFlattenLinear",
        "static",
        Op("prim::CallMethod", 2),
        "observed_for_callee_output",
        related={"callee_return": ("fc", "forward", Op("aten::linear"))},
    ),
    Entry(
        "linear_output_inside_fc",
        "ConvFlattenLinear",
        "static",
        Op("aten::linear"),
        "observed_at_call_site",
        module="fc",
    ),
    Entry(
        "mul_by_int_passes_through",
        "ConvFlattenLinear",
        "static",
        Op("aten::mul"),
        "pass_through",
        related={"inherits_from": ("", "forward", Op("prim::CallMethod", 2))},
    ),
    # linear -> F.relu in one graph
    Entry(
        "linear_relu_linear_output",
        "LinearRelu",
        "static",
        "h.1",
        "delayed",
        related={"observed_instead": ("", "forward", Op("prim::CallFunction"))},
        pattern="linear_f_relu",
    ),
    # If: branch results observed for the If output; the If output observed upstream
    Entry(
        "if_branch_result",
        "IfConvs",
        "static",
        "y.1",
        "observed_for_if_output",
        related={"if_output": ("", "forward", "y")},
    ),
    Entry(
        "if_output",
        "IfConvs",
        "static",
        "y",
        "observed_upstream",
        related={"branch_0": ("", "forward", "y.1"), "branch_1": ("", "forward", "y.3")},
    ),
    Entry("if_condition_not_tensor", "IfConvs", "static", "flag.1", "not_tensor"),
    # qconfig None
    Entry("fc_none_weight", "ConvFlattenLinear", "fc_none", "weight", "no_qconfig", module="fc"),
    Entry("all_none_input", "ConvRelu", "all_none", "x.1", "no_qconfig"),
    Entry(
        "fc_none_flatten_still_pass_through",
        "ConvFlattenLinear",
        "fc_none",
        "f.1",
        "pass_through",
        related={"inherits_from": ("", "forward", "p.1")},
    ),
    # dynamic quantization
    Entry(
        "dynamic_linear_output",
        "LinearOnly",
        "dynamic",
        Op("aten::linear"),
        "dynamic_rules",
        module="fc",
    ),
    Entry(
        "dynamic_linear_input",
        "LinearOnly",
        "dynamic",
        "x.1",
        "observed_here",
        related={"needed_by": ("fc", "forward", "input.1")},
    ),
    Entry(
        "dynamic_conv_input",
        "ConvRelu",
        "dynamic",
        "input.1",
        "dynamic_rules",
        module="conv",
        method="_conv_forward",
    ),
    # ... the conv's input at the top: x.1 is used only by conv.forward() (not linear, the
    # one dynamically quantizable op), and getObserverFor finds no observer behind the call
    # either, since aten::conv2d is not dynamically quantizable; static's useQuantizable
    # would take input 0 of aten::conv2d
    Entry(
        "dynamic_conv_input_at_call",
        "ConvRelu",
        "dynamic",
        "x.1",
        "dynamic_rules",
        related={"static_would_observe": ("conv", "_conv_forward", "input.1")},
    ),
    Entry(
        "dynamic_conv_weight_at_call",
        "ConvRelu",
        "dynamic",
        "weight",
        "dynamic_rules",
        module="conv",
        related={"static_would_observe": ("conv", "_conv_forward", "weight.1")},
    ),
    # ... the linear's result at the call site: dynamic skips the producer clause, and the
    # value returned there is the output of aten::linear, which static's producer clause takes
    Entry(
        "dynamic_linear_result_at_call",
        "LinearOnly",
        "dynamic",
        Op("prim::CallMethod"),
        "dynamic_rules",
        related={"static_would_observe": ("fc", "forward", Op("aten::linear"))},
    ),
    # ... F.relu of F.linear: relu's output is used only by the return; it passes on h.1,
    # whose producer aten::linear static quantization observes (fused, after the relu)
    Entry(
        "dynamic_linear_relu_output",
        "LinearRelu",
        "dynamic",
        Op("prim::CallFunction"),
        "dynamic_rules",
        related={"static_would_observe": ("", "forward", "h.1")},
    ),
    Entry("dynamic_linear_relu_linear_output", "LinearRelu", "dynamic", "h.1", "dynamic_rules"),
    # ... values static quantization leaves unobserved too keep no_quantizable_use: an input
    # only an add uses, and the add (a propagate op, observed only with both inputs)
    Entry("dynamic_add_input", "AddUnobserved", "dynamic", "w.1", "no_quantizable_use"),
    Entry("dynamic_add_output", "AddUnobserved", "dynamic", "z.1", "no_quantizable_use"),
    # ... one relu instance called on a conv result and on w: its input is the conv result
    # at one call site; w reaches nothing static would observe (not via the other call site)
    Entry(
        "dynamic_shared_relu_input",
        "SharedRelu",
        "dynamic",
        "input.1",
        "dynamic_rules",
        module="relu",
        related={"static_would_observe": ("conv", "_conv_forward", Op("aten::conv2d"))},
    ),
    Entry("dynamic_shared_relu_other_caller", "SharedRelu", "dynamic", "w.1", "no_quantizable_use"),
    # ... embedding_bag is weight-only in static quantization: its indices and weight are
    # observed there, its output is not (isWeightOnlyStaticQuantOp skips the producer clause)
    Entry(
        "dynamic_embedding_bag_indices", "EmbeddingBagOp", "dynamic", "indices.1", "dynamic_rules"
    ),
    Entry(
        "dynamic_embedding_bag_output",
        "EmbeddingBagOp",
        "dynamic",
        Op("aten::embedding_bag"),
        "no_quantizable_use",
    ),
    Entry("fp16_activation", "LinearOnly", "fp16", "x.1", "dynamic_fp16_activation"),
    Entry("fp16_weight", "LinearOnly", "fp16", "weight", "observed_here", module="fc"),
    # float16: the activation observer's dtype is Half, and the fp16 clause comes before the
    # use clause, so linear's own input and output are turned down as activations; a conv
    # weight passed on to _conv_forward is no weight in conv.forward (isWeight reads its uses)
    Entry(
        "fp16_linear_input", "LinearOnly", "fp16", "input.1", "dynamic_fp16_activation", module="fc"
    ),
    Entry(
        "fp16_linear_output",
        "LinearOnly",
        "fp16",
        Op("aten::linear"),
        "dynamic_fp16_activation",
        module="fc",
    ),
    Entry(
        "fp16_conv_weight_at_call",
        "ConvRelu",
        "fp16",
        "weight",
        "dynamic_fp16_activation",
        module="conv",
    ),
    # ... inside, it is the weight of aten::conv2d (weight observer, not Half-rejected), which
    # only static quantization observes
    Entry(
        "fp16_conv_weight_inside",
        "ConvRelu",
        "fp16",
        "weight.1",
        "dynamic_rules",
        module="conv",
        method="_conv_forward",
    ),
    # embedding_bag
    Entry(
        "embedding_bag_offsets",
        "EmbeddingBagOp",
        "weight_only",
        "offsets.1",
        "embedding_bag_non_input",
    ),
    Entry("embedding_bag_weight", "EmbeddingBagOp", "weight_only", "weight", "observed_here"),
    Entry("embedding_bag_indices", "EmbeddingBagOp", "weight_only", "indices.1", "observed_here"),
    # values the pass never reaches
    Entry("preprocessing_fused_matmul", "MatmulAdd", "static", "m.1", "removed_by_preprocessing"),
    Entry("raising_branch_call", "RaisingBranch", "static", "g", "not_walked"),
    Entry(
        "raising_branch_callee",
        "RaisingBranch",
        "static",
        "input.1",
        "not_walked",
        module="guard",
        method="_conv_forward",
    ),
    Entry("loop_body_call", "case:loop_conv_static", "static", "x.5", "skipped_in_loop"),
    Entry(
        "loop_only_callee",
        "case:loop_conv_static",
        "static",
        "input.1",
        "skipped_in_loop",
        module="conv",
        method="_conv_forward",
    ),
    Entry(
        "function_value",
        "case:function_needs_observer_linear_static",
        "static",
        "x.1",
        "in_function",
        method="linear_helper",
    ),
]


def _expected_ref(model: torch.jit.ScriptModule, where: tuple[str, str, str | Op]) -> str:
    path, method, name = where
    return f"{path or '<top>'}:{method}:%{user_name(model, path, method, name)}"


def _explain(entry: Entry) -> tuple[torch.jit.ScriptModule, Explanation]:
    model = scripted_model(entry.model)
    run = run_of(entry.model, entry.qconfig)
    name = user_name(model, entry.module, entry.method, entry.value)
    return model, run.explain(name, module=entry.module, method=entry.method)


@pytest.mark.parametrize("entry", CASEBOOK, ids=[e.id for e in CASEBOOK])
def test_casebook(entry: Entry) -> None:
    model, e = _explain(entry)
    assert e.reason == entry.reason, e
    assert e.observed is REASONS[entry.reason].observed
    expected = {role: _expected_ref(model, where) for role, where in entry.related.items()}
    assert {role: str(e.related[role]) for role in expected if role in e.related} == expected
    if entry.pattern:
        assert entry.pattern in e.verdict


def test_casebook_covers_every_reason() -> None:
    covered = {e.reason for e in CASEBOOK} | {"observer_recorded", "ondevice_dynamic_activation"}
    assert covered == set(REASONS), set(REASONS) - covered
    assert len(CASEBOOK) >= 40


def test_every_reason_code_has_its_record() -> None:
    assert list(REASONS) == list(Reason)  # one record per code, in the vocabulary's order
    assert all(REASONS[code].code is code for code in Reason)


def test_ondevice_dynamic_keeps_weight_observers_only() -> None:
    run = ondevice_run()
    assert run.explain("x.1", method="observe_forward").reason == "ondevice_dynamic_activation"
    weight = run.explain("weight", method="observe_forward")
    assert weight.observed and weight.reason == "observed_here"


def test_an_observer_recorded_but_not_yet_inserted() -> None:
    run = run_of("ConvRelu")
    recorded = next(
        e for e in run.events if isinstance(e, ev.ObserverRecorded) and e.value.name == "x.1"
    )
    inserted = next(
        e for e in run.events if isinstance(e, ev.ObserverInserted) and e.value.name == "x.1"
    )
    at_record = run.at(recorded.step).explain("x.1")
    assert (at_record.observed, at_record.reason) == (False, "observer_recorded")
    assert run.at(inserted.step).explain("x.1").observed
    assert run.at(inserted.step - 1).explain("x.1").reason == "observer_recorded"


# ---------------------------------------------------------------------------- trails


def _rules(e: Explanation) -> list[str]:
    return [step.rule for step in e.trail]


def test_trail_of_a_bias_stops_at_its_clause() -> None:
    e = run_of("ConvRelu").explain("bias.1", module="conv", method="_conv_forward")
    vnq = [
        s
        for s in e.trail
        if s.rule in ("isBiasOfConvOrLinear", "useQuantizable", "valueNeedsToBeQuantized")
    ]
    assert [(s.rule, s.outcome) for s in vnq] == [
        ("isBiasOfConvOrLinear", "true"),
        ("valueNeedsToBeQuantized", "false (bias)"),
    ]


def test_trail_follows_the_pass_in_step_order() -> None:
    e = run_of("AddUnobserved").explain("z.1")
    rules = _rules(e)
    assert rules[0] == "fillQConfigMap"
    assert rules.index("valueNeedsToBeQuantized") < rules.index("shouldObserve")
    should = next(s for s in e.trail if s.rule == "shouldObserve")
    assert should.outcome.startswith("false")
    assert ("inputs", "%y.1 (observed), %w.1 (not observed)") in should.inputs
    steps = [s.step for s in e.trail]
    assert steps == sorted(steps)
    assert "observed_here" not in rules


def test_trail_of_a_delayed_value_names_the_pattern_and_the_insertion() -> None:
    e = run_of("ConvRelu").explain("y.1")
    delay = next(s for s in e.trail if s.rule == "delayObservingValuesInPattern")
    assert dict(delay.inputs) == {"pattern": "nn_conv2d_nn_relu", "first": "%y.1", "second": "%z.1"}
    inserted = [s for s in e.trail if s.rule == "insertObserverFor"]
    assert inserted and "%z.1" in dict(inserted[-1].inputs)["value"]


def test_trail_of_a_value_observed_through_a_callee_names_getobserverfor() -> None:
    e = run_of("ConvRelu").explain("weight", module="conv")
    found = next(s for s in e.trail if s.rule == "getObserverFor")
    assert "%weight.1 in conv._conv_forward" in found.outcome
    vnq = next(s for s in e.trail if s.rule == "valueNeedsToBeQuantized")
    assert vnq.outcome == "false (no_quantizable_use)"


# ---------------------------------------------------------------------------- verdicts


def test_verdict_names_the_value_observed_instead_and_its_observer() -> None:
    run = run_of("ConvRelu")
    e = run.explain("y.1")
    attribute = run.explain("z.1").observer
    assert attribute.startswith("_observer_")
    assert "nn_conv2d_nn_relu" in e.verdict and "%z.1" in e.verdict and attribute in e.verdict


def test_verdict_of_an_add_names_the_unobserved_input_and_its_reason() -> None:
    e = run_of("AddUnobserved").explain("z.1")
    assert "%w.1 (no_quantizable_use)" in e.verdict
    assert "%y.1" not in e.verdict.split("and", 1)[1]


def test_verdict_at_the_call_site_names_the_caller_value() -> None:
    e = run_of("ConvRelu").explain("input.1", module="conv")
    assert "%x.1 in <top>.forward" in e.verdict


def _dynamic_explain(
    model: str, value: str | Op, module: str = "", qconfig: str = "dynamic", method: str = "forward"
) -> Explanation:
    name = user_name(scripted_model(model), module, method, value)
    return run_of(model, qconfig).explain(name, module=module, method=method)


def test_dynamic_verdict_of_a_conv_input_names_the_op_and_what_is_observed_instead() -> None:
    e = _dynamic_explain("ConvRelu", "x.1")
    assert "%input.1 in conv._conv_forward, which is input 0 of aten::conv2d" in e.verdict
    assert "aten::conv2d is not dynamically quantizable" in e.verdict
    assert "observes only the input and the weight of linear" in e.verdict
    assert "quantizable produces" not in e.verdict


def test_dynamic_verdict_of_a_linear_result_says_dynamic_observes_no_outputs() -> None:
    e = _dynamic_explain("LinearOnly", Op("prim::CallMethod"))
    assert "in fc.forward, which is the output of aten::linear" in e.verdict
    assert "dynamic quantization no op's output" in e.verdict


def test_dynamic_verdict_of_a_linear_relu_output_names_what_it_passes_on() -> None:
    e = _dynamic_explain("LinearRelu", Op("prim::CallFunction"))
    assert e.verdict.split(" passes on ", 1)[1].startswith(
        "%h.1, which is the output of aten::linear"
    )


def test_dynamic_verdict_without_a_static_reason_does_not_cite_the_producer_check() -> None:
    e = _dynamic_explain("AddUnobserved", "w.1")
    assert e.verdict.startswith(
        "Dynamic quantization observes only the input and the weight of linear"
    )
    assert "aten::add" in e.verdict and "quantizable produces" not in e.verdict


def test_dynamic_verdict_at_a_shared_callee_says_which_call_site() -> None:
    e = _dynamic_explain("SharedRelu", "input.1", module="relu")
    assert "at one of its 2 call sites" in e.verdict


def test_fp16_verdict_says_why_a_conv_weight_counts_as_an_activation() -> None:
    e = _dynamic_explain("ConvRelu", "weight", module="conv", qconfig="fp16")
    assert "float16 activation observer" in e.verdict
    assert "not the weight of a conv or linear in this graph" in e.verdict
    assert "used by conv._conv_forward()" in e.verdict
    inside = _dynamic_explain(
        "ConvRelu", "weight.1", module="conv", qconfig="fp16", method="_conv_forward"
    )
    assert inside.verdict.endswith(
        "dynamic quantization observes only the weight of linear "
        "(no activations, under a float16 activation observer)."
    )


def test_dynamic_trail_names_the_static_clause_and_the_value_it_applies_to() -> None:
    inside = _dynamic_explain("ConvRelu", "input.1", module="conv", method="_conv_forward")
    outcomes = {s.rule: s.outcome for s in inside.trail}
    assert outcomes["nodeQuantizable || isPropagateQuantOp"] == "skipped: static quantization only"
    assert outcomes["useQuantizable"] == (
        "false (dynamic quantization: linear only; static would observe input 0 of aten::conv2d)"
    )
    outside = _dynamic_explain("ConvRelu", "x.1")
    origin = [
        s
        for s in outside.trail
        if s.rule == "valueNeedsToBeQuantized"
        and dict(s.inputs)["value"] == "%input.1 in conv._conv_forward"
    ]
    assert origin and origin[0].outcome.endswith("static would observe input 0 of aten::conv2d")


def test_shared_graph_says_who_decided() -> None:
    run = run_of("case:two_blocks_same_qconfig_static")
    e = run.explain("x.1", module="b1")
    assert any("b0" in note for note in e.notes)
    assert not run.explain("x.1", module="b0").notes


# ---------------------------------------------------------------------------- naming


def test_names_with_and_without_percent_and_as_printed_refs() -> None:
    run = run_of("ConvRelu")
    e = run.explain("%y.1")
    assert run.explain("y.1").value == e.value
    assert run.explain("<top>:forward:%y.1").value == e.value
    assert run.explain(e.value).value == e.value
    assert run.explain("input.1", module="conv", method="_conv_forward").value.name == "input.1"


def test_names_after_insertion_map_observer_outputs_back() -> None:
    run = run_of("ConvRelu")
    graph = run.module.graph
    observer_calls = [
        n
        for n in graph.nodes()
        if n.kind() == "prim::CallMethod"
        and n.inputsAt(0).node().s("name").startswith("_observer_")
    ]
    for node in observer_calls:
        observed = node.inputsAt(1)
        by_output = run.explain(node.outputsAt(0).debugName(), names="observed")
        by_input = run.explain(observed.debugName(), names="observed")
        assert by_output.value == by_input.value
        assert by_output.observed


def test_torch_values_of_the_observed_module() -> None:
    run = run_of("ConvRelu")
    conv2d = next(
        n
        for n in run.module.conv._c._get_method("_conv_forward").graph.nodes()
        if n.kind() == "aten::conv2d"
    )
    e = run.explain(conv2d.outputsAt(0), module="conv")
    assert e.value.graph.method == "_conv_forward" and e.reason == "delayed"


def test_default_method_falls_back_to_other_methods() -> None:
    e = run_of("ConvRelu").explain("bias.1", module="conv")
    assert e.value.graph.method == "_conv_forward"


def test_unknown_name_lists_the_closest() -> None:
    with pytest.raises(obsviz.ObsvizError, match=r"%y\.1") as err:
        run_of("ConvRelu").explain("y.2")
    assert "<top>" in str(err.value)


def test_unknown_module_lists_the_closest_paths() -> None:
    with pytest.raises(obsviz.ObsvizError, match="'conv'"):
        run_of("ConvRelu").explain("x.1", module="cnv")


def test_unknown_method_lists_the_reached_methods() -> None:
    with pytest.raises(obsviz.ObsvizError, match="_conv_forward"):
        run_of("ConvRelu").explain("x.1", module="conv", method="backward")


def test_a_run_without_events_cannot_explain() -> None:
    run = obsviz.insert_observers(scripted_model("ConvRelu"), STATIC, record=False)
    with pytest.raises(obsviz.ObsvizError, match="record=True"):
        run.explain("x.1")


# ---------------------------------------------------------------------------- display


def test_plain_text_has_verdict_related_and_trail() -> None:
    text = str(run_of("ConvRelu").explain("y.1"))
    lines = text.splitlines()
    assert lines[0].startswith("<top>:forward:%y.1")
    assert lines[1].startswith("not observed [delayed]: The nn_conv2d_nn_relu")
    assert "observed_instead" in text and "trail:" in text


def test_html_escapes_model_strings() -> None:
    e = Explanation(
        value=run_of("ConvRelu").explain("y.1").value,
        observed=False,
        reason="delayed",
        verdict="<script>alert(1)</script>",
        trail=(TrailStep("r<", (("a", "<marquee>"),), "&", 1),),
        related={"x<": run_of("ConvRelu").explain("z.1").value},
        notes=("<blink>",),
    )
    page = e._repr_html_()
    for tag in ("<script>", "<marquee>", "<blink>", "r<", "x<"):
        assert tag not in page
    assert html.escape("<script>alert(1)</script>") in page and "&amp;" in page


# ---------------------------------------------------------------------------- diff


@functools.cache
def _resnet_runs() -> tuple[obsviz.Run, obsviz.Run]:
    model = obsviz.samples.load("resnet_small")
    return (
        obsviz.insert_observers(model, STATIC),
        obsviz.insert_observers(model, {"": default_qconfig, "layer4": None}),
    )


def test_diff_of_a_stage_set_to_none() -> None:
    base, without = _resnet_runs()
    diff = base.diff(without)
    removed = [e for e in diff if e.change == "removed"]
    added = [e for e in diff if e.change == "added"]
    assert removed and all(e.module_path.startswith("layer4") for e in removed)
    assert all(e.other.reason == "no_qconfig" and e.this.observed for e in removed)
    # flatten passed layer4's observed output on; without it fc's input needs an observer
    assert [(e.module_path, e.value) for e in added] == [("", "x.29")]
    assert added[0].this.reason == "pass_through" and added[0].other.reason == "observed_here"
    assert len(without.diff(base)) == len(diff)
    assert list(diff.to_frame().columns[:4]) == ["module_path", "method", "value", "change"]
    assert "removed" in str(diff) and "<table>" in diff._repr_html_()


def test_diff_of_equal_runs_is_empty() -> None:
    base, _ = _resnet_runs()
    assert len(base.diff(obsviz.insert_observers(obsviz.samples.load("resnet_small"), STATIC))) == 0
