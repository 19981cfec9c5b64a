"""The verdict on each value: observed or not, the reason code, and the values involved.

A verdict is read off the facts the events recorded (see :mod:`obsviz.facts`) in the
order the pass itself decides: an observer inserted on the value; the value inside a
block the pass does not walk; observation delayed by a fusion pattern; observed
without an observer (pass-through, a callee's or branch's output); a graph input or
return left to the call site; ``shouldObserve`` refusing; and last what
``valueNeedsToBeQuantized`` said. The codes are documented in
:data:`obsviz.explain.REASONS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from .facts import Facts, VKey, detail
from .qconfig import ModuleQConfig
from .values import CallEdge, Instance, Loc, ModelIndex

OBSERVED_VIA = {
    "self": "observed_here",
    "callee_input": "observed_for_callee_input",
    "callee_output": "observed_for_callee_output",
    "if_output": "observed_for_if_output",
}
VNQ_REASONS = {
    "bias": "bias",
    "not_tensor": "not_tensor",
    "embedding_bag_non_input": "embedding_bag_non_input",
    "dynamic_fp16_activation": "dynamic_fp16_activation",
    "no_quantizable_use": "no_quantizable_use",
}


@dataclass(frozen=True, slots=True)
class Verdict:
    observed: bool
    reason: str
    related: tuple[tuple[str, Loc], ...] = ()
    pattern: str = ""

    def get(self, role: str) -> Loc | None:
        return next((loc for r, loc in self.related if r == role), None)


class Verdicts:
    """Verdicts per value location, computed on demand and remembered."""

    def __init__(self, index: ModelIndex, facts: Facts,
                 qconfigs: dict[str, ModuleQConfig], final: Verdicts | None = None) -> None:
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
            if self.final is not None and not verdict.observed and \
                    verdict.reason != "observer_recorded" and \
                    self.final(loc).reason != verdict.reason:
                verdict = Verdict(False, "not_reached")  # a later step decides it
            self._memo[loc] = verdict
        return verdict

    # ------------------------------------------------------------------ the order of checks
    def _decide(self, loc: Loc) -> Verdict:
        path, method, unique = loc
        inst = self.index.instance(path, method)
        gi = self.index.graphs[inst.graph]
        key = (inst.graph, unique)
        slot = gi.slots.get(unique)
        facts = self.facts
        if slot is None:
            return Verdict(False, "removed_by_preprocessing")
        if key in facts.inserted:
            return self._observer_here(inst, key)
        if key in facts.recorded_on:
            return Verdict(False, "observer_recorded", self._same(inst, (
                ("recorded_for", facts.recorded_on[key].value.unique),)))
        if slot.place == "loop" or inst.in_loop:
            return self._skipped(loc, "skipped_in_loop")
        if self.final is not None and self.reached_later(inst.graph, key) is not None:
            return Verdict(False, "not_reached")
        if slot.place == "unwalked" or facts.first_visit(inst.graph) is None:
            return self._skipped(loc, "not_walked")
        record = facts.recorded_for.get(key)
        if record is not None and record.target.unique != unique:
            delay = facts.delayed.get(key)
            return Verdict(False, "delayed",
                           self._same(inst, (("observed_instead", record.target.unique),)),
                           delay.pattern if delay else "")
        propagated = facts.propagated.get(key)
        if propagated is not None:
            return self._propagated(inst, unique, propagated)
        inputs = gi.inputs if inst.kind == "function" else gi.inputs[1:]
        if not inst.entry and (unique in inputs or unique in gi.returns):
            at_call = self._at_call_site(inst, unique)
            if at_call is not None:
                return at_call
        rule = next((e for e in reversed(facts.decided.get(key, ()))
                     if getattr(e, "rule", "") in ("shouldObserve", "insertObserversFor")),
                    None)
        if rule is not None and rule.rule == "shouldObserve" and not rule.outcome:
            inputs = detail(rule, "inputs") or ()
            related = _numbered("unobserved_input", [r.unique for r, seen in inputs if not seen])
            related += _numbered("observed_input", [r.unique for r, seen in inputs if seen])
            return Verdict(False, "propagate_input_unobserved", self._same(inst, related))
        if rule is not None and rule.reason == "already_observed":
            return Verdict(False, "observed_upstream")
        return self._own_reason(loc)

    def reached_later(self, graph: str, key: VKey) -> int | None:
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
    def _observer_here(self, inst: Instance, key: VKey) -> Verdict:
        record = self.facts.recorded_on.get(key)
        if record is None:
            return Verdict(True, "observed_here")
        if record.value.unique != key[1]:
            delay = self.facts.delayed.get((key[0], record.value.unique))
            return Verdict(True, "observed_after_fusion",
                           self._same(inst, (("delayed_from", record.value.unique),)),
                           delay.pattern if delay else "")
        related: list[tuple[str, Loc]] = []
        if record.via == "callee_input":
            related = self._callee_values(inst, key[1], "callee_input", args=True)
        elif record.via == "callee_output":
            related = self._callee_values(inst, key[1], "callee_return", args=False)
        elif record.via == "if_output":
            related = self._if_outputs(inst, key[1])
        else:
            source = self.observer_source(key)
            if source is not None and source != key:
                loc = self.loc_of_key(inst, source)
                if loc is not None:
                    related = [("needed_by", loc)]
        return Verdict(True, OBSERVED_VIA[record.via], tuple(related))

    def _skipped(self, loc: Loc, reason: str) -> Verdict:
        inst = self.index.instance(loc[0], loc[1])
        if self.observer_source((inst.graph, loc[2])) is not None:
            return Verdict(False, reason)
        return self._vnq_verdict(loc) or Verdict(False, reason)

    def _propagated(self, inst: Instance, unique: int, event: object) -> Verdict:
        if event.via == "pass_through":
            sources = list(dict.fromkeys(s.unique for s in event.sources))
            return Verdict(False, "pass_through",
                           self._same(inst, _numbered("inherits_from", sources)))
        if event.via == "if_output":
            roles = [(f"branch_{i}", s.unique) for i, s in enumerate(event.sources)]
            return Verdict(False, "observed_upstream", self._same(inst, roles))
        return Verdict(False, "observed_upstream",
                       tuple(self._callee_values(inst, unique, "callee_return", args=False)))

    def _at_call_site(self, inst: Instance, unique: int) -> Verdict | None:
        """A graph input or return: what the call sites did with the caller's value."""
        best: tuple[int, Verdict] | None = None
        for edge in self.index.edges_into.get(inst.key, ()):
            for caller_unique, callee_unique in edge.args + edge.results:
                if callee_unique != unique:
                    continue
                caller = (edge.caller[0], edge.caller[1], caller_unique)
                found = self._from_caller(caller, self(caller))
                if found is not None and (best is None or found[0] < best[0]):
                    best = found
        return best[1] if best else None

    def _from_caller(self, caller: Loc, verdict: Verdict) -> tuple[int, Verdict] | None:
        if verdict.observed:
            return 0, Verdict(False, "observed_at_call_site",
                              (("caller_value", caller), ("observer_on", caller)))
        if verdict.reason == "observed_at_call_site":
            return 0, Verdict(False, "observed_at_call_site",
                              (("caller_value", caller),
                               ("observer_on", verdict.get("observer_on") or caller)))
        if verdict.reason == "delayed":
            return 1, Verdict(False, "delayed",
                              (("caller_value", caller),
                               ("observed_instead", verdict.get("observed_instead"))),
                              verdict.pattern)
        if verdict.reason in ("pass_through", "observed_upstream"):
            return 2, Verdict(False, "observed_upstream", (("caller_value", caller),))
        return None

    def _own_reason(self, loc: Loc) -> Verdict:
        inst = self.index.instance(loc[0], loc[1])
        if (inst.graph, loc[2]) in self.facts.dropped:
            return Verdict(False, "ondevice_dynamic_activation")
        own = self._vnq_verdict(loc)
        if own is not None:
            return own
        if inst.kind == "function":
            return Verdict(False, "in_function")
        qconfig = self.qconfigs.get(inst.path)
        if qconfig is not None and qconfig.qconfig is None:
            return Verdict(False, "no_qconfig")
        return Verdict(False, "not_walked")

    def _vnq_verdict(self, loc: Loc) -> Verdict | None:
        """What valueNeedsToBeQuantized turning the value down says, if it did."""
        inst = self.index.instance(loc[0], loc[1])
        event = self.facts.vnq.get((inst.graph, loc[2]))
        if event is None or event.outcome:
            return None
        if event.reason == "no_quantizable_use":
            chain = self.static_chain(loc)
            if chain is not None:
                related = (("static_would_observe", chain[-1][1]),) if chain else ()
                return Verdict(False, "dynamic_rules", related)
        return Verdict(False, VNQ_REASONS.get(event.reason, event.reason))

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
        return any(detail(e, "static_would_observe") for e in self.facts.vnq.values())

    def _search_chain(self, start: Loc, calls: tuple[CallEdge, ...], visiting: frozenset[Loc]
                      ) -> tuple[tuple[str, Loc], ...] | None:
        """Breadth-first, so the chain is the shortest. ``calls`` are the call sites entered
        on the way to ``start``; ``visiting`` guards the recursion into the other inputs of
        a pass-through op."""
        visiting = visiting | {start}
        paths: dict[tuple[Loc, tuple[CallEdge, ...]], tuple[tuple[str, Loc], ...]] = {
            (start, calls): ()}
        frontier = [(start, calls)]
        while frontier:
            following = []
            for state in frontier:
                loc, entered = state
                inst = self.index.instance(loc[0], loc[1])
                event = self.facts.vnq.get((inst.graph, loc[2]))
                if event is None or event.outcome or event.reason != "no_quantizable_use":
                    continue
                if detail(event, "static_would_observe"):
                    return paths[state]
                for link, nxt, nxt_calls in self._chain_links(inst, loc, entered, visiting):
                    if (nxt, nxt_calls) not in paths:
                        paths[(nxt, nxt_calls)] = (*paths[state], (link, nxt))
                        following.append((nxt, nxt_calls))
            frontier = following
        return None

    def _chain_links(self, inst: Instance, loc: Loc, calls: tuple[CallEdge, ...],
                     visiting: frozenset[Loc]) -> list[tuple[str, Loc, tuple[CallEdge, ...]]]:
        unique = loc[2]
        links = []
        for edge in self.index.edges_from.get(inst.key, ()):
            for link, pairs in (("passed_to", edge.args), ("returned_by", edge.results)):
                links += [(link, (*edge.callee, callee), (*calls, edge))
                          for caller, callee in pairs if caller == unique]
        gi = self.index.graphs[inst.graph]
        if not inst.entry and (unique in gi.inputs or unique in gi.returns):
            edges = calls[-1:] or self.index.edges_into.get(inst.key, ())
            for edge in edges:
                links += [("from_caller", (*edge.caller, caller), calls[:-1])
                          for caller, callee in edge.args + edge.results if callee == unique]
        for entry in self.facts.pass_through.get((inst.graph, unique), ())[:1]:
            inputs = [(inst.path, inst.method, ref.unique) for ref in entry.inputs
                      if ref.graph.qualname == inst.graph]
            if inputs and len(inputs) == len(entry.inputs) and all(
                    i not in visiting and self._search_chain(i, calls, visiting) is not None
                    for i in inputs):
                links.append(("passes_on", inputs[0], calls))
        return links

    # ------------------------------------------------------------------ related values
    def _same(self, inst: Instance, roles) -> tuple[tuple[str, Loc], ...]:
        return tuple((role, (inst.path, inst.method, unique)) for role, unique in roles)

    def _callee_values(self, inst: Instance, unique: int, role: str, args: bool
                       ) -> list[tuple[str, Loc]]:
        found: list[tuple[str, Loc]] = []
        for edge in self.index.edges_from.get(inst.key, ()):
            for caller_unique, callee_unique in (edge.args if args else edge.results):
                if caller_unique == unique:
                    name = role if not found else f"{role}_{len(found) + 1}"
                    found.append((name, (edge.callee[0], edge.callee[1], callee_unique)))
        return found

    def _if_outputs(self, inst: Instance, unique: int) -> list[tuple[str, Loc]]:
        for entry in self.facts.boundary.get((inst.graph, unique), ()):
            if entry.kind == "if_output" and entry.callee.unique == unique:
                return [("if_output", (inst.path, inst.method, entry.caller.unique))]
        return []

    def observer_source(self, key: VKey, seen: set[VKey] | None = None) -> VKey | None:
        """``getObserverFor`` over the recorded maps: the value whose own need applies."""
        event = self.facts.vnq.get(key)
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

    def loc_of_key(self, near: Instance, key: VKey) -> Loc | None:
        """A location for a value key, preferring ``near`` and the instances it calls."""
        if key[0] == near.graph:
            return (near.path, near.method, key[1])
        frontier = [near.key]
        seen = set(frontier)
        while frontier:
            nxt = []
            for caller in frontier:
                for edge in self.index.edges_from.get(caller, ()):
                    inst = self.index.instances.get(edge.callee)
                    if inst is None or inst.key in seen:
                        continue
                    if inst.graph == key[0]:
                        return (inst.path, inst.method, key[1])
                    seen.add(inst.key)
                    nxt.append(inst.key)
            frontier = nxt
        others = self.index.instances_of_graph(key[0])
        return (others[0].path, others[0].method, key[1]) if others else None


def _numbered(role: str, uniques: list[int]) -> list[tuple[str, int]]:
    """``role``, ``role_2``, ``role_3``...: one related value per role name."""
    return [(role if i == 0 else f"{role}_{i + 1}", u) for i, u in enumerate(uniques)]
