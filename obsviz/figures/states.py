"""What the pass decided for each value, in the states figures draw (``style.STATES``).

Figures never re-derive a decision: they read the run's verdicts (``obsviz.verdicts``,
the same ones ``run.explain`` and ``run.values()`` give) and map each reason code onto
one legend state with :func:`state_of` (each reason's ``state`` in
:data:`obsviz.reasons.REASONS`). A ``Decision`` holds no value names, so one
decision can be labelled with the names of the graph being drawn (the input model's,
or ``run.module``'s).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from ..reasons import REASONS, Reason
from ..refs import Loc

if TYPE_CHECKING:
    from ..model_index import GraphIndex
    from ..run import Run
    from ..run_view import RunView


def state_of(reason: Reason, roles: tuple[str, ...] = (), parameter: bool = False) -> str:
    """The legend state of a verdict: its reason code, the roles of its related values,
    and whether the value is a parameter (an observed parameter is a weight)."""
    state = REASONS[reason].state
    if state == "observed" and parameter:
        return "weight"
    if reason == Reason.OBSERVED_UPSTREAM and any(r.startswith("branch_") for r in roles):
        return "pass_through"  # every branch of an If observed it
    return state


@dataclass(frozen=True)
class Decision:
    """A value's state; ``related`` are the values the state refers to (the value a delay
    observes instead, the inputs a pass-through follows, the caller's value)."""

    state: str
    reason: str = ""  # the reason code
    summary: str = ""  # what the code means
    note: str = ""
    pattern: str = ""  # the fusion pattern behind a delay
    related: tuple[Loc, ...] = ()
    observer: str = ""  # "_observer_3\nHistogramObserver" when one was inserted on it


class ValueStates:
    """A view's verdicts (the run's at one step) as Decisions, read value by value as
    figures need them."""

    def __init__(self, view: RunView) -> None:
        self.index = view.index
        self.verdicts = view.verdicts

    def instance(self, path: str, method: str) -> tuple[str, GraphIndex] | None:
        """The method the index knows for a drawn graph (``observe_<m>`` on-device)."""
        for name in (method, f"observe_{method}"):
            inst = self.index.instances.get((path, name))
            if inst is not None:
                return name, self.index.graphs[inst.graph]
        return None

    def decision(self, loc: Loc) -> Decision | None:
        found = self.instance(loc.path, loc.method)
        if found is None:
            return None
        method, graph = found
        slot = graph.slots.get(loc.unique)
        if slot is None:
            return None
        verdict = self.verdicts(Loc(loc.path, method, loc.unique))
        roles = tuple(role for role, _ in verdict.related)
        state = state_of(verdict.reason, roles, slot.producer == "prim::GetAttr")
        reason = REASONS[verdict.reason]
        note = reason.state_note
        if verdict.reason == Reason.OBSERVED_UPSTREAM and state == "call_site":
            note = "observed in callee" if "callee_return" in roles else "observed upstream"
        related = tuple(loc for _, loc in verdict.related if loc is not None)
        attribute = graph.observer_of.get(loc.unique, "")
        return Decision(
            state,
            verdict.reason,
            reason.summary,
            note,
            verdict.pattern,
            related,
            self._observer(loc.path, attribute),
        )

    def _observer(self, path: str, attribute: str) -> str:
        if not attribute:
            return ""
        module = self.index.modules[path]
        observer = module.getattr(attribute) if module.hasattr(attribute) else None
        if not isinstance(observer, torch._C.ScriptModule):
            return attribute
        return f"{attribute}\n{observer._type().qualified_name().rsplit('.', 1)[-1]}"

    def name(self, loc: Loc) -> str:
        """The value's name in the model the run was given."""
        found = self.instance(loc.path, loc.method)
        slot = found[1].slots.get(loc.unique) if found else None
        return slot.name if slot is not None else str(loc.unique)

    def unique_of(self, path: str, method: str, name: str) -> int | None:
        """The value the input model's graph names ``name``."""
        found = self.instance(path, method)
        return found[1].names.get(name) if found else None

    def made_by_preprocessing(self, path: str, method: str) -> list[int]:
        """Observed values of the graph that the input model does not have."""
        found = self.instance(path, method)
        original_names = self.index.original_names
        if found is None or not original_names:
            return []
        graph = found[1]
        qualname = graph.ref.qualname
        return [u for u in graph.observer_of if (qualname, u) not in original_names]


def run_states(run: Run, step: int | None = None) -> ValueStates | None:
    """The run's states as decided by ``step`` (the end when None), or None when it kept
    no events (``record=False``)."""
    if not run.events:
        return None
    return ValueStates(run.at(step))
