"""TorchScript graph -> figure: ops as nodes, values as edges, blocks and calls as clusters.

The walk builds a small in-memory figure first (nodes, edges, clusters) and only then
writes DOT, so ``max_nodes`` can stop an unreadable figure before any layout work, and
views can mark values (``Mark``) without knowing how the graph is walked.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

import graphviz
import torch

from ..graphs import is_observer_name
from ..refs import display_path
from ..rules import get_func_name, user_defined_call_function
from . import style
from .figure import Figure, RenderError

Value = torch._C.Value
Node = torch._C.Node
Block = torch._C.Block
Graph = torch._C.Graph

DEFAULT_MAX_NODES = 400
FOLDED_LIST_KINDS = frozenset({"prim::ListConstruct", "prim::TupleConstruct"})


@dataclass(frozen=True)
class Mark:
    """How a view wants one value drawn.

    ``state`` is a key of ``style.STATES``; ``note`` is a short second label line and
    ``detail`` the tooltip. ``observer``, when set, draws an observer node on the value
    (the diff view's "added by the pass" overlay), labelled with that text.
    """

    state: str
    note: str = ""
    detail: str = ""
    observer: str | None = None
    related: tuple[str, ...] = ()  # debug names of values this decision depends on
    shade: style.Shade | None = None  # the calibration overlay: recolours the state's line
    observer_role: str = "observer"  # its node's role: a change's added or removed observer


@dataclass(frozen=True)
class Scope:
    """One method graph, drawn for one module instance (``path``; ``""`` is the top)."""

    graph: Graph
    path: str = ""
    method: str = "forward"
    module: torch._C.ScriptModule | None = None


Lookup = Callable[[Value], Mark | None]
Marker = Callable[[Scope], Lookup]


def no_marks(scope: Scope) -> Lookup:
    return lambda value: None


@dataclass
class Options:
    depth: int = 0
    show_constants: bool = False
    show_params: bool = False
    show_lists: bool = False
    max_nodes: int | None = DEFAULT_MAX_NODES
    legend: bool = True
    rankdir: str = "TB"
    title: str = ""
    draw_title: bool = True  # False: the title is only kept as the figure's .title
    focus: frozenset[int] = frozenset()  # value uniques drawn emphasised (top scope only)
    include: Callable[[Node], bool] | None = None  # a node filter, for neighbourhoods
    muted: bool = False  # draw the graph's own nodes in grey (the diff view)
    call_note: Callable[[str], str] | None = None  # a line for a collapsed call, by its path
    call_attrs: Callable[[str], dict[str, str]] | None = None  # its node's look, by its path
    narrow_hint: str = ""
    # the graph and qualified name of a prim::CallFunction's function; with it, depth=
    # expands function calls as well as submodule calls
    functions: Callable[[Node], tuple[Graph, str]] | None = None
    overlay: style.OverlayLegend | None = None  # the legend of the marks' shades


# ------------------------------------------------------------------ where a value comes from
@dataclass(frozen=True)
class _Drawn:
    node: str
    past_observer: bool = False  # the value as it leaves the observer that watched it


@dataclass(frozen=True)
class _Folded:
    text: str


@dataclass(frozen=True)
class _Bundle:
    parts: tuple[tuple[Value, object], ...]


@dataclass(frozen=True)
class _ModuleRef:
    name: str  # as called from the scope: "self", "conv1", "layer1.0"
    path: str  # from the top module
    module: torch._C.ScriptModule | None
    type_name: str


@dataclass(frozen=True)
class _ObserverRef:
    name: str
    type_name: str


@dataclass(frozen=True)
class _Hidden:
    """Made by a node a neighbourhood leaves out; drawn as a '…' stub when used."""

    node: Node | None


Source = _Drawn | _Folded | _Bundle | _ModuleRef | _ObserverRef | _Hidden


@dataclass
class _Cluster:
    id: str
    label: str
    role: str
    parent: _Cluster | None
    nodes: list[str] = field(default_factory=list)
    children: list[_Cluster] = field(default_factory=list)
    tooltip: str = ""


class TooManyNodesError(RenderError):
    """The view would draw more than ``max_nodes`` nodes."""


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path and name else path or name


def _is_module_type(value: Value) -> bool:
    return isinstance(value.type(), torch._C.ClassType)


def _constant_text(node: Node) -> str:
    value = node.output()
    if value.type().kind() in ("FunctionType", "NoneType"):
        return "None" if value.type().kind() == "NoneType" else ""
    try:
        constant = value.toIValue()
    except RuntimeError:
        return style.short_type(str(value.type()))
    if isinstance(constant, torch.Tensor):
        return f"tensor{list(constant.shape)}"
    return repr(constant)


def _short_kind(kind: str) -> str:
    namespace, _, name = kind.partition("::")
    return name if namespace in ("aten", "prim") else kind


class GraphDrawer:
    """Walks scopes of TorchScript graphs and collects a figure's nodes, edges, clusters."""

    def __init__(self, marker: Marker, options: Options) -> None:
        self.marker = marker
        self.options = options
        self.ids = itertools.count()
        self.nodes: dict[str, tuple[dict[str, str], _Cluster | None]] = {}
        self.edges: list[tuple[str, str, dict[str, str]]] = []
        self.root_clusters: list[_Cluster] = []
        self.states_used: set[str] = set()
        self.roles_used: set[str] = set()
        self.stubs: dict[object, str] = {}
        self.noted: set[tuple[str, int]] = set()  # values whose state note is already shown
        self.boundary_tails: set[str] = set()  # callee return nodes

    # ------------------------------------------------------------------ figure pieces
    def add_node(
        self, role: str, label: str, cluster: _Cluster | None, tooltip: str = "", **attrs: str
    ) -> str:
        limit = self.options.max_nodes
        if limit is not None and len(self.nodes) >= limit:
            raise TooManyNodesError(
                f"this view has more than max_nodes={limit} nodes, too many to read. "
                f"Narrow it: {self.options.narrow_hint or 'render one submodule'}; or pass "
                "max_nodes=None to draw it anyway."
            )
        node_id = f"n{next(self.ids)}"
        node_attrs = {"label": label, "class": role, **style.NODES[role], **attrs}
        if self.options.muted and not role.startswith("observer"):
            node_attrs.update(style.MUTED)
        if tooltip:
            node_attrs["tooltip"] = graphviz.escape(tooltip)
        self.nodes[node_id] = (node_attrs, cluster)
        if cluster is not None:
            cluster.nodes.append(node_id)
        self.roles_used.add(role)
        return node_id

    def add_cluster(
        self, label: str, role: str, parent: _Cluster | None, tooltip: str = ""
    ) -> _Cluster:
        cluster = _Cluster(f"cluster_{next(self.ids)}", label, role, parent, tooltip=tooltip)
        (parent.children if parent else self.root_clusters).append(cluster)
        return cluster

    def add_edge(
        self,
        tail: str,
        head: str,
        value: Value | None,
        mark: Mark | None,
        css: str = "value",
        focus: bool = False,
    ) -> None:
        """An edge carrying ``value``; its state's note is shown on the first edge only."""
        attrs: dict[str, str] = {}
        value_style = style.PLAIN
        classes = [css]
        if mark is not None:
            value_style = style.STATES[mark.state]
            classes.append(f"state-{mark.state}")
            self.states_used.add(mark.state)
        attrs.update(value_style.attrs())
        shade = mark.shade if mark is not None else None
        if shade is not None:
            attrs.update(color=shade.color, fontcolor=shade.color)
            classes.append("overlay")
        if value is not None:
            lines = [f"%{value.debugName()} : {style.short_type(str(value.type()))}"]
            if (
                mark is not None
                and (mark.note or shade)
                and (tail, value.unique()) not in self.noted
            ):
                self.noted.add((tail, value.unique()))
                lines += [mark.note, shade.note if shade is not None else ""]
            attrs["label"] = style.edge_label(*lines)
            tip = f"%{value.debugName()} : {value.type()}"
            if mark is not None:
                tip += f" — {mark.detail or style.STATES[mark.state].legend}"
            if shade is not None and shade.detail:
                tip += f" — {shade.detail}"
            attrs["tooltip"] = graphviz.escape(tip)
        if focus:
            attrs["penwidth"] = str(style.FOCUS_PENWIDTH)
            classes.append("focus")
        attrs["class"] = " ".join(classes)
        self.edges.append((tail, head, attrs))

    # ------------------------------------------------------------------ walking
    def draw(self, scope: Scope) -> None:
        """Draw a scope as the figure's top level: its inputs, body and return."""
        lookup = self.marker(scope)
        sources: dict[int, Source] = {}
        filtered = self.options.include is not None
        for index, value in enumerate(scope.graph.inputs()):
            if index == 0 and _is_module_type(value):
                sources[value.unique()] = self._self_ref(scope, value)
            elif filtered:
                sources[value.unique()] = _Hidden(None)
            else:
                node_id = self.add_node(
                    "input", style.node_label("input"), None, f"graph input %{value.debugName()}"
                )
                self.define(value, _Drawn(node_id), lookup, None, sources)
        self.walk(scope.graph.block(), scope, lookup, sources, None, self.options.depth, True)
        outputs = list(scope.graph.outputs())
        if filtered:
            for value in outputs:
                self.hidden_use(value, sources, lookup)
            return
        ret = self.add_node("return", style.node_label("return"), None)
        for value in outputs:
            self.connect(value, sources, ret, lookup, top=True)

    def _self_ref(self, scope: Scope, value: Value) -> _ModuleRef:
        return _ModuleRef("self", scope.path, scope.module, style.short_type(str(value.type())))

    def define(
        self,
        value: Value,
        source: Source,
        lookup: Lookup,
        cluster: _Cluster | None,
        sources: dict[int, Source],
    ) -> None:
        """Record where a value comes from; the diff overlay adds an observer after it."""
        mark = lookup(value)
        if mark is not None and mark.observer and isinstance(source, _Drawn):
            observer = self.add_node(
                mark.observer_role,
                style.node_label(*mark.observer.split("\n")),
                cluster,
                f"added by the pass on %{value.debugName()}",
            )
            self.add_edge(
                source.node, observer, value, mark, focus=value.unique() in self.options.focus
            )
            source = _Drawn(observer, past_observer=True)
        sources[value.unique()] = source

    def walk(
        self,
        block: Block,
        scope: Scope,
        lookup: Lookup,
        sources: dict[int, Source],
        cluster: _Cluster | None,
        depth: int,
        top: bool,
    ) -> None:
        include = self.options.include if top else None
        for node in block.nodes():
            if self.fold(node, lookup, sources):
                continue
            if include is not None and not include(node):
                self.hide(node, scope, lookup, sources, cluster, depth)
            elif self.call(node, scope, lookup, sources, cluster, depth, top):
                continue
            elif list(node.blocks()):
                self.control(node, scope, lookup, sources, cluster, depth, top)
            else:
                self.op(node, lookup, sources, cluster, top)

    def fold(self, node: Node, lookup: Lookup, sources: dict[int, Source]) -> bool:
        """Constants, module handles and (unless they matter) parameters and list
        construction become text in their users' labels; True when ``node`` was folded."""
        kind = node.kind()
        if kind == "prim::Constant" and not self.options.show_constants:
            sources[node.output().unique()] = _Folded(_constant_text(node))
            return True
        if kind == "prim::GetAttr":
            return self.fold_get_attr(node, lookup, sources)
        if kind in FOLDED_LIST_KINDS and not self.options.show_lists:
            return self.fold_list(node, lookup, sources)
        return False

    def hide(
        self,
        node: Node,
        scope: Scope,
        lookup: Lookup,
        sources: dict[int, Source],
        cluster: _Cluster | None,
        depth: int,
    ) -> None:
        """A node left out of a neighbourhood: its inputs end in one '…' stub."""
        for value in node.inputs():
            self.hidden_use(value, sources, lookup)
        for value in node.outputs():
            sources[value.unique()] = _Hidden(node)
        for sub in node.blocks():
            self.walk(sub, scope, lookup, sources, cluster, depth, True)

    def hidden_use(self, value: Value, sources: dict[int, Source], lookup: Lookup) -> None:
        source = sources.get(value.unique())
        if isinstance(source, _Drawn):
            key = ("sink", source.node)
            if key in self.stubs:
                return  # one elided edge per producer says enough
            self.stubs[key] = self.add_node(
                "stub", style.node_label("…", bold=False), None, "more users, not shown"
            )
            past = source.past_observer
            self.add_edge(
                source.node,
                self.stubs[key],
                value,
                None if past else lookup(value),
                focus=not past and value.unique() in self.options.focus,
            )

    def fold_get_attr(self, node: Node, lookup: Lookup, sources: dict[int, Source]) -> bool:
        owner = sources.get(node.input().unique())
        out = node.output()
        name = node.s("name")
        if not isinstance(owner, _ModuleRef):
            return False
        if is_observer_name(name):
            sources[out.unique()] = _ObserverRef(name, style.short_type(str(out.type())))
            return True
        child = None
        if owner.module is not None and owner.module.hasattr(name):
            candidate = owner.module.getattr(name)
            child = candidate if isinstance(candidate, torch._C.ScriptModule) else None
        if child is not None or (owner.module is None and _is_module_type(out)):
            relative = name if owner.name == "self" else f"{owner.name}.{name}"
            sources[out.unique()] = _ModuleRef(
                relative, _join(owner.path, name), child, style.short_type(str(out.type()))
            )
            return True
        mark = lookup(out)
        if self.options.show_params or (mark is not None and mark.state != "not_needed"):
            return False
        sources[out.unique()] = _Folded(name)
        return True

    def fold_list(self, node: Node, lookup: Lookup, sources: dict[int, Source]) -> bool:
        mark = lookup(node.output())
        if mark is not None and mark.state != "not_needed":
            return False
        parts = tuple((v, sources.get(v.unique(), _Folded("?"))) for v in node.inputs())
        if all(isinstance(s, _Folded) for _, s in parts):
            texts = ", ".join(s.text for _, s in parts)  # type: ignore[union-attr]
            brackets = "[]" if node.kind() == "prim::ListConstruct" else "()"
            sources[node.output().unique()] = _Folded(f"{brackets[0]}{texts}{brackets[1]}")
        else:
            sources[node.output().unique()] = _Bundle(parts)
        return True

    def connect(
        self,
        value: Value,
        sources: dict[int, Source],
        head: str,
        lookup: Lookup,
        folded: list[str] | None = None,
        top: bool = False,
    ) -> None:
        """An edge for each drawn source of ``value`` into ``head``; folded ones to text."""
        source = sources.get(value.unique())
        if isinstance(source, _Drawn):
            past = source.past_observer
            mark = None if past else lookup(value)
            focus = top and not past and value.unique() in self.options.focus
            self.add_edge(source.node, head, value, mark, focus=focus)
        elif isinstance(source, _Folded):
            if folded is not None and source.text:
                folded.append(source.text)
        elif isinstance(source, _Bundle):
            inner: list[str] = []
            for part, _ in source.parts:
                self.connect(part, sources, head, lookup, inner, top)
            if folded is not None and inner:
                folded.append("[" + ", ".join(inner) + "]")
        elif isinstance(source, _Hidden):
            key = ("source", source.node)
            if key not in self.stubs:
                text = "input" if source.node is None else "…"
                self.stubs[key] = self.add_node(
                    "stub", style.node_label(text, bold=False), None, "producer not shown"
                )
            self.add_edge(
                self.stubs[key],
                head,
                value,
                lookup(value),
                focus=top and value.unique() in self.options.focus,
            )

    def inputs_into(
        self,
        node: Node,
        head: str,
        sources: dict[int, Source],
        lookup: Lookup,
        skip: int = 0,
        top: bool = False,
    ) -> list[str]:
        folded: list[str] = []
        for value in list(node.inputs())[skip:]:
            self.connect(value, sources, head, lookup, folded, top)
        return folded

    def op(
        self,
        node: Node,
        lookup: Lookup,
        sources: dict[int, Source],
        cluster: _Cluster | None,
        top: bool,
    ) -> None:
        kind = node.kind()
        role, skip, title = "op", 0, _short_kind(kind)
        if kind == "prim::CallFunction":
            skip, title = 1, get_func_name(node.inputsAt(0)) or "function"
        elif kind == "prim::GetAttr":
            role, skip, title = "param", 1, node.s("name")
        elif kind == "prim::SetAttr":
            skip, title = 1, f"SetAttr {node.s('name')}"
        elif kind == "prim::CallMethod":
            title = f".{node.s('name')}"
        elif kind == "prim::Constant":
            role, title = "const", _constant_text(node)
        node_id = self.add_node(role, "", cluster, kind)
        folded = self.inputs_into(node, node_id, sources, lookup, skip, top)
        self.nodes[node_id][0]["label"] = style.node_label(
            title, style.shorten(", ".join(folded)), bold=role == "op"
        )
        for value in node.outputs():
            self.define(value, _Drawn(node_id), lookup, cluster, sources)

    def call_method(
        self,
        node: Node,
        lookup: Lookup,
        sources: dict[int, Source],
        cluster: _Cluster | None,
        depth: int,
        top: bool,
    ) -> bool:
        target = sources.get(node.inputsAt(0).unique())
        method = node.s("name")
        if isinstance(target, _ObserverRef):
            node_id = self.add_node(
                "observer",
                style.node_label(target.name, target.type_name),
                cluster,
                f"{target.name}: {target.type_name}",
            )
            self.inputs_into(node, node_id, sources, lookup, 1, top)
            for value in node.outputs():
                sources[value.unique()] = _Drawn(node_id, past_observer=True)
            return True
        if not isinstance(target, _ModuleRef):
            return False
        title = target.name if method == "forward" else f"{target.name}.{method}"
        subtitle = "method of self" if target.name == "self" else target.type_name
        if depth > 0 and target.module is not None and target.module._has_method(method):
            self.expand_method(node, target, method, lookup, sources, cluster, depth)
            return True
        looks = (
            self.options.call_attrs(target.path)
            if self.options.call_attrs and target.name != "self"
            else {}
        )
        node_id = self.add_node(
            "call",
            "",
            cluster,
            f"{display_path(target.path)}: {target.type_name}.{method}",
            **looks,
        )
        folded = self.inputs_into(node, node_id, sources, lookup, 1, top)
        inside = (
            self.options.call_note(target.path)
            if self.options.call_note and target.name != "self"
            else ""
        )
        self.nodes[node_id][0]["label"] = style.node_label(
            title, subtitle, style.shorten(", ".join(folded)), inside
        )
        for value in node.outputs():
            self.define(value, _Drawn(node_id), lookup, cluster, sources)
        return True

    def call(
        self,
        node: Node,
        scope: Scope,
        lookup: Lookup,
        sources: dict[int, Source],
        cluster: _Cluster | None,
        depth: int,
        top: bool,
    ) -> bool:
        """Draw a method or function call (collapsed, or expanded while ``depth`` lasts);
        False when ``node`` is not one drawn that way."""
        if node.kind() == "prim::CallMethod":
            return self.call_method(node, lookup, sources, cluster, depth, top)
        if node.kind() == "prim::CallFunction" and depth > 0:
            return self.call_function(node, scope, lookup, sources, cluster, depth)
        return False

    def call_function(
        self,
        node: Node,
        scope: Scope,
        lookup: Lookup,
        sources: dict[int, Source],
        cluster: _Cluster | None,
        depth: int,
    ) -> bool:
        """A user-defined function's call, expanded like a submodule call when the
        function's graph can be found."""
        if self.options.functions is None or not user_defined_call_function(node):
            return False
        graph, qualname = self.options.functions(node)
        name = qualname.rsplit(".", 1)[-1]
        callee = Scope(graph, scope.path, name, None)
        where = f"{display_path(scope.path)} calls {qualname}"
        self.expand(
            node,
            callee,
            style.cluster_label(f"{name}()", "function"),
            where,
            1,
            lookup,
            sources,
            cluster,
            depth,
        )
        return True

    def expand_method(
        self,
        node: Node,
        target: _ModuleRef,
        method: str,
        lookup: Lookup,
        sources: dict[int, Source],
        cluster: _Cluster | None,
        depth: int,
    ) -> None:
        assert target.module is not None
        callee = Scope(target.module._get_method(method).graph, target.path, method, target.module)
        self.expand(
            node,
            callee,
            style.cluster_label(target.path or "self", f"{target.type_name}.{method}"),
            f"{display_path(target.path)}: {target.type_name}.{method}",
            0,
            lookup,
            sources,
            cluster,
            depth,
            self_ref=target,
        )

    def expand(
        self,
        node: Node,
        callee: Scope,
        label: str,
        tooltip: str,
        offset: int,
        lookup: Lookup,
        sources: dict[int, Source],
        cluster: _Cluster | None,
        depth: int,
        self_ref: _ModuleRef | None = None,
    ) -> None:
        """A call drawn as a cluster holding the callee's graph, joined by boundary edges.
        ``offset`` is the position of the callee's first parameter among the node's inputs
        (a method's first parameter is ``self``: ``self_ref``)."""
        inner = self.add_cluster(label, "module", cluster, tooltip)
        callee_lookup = self.marker(callee)
        callee_env: dict[int, Source] = {}
        arguments = list(node.inputs())[offset:]
        for index, (arg, param) in enumerate(zip(arguments, callee.graph.inputs(), strict=False)):
            source = sources.get(arg.unique())
            if index == 0 and self_ref is not None:
                callee_env[param.unique()] = _ModuleRef(
                    "self", self_ref.path, self_ref.module, self_ref.type_name
                )
            elif isinstance(source, _Drawn | _Hidden):
                entry = self.add_node(
                    "input",
                    style.node_label(param.debugName(), bold=False),
                    inner,
                    f"input %{param.debugName()} of {display_path(callee.path)}.{callee.method}",
                )
                self.connect(arg, sources, entry, lookup)
                self.edges[-1][2]["class"] += " boundary"
                self.define(param, _Drawn(entry), callee_lookup, inner, callee_env)
            else:
                callee_env[param.unique()] = source if source is not None else _Folded("?")
        self.walk(callee.graph.block(), callee, callee_lookup, callee_env, inner, depth - 1, False)
        returned = [
            v
            for v in callee.graph.outputs()
            if isinstance(callee_env.get(v.unique()), _Drawn | _Bundle | _Hidden)
        ]
        if not returned:
            for value in node.outputs():
                sources[value.unique()] = _Folded("")
            return
        ret = self.add_node("return", style.node_label("return", bold=False), inner)
        for value in returned:
            self.connect(value, callee_env, ret, callee_lookup)
        for value in node.outputs():
            self.define(value, _Drawn(ret), lookup, cluster, sources)
        self.boundary_tails.add(ret)

    def control(
        self,
        node: Node,
        scope: Scope,
        lookup: Lookup,
        sources: dict[int, Source],
        cluster: _Cluster | None,
        depth: int,
        top: bool,
    ) -> None:
        """``prim::If``, ``prim::Loop``...: a cluster with a header, one cluster per block,
        and a merge node that produces the outputs."""
        kind = _short_kind(node.kind())
        outer = self.add_cluster(style.cluster_label(kind), "block", cluster)
        header = self.add_node("control", "", outer, node.kind())
        folded = self.inputs_into(node, header, sources, lookup, 0, top)
        self.nodes[header][0]["label"] = style.node_label(
            kind.lower(), style.shorten(", ".join(folded))
        )
        names = ("then", "else") if node.kind() == "prim::If" else ("body",)
        merge: str | None = None
        for index, block in enumerate(node.blocks()):
            name = names[index] if index < len(names) else f"block {index}"
            inner = self.add_cluster(style.cluster_label(name), "branch", outer)
            for value in block.inputs():
                self.define(value, _Drawn(header), lookup, inner, sources)
            self.walk(block, scope, lookup, sources, inner, depth, top)
            first = self._first_node(inner)
            if first is not None:  # keeps each branch below its header
                self.edges.append((header, first, {"style": "invis"}))
            if node.outputsSize():
                if merge is None:
                    merge = self.add_node("merge", "<>", outer, f"outputs of {node.kind()}")
                    self.edges.append((header, merge, {"style": "invis"}))
                for value in block.outputs():
                    self.connect(value, sources, merge, lookup, top=top)
        for value in node.outputs():
            self.define(value, _Drawn(merge) if merge else _Folded(""), lookup, outer, sources)

    def _first_node(self, cluster: _Cluster) -> str | None:
        if cluster.nodes:
            return cluster.nodes[0]
        for child in cluster.children:
            first = self._first_node(child)
            if first is not None:
                return first
        return None

    # ------------------------------------------------------------------ DOT
    def figure(self, name: str) -> Figure:
        fig = Figure(
            name=name,
            graph_attr=dict(style.GRAPH_ATTRS, rankdir=self.options.rankdir),
            node_attr=style.NODE_ATTRS,
            edge_attr=style.EDGE_ATTRS,
        )
        states = [s for s in style.STATES if s in self.states_used] if self.options.legend else []
        roles = (
            [r for r in style.NODE_LEGEND if r in self.roles_used] if self.options.legend else []
        )
        label = style.graph_label(
            self.options.title if self.options.draw_title else "",
            states,
            roles,
            self.options.overlay if self.options.legend else None,
        )
        fig.title = self.options.title
        if label:
            fig.attr(label=label, labelloc="t", labeljust="l")
        for node_id, (attrs, cluster) in self.nodes.items():
            if cluster is None:
                fig.node(node_id, **attrs)
        for cluster in self.root_clusters:
            self._emit_cluster(fig, cluster)
        for tail, head, attrs in self.edges:
            if tail in self.boundary_tails and attrs.get("class", "").startswith("value"):
                attrs["class"] += " boundary"
            fig.edge(tail, head, **attrs)
        return fig

    def _emit_cluster(self, parent: graphviz.Digraph, cluster: _Cluster) -> None:
        if not self._has_nodes(cluster):
            return
        attrs = dict(style.CLUSTERS[cluster.role], label=cluster.label)
        attrs["class"] = f"cluster-{cluster.role}"
        if cluster.tooltip:
            attrs["tooltip"] = graphviz.escape(cluster.tooltip)
        sub = graphviz.Digraph(name=cluster.id, graph_attr=attrs)
        for node_id in cluster.nodes:
            sub.node(node_id, **self.nodes[node_id][0])
        for child in cluster.children:
            self._emit_cluster(sub, child)
        parent.subgraph(sub)

    def _has_nodes(self, cluster: _Cluster) -> bool:
        return bool(cluster.nodes) or any(self._has_nodes(c) for c in cluster.children)


def draw(
    scope: Scope, marker: Marker = no_marks, options: Options | None = None, name: str = "obsviz"
) -> Figure:
    """Draw one scope (and the calls it expands) as a :class:`Figure`."""
    drawer = GraphDrawer(marker, options or Options())
    drawer.draw(scope)
    return drawer.figure(name)
