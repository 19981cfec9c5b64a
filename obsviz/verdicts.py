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

    def __init__(self, index: ModelIndex, facts: Facts, qconfigs: dict[str, ModuleQConfig]) -> None:
        self.index = index
        self.facts = facts
        self.qconfigs = qconfigs
        self._memo: dict[Loc, Verdict] = {}
        self._chains: dict[Loc, tuple[tuple[str, Loc], ...] | None] = {}

    def __call__(self, loc: Loc) -> Verdict:
        verdict = self._memo.get(loc)
        if verdict is None:
            verdict = self._memo[loc] = self._decide(loc)
        return verdict

    # ------------------------------------------------------------------ the order of checks
    def _decide(self, loc: Loc) -> Verdict:
        unique = loc.unique
        inst = self.index.instance_of(loc)
        gi = self.index.graphs[inst.graph]
        key = ValueKey(inst.graph, unique)
        slot = gi.slots.get(unique)
        facts = self.facts
        if slot is None:
            return Verdict(False, Reason.REMOVED_BY_PREPROCESSING)
        if key in facts.inserted:
            return self._observer_here(inst, key)
        if key in facts.recorded_on:
            return Verdict(
                False,
                Reason.OBSERVER_RECORDED,
                self._same(inst, (("recorded_for", facts.recorded_on[key].value.unique),)),
            )
        if slot.place == "loop" or inst.in_loop:
            return self._skipped(loc, Reason.SKIPPED_IN_LOOP)
        if slot.place == "unwalked" or facts.first_visit(inst.graph) is None:
            return self._skipped(loc, Reason.NOT_WALKED)
        record = facts.recorded_for.get(key)
        if record is not None and record.target.unique != unique:
            delay = facts.delayed.get(key)
            return Verdict(
                False,
                Reason.DELAYED,
                self._same(inst, (("observed_instead", record.target.unique),)),
                delay.pattern if delay else "",
            )
        propagated = facts.propagated.get(key)
        if propagated is not None:
            return self._propagated(inst, unique, propagated)
        inputs = gi.inputs if inst.kind == "function" else gi.inputs[1:]
        if not inst.entry and (unique in inputs or unique in gi.returns):
            at_call = self._at_call_site(inst, unique)
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
            return Verdict(False, Reason.PROPAGATE_INPUT_UNOBSERVED, self._same(inst, related))
        if rule is not None and rule.reason == "already_observed":
            return Verdict(False, Reason.OBSERVED_UPSTREAM)
        return self._own_reason(loc)

    # ------------------------------------------------------------------ the cases
    def _observer_here(self, inst: Instance, key: ValueKey) -> Verdict:
        record = self.facts.recorded_on.get(key)
        if record is None:
            return Verdict(True, Reason.OBSERVED_HERE)
        if record.value.unique != key.unique:
            delay = self.facts.delayed.get(ValueKey(key.graph, record.value.unique))
            return Verdict(
                True,
                Reason.OBSERVED_AFTER_FUSION,
                self._same(inst, (("delayed_from", record.value.unique),)),
                delay.pattern if delay else "",
            )
        related: list[tuple[str, Loc]] = []
        if record.via == "callee_input":
            related = self._callee_values(inst, key.unique, "callee_input", args=True)
        elif record.via == "callee_output":
            related = self._callee_values(inst, key.unique, "callee_return", args=False)
        elif record.via == "if_output":
            related = self._if_outputs(inst, key.unique)
        else:
            source = self.observer_source(key)
            if source is not None and source != key:
                loc = self.loc_of_key(inst, source)
                if loc is not None:
                    related = [("needed_by", loc)]
        return Verdict(True, OBSERVED_VIA[record.via], tuple(related))

    def _skipped(self, loc: Loc, reason: Reason) -> Verdict:
        if self.observer_source(self.index.key_of(loc)) is not None:
            return Verdict(False, reason)
        return self._needs_quantization_verdict(loc) or Verdict(False, reason)

    def _propagated(self, inst: Instance, unique: int, event: object) -> Verdict:
        if event.via == "pass_through":
            sources = list(dict.fromkeys(s.unique for s in event.sources))
            return Verdict(
                False, Reason.PASS_THROUGH, self._same(inst, _numbered("inherits_from", sources))
            )
        if event.via == "if_output":
            roles = [(f"branch_{i}", s.unique) for i, s in enumerate(event.sources)]
            return Verdict(False, Reason.OBSERVED_UPSTREAM, self._same(inst, roles))
        return Verdict(
            False,
            Reason.OBSERVED_UPSTREAM,
            tuple(self._callee_values(inst, unique, "callee_return", args=False)),
        )

    def _at_call_site(self, inst: Instance, unique: int) -> Verdict | None:
        """A graph input or return: what the call sites did with the caller's value."""
        best: tuple[int, Verdict] | None = None
        for edge in self.index.edges_into.get(inst.key, ()):
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
        inst = self.index.instance_of(loc)
        if self.index.key_of(loc) in self.facts.dropped:
            return Verdict(False, Reason.ONDEVICE_DYNAMIC_ACTIVATION)
        own = self._needs_quantization_verdict(loc)
        if own is not None:
            return own
        if inst.kind == "function":
            return Verdict(False, Reason.IN_FUNCTION)
        qconfig = self.qconfigs.get(inst.path)
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
                inst = self.index.instance_of(loc)
                event = self.facts.needs_quantization.get(self.index.key_of(loc))
                if event is None or event.outcome or event.reason != "no_quantizable_use":
                    continue
                if detail(event, "static_would_observe"):
                    return paths[state]
                for link, hop, hop_calls in self._chain_links(inst, loc, entered, visiting):
                    if (hop, hop_calls) not in paths:
                        paths[(hop, hop_calls)] = (*paths[state], (link, hop))
                        following.append((hop, hop_calls))
            frontier = following
        return None

    def _chain_links(
        self, inst: Instance, loc: Loc, calls: tuple[CallEdge, ...], visiting: frozenset[Loc]
    ) -> list[tuple[str, Loc, tuple[CallEdge, ...]]]:
        unique = loc.unique
        links = []
        for edge in self.index.edges_from.get(inst.key, ()):
            for link, pairs in (("passed_to", edge.args), ("returned_by", edge.results)):
                links += [
                    (link, edge.callee.loc(callee), (*calls, edge))
                    for caller, callee in pairs
                    if caller == unique
                ]
        graph_index = self.index.graphs[inst.graph]
        if not inst.entry and (unique in graph_index.inputs or unique in graph_index.returns):
            edges = calls[-1:] or self.index.edges_into.get(inst.key, ())
            for edge in edges:
                links += [
                    ("from_caller", edge.caller.loc(caller), calls[:-1])
                    for caller, callee in edge.args + edge.results
                    if callee == unique
                ]
        for entry in self.facts.pass_through.get(ValueKey(inst.graph, unique), ())[:1]:
            inputs = [
                inst.loc(ref.unique) for ref in entry.inputs if ref.graph.qualname == inst.graph
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
    def _same(self, inst: Instance, roles) -> tuple[tuple[str, Loc], ...]:
        return tuple((role, inst.loc(unique)) for role, unique in roles)

    def _callee_values(
        self, inst: Instance, unique: int, role: str, args: bool
    ) -> list[tuple[str, Loc]]:
        found: list[tuple[str, Loc]] = []
        for edge in self.index.edges_from.get(inst.key, ()):
            for caller_unique, callee_unique in edge.args if args else edge.results:
                if caller_unique == unique:
                    name = role if not found else f"{role}_{len(found) + 1}"
                    found.append((name, edge.callee.loc(callee_unique)))
        return found

    def _if_outputs(self, inst: Instance, unique: int) -> list[tuple[str, Loc]]:
        for entry in self.facts.boundary.get(ValueKey(inst.graph, unique), ()):
            if entry.kind == "if_output" and entry.callee.unique == unique:
                return [("if_output", inst.loc(entry.caller.unique))]
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
                    inst = self.index.instances.get(edge.callee)
                    if inst is None or inst.key in seen:
                        continue
                    if inst.graph == key.graph:
                        return inst.loc(key.unique)
                    seen.add(inst.key)
                    callees.append(inst.key)
            frontier = callees
        others = self.index.instances_of_graph(key.graph)
        return others[0].loc(key.unique) if others else None


def _numbered(role: str, uniques: list[int]) -> list[tuple[str, int]]:
    """``role``, ``role_2``, ``role_3``...: one related value per role name."""
    return [(role if i == 0 else f"{role}_{i + 1}", u) for i, u in enumerate(uniques)]
