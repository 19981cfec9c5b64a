"""What the pass decided for each value, in the states figures draw (``style.STATES``).

Figures never re-derive a decision: they read the run's verdicts (``obsviz.verdicts``,
the same ones ``run.explain`` and ``run.values()`` give) and map each reason code onto
one legend state with :func:`state_of`. A ``Decision`` holds no value names, so one
decision can be labelled with the names of the graph being drawn (the input model's,
or ``run.module``'s).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from ..run import Run
    from ..values import GraphIndex

Loc = tuple[str, str, int]  # (instance path, method, value unique), as obsviz.values uses

# Reason codes (obsviz.explain.REASONS) -> legend states; any other code: "not_needed".
REASON_STATES: dict[str, str] = {
    "observed_here": "observed",
    "observed_after_fusion": "observed",
    "observed_for_callee_input": "observed",
    "observed_for_callee_output": "observed",
    "observed_for_if_output": "observed",
    "observer_recorded": "observed",
    "delayed": "delayed",
    "observed_at_call_site": "call_site",
    "observed_upstream": "call_site",
    "pass_through": "pass_through",
    "bias": "bias",
    "skipped_in_loop": "not_visited",
    "not_walked": "not_visited",
    "not_reached": "not_reached",
}


def state_of(reason: str, roles: tuple[str, ...] = (), parameter: bool = False) -> str:
    """The legend state of a verdict: its reason code, the roles of its related values,
    and whether the value is a parameter (an observed parameter is a weight)."""
    state = REASON_STATES.get(reason, "not_needed")
    if state == "observed" and parameter:
        return "weight"
    if reason == "observed_upstream" and any(r.startswith("branch_") for r in roles):
        return "pass_through"  # every branch of an If observed it
    return state


# A short second label line for the states that say where the observation happens.
_NOTES = {"observed_at_call_site": "observed at call site",
          "observer_recorded": "observer recorded"}


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
    """The run's verdicts as Decisions, read value by value as figures need them."""

    def __init__(self, run: Run) -> None:
        from ..explain import REASONS
        from ..view import view_of
        view = view_of(run)
        self.observed = run.module._c
        self.index = view.index
        self.verdicts = view.verdicts
        self.reasons = REASONS
        self.original_names = run.original_names
        # the step the verdicts are at (None: the end); see obsviz.explorer.views.states_at
        self.step: int | None = None

    def instance(self, path: str, method: str) -> tuple[str, GraphIndex] | None:
        """The method the index knows for a drawn graph (``observe_<m>`` on-device)."""
        for name in (method, f"observe_{method}"):
            inst = self.index.instances.get((path, name))
            if inst is not None:
                return name, self.index.graphs[inst.graph]
        return None

    def decision(self, loc: Loc) -> Decision | None:
        found = self.instance(loc[0], loc[1])
        if found is None:
            return None
        method, graph = found
        slot = graph.slots.get(loc[2])
        if slot is None:
            return None
        verdict = self.verdicts((loc[0], method, loc[2]))
        roles = tuple(role for role, _ in verdict.related)
        state = state_of(verdict.reason, roles, slot.producer == "prim::GetAttr")
        reason = self.reasons.get(verdict.reason)
        note = _NOTES.get(verdict.reason, "")
        if verdict.reason == "observed_upstream" and state == "call_site":
            note = "observed in callee" if "callee_return" in roles else "observed upstream"
        related = tuple(loc for _, loc in verdict.related if loc is not None)
        attribute = graph.observer_of.get(loc[2], "")
        return Decision(state, verdict.reason, reason.summary if reason else "", note,
                        verdict.pattern, related, self._observer(loc[0], attribute))

    def _observer(self, path: str, attribute: str) -> str:
        if not attribute:
            return ""
        module = self.observed
        for name in path.split(".") if path else ():
            module = module.getattr(name)
        observer = module.getattr(attribute) if module.hasattr(attribute) else None
        if not isinstance(observer, torch._C.ScriptModule):
            return attribute
        return f"{attribute}\n{observer._type().qualified_name().rsplit('.', 1)[-1]}"

    def name(self, loc: Loc) -> str:
        """The value's name in the model the run was given."""
        found = self.instance(loc[0], loc[1])
        slot = found[1].slots.get(loc[2]) if found else None
        return slot.name if slot is not None else str(loc[2])

    def unique_of(self, path: str, method: str, name: str) -> int | None:
        """The value the input model's graph names ``name``."""
        found = self.instance(path, method)
        return found[1].names.get(name) if found else None

    def made_by_preprocessing(self, path: str, method: str) -> list[int]:
        """Observed values of the graph that the input model does not have."""
        found = self.instance(path, method)
        if found is None or not self.original_names:
            return []
        graph = found[1]
        gq = graph.ref.qualname
        return [u for u in graph.observer_of if (gq, u) not in self.original_names]


def run_states(run: Run) -> ValueStates | None:
    """The run's states, or None when it kept no events (``record=False``)."""
    if not run.events:
        return None
    return ValueStates(run)
