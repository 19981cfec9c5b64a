"""Small helpers over TorchScript graphs shared by the engine and the views."""

from __future__ import annotations

import re
from collections.abc import Iterator

import torch

Block = torch._C.Block
Node = torch._C.Node
Value = torch._C.Value

# Node kinds that own blocks (prim::fork keeps its body in a subgraph attribute).
BLOCK_KINDS = frozenset({"prim::If", "prim::Loop", "prim::With", "prim::Closure"})


def walk_nodes(block: Block) -> Iterator[Node]:
    """Every node of a block and of its nested blocks, in order."""
    for node in block.nodes():
        yield node
        for sub in node.blocks():
            yield from walk_nodes(sub)


def access_path(value: Value) -> tuple[list[str], Value]:
    """``getModuleAccessPath``'s walk: the attribute names from the root of a chain of
    ``prim::GetAttr`` to ``value`` (outermost first), and that root value."""
    names: list[str] = []
    while value.node().kind() == "prim::GetAttr":
        names.append(value.node().s("name"))
        value = value.node().inputsAt(0)
    names.reverse()
    return names, value


_SOURCE_RANGE = re.compile(r'File "([^"]+)", line (\d+)')


def source_line(n: Node) -> str | None:
    """``file:line`` of the Python source a node came from, when torch kept it."""
    match = _SOURCE_RANGE.search(n.sourceRange())
    return f"{match.group(1)}:{match.group(2)}" if match else None


def producer_summary(v: Value) -> str:
    node = v.node()
    if node.kind() == "prim::GetAttr":
        return f"self.{node.s('name')}" if node.inputsAt(0).debugName() == "self" else \
            f"prim::GetAttr[{node.s('name')}]"
    return node.kind()




def self_attributes_read(value: Value, self_unique: int) -> list[str]:
    """Names of ``self`` attributes that a value is computed from (in its graph)."""
    names: list[str] = []
    stack, seen = [value], set()
    while stack:
        v = stack.pop()
        if v.unique() in seen:
            continue
        seen.add(v.unique())
        node = v.node()
        if node.kind() == "prim::GetAttr" and node.inputsAt(0).unique() == self_unique:
            names.append(node.s("name"))
            continue
        stack.extend(node.inputs())
        for block in node.blocks():
            stack.extend(block.outputs())
    return sorted(set(names))
