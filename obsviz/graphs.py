"""Small helpers over TorchScript graphs shared by the engine and the views."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import torch

from .refs import InstanceKey, join_path
from .rules import get_func_name

Block = torch._C.Block
Graph = torch._C.Graph
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


OBSERVER_PREFIX = "_observer_"
"""The attribute names the pass gives the observers it inserts: ``_observer_<n>``."""


def is_observer_name(name: str) -> bool:
    return name.startswith(OBSERVER_PREFIX)


def is_observer_getattr(node: Node) -> bool:
    """``self._observer_<n>``: reading an observer the pass inserted."""
    return node.kind() == "prim::GetAttr" and is_observer_name(node.s("name"))


def is_observer_call(node: Node) -> bool:
    """``self._observer_<n>(value)``: a call of an observer the pass inserted."""
    return node.kind() == "prim::CallMethod" and is_observer_getattr(node.inputsAt(0).node())


def observed_by(graph: torch._C.Graph, attribute: str) -> Value:
    """The value the observer ``self.<attribute>`` is called on in ``graph``."""
    for node in graph.findAllNodes("prim::GetAttr"):
        if node.s("name") == attribute:
            for use in node.output().uses():
                if use.user.kind() == "prim::CallMethod":
                    return use.user.inputsAt(1)
    raise ValueError(f"no call of self.{attribute} in the graph")


def access_path(value: Value) -> tuple[list[str], Value]:
    """``getModuleAccessPath``'s walk: the attribute names from the root of a chain of
    ``prim::GetAttr`` to ``value`` (outermost first), and that root value."""
    names: list[str] = []
    while value.node().kind() == "prim::GetAttr":
        names.append(value.node().s("name"))
        value = value.node().inputsAt(0)
    names.reverse()
    return names, value


def submodule(module: torch._C.ScriptModule, names: Sequence[str]) -> torch._C.ScriptModule | None:
    """The instance ``module.a.b`` for ``names`` ``["a", "b"]``, as ``getInvokedModuleOpt``
    follows an access path; None when a link is not a module."""
    for name in names:
        module = module.getattr(name)
        if not isinstance(module, torch._C.ScriptModule):
            return None
    return module


def is_own_observer(names: Sequence[str]) -> bool:
    """Whether the access path ``self.<names>`` of a call is an observer the pass inserted
    on ``self`` (``self._observer_<n>``)."""
    return len(names) == 1 and is_observer_name(names[0])


def called_submodule(
    call: Node, self_value: Value, module: torch._C.ScriptModule
) -> tuple[torch._C.ScriptModule, list[str]] | None:
    """The submodule a ``prim::CallMethod`` of ``module``'s graph (whose ``self`` is
    ``self_value``) calls as ``self.a.b``, and its attribute names; None when the call is
    on anything else (an inserted observer, an object not reached from self)."""
    names, root = access_path(call.inputsAt(0))
    if root.unique() != self_value.unique() or is_own_observer(names):
        return None
    target = submodule(module, names)
    return (target, names) if target is not None else None


class MethodCall(NamedTuple):
    """A ``prim::CallMethod`` on ``self`` or a submodule reached as ``self.a.b``."""

    path: str  # the instance whose method's graph makes the call ("" = top)
    method: str
    module: torch._C.ScriptModule  # that instance
    graph: Graph
    node: Node
    callee: InstanceKey | None  # the instance and method called; None for an observer


def method_calls(root: torch._C.ScriptModule, method: str) -> Iterator[MethodCall]:
    """Every call of an observer or a submodule's method reached from ``method`` of
    ``root``, each (instance, method) walked once, callers before callees, every graph in
    node order (nested blocks included)."""
    seen: set[tuple[str, str]] = set()

    def visit(module: torch._C.ScriptModule, path: str, name: str) -> Iterator[MethodCall]:
        if (path, name) in seen:
            return
        seen.add((path, name))
        graph = module._get_method(name).graph
        self_unique = next(graph.inputs()).unique()
        for node in walk_nodes(graph.block()):
            if node.kind() != "prim::CallMethod":
                continue
            names, instance = access_path(node.inputsAt(0))
            if instance.unique() != self_unique:
                continue
            if is_own_observer(names):
                yield MethodCall(path, name, module, graph, node, None)
                continue
            target = submodule(module, names)
            if target is not None:
                callee = InstanceKey(join_path(path, names), node.s("name"))
                yield MethodCall(path, name, module, graph, node, callee)
                yield from visit(target, *callee)

    yield from visit(root, "", method)


def observer_calls(root: torch._C.ScriptModule, method: str) -> Iterator[MethodCall]:
    """The calls of :func:`method_calls` that call an observer."""
    return (call for call in method_calls(root, method) if call.callee is None)


def producer_positions(block: Block) -> tuple[dict[int, str], dict[int, str]]:
    """For each value of ``block`` (nested blocks included), by ``unique()``: its place
    among the graph's own nodes, which observers do not shift (``"input<i>"``, or
    ``"<node index>:<output offset>"`` with ``"<node index>.<block>."`` before it inside
    a nested block), and the kind of the node producing it (``"input"`` for inputs)."""
    positions: dict[int, str] = {}
    kinds: dict[int, str] = {}

    def visit(block: Block, prefix: str) -> None:
        for i, v in enumerate(block.inputs()):
            positions[v.unique()] = f"{prefix}input{i}"
            kinds[v.unique()] = "input"
        index = 0
        for node in block.nodes():
            if is_observer_getattr(node) or is_observer_call(node):
                continue
            for v in node.outputs():
                positions[v.unique()] = f"{prefix}{index}:{v.offset()}"
                kinds[v.unique()] = node.kind()
            for b, sub in enumerate(node.blocks()):
                visit(sub, f"{prefix}{index}.{b}.")
            index += 1

    visit(block, "")
    return positions, kinds


_SOURCE_RANGE = re.compile(r'File "([^"]+)", line (\d+)')


def source_line(n: Node) -> str | None:
    """``file:line`` of the Python source a node came from, when torch kept it."""
    match = _SOURCE_RANGE.search(n.sourceRange())
    return f"{match.group(1)}:{match.group(2)}" if match else None


def producer_summary(v: Value) -> str:
    node = v.node()
    if node.kind() == "prim::GetAttr":
        return (
            f"self.{node.s('name')}"
            if node.inputsAt(0).debugName() == "self"
            else f"prim::GetAttr[{node.s('name')}]"
        )
    return node.kind()


def is_method_graph(graph: Graph) -> bool:
    """A method's graph takes ``self`` first; a function's takes no object."""
    first = next(graph.inputs(), None)
    return first is not None and first.type().kind() == "ClassType"


@dataclass(frozen=True)
class Sources:
    """What a value is computed from: the ``self`` attributes it reads, the inputs of the
    method it reaches (those of the entry method are the model's inputs), and the
    constants that calls of functions on the way pass in."""

    attributes: tuple[str, ...]
    method: str | None  # the method whose inputs it reaches; None for the entry method
    parameters: tuple[tuple[int, str], ...]  # (position among the graph's inputs, name)
    # (function, its argument, the constant the call passes), innermost call first
    constants: tuple[tuple[str, str, object], ...] = ()


def sources_behind(
    value: Value, graph: Graph, call_stack: Sequence[tuple[Node, Graph, int]] = ()
) -> Sources:
    """What ``value`` of ``graph`` is computed from.

    In a method's graph that is where the walk ends. In a function's graph, the function's
    parameters it reaches are followed to the arguments of the call in ``call_stack``
    (outermost first: the call node, the caller's graph, and the position of the callee's
    first parameter among the node's inputs), and so on out to the calling method, whose
    name is that of the call into it (``call_stack`` holds method calls too).
    """
    names: set[str] = set()
    constants: list[tuple[str, str, object]] = []
    frames = list(call_stack)
    values = [value]
    while True:
        is_method = is_method_graph(graph)
        self_unique = next(graph.inputs()).unique() if is_method else None
        found, parameters = _walk_back(values, graph, self_unique)
        names.update(found)
        if is_method or not parameters or not frames:
            break
        inputs = list(graph.inputs())
        call, graph, offset = frames.pop()
        values = [call.inputsAt(index + offset) for index in sorted(parameters)]
        constants += [
            (get_func_name(call.inputsAt(0)), argument_name(inputs[index]), passed.toIValue())
            for index, passed in zip(sorted(parameters), values, strict=True)
            if passed.node().kind() == "prim::Constant"
        ]
    method = frames[-1][0].s("name") if is_method and frames else None
    inputs = list(graph.inputs())
    reached = tuple(
        (index, argument_name(inputs[index]))
        for index in sorted(parameters)
        if is_method and index > 0
    )  # self is no argument
    return Sources(tuple(sorted(names)), method, reached, tuple(constants))


def parameters_behind(values: Sequence[Value], graph: Graph) -> set[int]:
    """Positions of ``graph``'s inputs that ``values`` are computed from."""
    return _walk_back(list(values), graph, None)[1]


def argument_name(value: Value) -> str:
    """An input's name as written in the source: ``pre_logits.1`` -> ``pre_logits``."""
    return _NAME_SUFFIX.sub("", value.debugName())


_NAME_SUFFIX = re.compile(r"\.\d+$")


def _walk_back(
    values: list[Value], graph: Graph, self_unique: int | None
) -> tuple[set[str], set[int]]:
    """(attributes of self read, indices of ``graph``'s inputs reached) behind ``values``."""
    input_index = {v.unique(): index for index, v in enumerate(graph.inputs())}
    names: set[str] = set()
    parameters: set[int] = set()
    stack, seen = list(values), set()
    while stack:
        v = stack.pop()
        if v.unique() in seen:
            continue
        seen.add(v.unique())
        node = v.node()
        if node.kind() == "prim::GetAttr" and node.inputsAt(0).unique() == self_unique:
            names.add(node.s("name"))
            continue
        if v.unique() in input_index:
            parameters.add(input_index[v.unique()])
            continue
        stack.extend(node.inputs())
        for block in node.blocks():
            stack.extend(block.outputs())
    return names, parameters
