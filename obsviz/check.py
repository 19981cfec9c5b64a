"""``obsviz.check``: a pre-flight report of what will fail or surprise in the pass."""

from __future__ import annotations

import html
import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import torch

from .api import insert_observers
from .convbn import prepare_jit_counts
from .errors import FunctionWarning, LoopWarning, PassFailure, QConfigKeyWarning
from .graphs import walk_nodes
from .patterns import delay_pattern_candidate
from .qconfig import named_modules
from .refs import method_label
from .run import Run

_WARNING_KINDS = {
    QConfigKeyWarning: "unmatched_key",
    LoopWarning: "loop",
    FunctionWarning: "function",
}


@dataclass(frozen=True)
class Finding:
    kind: str  # failure, unmatched_key, loop, function, fusion_blocked, type_split, conv_bn_fold
    severity: str  # "error", "warning" or "info"
    message: str

    def __str__(self) -> str:
        return f"[{self.severity}] {self.message}"


@dataclass(frozen=True)
class CheckReport:
    """Findings, most severe first, and the (possibly partial) run they came from."""

    findings: tuple[Finding, ...]
    run: Run

    @property
    def ok(self) -> bool:
        return not any(f.severity == "error" for f in self.findings)

    def of_kind(self, kind: str) -> list[Finding]:
        return [f for f in self.findings if f.kind == kind]

    def __str__(self) -> str:
        head = (
            "obsviz check: the pass will succeed" if self.ok else "obsviz check: the pass will FAIL"
        )
        if not self.findings:
            return f"{head}; nothing surprising found."
        return "\n".join(
            [f"{head}; {len(self.findings)} findings:"]
            + [f"- {finding}" for finding in self.findings]
        )

    def _repr_html_(self) -> str:
        head, *rest = str(self).splitlines()
        items = "".join(f"<li>{html.escape(line[2:])}</li>" for line in rest)
        return f"<div class='obsviz-check'><b>{html.escape(head)}</b><ul>{items}</ul></div>"


def blocked_fusions(model: torch.jit.ScriptModule) -> list[Finding]:
    """Fusion patterns that match except that the intermediate value has other uses."""
    findings = []
    seen: set[str] = set()
    for path, module in named_modules(model._c):
        for method in module._method_names():
            key = f"{module._type().qualified_name()}.{method}"
            if key in seen:
                continue
            seen.add(key)
            graph = module._get_method(method).graph
            for node in walk_nodes(graph.block()):
                candidate = delay_pattern_candidate(node)
                if candidate is None or len(candidate[1].uses()) == 1:
                    continue
                pattern, value = candidate
                others = [u.user.kind() for u in value.uses() if u.user != node]
                findings.append(
                    Finding(
                        "fusion_blocked",
                        "info",
                        f"{method_label(path, method)}: {pattern.name} does not fuse: "
                        f"%{value.debugName()} is also used by {', '.join(others)}, so it is "
                        "observed itself instead of after the relu.",
                    )
                )
    return findings


def conv_bn_folding(run: Run) -> list[Finding]:
    """What prepare_jit does differently: the conv-bn pairs it folds before the pass."""
    counts = prepare_jit_counts(run)
    if counts is None:
        return []
    named = ", ".join(counts.batchnorms[:4]) + (", ..." if counts.pairs > 4 else "")
    observers = (
        "its pass fails" if counts.observers is None else f"it inserts {counts.observers} observers"
    )
    return [
        Finding(
            "conv_bn_fold",
            "warning",
            f"prepare_jit folds {counts.pairs} conv-bn pair{'s' if counts.pairs != 1 else ''} "
            f"into their convs before the pass (BatchNorm {named}), so {observers}, not the "
            f"{run.observer_count} of insert_observers on the model as scripted; "
            "obsviz.prepare_jit(model, qconfig_dict)._obsviz_run is that run.",
        )
    ]


def check(
    model: torch.jit.ScriptModule,
    qconfig_dict: Mapping[str, object],
    *,
    method_name: str = "forward",
    quant_type: str = "static",
) -> CheckReport:
    """Run the pass on a copy and report failures and quiet surprises, without raising."""
    findings: list[Finding] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            run = insert_observers(
                model, qconfig_dict, method_name=method_name, quant_type=quant_type
            )
        except PassFailure as failure:
            run = failure.run
            findings.append(Finding("failure", "error", str(failure.diagnosis)))
    for warning in caught:
        kind = next(
            (k for cls, k in _WARNING_KINDS.items() if issubclass(warning.category, cls)), None
        )
        if kind is not None:
            findings.append(Finding(kind, "warning", str(warning.message)))
    for group in run.splits:
        reason = "qconfigs set below it" if group.below else "its own qconfig"
        findings.append(
            Finding(
                "type_split",
                "info",
                f"{', '.join(group.module_paths)}: class type {group.original_type} is split "
                f"(new type {group.new_type}) because of {reason}.",
            )
        )
    findings.extend(blocked_fusions(model))
    findings.extend(conv_bn_folding(run))
    order = {"error": 0, "warning": 1, "info": 2}
    return CheckReport(tuple(sorted(findings, key=lambda f: order[f.severity])), run)
