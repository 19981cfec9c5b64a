"""Why was, or wasn't, this value observed?

An :class:`Explanation` holds a verdict (one line that says what happened and where to
look next), a reason code (:mod:`obsviz.reasons`), the related values, and the trail:
the rule checks of the pass, in the order it made them, that led there. Everything is
read from the run's recorded events (through :mod:`obsviz.verdicts`).
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import torch

from . import events as ev
from .errors import ObsvizError
from .facts import detail
from .fixes import fold_notes
from .graphs import access_path, is_observer_call, join_path
from .reasons import REASONS, SHOULD_OBSERVE_OUTCOMES, SKIP_OUTCOMES, Reason
from .reasons import reasons_markdown as reasons_markdown  # its old home
from .refs import Loc, ValueKey, ValueRef, display_path, method_label
from .rules import get_func_name, is_half
from .verdicts import Verdict

if TYPE_CHECKING:
    from .calib import Calibration
    from .calib.note import ObserverNumbers
    from .figures import Figure
    from .run import Run
    from .run_view import RunView


@dataclass(frozen=True)
class TrailStep:
    """One rule check of the pass: its name, what it looked at, and what it found."""

    rule: str
    inputs: tuple[tuple[str, str], ...]
    outcome: str
    step: int

    def __str__(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in self.inputs)
        return f"{self.step:>6}  {self.rule}({args}) -> {self.outcome}"


@dataclass(frozen=True)
class Explanation:
    """Why a value was, or wasn't, observed."""

    value: ValueRef
    observed: bool
    reason: Reason
    verdict: str
    trail: tuple[TrailStep, ...]
    related: Mapping[str, ValueRef] = field(default_factory=dict, hash=False)
    notes: tuple[str, ...] = ()
    producer: str = ""
    observer: str = ""  # the observer attribute when observed
    step: int = -1  # the step of the run the explanation reads
    run: Run | None = field(default=None, repr=False, compare=False)
    # the observer's numbers after calibration (see with_calibration)
    calibration: ObserverNumbers | None = field(default=None, compare=False)

    def with_calibration(self, calibration: Calibration) -> Explanation:
        """This explanation with the range, qparams, flags and (once
        ``calibration.error(...)`` ran) error of the observer watching the value, or of
        the observer it relies on."""
        from .calib.note import observer_numbers

        return replace(self, calibration=observer_numbers(calibration, self))

    def render(self, when: str = "diff", **options: object) -> Figure:
        """The value's neighbourhood: its producer and users, the value a fused pattern
        observes instead or the inputs it passes on, and the observer; ``when`` as in
        :meth:`obsviz.Run.render` ("diff" draws your graph with the added observers)."""
        if self.run is None:
            raise ObsvizError("this explanation has no run to draw; use run.explain(...)")
        from .figures.run_figures import render_value

        return render_value(self.run, self.value, when=when, caption=self.verdict, **options)

    @property
    def summary(self) -> str:
        """What the reason code means, from the vocabulary."""
        return REASONS[self.reason].summary

    def __str__(self) -> str:
        lines = [
            f"{self.value}  ({self.producer})",
            f"{'observed' if self.observed else 'not observed'} [{self.reason}]: {self.verdict}",
        ]
        if self.related:
            lines.append("related:")
            lines += [f"  {role:18s} {ref}" for role, ref in self.related.items()]
        for note in self.notes:
            lines.append(f"note: {note}")
        if self.calibration is not None:
            lines += self.calibration.lines()
        lines.append("trail:")
        lines += [f"  {s}" for s in self.trail]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        e = html.escape
        color = "#1a7f37" if self.observed else "#9a6700"
        return (
            f"<div class='obsviz-explanation'>"
            f"<div><code>{e(str(self.value))}</code> <small>({e(self.producer)})</small></div>"
            f"<div style='border-left:4px solid {color};padding-left:6px;margin:4px 0'>"
            f"<b>{'observed' if self.observed else 'not observed'}</b> "
            f"<code>{e(self.reason)}</code>: {e(self.verdict)}</div>"
            f"{self.related_html()}"
            f"{self.calibration.html() if self.calibration is not None else ''}"
            f"<details><summary>trail of rule checks "
            f"({len(self.trail)})</summary>{self.trail_html()}</details></div>"
        )

    def related_html(self) -> str:
        """The related values and the notes as HTML lists ("" when there are none); every
        string from the model escaped."""
        e = html.escape
        related = "".join(
            f"<li><b>{e(role)}</b>: <code>{e(str(ref))}</code></li>"
            for role, ref in self.related.items()
        )
        notes = "".join(f"<li>{e(note)}</li>" for note in self.notes)
        return (f"<div>Related values:<ul>{related}</ul></div>" if related else "") + (
            f"<div>Notes:<ul>{notes}</ul></div>" if notes else ""
        )

    def trail_html(self) -> str:
        """The trail as an HTML table, one row a rule check; every string escaped."""
        e = html.escape
        rows = "".join(
            f"<tr><td class='num'>{s.step}</td><td><code>{e(s.rule)}</code></td>"
            f"<td>{e(', '.join(f'{k}={v}' for k, v in s.inputs))}</td>"
            f"<td>{e(s.outcome)}</td></tr>"
            for s in self.trail
        )
        return (
            "<table><tr><th>step</th><th>rule</th><th>looked at</th><th>found</th></tr>"
            f"{rows}</table>"
        )


FOLLOW = ("observer_on", "caller_value", "callee_return", "inherits_from", "branch_0")
"""Roles of related values that lead towards the observer a value relies on."""


def explain(
    view: RunView, loc: Loc, notes: tuple[str, ...] = (), observed_names: bool = False
) -> Explanation:
    """The explanation of one value; ``observed_names`` names values as run.module does."""
    notes = (*notes, *fold_notes(view.run.original, loc[0], loc[1]))
    return _Explainer(view, loc, notes, observed_names).build()


class _Explainer:
    """Builds one explanation: the verdict line, the related values and the trail."""

    def __init__(
        self, view: RunView, loc: Loc, notes: tuple[str, ...], observed_names: bool
    ) -> None:
        self.view = view
        self.observed_names = observed_names
        self.index = view.index
        self.facts = view.facts
        self.verdicts = view.verdicts
        self.loc = loc
        self.instance = self.index.instance_of(loc)
        self.graph_index = self.index.graphs[self.instance.graph]
        self.key = ValueKey(self.instance.graph, loc.unique)
        self.notes = list(notes)

    # ------------------------------------------------------------------ naming values
    def name(self, loc: Loc) -> str:
        return self.ref(loc).name

    def ref(self, loc: Loc) -> ValueRef:
        return self.index.ref(loc, self.observed_names)

    def label(self, loc: Loc | None) -> str:
        """``%name``, with its module and method when they differ from the explained one."""
        if loc is None:
            return "?"
        if loc.instance == self.loc.instance:
            return f"%{self.name(loc)}"
        return f"%{self.name(loc)} in {loc.instance}"

    @property
    def here(self) -> str:
        """The explained value's label: ``%name``."""
        return self.label(self.loc)

    def what(self, loc: Loc) -> str:
        """What produces a value, in words."""
        instance = self.index.instance_of(loc)
        slot = self.index.graphs[instance.graph].slots.get(loc.unique)
        if slot is None:
            return "a value removed by preprocessing"
        node = slot.value.node()
        kind = node.kind()
        if kind == "prim::Param":
            inputs = self.index.graphs[instance.graph].inputs
            if loc.unique in inputs:
                position = inputs.index(loc.unique)
                if instance.kind == "function":
                    return f"argument {position} of function {loc.method}"
                return f"input {position} of {loc.instance}"
            return "a loop-carried value"
        if kind == "prim::CallMethod":
            return f"the result of {self.callee_name(node, loc.path)}"
        if kind == "prim::CallFunction":
            return f"the result of {get_func_name(node.inputsAt(0))}()"
        if kind == "prim::GetAttr":
            owner = node.inputsAt(0)
            is_self = owner.node().kind() == "prim::Param" and owner.offset() == 0
            return f"self.{node.s('name')}" if is_self else f"attribute {node.s('name')}"
        if kind == "prim::Constant":
            return "a constant"
        return f"the output of {kind}"

    def callee_name(self, node: torch._C.Node, path: str | None = None) -> str:
        """``layer1.0.conv1.forward()``: the instance path and method a CallMethod calls."""
        names, _ = access_path(node.inputsAt(0))
        target = join_path(self.loc.path if path is None else path, names) or "self"
        return f"{target}.{node.s('name')}()"

    def users(self, loc: Loc) -> list[str]:
        """The ops that use a value (looking through observer calls)."""
        slot = self.index.slot(loc)
        found: list[str] = []
        stack = [slot.value]
        path = loc.path
        while stack:
            for use in stack.pop().uses():
                user = use.user
                if is_observer_call(user):
                    stack.append(user.outputsAt(0))
                    continue
                text = (
                    self.callee_name(user, path)
                    if user.kind() == "prim::CallMethod"
                    else f"{get_func_name(user.inputsAt(0))}()"
                    if user.kind() == "prim::CallFunction"
                    else user.kind()
                )
                if text not in found:
                    found.append(text)
        return found

    def observer(self, loc: Loc) -> str:
        instance = self.index.instance_of(loc)
        graph_index = self.index.graphs[instance.graph]
        attribute = graph_index.observer_of.get(loc.unique, "an observer")
        event = self.facts.inserted.get(ValueKey(instance.graph, loc.unique))
        kind = f" ({event.observer_class})" if event else ""
        return f"{attribute}{kind} in {display_path(loc.path)}"

    def need(self, source: Loc) -> str:
        """Why ``valueNeedsToBeQuantized`` wanted an observer for ``source``, as a noun."""
        event = self.facts.needs_quantization.get(self.index.key_of(source))
        if event is not None and event.reason == "quantizable_use":
            use = detail(event, "use")
            if use:
                op, offset = use
                which = "the weight" if detail(event, "role") == "weight" else f"input {offset}"
                return f"{which} of {op}"
        if event is not None and event.reason == "quantizable_producer":
            return f"{self.what(source)}, a quantizable op"
        return "a value that needs an observer"

    def because(self, loc: Loc, source: Loc | None) -> str:
        if source is None or source == loc:
            return f"it is {self.need(loc)}"
        return f"it is passed on as {self.label(source)}, {self.need(source)}"

    # ------------------------------------------------------------------ verdict lines
    def verdict_line(self, verdict: Verdict) -> str:
        """The sentence for the verdict's reason (its summary when it has none of its own)."""
        sentence = SENTENCES.get(verdict.reason)
        return sentence(self, verdict) if sentence is not None else REASONS[verdict.reason].summary

    def dynamic_observes(self, loc: Loc) -> str:
        """What dynamic quantization observes under the qconfig of ``loc``'s module."""
        module = self.view.qconfigs.get(loc.path)
        activation = module.qconfig.activation if module and module.qconfig else None
        if activation is not None and is_half(activation.getattr("dtype")):
            return "the weight of linear (no activations, under a float16 activation observer)"
        return "the input and the weight of linear (aten::linear, F.linear())"

    def returned_by_callee(self, loc: Loc) -> Loc | None:
        """For a call's result: the value the called graph returns as it."""
        for edge in self.index.edges_from.get(loc.instance, ()):
            for caller_unique, callee_unique in edge.results:
                if caller_unique == loc.unique:
                    return edge.callee.loc(callee_unique)
        return None

    def where_unwalked(self, loc: Loc, depth: int = 0) -> str:
        """The block, or the call chain, that keeps the pass away from a value."""
        instance = self.index.instance_of(loc)
        slot = self.index.graphs[instance.graph].slots[loc.unique]
        where = str(loc.instance)
        if slot.place != "walked":
            owner = slot.value.node().owningBlock().owningNode()
            while owner is not None and slot.place == "loop" and owner.kind() != "prim::Loop":
                owner = owner.owningBlock().owningNode()
            if owner is None:
                return f"in a block of {where} the pass does not walk"
            if owner.kind() == "prim::If":
                return f"in an If branch of {where} that always raises"
            outputs = ", ".join(f"%{value.debugName()}" for value in owner.outputs())
            return (
                f"inside the body of the {owner.kind()}"
                + (f" producing {outputs}" if outputs else "")
                + f" in {where}"
            )
        edges = self.index.edges_into.get(instance.key, ())
        if self.view.failure is not None or not edges or depth > 20:
            return f"in {where}, which the pass did not reach"
        edge = edges[0]
        call = edge.caller.loc(edge.results[0][0]) if edge.results else None
        if call is None:
            return f"in {where}, which the pass did not reach"
        return f"in {where}, called only {self.where_unwalked(call, depth + 1)}"

    def need_of_callee(self, callee: Loc | None) -> str:
        if callee is None:
            return "it needs an observer"
        instance = self.index.instance_of(callee)
        source = self.verdicts.observer_source(self.index.key_of(callee))
        source_loc = self.verdicts.loc_of_key(instance, source) if source else None
        return self.because(callee, source_loc)

    def producer_text(self) -> str:
        slot = self.index.slot(self.loc)
        if slot.producer == "prim::CallMethod":
            return self.callee_name(slot.value.node())
        if slot.producer == "prim::CallFunction":
            return f"{get_func_name(slot.value.node().inputsAt(0))}()"
        return slot.producer

    def observer_behind(self, loc: Loc) -> Loc | None:
        """Following callers, callees and pass-through inputs: the value with the observer."""
        seen: set[Loc] = set()
        while loc is not None and loc not in seen:
            seen.add(loc)
            verdict = self.verdicts(loc)
            if verdict.observed:
                return loc
            next_loc = None
            for role in FOLLOW:
                next_loc = verdict.get(role)
                if next_loc is not None:
                    break
            loc = next_loc
        return None

    def behind(self, loc: Loc) -> str:
        """``; the observer behind it: ...`` when there is one further away."""
        origin = self.observer_behind(loc)
        if origin is None or origin == loc:
            return ""
        return f"; the observer behind it is {self.observer(origin)} on {self.label(origin)}"

    # ------------------------------------------------------------------ trail
    def trail(self, verdict: Verdict) -> list[TrailStep]:
        steps: list[TrailStep] = []
        facts = self.facts
        here = self.label(self.loc)
        qconfig = facts.qconfig.get(self.loc.path)
        if qconfig is not None:
            steps.append(self.qconfig_step(qconfig))
        steps += self.boundary_steps()
        for delay in (facts.delayed.get(self.key), facts.delay_target.get(self.key)):
            if delay is not None:
                steps.append(
                    TrailStep(
                        "delayObservingValuesInPattern",
                        (
                            ("pattern", delay.pattern),
                            ("first", self.label(self.same(delay.first))),
                            ("second", self.label(self.same(delay.second))),
                        ),
                        f"observe {self.label(self.same(delay.second))} instead of "
                        f"{self.label(self.same(delay.first))}",
                        delay.step,
                    )
                )
        for entry in facts.pass_through.get(self.key, ())[:1]:
            inputs = ", ".join(self.label(self.same(i)) for i in entry.inputs)
            steps.append(
                TrailStep(
                    "fillPassThroughValueMap",
                    (("output", here), ("inputs", inputs)),
                    "observed when all its inputs are",
                    entry.step,
                )
            )
        needed = facts.needs_quantization.get(self.key)
        if needed is not None:
            steps += self.needs_quantization_steps(needed)
        origin = verdict.get("static_would_observe")
        if origin is not None:
            event = facts.needs_quantization[self.index.key_of(origin)]
            which, op = detail(event, "static_would_observe")
            steps.append(
                TrailStep(
                    "valueNeedsToBeQuantized",
                    (("value", self.label(origin)),),
                    f"false (no_quantizable_use); static would observe {which} of {op}",
                    event.step,
                )
            )
        dropped = facts.dropped.get(self.key)
        if dropped is not None:
            steps.append(
                TrailStep(
                    "removeActivationObservers",
                    (("value", here),),
                    "dropped: on-device dynamic PTQ keeps weight observers only",
                    dropped.step,
                )
            )
        first = facts.first_visit(self.instance.graph)
        if first is not None:
            steps.append(
                TrailStep(
                    "insertObserversFor",
                    (("graph", method_label(first.module_path, self.loc.method)),),
                    "first walk of this graph: it decides the graph's observers",
                    first.step,
                )
            )
        steps += self.decided_steps(self.key, self.loc)
        for role, other in verdict.related:
            if role in ("caller_value", "observer_on", "observed_instead") and other:
                steps += [
                    s
                    for s in self.decided_steps(self.index.key_of(other), other)
                    if s.rule in ("recordObserved", "insertObserverFor")
                ]
        for loop in facts.loops:
            if (loop.module_path, loop.method) == self.loc.instance:
                steps.append(
                    TrailStep(
                        "insertObserversFor",
                        (
                            (
                                "loop",
                                self.label(self.same(loop.loop_output))
                                if loop.loop_output
                                else "prim::Loop",
                            ),
                        ),
                        "prim::Loop: not walked inside",
                        loop.step,
                    )
                )
        unique_steps = list(dict.fromkeys(steps))
        unique_steps.sort(key=lambda s: s.step)
        return unique_steps

    def same(self, ref: ValueRef) -> Loc:
        """A ref of the explained graph, at the explained instance."""
        if ref.graph.qualname == self.instance.graph:
            return self.loc.instance.loc(ref.unique)
        return self.verdicts.loc_of_key(self.instance, ref.key) or self.loc

    def qconfig_step(self, event: ev.QConfigAssigned) -> TrailStep:
        if not event.has_qconfig:
            outcome = "None: explicitly" if event.explicit else "None: no key covers it"
        elif event.explicit:
            outcome = f"qconfig from its own key {event.qconfig_key!r}"
        else:
            outcome = f"qconfig inherited from key {event.qconfig_key!r}"
        return TrailStep(
            "fillQConfigMap", (("module", display_path(event.module_path)),), outcome, event.step
        )

    def boundary_steps(self) -> list[TrailStep]:
        """The boundary-map entries of this value, with this instance's callers and callees."""
        entries = {(e.caller.key, e.callee.key): e for e in self.facts.boundary.get(self.key, ())}
        pairs: list[tuple[Loc, Loc, ev.BoundaryEntry]] = []
        for (caller, callee), e in entries.items():
            if e.kind == "if_output":
                pairs.append((self.same(e.caller), self.same(e.callee), e))
            elif caller == self.key:
                callee_loc = self.callee_of(callee)
                if callee_loc is not None:
                    pairs.append((self.loc, callee_loc, e))
        for edge in self.index.edges_into.get(self.instance.key, ()):
            caller_graph = self.index.instances[edge.caller].graph
            for caller_unique, callee_unique in edge.args + edge.results:
                e = entries.get(((caller_graph, caller_unique), self.key))
                if callee_unique == self.loc.unique and e is not None:
                    pairs.append((edge.caller.loc(caller_unique), self.loc, e))
        return [
            TrailStep(
                "fillBoundaryValueMap",
                (("caller", self.label(caller)), ("callee", self.label(callee))),
                f"mapped ({e.kind})",
                e.step,
            )
            for caller, callee, e in pairs
        ]

    def callee_of(self, key: ValueKey) -> Loc | None:
        for edge in self.index.edges_from.get(self.instance.key, ()):
            callee = self.index.instances[edge.callee]
            if callee.graph != key.graph:
                continue
            for caller_unique, callee_unique in edge.args + edge.results:
                if caller_unique == self.loc.unique and callee_unique == key.unique:
                    return callee.loc(callee_unique)
        return None

    def needs_quantization_steps(self, event: ev.RuleEvaluated) -> list[TrailStep]:
        here = self.label(self.loc)
        slot = self.index.slot(self.loc)
        producer = slot.producer
        static = self.view.quant_type == "static"
        clauses = [
            ("isBiasOfConvOrLinear", "bias", ("value", here), "true", "false"),
            (
                "isTensorOrTensorList",
                "not_tensor",
                ("type", str(slot.value.type())),
                "false",
                "true",
            ),
            ("isEmbeddingBagNonInput", "embedding_bag_non_input", ("value", here), "true", "false"),
        ]
        would = detail(event, "static_would_observe") or ("", "")
        if static:
            clauses.append(
                (
                    "nodeQuantizable || isPropagateQuantOp",
                    "quantizable_producer",
                    ("producer", producer),
                    "true",
                    "false",
                )
            )
        else:
            clauses.append(
                (
                    "nodeQuantizable || isPropagateQuantOp",
                    "",
                    ("producer", producer),
                    "",
                    "skipped: static quantization only"
                    + (
                        f" (static would observe the output of {would[1]})"
                        if would[0] == "the output"
                        else ""
                    ),
                )
            )
            clauses.append(
                (
                    "isHalfObserver && !isWeight",
                    "dynamic_fp16_activation",
                    ("value", here),
                    "true",
                    "false",
                )
            )
        use = detail(event, "use")
        unquantizable_use = "false"
        if would[0] and would[0] != "the output":
            unquantizable_use += (
                f" (dynamic quantization: linear only; static would observe "
                f"{would[0]} of {would[1]})"
            )
        clauses.append(
            (
                "useQuantizable",
                "quantizable_use",
                ("users", ", ".join(self.users(self.loc)) or "none"),
                f"true: input {use[1]} of {use[0]}" if use else "true",
                unquantizable_use,
            )
        )
        steps = []
        for rule, code, arg, hit, miss in clauses:
            decided = event.reason == code or (
                code == "quantizable_use" and event.reason == "no_quantizable_use"
            )
            outcome = hit if event.reason == code else miss
            steps.append(TrailStep(rule, (arg,), outcome, event.step))
            if decided:
                break
        role = detail(event, "role")
        result = (
            f"true ({role} observer configured)" if event.outcome else f"false ({event.reason})"
        )
        steps.append(TrailStep("valueNeedsToBeQuantized", (("value", here),), result, event.step))
        return steps

    def decided_steps(self, key: ValueKey, loc: Loc) -> list[TrailStep]:
        steps: list[TrailStep] = []
        label = self.label(loc)
        for e in self.facts.decided.get(key, ()):
            if isinstance(e, ev.RuleEvaluated):
                if e.rule == "shouldObserve":
                    source = self.verdicts.observer_source(key)
                    if source is not None:
                        source_loc = self.verdicts.loc_of_key(self.index.instance_of(loc), source)
                        found = (
                            "its own"
                            if source == key
                            else f"via the call boundary from {self.label(source_loc)}"
                        )
                        steps.append(
                            TrailStep(
                                "getObserverFor",
                                (("value", label),),
                                f"observer found: {found}",
                                e.step,
                            )
                        )
                    inputs = detail(e, "inputs") or ()
                    shown = ", ".join(
                        f"{self.label(self.same(ref))} ({'observed' if seen else 'not observed'})"
                        for ref, seen in inputs
                    )
                    use = detail(e, "use")
                    args = [("value", label)]
                    if shown:
                        args.append(("inputs", shown))
                    outcome = f"{str(e.outcome).lower()}: {SHOULD_OBSERVE_OUTCOMES[e.reason]}"
                    if use:
                        outcome += f" (input {use[1]} of {use[0]})"
                    steps.append(TrailStep("shouldObserve", tuple(args), outcome, e.step))
                else:
                    outcome = SKIP_OUTCOMES.get(e.reason, e.reason)
                    steps.append(TrailStep(e.rule, (("value", label),), outcome, e.step))
            elif isinstance(e, ev.ObserverRecorded):
                target = self.same_at(e.target, loc)
                where = "" if e.target.key == e.value.key else f", delayed to {self.label(target)}"
                steps.append(
                    TrailStep(
                        "recordObserved",
                        (
                            ("value", self.label(self.same_at(e.value, loc))),
                            ("via", e.via),
                            ("role", e.role),
                        ),
                        f"observer recorded{where}",
                        e.step,
                    )
                )
            elif isinstance(e, ev.ObservedPropagated):
                sources = ", ".join(self.label(self.same_at(s, loc)) for s in e.sources)
                rule = (
                    "propagateObservedProperty" if e.via == "pass_through" else "insertObserversFor"
                )
                steps.append(
                    TrailStep(
                        rule,
                        (("value", label), ("sources", sources)),
                        f"counts as observed ({e.via})",
                        e.step,
                    )
                )
            elif isinstance(e, ev.ObserverInserted):
                steps.append(
                    TrailStep(
                        "insertObserverFor",
                        (("value", label), ("module", display_path(loc.path))),
                        f"{e.attribute} ({e.observer_class}) inserted; "
                        f"run.module calls it as %{e.output_name}",
                        e.step,
                    )
                )
        return steps

    def same_at(self, ref: ValueRef, loc: Loc) -> Loc:
        near = self.index.instance_of(loc)
        if ref.graph.qualname == near.graph:
            return near.loc(ref.unique)
        return self.verdicts.loc_of_key(near, ref.key) or loc

    # ------------------------------------------------------------------ assembly
    def build(self) -> Explanation:
        verdict = self.verdicts(self.loc)
        slot = self.graph_index.slots.get(self.loc.unique)
        related = {role: self.ref(loc) for role, loc in verdict.related if loc is not None}
        if verdict.reason == "no_quantizable_use" and slot is not None:
            callee = self.returned_by_callee(self.loc)
            if callee is not None:
                related["callee_return"] = self.ref(callee)
        first = self.facts.first_visit(self.instance.graph)
        if (
            first is not None
            and first.module_path != self.loc.path
            and self.instance.kind == "method"
        ):
            this, first_path = display_path(self.loc.path), display_path(first.module_path)
            self.notes.append(
                f"{this} runs the same graph as {first_path} (one class type); the pass "
                f"decided the graph's observers while walking {first_path} and gave {this} "
                "copies."
            )
        if self.instance.kind == "function":
            self.notes.append(
                f"{self.loc.method} is a user-defined function; its values are "
                "listed under the module calling it "
                f"({display_path(self.loc.path)})."
            )
        observer = self.graph_index.observer_of.get(self.loc.unique, "") if verdict.observed else ""
        if slot is None:
            trail: list[TrailStep] = []
        else:
            trail = self.trail(verdict)
        return Explanation(
            value=self.ref(self.loc),
            observed=verdict.observed,
            reason=verdict.reason,
            verdict=_sentence(self.verdict_line(verdict)),
            trail=tuple(trail),
            related=related,
            notes=tuple(self.notes),
            producer=slot.producer if slot else "removed",
            observer=observer,
            step=self.view.step,
            run=self.view.run,
        )


# ---------------------------------------------------------------------- the sentences
# One function a reason: the verdict line of a value with that reason, from the explainer
# of the value (``explainer.loc`` is the value, ``explainer.here`` its label,
# ``explainer.label(...)`` names other values) and its verdict.
Sentence = Callable[[_Explainer, Verdict], str]


def _observed_here(explainer: _Explainer, verdict: Verdict) -> str:
    loc = explainer.loc
    return (
        f"{explainer.observer(loc)} observes {explainer.here} because "
        f"{explainer.because(loc, verdict.get('needed_by'))}."
    )


def _observed_after_fusion(explainer: _Explainer, verdict: Verdict) -> str:
    first = verdict.get("delayed_from")
    return (
        f"{explainer.observer(explainer.loc)} observes {explainer.here} in place of "
        f"{explainer.label(first)} ({explainer.what(first)}): the {verdict.pattern} fusion "
        "pattern delayed that value's observation to this one."
    )


def _observed_for_callee_input(explainer: _Explainer, verdict: Verdict) -> str:
    here, callee = explainer.here, verdict.get("callee_input")
    return (
        f"{explainer.observer(explainer.loc)} observes {here} at the call site because "
        f"{explainer.label(callee)} needs its input observed "
        f"({explainer.need_of_callee(callee)}), and {here} was not observed yet."
    )


def _observed_for_callee_output(explainer: _Explainer, verdict: Verdict) -> str:
    loc, callee = explainer.loc, verdict.get("callee_return")
    return (
        f"{explainer.observer(loc)} observes {explainer.here}, {explainer.what(loc)}, "
        f"because the value returned there, {explainer.label(callee)}, needs an observer "
        f"({explainer.need_of_callee(callee)}) and a called graph never observes its own "
        "return."
    )


def _observed_for_if_output(explainer: _Explainer, verdict: Verdict) -> str:
    return (
        f"{explainer.observer(explainer.loc)} observes {explainer.here}, a branch result "
        f"of the If producing {explainer.label(verdict.get('if_output'))}, which needs an "
        "observer."
    )


def _observer_recorded(explainer: _Explainer, verdict: Verdict) -> str:
    return (
        f"at step {explainer.view.step} an observer is recorded for {explainer.here} but "
        "not inserted yet; the pass inserts at the end of the graph's walk."
    )


def _delayed(explainer: _Explainer, verdict: Verdict) -> str:
    instead, caller = verdict.get("observed_instead"), verdict.get("caller_value")
    subject = (
        f"{explainer.here} ({explainer.what(explainer.loc)})"
        if caller is None
        else f"the value it stands for, {explainer.label(caller)},"
    )
    return (
        f"the {verdict.pattern} fusion pattern delays observing {subject} to "
        f"{explainer.label(instead)} ({explainer.what(instead)}), which "
        f"{explainer.observer(instead)} observes; explain that value next."
    )


def _observed_at_call_site(explainer: _Explainer, verdict: Verdict) -> str:
    loc = explainer.loc
    caller, on = verdict.get("caller_value"), verdict.get("observer_on")
    role = "input" if loc.unique in explainer.graph_index.inputs else "return value"
    this = f"this {role} of {loc.instance}"
    if on == caller:
        return (
            f"{this} is observed at the call site: {explainer.observer(on)} observes "
            f"{explainer.label(caller)}."
        )
    return (
        f"{this} is observed at a call site further up: it is {explainer.label(caller)} "
        f"there, and {explainer.observer(on)} observes {explainer.label(on)}."
    )


def _pass_through(explainer: _Explainer, verdict: Verdict) -> str:
    sources = [loc for role, loc in verdict.related if role.startswith("inherits_from")]
    return (
        f"{explainer.here} needs no observer of its own: {explainer.producer_text()} "
        f"passes on the observed state of {_with_reasons(explainer, sources)}"
        f"{explainer.behind(sources[0])}."
    )


def _observed_upstream(explainer: _Explainer, verdict: Verdict) -> str:
    here = explainer.here
    caller = verdict.get("caller_value")
    if caller is not None:
        return (
            f"{here} needs no observer of its own: the caller passes "
            f"{explainer.label(caller)}, which already counts as observed "
            f"({explainer.verdicts(caller).reason}){explainer.behind(caller)}."
        )
    callee = verdict.get("callee_return")
    if callee is not None:
        return (
            f"{here} needs no observer of its own: {explainer.producer_text()} returns "
            f"{explainer.label(callee)}, which already counts as observed there "
            f"({explainer.verdicts(callee).reason}){explainer.behind(callee)}."
        )
    branches = [s for role, s in verdict.related if role.startswith("branch_")]
    if branches:
        return (
            f"{here} needs no observer of its own: every branch of the If returns "
            f"an observed value ({', '.join(explainer.label(b) for b in branches)})."
        )
    return f"{here} needs no observer of its own: it was already observed when the pass reached it."


def _propagate_input_unobserved(explainer: _Explainer, verdict: Verdict) -> str:
    unobserved = [s for role, s in verdict.related if role.startswith("unobserved_input")]
    op = explainer.index.slot(explainer.loc).producer
    count = "its input is" if op == "aten::cat" else "both its inputs are"
    one = len(unobserved) == 1
    return (
        f"{op} is only observed when {count} observed, and "
        f"{_with_reasons(explainer, unobserved)} {'is' if one else 'are'} not; explain "
        f"{'it' if one else 'them'} next."
    )


def _with_reasons(explainer: _Explainer, locs: list[Loc]) -> str:
    """``%a (reason), %b (reason)``: values named with their own reason codes."""
    return ", ".join(f"{explainer.label(loc)} ({explainer.verdicts(loc).reason})" for loc in locs)


def _bias(explainer: _Explainer, verdict: Verdict) -> str:
    return (
        f"{explainer.here} is the bias of {', '.join(explainer.users(explainer.loc))}; "
        "biases are never observed."
    )


def _not_tensor(explainer: _Explainer, verdict: Verdict) -> str:
    here, kind = explainer.here, explainer.index.slot(explainer.loc).value.type()
    if kind.kind() == "ClassType":
        return f"{here} is a module ({kind.qualified_name().rsplit('.', 1)[-1]}), not a Tensor."
    text = str(kind)
    article = "an" if text[:1].lower() in "aeiou" else "a"
    return f"{here} is {article} {text}, not a Tensor."


def _embedding_bag_non_input(explainer: _Explainer, verdict: Verdict) -> str:
    return (
        f"{explainer.here} is the offsets or per_sample_weights of "
        "aten::embedding_bag, which are never observed."
    )


def _no_qconfig(explainer: _Explainer, verdict: Verdict) -> str:
    path, qconfigs = explainer.loc.path, explainer.view.qconfigs
    assigned = qconfigs.get(path)
    if assigned is not None and assigned.explicit:
        why = f"qconfig_dict sets {path!r} to None"
    elif assigned is not None and assigned.key is None and path:
        parent = next((p for p in _parents(path) if qconfigs.get(p) and qconfigs[p].explicit), None)
        why = (
            f"it inherits None from {parent!r}"
            if parent is not None
            else "no qconfig_dict key covers it"
        )
    else:
        why = "no qconfig_dict key covers it"
    return (
        f"module {display_path(path)} has no qconfig ({why}), so the pass configures no "
        f"observers in its graph; {explainer.here} is {explainer.what(explainer.loc)}."
    )


def _no_quantizable_use(explainer: _Explainer, verdict: Verdict) -> str:
    loc, here = explainer.loc, explainer.here
    users = ", ".join(explainer.users(loc)) or "nothing"
    returned = ""
    callee = explainer.returned_by_callee(loc)
    if callee is not None:
        returned = (
            f"; the value returned there, {explainer.label(callee)}, is not observed "
            f"either ({explainer.verdicts(callee).reason})"
        )
    if explainer.view.quant_type == "static":
        return (
            f"nothing quantizable produces or uses {here}: it is {explainer.what(loc)}, "
            f"used by {users}{returned}."
        )
    return (
        f"dynamic quantization observes only {explainer.dynamic_observes(loc)}; {here} is "
        f"neither, and no method it is passed to uses it so: it is {explainer.what(loc)}, "
        f"used by {users}{returned}."
    )


CHAIN_LINKS = {
    "passed_to": "is passed on as {}",
    "returned_by": "is the return value {}",
    "from_caller": "is {} at the call site",
    "passes_on": "passes on {}",
}
"""How a link of a static chain reads in a dynamic_rules sentence."""


def _dynamic_rules(explainer: _Explainer, verdict: Verdict) -> str:
    """The value, or the value it leads to, is one static quantization observes; name
    the op and what dynamic quantization observes instead."""
    loc = explainer.loc
    chain = explainer.verdicts.static_chain(loc)
    origin = chain[-1][1] if chain else loc
    needed = explainer.facts.needs_quantization[explainer.index.key_of(origin)]
    which, op = detail(needed, "static_would_observe")
    if not chain and which == "the output":
        path = explainer.here  # what() would say it twice
    else:
        path = f"{explainer.here} ({explainer.what(loc)})"
    previous = loc
    for i, (link, hop) in enumerate(chain):
        if 0 < i < len(chain) - 1 and len(chain) > 3:
            if i == 1:
                path += f" {len(chain) - 2} steps further"
        else:
            text = CHAIN_LINKS[link].format(explainer.label(hop))
            callers = len(explainer.index.edges_into.get(previous.instance, ()))
            if link == "from_caller" and callers > 1:
                text = text.replace("the call site", f"one of its {callers} call sites")
            path += f" {text}, which"
        previous = hop
    path += f" is {which} of {op}"
    dynamic = explainer.dynamic_observes(origin)
    if which == "the output":
        return (
            f"{path}; static quantization observes the outputs of quantizable ops "
            f"such as {op}, dynamic quantization no op's output, only {dynamic}."
        )
    return (
        f"{path}; static quantization observes such a value, but {op} is not "
        f"dynamically quantizable: dynamic quantization observes only {dynamic}."
    )


def _dynamic_fp16_activation(explainer: _Explainer, verdict: Verdict) -> str:
    loc = explainer.loc
    return (
        f"module {display_path(loc.path)}'s qconfig has a float16 activation observer, and "
        f"dynamic quantization observes no float16 activations; {explainer.here} is not "
        f"the weight of a conv or linear in this graph (it is {explainer.what(loc)}, used "
        f"by {', '.join(explainer.users(loc)) or 'nothing'}), so it counts as an "
        "activation."
    )


def _ondevice_dynamic_activation(explainer: _Explainer, verdict: Verdict) -> str:
    return (
        f"on-device dynamic PTQ removed the activation observer configured for "
        f"{explainer.here}; only weight observers stay."
    )


def _in_function(explainer: _Explainer, verdict: Verdict) -> str:
    return (
        f"{explainer.here} is in user-defined function {explainer.loc.method}; the pass "
        "configures no observers inside functions (make it a submodule's method)."
    )


def _skipped_in_loop(explainer: _Explainer, verdict: Verdict) -> str:
    return (
        f"{explainer.here} is {explainer.where_unwalked(explainer.loc)}; the pass never "
        "looks inside prim::Loop bodies, though the value would need an observer."
    )


def _not_walked(explainer: _Explainer, verdict: Verdict) -> str:
    loc, here = explainer.loc, explainer.here
    if explainer.view.failure is not None and explainer.index.slot(loc).place == "walked":
        return (
            f"the pass stopped (see run.failure) before it decided {here}, {explainer.what(loc)}."
        )
    return (
        f"{here} is {explainer.where_unwalked(loc)}; the pass never walks there, though "
        "the value would need an observer."
    )


def _not_reached(explainer: _Explainer, verdict: Verdict) -> str:
    """What is true of a value the pass has not decided yet, at the view's step."""
    loc, here, graph = explainer.loc, explainer.here, explainer.instance.graph
    verdicts = explainer.verdicts
    later = verdicts.reached_later(graph, explainer.key)
    at = f"not decided yet at step {explainer.view.step}"
    visit = explainer.facts.first_visit(graph)
    if visit is None:
        return (
            f"{at}: the pass walks {loc.instance} for the first time at step {later}, "
            f"and decides {here} there."
        )
    if later is not None:
        return (
            f"{at}: the pass is walking {loc.instance} (since step {visit.step}) and "
            f"reaches {here} at step {later}."
        )
    final = verdicts.final(loc).reason if verdicts.final else "?"
    return (
        f"{at}: the pass has walked {loc.instance} (from step {visit.step}), but what "
        f"{here} gets depends on a later step (at the end: {final})."
    )


def _removed_by_preprocessing(explainer: _Explainer, verdict: Verdict) -> str:
    return (
        f"%{explainer.name(explainer.loc)} is not in the graph the pass analyzed: "
        "preprocessing (linear fusion, conv rewriting, constant propagation, fork/wait "
        "inlining) replaced it; read run.module's graph for what took its place."
    )


SENTENCES: dict[Reason, Sentence] = {
    Reason.OBSERVED_HERE: _observed_here,
    Reason.OBSERVED_AFTER_FUSION: _observed_after_fusion,
    Reason.OBSERVED_FOR_CALLEE_INPUT: _observed_for_callee_input,
    Reason.OBSERVED_FOR_CALLEE_OUTPUT: _observed_for_callee_output,
    Reason.OBSERVED_FOR_IF_OUTPUT: _observed_for_if_output,
    Reason.OBSERVER_RECORDED: _observer_recorded,
    Reason.DELAYED: _delayed,
    Reason.OBSERVED_AT_CALL_SITE: _observed_at_call_site,
    Reason.PASS_THROUGH: _pass_through,
    Reason.OBSERVED_UPSTREAM: _observed_upstream,
    Reason.PROPAGATE_INPUT_UNOBSERVED: _propagate_input_unobserved,
    Reason.BIAS: _bias,
    Reason.NOT_TENSOR: _not_tensor,
    Reason.EMBEDDING_BAG_NON_INPUT: _embedding_bag_non_input,
    Reason.NO_QCONFIG: _no_qconfig,
    Reason.NO_QUANTIZABLE_USE: _no_quantizable_use,
    Reason.DYNAMIC_RULES: _dynamic_rules,
    Reason.DYNAMIC_FP16_ACTIVATION: _dynamic_fp16_activation,
    Reason.ONDEVICE_DYNAMIC_ACTIVATION: _ondevice_dynamic_activation,
    Reason.IN_FUNCTION: _in_function,
    Reason.SKIPPED_IN_LOOP: _skipped_in_loop,
    Reason.NOT_WALKED: _not_walked,
    Reason.NOT_REACHED: _not_reached,
    Reason.REMOVED_BY_PREPROCESSING: _removed_by_preprocessing,
}
"""The verdict line of each reason; a reason missing here is told by its summary."""


SENTENCE_STARTS = frozenset({"the", "this", "nothing", "dynamic", "on-device", "at", "module"})


def _sentence(text: str) -> str:
    """Capitalize a verdict unless it starts with a name (a value, module or observer)."""
    first = text.split(" ", 1)[0]
    return text[:1].upper() + text[1:] if first in SENTENCE_STARTS else text


def _parents(path: str) -> list[str]:
    parts = path.split(".")
    return [".".join(parts[:i]) for i in range(len(parts) - 1, -1, -1)]
