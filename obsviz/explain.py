"""Why was, or wasn't, this value observed?

An :class:`Explanation` holds a verdict (one line that says what happened and where to
look next), a reason code from :data:`REASONS`, the related values, and the trail: the
rule checks of the pass, in the order it made them, that led there. Everything is
read from the run's recorded events (through :mod:`obsviz.verdicts`).
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

from . import events as ev
from .errors import ObsvizError
from .facts import VKey, detail
from .graphs import access_path
from .refs import ValueRef
from .rules import get_func_name, is_half
from .values import OBSERVER_PREFIX, Loc
from .verdicts import Verdict

if TYPE_CHECKING:
    from .figures import Figure
    from .run import Run
    from .view import RunView


@dataclass(frozen=True)
class Reason:
    """One code of the reason vocabulary."""

    code: str
    observed: bool  # does the value get an observer call of its own?
    summary: str
    rule: str  # the function of the pass whose decision this is


REASONS: dict[str, Reason] = {r.code: r for r in (
    Reason("observed_here", True,
           "an observer is inserted on the value: it needs quantization (its own "
           "valueNeedsToBeQuantized, or that of a callee value it is passed to) and "
           "shouldObserve agreed", "insertObserverFor"),
    Reason("observed_after_fusion", True,
           "an observer is inserted on the value in place of the first op's output of a "
           "fusion pattern (e.g. conv2d -> relu), whose observation was delayed to here",
           "delayObservingValuesInPattern"),
    Reason("observed_for_callee_input", True,
           "an observer is inserted on the value at a call site because the called "
           "method's input needs one and the value was not observed yet",
           "insertObserversFor"),
    Reason("observed_for_callee_output", True,
           "an observer is inserted on a call's result because the called graph's return "
           "value needs one (a called graph never observes its own return)",
           "insertObserversFor"),
    Reason("observed_for_if_output", True,
           "an observer is inserted on a branch's result because the If output needs one "
           "(a branch never observes its own outputs)", "insertObserversFor"),
    Reason("observer_recorded", False,
           "an observer is recorded for the value but not inserted yet (a step before the "
           "end of the graph's walk, or the pass stopped)", "recordObserved"),
    Reason("delayed", False,
           "a fusion pattern delays its observation: the second op's output is observed "
           "instead", "delayObservingValuesInPattern"),
    Reason("observed_at_call_site", False,
           "an input or return of a called method: its observer sits on the caller's "
           "value at the call site", "insertObserversFor"),
    Reason("pass_through", False,
           "counts as observed without an observer: a pass-through op (pooling, flatten, "
           "relu, ...) passes on the observed state of its inputs",
           "propagateObservedProperty"),
    Reason("observed_upstream", False,
           "counts as observed without an observer: already observed upstream (the caller "
           "passes an observed value, the called graph observed what it returns, or every "
           "If branch observed it)", "insertObserversFor"),
    Reason("propagate_input_unobserved", False,
           "a propagate op (cat, add, mul) is observed only when its tensor inputs are, and "
           "an input was not", "shouldObserve"),
    Reason("bias", False, "the bias of a conv or linear is never observed",
           "isBiasOfConvOrLinear"),
    Reason("not_tensor", False, "not a Tensor or a list of Tensors",
           "valueNeedsToBeQuantized"),
    Reason("embedding_bag_non_input", False,
           "the offsets or per_sample_weights of aten::embedding_bag are never observed",
           "isEmbeddingBagNonInput"),
    Reason("no_qconfig", False,
           "the module running the graph has no qconfig (None, or no key covers it)",
           "fillQConfigMap"),
    Reason("no_quantizable_use", False,
           "no quantizable op uses it (nor, in static quantization, produces it), and no "
           "called method it is passed to needs it observed", "valueNeedsToBeQuantized"),
    Reason("dynamic_rules", False,
           "dynamic quantization observes only the input and weight of linear, the one "
           "dynamically quantizable op; static quantization would observe the value, or the "
           "one it leads to across calls and pass-through ops (a conv's input, a linear's "
           "output, ...)", "valueNeedsToBeQuantized"),
    Reason("dynamic_fp16_activation", False,
           "dynamic quantization with a float16 activation observer observes no activations "
           "(values not used as the weight of a conv or linear)", "valueNeedsToBeQuantized"),
    Reason("ondevice_dynamic_activation", False,
           "on-device dynamic PTQ keeps only weight observers", "removeActivationObservers"),
    Reason("in_function", False,
           "a value of a user-defined function: the pass configures no observers inside "
           "functions", "fillValueObserverMap"),
    Reason("skipped_in_loop", False,
           "inside a prim::Loop body (or a method called only there), which the pass never "
           "walks, though it would need an observer", "insertObserversFor"),
    Reason("not_walked", False,
           "in a block or method the pass never walks (an If branch that always raises, "
           "prim::With or closure bodies), or the pass stopped before reaching it",
           "insertObserversFor"),
    Reason("not_reached", False,
           "not decided yet at this step: the pass reaches the value's graph, or the value "
           "in the graph it is walking, at a later step (run.at(step) views only)",
           "insertObserversFor"),
    Reason("removed_by_preprocessing", False,
           "not in the graph the pass analyzed: preprocessing (fork/wait inlining, linear "
           "fusion, conv rewriting, constant propagation, list-mutation removal) replaced "
           "it", "preprocess"),
)}
"""The reason vocabulary: every way the pass can decide about a value."""


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
    reason: str
    verdict: str
    trail: tuple[TrailStep, ...]
    related: Mapping[str, ValueRef] = field(default_factory=dict, hash=False)
    notes: tuple[str, ...] = ()
    producer: str = ""
    observer: str = ""  # the observer attribute when observed
    step: int = -1  # the step of the run the explanation reads
    run: Run | None = field(default=None, repr=False, compare=False)

    def render(self, when: str = "diff", **options: object) -> Figure:
        """The value's neighbourhood: its producer and users, the value a fused pattern
        observes instead or the inputs it passes on, and the observer; ``when`` as in
        :meth:`obsviz.Run.render` ("diff" draws your graph with the added observers)."""
        if self.run is None:
            raise ObsvizError("this explanation has no run to draw; use run.explain(...)")
        from .figures.views import render_value
        return render_value(self.run, self.value, when=when, caption=self.verdict,
                            **options)

    @property
    def summary(self) -> str:
        """What the reason code means, from the vocabulary."""
        return REASONS[self.reason].summary

    def __str__(self) -> str:
        lines = [f"{self.value}  ({self.producer})",
                 f"{'observed' if self.observed else 'not observed'} [{self.reason}]: "
                 f"{self.verdict}"]
        if self.related:
            lines.append("related:")
            lines += [f"  {role:18s} {ref}" for role, ref in self.related.items()]
        for note in self.notes:
            lines.append(f"note: {note}")
        lines.append("trail:")
        lines += [f"  {s}" for s in self.trail]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        e = html.escape
        color = "#1a7f37" if self.observed else "#9a6700"
        related = "".join(f"<li><b>{e(role)}</b>: <code>{e(str(ref))}</code></li>"
                          for role, ref in self.related.items())
        notes = "".join(f"<li>{e(note)}</li>" for note in self.notes)
        trail = "".join(
            f"<tr><td>{s.step}</td><td><code>{e(s.rule)}</code></td>"
            f"<td>{e(', '.join(f'{k}={v}' for k, v in s.inputs))}</td>"
            f"<td>{e(s.outcome)}</td></tr>" for s in self.trail)
        return (
            f"<div class='obsviz-explanation'>"
            f"<div><code>{e(str(self.value))}</code> <small>({e(self.producer)})</small></div>"
            f"<div style='border-left:4px solid {color};padding-left:6px;margin:4px 0'>"
            f"<b>{'observed' if self.observed else 'not observed'}</b> "
            f"<code>{e(self.reason)}</code>: {e(self.verdict)}</div>"
            + (f"<div>related:<ul>{related}</ul></div>" if related else "")
            + (f"<div>notes:<ul>{notes}</ul></div>" if notes else "")
            + "<details><summary>trail of rule checks "
            f"({len(self.trail)})</summary><table><tr><th>step</th><th>rule</th>"
            f"<th>inputs</th><th>outcome</th></tr>{trail}</table></details></div>")


FOLLOW = ("observer_on", "caller_value", "callee_return", "inherits_from", "branch_0")
"""Roles of related values that lead towards the observer a value relies on."""

SHOULD_OBSERVE = {
    "quantizable_use": "a use is quantizable",
    "propagate_input_observed": "cat's input is observed",
    "propagate_inputs_observed": "both inputs are observed",
    "propagate_input_unobserved": "an input is not observed",
    "not_propagate_op": "not a propagate op (cat, add, mul)",
}


def _display(path: str) -> str:
    return path or "<top>"


def explain(view: RunView, loc: Loc, notes: tuple[str, ...] = (),
            observed_names: bool = False) -> Explanation:
    """The explanation of one value; ``observed_names`` names values as run.module does."""
    return _Explainer(view, loc, notes, observed_names).build()


class _Explainer:
    """Builds one explanation: the verdict line, the related values and the trail."""

    def __init__(self, view: RunView, loc: Loc, notes: tuple[str, ...],
                 observed_names: bool) -> None:
        self.view = view
        self.observed_names = observed_names
        self.index = view.index
        self.facts = view.facts
        self.verdicts = view.verdicts
        self.loc = loc
        self.inst = self.index.instance(loc[0], loc[1])
        self.gi = self.index.graphs[self.inst.graph]
        self.key: VKey = (self.inst.graph, loc[2])
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
        if loc[:2] == self.loc[:2]:
            return f"%{self.name(loc)}"
        return f"%{self.name(loc)} in {_display(loc[0])}.{loc[1]}"

    def what(self, loc: Loc) -> str:
        """What produces a value, in words."""
        slot = self.index.graphs[self.index.instance(loc[0], loc[1]).graph].slots.get(loc[2])
        if slot is None:
            return "a value removed by preprocessing"
        node = slot.value.node()
        kind = node.kind()
        if kind == "prim::Param":
            inst = self.index.instance(loc[0], loc[1])
            inputs = self.index.graphs[inst.graph].inputs
            if loc[2] in inputs:
                position = inputs.index(loc[2])
                if inst.kind == "function":
                    return f"argument {position} of function {loc[1]}"
                return f"input {position} of {_display(loc[0])}.{loc[1]}"
            return "a loop-carried value"
        if kind == "prim::CallMethod":
            return f"the result of {self.callee_name(node, loc[0])}"
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
        path = self.loc[0] if path is None else path
        target = ".".join([p for p in [path, *names] if p]) or "self"
        return f"{target}.{node.s('name')}()"

    def users(self, loc: Loc) -> list[str]:
        """The ops that use a value (looking through observer calls)."""
        slot = self.index.slot(loc)
        found: list[str] = []
        stack = [slot.value]
        path = loc[0]
        while stack:
            for use in stack.pop().uses():
                user = use.user
                if user.kind() == "prim::CallMethod" and user.inputsAt(0).node().kind() == \
                        "prim::GetAttr" and user.inputsAt(0).node().s("name").startswith(
                            OBSERVER_PREFIX):
                    stack.append(user.outputsAt(0))
                    continue
                text = self.callee_name(user, path) if user.kind() == "prim::CallMethod" else \
                    f"{get_func_name(user.inputsAt(0))}()" if user.kind() == \
                    "prim::CallFunction" else user.kind()
                if text not in found:
                    found.append(text)
        return found

    def observer(self, loc: Loc) -> str:
        inst = self.index.instance(loc[0], loc[1])
        gi = self.index.graphs[inst.graph]
        attribute = gi.observer_of.get(loc[2], "an observer")
        event = self.facts.inserted.get((inst.graph, loc[2]))
        kind = f" ({event.observer_class})" if event else ""
        return f"{attribute}{kind} in {_display(loc[0])}"

    def need(self, source: Loc) -> str:
        """Why ``valueNeedsToBeQuantized`` wanted an observer for ``source``, as a noun."""
        inst = self.index.instance(source[0], source[1])
        event = self.facts.vnq.get((inst.graph, source[2]))
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
    def verdict_line(self, v: Verdict) -> str:
        loc, here = self.loc, self.label(self.loc)
        get = v.get
        r = v.reason
        if r == "observed_here":
            return f"{self.observer(loc)} observes {here} because " \
                   f"{self.because(loc, get('needed_by'))}."
        if r == "observed_after_fusion":
            first = get("delayed_from")
            return (f"{self.observer(loc)} observes {here} in place of {self.label(first)} "
                    f"({self.what(first)}): the {v.pattern} fusion pattern delayed that "
                    f"value's observation to this one.")
        if r == "observed_for_callee_input":
            callee = get("callee_input")
            return (f"{self.observer(loc)} observes {here} at the call site because "
                    f"{self.label(callee)} needs its input observed "
                    f"({self.need_of_callee(callee)}), and {here} was not observed yet.")
        if r == "observed_for_callee_output":
            callee = get("callee_return")
            return (f"{self.observer(loc)} observes {here}, {self.what(loc)}, because the "
                    f"value returned there, {self.label(callee)}, needs an observer "
                    f"({self.need_of_callee(callee)}) and a called graph never observes "
                    "its own return.")
        if r == "observed_for_if_output":
            out = get("if_output")
            return (f"{self.observer(loc)} observes {here}, a branch result of the If "
                    f"producing {self.label(out)}, which needs an observer.")
        if r == "observer_recorded":
            return (f"at step {self.view.step} an observer is recorded for {here} but not "
                    "inserted yet; the pass inserts at the end of the graph's walk.")
        if r == "delayed":
            instead = get("observed_instead")
            caller = get("caller_value")
            subject = f"{here} ({self.what(loc)})" if caller is None else \
                f"the value it stands for, {self.label(caller)},"
            return (f"the {v.pattern} fusion pattern delays observing {subject} to "
                    f"{self.label(instead)} ({self.what(instead)}), which "
                    f"{self.observer(instead)} observes; explain that value next.")
        if r == "observed_at_call_site":
            caller, on = get("caller_value"), get("observer_on")
            role = "input" if self.loc[2] in self.gi.inputs else "return value"
            this = f"this {role} of {_display(loc[0])}.{loc[1]}"
            if on == caller:
                return (f"{this} is observed at the call site: {self.observer(on)} observes "
                        f"{self.label(caller)}.")
            return (f"{this} is observed at a call site further up: it is "
                    f"{self.label(caller)} there, and {self.observer(on)} observes "
                    f"{self.label(on)}.")
        if r == "pass_through":
            sources = [loc_ for role, loc_ in v.related if role.startswith("inherits_from")]
            listed = ", ".join(f"{self.label(s)} ({self.verdicts(s).reason})"
                               for s in sources)
            return (f"{here} needs no observer of its own: {self.producer_text()} passes on "
                    f"the observed state of {listed}{self.behind(sources[0])}.")
        if r == "observed_upstream":
            return self.upstream_line(v)
        if r == "propagate_input_unobserved":
            unobserved = [s for role, s in v.related if role.startswith("unobserved_input")]
            listed = ", ".join(f"{self.label(s)} ({self.verdicts(s).reason})"
                               for s in unobserved)
            op = self.index.slot(loc).producer
            count = "its input is" if op == "aten::cat" else "both its inputs are"
            return (f"{op} is only observed when {count} observed, and {listed} "
                    f"{'is' if len(unobserved) == 1 else 'are'} not; explain "
                    f"{'it' if len(unobserved) == 1 else 'them'} next.")
        if r == "bias":
            return f"{here} is the bias of {', '.join(self.users(loc))}; biases are never " \
                   "observed."
        if r == "not_tensor":
            kind = self.index.slot(loc).value.type()
            if kind.kind() == "ClassType":
                name = kind.qualified_name().rsplit(".", 1)[-1]
                return f"{here} is a module ({name}), not a Tensor."
            text = str(kind)
            article = "an" if text[:1].lower() in "aeiou" else "a"
            return f"{here} is {article} {text}, not a Tensor."
        if r == "embedding_bag_non_input":
            return f"{here} is the offsets or per_sample_weights of aten::embedding_bag, " \
                   "which are never observed."
        if r == "no_qconfig":
            return self.no_qconfig_line()
        if r == "no_quantizable_use":
            users = ", ".join(self.users(loc)) or "nothing"
            returned = ""
            callee = self.returned_by_callee(loc)
            if callee is not None:
                returned = (f"; the value returned there, {self.label(callee)}, is not "
                            f"observed either ({self.verdicts(callee).reason})")
            if self.view.run.quant_type == "static":
                return (f"nothing quantizable produces or uses {here}: it is "
                        f"{self.what(loc)}, used by {users}{returned}.")
            return (f"dynamic quantization observes only {self.dynamic_observes(loc)}; "
                    f"{here} is neither, and no method it is passed to uses it so: it is "
                    f"{self.what(loc)}, used by {users}{returned}.")
        if r == "dynamic_rules":
            return self.dynamic_rules_line(v)
        if r == "dynamic_fp16_activation":
            return (f"module {_display(loc[0])}'s qconfig has a float16 activation observer, "
                    f"and dynamic quantization observes no float16 activations; {here} is "
                    f"not the weight of a conv or linear in this graph (it is "
                    f"{self.what(loc)}, used by {', '.join(self.users(loc)) or 'nothing'}), "
                    "so it counts as an activation.")
        if r == "ondevice_dynamic_activation":
            return f"on-device dynamic PTQ removed the activation observer configured for " \
                   f"{here}; only weight observers stay."
        if r == "in_function":
            return f"{here} is in user-defined function {loc[1]}; the pass configures no " \
                   "observers inside functions (make it a submodule's method)."
        if r == "skipped_in_loop":
            return (f"{here} is {self.where_unwalked(loc)}; the pass never looks inside "
                    "prim::Loop bodies, though the value would need an observer.")
        if r == "not_walked":
            if self.view.run.failure is not None and self.index.slot(loc).place == "walked":
                return (f"the pass stopped (see run.failure) before it decided {here}, "
                        f"{self.what(loc)}.")
            return (f"{here} is {self.where_unwalked(loc)}; the pass never walks there, "
                    "though the value would need an observer.")
        if r == "not_reached":
            return self.not_reached_line(loc)
        if r == "removed_by_preprocessing":
            return (f"%{self.name(loc)} is not in the graph the pass analyzed: preprocessing "
                    "(linear fusion, conv rewriting, constant propagation, fork/wait "
                    "inlining) replaced it; read run.module's graph for what took its place.")
        return REASONS[r].summary

    def not_reached_line(self, loc: Loc) -> str:
        """What is true of a value the pass has not decided yet, at this view's step."""
        graph, here = self.inst.graph, self.label(loc)
        later = self.verdicts.reached_later(graph, self.key)
        at = f"not decided yet at step {self.view.step}"
        where = f"{_display(loc[0])}.{loc[1]}"
        visit = self.facts.first_visit(graph)
        if visit is None:
            return (f"{at}: the pass walks {where} for the first time at step {later}, and "
                    f"decides {here} there.")
        if later is not None:
            return (f"{at}: the pass is walking {where} (since step {visit.step}) and "
                    f"reaches {here} at step {later}.")
        final = self.verdicts.final(loc).reason if self.verdicts.final else "?"
        return (f"{at}: the pass has walked {where} (from step {visit.step}), but what "
                f"{here} gets depends on a later step (at the end: {final}).")

    CHAIN_LINKS = {"passed_to": "is passed on as {}",
                   "returned_by": "is the return value {}",
                   "from_caller": "is {} at the call site",
                   "passes_on": "passes on {}"}

    def dynamic_rules_line(self, v: Verdict) -> str:
        """The value, or the value it leads to, is one static quantization observes; name
        the op and what dynamic quantization observes instead."""
        loc = self.loc
        chain = self.verdicts.static_chain(loc)
        origin = chain[-1][1] if chain else loc
        inst = self.index.instance(origin[0], origin[1])
        which, op = detail(self.facts.vnq[(inst.graph, origin[2])], "static_would_observe")
        if not chain and which == "the output":
            path = self.label(loc)  # what() would say it twice
        else:
            path = f"{self.label(loc)} ({self.what(loc)})"
        previous = loc
        for i, (link, hop) in enumerate(chain):
            if 0 < i < len(chain) - 1 and len(chain) > 3:
                if i == 1:
                    path += f" {len(chain) - 2} steps further"
            else:
                text = self.CHAIN_LINKS[link].format(self.label(hop))
                callers = len(self.index.edges_into.get(previous[:2], ()))
                if link == "from_caller" and callers > 1:
                    text = text.replace("the call site", f"one of its {callers} call sites")
                path += f" {text}, which"
            previous = hop
        path += f" is {which} of {op}"
        dynamic = self.dynamic_observes(origin)
        if which == "the output":
            return (f"{path}; static quantization observes the outputs of quantizable ops "
                    f"such as {op}, dynamic quantization no op's output, only {dynamic}.")
        return (f"{path}; static quantization observes such a value, but {op} is not "
                f"dynamically quantizable: dynamic quantization observes only {dynamic}.")

    def dynamic_observes(self, loc: Loc) -> str:
        """What dynamic quantization observes under the qconfig of ``loc``'s module."""
        module = self.view.run.qconfigs.get(loc[0])
        activation = module.qconfig.activation if module and module.qconfig else None
        if activation is not None and is_half(activation.getattr("dtype")):
            return "the weight of linear (no activations, under a float16 activation observer)"
        return "the input and the weight of linear (aten::linear, F.linear())"

    def returned_by_callee(self, loc: Loc) -> Loc | None:
        """For a call's result: the value the called graph returns as it."""
        for edge in self.index.edges_from.get((loc[0], loc[1]), ()):
            for caller_unique, callee_unique in edge.results:
                if caller_unique == loc[2]:
                    return (edge.callee[0], edge.callee[1], callee_unique)
        return None

    def where_unwalked(self, loc: Loc, depth: int = 0) -> str:
        """The block, or the call chain, that keeps the pass away from a value."""
        inst = self.index.instance(loc[0], loc[1])
        slot = self.index.graphs[inst.graph].slots[loc[2]]
        where = f"{_display(loc[0])}.{loc[1]}"
        if slot.place != "walked":
            owner = slot.value.node().owningBlock().owningNode()
            while owner is not None and slot.place == "loop" and owner.kind() != "prim::Loop":
                owner = owner.owningBlock().owningNode()
            if owner is None:
                return f"in a block of {where} the pass does not walk"
            if owner.kind() == "prim::If":
                return f"in an If branch of {where} that always raises"
            outputs = ", ".join(f"%{v.debugName()}" for v in owner.outputs())
            return f"inside the body of the {owner.kind()}" + (
                f" producing {outputs}" if outputs else "") + f" in {where}"
        edges = self.index.edges_into.get(inst.key, ())
        if self.view.run.failure is not None or not edges or depth > 20:
            return f"in {where}, which the pass did not reach"
        edge = edges[0]
        call = (edge.caller[0], edge.caller[1], edge.results[0][0]) if edge.results else None
        if call is None:
            return f"in {where}, which the pass did not reach"
        return f"in {where}, called only {self.where_unwalked(call, depth + 1)}"

    def need_of_callee(self, callee: Loc | None) -> str:
        if callee is None:
            return "it needs an observer"
        inst = self.index.instance(callee[0], callee[1])
        source = self.verdicts.observer_source((inst.graph, callee[2]))
        source_loc = self.verdicts.loc_of_key(inst, source) if source else None
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
            v = self.verdicts(loc)
            if v.observed:
                return loc
            nxt = None
            for role in FOLLOW:
                nxt = v.get(role)
                if nxt is not None:
                    break
            loc = nxt
        return None

    def behind(self, loc: Loc) -> str:
        """``; the observer behind it: ...`` when there is one further away."""
        origin = self.observer_behind(loc)
        if origin is None or origin == loc:
            return ""
        return f"; the observer behind it is {self.observer(origin)} on {self.label(origin)}"

    def upstream_line(self, v: Verdict) -> str:
        here = self.label(self.loc)
        caller = v.get("caller_value")
        if caller is not None:
            return (f"{here} needs no observer of its own: the caller passes "
                    f"{self.label(caller)}, which already counts as observed "
                    f"({self.verdicts(caller).reason}){self.behind(caller)}.")
        callee = v.get("callee_return")
        if callee is not None:
            return (f"{here} needs no observer of its own: {self.producer_text()} returns "
                    f"{self.label(callee)}, which already counts as observed there "
                    f"({self.verdicts(callee).reason}){self.behind(callee)}.")
        branches = [s for role, s in v.related if role.startswith("branch_")]
        if branches:
            return (f"{here} needs no observer of its own: every branch of the If returns "
                    f"an observed value ({', '.join(self.label(b) for b in branches)}).")
        return f"{here} needs no observer of its own: it was already observed when the " \
               "pass reached it."

    def no_qconfig_line(self) -> str:
        path = self.loc[0]
        mq = self.view.run.qconfigs.get(path)
        if mq is not None and mq.explicit:
            why = f"qconfig_dict sets {path!r} to None"
        elif mq is not None and mq.key is None and path:
            parent = next((p for p in _parents(path) if (self.view.run.qconfigs.get(p)
                                                         and self.view.run.qconfigs[p].explicit)),
                          None)
            why = f"it inherits None from {parent!r}" if parent is not None else \
                "no qconfig_dict key covers it"
        else:
            why = "no qconfig_dict key covers it"
        return (f"module {_display(path)} has no qconfig ({why}), so the pass configures no "
                f"observers in its graph; {self.label(self.loc)} is {self.what(self.loc)}.")

    # ------------------------------------------------------------------ trail
    def trail(self, v: Verdict) -> list[TrailStep]:
        steps: list[TrailStep] = []
        facts = self.facts
        here = self.label(self.loc)
        qconfig = facts.qconfig.get(self.loc[0])
        if qconfig is not None:
            steps.append(self.qconfig_step(qconfig))
        steps += self.boundary_steps()
        for delay in (facts.delayed.get(self.key), facts.delay_target.get(self.key)):
            if delay is not None:
                steps.append(TrailStep(
                    "delayObservingValuesInPattern",
                    (("pattern", delay.pattern), ("first", self.label(self.same(delay.first))),
                     ("second", self.label(self.same(delay.second)))),
                    f"observe {self.label(self.same(delay.second))} instead of "
                    f"{self.label(self.same(delay.first))}", delay.step))
        for entry in facts.pass_through.get(self.key, ())[:1]:
            inputs = ", ".join(self.label(self.same(i)) for i in entry.inputs)
            steps.append(TrailStep("fillPassThroughValueMap",
                                   (("output", here), ("inputs", inputs)),
                                   "observed when all its inputs are", entry.step))
        vnq = facts.vnq.get(self.key)
        if vnq is not None:
            steps += self.vnq_steps(vnq)
        origin = v.get("static_would_observe")
        if origin is not None:
            inst = self.index.instance(origin[0], origin[1])
            event = facts.vnq[(inst.graph, origin[2])]
            which, op = detail(event, "static_would_observe")
            steps.append(TrailStep("valueNeedsToBeQuantized", (("value", self.label(origin)),),
                                   f"false (no_quantizable_use); static would observe "
                                   f"{which} of {op}", event.step))
        dropped = facts.dropped.get(self.key)
        if dropped is not None:
            steps.append(TrailStep("removeActivationObservers", (("value", here),),
                                   "dropped: on-device dynamic PTQ keeps weight observers only",
                                   dropped.step))
        first = facts.first_visit(self.inst.graph)
        if first is not None:
            steps.append(TrailStep(
                "insertObserversFor",
                (("graph", f"{_display(first.module_path)}.{self.loc[1]}"),),
                "first walk of this graph: it decides the graph's observers", first.step))
        steps += self.decided_steps(self.key, self.loc)
        for role, other in v.related:
            if role in ("caller_value", "observer_on", "observed_instead") and other:
                inst = self.index.instance(other[0], other[1])
                steps += [s for s in self.decided_steps((inst.graph, other[2]), other)
                          if s.rule in ("recordObserved", "insertObserverFor")]
        for loop in facts.loops:
            if loop.module_path == self.loc[0] and loop.method == self.loc[1]:
                steps.append(TrailStep("insertObserversFor",
                                       (("loop", self.label(self.same(loop.loop_output))
                                         if loop.loop_output else "prim::Loop"),),
                                       "prim::Loop: not walked inside", loop.step))
        unique_steps = list(dict.fromkeys(steps))
        unique_steps.sort(key=lambda s: s.step)
        return unique_steps

    def same(self, ref: ValueRef) -> Loc:
        """A ref of the explained graph, at the explained instance."""
        if ref.graph.qualname == self.inst.graph:
            return (self.loc[0], self.loc[1], ref.unique)
        return self.verdicts.loc_of_key(self.inst, ref.key) or self.loc

    def qconfig_step(self, event: ev.QConfigAssigned) -> TrailStep:
        if not event.has_qconfig:
            outcome = "None: explicitly" if event.explicit else "None: no key covers it"
        elif event.explicit:
            outcome = f"qconfig from its own key {event.qconfig_key!r}"
        else:
            outcome = f"qconfig inherited from key {event.qconfig_key!r}"
        return TrailStep("fillQConfigMap", (("module", _display(event.module_path)),),
                         outcome, event.step)

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
        for edge in self.index.edges_into.get(self.inst.key, ()):
            caller_graph = self.index.instances[edge.caller].graph
            for caller_u, callee_u in edge.args + edge.results:
                e = entries.get(((caller_graph, caller_u), self.key))
                if callee_u == self.loc[2] and e is not None:
                    pairs.append(((edge.caller[0], edge.caller[1], caller_u), self.loc, e))
        return [TrailStep("fillBoundaryValueMap",
                          (("caller", self.label(caller)), ("callee", self.label(callee))),
                          f"mapped ({e.kind})", e.step) for caller, callee, e in pairs]

    def callee_of(self, key: VKey) -> Loc | None:
        for edge in self.index.edges_from.get(self.inst.key, ()):
            callee = self.index.instances[edge.callee]
            if callee.graph != key[0]:
                continue
            for caller_u, callee_u in edge.args + edge.results:
                if caller_u == self.loc[2] and callee_u == key[1]:
                    return (callee.path, callee.method, callee_u)
        return None

    def vnq_steps(self, event: ev.RuleEvaluated) -> list[TrailStep]:
        here = self.label(self.loc)
        slot = self.index.slot(self.loc)
        producer = slot.producer
        static = self.view.run.quant_type == "static"
        clauses = [
            ("isBiasOfConvOrLinear", "bias", ("value", here), "true", "false"),
            ("isTensorOrTensorList", "not_tensor",
             ("type", str(slot.value.type())), "false", "true"),
            ("isEmbeddingBagNonInput", "embedding_bag_non_input", ("value", here),
             "true", "false"),
        ]
        would = detail(event, "static_would_observe") or ("", "")
        if static:
            clauses.append(("nodeQuantizable || isPropagateQuantOp", "quantizable_producer",
                            ("producer", producer), "true", "false"))
        else:
            clauses.append(("nodeQuantizable || isPropagateQuantOp", "", ("producer", producer),
                            "", "skipped: static quantization only" + (
                                f" (static would observe the output of {would[1]})"
                                if would[0] == "the output" else "")))
            clauses.append(("isHalfObserver && !isWeight", "dynamic_fp16_activation",
                            ("value", here), "true", "false"))
        use = detail(event, "use")
        unquantizable_use = "false"
        if would[0] and would[0] != "the output":
            unquantizable_use += (f" (dynamic quantization: linear only; static would observe "
                                  f"{would[0]} of {would[1]})")
        clauses.append(("useQuantizable", "quantizable_use",
                         ("users", ", ".join(self.users(self.loc)) or "none"),
                         f"true: input {use[1]} of {use[0]}" if use else "true",
                         unquantizable_use))
        steps = []
        for rule, code, arg, hit, miss in clauses:
            decided = event.reason == code or (code == "quantizable_use"
                                               and event.reason == "no_quantizable_use")
            outcome = hit if event.reason == code else miss
            steps.append(TrailStep(rule, (arg,), outcome, event.step))
            if decided:
                break
        role = detail(event, "role")
        result = f"true ({role} observer configured)" if event.outcome else \
            f"false ({event.reason})"
        steps.append(TrailStep("valueNeedsToBeQuantized", (("value", here),), result,
                               event.step))
        return steps

    def decided_steps(self, key: VKey, loc: Loc) -> list[TrailStep]:
        steps: list[TrailStep] = []
        label = self.label(loc)
        for e in self.facts.decided.get(key, ()):
            if isinstance(e, ev.RuleEvaluated):
                if e.rule == "shouldObserve":
                    source = self.verdicts.observer_source(key)
                    if source is not None:
                        source_loc = self.verdicts.loc_of_key(self.index.instance(*loc[:2]),
                                                              source)
                        found = "its own" if source == key else \
                            f"via the call boundary from {self.label(source_loc)}"
                        steps.append(TrailStep("getObserverFor", (("value", label),),
                                               f"observer found: {found}", e.step))
                    inputs = detail(e, "inputs") or ()
                    shown = ", ".join(
                        f"{self.label(self.same(ref))} "
                        f"({'observed' if seen else 'not observed'})" for ref, seen in inputs)
                    use = detail(e, "use")
                    args = [("value", label)]
                    if shown:
                        args.append(("inputs", shown))
                    outcome = f"{str(e.outcome).lower()}: {SHOULD_OBSERVE[e.reason]}"
                    if use:
                        outcome += f" (input {use[1]} of {use[0]})"
                    steps.append(TrailStep("shouldObserve", tuple(args), outcome, e.step))
                else:
                    outcome = {"graph_boundary": "skipped: an input or output of the graph or "
                                                 "block, left to its caller",
                               "already_observed": "skipped: already observed",
                               "no_observer": "none: no observer configured for it or for "
                                              "the callee values it maps to"}.get(e.reason,
                                                                                  e.reason)
                    steps.append(TrailStep(e.rule, (("value", label),), outcome, e.step))
            elif isinstance(e, ev.ObserverRecorded):
                target = self.same_at(e.target, loc)
                where = "" if e.target.key == e.value.key else \
                    f", delayed to {self.label(target)}"
                steps.append(TrailStep("recordObserved",
                                       (("value", self.label(self.same_at(e.value, loc))),
                                        ("via", e.via), ("role", e.role)),
                                       f"observer recorded{where}", e.step))
            elif isinstance(e, ev.ObservedPropagated):
                sources = ", ".join(self.label(self.same_at(s, loc)) for s in e.sources)
                rule = "propagateObservedProperty" if e.via == "pass_through" else \
                    "insertObserversFor"
                steps.append(TrailStep(rule, (("value", label), ("sources", sources)),
                                       f"counts as observed ({e.via})", e.step))
            elif isinstance(e, ev.ObserverInserted):
                steps.append(TrailStep("insertObserverFor",
                                       (("value", label), ("module", _display(loc[0]))),
                                       f"{e.attribute} ({e.observer_class}) inserted; "
                                       f"run.module calls it as %{e.output_name}", e.step))
        return steps

    def same_at(self, ref: ValueRef, loc: Loc) -> Loc:
        if ref.graph.qualname == self.index.instance(loc[0], loc[1]).graph:
            return (loc[0], loc[1], ref.unique)
        near = self.index.instance(loc[0], loc[1])
        return self.verdicts.loc_of_key(near, ref.key) or loc

    # ------------------------------------------------------------------ assembly
    def build(self) -> Explanation:
        v = self.verdicts(self.loc)
        slot = self.gi.slots.get(self.loc[2])
        related = {role: self.ref(loc) for role, loc in v.related if loc is not None}
        if v.reason == "no_quantizable_use" and slot is not None:
            callee = self.returned_by_callee(self.loc)
            if callee is not None:
                related["callee_return"] = self.ref(callee)
        first = self.facts.first_visit(self.inst.graph)
        if first is not None and first.module_path != self.loc[0] and self.inst.kind == "method":
            self.notes.append(
                f"{_display(self.loc[0])} runs the same graph as {_display(first.module_path)} "
                "(one class type); the pass decided the graph's observers while walking "
                f"{_display(first.module_path)} and gave {_display(self.loc[0])} copies.")
        if self.inst.kind == "function":
            self.notes.append(f"{self.loc[1]} is a user-defined function; its values are "
                              f"listed under the module calling it ({_display(self.loc[0])}).")
        observer = self.gi.observer_of.get(self.loc[2], "") if v.observed else ""
        if slot is None:
            trail: list[TrailStep] = []
        else:
            trail = self.trail(v)
        return Explanation(
            value=self.ref(self.loc),
            observed=v.observed,
            reason=v.reason,
            verdict=_sentence(self.verdict_line(v)),
            trail=tuple(trail),
            related=related,
            notes=tuple(self.notes),
            producer=slot.producer if slot else "removed",
            observer=observer,
            step=self.view.step,
            run=self.view.run,
        )


SENTENCE_STARTS = frozenset({"the", "this", "nothing", "dynamic", "on-device", "at",
                             "module"})


def _sentence(text: str) -> str:
    """Capitalize a verdict unless it starts with a name (a value, module or observer)."""
    first = text.split(" ", 1)[0]
    return text[:1].upper() + text[1:] if first in SENTENCE_STARTS else text


def _parents(path: str) -> list[str]:
    parts = path.split(".")
    return [".".join(parts[:i]) for i in range(len(parts) - 1, -1, -1)]


def reasons_markdown() -> str:
    """The reason vocabulary as a Markdown table (as in the README)."""
    lines = ["| reason | observer on the value | meaning | rule of the pass |",
             "| --- | --- | --- | --- |"]
    for r in REASONS.values():
        lines.append(f"| `{r.code}` | {'yes' if r.observed else 'no'} | {r.summary} | "
                     f"`{r.rule}` |")
    return "\n".join(lines)
