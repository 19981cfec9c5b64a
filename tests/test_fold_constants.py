"""fold_constant_branches: the real pass fails on each shape of tests/corpus/fold.py, the
fold the diagnosis offers makes both passes succeed with the same observers, and the
folded model computes what the original computes; what must not fold does not."""

from __future__ import annotations

import inspect

import pytest
import torch
from torch.ao.quantization import default_dynamic_qconfig, default_qconfig

import obsviz
from obsviz import ArgumentFold
from obsviz.__main__ import main
from obsviz.placement import observer_placement

from .corpus import (
    CASES,
    IF_INCONSISTENT_MSG,
    Case,
    IfInconsistentZeros,
    real_pass,
    script,
)
from .corpus import fold as cf

FOLD_CASES = [
    c
    for c in CASES
    if "fold_constants" in c.tags
    and not c.name.endswith("_folded")
    and "calls_disagree" not in c.name
]

# What each shape's diagnosis must offer, read off the model's source
OFFERED = {
    "fold_forward_head_default_dynamic": (
        ("training",),
        (ArgumentFold("<top>.forward_head", "pre_logits", False),),
        "every caller of <top>.forward_head passes pre_logits=False",
    ),
    "fold_need_weights_explicit_static": (
        ("training",),
        (ArgumentFold("attn.forward", "need_weights", False),),
        "every caller of attn.forward passes need_weights=False",
    ),
    "fold_float_attribute_static": (("drop_rate",), (), "the branch depends on self.drop_rate"),
    "fold_optional_none_static": (
        ("training",),
        (ArgumentFold("block.forward", "mask", None),),
        "every caller of block.forward passes mask=None",
    ),
    "fold_two_levels_dynamic": (
        ("training",),
        (ArgumentFold("stage.head.forward", "use_fc", True),),
        "every caller of stage.head.forward passes use_fc=True",
    ),
    "fold_function_argument_dynamic": (
        ("training",),
        (ArgumentFold("pick", "return_features", False),),
        "<top>.forward passes return_features=False to function pick",
    ),
}


def _qconfig_dict(quant_type: str) -> dict:
    return {"": default_dynamic_qconfig if quant_type == "dynamic" else default_qconfig}


def _scripted(cls: type[torch.nn.Module]) -> torch.jit.ScriptModule:
    torch.manual_seed(0)
    return torch.jit.script(cls().eval())


def _diagnosis(model: torch.jit.ScriptModule, quant_type: str) -> obsviz.Diagnosis:
    with pytest.raises(obsviz.PassFailure) as failure:
        obsviz.insert_observers(model, _qconfig_dict(quant_type), quant_type=quant_type)
    return failure.value.diagnosis


def _real_fails(model: torch.jit.ScriptModule, quant_type: str) -> None:
    with pytest.raises(RuntimeError, match=IF_INCONSISTENT_MSG):
        real_pass(model, _qconfig_dict(quant_type), quant_type)


def _both_passes_agree(model: torch.jit.ScriptModule, quant_type: str) -> None:
    qconfig_dict = _qconfig_dict(quant_type)
    real = observer_placement(real_pass(model, qconfig_dict, quant_type))
    mine = observer_placement(
        obsviz.insert_observers(model, qconfig_dict, quant_type=quant_type).module
    )
    assert real and mine == real


def _same(expected: object, got: object) -> bool:
    if isinstance(expected, tuple):
        return isinstance(got, tuple) and all(map(_same, expected, got))
    if isinstance(expected, torch.Tensor):
        return isinstance(got, torch.Tensor) and torch.equal(expected, got)
    return expected == got


def assert_same_outputs(
    model: torch.jit.ScriptModule, folded: torch.jit.ScriptModule, *inputs: torch.Tensor
) -> None:
    torch.manual_seed(1)
    expected = model(*inputs)
    torch.manual_seed(1)
    assert _same(expected, folded(*inputs))


def _code(model: torch.jit.ScriptModule) -> list[str]:
    """Every method's graph of every module, to see that a fold leaves the model alone."""
    return [
        str(module._c._get_method(name).graph)
        for module in model.modules()
        for name in module._c._method_names()
    ]


def _line(cls: type, text: str) -> str:
    """``file:line`` of the line of ``cls``'s source holding ``text``."""
    lines, first = inspect.getsourcelines(cls)
    index = next(i for i, line in enumerate(lines) if text in line)
    return f"{inspect.getsourcefile(cls)}:{first + index}"


@pytest.mark.parametrize("c", FOLD_CASES, ids=[c.name for c in FOLD_CASES])
def test_the_fold_the_diagnosis_offers_makes_both_passes_agree(c: Case) -> None:
    model = script(c)
    _real_fails(model, c.quant_type)
    diagnosis = _diagnosis(model, c.quant_type)
    attributes, arguments, fact = OFFERED[c.name]
    assert (diagnosis.fold_attributes, diagnosis.fold_arguments) == (attributes, arguments)
    assert fact in diagnosis.fix and "obsviz.fold_constant_branches(model" in diagnosis.fix
    before = _code(model)
    folded = obsviz.fold_constant_branches(model, attributes=diagnosis.fold_attributes)
    assert _code(model) == before
    _both_passes_agree(folded, c.quant_type)
    assert_same_outputs(model, folded, *c.example_inputs())


def test_calls_that_disagree_are_named_and_nothing_folds() -> None:
    model = _scripted(cf.TwoHeads)
    _real_fails(model, "dynamic")
    diagnosis = _diagnosis(model, "dynamic")
    assert (diagnosis.fold_attributes, diagnosis.fold_arguments) == ((), ())
    assert diagnosis.fix.startswith(
        "the branch depends on argument use_fc of first.forward, "
        "which cannot be folded: its callers pass use_fc "
        "differently: "
    )
    line = _line(cf.TwoHeads, "self.first(x, True)")
    assert f"<top>.forward passes True to first.forward at {line}" in diagnosis.fix
    assert f"<top>.forward passes False to second.forward at {line}" in diagnosis.fix
    folded = obsviz.fold_constant_branches(model)
    assert "prim::If" in str(folded.first.graph)
    _real_fails(folded, "dynamic")
    assert_same_outputs(model, folded, torch.randn(2, 8))


def test_an_argument_computed_at_run_time_is_not_folded() -> None:
    model = _scripted(cf.ComputedFlag)
    diagnosis = _diagnosis(model, "dynamic")
    assert diagnosis.fold_arguments == () and diagnosis.fold_attributes == ()
    line = _line(cf.ComputedFlag, "self.head(x, bool(")
    assert (
        "which cannot be folded: <top>.forward passes a value that is not a constant to "
        f"head.forward at {line}"
    ) in diagnosis.fix
    folded = obsviz.fold_constant_branches(model)
    assert "prim::If" in str(folded.head.graph)
    for sign in (1.0, -1.0):
        assert_same_outputs(model, folded, sign * torch.ones(2, 8))


def test_an_input_of_the_model_is_not_offered_to_fold() -> None:
    model = _scripted(IfInconsistentZeros)
    diagnosis = _diagnosis(model, "static")
    assert diagnosis.fold_arguments == () and diagnosis.fold_attributes == ()
    assert diagnosis.fix.startswith(
        "the branch depends on flag, an input of <top>.forward, "
        "which cannot be folded: flag is the model's input"
    )


def test_a_call_inside_a_fork_counts_as_a_call() -> None:
    model = _scripted(cf.ForkedHeads)
    folded = obsviz.fold_constant_branches(model)
    assert "prim::If" in str(folded.head.graph)
    assert_same_outputs(model, folded, torch.randn(2, 8))


def test_training_handed_to_a_method_folds_only_with_the_arguments() -> None:
    model = _scripted(cf.TrainingFlag)
    _real_fails(model, "dynamic")
    diagnosis = _diagnosis(model, "dynamic")
    assert diagnosis.fold_attributes == ("training",)
    assert diagnosis.fold_arguments == (ArgumentFold("head.forward", "use_fc", False),)
    attributes_only = obsviz.fold_attribute_branches(model)
    assert "prim::If" in str(attributes_only.head.graph)
    _real_fails(attributes_only, "dynamic")
    folded = obsviz.fold_constant_branches(model)
    assert "prim::If" not in str(folded.head.graph)
    _both_passes_agree(folded, "dynamic")
    assert_same_outputs(model, folded, torch.randn(2, 8))
    assert_same_outputs(model, attributes_only, torch.randn(2, 8))


def test_an_explanation_in_a_folded_method_mentions_the_fold(tmp_path) -> None:
    model = _scripted(cf.ForwardHeadDefault)
    folded = obsviz.fold_constant_branches(model)
    qconfig_dict = _qconfig_dict("dynamic")
    run = obsviz.insert_observers(folded, qconfig_dict, quant_type="dynamic")
    head = run.explain(_flattened(folded), method="forward_head")
    assert any(
        "fold_constant_branches" in note and "pre_logits=False" in note for note in head.notes
    ), head.notes
    features = run.explain("x.1", method="forward_features")
    assert not any("fold" in note for note in features.notes)
    path = tmp_path / "folded.pt"
    torch.jit.save(folded, str(path))
    prepared = obsviz.prepare_dynamic_jit(obsviz.load(str(path)), qconfig_dict)
    run = prepared._obsviz_run
    notes = run.explain(_flattened(run.original), method="forward_head").notes
    assert any("pre_logits=False" in note for note in notes), notes


def _flattened(model: torch.jit.ScriptModule) -> str:
    """The name of the pooled value in ``forward_head`` (loading renames values)."""
    return next(
        node.output().debugName()
        for node in model.forward_head.graph.nodes()
        if node.kind() == "aten::flatten"
    )


def test_bad_input_is_refused_with_a_message() -> None:
    with pytest.raises(obsviz.ObsvizError, match=r"torch.jit.script"):
        obsviz.fold_constant_branches(cf.TwoLevels())
    model = _scripted(cf.TwoLevels)
    with pytest.raises(obsviz.ObsvizError, match="no method 'predict'"):
        obsviz.fold_constant_branches(model, method_name="predict")
    with pytest.raises(obsviz.ObsvizError, match="no module of the model has an attribute"):
        obsviz.fold_constant_branches(model, attributes=("drop_rate",))


def test_the_command_line_offers_and_applies_the_fold(tmp_path, capsys) -> None:
    model = _scripted(cf.ForwardHeadDefault)
    path = tmp_path / "head.pt"
    torch.jit.save(model, str(path))
    argv = ["summary", str(path), "--qconfig", "dynamic", "--no-fold"]
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert "every caller of <top>.forward_head passes pre_logits=False" in out
    assert "On the command line, that fold is: --fold-constants\n" in out
    assert main([*argv, "--fold-constants"]) == 0
    out = capsys.readouterr().out
    real = real_pass(obsviz.fold_constant_branches(model), _qconfig_dict("dynamic"), "dynamic")
    assert f"obsviz Run: {len(observer_placement(real))} observers" in out


def test_the_explorer_button_folds_the_argument_and_its_code_does_the_same() -> None:
    model = _scripted(cf.ForwardHeadDefault)
    explorer = obsviz.Explorer(model, _qconfig_dict("dynamic"), quant_type="dynamic")
    assert explorer.run.failure is not None
    button = explorer.fold_button
    assert button.description == "Fold self.training, pre_logits=False and run again"
    button.click()
    assert explorer.run.failure is None and explorer.errors == []
    assert button.layout.display == "none"
    code = explorer.code()
    assert "model = obsviz.fold_constant_branches(model)\n" in code
    namespace = {"model": model}
    exec(code, namespace)  # the code reproduces the run the Explorer shows
    assert namespace["run"].placement() == explorer.run.placement()
    real = real_pass(obsviz.fold_constant_branches(model), _qconfig_dict("dynamic"), "dynamic")
    assert explorer.run.placement() == observer_placement(real)


def test_a_fold_that_leaves_the_branch_is_not_offered() -> None:
    model = _scripted(cf.EitherNet)
    _real_fails(model, "dynamic")
    diagnosis = _diagnosis(model, "dynamic")
    assert diagnosis.fold_arguments == () and diagnosis.fold_attributes == ()
    assert (
        "every caller of head.forward passes use_fc=False, but folding that leaves the "
        "branch" in diagnosis.fix
    )
    folded = obsviz.fold_constant_branches(model)
    _real_fails(folded, "dynamic")
    for sign in (1.0, -1.0):
        assert_same_outputs(model, folded, sign * torch.ones(2, 8))


def test_the_copy_shares_parameters_but_not_buffers_or_graphs() -> None:
    torch.manual_seed(0)
    model = torch.jit.script(
        torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4)).train()
    )
    conv, bn = getattr(model, "0"), getattr(model, "1")
    folded = obsviz.fold_constant_branches(model)
    folded_bn = getattr(folded, "1")
    assert getattr(folded, "0").weight is conv.weight
    assert "prim::If" in str(bn.graph) and "prim::If" not in str(folded_bn.graph)
    assert not model._c.hasattr("_obsviz_folds")
    # training is folded to True: each model updates its own running statistics
    assert_same_outputs(model, folded, torch.randn(2, 3, 8, 8))
    running_mean = bn.running_mean.clone()
    assert torch.equal(folded_bn.running_mean, running_mean)
    folded(torch.randn(2, 3, 8, 8))
    assert not torch.equal(folded_bn.running_mean, running_mean)
    assert torch.equal(bn.running_mean, running_mean)
