"""Tidy pandas views of the pass's maps and decisions, built lazily per run and step.

Every table names values with the same columns (:data:`~obsviz.run_view.VALUE_COLUMNS`:
module path, method, value name, producer op, graph qualname, value id), one row per
instance that runs the graph, so tables join and filter with plain pandas. A table
pairing two values prefixes the second one's columns (``callee_value``,
``observed_instead_value``, ...).
"""

from __future__ import annotations

import html
from functools import cached_property
from typing import TYPE_CHECKING

import pandas as pd

from .model_index import Instance
from .qconfig import ScriptedQConfig
from .reasons import REASONS
from .refs import Loc
from .run_view import VALUE_COLUMNS

if TYPE_CHECKING:
    from .run_view import RunView

DESCRIPTIONS = {
    "values": "every value of every graph reached, with observed flag and reason code",
    "delay": "values whose observation a fusion pattern delays, and the value observed instead",
    "boundary": "caller values and the callee values they map to (input / return / if_output)",
    "observer_map": "values valueNeedsToBeQuantized configured an observer for",
    "pass_through": "outputs and the inputs whose observed state they inherit",
    "observed": "values that count as observed, and how",
    "inserted": "observer modules: attribute, owning instance, observed value",
    "qconfig": "each module's qconfig, set explicitly or inherited",
}


def observer_of(qconfig: ScriptedQConfig, role: str) -> object:
    """A Python instance of the qconfig's observer for ``role``, to read its settings."""
    factory = qconfig.qconfig.weight if role == "weight" else qconfig.qconfig.activation
    return factory()


def describe(observers: dict[str, object]) -> str:
    """``activation=HistogramObserver(torch.quint8, torch.per_tensor_affine), weight=...``"""
    parts = []
    for role, observer in observers.items():
        settings = [str(getattr(observer, a)) for a in ("dtype", "qscheme") if hasattr(observer, a)]
        if hasattr(observer, "ch_axis"):
            settings.append(f"ch_axis={observer.ch_axis}")
        parts.append(f"{role}={type(observer).__name__}({', '.join(settings)})")
    return ", ".join(parts)


def _prefixed(prefix: str) -> list[str]:
    return [f"{prefix}_{c}" for c in VALUE_COLUMNS]


class Tables:
    """The tables of one :class:`~obsviz.run_view.RunView`; each is built on first access."""

    def __init__(self, view: RunView) -> None:
        self.view = view
        self.index = view.index
        self.facts = view.facts
        self._observer_info: dict[tuple[str, str], tuple] = {}
        self._observers: dict[tuple[str, str], object] = {}

    # ------------------------------------------------------------------ helpers
    def columns(self, loc: Loc) -> list:
        """The value columns of one value."""
        instance = self.index.instance_of(loc)
        slot = self.index.graphs[instance.graph].slots.get(loc.unique)
        name = slot.name if slot else str(loc.unique)
        producer = slot.producer if slot else ""
        return [loc.path, loc.method, name, producer, instance.graph, loc.unique]

    def instances_of(self, graph: str) -> list[Instance]:
        return self.index.instances_of_graph(graph)

    def _frame(self, rows: list[list], extra: list[str]) -> pd.DataFrame:
        return pd.DataFrame(rows, columns=VALUE_COLUMNS + extra)

    # ------------------------------------------------------------------ the tables
    @cached_property
    def values(self) -> pd.DataFrame:
        verdicts = self.view.verdicts
        inserted = self.facts.inserted
        rows = []
        for instance in self.index.instances.values():
            graph_index = self.index.graphs[instance.graph]
            for unique, slot in graph_index.slots.items():
                verdict = verdicts(instance.loc(unique))
                observer = graph_index.observer_of.get(unique, "") if verdict.observed else ""
                event = inserted.get((instance.graph, unique))
                rows.append(
                    [
                        instance.path,
                        instance.method,
                        slot.name,
                        slot.producer,
                        instance.graph,
                        unique,
                        verdict.observed,
                        verdict.reason,
                        observer,
                        event.observer_class if event and verdict.observed else "",
                    ]
                )
        return self._frame(rows, ["observed", "reason", "observer", "observer_class"])

    @cached_property
    def delay(self) -> pd.DataFrame:
        rows = []
        for key, event in self.facts.delayed.items():
            for instance in self.instances_of(key.graph):
                rows.append(
                    self.columns(instance.loc(key.unique))
                    + [event.pattern]
                    + self.columns(instance.loc(event.second.unique))
                    + [event.step]
                )
        return self._frame(rows, ["pattern", *_prefixed("observed_instead"), "step"])

    @cached_property
    def boundary(self) -> pd.DataFrame:
        entries = {
            (entry.caller.key, entry.callee.key): entry
            for found in self.facts.boundary.values()
            for entry in found
        }
        if_outputs: dict[str, list] = {}
        for entry in entries.values():
            if entry.kind == "if_output":
                if_outputs.setdefault(entry.caller.graph.qualname, []).append(entry)
        rows = []
        for instance in self.index.instances.values():
            for edge in self.index.edges_from.get(instance.key, ()):
                callee = self.index.instances[edge.callee]
                for kind, pairs in (("input", edge.args), ("return", edge.results)):
                    for caller_unique, callee_unique in pairs:
                        entry = entries.get(
                            ((instance.graph, caller_unique), (callee.graph, callee_unique))
                        )
                        if entry is not None:
                            rows.append(
                                self.columns(instance.loc(caller_unique))
                                + self.columns(callee.loc(callee_unique))
                                + [kind, entry.step]
                            )
            for entry in if_outputs.get(instance.graph, ()):
                rows.append(
                    self.columns(instance.loc(entry.caller.unique))
                    + self.columns(instance.loc(entry.callee.unique))
                    + [entry.kind, entry.step]
                )
        return self._frame(rows, [*_prefixed("callee"), "kind", "step"])

    @cached_property
    def observer_map(self) -> pd.DataFrame:
        rows = []
        for key, event in self.facts.needs_quantization.items():
            if not event.outcome or key in self.facts.dropped:
                continue
            role = next((v for k, v in event.detail if k == "role"), "activation")
            for instance in self.instances_of(key.graph):
                rows.append(
                    self.columns(instance.loc(key.unique))
                    + [role, *self.observer_info(instance.path, role), event.step]
                )
        frame = self._frame(
            rows, ["role", "observer_class", "dtype", "qscheme", "ch_axis", "qconfig_key", "step"]
        )
        frame["ch_axis"] = frame["ch_axis"].astype("Int64")
        return frame

    def observer_info(self, path: str, role: str) -> tuple:
        """Class, dtype, qscheme, ch_axis and qconfig key of a module's observer."""
        found = self._observer_info.get((path, role))
        if found is None:
            module_qconfig = self.view.qconfigs.get(path)
            scripted = module_qconfig.qconfig if module_qconfig else None
            if scripted is None:
                found = ("", "", "", None, None)
            else:
                observer = self.observer(scripted, role)
                found = (
                    type(observer).__name__,
                    str(getattr(observer, "dtype", "")),
                    str(getattr(observer, "qscheme", "")),
                    getattr(observer, "ch_axis", None),
                    scripted.key,
                )
            self._observer_info[(path, role)] = found
        return found

    def observer(self, scripted: ScriptedQConfig, role: str) -> object:
        found = self._observers.get((scripted.key, role))
        if found is None:
            found = self._observers[(scripted.key, role)] = observer_of(scripted, role)
        return found

    @cached_property
    def pass_through(self) -> pd.DataFrame:
        rows = []
        for key, entries in self.facts.pass_through.items():
            inputs = list(dict.fromkeys(i.unique for e in entries for i in e.inputs))
            for instance in self.instances_of(key.graph):
                for input_unique in inputs:
                    rows.append(
                        self.columns(instance.loc(key.unique))
                        + self.columns(instance.loc(input_unique))
                        + [entries[0].step]
                    )
        return self._frame(rows, [*_prefixed("input"), "step"])

    @cached_property
    def observed(self) -> pd.DataFrame:
        verdicts = self.view.verdicts
        rows = []
        for instance in self.index.instances.values():
            graph_index = self.index.graphs[instance.graph]
            for unique in graph_index.slots:
                loc = instance.loc(unique)
                verdict = verdicts(loc)
                how = REASONS[verdict.reason].how_observed
                if how is None:
                    continue
                source = verdict.related[0][1] if verdict.related else None
                rows.append(
                    self.columns(loc)
                    + [
                        how,
                        verdict.reason,
                        graph_index.observer_of.get(unique, "") if verdict.observed else "",
                    ]
                    + (self.columns(source) if source else [None] * 6)
                )
        frame = self._frame(rows, ["how", "reason", "observer", *_prefixed("source")])
        frame["source_unique"] = frame["source_unique"].astype("Int64")
        return frame

    @cached_property
    def inserted(self) -> pd.DataFrame:
        by_attribute = {e.attribute: e for e in self.facts.inserted.values()}
        rows = []
        for event in sorted(self.facts.inserted.values(), key=lambda e: e.step):
            rows.append(self._inserted_row(event, event.module_path, "inserted", event.step))
        for path, attached in self.facts.attached.items():
            for a in attached:
                event = by_attribute.get(a.attribute)
                if event is not None:
                    rows.append(self._inserted_row(event, path, "copied", a.step))
        return self._frame(rows, ["attribute", "observer_class", "how", "step"])

    def _inserted_row(self, event, path: str, how: str, step: int) -> list:
        graph = event.value.graph
        if (path, graph.method) in self.index.instances:
            columns = self.columns(Loc(path, graph.method, event.value.unique))
        else:  # an instance the walk never reaches, given a copy of a shared observer
            columns = [path, graph.method, event.value.name, "", graph.qualname, event.value.unique]
        return columns + [event.attribute, event.observer_class, how, step]

    @cached_property
    def qconfig(self) -> pd.DataFrame:
        rows = []
        for path, assigned in self.view.qconfigs.items():
            event = self.facts.qconfig.get(path)
            if event is None:
                continue
            how = "explicit" if assigned.explicit else "inherited" if assigned.qconfig else "none"
            if assigned.explicit and assigned.qconfig is None:
                how = "explicit_none"
            summary = (
                "None"
                if assigned.qconfig is None
                else describe(
                    {
                        role: self.observer(assigned.qconfig, role)
                        for role in ("activation", "weight")
                    }
                )
            )
            rows.append(
                [
                    path,
                    assigned.type_name,
                    assigned.key,
                    assigned.explicit,
                    how,
                    summary,
                    event.step,
                ]
            )
        return pd.DataFrame(
            rows,
            columns=["module_path", "type", "qconfig_key", "explicit", "how", "qconfig", "step"],
        )

    # ------------------------------------------------------------------ display
    NAMES = tuple(DESCRIPTIONS)

    def summary(self) -> list[tuple[str, int, str]]:
        return [(name, len(getattr(self, name)), DESCRIPTIONS[name]) for name in self.NAMES]

    def __repr__(self) -> str:
        lines = [f"obsviz tables at step {self.view.step} ({self.view.phase or 'start'}):"]
        lines += [f"  .{name:13s} {rows:6d} rows  {text}" for name, rows, text in self.summary()]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        body = "".join(
            f"<tr><td><code>.{html.escape(name)}</code></td><td>{rows}</td>"
            f"<td>{html.escape(text)}</td></tr>"
            for name, rows, text in self.summary()
        )
        return (
            f"<div><b>obsviz tables</b> at step {self.view.step} "
            f"({html.escape(self.view.phase or 'start')})<table>"
            f"<tr><th>table</th><th>rows</th><th>what</th></tr>{body}</table></div>"
        )
