"""What a run's recorded events say about each value, indexed by value key.

One pass over the events (up to a step) files every event under the values it is about,
so verdicts and explanations read facts instead of re-deriving the pass's decisions.
Events of the insertion phase are tagged with the walk ("visit") of their graph they
belong to: only the first walk of a graph inserts observers, so it is the one that
decides; later walks of a shared graph copy its observers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from . import events as ev
from .refs import ValueKey, ValueRef


@dataclass
class Facts:
    """Events filed by value key, for the events up to ``step``."""

    step: int
    phase: str | None = None
    qconfig: dict[str, ev.QConfigAssigned] = field(default_factory=dict)
    needs_quantization: dict[ValueKey, ev.RuleEvaluated] = field(default_factory=dict)
    dropped: dict[ValueKey, ev.RuleEvaluated] = field(default_factory=dict)
    delayed: dict[ValueKey, ev.DelayMatched] = field(default_factory=dict)  # by first
    delay_target: dict[ValueKey, ev.DelayMatched] = field(default_factory=dict)  # by second
    pass_through: dict[ValueKey, list[ev.PassThroughEntry]] = field(
        default_factory=lambda: defaultdict(list)
    )
    boundary: dict[ValueKey, list[ev.BoundaryEntry]] = field(
        default_factory=lambda: defaultdict(list)
    )  # by caller and by callee
    boundary_callees: dict[ValueKey, list[ValueKey]] = field(
        default_factory=lambda: defaultdict(list)
    )  # caller -> callees, in map order
    visits: dict[str, list[ev.GraphEntered]] = field(default_factory=lambda: defaultdict(list))
    # Insertion-phase events of the first walk of each graph, by the value they decide.
    decided: dict[ValueKey, list[ev.Event]] = field(default_factory=lambda: defaultdict(list))
    recorded_on: dict[ValueKey, ev.ObserverRecorded] = field(default_factory=dict)  # by target
    recorded_for: dict[ValueKey, ev.ObserverRecorded] = field(default_factory=dict)  # by value
    propagated: dict[ValueKey, ev.ObservedPropagated] = field(default_factory=dict)
    inserted: dict[ValueKey, ev.ObserverInserted] = field(default_factory=dict)
    attached: dict[str, list[ev.ObserverAttached]] = field(
        default_factory=lambda: defaultdict(list)
    )
    loops: list[ev.LoopSkipped] = field(default_factory=list)
    splits: list[ev.TypeSplit] = field(default_factory=list)
    events: tuple[ev.Event, ...] = ()

    def first_visit(self, graph: str) -> ev.GraphEntered | None:
        walks = self.visits.get(graph)
        return walks[0] if walks else None


def detail(event: object, name: str) -> object:
    """One entry of a ``RuleEvaluated.detail`` (``None`` when absent)."""
    return next((v for k, v in getattr(event, "detail", ()) if k == name), None)


def collect_facts(events: Iterable[ev.Event], step: int | None = None) -> Facts:
    """File the events up to and including ``step`` (all of them when ``None``)."""
    kept = tuple(e for e in events if step is None or e.step <= step)
    facts = Facts(step=kept[-1].step if kept else -1, events=kept)
    visit_count: dict[str, int] = {}

    def first_walk(ref: ValueRef) -> bool:
        return visit_count.get(ref.graph.qualname) == 1

    for e in kept:
        kind = type(e)
        if kind is ev.RuleEvaluated:
            key = e.value.key
            if e.rule == "valueNeedsToBeQuantized":
                facts.needs_quantization[key] = e
            elif e.rule == "removeActivationObservers":
                facts.dropped[key] = e
            elif first_walk(e.value):
                facts.decided[key].append(e)
        elif kind is ev.GraphEntered:
            qualname = e.graph.qualname
            facts.visits[qualname].append(e)
            visit_count[qualname] = visit_count.get(qualname, 0) + 1
        elif kind is ev.ObserverRecorded:
            if first_walk(e.value):
                facts.decided[e.value.key].append(e)
                facts.recorded_for.setdefault(e.value.key, e)
                facts.recorded_on.setdefault(e.target.key, e)
                if e.target != e.value:
                    facts.decided[e.target.key].append(e)
        elif kind is ev.ObservedPropagated:
            if first_walk(e.value):
                facts.decided[e.value.key].append(e)
                facts.propagated.setdefault(e.value.key, e)
        elif kind is ev.ObserverInserted:
            facts.inserted[e.value.key] = e
            facts.decided[e.value.key].append(e)
        elif kind is ev.BoundaryEntry:
            caller, callee = e.caller.key, e.callee.key
            facts.boundary[caller].append(e)
            facts.boundary[callee].append(e)
            if callee not in facts.boundary_callees[caller]:
                facts.boundary_callees[caller].append(callee)
        elif kind is ev.DelayMatched:
            facts.delayed[e.first.key] = e
            facts.delay_target[e.second.key] = e
        elif kind is ev.PassThroughEntry:
            facts.pass_through[e.output.key].append(e)
        elif kind is ev.QConfigAssigned:
            facts.qconfig[e.module_path] = e
        elif kind is ev.ObserverAttached:
            facts.attached[e.module_path].append(e)
        elif kind is ev.LoopSkipped:
            facts.loops.append(e)
        elif kind is ev.TypeSplit:
            facts.splits.append(e)
        elif kind is ev.PhaseStarted:
            facts.phase = e.phase
    return facts
