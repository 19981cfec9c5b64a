"""What went wrong when the pass fails, where, and what to change."""

from __future__ import annotations

import html
from dataclasses import dataclass

from .errors import PassError


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


@dataclass(frozen=True)
class Diagnosis:
    """A failure of the pass in its own terms: what, where, why, and what to change.

    ``summary`` is the first line (what is wrong), ``fix`` the second (what to change).
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

    @property
    def module(self) -> str:
        return self.module_path

    def lines(self) -> list[str]:
        lines = [self.summary, f"Fix: {self.fix}"]
        where = f"{self.module_path or '<top>'}.{self.method}"
        if self.node:
            where += f", node {self.node}"
        if self.source:
            where += f" at {self.source}"
        lines.append(f"Where: {where}")
        lines.extend(f"  {branch}" for branch in self.branches)
        if self.why:
            lines.append(f"Why: {self.why} (C++ rule: {self.rule})")
        return lines

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def _repr_html_(self) -> str:
        first, *rest = self.lines()
        items = "".join(f"<li>{html.escape(line)}</li>" for line in rest)
        return (f"<div class='obsviz-diagnosis'><b>{html.escape(first)}</b>"
                f"<ul>{items}</ul></div>")


def _ref_name(ref: object) -> str:
    name = getattr(ref, "name", str(ref))
    return f"%{name}"


def diagnose(error: PassError) -> Diagnosis:
    """Turn an engine ``PassError`` into a :class:`Diagnosis`."""
    details = error.details
    path, method = error.module_path or "", error.method or "forward"
    where = f"{path or '<top>'}.{method}"
    if error.rule == "insertObserversFor" and "branches" in details:
        branches = tuple(
            BranchState(index, tuple(_ref_name(r) for r in refs), tuple(states))
            for index, refs, states in details["branches"])
        attributes = details.get("condition_attributes", [])
        if attributes:
            names = ", ".join(f"self.{a}" for a in attributes)
            folded = "" if attributes == ["training"] else \
                f", attributes={tuple(attributes)!r}"
            fix = (f"the branch depends on {names}; if that is fixed for the model you "
                   f"quantize (an eval-mode model), fold the branch away with "
                   f"obsviz.fold_attribute_branches(model{folded}) before preparing, or make "
                   "both branches return values observed alike.")
        else:
            fix = ("make both branches return values of the same kind: both produced by "
                   "quantizable ops (observed) or both by ops that are not (unobserved).")
        return Diagnosis(
            kind="inconsistent_if",
            summary=f"{where}: the branches of an `if` return values observed differently, "
                    "so the pass cannot decide whether its output is observed.",
            fix=fix, rule=error.rule, module_path=path, method=method,
            node=details.get("node"), source=details.get("source"),
            values=tuple(_ref_name(r) for r in details.get("outputs", ())),
            branches=branches,
            why="branches for 'if' should return values that are observed consistently: "
                "every branch that does not always raise must return values in the same "
                "observed state",
        )
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
            summary=f"{where}: the method takes an object (a module or class instance) as "
                    f"argument %{error.value}, which the pass cannot clone.",
            fix="pass tensors to the method instead, and reach modules through attributes of "
                "self; or quantize the model from a method that takes only tensors.",
            rule=error.rule, module_path=path, method=method,
            values=(f"%{error.value}",) if error.value else (),
            why="ModuleCloneHelper::remapTypes refuses methods with Object arguments",
        )
    return Diagnosis(
        kind=error.rule, summary=str(error).splitlines()[0],
        fix="see the message below; the model uses something the pass does not support.",
        rule=error.rule, module_path=path, method=method,
        values=(f"%{error.value}",) if error.value else (), why=str(error),
    )
