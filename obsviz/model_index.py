"""The structure of a run's module: which instance runs which graph, each graph's values
and names, and which call site feeds which callee value.

It is read from ``run.module``, whose graphs are the very graphs the engine worked on,
and holds no decisions: the verdicts (observed or not, and why) are read from the run's
recorded events by :mod:`obsviz.verdicts`, keyed by the locations this index gives.
"""

from __future__ import annotations

import difflib
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch

from . import rules
from .errors import ObsvizError
from .functions import FunctionResolver
from .graphs import (
    called_submodule,
    is_observer_call,
    is_observer_getattr,
    is_observer_name,
    join_path,
)
from .refs import TOP, GraphRef, InstanceKey, Loc, ValueKey, ValueRef, display_path, method_label


@dataclass(frozen=True, slots=True)
class Slot:
    """One value of a graph as the pass saw it (observer nodes left out)."""

    unique: int
    name: str  # the user's debug name, from before insertion
    after: str  # its debug name in run.module's graph
    producer: str  # the producing node's kind; graph and block inputs are prim::Param
    place: str  # "walked", "loop" (inside a prim::Loop body) or "unwalked" (other blocks)
    value: torch._C.Value


@dataclass
class GraphIndex:
    """The values of one method or function graph, and the names they go by."""

    ref: GraphRef
    graph: torch._C.Graph
    slots: dict[int, Slot] = field(default_factory=dict)
    inputs: list[int] = field(default_factory=list)
    returns: list[int] = field(default_factory=list)
    names: dict[str, int] = field(default_factory=dict)  # before insertion
    after_names: dict[str, int] = field(default_factory=dict)  # in run.module's graph
    observer_of: dict[int, str] = field(default_factory=dict)  # observed unique -> attribute
    observer_out: dict[int, int] = field(default_factory=dict)  # observer output -> input


@dataclass(frozen=True, slots=True)
class Instance:
    """A module instance running a method (or a function called from it)."""

    path: str
    method: str
    graph: str  # qualname
    kind: str  # "method" or "function"
    in_loop: bool  # reached only through calls inside prim::Loop bodies
    entry: bool

    @property
    def key(self) -> InstanceKey:
        return InstanceKey(self.path, self.method)

    def loc(self, unique: int) -> Loc:
        """One value of the instance's graph."""
        return Loc(self.path, self.method, unique)


@dataclass(frozen=True, slots=True)
class CallEdge:
    """A call site: ``args`` and ``results`` pair caller uniques with callee uniques."""

    caller: InstanceKey
    callee: InstanceKey
    args: tuple[tuple[int, int], ...]
    results: tuple[tuple[int, int], ...]
    in_loop: bool


def _nodes_with_loop_flag(
    block: torch._C.Block, looped: bool
) -> Iterator[tuple[torch._C.Node, bool]]:
    """Every node of a block and its nested blocks, in order, and whether it is in a loop."""
    for node in block.nodes():
        yield node, looped
        for sub in node.blocks():
            yield from _nodes_with_loop_flag(sub, looped or node.kind() == "prim::Loop")


class ModelIndex:
    """The instances, call sites and graph values reached from the run's entry method."""

    def __init__(
        self,
        module: torch._C.ScriptModule,
        entry: str,
        original_names: dict[ValueKey, str],
        functions: FunctionResolver | None = None,
    ) -> None:
        self.original_names = original_names
        self.graphs: dict[str, GraphIndex] = {}
        self.instances: dict[InstanceKey, Instance] = {}
        self.edges_into: dict[InstanceKey, list[CallEdge]] = defaultdict(list)
        self.edges_from: dict[InstanceKey, list[CallEdge]] = defaultdict(list)
        self.modules: dict[str, torch._C.ScriptModule] = {}
        self.by_graph: dict[str, list[Instance]] = {}
        self.functions = functions or FunctionResolver(module)
        self.entry = InstanceKey("", entry)
        self._walk(module, entry)

    # ------------------------------------------------------------------ structure
    def _walk(self, root: torch._C.ScriptModule, entry: str) -> None:
        """Instances in call order from the entry (each caller before its callees)."""
        found: dict[InstanceKey, tuple[str, str]] = {}

        def visit(
            module: torch._C.ScriptModule | None,
            path: str,
            method: str,
            graph: torch._C.Graph,
            qualname: str,
            kind: str,
        ) -> None:
            key = InstanceKey(path, method)
            if key in found:
                return
            found[key] = (qualname, kind)
            if module is not None:
                self.modules.setdefault(path, module)
            graph_index = self.graphs.get(qualname)
            if graph_index is None:
                graph_index = self.graphs[qualname] = self._index_graph(
                    graph, GraphRef(qualname, kind)
                )
            for child, callee_graph, callee_qualname, callee_kind, edge in self._calls(
                graph, graph_index, module, path, key
            ):
                self.edges_into[edge.callee].append(edge)
                self.edges_from[key].append(edge)
                visit(child, *edge.callee, callee_graph, callee_qualname, callee_kind)

        graph = root._get_method(entry).graph
        visit(root, "", entry, graph, f"{root._type().qualified_name()}.{entry}", "method")
        # An instance is "in a loop" when every way to reach it passes a prim::Loop body.
        outside = {self.entry}
        changed = True
        while changed:
            changed = False
            for key in found:
                if key not in outside and any(
                    not e.in_loop and e.caller in outside for e in self.edges_into[key]
                ):
                    outside.add(key)
                    changed = True
        for key, (qualname, kind) in found.items():
            instance = self.instances[key] = Instance(
                *key, qualname, kind, key not in outside, key == self.entry
            )
            self.by_graph.setdefault(qualname, []).append(instance)

    def _calls(
        self,
        graph: torch._C.Graph,
        graph_index: GraphIndex,
        module: torch._C.ScriptModule | None,
        path: str,
        key: InstanceKey,
    ) -> Iterator[tuple]:
        """The calls a graph makes, in graph order, with what each passes and gets back."""
        self_value = next(graph.inputs()) if module is not None else None
        for node, looped in _nodes_with_loop_flag(graph.block(), False):
            if node.kind() == "prim::CallMethod" and self_value is not None:
                target = called_submodule(node, self_value, module)
                if target is None:
                    continue
                child, names = target
                callee_path = join_path(path, names)
                callee_method = node.s("name")
                callee_graph = child._get_method(callee_method).graph
                callee_qualname = f"{child._type().qualified_name()}.{callee_method}"
                offset, callee_kind = 0, "method"
            elif rules.user_defined_call_function(node):
                callee_graph, callee_qualname = self.functions(node)
                child, callee_path = None, path
                callee_method = callee_qualname.rsplit(".", 1)[-1]
                offset, callee_kind = 1, "function"
            else:
                continue
            args = tuple(
                (
                    graph_index.observer_out.get(
                        node.inputsAt(i + offset).unique(), node.inputsAt(i + offset).unique()
                    ),
                    v.unique(),
                )
                for i, v in enumerate(callee_graph.inputs())
            )
            callee_index = self.graphs.get(callee_qualname)
            if callee_index is None:
                callee_index = self.graphs[callee_qualname] = self._index_graph(
                    callee_graph, GraphRef(callee_qualname, callee_kind)
                )
            results = tuple(
                (node.outputsAt(i).unique(), returned)
                for i, returned in enumerate(callee_index.returns)
            )
            edge = CallEdge(key, InstanceKey(callee_path, callee_method), args, results, looped)
            yield child, callee_graph, callee_qualname, callee_kind, edge

    def _index_graph(self, graph: torch._C.Graph, ref: GraphRef) -> GraphIndex:
        graph_index = GraphIndex(ref, graph)
        qualname = ref.qualname
        observer_calls: list[torch._C.Node] = []

        def add(v: torch._C.Value, place: str) -> None:
            graph_index.slots[v.unique()] = Slot(v.unique(), "", "", v.node().kind(), place, v)

        def walk(block: torch._C.Block, place: str) -> None:
            for node in block.nodes():
                if is_observer_getattr(node):
                    continue
                if is_observer_call(node):
                    observer_calls.append(node)
                    continue
                for out in node.outputs():
                    add(out, place)
                kind = node.kind()
                for sub in node.blocks():
                    # insertObserversFor walks If branches (except those that always raise)
                    # and no other blocks
                    walked = kind == "prim::If" and not rules.always_raises_exception(sub)
                    sub_place = (
                        place
                        if walked and place == "walked"
                        else "loop"
                        if kind == "prim::Loop" or place == "loop"
                        else "unwalked"
                    )
                    for v in sub.inputs():
                        add(v, sub_place)
                    walk(sub, sub_place)

        for v in graph.inputs():
            add(v, "walked")
            graph_index.inputs.append(v.unique())
        walk(graph.block(), "walked")
        observer_names: dict[int, str] = {}
        for node in observer_calls:
            observed = node.inputsAt(1).unique()
            out = node.outputsAt(0)
            graph_index.observer_of[observed] = node.inputsAt(0).node().s("name")
            graph_index.observer_out[out.unique()] = observed
            graph_index.after_names[out.debugName()] = observed
            graph_index.after_names[node.inputsAt(0).debugName()] = observed
            # the observer's output took over the observed value's debug name
            observer_names[observed] = out.debugName()
        graph_index.returns = [
            graph_index.observer_out.get(v.unique(), v.unique()) for v in graph.outputs()
        ]
        for unique, slot in list(graph_index.slots.items()):
            current = slot.value.debugName()
            graph_index.after_names.setdefault(current, unique)
            name = self.original_names.get((qualname, unique))
            if name is not None:
                graph_index.names.setdefault(name, unique)
            else:
                name = observer_names.get(unique, current)
            graph_index.slots[unique] = Slot(
                unique, name, current, slot.producer, slot.place, slot.value
            )
        for unique, slot in graph_index.slots.items():
            graph_index.names.setdefault(slot.name, unique)
        return graph_index

    # ------------------------------------------------------------------ lookups
    def instance(self, path: str, method: str) -> Instance:
        return self.instances[(path, method)]

    def instance_of(self, loc: Loc) -> Instance:
        return self.instances[loc.instance]

    def key_of(self, loc: Loc) -> ValueKey:
        """The value's key in its graph (the graph every instance of its type runs)."""
        return ValueKey(self.instances[loc.instance].graph, loc.unique)

    def slot(self, loc: Loc) -> Slot:
        return self.graphs[self.instance_of(loc).graph].slots[loc.unique]

    def ref(self, loc: Loc, observed_names: bool = False) -> ValueRef:
        """A ref to a value, named as in the model given to the pass or in run.module."""
        instance = self.instance_of(loc)
        graph_index = self.graphs[instance.graph]
        slot = graph_index.slots.get(loc.unique)
        if slot is None:
            name = self.original_names.get((instance.graph, loc.unique), str(loc.unique))
        else:
            name = slot.after if observed_names else slot.name
        return ValueRef(graph_index.ref, loc.unique, name, loc.path)

    def loc_of(self, ref: ValueRef) -> Loc:
        """The location of a ref, by its instance path and graph."""
        for instance in self.instances_of_graph(ref.graph.qualname):
            if instance.path == ref.module_path:
                return instance.loc(ref.unique)
        first = next(iter(self.instances_of_graph(ref.graph.qualname)), None)
        if first is None:
            raise ObsvizError(
                f"{ref}: its graph {ref.graph.qualname} is not reached from "
                f"the entry method {self.entry.method!r}"
            )
        return first.loc(ref.unique)

    def instances_of_graph(self, qualname: str) -> list[Instance]:
        return self.by_graph.get(qualname, [])

    def sharing(self, instance: Instance) -> list[Instance]:
        """Other instances that run the same graph."""
        return [i for i in self.instances_of_graph(instance.graph) if i.key != instance.key]

    def module_paths(self) -> list[str]:
        return list(dict.fromkeys(instance.path for instance in self.instances.values()))

    # ------------------------------------------------------------------ name resolution
    def resolve(
        self, value: object, module: str = "", method: str | None = None, names: str = "auto"
    ) -> tuple[Loc, tuple[str, ...], bool]:
        """A user's way of naming a value -> its location, notes on how it was read, and
        whether it was named as in run.module (so explanations name values that way too).

        ``value`` is a debug name (with or without ``%``) from ``model.graph`` or
        ``model.<path>.graph`` (before insertion) or from ``run.module``'s graphs (after
        it), a ``ValueRef``, a ``torch._C.Value`` of ``run.module``'s graphs, or a string
        ``"path:method:%name"`` as refs print. ``names`` says which names to read:
        ``"model"`` (the module given to the pass), ``"observed"`` (``run.module``) or
        ``"auto"``: the model's, then run.module's, with a note when the two disagree.
        """
        if names not in ("auto", "model", "observed"):
            raise ObsvizError(f"names must be 'auto', 'model' or 'observed', got {names!r}")
        if isinstance(value, ValueRef):
            return self.loc_of(value), (), False
        if isinstance(value, torch._C.Value):
            return self._resolve_torch_value(value, module, method, names)
        if not isinstance(value, str):
            raise ObsvizError(
                f"explain() takes a value name, a ValueRef or a torch._C.Value, "
                f"got {type(value).__name__}"
            )
        text = value.strip()
        if text.count(":") >= 2 and not text.startswith("%"):
            path, method, text = text.rsplit(":", 2)
            module = "" if path == TOP else path
        name = text[1:] if text.startswith("%") else text
        if module == TOP:
            module = ""
        candidates = self._methods_of(module, method)
        notes: list[str] = []
        for instance in candidates:
            graph_index = self.graphs[instance.graph]
            before = graph_index.names.get(name) if names != "observed" else None
            after = graph_index.after_names.get(name) if names != "model" else None
            if before is not None:
                if after is not None and after != before:
                    notes.append(
                        f"%{name} names two values: this one in the model given to the "
                        f"pass, and in run.module's graph the one the model calls "
                        f"%{graph_index.slots[after].name} (pass names='observed' for that one)."
                    )
                return instance.loc(before), tuple(notes), False
            if after is not None:
                slot = graph_index.slots[after]
                if name != slot.after:
                    notes.append(
                        f"%{name} in run.module's graph is "
                        + (
                            "an observer's output"
                            if is_observer_name(name) or after in graph_index.observer_of
                            else "another name"
                        )
                        + f" for %{slot.after}"
                    )
                if slot.name != slot.after:
                    notes.append(
                        f"values are named as in run.module's graph; the model "
                        f"given to the pass calls this one %{slot.name}"
                    )
                return instance.loc(after), tuple(notes), True
        removed = self._removed_by_preprocessing(candidates, name) if names != "observed" else None
        if removed is not None:
            return removed, (), False
        raise self._unknown_name(name, module, method, candidates)

    def _methods_of(self, module: str, method: str | None) -> list[Instance]:
        if module not in self.modules and not any(
            i.path == module for i in self.instances.values()
        ):
            paths = self.module_paths()
            close = difflib.get_close_matches(module, paths, n=5)
            hint = (
                f" Closest module paths: {', '.join(map(repr, close))}."
                if close
                else f" Module paths reached: {', '.join(repr(p) for p in paths[:8])}."
            )
            raise ObsvizError(
                f"{display_path(module)}: no module instance at this path is "
                f"reached from {self.entry.method!r}.{hint}"
            )
        mine = [i for i in self.instances.values() if i.path == module]
        if method is None:
            # the entry (or forward) first, then the rest in call order
            preferred = self.entry.method if module == "" else "forward"
            return sorted(mine, key=lambda i: i.method != preferred)
        chosen = [i for i in mine if i.method == method]
        if not chosen:
            methods = ", ".join(repr(i.method) for i in mine)
            raise ObsvizError(
                f"{method_label(module, method)}: this method is not reached from "
                f"{self.entry.method!r} (reached methods of {display_path(module)}: "
                f"{methods})"
            )
        return chosen

    def _removed_by_preprocessing(self, candidates: list[Instance], name: str) -> Loc | None:
        for instance in candidates:
            for (qualname, unique), original in self.original_names.items():
                if (
                    qualname == instance.graph
                    and original == name
                    and unique not in self.graphs[qualname].slots
                ):
                    return instance.loc(unique)
        return None

    def _unknown_name(
        self, name: str, module: str, method: str | None, candidates: list[Instance]
    ) -> ObsvizError:
        names: list[str] = []
        for instance in candidates:
            graph_index = self.graphs[instance.graph]
            names.extend(n for n in graph_index.names if n not in names)
        where = (
            method_label(module, method)
            if method
            else f"{display_path(module)} ({', '.join(i.method for i in candidates)})"
        )
        elsewhere = self.instances_naming(name)
        if elsewhere:
            listed = ", ".join(method_label(i.path, i.method) for i in elsewhere[:8])
            more = f" and {len(elsewhere) - 8} more" if len(elsewhere) > 8 else ""
            return ObsvizError(
                f"{where}: no value named %{name}; %{name} is a value of {listed}{more}: "
                f"say which with module= (and method=), e.g. run.explain('%{name}', "
                f"module={elsewhere[0].path!r}, method={elsewhere[0].method!r})."
            )
        close = difflib.get_close_matches(name, names, n=5, cutoff=0.5)
        hint = (
            f" Closest names: {', '.join('%' + c for c in close)}."
            if close
            else f" Its values include {', '.join('%' + n for n in names[:8])}."
        )
        return ObsvizError(f"{where}: no value named %{name}.{hint}")

    def instances_naming(self, name: str) -> list[Instance]:
        """The graph instances with a value of this debug name (the model's or run.module's),
        in path order."""
        found = [
            instance
            for instance in self.instances.values()
            if name in self.graphs[instance.graph].names
            or name in self.graphs[instance.graph].after_names
        ]
        return sorted(found, key=lambda i: (i.path, i.method))

    def _resolve_torch_value(
        self, value: torch._C.Value, module: str, method: str | None, names: str
    ) -> tuple[Loc, tuple[str, ...], bool]:
        unique = value.unique()
        for instance in self._methods_of(module, method):
            slot = self.graphs[instance.graph].slots.get(unique)
            if slot is not None and slot.value is value:
                return instance.loc(unique), (), True
        for instance in self.instances.values():
            slot = self.graphs[instance.graph].slots.get(unique)
            if slot is not None and slot.value is value:
                return instance.loc(unique), (), True
        # A value of the model before insertion: read it by its debug name.
        return self.resolve(value.debugName(), module, method, names)
