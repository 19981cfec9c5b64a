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

from .graphs import observer_calls, producer_positions
from .refs import method_label


@dataclass(frozen=True, order=True)
class ObserverSite:
    module_path: str
    method: str
    position: str  # "input0", or "<node position>:<output offset>"
    producer: str  # producer op kind, for people reading a diff
    observer_class: str

    def __str__(self) -> str:
        return (
            f"{method_label(self.module_path, self.method)} {self.producer}@{self.position} "
            f"-> {self.observer_class}"
        )


def observer_placement(
    module: torch.jit.ScriptModule | torch._C.ScriptModule, method_name: str = "forward"
) -> list[ObserverSite]:
    """Every observer call reached from ``method_name``, sorted."""
    root = module._c if isinstance(module, torch.jit.ScriptModule) else module
    sites: list[ObserverSite] = []
    producers: dict[tuple[str, str], tuple[dict[int, str], dict[int, str]]] = {}
    for call in observer_calls(root, method_name):
        if (call.path, call.method) not in producers:
            producers[call.path, call.method] = producer_positions(call.graph.block())
        positions, kinds = producers[call.path, call.method]
        observed = call.node.inputsAt(1)
        sites.append(
            ObserverSite(
                module_path=call.path,
                method=call.method,
                position=positions.get(observed.unique(), "?"),
                producer=kinds.get(observed.unique(), "?"),
                observer_class=call.node.inputsAt(0).type().qualified_name().rsplit(".", 1)[-1],
            )
        )
    return sorted(sites)
