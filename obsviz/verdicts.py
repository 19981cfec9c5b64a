"""The verdict on each value: observed or not, the reason code, and the values involved.

A verdict is read off the facts the events recorded (see :mod:`obsviz.facts`) in the
order the pass itself decides: an observer inserted on the value; the value inside a
block the pass does not walk; observation delayed by a fusion pattern; observed
without an observer (pass-through, a callee's or branch's output); a graph input or
return left to the call site; ``shouldObserve`` refusing; and last what
``valueNeedsToBeQuantized`` said. The codes are those of :mod:`obsviz.reasons`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from .facts import Facts, detail
from .model_index import CallEdge, Instance, ModelIndex
from .qconfig import ModuleQConfig
from .reasons import Reason
from .refs import Loc, ValueKey

OBSERVED_VIA = {
    "self": Reason.OBSERVED_HERE,
    "callee_input": Reason.OBSERVED_FOR_CALLEE_INPUT,
    "callee_output": Reason.OBSERVED_FOR_CALLEE_OUTPUT,
    "if_output": Reason.OBSERVED_FOR_IF_OUTPUT,
}
"""The reason of an inserted observer, by what ``recordObserved`` recorded it for."""


@dataclass(frozen=True, slots=True)
class Verdict:
    observed: bool
    reason: Reason
    related: tuple[tuple[str, Loc], ...] = ()
    pattern: str = ""

    def get(self, role: str) -> Loc | None:
        return next((loc for r, loc in self.related if r == role), None)


class Verdicts:
    """Verdicts per value location, computed on demand and remembered."""

    def __init__(
        self,
        index: ModelIndex,
        facts: Facts,
        qconfigs: dict[str, ModuleQConfig],
        final: Verdicts | None = None,
    ) -> None:
        self.index = index
        self.facts = facts
        self.qconfigs = qconfigs
        self.final = final  # the verdicts at the run's last step, for a view before it
        self._memo: dict[Loc, Verdict] = {}
        self._chains: dict[Loc, tuple[tuple[str, Loc], ...] | None] = {}

    def __call__(self, loc: Loc) -> Verdict:
        verdict = self._memo.get(loc)
        if verdict is None:
            verdict = self._decide(loc)
            if (
                self.final is not None
                and not verdict.observed
                and verdict.reason != "observer_recorded"
                and self.final(loc).reason != verdict.reason
            ):
                verdict = Verdict(False, "not_reached")  # a later step decides it
            self._memo[loc] = verdict
        return verdict

    # ------------------------------------------------------------------ the order of checks
    def _decide(self, loc: Loc) -> Verdict:
        unique = loc.unique
        instance = self.index.instance_of(loc)
        graph_index = self.index.graphs[instance.graph]
        key = ValueKey(instance.graph, unique)
        slot = graph_index.slots.get(unique)
        facts = self.facts
        if slot is None:
            return Verdict(False, Reason.REMOVED_BY_PREPROCESSING)
        if key in facts.inserted:
            return self._observer_here(instance, key)
        if key in facts.recorded_on:
            return Verdict(
                False,
                Reason.OBSERVER_RECORDED,
                self._same(instance, (("recorded_for", facts.recorded_on[key].value.unique),)),
            )
        if slot.place == "loop" or instance.in_loop:
            return self._skipped(loc, Reason.SKIPPED_IN_LOOP)
        if self.final is not None and self.reached_later(instance.graph, key) is not None:
            return Verdict(False, Reason.NOT_REACHED)
        if slot.place == "unwalked" or facts.first_visit(instance.graph) is None:
            return self._skipped(loc, Reason.NOT_WALKED)
        record = facts.recorded_for.get(key)
        if record is not None and record.target.unique != unique:
            delay = facts.delayed.get(key)
            return Verdict(
                False,
                Reason.DELAYED,
                self._same(instance, (("observed_instead", record.target.unique),)),
                delay.pattern if delay else "",
            )
        propagated = facts.propagated.get(key)
        if propagated is not None:
            return self._propagated(instance, unique, propagated)
        inputs = graph_index.inputs if instance.kind == "function" else graph_index.inputs[1:]
        if not instance.entry and (unique in inputs or unique in graph_index.returns):
            at_call = self._at_call_site(instance, unique)
            if at_call is not None:
                return at_call
        rule = next(
            (
                e
                for e in reversed(facts.decided.get(key, ()))
                if getattr(e, "rule", "") in ("shouldObserve", "insertObserversFor")
            ),
            None,
        )
        if rule is not None and rule.rule == "shouldObserve" and not rule.outcome:
            inputs = detail(rule, "inputs") or ()
            related = _numbered("unobserved_input", [r.unique for r, seen in inputs if not seen])
            related += _numbered("observed_input", [r.unique for r, seen in inputs if seen])
            return Verdict(False, Reason.PROPAGATE_INPUT_UNOBSERVED, self._same(instance, related))
        if rule is not None and rule.reason == "already_observed":
            return Verdict(False, Reason.OBSERVED_UPSTREAM)
        return self._own_reason(loc)

    def reached_later(self, graph: str, key: ValueKey) -> int | None:
        """For a view before the run's last step: the step at which the walk of the pass
        reaches the value's graph (when it has not yet), or decides the value (when it is
        walking the graph and has not got to it); None when neither is still to come (a
        value decided at its call sites says nothing of its own)."""
        assert self.final is not None
        later = self.final.facts
        if self.facts.first_visit(graph) is None:
            visit = later.first_visit(graph)
            return visit.step if visit is not None else None
        if not self.facts.decided.get(key) and later.decided.get(key):
            return later.decided[key][0].step
        return None

    # ------------------------------------------------------------------ the cases
    def _observer_here(self, instance: Instance, key: ValueKey) -> Verdict:
        record = self.facts.recorded_on.get(key)
        if record is None:
            return Verdict(True, Reason.OBSERVED_HERE)
        if record.value.unique != key.unique:
            delay = self.facts.delayed.get(ValueKey(key.graph, record.value.unique))
            return Verdict(
                True,
                Reason.OBSERVED_AFTER_FUSION,
                self._same(instance, (("delayed_from", record.value.unique),)),
                delay.pattern if delay else "",
            )
        related: list[tuple[str, Loc]] = []
        if record.via == "callee_input":
            related = self._callee_values(instance, key.unique, "callee_input", args=True)
        elif record.via == "callee_output":
            related = self._callee_values(instance, key.unique, "callee_return", args=False)
        elif record.via == "if_output":
            related = self._if_outputs(instance, key.unique)
        else:
            source = self.observer_source(key)
            if source is not None and source != key:
                loc = self.loc_of_key(instance, source)
                if loc is not None:
                    related = [("needed_by", loc)]
        return Verdict(True, OBSERVED_VIA[record.via], tuple(related))

    def _skipped(self, loc: Loc, reason: Reason) -> Verdict:
        if self.observer_source(self.index.key_of(loc)) is not None:
            return Verdict(False, reason)
        return self._needs_quantization_verdict(loc) or Verdict(False, reason)

    def _propagated(self, instance: Instance, unique: int, event: object) -> Verdict:
        if event.via == "pass_through":
            sources = list(dict.fromkeys(s.unique for s in event.sources))
            return Verdict(
                False,
                Reason.PASS_THROUGH,
                self._same(instance, _numbered("inherits_from", sources)),
            )
        if event.via == "if_output":
            roles = [(f"branch_{i}", s.unique) for i, s in enumerate(event.sources)]
            return Verdict(False, Reason.OBSERVED_UPSTREAM, self._same(instance, roles))
        return Verdict(
            False,
            Reason.OBSERVED_UPSTREAM,
            tuple(self._callee_values(instance, unique, "callee_return", args=False)),
        )

    def _at_call_site(self, instance: Instance, unique: int) -> Verdict | None:
        """A graph input or return: what the call sites did with the caller's value."""
        best: tuple[int, Verdict] | None = None
        for edge in self.index.edges_into.get(instance.key, ()):
            for caller_unique, callee_unique in edge.args + edge.results:
                if callee_unique != unique:
                    continue
                caller = edge.caller.loc(caller_unique)
                found = self._from_caller(caller, self(caller))
                if found is not None and (best is None or found[0] < best[0]):
                    best = found
        return best[1] if best else None

    def _from_caller(self, caller: Loc, verdict: Verdict) -> tuple[int, Verdict] | None:
        if verdict.observed:
            return 0, Verdict(
                False,
                Reason.OBSERVED_AT_CALL_SITE,
                (("caller_value", caller), ("observer_on", caller)),
            )
        if verdict.reason == Reason.OBSERVED_AT_CALL_SITE:
            return 0, Verdict(
                False,
                Reason.OBSERVED_AT_CALL_SITE,
                (("caller_value", caller), ("observer_on", verdict.get("observer_on") or caller)),
            )
        if verdict.reason == Reason.DELAYED:
            return 1, Verdict(
                False,
                Reason.DELAYED,
                (("caller_value", caller), ("observed_instead", verdict.get("observed_instead"))),
                verdict.pattern,
            )
        if verdict.reason in (Reason.PASS_THROUGH, Reason.OBSERVED_UPSTREAM):
            return 2, Verdict(False, Reason.OBSERVED_UPSTREAM, (("caller_value", caller),))
        return None

    def _own_reason(self, loc: Loc) -> Verdict:
        instance = self.index.instance_of(loc)
        if self.index.key_of(loc) in self.facts.dropped:
            return Verdict(False, Reason.ONDEVICE_DYNAMIC_ACTIVATION)
        own = self._needs_quantization_verdict(loc)
        if own is not None:
            return own
        if instance.kind == "function":
            return Verdict(False, Reason.IN_FUNCTION)
        qconfig = self.qconfigs.get(instance.path)
        if qconfig is not None and qconfig.qconfig is None:
            return Verdict(False, Reason.NO_QCONFIG)
        return Verdict(False, Reason.NOT_WALKED)

    def _needs_quantization_verdict(self, loc: Loc) -> Verdict | None:
        """What valueNeedsToBeQuantized turning the value down says, if it did."""
        event = self.facts.needs_quantization.get(self.index.key_of(loc))
        if event is None or event.outcome:
            return None
        if event.reason == "no_quantizable_use":
            chain = self.static_chain(loc)
            if chain is not None:
                related = (("static_would_observe", chain[-1][1]),) if chain else ()
                return Verdict(False, Reason.DYNAMIC_RULES, related)
        return Verdict(False, Reason(event.reason))  # its clause's code is the reason

    # ------------------------------------------------------------------ dynamic rules
    def static_chain(self, loc: Loc) -> tuple[tuple[str, Loc], ...] | None:
        """For a value dynamic ``valueNeedsToBeQuantized`` turned down: the way to a value
        static quantization's rules would observe, as ``(link, loc)`` hops ending there
        (no hops when it is the value itself), or None when there is none.

        Links: ``passed_to`` (a callee's input), ``returned_by`` (a callee's return, for a
        call's result), ``from_caller`` (the caller's value, for a callee's input or return;
        back through the call site the chain came in by, if it did) and ``passes_on`` (a
        pass-through op's input, when every input leads to such a value). Only values the
        dynamic rules turned down for lack of a quantizable use are crossed.
        """
        if not self._any_static_would_observe:
            return None
        if loc not in self._chains:
            self._chains[loc] = self._search_chain(loc, (), frozenset())
        return self._chains[loc]

    @cached_property
    def _any_static_would_observe(self) -> bool:
        return any(
            detail(e, "static_would_observe") for e in self.facts.needs_quantization.values()
        )

    def _search_chain(
        self, start: Loc, calls: tuple[CallEdge, ...], visiting: frozenset[Loc]
    ) -> tuple[tuple[str, Loc], ...] | None:
        """Breadth-first, so the chain is the shortest. ``calls`` are the call sites entered
        on the way to ``start``; ``visiting`` guards the recursion into the other inputs of
        a pass-through op."""
        visiting = visiting | {start}
        paths: dict[tuple[Loc, tuple[CallEdge, ...]], tuple[tuple[str, Loc], ...]] = {
            (start, calls): ()
        }
        frontier = [(start, calls)]
        while frontier:
            following = []
            for state in frontier:
                loc, entered = state
                instance = self.index.instance_of(loc)
                event = self.facts.needs_quantization.get(self.index.key_of(loc))
                if event is None or event.outcome or event.reason != "no_quantizable_use":
                    continue
                if detail(event, "static_would_observe"):
                    return paths[state]
                for link, hop, hop_calls in self._chain_links(instance, loc, entered, visiting):
                    if (hop, hop_calls) not in paths:
                        paths[(hop, hop_calls)] = (*paths[state], (link, hop))
                        following.append((hop, hop_calls))
            frontier = following
        return None

    def _chain_links(
        self, instance: Instance, loc: Loc, calls: tuple[CallEdge, ...], visiting: frozenset[Loc]
    ) -> list[tuple[str, Loc, tuple[CallEdge, ...]]]:
        unique = loc.unique
        links = []
        for edge in self.index.edges_from.get(instance.key, ()):
            for link, pairs in (("passed_to", edge.args), ("returned_by", edge.results)):
                links += [
                    (link, edge.callee.loc(callee), (*calls, edge))
                    for caller, callee in pairs
                    if caller == unique
                ]
        graph_index = self.index.graphs[instance.graph]
        if not instance.entry and (unique in graph_index.inputs or unique in graph_index.returns):
            edges = calls[-1:] or self.index.edges_into.get(instance.key, ())
            for edge in edges:
                links += [
                    ("from_caller", edge.caller.loc(caller), calls[:-1])
                    for caller, callee in edge.args + edge.results
                    if callee == unique
                ]
        for entry in self.facts.pass_through.get(ValueKey(instance.graph, unique), ())[:1]:
            inputs = [
                instance.loc(ref.unique)
                for ref in entry.inputs
                if ref.graph.qualname == instance.graph
            ]
            if (
                inputs
                and len(inputs) == len(entry.inputs)
                and all(
                    i not in visiting and self._search_chain(i, calls, visiting) is not None
                    for i in inputs
                )
            ):
                links.append(("passes_on", inputs[0], calls))
        return links

    # ------------------------------------------------------------------ related values
    def _same(self, instance: Instance, roles) -> tuple[tuple[str, Loc], ...]:
        return tuple((role, instance.loc(unique)) for role, unique in roles)

    def _callee_values(
        self, instance: Instance, unique: int, role: str, args: bool
    ) -> list[tuple[str, Loc]]:
        found: list[tuple[str, Loc]] = []
        for edge in self.index.edges_from.get(instance.key, ()):
            for caller_unique, callee_unique in edge.args if args else edge.results:
                if caller_unique == unique:
                    name = role if not found else f"{role}_{len(found) + 1}"
                    found.append((name, edge.callee.loc(callee_unique)))
        return found

    def _if_outputs(self, instance: Instance, unique: int) -> list[tuple[str, Loc]]:
        for entry in self.facts.boundary.get(ValueKey(instance.graph, unique), ()):
            if entry.kind == "if_output" and entry.callee.unique == unique:
                return [("if_output", instance.loc(entry.caller.unique))]
        return []

    def observer_source(self, key: ValueKey, seen: set[ValueKey] | None = None) -> ValueKey | None:
        """``getObserverFor`` over the recorded maps: the value whose own need applies."""
        event = self.facts.needs_quantization.get(key)
        if event is not None and event.outcome and key not in self.facts.dropped:
            return key
        seen = seen if seen is not None else set()
        seen.add(key)
        for callee in self.facts.boundary_callees.get(key, ()):
            if callee not in seen:
                found = self.observer_source(callee, seen)
                if found is not None:
                    return found
        return None

    def loc_of_key(self, near: Instance, key: ValueKey) -> Loc | None:
        """A location for a value key, preferring ``near`` and the instances it calls."""
        if key.graph == near.graph:
            return near.loc(key.unique)
        frontier = [near.key]
        seen = set(frontier)
        while frontier:
            callees = []
            for caller in frontier:
                for edge in self.index.edges_from.get(caller, ()):
                    instance = self.index.instances.get(edge.callee)
                    if instance is None or instance.key in seen:
                        continue
                    if instance.graph == key.graph:
                        return instance.loc(key.unique)
                    seen.add(instance.key)
                    callees.append(instance.key)
            frontier = callees
        others = self.index.instances_of_graph(key.graph)
        return others[0].loc(key.unique) if others else None


def _numbered(role: str, uniques: list[int]) -> list[tuple[str, int]]:
    """``role``, ``role_2``, ``role_3``...: one related value per role name."""
    return [(role if i == 0 else f"{role}_{i + 1}", u) for i, u in enumerate(uniques)]
