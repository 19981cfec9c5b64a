"""What the pass decided for each value, in the states figures draw (``style.STATES``).

Figures never re-derive a decision: they read it off the run. ``Decision`` holds a
value's state without any value name in it, so one decision can be labelled with the
names of the graph being drawn (the input model's, or ``run.module``'s).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .. import events as ev

if TYPE_CHECKING:
    from ..refs import ValueRef
    from ..run import Run

VKey = tuple[str, int]  # (graph qualname, value unique), as ValueRef.key


@dataclass(frozen=True)
class Decision:
    """A value's state; ``related`` are the values the state refers to (the value a delay
    observes instead, the inputs a pass-through follows, the caller's value)."""

    state: str
    reason: str = ""
    related: tuple[VKey, ...] = ()
    observer: str = ""  # "_observer_3\nHistogramObserver" when one was inserted on it


@dataclass(frozen=True)
class ValueStates:
    """The decision for every value of a run, and the names the input model gave them."""

    decisions: Mapping[VKey, Decision]
    names: Mapping[VKey, str]

    def key_by_name(self) -> dict[tuple[str, str], VKey]:
        return {(key[0], name): key for key, name in self.names.items()}


def run_states(run: Run) -> ValueStates:
    """The state of every value the run decided something about."""
    return _states_from_events(run)


# The ranks let a stronger statement about a value win over a weaker one made earlier.
_RANK = {"not_needed": 0, "not_visited": 1, "bias": 2, "pass_through": 3, "call_site": 4,
         "delayed": 5, "weight": 6, "observed": 6}


# TEMPORARY adapter until obsviz.values gives each value its final verdict: it reads the
# states off the run's events. Replace its body by a mapping from the values index's
# reason codes to Decisions, and delete it.
def _states_from_events(run: Run) -> ValueStates:
    decisions: dict[VKey, Decision] = {}
    names: dict[VKey, str] = {}
    roles: dict[VKey, str] = {}
    patterns: dict[VKey, str] = {}
    boundaries: list[ev.BoundaryEntry] = []

    def put(ref: ValueRef, decision: Decision) -> bool:
        names.setdefault(ref.key, ref.name)
        old = decisions.get(ref.key)
        if old is not None and _RANK[decision.state] < _RANK[old.state]:
            return False
        decisions[ref.key] = decision
        return True

    for event in run.events:
        if isinstance(event, ev.RuleEvaluated):
            if event.reason == "bias":
                put(event.value, Decision("bias", "bias of a conv or linear: never observed"))
            elif not event.outcome:
                put(event.value, Decision("not_needed", f"{event.rule}: {event.reason}"))
        elif isinstance(event, ev.DelayMatched):
            patterns[event.first.key] = event.pattern
        elif isinstance(event, ev.ObserverRecorded):
            roles[event.target.key] = event.role
            names.setdefault(event.target.key, event.target.name)
            if event.value.key != event.target.key:
                put(event.value, Decision("delayed", patterns.get(event.value.key, "a pattern"),
                                          (event.target.key,)))
        elif isinstance(event, ev.ObserverInserted):
            state = "weight" if roles.get(event.value.key) == "weight" else "observed"
            put(event.value, Decision(state, observer=f"{event.attribute}\n"
                                                      f"{event.observer_class}"))
        elif isinstance(event, ev.ObservedPropagated):
            for source in event.sources:
                names.setdefault(source.key, source.name)
            if event.via == "callee_output":
                put(event.value, Decision("call_site", "observed in callee"))
            else:
                put(event.value, Decision("pass_through", event.via.replace("_", " "),
                                          tuple(s.key for s in event.sources)))
        elif isinstance(event, ev.BoundaryEntry):
            boundaries.append(event)
        elif isinstance(event, ev.LoopSkipped):
            for value in getattr(event, "values", ()):
                put(value, Decision("not_visited", "inside a prim::Loop: never observed"))
    observed = {"observed", "weight", "pass_through", "call_site"}
    changed = True
    while changed:  # a value observed in the caller is observed in each nested callee
        changed = False
        for entry in boundaries:
            caller = decisions.get(entry.caller.key)
            callee = decisions.get(entry.callee.key)
            if caller is None or caller.state not in observed:
                continue
            if callee is None or callee.state in ("not_needed", "not_visited"):
                names.setdefault(entry.caller.key, entry.caller.name)
                changed = put(entry.callee, Decision("call_site", "observed at call site",
                                                     (entry.caller.key,))) or changed
    return ValueStates(decisions, names)
