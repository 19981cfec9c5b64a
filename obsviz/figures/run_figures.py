"""A run's figures: the graphs before and after insertion, and what the pass added.

Every value is drawn in its state (``style.STATES``): the states come from the run's
decisions, never re-derived here. ``before`` and ``diff`` draw the graphs of the model
the run was given; ``after`` draws ``run.module``.
"""

from __future__ import annotations

import textwrap
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import TYPE_CHECKING

import torch

from ..functions import FunctionResolver
from ..graphs import is_observer_call, is_observer_name
from ..qconfig import named_children, named_modules
from ..refs import InstanceKey, Loc, ValueRef, display_path
from .figure import Figure, RenderError
from .graph import DEFAULT_MAX_NODES, Lookup, Mark, Marker, Options, Scope, draw
from .states import Decision, ValueStates, run_states

if TYPE_CHECKING:
    from ..calib import Calibration
    from ..run import Run

WHEN = ("after", "before", "diff")
Restyle = Callable[[Scope, torch._C.Value, Mark | None], Mark | None]
_UNDECIDED = Mark("not_needed", detail="the pass made no decision about it")


def mark_of(
    decision: Decision | None, name_of: Callable[[Loc], str], here: InstanceKey, when: str
) -> Mark:
    """How a decision is drawn on the ``when`` view of the graph of instance ``here``
    (path, method); ``name_of`` names values as that view's graph does."""
    if decision is None:
        return _UNDECIDED
    related = tuple(f"%{name_of(loc)}" for loc in decision.related)
    same_graph = tuple(name_of(loc) for loc in decision.related if loc.instance == here)
    state, summary = decision.state, f"{decision.reason}: {decision.summary}"
    if state in ("observed", "weight"):
        attribute, _, class_name = decision.observer.partition("\n")
        by = f"observed by {attribute} ({class_name}); " if attribute else ""
        inserted = attribute and decision.reason != "observer_recorded"  # not yet, if so
        return Mark(
            state,
            note=f"by {attribute}" if attribute and when == "before" else decision.note,
            detail=by + summary,
            observer=f"+ {decision.observer}" if inserted and when == "diff" else None,
        )
    if state == "delayed":
        target = related[-1] if related else "?"
        pattern = decision.pattern or "a fusion pattern"
        return Mark(
            state,
            note=f"delayed → {target}",
            detail=f"{pattern} observes {target} instead; {summary}",
            related=same_graph,
        )
    if state in ("pass_through", "call_site"):
        via = f"via {', '.join(related)}; " if related else ""
        return Mark(state, note=decision.note, detail=via + summary, related=same_graph)
    return Mark(state, note=decision.note, detail=summary)


def _module_at(root: torch._C.ScriptModule, path: str) -> torch._C.ScriptModule:
    module = root
    for name in path.split(".") if path else ():
        if not module.hasattr(name) or not isinstance(module.getattr(name), torch._C.ScriptModule):
            known = [c for c, _ in named_children(module) if not is_observer_name(c)]
            raise RenderError(
                f"no submodule {path!r} (at {name!r}; children: {', '.join(known) or 'none'})"
            )
        module = module.getattr(name)
    return module


class _RunMarks:
    """Marks a run's values on graphs of the observed model or of the input model."""

    def __init__(self, run: Run, states: ValueStates | None, when: str) -> None:
        self.observed = run.module._c
        self.original_names = run.original_names
        self.states = states
        self.when = when

    def __call__(self, scope: Scope) -> Lookup:
        states, when, here = self.states, self.when, InstanceKey(scope.path, scope.method)
        if states is None:
            return lambda value: None
        if when == "after":
            names = {v.unique(): v.debugName() for v in _values(scope.graph.block())}

            def name_of(loc: Loc) -> str:
                if loc.instance == here and loc.unique in names:
                    return names[loc.unique]
                return states.name(loc)

            return lambda value: mark_of(
                states.decision(here.loc(value.unique())), name_of, here, when
            )
        in_run = self.in_run(scope)

        def lookup(value: torch._C.Value) -> Mark:
            unique, stand_in = in_run(value)
            decision = states.decision(here.loc(unique)) if unique is not None else None
            mark = mark_of(decision, states.name, here, when)
            if stand_in is None:
                return mark
            return replace(
                mark,
                note=mark.note or f"as %{stand_in}",
                detail=f"preprocessing replaced it with %{stand_in}, which "
                f"the pass observed; {mark.detail}",
            )

        return lookup

    def in_run(self, scope: Scope) -> Callable[[torch._C.Value], tuple[int | None, str | None]]:
        """Per value drawn in ``scope`` of the input model: the unique of the value the run
        decided about (in run.module's graphs), and, when preprocessing made that value in
        its place, its name."""
        assert self.states is not None
        states, here = self.states, InstanceKey(scope.path, scope.method)
        stand_ins = self.stand_ins(scope)

        def of(value: torch._C.Value) -> tuple[int | None, str | None]:
            unique = states.unique_of(scope.path, scope.method, value.debugName())
            decision = states.decision(here.loc(unique)) if unique is not None else None
            made = stand_ins.get(value.debugName())
            if made is not None and (decision is None or decision.state == "not_needed"):
                return made
            return unique, None

        return of

    def unique_in_run(self, scope: Scope) -> Callable[[torch._C.Value], int | None]:
        """Per value drawn in ``scope``: its unique in run.module's graphs, by which the
        run's tables (``cal.ranges``, ``cal.error(...).table``) key it."""
        if self.when == "after":
            return lambda value: value.unique()
        if self.states is None:
            return lambda value: None
        in_run = self.in_run(scope)
        return lambda value: in_run(value)[0]

    def stand_ins(self, scope: Scope) -> dict[str, tuple[int, str]]:
        """Observed values that preprocessing made (a fused linear, an inlined fork), by
        the name of the value the input graph has in their place: the input of the same
        user at the same position."""
        assert self.states is not None
        if scope.module is None:  # a function's graph: preprocessing edits it in place
            return {}
        made = self.states.made_by_preprocessing(scope.path, scope.method)
        if not made:
            return {}
        after = _module_at(self.observed, scope.path)
        after_graph = after._get_method(_entry_method(after, scope.method)).graph
        gq = f"{after._type().qualified_name()}.{_entry_method(after, scope.method)}"
        by_unique = {v.unique(): v for v in _values(after_graph.block())}
        before = {v.debugName(): v for v in _values(scope.graph.block())}
        found: dict[str, tuple[int, str]] = {}
        for unique in made:
            value = by_unique.get(unique)
            if value is None:
                continue
            uses = [
                u
                for use in value.uses()
                for u in (use.user.output().uses() if is_observer_call(use.user) else [use])
            ]
            for use in uses:
                twin = self._twin_input(use, gq, before, scope.graph)
                if twin is not None:
                    found[twin.debugName()] = (unique, value.debugName())
                    break
        return found

    def _twin_input(
        self, use: torch._C.Use, gq: str, before: dict[str, torch._C.Value], graph: torch._C.Graph
    ) -> torch._C.Value | None:
        user, offset = use.user, use.offset
        if user.kind() == "prim::Return":
            outputs = list(graph.outputs())
            return outputs[offset] if offset < len(outputs) else None
        for out in user.outputs():
            name = self.original_names.get((gq, out.unique()))
            twin_user = before[name].node() if name in before else None
            if twin_user is not None and offset < twin_user.inputsSize():
                return twin_user.inputsAt(offset)
        return None


class _ObserverCounts:
    """ "3 observers inside" for a collapsed call (``added``: "+3", as added by the pass),
    counted on run.module when first asked (or, at a ``step`` before the end, the observers
    inserted by then)."""

    def __init__(self, run: Run, added: bool, step: int | None = None) -> None:
        self.run = run
        self.prefix = "+" if added else ""
        self.step = step
        self.by_path: dict[str, int] | None = None

    def __call__(self, path: str) -> str:
        if self.by_path is None:
            self.by_path = (
                Counter(site.module_path for site in self.run.placement())
                if self.step is None
                else self._inserted_by_step()
            )
        count = sum(n for p, n in self.by_path.items() if p == path or p.startswith(f"{path}."))
        if not count:
            return ""
        return f"{self.prefix}{count} observer{'s' if count > 1 else ''} inside"

    def _inserted_by_step(self) -> Counter[str]:
        facts = self.run.at(self.step).facts
        counts = Counter(e.module_path for e in facts.inserted.values())
        counts.update({path: len(found) for path, found in facts.attached.items()})
        return counts


def _values(block: torch._C.Block) -> Iterator[torch._C.Value]:
    yield from block.inputs()
    for node in block.nodes():
        yield from node.outputs()
        for sub in node.blocks():
            yield from _values(sub)


def _entry_method(module: torch._C.ScriptModule, method: str) -> str:
    if module._has_method(method):
        return method
    if module._has_method(f"observe_{method}"):
        return f"observe_{method}"
    raise RenderError(
        f"the module has no method {method!r} (its methods: "
        f"{', '.join(module._method_names()) or 'none'})"
    )


def render_run(
    run: Run,
    *,
    module: str = "",
    method: str | None = None,
    when: str = "after",
    depth: int = 0,
    show_constants: bool = False,
    show_params: bool = False,
    show_lists: bool = False,
    max_nodes: int | None = DEFAULT_MAX_NODES,
    legend: bool = True,
    title: bool = True,
    rankdir: str = "TB",
    states: ValueStates | None = None,
    overlay: str | None = None,
    calibration: Calibration | None = None,
    restyle: Restyle | None = None,
    call_attrs: Callable[[str], dict[str, str]] | None = None,
) -> Figure:
    """Draw one graph of a run: ``when`` is "after" (``run.module``), "before" (the model
    the run was given) or "diff" (that model with the observers the pass added).
    ``overlay`` ("sqnr" or "range", on "after" or "diff") colours observed values by what
    ``calibration`` (by default the run's latest) saw; see :mod:`obsviz.figures.overlay`.

    ``title=False`` leaves the title out of the drawing (it stays the figure's ``.title``,
    for a page to show above the figure). ``restyle`` redraws values (given the scope, the
    value and its mark), ``call_attrs`` collapsed calls (given the callee's path): how the
    Explorer shows what a qconfig change did."""
    if when not in WHEN:
        raise RenderError(f"when must be one of {', '.join(map(repr, WHEN))}, got {when!r}")
    method = method or run.method_name
    root = _view_root(run, when)
    target = _module_at(root, module)
    method_name = _entry_method(target, method) if when == "after" else method
    if not target._has_method(method_name):
        raise RenderError(f"{display_path(module)} has no method {method_name!r}")
    scope = Scope(target._get_method(method_name).graph, module, method_name, target)
    type_name = target._type().qualified_name().rsplit(".", 1)[-1]
    states = states or run_states(run)
    step = states.step if states is not None else None
    shows = (
        {
            "after": "after InsertObservers",
            "before": "before InsertObservers",
            "diff": "what InsertObservers added",
        }[when]
        if step is None
        else _title_at(run, when, step)
    )
    options = Options(
        depth=depth,
        show_constants=show_constants,
        show_params=show_params,
        show_lists=show_lists,
        max_nodes=max_nodes,
        legend=legend,
        draw_title=title,
        rankdir=rankdir,
        muted=when == "diff",
        # "+" marks what the pass added on the diff view; a restyled view (what a qconfig
        # change did, in the Explorer) keeps "+" for its own marks
        call_note=_ObserverCounts(
            run, when == "diff" and restyle is None, None if when == "after" else step
        ),
        call_attrs=call_attrs,
        functions=FunctionResolver((run.original or run.module)._c),
        title=f"{display_path(module)} · {type_name}.{method_name} — {shows}",
        narrow_hint=_narrow_hint(run, module, depth),
    )
    run_marks = _RunMarks(run, states, when)
    marks: Marker = run_marks
    if overlay is not None:
        from .overlay import overlaid

        marks, options.overlay = overlaid(run, run_marks, overlay, calibration, when)
    if restyle is not None:
        marks = _restyled(marks, restyle)
    return draw(scope, marks, options, name=f"obsviz_{when}")


def _restyled(marker: Marker, restyle: Restyle) -> Marker:
    def for_scope(scope: Scope) -> Lookup:
        lookup = marker(scope)
        return lambda value: restyle(scope, value, lookup(value))

    return for_scope


def _title_at(run: Run, when: str, step: int) -> str:
    """A figure's title at a step before the end of the pass: what it shows by then."""
    at = f"step {step} of {run.events[-1].step}"
    return {
        "diff": f"what InsertObservers had added by {at}",
        "before": f"before InsertObservers, each value as decided by {at}",
        "after": f"after InsertObservers (the end), each value as decided by {at}",
    }[when]


def _view_root(run: Run, when: str) -> torch._C.ScriptModule:
    if when == "after":
        return run.module._c
    original = run.original
    if original is None:
        raise RenderError(
            f"this run does not keep the model it was given, so there is "
            f"no {when!r} view; render(when='after') draws run.module"
        )
    return original._c if isinstance(original, torch.jit.ScriptModule) else original


def _find_value(graph: torch._C.Graph, name: str) -> torch._C.Value | None:
    return next((v for v in _values(graph.block()) if v.debugName() == name), None)


def render_value(
    run: Run,
    value: str | ValueRef,
    *,
    module: str = "",
    method: str | None = None,
    when: str = "diff",
    caption: str = "",
    legend: bool = True,
    title: bool = True,
    rankdir: str = "TB",
    states: ValueStates | None = None,
) -> Figure:
    """One value's neighbourhood: its producer and users, the values its decision
    depends on (the value a delay observes instead, pass-through sources) with their
    producers and users, and the observer that observes it; calls stay collapsed.

    ``value`` is a debug name of the ``when`` view's graph (the input model's for
    "before" and "diff", ``run.module``'s for "after"), or a ``ValueRef``.
    """
    if when not in WHEN:
        raise RenderError(f"when must be one of {', '.join(map(repr, WHEN))}, got {when!r}")
    states = states or run_states(run)
    unique = None
    if isinstance(value, ValueRef):
        module, method = value.module_path, value.graph.method
        if when == "after":
            unique, value = value.unique, value.name
        elif states is not None:  # the input model's name for the value
            value = states.name(Loc(module, method, value.unique))
        else:
            value = value.name
    name = value.removeprefix("%")
    method = method or run.method_name
    if (
        when != "after"
        and method.startswith("observe_")
        and states is not None
        and states.instance(module, method.removeprefix("observe_"))
    ):
        method = method.removeprefix("observe_")  # on-device: the input model's method
    root = _view_root(run, when)
    target = _module_at(root, module)
    method_name = _entry_method(target, method) if when == "after" else method
    scope = Scope(target._get_method(method_name).graph, module, method_name, target)
    focus = next(
        (
            v
            for v in _values(scope.graph.block())
            if (v.unique() == unique if unique is not None else v.debugName() == name)
        ),
        None,
    )
    where = f"{display_path(module)}.{method_name}"
    if focus is None:
        raise RenderError(
            f"{where} has no value %{name}; names are debug names as "
            f"printed by the {'observed' if when == 'after' else 'input'} "
            "model's graph"
        )
    marks = _RunMarks(run, states, when)
    mark = marks(scope)(focus)
    related = [
        v
        for v in (_find_value(scope.graph, r) for r in (mark.related if mark else ()))
        if v is not None
    ]
    keep: set[torch._C.Node] = set()
    for v in [focus, *related]:
        keep.add(v.node())
        for use in v.uses():
            keep.add(use.user)
            if is_observer_call(use.user):  # in run.module: the users are past it
                keep.update(u.user for u in use.user.output().uses())
    keep.update(
        [
            u.user
            for node in keep
            for out in node.outputs()
            for u in out.uses()
            if is_observer_call(u.user)
        ]
    )  # as the diff view draws them
    caption = caption or (mark.detail if mark is not None else "")
    options = Options(
        legend=legend,
        draw_title=title,
        rankdir=rankdir,
        max_nodes=None,
        muted=when == "diff",
        title="\n".join([f"%{focus.debugName()} in {where}", *textwrap.wrap(caption, 90)]),
        focus=frozenset({focus.unique()}),
        include=keep.__contains__,
    )
    return draw(scope, marks, options, name="obsviz_value")


def _narrow_hint(run: Run, module: str, depth: int) -> str:
    children = [
        (len(list(named_modules(child))), name)
        for name, child in named_children(_module_at(run.module._c, module))
        if not is_observer_name(name)
    ]
    largest = max(children, key=lambda child: child[0], default=None)  # first of equals
    example = _join(module, largest[1]) if largest else module or "<submodule>"
    hints = [f"render(module={example!r}) for one submodule"]
    if depth:
        hints.append(f"depth={depth - 1} to collapse one level of calls")
    hints.append("run.explain('%value').render() for one value's neighbourhood")
    return "; ".join(hints)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name
