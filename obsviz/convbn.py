"""Conv-bn folding, the step ``prepare_jit`` takes before ``InsertObservers``.

``torch.ao.quantization.prepare_jit`` (and ``prepare_dynamic_jit``) first fold every
``BatchNorm`` whose input is a conv's output into that conv (``fuse_conv_bn_jit``), then
run the pass on the folded model. The folded graphs have fewer values, so the pass inserts
fewer observers than :func:`obsviz.insert_observers` does on the model as scripted; these
helpers say by how much.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

import torch
from torch.jit._recursive import wrap_cpp_module

from .errors import PassFailure
from .graphs import access_path, is_observer_call, walk_nodes
from .qconfig import named_modules
from .refs import join_path

if TYPE_CHECKING:
    from .run import Run

T = TypeVar("T")


def fold_conv_bn(model: torch.jit.ScriptModule) -> torch.jit.ScriptModule:
    """A copy of ``model`` with its conv-bn pairs folded, as ``prepare_jit`` does first
    (``torch._C._jit_pass_fold_convbn``); the model itself is not changed."""
    return wrap_cpp_module(torch._C._jit_pass_fold_convbn(model._c))


def _type_name(value: torch._C.Value) -> str:
    kind = value.type()
    return kind.qualified_name() if kind.kind() == "ClassType" else ""


def has_conv_bn_call(model: torch.jit.ScriptModule) -> bool:
    """Whether any graph calls a BatchNorm on a conv call's result: the shape folding looks
    for (cheap: each class type's methods are read once, nothing is folded)."""
    seen: set[str] = set()
    for _, module in named_modules(model._c):
        type_name = module._type().qualified_name()
        if type_name in seen:
            continue
        seen.add(type_name)
        for method in module._method_names():
            for node in walk_nodes(module._get_method(method).graph.block()):
                if (
                    node.kind() != "prim::CallMethod"
                    or node.inputsSize() < 2
                    or "BatchNorm" not in _type_name(node.inputsAt(0))
                ):
                    continue
                producer = node.inputsAt(1).node()
                if producer.kind() == "prim::CallMethod" and "Conv" in _type_name(
                    producer.inputsAt(0)
                ):
                    return True
    return False


def _module_calls(model: torch.jit.ScriptModule) -> Counter[str]:
    """How many times each submodule (by path) is called, over every method of every
    instance: the calls folding removes are the BatchNorm calls of folded pairs."""
    calls: Counter[str] = Counter()
    for path, module in named_modules(model._c):
        for method in module._method_names():
            graph = module._get_method(method).graph
            self_value = next(graph.inputs())
            for node in walk_nodes(graph.block()):
                if node.kind() != "prim::CallMethod":
                    continue
                names, root = access_path(node.inputsAt(0))
                if names and root.unique() == self_value.unique():
                    calls[join_path(path, names)] += 1
    return calls


def folded_batchnorms(
    model: torch.jit.ScriptModule, folded: torch.jit.ScriptModule | None = None
) -> list[str]:
    """The BatchNorm modules (by path) whose calls conv-bn folding removes, once per
    folded pair: empty when ``prepare_jit`` would fold nothing."""
    after = _module_calls(folded if folded is not None else fold_conv_bn(model))
    removed = _module_calls(model) - after
    return sorted(removed.elements())


@dataclass(frozen=True)
class PrepareJitCounts:
    """What ``prepare_jit`` does with a model the bare pass ran on: the conv-bn pairs it
    folds first (named by their BatchNorm), and the observers its pass then inserts (None
    when that pass fails)."""

    batchnorms: tuple[str, ...]
    observers: int | None

    @property
    def pairs(self) -> int:
        return len(self.batchnorms)

    def sentence(self) -> str:
        pairs = f"{self.pairs} conv-bn pair{'s' if self.pairs != 1 else ''}"
        if self.observers is None:
            return f"prepare_jit would fold {pairs} first, and its pass fails there too"
        return f"prepare_jit would fold {pairs} first and insert {self.observers} observers instead"


def _kept(run: Run, key: str, build: Callable[[], T]) -> T:
    if key not in run._views:
        run._views[key] = build()
    return run._views[key]


def _folded_model(run: Run) -> tuple[torch.jit.ScriptModule, list[str]] | None:
    """The run's model as prepare_jit folds it, and the BatchNorms folded; None when it
    folds nothing. Kept with the run."""

    def build() -> tuple[torch.jit.ScriptModule, list[str]] | None:
        model = run.original
        if model is None or run.entry_method != "forward" or not has_conv_bn_call(model):
            return None  # prepare_jit runs forward only, and folds only conv-bn calls
        folded = fold_conv_bn(model)
        batchnorms = folded_batchnorms(model, folded)
        return (folded, batchnorms) if batchnorms else None

    return _kept(run, "conv_bn_folded", build)


def prepare_jit_counts(run: Run) -> PrepareJitCounts | None:
    """For a run of the bare pass: what ``prepare_jit`` would fold and insert on the same
    model and qconfig_dict; None when it folds nothing (the two agree). Kept with the run."""
    return _kept(run, "prepare_jit", lambda: _prepare_jit_counts(run))


def _prepare_jit_counts(run: Run) -> PrepareJitCounts | None:
    from .api import insert_observers

    found = _folded_model(run)
    if found is None:
        return None
    folded, batchnorms = found
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the run itself already warned about the model
        try:
            observers = insert_observers(
                folded,
                run.qconfig_dict,
                method_name=run.method_name,
                quant_type=run.quant_type,
                record=False,
            ).observer_count
        except PassFailure:
            observers = None
    return PrepareJitCounts(tuple(batchnorms), observers)


def _class_name(value: torch._C.Value) -> str:
    return _type_name(value).rsplit(".", 1)[-1]


def _calls_through_observers(value: torch._C.Value) -> list[torch._C.Node]:
    """The method calls that use ``value``, looking through the observers the pass put
    between a conv and its BatchNorm."""
    calls = []
    for use in value.uses():
        node = use.user
        if is_observer_call(node):
            calls.extend(_calls_through_observers(node.output()))
        elif node.kind() == "prim::CallMethod":
            calls.append(node)
    return calls


def conv_bn_note(run: Run, path: str, value: torch._C.Value) -> str | None:
    """For a conv call's output that a BatchNorm call takes (in ``run.module``'s graph of
    instance ``path``), or that BatchNorm's output: the note that prepare_jit folds the
    pair first, when it does; None otherwise."""
    producer = value.node()
    if producer.kind() != "prim::CallMethod":
        return None
    if "Conv" in _class_name(producer.inputsAt(0)):
        batchnorms = [
            node
            for node in _calls_through_observers(value)
            if "BatchNorm" in _class_name(node.inputsAt(0))
        ]
        which = "the BatchNorm that takes it into this conv"
    elif "BatchNorm" in _class_name(producer.inputsAt(0)):
        batchnorms = [producer]
        which = "this BatchNorm into the conv that makes its input"
    else:
        return None
    found = _folded_model(run) if batchnorms else None
    if found is None:
        return None
    for node in batchnorms:
        names, _ = access_path(node.inputsAt(0))
        module = join_path(path, names)
        if module in found[1]:
            return (
                f"prepare_jit folds {which} ({module}) before the pass, so its run "
                "has no BatchNorm call here and its answer can differ: "
                "obsviz.prepare_jit(model, qconfig_dict)._obsviz_run, and the Explorer "
                "by default, explain that run."
            )
    return None
