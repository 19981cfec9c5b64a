"""What went wrong when the pass fails, where, and what to change."""

from __future__ import annotations

import dataclasses
import html
import os
from dataclasses import dataclass
from typing import NamedTuple

import torch

from .errors import PassError
from .fixes import fold_problems, self_attributes
from .refs import display_path


@dataclass(frozen=True)
class BranchState:
    """One branch of an ``If``: what it returns and whether each value is observed."""

    index: int
    outputs: tuple[str, ...]
    observed: tuple[bool, ...]

    def __str__(self) -> str:
        parts = [f"{name} {'observed' if seen else 'NOT observed'}"
                 for name, seen in zip(self.outputs, self.observed, strict=True)]
        return f"branch {self.index} returns " + ", ".join(parts)


class DiagnosisPart(NamedTuple):
    """One labelled part of a diagnosis after its summary (``Fix: ...``), with the lines
    that detail it (an If's branches, under ``Where``)."""

    label: str
    text: str
    details: tuple[str, ...] = ()


# Text fields the parts show by name; any other text field that is set is shown too,
# under its label here or else its field name.
_PARTS_SHOWN = frozenset({"kind", "summary", "fix", "rule", "module_path", "method", "node",
                          "source", "why"})
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
    # what the fix offers obsviz.fold_attribute_branches; empty when folding is not it
    fold_attributes: tuple[str, ...] = ()
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
        parts = [DiagnosisPart("Fix", self.fix),
                 DiagnosisPart("Where", self.where, tuple(map(str, self.branches)))]
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
        return (f"<div class='obsviz-diagnosis'><b>{html.escape(first)}</b>"
                f"<ul>{items}</ul></div>")


def attributes_to_fold(attributes: list[str], problems: dict[str, str]) -> tuple[str, ...]:
    """The attributes to offer :func:`obsviz.fold_attribute_branches`: those it can fold,
    and only ``training`` when that is one (an eval-mode model fixes it, and with it the
    branches it gates)."""
    foldable = tuple(a for a in attributes if a not in problems)
    return ("training",) if "training" in foldable else foldable


def _inconsistent_if_fix(attributes: list[str], function: str | None,
                         problems: dict[str, str], to_fold: tuple[str, ...]) -> str:
    """What to change so that an If's branches stop disagreeing."""
    alike = "make both branches return values observed alike"
    if not attributes:
        return ("make both branches return values of the same kind: both produced by "
                "quantizable ops (observed) or both by ops that are not (unobserved).")
    names = self_attributes(attributes)
    via = f" (passed to function {function.rsplit('.', 1)[-1]})" if function else ""
    depends = f"the branch depends on {names}{via}"
    not_foldable = "; ".join(problems[a] for a in attributes if a in problems)
    if not to_fold:
        return f"{depends}, which cannot be folded ({not_foldable}); {alike}."
    unfolded = f" ({not_foldable})" if not_foldable else ""
    if to_fold == ("training",):
        return (f"{depends}; in the model you quantize (eval mode) self.training is False: "
                "fold the branch away with obsviz.fold_attribute_branches(model) before "
                f"preparing{unfolded}, or {alike}.")
    call = f"obsviz.fold_attribute_branches(model, attributes={to_fold!r})"
    return (f"{depends}; if that is fixed for the model you quantize, fold the branch away "
            f"with {call} before preparing{unfolded}, or {alike}.")


def _ref_name(ref: object) -> str:
    name = getattr(ref, "name", str(ref))
    return f"%{name}"


def diagnose(error: PassError, model: torch.jit.ScriptModule | None = None) -> Diagnosis:
    """Turn an engine ``PassError`` into a :class:`Diagnosis`; with the ``model`` the pass
    was given, a suggested fix is checked against it first."""
    return dataclasses.replace(_explain(error, model), cpp_message=error.cpp_message)


def _explain(error: PassError, model: torch.jit.ScriptModule | None) -> Diagnosis:
    details = error.details
    path, method = error.module_path or "", error.method or "forward"
    where = f"{path or '<top>'}.{method}"
    if error.rule == "insertObserversFor" and "branches" in details:
        branches = tuple(
            BranchState(index, tuple(_ref_name(r) for r in refs), tuple(states))
            for index, refs, states in details["branches"])
        attributes = details.get("condition_attributes", [])
        problems = fold_problems(model._c, path, attributes) \
            if model is not None and attributes else {}
        to_fold = attributes_to_fold(attributes, problems)
        fix = _inconsistent_if_fix(attributes, details.get("function"), problems, to_fold)
        return Diagnosis(
            kind="inconsistent_if",
            summary=f"{where}: the branches of an `if` return values observed differently, "
                    "so the pass cannot decide whether its output is observed.",
            fix=fix, rule=error.rule, module_path=path, method=method,
            node=details.get("node"), source=details.get("source"),
            values=tuple(_ref_name(r) for r in details.get("outputs", ())),
            branches=branches, fold_attributes=to_fold,
            why="branches for 'if' should return values that are observed consistently: "
                "every branch that does not always raise must return values in the same "
                "observed state",
        )
    if error.rule == "getObserverFor":
        return _observer_conflict(error, path, method, where)
    if error.rule == "getModuleAccessPath":
        origin = details.get("traced_to", "?")
        if origin == "prim::CreateObject":
            summary = (f"{where}: the method uses an object of a TorchScript class (created "
                       "here), whose methods and attributes the pass cannot follow.")
            fix = ("turn the class into an nn.Module held as an attribute of self, or its "
                   "methods into free functions taking tensors.")
        else:
            summary = (f"{where}: a module or object is reached through a value the pass "
                       f"cannot trace back to self (it comes from {origin}).")
            fix = ("call submodules as attributes of self (self.block(x)), not through lists, "
                   "arguments or returned values; iterate nn.ModuleList with a for loop over "
                   "self.blocks, which TorchScript unrolls.")
        return Diagnosis(
            kind="module_access", summary=summary, fix=fix,
            rule=error.rule, module_path=path, method=method, node=details.get("node"),
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
            rule=error.rule, module_path=path, method=method,
            values=(f"%{error.value}",) if error.value else (),
            why="ModuleCloneHelper::remapTypes refuses methods with Object arguments",
        )
    if error.rule == "emptyObserverSlot":
        slots = ", ".join(f"{p or '<top>'}.{a}" for p, a in details.get("empty_slots", ()))
        return Diagnosis(
            kind="empty_observer_slot",
            summary=f"{path or '<top>'}: the observed module's attribute {error.value} holds "
                    "no value, and torch crashes reading such a module, so obsviz stopped "
                    "before handing it over.",
            fix="none on your side: this is a bug in obsviz, please report it with the model. "
                "The pass adds each observer attribute to a class type but sets it only on "
                "the instances it walks; obsviz should have filled the others. The partial "
                f"run's module is the model you passed in. Empty: {slots}.",
            rule=error.rule, module_path=path, method="", values=(error.value,),
        )
    return Diagnosis(
        kind=error.rule, summary=str(error).splitlines()[0],
        fix="see the message below; the model uses something the pass does not support.",
        rule=error.rule, module_path=path, method=method,
        values=(f"%{error.value}",) if error.value else (), why=str(error),
    )


def _observer_conflict(error: PassError, path: str, method: str, where: str) -> Diagnosis:
    """One value reaches graphs whose observers come from two qconfig_dict entries."""
    (first_ref, first), (second_ref, second) = error.details["observers"]
    keys = (first.qconfig.key, second.qconfig.key)
    graphs = f"{_graph_name(first_ref)} and {_graph_name(second_ref)}"
    observers = (f"{first.class_name} for {keys[0]!r}, {second.class_name} for {keys[1]!r}")
    if first.qconfig.qconfig == second.qconfig.qconfig and first.role == second.role:
        what = (f"Both keys hold the same QConfig, but each key's qconfig is scripted "
                f"separately, so the pass sees two observer modules ({observers}) for one "
                "value.")
    else:
        what = (f"The two qconfigs differ ({observers}), and the pass can give one value "
                "only one observer.")
    return Diagnosis(
        kind="observer_conflict",
        summary=f"{where}: %{error.value} reaches {graphs}, configured under two "
                f"qconfig_dict keys, {keys[0]!r} and {keys[1]!r}. {what}",
        fix=f"{_one_key(*keys, error.details['keys'])}; or give each of the two its own "
            f"value (e.g. pass a .clone() of %{error.value} to one of them).",
        rule=error.rule, module_path=path, method=method,
        values=(f"%{error.value}", str(first_ref), str(second_ref)),
        why="getObserverFor follows a value into every graph it is passed to or returned "
            "from, and requires one observer module for all of them",
    )


def _graph_name(ref: object) -> str:
    return f"{ref.module_path or '<top>'}.{ref.graph.method}"


def _one_key(first: str, second: str, keys: frozenset[str]) -> str:
    """How to configure two modules through a single qconfig_dict key."""
    for ancestor, descendant in ((first, second), (second, first)):
        if ancestor == "" or descendant.startswith(f"{ancestor}."):
            return (f"configure both through one key: remove the {descendant!r} entry, so "
                    f"that {descendant} inherits the qconfig of {ancestor!r}")
    parent = ".".join(os.path.commonprefix([first.split("."), second.split(".")]))
    if parent in keys:
        return (f"configure both through one key: remove the {first!r} and {second!r} "
                f"entries, so that both inherit the qconfig of {parent!r}")
    return (f"configure both through one key: replace the {first!r} and {second!r} entries "
            f"by one for their common parent {parent!r}")
