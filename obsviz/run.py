"""The result of one obsviz pass: the observed module plus everything it decided."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import torch

from . import events as ev
from .clone import SplitGroup
from .placement import ObserverSite, observer_placement
from .qconfig import ModuleQConfig


@dataclass(frozen=True, eq=False)
class Run:
    """An observed module and the recorded events of the pass that produced it."""

    module: torch.jit.ScriptModule
    events: tuple[ev.Event, ...]
    qconfigs: Mapping[str, ModuleQConfig]
    splits: tuple[SplitGroup, ...]
    maps: ev.MapsView
    method_name: str
    quant_type: str
    qconfig_dict: Mapping[str, object] = field(repr=False, default_factory=dict)
    original_names: Mapping[tuple[str, int], str] = field(repr=False, default_factory=dict)
    failure: object | None = None  # the Diagnosis when the pass failed part-way

    @property
    def inserted(self) -> tuple[tuple[str, str, object], ...]:
        """(module path, observer attribute, observed value) for each observer inserted."""
        return self.maps.inserted

    def placement(self) -> list[ObserverSite]:
        """Where the observers sit; see :func:`obsviz.observer_placement`."""
        entry = self.method_name
        if not self.module._c._has_method(entry):
            entry = f"observe_{entry}"
        return observer_placement(self.module, entry)

    def events_of(self, kind: type[ev.Event]) -> list[ev.Event]:
        return [e for e in self.events if isinstance(e, kind)]

    def __str__(self) -> str:
        return (f"obsviz Run: {len(self.inserted)} observers inserted by {self.quant_type} "
                f"InsertObservers on {self.method_name}; {len(self.events)} events recorded")

    def __repr__(self) -> str:
        return f"<{self}>"
