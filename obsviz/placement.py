"""Where the observers of an observed module sit, independent of names and order.

Each observer call is described by the module instance and method it runs in, the
position of the observed value's producer among the graph's original nodes (observer
nodes are skipped), and the observer's class. Two observed modules place observers
alike exactly when their placements are equal; this is how obsviz is checked against
``torch._C._jit_pass_insert_observers``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .graphs import (
    access_path,
    is_observer_call,
    is_observer_getattr,
    is_observer_name,
    join_path,
    submodule,
)
from .refs import display_path


@dataclass(frozen=True, order=True)
class ObserverSite:
    module_path: str
    method: str
    position: str  # "input0", or "<node position>:<output offset>"
    producer: str  # producer op kind, for people reading a diff
    observer_class: str

    def __str__(self) -> str:
        return (
            f"{display_path(self.module_path)}.{self.method} {self.producer}@{self.position} "
            f"-> {self.observer_class}"
        )


def _positions(
    block: torch._C.Block, prefix: str, out: dict[int, str], kinds: dict[int, str]
) -> None:
    for i, v in enumerate(block.inputs()):
        out[v.unique()] = f"{prefix}input{i}"
        kinds[v.unique()] = "input"
    index = 0
    for node in block.nodes():
        if is_observer_getattr(node) or is_observer_call(node):
            continue
        for v in node.outputs():
            out[v.unique()] = f"{prefix}{index}:{v.offset()}"
            kinds[v.unique()] = node.kind()
        for b, sub in enumerate(node.blocks()):
            _positions(sub, f"{prefix}{index}.{b}.", out, kinds)
        index += 1


def observer_placement(
    module: torch.jit.ScriptModule | torch._C.ScriptModule, method_name: str = "forward"
) -> list[ObserverSite]:
    """Every observer call reached from ``method_name``, sorted."""
    root = module._c if isinstance(module, torch.jit.ScriptModule) else module
    sites: list[ObserverSite] = []
    seen: set[tuple[str, str]] = set()

    def visit(m: torch._C.ScriptModule, path: str, method: str) -> None:
        if (path, method) in seen:
            return
        seen.add((path, method))
        graph = m._get_method(method).graph
        self_unique = next(graph.inputs()).unique()
        positions: dict[int, str] = {}
        kinds: dict[int, str] = {}
        _positions(graph.block(), "", positions, kinds)
        for node in graph.findAllNodes("prim::CallMethod", True):
            names, instance = access_path(node.inputsAt(0))
            if instance.unique() != self_unique:
                continue
            if len(names) == 1 and is_observer_name(names[0]):
                observed = node.inputsAt(1)
                sites.append(
                    ObserverSite(
                        module_path=path,
                        method=method,
                        position=positions.get(observed.unique(), "?"),
                        producer=kinds.get(observed.unique(), "?"),
                        observer_class=node.inputsAt(0).type().qualified_name().rsplit(".", 1)[-1],
                    )
                )
                continue
            target = submodule(m, names)
            if target is not None:
                visit(target, join_path(path, names), node.s("name"))

    visit(root, "", method_name)
    return sorted(sites)
