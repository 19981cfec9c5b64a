"""The result of one obsviz pass: the observed module plus everything it decided."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

import torch

from . import events as ev
from .clone import SplitGroup
from .figures import Figure
from .placement import ObserverSite, observer_placement
from .qconfig import ModuleQConfig

# The views (obsviz.run_view, and through it tables, diff and explain) are imported inside the
# methods that return them, never here: tables are pandas DataFrames, and `import obsviz`
# must not import pandas (tests/test_api.py checks it), so that running the pass pays only
# for torch. Here they are names for type checkers.
if TYPE_CHECKING:
    from collections.abc import Iterable

    import pandas as pd

    from .calib import Calibration
    from .diff import RunDiff
    from .explain import Explanation
    from .model_index import ModelIndex
    from .run_view import RunView
    from .tables import Tables


@dataclass(frozen=True, eq=False)
class Run:
    """An observed module and the recorded events of the pass that produced it."""

    module: torch.jit.ScriptModule
    events: tuple[ev.Event, ...]
    qconfigs: Mapping[str, ModuleQConfig]
    splits: tuple[SplitGroup, ...]
    maps: ev.MapsView
    method_name: str
    quant_type: str
    qconfig_dict: Mapping[str, object] = field(repr=False, default_factory=dict)
    original_names: Mapping[tuple[str, int], str] = field(repr=False, default_factory=dict)
    failure: object | None = None  # the Diagnosis when the pass failed part-way
    # the model as the pass was given it (the before/diff figures draw its graphs)
    original: torch.jit.ScriptModule | None = field(default=None, repr=False)
    # the views of the run, by step (None: the end), built on first use; see obsviz.run_view
    _views: dict[int | None, RunView] = field(default_factory=dict, init=False, repr=False)
    # the latest run.calibrate(...): run.explain adds its numbers to every answer
    calibration: Calibration | None = field(default=None, init=False, repr=False)

    @property
    def inserted(self) -> tuple[tuple[str, str, object], ...]:
        """(module path, observer attribute, observed value) for each observer inserted."""
        return self.maps.inserted

    @property
    def observer_count(self) -> int:
        """How many observers ``run.module`` holds: one per instance, so an observer the
        walk inserted into a type shared by two instances counts twice (as torch's
        observed module has it twice)."""
        if not self.events:
            return len(self.placement())
        return sum(self.observers_by_module().values())

    def observers_by_module(self) -> dict[str, int]:
        """How many observers each module holds, by path: those the walk inserted, and the
        copies of a shared type's observers given to instances it did not walk."""
        counts = Counter(path for path, _, _ in self.inserted)
        counts.update(e.module_path for e in self.events if isinstance(e, ev.ObserverAttached))
        return dict(counts)

    def placement(self) -> list[ObserverSite]:
        """Where the observers sit; see :func:`obsviz.observer_placement`."""
        return observer_placement(self.module, self.entry_method)

    @property
    def entry_method(self) -> str:
        """The method the pass walked: ``observe_<method>`` for on-device runs."""
        observe = f"observe_{self.method_name}"
        return observe if self.module._c._has_method(observe) else self.method_name

    @property
    def tables(self) -> Tables:
        """The maps and decisions as DataFrames (``.delay``, ``.boundary``, ...)."""
        return self.at().tables

    def values(self) -> pd.DataFrame:
        """Every value of every graph reached, per instance, with observed flag and reason."""
        return self.tables.values

    def at(self, step: int | None = None) -> RunView:
        """The run as it stood after event ``step`` (the end when None): ``.tables``,
        ``.values()``, ``.explain()``. Each step's view is built once and kept."""
        view = self._views.get(step)
        if view is None:
            from .run_view import RunView

            view = self._views[step] = RunView(self, step, self._index)
        return view

    @cached_property
    def _index(self) -> ModelIndex:
        """The structural index of ``module`` that the views of every step share."""
        from .run_view import build_index

        return build_index(self)

    def explain(
        self, value: object, module: str = "", method: str | None = None, *, names: str = "auto"
    ) -> Explanation:
        """Why was, or wasn't, this value observed?

        ``value`` is a debug name (with or without ``%``) as in ``model.graph`` or
        ``model.<module>.graph`` before insertion, or in ``run.module``'s graphs after it;
        or a ``torch._C.Value`` or ``ValueRef``. ``module`` is the instance path (``""``
        for the top module), ``method`` the method (by default the entry method or
        ``forward``, then the module's other methods). When a name means different values
        before and after insertion, the model's wins unless ``names="observed"``.
        """
        explanation = self.at().explain(value, module, method, names=names)
        if self.calibration is not None:
            explanation = explanation.with_calibration(self.calibration)
        return explanation

    def diff(self, other: Run) -> RunDiff:
        """Observers this run has and ``other`` lacks, and the reverse, with explanations."""
        return self.at().diff(other)

    def render(
        self,
        module: str = "",
        *,
        method: str | None = None,
        when: str = "after",
        depth: int = 0,
        **options: object,
    ) -> Figure:
        """A Graphviz figure of one graph: ``when`` is "after" (``run.module``), "before"
        (the model passed in) or "diff" (that model with the observers the pass added).

        Submodule calls stay collapsed unless ``depth`` > 0; the options are those of
        :func:`obsviz.render` (``show_constants``, ``max_nodes``, ``rankdir``, ...).
        """
        from .figures.run_figures import render_run

        return render_run(self, module=module, method=method, when=when, depth=depth, **options)

    def calibrate(
        self, batches: Iterable, *, inplace: bool = False, progress: bool = True
    ) -> Calibration:
        """Run ``batches`` (each a tensor or a tuple of arguments) through the observers and
        return what they saw: ``.ranges``, ``.flags``, ``.error(...)``, ``.sensitivity(...)``.

        A copy of ``run.module`` is calibrated unless ``inplace=True``; the calibrated
        module is ``calibration.module``. From then on ``run.explain`` adds each observer's
        range, qparams and (once ``calibration.error(...)`` ran) error to its answers.
        """
        from .calib import calibrate

        calibration = calibrate(self, batches, inplace=inplace, progress=progress)
        object.__setattr__(self, "calibration", calibration)  # a frozen dataclass
        return calibration

    def events_of(self, kind: type[ev.Event]) -> list[ev.Event]:
        return [e for e in self.events if isinstance(e, kind)]

    def __str__(self) -> str:
        """The counts, and what ``prepare_jit`` would do instead when it folds conv-bn
        pairs first (it runs the pass once more on the folded model, then keeps that)."""
        from .convbn import prepare_jit_counts

        counts = prepare_jit_counts(self)
        instead = f"; {counts.sentence()}" if counts is not None else ""
        return f"{self._counts()}{instead}"

    def _counts(self) -> str:
        return (
            f"obsviz Run: {self.observer_count} observers inserted by {self.quant_type} "
            f"InsertObservers on {self.method_name}; {len(self.events)} events recorded"
        )

    def __repr__(self) -> str:
        return f"<{self._counts()}>"
