"""``InsertObserversHelper::preprocess``: graph clean-ups that decide nothing.

Inlining fork/wait and fusing decomposed linear reuse torch's own passes. Torch has no
Python binding for ``replaceConvolutionWithAtenConv`` or for ``RemoveListMutation`` alone,
so those two are ported here (the latter on top of torch's own ``AliasDb``).
"""

from __future__ import annotations

import torch


def preprocess_graph(graph: torch._C.Graph) -> None:
    """Inline fork/wait, fuse linear, turn ``aten::_convolution`` into convs, fold appends."""
    torch._C._jit_pass_inline_fork_wait(graph)
    torch._C._jit_pass_fuse_linear(graph)
    replace_convolution_with_aten_conv(graph)
    remove_list_mutation(graph)


def _int_list(v: torch._C.Value) -> list[int] | None:
    constant = v.toIValue() if v.node().kind() == "prim::Constant" else None
    return list(constant) if isinstance(constant, list | tuple) else None


def _bool(v: torch._C.Value) -> bool | None:
    constant = v.toIValue() if v.node().kind() == "prim::Constant" else None
    return constant if isinstance(constant, bool) else None


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


def remove_list_mutation(graph: torch._C.Graph) -> None:
    """``RemoveListMutation``: ``x = [..]; x.append(v)`` becomes ``x = [.., v]``.

    As in C++, one alias database is built for the whole graph before any rewrite. An
    ``append`` (or an ``insert`` at a constant index) on a fresh ``ListConstruct`` is
    folded into it when torch's ``moveBeforeTopologicallyValid`` can put the construct
    right before the mutation; that move also carries nodes in between that depend on the
    list past it, and fails across nodes with side effects (calls) or conflicting writes.
    A ``ListConstruct`` has no blocks or side effects, and ``hasSideEffectOrAlias`` skips
    the alias check of its inputs, so it always counts as a fresh list.
    """
    _remove_list_mutation(graph.block(), graph.alias_db())


def _list_mutation_following_list_construct(node: torch._C.Node) -> bool:
    kind = node.kind()
    if kind == "aten::insert":
        if node.inputsAt(1).node().kind() != "prim::Constant":
            return False
    elif kind != "aten::append":
        return False
    return node.inputsAt(0).node().kind() == "prim::ListConstruct"


def _remove_list_mutation(block: torch._C.Block, alias_db: torch._C.AliasDb) -> None:
    # C++ walks the block with an iterator taken before each rewrite; nodes moved past a
    # mutation were visited already, so walking a snapshot visits the same nodes.
    for node in list(block.nodes()):
        for sub in node.blocks():
            _remove_list_mutation(sub, alias_db)
        if not _list_mutation_following_list_construct(node):
            continue
        mutated = node.inputsAt(0)
        construct = mutated.node()
        if not alias_db.move_before_topologically_valid(construct, node):
            continue
        if node.kind() == "aten::append":
            construct.addInput(node.inputsAt(1))
        else:
            size = construct.inputsSize()
            position = int(node.inputsAt(1).toIValue())
            if position < 0:
                position = max(position + size, 0)
            position = min(position, size)
            _insert_input(construct, position, node.inputsAt(2))
        if node.outputsSize():
            node.output().replaceAllUsesWith(mutated)
        node.destroy()


def _insert_input(node: torch._C.Node, position: int, value: torch._C.Value) -> None:
    """``Node::insertInput``, which has no Python binding: re-add the inputs in order."""
    inputs = list(node.inputs())
    inputs.insert(position, value)
    node.removeAllInputs()
    for v in inputs:
        node.addInput(v)
