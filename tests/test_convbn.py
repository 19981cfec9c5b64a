"""What prepare_jit does that the bare pass does not: fold conv-bn pairs first. The run's
summary, check() and explanations say so, with torch's prepare_jit as the oracle."""

from __future__ import annotations

import torch
from torch.ao.quantization import get_default_qconfig
from torch.ao.quantization.quantize_jit import prepare_jit

import obsviz

from .corpus import real_pass
from .observed_graphs import conv_bn_pairs_folded, observer_sites

STATIC = {"": get_default_qconfig("fbgemm")}


class ConvBnTwice(torch.nn.Module):
    """One foldable conv-bn pair, and one conv whose output is used besides its bn."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 3, 1)
        self.bn = torch.nn.BatchNorm2d(3)
        self.shared = torch.nn.Conv2d(3, 3, 1)
        self.shared_bn = torch.nn.BatchNorm2d(3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.shared(x)
        return self.bn(self.conv(x)) + self.shared_bn(y) + y


def test_the_run_summary_says_what_prepare_jit_does_instead() -> None:
    model = obsviz.samples.load("resnet_small")
    pairs = conv_bn_pairs_folded(model)
    observers = len(observer_sites(prepare_jit(model, STATIC)))
    run = obsviz.insert_observers(model, STATIC)
    assert pairs > 0 and observers != len(run.inserted)
    assert (
        f"prepare_jit would fold {pairs} conv-bn pairs first and insert {observers} "
        "observers instead"
    ) in str(run)
    assert f"obsviz Run: {len(observer_sites(real_pass(model, STATIC)))} observers" in str(run)
    assert "prepare_jit" not in repr(run)  # the cheap form never runs the pass again
    prepared = obsviz.prepare_jit(model, STATIC)._obsviz_run
    assert prepared.observer_count == observers
    assert "prepare_jit" not in str(prepared)  # nothing left to fold


def test_check_says_prepare_jit_folds_and_inserts_fewer() -> None:
    model = obsviz.samples.load("resnet_small")
    pairs = conv_bn_pairs_folded(model)
    observers = len(observer_sites(prepare_jit(model, STATIC)))
    bare = len(observer_sites(real_pass(model, STATIC)))
    [finding] = obsviz.check(model, STATIC).of_kind("conv_bn_fold")
    assert f"prepare_jit folds {pairs} conv-bn pairs" in finding.message
    assert (
        f"it inserts {observers} observers, not the {bare} of insert_observers" in finding.message
    )


def test_only_pairs_torch_folds_are_counted() -> None:
    model = torch.jit.script(ConvBnTwice().eval())
    pairs = conv_bn_pairs_folded(model)
    assert pairs == 1  # the shared conv's output has another use, so torch leaves it
    [finding] = obsviz.check(model, STATIC).of_kind("conv_bn_fold")
    assert "folds 1 conv-bn pair " in finding.message and "(BatchNorm bn)" in finding.message
    run = obsviz.insert_observers(model, STATIC)
    conv_out = next(
        n.output().debugName()
        for n in model.graph.nodes()
        if n.kind() == "prim::CallMethod"
        and "Conv2d" in n.inputsAt(0).type().str()
        and any(u.user.inputsAt(0).debugName() == "bn" for u in n.output().uses())
    )
    shared_out = next(
        n.output().debugName()
        for n in model.graph.nodes()
        if n.kind() == "prim::CallMethod" and n.inputsAt(0).debugName() == "shared"
    )
    assert any(
        "prepare_jit folds the BatchNorm that takes it into this conv (bn)" in note
        for note in run.explain(conv_out).notes
    )
    assert not any("prepare_jit" in note for note in run.explain(shared_out).notes)


def test_a_model_without_pairs_gets_no_note() -> None:
    model = obsviz.samples.load("transformer_encoder")
    run = obsviz.insert_observers(model, STATIC)
    assert "prepare_jit" not in str(run)
    assert not obsviz.check(model, STATIC).of_kind("conv_bn_fold")
