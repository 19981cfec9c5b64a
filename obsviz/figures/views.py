"""A run's figures: the graphs before and after insertion, and what the pass added.

Every value is drawn in its state (``style.STATES``): the states come from the run's
decisions, never re-derived here. ``before`` and ``diff`` draw the graphs of the model
the run was given; ``after`` draws ``run.module``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import TYPE_CHECKING

import torch

from ..qconfig import named_children, named_modules
from .figure import Figure, RenderError
from .graph import DEFAULT_MAX_NODES, Lookup, Mark, Options, Scope, draw
from .states import Decision, ValueStates, VKey, run_states

if TYPE_CHECKING:
    from ..run import Run

WHEN = ("after", "before", "diff")
_UNDECIDED = Mark("not_needed", detail="the pass made no decision about it")


def mark_of(decision: Decision | None, name_of: Callable[[VKey], str], graph: str,
            when: str) -> Mark:
    """How a decision is drawn on the ``when`` view of ``graph``; ``name_of`` names values
    as that view's graph does."""
    if decision is None:
        return _UNDECIDED
    related = tuple(f"%{name_of(key)}" for key in decision.related)
    same_graph = tuple(name_of(key) for key in decision.related if key[0] == graph)
    state, reason = decision.state, decision.reason
    if state in ("observed", "weight"):
        attribute, _, class_name = decision.observer.partition("\n")
        return Mark(state, note=f"by {attribute}" if attribute and when == "before" else "",
                    detail=f"observed by {attribute} ({class_name})" if attribute else reason,
                    observer=f"+ {decision.observer}" if attribute and when == "diff" else None)
    if state == "delayed":
        target = related[0] if related else "?"
        return Mark(state, note=f"delayed → {target}",
                    detail=f"{reason} observes {target} instead", related=same_graph)
    if state == "pass_through":
        return Mark(state, detail=f"observed because {', '.join(related)} are ({reason})",
                    related=same_graph)
    if state == "call_site":
        where = f" (as {related[0]})" if related else ""
        return Mark(state, note=reason, detail=f"{reason}{where}", related=same_graph)
    return Mark(state, detail=reason)


def _module_at(root: torch._C.ScriptModule, path: str) -> torch._C.ScriptModule:
    module = root
    for name in path.split(".") if path else ():
        if not module.hasattr(name) or not isinstance(module.getattr(name),
                                                      torch._C.ScriptModule):
            known = [c for c, _ in named_children(module) if not c.startswith("_observer_")]
            raise RenderError(f"no submodule {path!r} (at {name!r}; children: "
                              f"{', '.join(known) or 'none'})")
        module = module.getattr(name)
    return module


def _graph_key(observed: torch._C.ScriptModule, path: str, method: str) -> str | None:
    try:
        module = _module_at(observed, path)
    except RenderError:
        return None
    return f"{module._type().qualified_name()}.{method}"


class _RunMarks:
    """Marks a run's values on graphs of the observed model or of the input model."""

    def __init__(self, run: Run, states: ValueStates, when: str) -> None:
        self.observed = run.module._c
        self.original_names = run.original_names
        self.states = states
        self.when = when
        self.by_name = states.key_by_name() if when != "after" else {}

    def __call__(self, scope: Scope) -> Lookup:
        decisions, names, when = self.states.decisions, self.states.names, self.when
        if when == "after":
            gq = "" if scope.module is None else \
                f"{scope.module._type().qualified_name()}.{scope.method}"
            here = {v.unique(): v.debugName() for v in _values(scope.graph.block())}

            def name_of(key: VKey) -> str:
                if key[0] == gq and key[1] in here:
                    return here[key[1]]
                return names.get(key, str(key[1]))

            return lambda value: mark_of(decisions.get((gq, value.unique())), name_of, gq,
                                         when)
        gq = _graph_key(self.observed, scope.path, scope.method) or ""
        by_name = self.by_name
        stand_ins = self.stand_ins(scope, gq)

        def original_name(key: VKey) -> str:
            return names.get(key, str(key[1]))

        def lookup(value: torch._C.Value) -> Mark:
            key = by_name.get((gq, value.debugName()))
            decision = decisions.get(key) if key else None
            made = stand_ins.get(value.debugName())
            if made is not None and (decision is None or decision.state == "not_needed"):
                mark = mark_of(decisions[made[0]], original_name, gq, when)
                return replace(mark, note=mark.note or f"as %{made[1]}",
                               detail=f"{mark.detail}; preprocessing replaced it with "
                                      f"%{made[1]}, which the pass observed")
            return mark_of(decision, original_name, gq, when)

        return lookup

    def stand_ins(self, scope: Scope, gq: str) -> dict[str, tuple[VKey, str]]:
        """Observed values that preprocessing made (a fused linear, an inlined fork), by
        the name of the value the input graph has in their place: the input of the same
        user at the same position."""
        made = [key for key, d in self.states.decisions.items()
                if key[0] == gq and d.observer and key not in self.original_names]
        if not made or not self.original_names:
            return {}
        after = _module_at(self.observed, scope.path)
        after_graph = after._get_method(_entry_method(after, scope.method)).graph
        by_unique = {v.unique(): v for v in _values(after_graph.block())}
        before = {v.debugName(): v for v in _values(scope.graph.block())}
        found: dict[str, tuple[VKey, str]] = {}
        for key in made:
            value = by_unique.get(key[1])
            if value is None:
                continue
            uses = [u for use in value.uses() for u in (
                use.user.output().uses() if use.user.kind() == "prim::CallMethod" and
                use.user.inputsAt(0).debugName().startswith("_observer_") else [use])]
            for use in uses:
                twin = self._twin_input(use, gq, before, scope.graph)
                if twin is not None:
                    found[twin.debugName()] = (key, value.debugName())
                    break
        return found

    def _twin_input(self, use: torch._C.Use, gq: str, before: dict[str, torch._C.Value],
                    graph: torch._C.Graph) -> torch._C.Value | None:
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
    """"3 observers inside" for a collapsed call, counted on run.module when first asked."""

    def __init__(self, run: Run, when: str) -> None:
        self.run = run
        self.prefix = "+" if when == "diff" else ""
        self.by_path: dict[str, int] | None = None

    def __call__(self, path: str) -> str:
        if self.by_path is None:
            self.by_path = {}
            for site in self.run.placement():
                self.by_path[site.module_path] = self.by_path.get(site.module_path, 0) + 1
        count = sum(n for p, n in self.by_path.items()
                    if p == path or p.startswith(f"{path}."))
        if not count:
            return ""
        return f"{self.prefix}{count} observer{'s' if count > 1 else ''} inside"


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
    raise RenderError(f"the module has no method {method!r} (its methods: "
                      f"{', '.join(module._method_names()) or 'none'})")


def render_run(run: Run, *, module: str = "", method: str | None = None,
               when: str = "after", depth: int = 0, show_constants: bool = False,
               show_params: bool = False, show_lists: bool = False,
               max_nodes: int | None = DEFAULT_MAX_NODES,
               legend: bool = True, rankdir: str = "TB",
               states: ValueStates | None = None) -> Figure:
    """Draw one graph of a run: ``when`` is "after" (``run.module``), "before" (the model
    the run was given) or "diff" (that model with the observers the pass added)."""
    if when not in WHEN:
        raise RenderError(f"when must be one of {', '.join(map(repr, WHEN))}, got {when!r}")
    method = method or run.method_name
    root = _view_root(run, when)
    target = _module_at(root, module)
    method_name = _entry_method(target, method) if when == "after" else method
    if not target._has_method(method_name):
        raise RenderError(f"{module or '<top>'} has no method {method_name!r}")
    scope = Scope(target._get_method(method_name).graph, module, method_name, target)
    type_name = target._type().qualified_name().rsplit(".", 1)[-1]
    title = {"after": "after InsertObservers", "before": "before InsertObservers",
             "diff": "what InsertObservers added"}[when]
    options = Options(
        depth=depth, show_constants=show_constants, show_params=show_params,
        show_lists=show_lists, max_nodes=max_nodes, legend=legend, rankdir=rankdir,
        muted=when == "diff", call_note=_ObserverCounts(run, when),
        title=f"{module or '<top>'} · {type_name}.{method_name} — {title}",
        narrow_hint=_narrow_hint(run, module, depth))
    marks = _RunMarks(run, states or run_states(run), when)
    return draw(scope, marks, options, name=f"obsviz_{when}")


def _view_root(run: Run, when: str) -> torch._C.ScriptModule:
    if when == "after":
        return run.module._c
    original = getattr(run, "original", None)
    if original is None:
        raise RenderError(f"this run does not keep the model it was given, so there is "
                          f"no {when!r} view; render(when='after') draws run.module")
    return original._c if isinstance(original, torch.jit.ScriptModule) else original


def _find_value(graph: torch._C.Graph, name: str) -> torch._C.Value | None:
    return next((v for v in _values(graph.block()) if v.debugName() == name), None)


def render_value(run: Run, value: str, *, module: str = "", method: str | None = None,
                 when: str = "diff", legend: bool = True, rankdir: str = "TB",
                 states: ValueStates | None = None) -> Figure:
    """One value's neighbourhood: its producer and users, the values its decision
    depends on (the fused op a delay points to, pass-through sources) with their
    producers, and the observer that observes it, all in one graph without expanding calls.
    """
    if when not in WHEN:
        raise RenderError(f"when must be one of {', '.join(map(repr, WHEN))}, got {when!r}")
    name = value.removeprefix("%")
    method = method or run.method_name
    root = _view_root(run, when)
    target = _module_at(root, module)
    method_name = _entry_method(target, method) if when == "after" else method
    scope = Scope(target._get_method(method_name).graph, module, method_name, target)
    focus = _find_value(scope.graph, name)
    where = f"{module or '<top>'}.{method_name}"
    if focus is None:
        raise RenderError(f"{where} has no value %{name}; names are debug names as "
                          f"printed by the {'observed' if when == 'after' else 'input'} "
                          "model's graph")
    states = states or run_states(run)
    marks = _RunMarks(run, states, when)
    mark = marks(scope)(focus)
    related = [v for v in (_find_value(scope.graph, r) for r in (mark.related if mark else ()))
               if v is not None]
    keep: set[torch._C.Node] = set()
    for v in [focus, *related]:
        keep.add(v.node())
        keep.update(use.user for use in v.uses())
    verdict = mark.detail if mark is not None else ""
    options = Options(
        legend=legend, rankdir=rankdir, max_nodes=None, muted=when == "diff",
        title=f"%{name} in {where}" + (f" — {verdict}" if verdict else ""),
        focus=frozenset({focus.unique()}), include=keep.__contains__)
    return draw(scope, marks, options, name="obsviz_value")


def _narrow_hint(run: Run, module: str, depth: int) -> str:
    children = [(len(list(named_modules(child))), name)
                for name, child in named_children(_module_at(run.module._c, module))
                if not name.startswith("_observer_")]
    largest = max(children, key=lambda child: child[0], default=None)  # first of equals
    example = _join(module, largest[1]) if largest else module or "<submodule>"
    hints = [f"render(module={example!r}) for one submodule"]
    if depth:
        hints.append(f"depth={depth - 1} to collapse one level of calls")
    hints.append("run.explain('%value').render() for one value's neighbourhood")
    return "; ".join(hints)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name
