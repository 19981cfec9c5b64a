"""What went wrong when the pass fails, where, and what to change."""

from __future__ import annotations

import dataclasses
import html
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import torch

from .errors import ObsvizError, PassError
from .fixes import (
    FOLDABLE,
    NOT_CONSTANT,
    ArgumentFold,
    CallSite,
    Folding,
    fold,
    fold_problems,
    self_attributes,
)
from .graphs import Sources, source_line, walk_nodes
from .refs import display_path, method_label
from .rules import user_defined_call_function


@dataclass(frozen=True)
class BranchState:
    """One branch of an ``If``: what it returns and whether each value is observed."""

    index: int
    outputs: tuple[str, ...]
    observed: tuple[bool, ...]

    def __str__(self) -> str:
        parts = [
            f"{name} {'observed' if seen else 'NOT observed'}"
            for name, seen in zip(self.outputs, self.observed, strict=True)
        ]
        return f"branch {self.index} returns " + ", ".join(parts)


class DiagnosisPart(NamedTuple):
    """One labelled part of a diagnosis after its summary (``Fix: ...``), with the lines
    that detail it (an If's branches, under ``Where``)."""

    label: str
    text: str
    details: tuple[str, ...] = ()


# Text fields the parts show by name; any other text field that is set is shown too,
# under its label here or else its field name.
_PARTS_SHOWN = frozenset(
    {"kind", "summary", "fix", "rule", "module_path", "method", "node", "source", "why"}
)
_PART_LABELS = {"cpp_message": "torch says"}


@dataclass(frozen=True)
class Diagnosis:
    """A failure of the pass in its own terms: what, where, why, and what to change.

    ``summary`` is the first line (what is wrong), ``fix`` the second (what to change).
    ``cpp_message`` is what the real pass raises there, word for word, the text to
    search PyTorch's issues for.
    """

    kind: str
    summary: str
    fix: str
    rule: str
    module_path: str
    method: str
    node: str | None = None
    source: str | None = None
    values: tuple[str, ...] = ()
    branches: tuple[BranchState, ...] = ()
    why: str = ""
    # what the fix offers obsviz.fold_constant_branches: the attributes it is given, and
    # the arguments it folds (empty when folding is not the fix)
    fold_attributes: tuple[str, ...] = ()
    fold_arguments: tuple[ArgumentFold, ...] = ()
    cpp_message: str = ""

    @property
    def module(self) -> str:
        return self.module_path

    @property
    def where(self) -> str:
        """``path.method, node kind at file:line``, as much as is known."""
        where = display_path(self.module_path)
        if self.method:
            where += f".{self.method}"
        if self.node:
            where += f", node {self.node}"
        if self.source:
            where += f" at {self.source}"
        return where

    def parts(self) -> list[DiagnosisPart]:
        """What follows the summary, in order: the fix, where (with the If's branches),
        why, then every other text field that is set."""
        parts = [
            DiagnosisPart("Fix", self.fix),
            DiagnosisPart("Where", self.where, tuple(map(str, self.branches))),
        ]
        if self.why:
            parts.append(DiagnosisPart("Why", f"{self.why} (C++ rule: {self.rule})"))
        for field in dataclasses.fields(self):
            text = getattr(self, field.name)
            if field.name not in _PARTS_SHOWN and isinstance(text, str) and text:
                label = _PART_LABELS.get(field.name, field.name.replace("_", " "))
                parts.append(DiagnosisPart(label, text))
        return parts

    def lines(self) -> list[str]:
        lines = [self.summary]
        for part in self.parts():
            lines.append(f"{part.label}: {part.text}")
            lines.extend(f"  {detail}" for detail in part.details)
        return lines

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def _repr_html_(self) -> str:
        first, *rest = self.lines()
        items = "".join(f"<li>{html.escape(line)}</li>" for line in rest)
        return f"<div class='obsviz-diagnosis'><b>{html.escape(first)}</b><ul>{items}</ul></div>"


def attributes_to_fold(attributes: Sequence[str], problems: dict[str, str]) -> tuple[str, ...]:
    """The attributes to offer :func:`obsviz.fold_constant_branches`: those it can fold,
    and only ``training`` when that is one (an eval-mode model fixes it, and with it the
    branches it gates)."""
    foldable = tuple(a for a in attributes if a not in problems)
    return ("training",) if "training" in foldable else foldable


def fold_call(attributes: tuple[str, ...]) -> str:
    """How to call :func:`obsviz.fold_constant_branches` to fold these attributes."""
    if attributes == ("training",):
        return "obsviz.fold_constant_branches(model)"
    return f"obsviz.fold_constant_branches(model, attributes={attributes!r})"


ALIKE = "make both branches return values observed alike"


@dataclass(frozen=True)
class ArgumentTrace:
    """An argument an ``if``'s condition depends on, and whether it can be folded."""

    name: str
    method: str  # "<top>.forward_head", or "function pick"
    fold: ArgumentFold | None = None  # every call passes the same constant
    calls: tuple[CallSite, ...] = ()  # the calls, when they do not
    model_input: bool = False  # an input of the method the pass starts from
    caller: str = ""  # the method that calls the function, for a function's argument

    def phrase(self) -> str:
        if self.model_input:
            return f"{self.name}, an input of {self.method}"
        return f"argument {self.name} of {self.method}"

    def fact(self) -> str:
        if self.model_input:
            return f"{self.name} is the model's input, known only at run time"
        if self.fold is not None and self.caller:
            return f"{self.caller} passes {self.name}={self.fold.value!r} to {self.method}"
        if self.fold is not None:
            return f"every caller of {self.method} passes {self.name}={self.fold.value!r}"
        computed = [call for call in self.calls if call.value is NOT_CONSTANT]
        if computed:
            return "; ".join(str(call) for call in computed)
        if not self.calls:
            return f"no call of {self.method} passes a constant for it"
        return f"its callers pass {self.name} differently: " + "; ".join(
            str(call) for call in self.calls
        )

    def effect(self) -> str:
        """What the fold does about it."""
        return f"inlines the call of {self.method}" if self.caller else f"specialises {self.method}"


@dataclass(frozen=True)
class IfTrace:
    """What an inconsistent ``if``'s condition depends on, and the fold that removes it."""

    attributes: tuple[str, ...]
    function: str | None  # the function holding the if, when it is not a method
    problems: dict[str, str]  # attribute -> why it cannot be folded
    arguments: tuple[ArgumentTrace, ...] = ()
    fold_attributes: tuple[str, ...] = ()  # the fold offered, empty when there is none
    fold_arguments: tuple[ArgumentFold, ...] = ()
    branch_stays: bool = False  # the fold was tried and leaves the branch

    @property
    def offered(self) -> bool:
        return bool(self.fold_attributes or self.fold_arguments)

    def fix(self) -> str:
        """What to change so that the branches stop disagreeing."""
        if not self.arguments:
            return self._attributes_fix()
        depends = [a.phrase() for a in self.arguments]
        facts = [a.fact() for a in self.arguments]
        if self.attributes:
            depends.insert(0, self_attributes(self.attributes) + self._via())
            facts[:0] = [self.problems[a] for a in self.attributes if a in self.problems]
        what = f"the branch depends on {' and on '.join(depends)}"
        if self.offered:
            effects = " and ".join(
                dict.fromkeys(a.effect() for a in self.arguments if a.fold is not None)
            )
            also = f"{what}; " if self.attributes else ""
            return (
                f"{also}{'; '.join(facts)}: {fold_call(self.fold_attributes)} "
                f"{effects or 'folds it'} before preparing, or {ALIKE}."
            )
        if self.branch_stays:
            return f"{what}; {'; '.join(facts)}, but folding that leaves the branch; {ALIKE}."
        return f"{what}, which cannot be folded: {'; '.join(facts)}; {ALIKE}."

    def _via(self) -> str:
        return f" (passed to function {self.function.rsplit('.', 1)[-1]})" if self.function else ""

    def _attributes_fix(self) -> str:
        if not self.attributes:
            return (
                "make both branches return values of the same kind: both produced by "
                "quantizable ops (observed) or both by ops that are not (unobserved)."
            )
        depends = f"the branch depends on {self_attributes(self.attributes)}{self._via()}"
        not_foldable = "; ".join(self.problems[a] for a in self.attributes if a in self.problems)
        if not self.fold_attributes:
            return f"{depends}, which cannot be folded ({not_foldable}); {ALIKE}."
        unfolded = f" ({not_foldable})" if not_foldable else ""
        call = fold_call(self.fold_attributes)
        if self.fold_attributes == ("training",):
            return (
                f"{depends}; in the model you quantize (eval mode) self.training is "
                f"False: fold the branch away with {call} before preparing{unfolded}, "
                f"or {ALIKE}."
            )
        return (
            f"{depends}; if that is fixed for the model you quantize, fold the branch "
            f"away with {call} before preparing{unfolded}, or {ALIKE}."
        )


def trace_if(
    details: dict, model: torch.jit.ScriptModule | None, module_path: str, entry_method: str
) -> IfTrace:
    """Trace an inconsistent ``if``'s condition to the attributes and arguments it depends
    on; with the ``model``, find the fold that is sound (every call passes the argument
    alike, every instance holds the attribute alike) and check that it removes the ``if``.
    """
    sources: Sources | None = details.get("condition_sources")
    attributes = sources.attributes if sources else ()
    problems = (
        fold_problems(model._c, module_path, attributes) if model is not None and attributes else {}
    )
    to_fold = attributes_to_fold(attributes, problems)
    trace = IfTrace(attributes, details.get("function"), problems, fold_attributes=to_fold)
    if sources is None or not (sources.parameters or sources.constants):
        return trace
    method = sources.method or entry_method
    label = method_label(module_path, method)
    passed = tuple(
        ArgumentTrace(
            name, f"function {function}", fold=ArgumentFold(function, name, value), caller=label
        )
        for function, name, value in sources.constants
        if value is None or isinstance(value, FOLDABLE)
    )
    if model is None or (sources.method is None and sources.parameters):  # run-time inputs
        return dataclasses.replace(
            trace,
            fold_attributes=(),
            arguments=passed
            + tuple(
                ArgumentTrace(name, label, model_input=sources.method is None)
                for _, name in sources.parameters
            ),
        )
    with_training = to_fold or (
        ("training",) if not fold_problems(model._c, None, ["training"]) else ()
    )
    try:
        _, folding = fold(model, with_training, True, entry_method)
    except ObsvizError:
        return dataclasses.replace(trace, fold_attributes=(), arguments=passed)
    arguments = passed + tuple(
        _argument_trace(folding, module_path, method, index, name)
        for index, name in sources.parameters
    )
    folds = tuple(a.fold for a in arguments if a.fold is not None)
    trace = dataclasses.replace(trace, arguments=arguments)
    if not folds and not to_fold:
        return dataclasses.replace(trace, fold_attributes=())
    if _if_remains(folding, module_path, method, details.get("source")):
        return dataclasses.replace(trace, fold_attributes=(), branch_stays=True)
    return dataclasses.replace(trace, fold_attributes=with_training, fold_arguments=folds)


def _argument_trace(
    folding: Folding, module_path: str, method: str, index: int, name: str
) -> ArgumentTrace:
    label = method_label(module_path, method)
    found = folding.argument(module_path, method, index)
    if isinstance(found, ArgumentFold):
        return ArgumentTrace(name, found.method, fold=found)
    return ArgumentTrace(name, label, calls=found or ())


def _if_remains(folding: Folding, module_path: str, method: str, source: str | None) -> bool:
    """Whether the folded method (or a function it still calls) holds an ``if`` from the
    same source line."""
    type_name = folding.type_at(module_path)
    if type_name is None or source is None:
        return False

    def holds(graph: torch._C.Graph) -> bool:
        for node in walk_nodes(graph.block()):
            if node.kind() == "prim::If" and source_line(node) == source:
                return True
            if user_defined_call_function(node) and holds(folding.functions(node)[0]):
                return True
        return False

    return holds(folding.graph((type_name, method)))


def _ref_name(ref: object) -> str:
    name = getattr(ref, "name", str(ref))
    return f"%{name}"


def diagnose(
    error: PassError, model: torch.jit.ScriptModule | None = None, entry_method: str = "forward"
) -> Diagnosis:
    """Turn an engine ``PassError`` into a :class:`Diagnosis`; with the ``model`` the pass
    was given (from ``entry_method``), a suggested fix is checked against it first."""
    return dataclasses.replace(_explain(error, model, entry_method), cpp_message=error.cpp_message)


def _explain(
    error: PassError, model: torch.jit.ScriptModule | None, entry_method: str
) -> Diagnosis:
    details = error.details
    path, method = error.module_path or "", error.method or "forward"
    where = method_label(path, method)
    if error.rule == "insertObserversFor" and "branches" in details:
        branches = tuple(
            BranchState(index, tuple(_ref_name(r) for r in refs), tuple(states))
            for index, refs, states in details["branches"]
        )
        trace = trace_if(details, model, path, entry_method)
        return Diagnosis(
            kind="inconsistent_if",
            summary=f"{where}: the branches of an `if` return values observed differently, "
            "so the pass cannot decide whether its output is observed.",
            fix=trace.fix(),
            rule=error.rule,
            module_path=path,
            method=method,
            node=details.get("node"),
            source=details.get("source"),
            values=tuple(_ref_name(r) for r in details.get("outputs", ())),
            branches=branches,
            fold_attributes=trace.fold_attributes,
            fold_arguments=trace.fold_arguments,
            why="branches for 'if' should return values that are observed consistently: "
            "every branch that does not always raise must return values in the same "
            "observed state",
        )
    if error.rule == "getObserverFor":
        return _observer_conflict(error, path, method, where)
    if error.rule == "getModuleAccessPath":
        origin = details.get("traced_to", "?")
        if origin == "prim::CreateObject":
            summary = (
                f"{where}: the method uses an object of a TorchScript class (created "
                "here), whose methods and attributes the pass cannot follow."
            )
            fix = (
                "turn the class into an nn.Module held as an attribute of self, or its "
                "methods into free functions taking tensors."
            )
        else:
            summary = (
                f"{where}: a module or object is reached through a value the pass "
                f"cannot trace back to self (it comes from {origin})."
            )
            fix = (
                "call submodules as attributes of self (self.block(x)), not through lists, "
                "arguments or returned values; iterate nn.ModuleList with a for loop over "
                "self.blocks, which TorchScript unrolls."
            )
        return Diagnosis(
            kind="module_access",
            summary=summary,
            fix=fix,
            rule=error.rule,
            module_path=path,
            method=method,
            node=details.get("node"),
            source=details.get("source"),
            values=tuple(v for v in (error.value, details.get("call")) if v),
            why="getModuleAccessPath follows only chains of prim::GetAttr starting at self",
        )
    if error.rule == "remapTypes":
        return Diagnosis(
            kind="object_argument",
            summary=f"{where}: the method takes an object (of TorchScript class "
            f"{details.get('type', '?')}) as argument %{error.value}, which the pass "
            "cannot clone.",
            fix="pass methods only tensors and plain values: keep the object as an attribute "
            "of self and read it there (self.<name>) instead of passing it in; or quantize "
            "the model from a method that takes only tensors.",
            rule=error.rule,
            module_path=path,
            method=method,
            values=(f"%{error.value}",) if error.value else (),
            why="ModuleCloneHelper::remapTypes refuses methods with Object arguments",
        )
    if error.rule == "insertObserverResetMinMax":
        return Diagnosis(
            kind="observer_without_reset",
            summary=f"{where}: on-device PTQ cannot reset the observer "
            f"{details.get('attribute')} ({details.get('observer')}) on %{error.value}: it "
            "has no reset_min_max_vals.",
            fix="on-device PTQ resets every observer between calibrations, so each must be a "
            "min/max kind (MinMaxObserver, PerChannelMinMaxObserver, ...). A "
            "PlaceholderObserver (both observers of float16_dynamic_qconfig, the "
            "activation observer of the weight-only embedding qconfigs) has no reset: "
            "give this module such a qconfig "
            "(default_dynamic_qconfig, per_channel_dynamic_qconfig), or prepare it with "
            "prepare_dynamic_jit instead.",
            rule=error.rule,
            module_path=path,
            method=method,
            values=(f"%{error.value}",),
            why="insertObserverResetMinMax calls reset_min_max_vals on every observer it "
            "inserts, and looks the method up on the observer's class",
        )
    if error.rule == "emptyObserverSlot":
        slots = ", ".join(f"{display_path(p)}.{a}" for p, a in details.get("empty_slots", ()))
        return Diagnosis(
            kind="empty_observer_slot",
            summary=f"{display_path(path)}: the observed module's attribute {error.value} holds "
            "no value, and torch crashes reading such a module, so obsviz stopped "
            "before handing it over.",
            fix="none on your side: this is a bug in obsviz, please report it with the model. "
            "The pass adds each observer attribute to a class type but sets it only on "
            "the instances it walks; obsviz should have filled the others. The partial "
            f"run's module is the model you passed in. Empty: {slots}.",
            rule=error.rule,
            module_path=path,
            method="",
            values=(error.value,),
        )
    return Diagnosis(
        kind=error.rule,
        summary=str(error).splitlines()[0],
        fix="see the message below; the model uses something the pass does not support.",
        rule=error.rule,
        module_path=path,
        method=method,
        values=(f"%{error.value}",) if error.value else (),
        why=str(error),
    )


def _observer_conflict(error: PassError, path: str, method: str, where: str) -> Diagnosis:
    """One value reaches graphs whose observers come from two qconfig_dict entries."""
    (first_ref, first), (second_ref, second) = error.details["observers"]
    keys = (first.qconfig.key, second.qconfig.key)
    graphs = f"{_graph_name(first_ref)} and {_graph_name(second_ref)}"
    observers = f"{first.class_name} for {keys[0]!r}, {second.class_name} for {keys[1]!r}"
    if first.qconfig.qconfig == second.qconfig.qconfig and first.role == second.role:
        what = (
            f"Both keys hold the same QConfig, but each key's qconfig is scripted "
            f"separately, so the pass sees two observer modules ({observers}) for one "
            "value."
        )
    else:
        what = (
            f"The two qconfigs differ ({observers}), and the pass can give one value "
            "only one observer."
        )
    return Diagnosis(
        kind="observer_conflict",
        summary=f"{where}: %{error.value} reaches {graphs}, configured under two "
        f"qconfig_dict keys, {keys[0]!r} and {keys[1]!r}. {what}",
        fix=f"{_one_key(*keys, error.details['keys'])}; or give each of the two its own "
        f"value (e.g. pass a .clone() of %{error.value} to one of them).",
        rule=error.rule,
        module_path=path,
        method=method,
        values=(f"%{error.value}", str(first_ref), str(second_ref)),
        why="getObserverFor follows a value into every graph it is passed to or returned "
        "from, and requires one observer module for all of them",
    )


def _graph_name(ref: object) -> str:
    return method_label(ref.module_path, ref.graph.method)


def _one_key(first: str, second: str, keys: frozenset[str]) -> str:
    """How to configure two modules through a single qconfig_dict key."""
    for ancestor, descendant in ((first, second), (second, first)):
        if ancestor == "" or descendant.startswith(f"{ancestor}."):
            return (
                f"configure both through one key: remove the {descendant!r} entry, so "
                f"that {descendant} inherits the qconfig of {ancestor!r}"
            )
    parent = ".".join(os.path.commonprefix([first.split("."), second.split(".")]))
    if parent in keys:
        return (
            f"configure both through one key: remove the {first!r} and {second!r} "
            f"entries, so that both inherit the qconfig of {parent!r}"
        )
    return (
        f"configure both through one key: replace the {first!r} and {second!r} entries "
        f"by one for their common parent {parent!r}"
    )
