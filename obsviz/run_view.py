"""A run as it stood at one recorded step: its values, tables and explanations.

``run.tables``, ``run.values()`` and ``run.explain()`` read the last step;
``run.at(step)`` gives the same views for any earlier step. The run keeps its views and
the structural index of the observed module (built once per run); a view builds its
facts and verdicts once.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

import pandas as pd

from . import events as ev
from .errors import ObsvizError
from .facts import Facts, collect_facts
from .functions import FunctionResolver
from .model_index import ModelIndex
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
        run.module._c._has_method(on_device) and not run.inserted
    ):
        return on_device
    return run.method_name


def build_index(run: Run) -> ModelIndex:
    """The run's structural index (``Run`` keeps it: each run builds it once)."""
    if not run.events:
        raise ObsvizError(
            "this run kept no events (insert_observers(..., record=False)); run it "
            "again with record=True to get tables and explanations"
        )
    return ModelIndex(
        run.module._c,
        entry_method(run),
        dict(run.original_names),
        FunctionResolver((run.original or run.module)._c),
    )


class RunView:
    """The values, tables and explanations of a run up to ``step`` (the end if None).

    ``run.at(step)`` gives the view, and keeps it; ``index`` is the run's own, shared by
    the views of every step."""

    def __init__(self, run: Run, step: int | None, index: ModelIndex) -> None:
        last = run.events[-1].step if run.events else -1
        if step is not None and not -len(run.events) <= step <= last:
            raise ObsvizError(f"step {step} is out of range: this run recorded steps 0 to {last}")
        if step is not None and step < 0:
            step = last + 1 + step
        self.run = run
        self.step = last if step is None else step
        self.index = index
        # what the views read of the run itself
        self.qconfigs = run.qconfigs
        self.quant_type = run.quant_type
        self.failure = run.failure  # the Diagnosis when the pass stopped part-way

    @cached_property
    def facts(self) -> Facts:
        return collect_facts(self.run.events, self.step)

    @cached_property
    def verdicts(self) -> Verdicts:
        return Verdicts(self.index, self.facts, dict(self.qconfigs))

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

    def explain(
        self, value: object, module: str = "", method: str | None = None, *, names: str = "auto"
    ) -> Explanation:
        """Why was (or wasn't) this value observed? See :meth:`obsviz.Run.explain`."""
        from .explain import explain

        loc, notes, observed_names = self.index.resolve(value, module, method, names)
        return explain(self, loc, notes, observed_names)

    def at(self, step: int) -> RunView:
        return self.run.at(step)

    def diff(self, other: Run | RunView) -> RunDiff:
        from .diff import diff_runs

        return diff_runs(self, other if isinstance(other, RunView) else other.at())

    def __repr__(self) -> str:
        return f"<obsviz RunView at step {self.step} ({self.phase or 'before the pass'})>"
