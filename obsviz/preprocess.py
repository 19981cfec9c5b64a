"""``InsertObserversHelper::preprocess``: graph clean-ups that decide nothing.

Inlining fork/wait and fusing decomposed linear reuse torch's own passes. Torch has no
Python binding for ``replaceConvolutionWithAtenConv`` or for ``RemoveListMutation`` alone,
so those two are ported here.
"""

from __future__ import annotations

import torch

MUTABLE_KINDS = frozenset({"TensorType", "ListType", "DictType", "ClassType", "TupleType",
                           "OptionalType", "AnyType", "InterfaceType", "UnionType"})


def preprocess_graph(graph: torch._C.Graph) -> None:
    """Inline fork/wait, fuse linear, turn ``aten::_convolution`` into convs, fold appends."""
    torch._C._jit_pass_inline_fork_wait(graph)
    torch._C._jit_pass_fuse_linear(graph)
    replace_convolution_with_aten_conv(graph)
    remove_list_mutation(graph.block())


def _int_list(v: torch._C.Value) -> list[int] | None:
    iv = v.toIValue() if v.node().kind() == "prim::Constant" else None
    return list(iv) if isinstance(iv, list | tuple) else None


def _bool(v: torch._C.Value) -> bool | None:
    iv = v.toIValue() if v.node().kind() == "prim::Constant" else None
    return iv if isinstance(iv, bool) else None


def _conv_replacement(node: torch._C.Node) -> str | None:
    """Which aten conv an ``aten::_convolution`` node is, by the C++ filters."""
    inputs = list(node.inputs())
    if len(inputs) not in (12, 13):
        return None
    stride, padding, dilation = (_int_list(v) for v in inputs[3:6])
    transposed, output_padding = _bool(inputs[6]), _int_list(inputs[7])
    benchmark, deterministic, cudnn = (_bool(v) for v in inputs[9:12])
    lists = (stride, padding, dilation, output_padding)
    if any(x is None for x in lists) or None in (transposed, benchmark, deterministic, cudnn):
        return None
    rank = len(stride)
    if any(len(x) != rank for x in lists) or benchmark or deterministic or not cudnn:
        return None
    if transposed:
        return {1: "aten::conv_transpose1d", 2: "aten::conv_transpose2d"}.get(rank)
    if any(output_padding):
        return None
    return {1: "aten::conv1d", 2: "aten::conv2d", 3: "aten::conv3d"}.get(rank)


def replace_convolution_with_aten_conv(graph: torch._C.Graph) -> None:
    """``graph_rewrite_helper::replaceConvolutionWithAtenConv``, constant propagation first."""
    torch._C._jit_pass_constant_propagation(graph)
    for node in graph.findAllNodes("aten::_convolution", True):
        kind = _conv_replacement(node)
        if kind is None:
            continue
        a, w, b, stride, padding, dilation, _, output_padding, groups = list(node.inputs())[:9]
        if kind.startswith("aten::conv_transpose"):
            args = [a, w, b, stride, padding, output_padding, groups, dilation]
        else:
            args = [a, w, b, stride, padding, dilation, groups]
        new = graph.create(kind, args, 1)
        new.insertBefore(node)
        new.output().copyMetadata(node.output())
        node.output().replaceAllUsesWith(new.output())
        node.destroy()


def _may_alias(v: torch._C.Value) -> bool:
    return v.type().kind() in MUTABLE_KINDS


# Nodes that alias analysis lets a fresh list move across; calls, control flow and
# anything else with side effects pin the list where it is.
_SIDE_EFFECT_KINDS = frozenset({"prim::CallMethod", "prim::CallFunction", "prim::If",
                                "prim::Loop", "prim::RaiseException", "prim::SetAttr",
                                "prim::Print", "prim::PythonOp", "aten::warn"})


def _can_move_down(nodes: list[torch._C.Node], construct: torch._C.Node,
                   append: torch._C.Node) -> bool:
    """``AliasDb::moveBeforeTopologicallyValid`` for a fresh list: nothing between the
    list and its append may have side effects."""
    start = next(i for i, n in enumerate(nodes) if n == construct)
    for node in nodes[start + 1:]:
        if node == append:
            return True
        if node.kind() in _SIDE_EFFECT_KINDS or list(node.blocks()):
            return False
    return False


def remove_list_mutation(block: torch._C.Block) -> None:
    """``MutationRemover::RemoveListMutation``: ``x = [..]; x.append(v)`` becomes ``x = [.., v]``.

    As in C++, only lists that hold no aliases (so ``[]`` or lists of scalars) are folded,
    and only when nothing reads the list between its creation and the append.
    """
    for node in list(block.nodes()):
        for sub in node.blocks():
            remove_list_mutation(sub)
        if node.kind() != "aten::append":
            continue
        mutated = node.inputsAt(0)
        construct = mutated.node()
        if construct.kind() != "prim::ListConstruct":
            continue
        if construct.owningBlock() != node.owningBlock():
            continue
        if any(_may_alias(i) for i in construct.inputs()):
            continue
        if any(use.user != node and not use.user.isAfter(node) for use in mutated.uses()):
            continue
        if not _can_move_down(list(block.nodes()), construct, node):
            continue
        appended = node.inputsAt(1)
        if appended.node().owningBlock() == block and appended.node().isAfter(construct):
            construct.moveBefore(node)
        construct.addInput(appended)
        node.output().replaceAllUsesWith(mutated)
        node.destroy()
