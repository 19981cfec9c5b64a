"""Torch's own pass, which the corpus is checked against.

:func:`real_pass` runs torch's ``InsertObservers``; the ``*_MSG`` strings are what it
raises; :func:`paths_walked` and :func:`count_observer_calls` read its result.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch.ao.quantization.quantize_jit import script_qconfig_dict
from torch.jit._recursive import wrap_cpp_module

from .case_record import QUANT_TYPES, Case, script

IF_INCONSISTENT_MSG = "branches for `if` should return values that are observed consistently"
LOOP_SHARED_TYPE_MSG = "Missing cases in 'toPyObject'"
SPLIT_BELOW_MSG = "is not compatible with the type"
ONE_OBSERVER_MSG = "Expecting all values in the graph only configured with one observer"
OBJECT_ARGUMENT_MSG = "We don't support quantizing methods that has Object as arguments"
MODULE_ACCESS_MSG = "Can't handle the access pattern of GetAttr"


def real_pass(
    model: torch.jit.ScriptModule,
    qconfig_dict: dict[str, Any],
    quant_type: str = "static",
    method_name: str = "forward",
) -> torch._C.ScriptModule:
    """Torch's InsertObservers (``_jit_pass_insert_observers``) on ``model`` as
    given, with no conv-bn folding. The result is left unwrapped, since wrapping the
    corrupt module the pass returns in some cases raises; ``wrap_cpp_module`` it to run it.
    """
    return torch._C._jit_pass_insert_observers(
        model._c, method_name, script_qconfig_dict(qconfig_dict), False, QUANT_TYPES[quant_type]
    )


def real_insert_observers(
    c: Case, module: torch.jit.ScriptModule | None = None
) -> torch.jit.ScriptModule:
    """Run the real C++ InsertObservers pass (no conv-bn folding) and wrap the result."""
    scripted = module if module is not None else script(c)
    return wrap_cpp_module(real_pass(scripted, c.qconfig_dict(), c.quant_type, c.method_name))


def _iter_blocks(block: torch._C.Block) -> Iterator[torch._C.Node]:
    for node in block.nodes():
        yield node
        for sub in node.blocks():
            yield from _iter_blocks(sub)


def _resolve_module(
    value: torch._C.Value,
    self_value: torch._C.Value,
    owner: torch.jit.ScriptModule,
    aliases: dict[torch._C.Value, torch._C.Value],
) -> torch.jit.ScriptModule | None:
    """Follow the GetAttr chain from ``value`` back to ``self`` (through fork aliases)."""
    path: list[str] = []
    while value is not self_value:
        if value in aliases:
            value = aliases[value]
            continue
        producer = value.node()
        if producer.kind() != "prim::GetAttr":
            return None
        path.append(producer.s("name"))
        value = producer.input()
    module = owner
    for name in reversed(path):
        module = getattr(module, name)
    # a TorchScript class object held as an attribute is no module: the pass skips it
    return module if isinstance(module, torch.jit.ScriptModule) else None


def _nodes_outside_loops(block: torch._C.Block) -> Iterator[torch._C.Node]:
    for node in block.nodes():
        yield node
        if node.kind() != "prim::Loop":
            for sub in node.blocks():
                yield from _nodes_outside_loops(sub)


def paths_walked(
    module: torch.jit.ScriptModule | torch._C.ScriptModule, method_name: str = "forward"
) -> set[str]:
    """Paths of the module instances the pass walks: those called from ``method_name``
    outside ``prim::Loop`` bodies (which it never enters), in an observed module (where
    fork/wait is inlined).

    Instances walked only through a loop keep whatever their class type's graph holds;
    with type sharing that includes observers inserted for other instances, without it
    nothing, so comparisons across the two leave them out.
    """
    root = module._c if isinstance(module, torch.jit.ScriptModule) else module
    seen: set[tuple[str, str]] = set()

    def visit(m: torch._C.ScriptModule, path: str, method: str) -> None:
        if (path, method) in seen:
            return
        seen.add((path, method))
        graph = m._get_method(method).graph
        self_value = next(graph.inputs())
        for node in _nodes_outside_loops(graph.block()):
            if node.kind() != "prim::CallMethod":
                continue
            names: list[str] = []
            value = node.inputsAt(0)
            while value.node().kind() == "prim::GetAttr":
                names.append(value.node().s("name"))
                value = value.node().inputsAt(0)
            if value.unique() != self_value.unique() or (
                names and names[0].startswith("_observer_")
            ):
                continue
            target: Any = m
            for name in reversed(names):
                target = target.getattr(name)
            if isinstance(target, torch._C.ScriptModule):
                sub = ".".join(reversed(names))
                visit(target, f"{path}.{sub}" if path and sub else path or sub, node.s("name"))

    visit(root, "", method_name)
    return {path for path, _ in seen}


def count_observer_calls(module: torch.jit.ScriptModule, method_name: str = "forward") -> int:
    """Count observer forward calls in every graph reachable from ``method_name``.

    An observer call is a ``prim::CallMethod`` whose first input is a ``prim::GetAttr`` of
    a name starting with ``_observer_``.  Each distinct (module type, method) graph is
    counted once, however many instances share it; ``prim::fork`` subgraphs are
    followed as well.
    """
    seen: set[str] = set()
    total = 0

    def visit(
        graph: torch._C.Graph,
        owner: torch.jit.ScriptModule,
        self_value: torch._C.Value,
        aliases: dict[torch._C.Value, torch._C.Value],
    ) -> None:
        nonlocal total
        for node in _iter_blocks(graph.block()):
            if node.kind() == "prim::CallMethod":
                target = node.inputsAt(0)
                producer = target.node()
                if producer.kind() == "prim::GetAttr" and producer.s("name").startswith(
                    "_observer_"
                ):
                    total += 1
                    continue
                sub = _resolve_module(target, self_value, owner, aliases)
                if sub is not None:
                    visit_method(sub, node.s("name"))
            for attr in node.attributeNames():
                if node.kindOf(attr) == "g":
                    sub_graph = node.g(attr)
                    sub_aliases = dict(aliases)
                    sub_aliases.update(zip(sub_graph.inputs(), node.inputs(), strict=False))
                    visit(sub_graph, owner, self_value, sub_aliases)

    def visit_method(owner: torch.jit.ScriptModule, name: str) -> None:
        key = f"{owner._c._type().qualified_name()}.{name}"
        if key in seen:
            return
        seen.add(key)
        graph = getattr(owner, name).graph
        visit(graph, owner, next(iter(graph.inputs())), {})

    visit_method(module, method_name)
    return total
