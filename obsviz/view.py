"""A run as it stood at one recorded step: its values, tables and explanations.

``run.tables``, ``run.values()`` and ``run.explain()`` read the last step;
``run.at(step)`` gives the same views for any earlier step. The structural index of
the observed module is built once per run; facts and verdicts once per step.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

import pandas as pd

from . import events as ev
from .errors import ObsvizError
from .facts import Facts, collect_facts
from .functions import FunctionResolver
from .values import ModelIndex
from .verdicts import Verdicts

if TYPE_CHECKING:
    from .diff import RunDiff
    from .explain import Explanation
    from .run import Run
    from .tables import Tables

VALUE_COLUMNS = ["module_path", "method", "value", "producer", "graph", "unique"]
"""The columns naming a value in every table, so tables join and filter alike."""


def entry_method(run: Run) -> str:
    """The method the pass started from (``observe_<method>`` for on-device runs)."""
    for event in run.events:
        if isinstance(event, ev.GraphEntered):
            return event.graph.method
    on_device = f"observe_{run.method_name}"
    if any(isinstance(e, ev.ResetMethodAdded) for e in run.events) or (
            run.module._c._has_method(on_device) and not run.inserted):
        return on_device
    return run.method_name


def model_index(run: Run) -> ModelIndex:
    """The run's structural index, built on first use and kept with the run."""
    cache = run._views
    index = cache.get("index")
    if index is None:
        if not run.events:
            raise ObsvizError(
                "this run kept no events (insert_observers(..., record=False)); run it "
                "again with record=True to get tables and explanations")
        index = cache["index"] = ModelIndex(run.module._c, entry_method(run),
                                            dict(run.original_names),
                                            FunctionResolver((run.original or run.module)._c))
    return index


class RunView:
    """The values, tables and explanations of a run up to ``step`` (the end if None)."""

    def __init__(self, run: Run, step: int | None = None) -> None:
        last = run.events[-1].step if run.events else -1
        if step is not None and not -len(run.events) <= step <= last:
            raise ObsvizError(f"step {step} is out of range: this run recorded steps 0 to "
                              f"{last}")
        if step is not None and step < 0:
            step = last + 1 + step
        self.run = run
        self.step = last if step is None else step
        self.index = model_index(run)

    @cached_property
    def facts(self) -> Facts:
        return collect_facts(self.run.events, self.step)

    @cached_property
    def verdicts(self) -> Verdicts:
        last = self.run.events[-1].step if self.run.events else -1
        final = view_of(self.run).verdicts if self.step < last else None
        return Verdicts(self.index, self.facts, dict(self.run.qconfigs), final)

    @property
    def phase(self) -> str | None:
        """The phase of the pass running at this step."""
        return self.facts.phase

    @cached_property
    def tables(self) -> Tables:
        from .tables import Tables
        return Tables(self)

    def values(self) -> pd.DataFrame:
        """Every value of every graph reached, per instance, with its verdict."""
        return self.tables.values

    def explain(self, value: object, module: str = "", method: str | None = None, *,
                names: str = "auto") -> Explanation:
        """Why was (or wasn't) this value observed? See :meth:`obsviz.Run.explain`."""
        from .convbn import conv_bn_note
        from .explain import explain
        loc, notes, observed_names = self.index.resolve(value, module, method, names)
        slot = self.index.graphs[self.index.instance(loc[0], loc[1]).graph].slots.get(loc[2])
        fold = conv_bn_note(self.run, loc[0], slot.value) if slot is not None else None
        return explain(self, loc, (*notes, fold) if fold else notes, observed_names)

    def at(self, step: int) -> RunView:
        return view_of(self.run, step)

    def diff(self, other: Run | RunView) -> RunDiff:
        from .diff import diff_runs
        return diff_runs(self, other if isinstance(other, RunView) else view_of(other))

    def __repr__(self) -> str:
        return f"<obsviz RunView at step {self.step} ({self.phase or 'before the pass'})>"


def view_of(run: Run, step: int | None = None) -> RunView:
    """The run's view at ``step``, kept with the run so each step is analyzed once."""
    key = ("view", step)
    view = run._views.get(key)
    if view is None:
        view = run._views[key] = RunView(run, step)
    return view
