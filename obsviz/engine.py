"""A Python ``InsertObserversHelper``: the analysis and insertion phases of the pass.

Method names mirror ``insert_observers.cpp``. Maps are keyed by ``(graph qualname,
value unique)`` because torch's Value wrappers are transient and one graph serves every
instance of its class type. Each decision that moves an observer is made here and
reported to the hooks as an event.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch

from . import events as ev
from . import failures, rules
from .errors import FunctionWarning, LoopWarning, ObsvizError
from .graphs import (
    BLOCK_KINDS,
    access_path,
    join_path,
    submodule,
    walk_nodes,
)
from .patterns import match_delay_pattern
from .preprocess import preprocess_graph
from .qconfig import ModuleQConfig, ScriptedQConfig
from .refs import GraphRef, ValueRef
from .refs import display_path as _display

Value = torch._C.Value
Node = torch._C.Node
Block = torch._C.Block
Graph = torch._C.Graph
VKey = tuple[str, int]


@dataclass(frozen=True)
class ObserverConfig:
    """An observer the pass configured for a value: the qconfig entry and the role."""

    qconfig: ScriptedQConfig
    role: str  # "activation" or "weight"

    @property
    def module(self) -> torch._C.ScriptModule:
        return self.qconfig.observer_for(self.role)

    @property
    def class_name(self) -> str:
        return self.module._type().qualified_name().rsplit(".", 1)[-1]


@dataclass
class ModuleCtx:
    """A module instance and its dotted path from the top module."""

    module: torch._C.ScriptModule
    path: str

    @property
    def type_name(self) -> str:
        return self.module._type().qualified_name()

    def method_graph(self, name: str) -> tuple[Graph, str]:
        method = self.module._get_method(name)
        return method.graph, f"{self.type_name}.{name}"


@dataclass(frozen=True)
class Callee:
    """The graph a ``CallMethod`` or user-defined ``CallFunction`` runs, and where."""

    ctx: ModuleCtx  # the called instance; the caller itself for functions
    graph: Graph
    qualname: str
    input_offset: int  # CallFunction's first input is the function itself
    kind: str  # "method" or "function"


@dataclass
class CallSite:
    """What ``insertObserversFor`` returns to its caller."""

    input_observers: list[ObserverConfig | None]
    output_observers: list[ObserverConfig | None]
    observed_outputs: list[int]


class InsertObserversHelper:
    """The state and phases of the C++ ``InsertObserversHelper``."""

    def __init__(
        self,
        module_qconfigs: dict[str, ModuleQConfig],
        quant_type: str,
        emit: Callable[[ev.Event], None] | None,
        function_graphs: Callable[[Node], tuple[Graph, str]],
    ) -> None:
        self.module_qconfigs = module_qconfigs
        self.quant_type = quant_type
        self.emit = emit
        self.function_graph = function_graphs
        # Maps of the C++ helper, by value key.
        self.delay_observation_map: dict[VKey, tuple[Value, VKey, str]] = {}
        self.visited_graph_of_observer_map: set[str] = set()
        self.observer_for_value: dict[VKey, ObserverConfig] = {}
        self.boundary_value_map: dict[VKey, dict[VKey, None]] = {}
        self.observed_values: set[VKey] = set()
        self.pass_through_value_map: dict[VKey, list[VKey]] = {}
        self.observer_nodes: set[VKey] = set()
        self.block_observer_map: dict[tuple, list[tuple[str, torch._C.ScriptModule]]] = {}
        self.uid = 0
        self.insert_reset_observer_method = False
        self.reset_observer_method_name = ""
        self.reset_observers: dict[str, tuple[ModuleCtx, list[str]]] = {}
        # Bookkeeping for refs and events.
        self.names: dict[VKey, str] = {}
        self.paths_of_graph: dict[str, list[str]] = {}
        self.inserted: list[tuple[str, str, ValueRef]] = []
        self.preprocessed: set[str] = set()
        self.loop_warned = False
        self.where = "<top>"  # the module path and method being worked on, for errors
        # (call node, caller graph, index of the callee's first input among the node's
        # inputs) for each call insertObserversFor is inside, outermost first
        self.call_stack: list[tuple[Node, Graph, int]] = []
        self.functions_warned: set[str] = set()
        self.invoked_cache: dict[tuple[str, str], list[tuple[ModuleCtx, str]]] = {}
        self.boundary_done: set[str] = set()
        self.analyzed: set[str] = set()
        self.observers_by_type: dict[str, list[tuple[str, torch._C.ScriptModule]]] = {}
        # the observer attributes each instance (by path) was given a value for
        self.filled_slots: dict[str, set[str]] = {}

    # ------------------------------------------------------------------ refs and events
    def ref(self, v: Value, gq: str, path: str = "", kind: str = "method") -> ValueRef:
        key = (gq, v.unique())
        name = self.names.get(key)
        if name is None:
            name = self.names[key] = v.debugName()
        return ValueRef(GraphRef(gq, kind), key[1], name, path)

    def key_ref(self, key: VKey, path: str | None = None) -> ValueRef:
        gq, unique = key
        kind = "method" if gq in self.paths_of_graph else "function"
        if path is None:
            path = (self.paths_of_graph.get(gq) or [""])[0]
        return ValueRef(GraphRef(gq, kind), unique, self.names.get(key, str(unique)), path)

    def maps_view(self) -> ev.MapsView:
        """A snapshot of the maps as they stand; references are made when it is read."""
        return ev.MapsView({
            "delay": {k: t[1] for k, t in self.delay_observation_map.items()},
            "boundary": {k: tuple(v) for k, v in self.boundary_value_map.items()},
            "observer": dict(self.observer_for_value),
            "pass_through": {k: tuple(v) for k, v in self.pass_through_value_map.items()},
            "observed": frozenset(self.observed_values),
            "inserted": tuple(self.inserted),
        }, self.key_ref)

    # ------------------------------------------------------------------ module helpers
    def get_invoked_module_opt(self, ctx: ModuleCtx, n: Node, self_value: Value | None,
                               gq: str) -> ModuleCtx | None:
        """``getInvokedModuleOpt`` with ``getModuleAccessPath``."""
        path, it = access_path(n.inputsAt(0))
        if self_value is None or it.unique() != self_value.unique():
            raise failures.module_access_path(ctx.path, gq.rsplit(".", 1)[-1], n, it,
                                              self_value)
        module = submodule(ctx.module, path)
        return ModuleCtx(module, join_path(ctx.path, path)) if module is not None else None

    def get_invoked_methods(self, ctx: ModuleCtx, method_name: str) -> list[tuple[ModuleCtx,
                                                                                  str]]:
        """``getInvokedMethods``: submodule methods called from this method (any block)."""
        graph, gq = ctx.method_graph(method_name)
        self_value = next(graph.inputs())
        invoked = []
        for n in graph.findAllNodes("prim::CallMethod", True):
            if (gq, n.outputsAt(0).unique()) in self.observer_nodes:
                continue
            child = self.get_invoked_module_opt(ctx, n, self_value, gq)
            if child is not None:
                invoked.append((child, n.s("name")))
        return invoked

    def callee(self, ctx: ModuleCtx, n: Node, self_value: Value | None,
               gq: str) -> Callee | None:
        """The callee of a CallMethod (None if not a submodule) or user-defined CallFunction."""
        if n.kind() == "prim::CallMethod":
            child = self.get_invoked_module_opt(ctx, n, self_value, gq)
            if child is None:
                return None
            graph, q = child.method_graph(n.s("name"))
            return Callee(child, graph, q, 0, "method")
        graph, q = self.function_graph(n)
        return Callee(ctx, graph, q, 1, "function")

    def invoked_methods(self, ctx: ModuleCtx, method_name: str) -> list[tuple[ModuleCtx, str]]:
        """``get_invoked_methods`` after preprocessing, when graphs no longer change."""
        key = (ctx.path, method_name)
        invoked = self.invoked_cache.get(key)
        if invoked is None:
            invoked = self.invoked_cache[key] = self.get_invoked_methods(ctx, method_name)
        return invoked

    def note_graph(self, ctx: ModuleCtx, gq: str) -> None:
        paths = self.paths_of_graph.setdefault(gq, [])
        if ctx.path not in paths:
            paths.append(ctx.path)

    # ------------------------------------------------------------------ preprocess
    def preprocess(self, ctx: ModuleCtx, method_name: str) -> None:
        """``preprocess``: children first, then this method's graph."""
        self.where = f"{_display(ctx.path)}.{method_name}"
        gq = f"{ctx.type_name}.{method_name}"
        invoked = self.invoked_methods(ctx, method_name) if gq in self.preprocessed \
            else self.get_invoked_methods(ctx, method_name)
        for child, child_method in invoked:
            self.preprocess(child, child_method)
        graph, gq = ctx.method_graph(method_name)
        self.note_graph(ctx, gq)
        if gq not in self.preprocessed:
            self.preprocessed.add(gq)
            preprocess_graph(graph)

    # ------------------------------------------------------------------ boundary map
    def add_boundary(self, caller: Value, cq: str, callee: Value, q: str, kind: str,
                     path: str, callee_path: str, callee_kind: str = "method") -> None:
        key = (cq, caller.unique())
        self.boundary_value_map.setdefault(key, {})[(q, callee.unique())] = None
        if self.emit:
            self.names.setdefault((q, callee.unique()), callee.debugName())
            self.emit(ev.BoundaryEntry(caller=self.ref(caller, cq, path),
                                       callee=self.ref(callee, q, callee_path, callee_kind),
                                       kind=kind))

    def fill_boundary_value_map(self, ctx: ModuleCtx, method_name: str) -> None:
        """``fillBoundaryValueMap``: caller values <-> callee inputs/returns, If outputs.

        A graph shared by several instances gives the same entries each time, so it is
        walked once.
        """
        self.where = f"{_display(ctx.path)}.{method_name}"
        for child, child_method in self.invoked_methods(ctx, method_name):
            self.fill_boundary_value_map(child, child_method)
        graph, gq = ctx.method_graph(method_name)
        if gq in self.boundary_done:
            return
        self.boundary_done.add(gq)
        self_value = next(graph.inputs())
        stack = [graph.block()]
        while stack:
            block = stack.pop()
            for n in block.nodes():
                kind = n.kind()
                if kind == "prim::CallMethod" or rules.user_defined_call_function(n):
                    callee = self.callee(ctx, n, self_value, gq)
                    if callee is None:
                        continue
                    if callee.kind == "function":
                        self.warn_quantizable_function(n, callee.graph, callee.qualname, gq,
                                                       ctx.path)
                    q, callee_path = callee.qualname, callee.ctx.path
                    for i, ret in enumerate(callee.graph.outputs()):
                        self.add_boundary(n.outputsAt(i), gq, ret, q, "return", ctx.path,
                                          callee_path, callee.kind)
                    for i, arg in enumerate(callee.graph.inputs()):
                        self.add_boundary(n.inputsAt(i + callee.input_offset), gq, arg, q,
                                          "input", ctx.path, callee_path, callee.kind)
                elif kind == "prim::If":
                    for sub in n.blocks():
                        stack.append(sub)
                        outputs = list(sub.outputs())
                        for v in n.outputs():
                            self.add_boundary(v, gq, outputs[v.offset()], gq, "if_output",
                                              ctx.path, ctx.path)
                else:
                    for sub in n.blocks():
                        stack.append(sub)

    # ------------------------------------------------------------------ analysis
    def analyze(self, ctx: ModuleCtx, method_name: str) -> None:
        """``analyze``: delay patterns, value -> observer map and pass-through map.

        Like the value -> observer map, the delay and pass-through maps depend only on
        the graph, so each graph is analyzed once however many instances share it.
        """
        self.where = f"{_display(ctx.path)}.{method_name}"
        for child, child_method in self.invoked_methods(ctx, method_name):
            self.analyze(child, child_method)
        graph, gq = ctx.method_graph(method_name)
        if gq in self.analyzed:
            return
        self.analyzed.add(gq)
        self.add_values_to_delay_observation(graph, gq, ctx.path)
        self.fill_value_observer_map(ctx, graph, gq)
        self.fill_pass_through_value_map(graph, gq, ctx.path)

    def add_values_to_delay_observation(self, graph: Graph, gq: str, path: str) -> None:
        """``addValuesToDelayObservation`` over every block of the method graph."""
        stack = [graph.block()]
        while stack:
            block = stack.pop()
            for n in block.nodes():
                match = match_delay_pattern(n)
                if match is not None:
                    pattern, first = match
                    second = n.outputsAt(0)
                    key = (gq, first.unique())
                    self.delay_observation_map[key] = (second, (gq, second.unique()),
                                                       pattern.name)
                    if self.emit:
                        self.emit(ev.DelayMatched(pattern=pattern.name,
                                                  first=self.ref(first, gq, path),
                                                  second=self.ref(second, gq, path)))
                for sub in n.blocks():
                    stack.append(sub)

    def observer_config_for(self, v: Value, qconfig: ScriptedQConfig,
                            uses: list[rules.UseInfo] | None = None) -> ObserverConfig:
        """``getObserverModuleFor``: the weight observer for weights, else activation."""
        return ObserverConfig(qconfig, "weight" if rules.is_weight(v, uses) else "activation")

    def value_needs_to_be_quantized(self, v: Value, qconfig: ScriptedQConfig,
                                    uses: list[rules.UseInfo] | None = None) -> tuple[bool, str]:
        """``valueNeedsToBeQuantized``, with the code of the clause that decided.

        The tensor check runs first because it is cheap; for a value that is not a
        tensor the outcome is the same, and the bias clause only picks the reason.
        """
        if not rules.is_tensor_or_tensor_list(v):
            bias = self.emit is not None and rules.is_bias_of_conv_or_linear(v)
            return False, "bias" if bias else "not_tensor"
        uses = rules.use_infos(v) if uses is None else uses
        if rules.is_bias_of_conv_or_linear(v, uses):
            return False, "bias"
        if rules.is_embedding_bag_non_input(v, uses):
            return False, "embedding_bag_non_input"
        if self.quant_type == rules.STATIC:
            producer = v.node()
            if not rules.is_weight_only_static_quant_op(producer) and (
                rules.node_quantizable(producer) or rules.is_propagate_quant_op(producer)
            ):
                return True, "quantizable_producer"
        if self.quant_type == rules.DYNAMIC:
            observer = self.observer_config_for(v, qconfig, uses).module
            if rules.is_half(observer.getattr("dtype")) and not rules.is_weight(v, uses):
                return False, "dynamic_fp16_activation"
        for user, offset, _ in uses:
            if rules.use_quantizable(user, offset, self.quant_type):
                return True, "quantizable_use"
        return False, "no_quantizable_use"

    def fill_value_observer_map(self, ctx: ModuleCtx, graph: Graph, gq: str) -> None:
        """``fillValueObserverMap``: once per graph, with the first instance's qconfig."""
        if gq in self.visited_graph_of_observer_map:
            return
        self.visited_graph_of_observer_map.add(gq)
        qconfig = self.module_qconfigs[ctx.path].qconfig
        if qconfig is None:
            return
        for v in graph.inputs():
            self.consider_value(v, qconfig, gq, ctx.path)
        stack = [graph.block()]
        while stack:
            block = stack.pop()
            for n in block.nodes():
                for v in n.outputs():
                    self.consider_value(v, qconfig, gq, ctx.path)
                for sub in n.blocks():
                    stack.append(sub)

    def consider_value(self, v: Value, qconfig: ScriptedQConfig, gq: str, path: str) -> None:
        uses = rules.use_infos(v) if rules.is_tensor_or_tensor_list(v) else None
        needed, reason = self.value_needs_to_be_quantized(v, qconfig, uses)
        observer = None
        if needed:
            observer = self.observer_for_value[(gq, v.unique())] = \
                self.observer_config_for(v, qconfig, uses)
        if self.emit:
            self.emit(ev.RuleEvaluated(rule="valueNeedsToBeQuantized",
                                       value=self.ref(v, gq, path), outcome=needed,
                                       reason=reason, detail=self.vnq_detail(v, reason, observer)))

    def vnq_detail(self, v: Value, reason: str, observer: ObserverConfig | None) -> tuple:
        """For explanations: the configured role, the deciding use, what static would do."""
        detail: list[tuple[str, object]] = []
        if observer is not None:
            detail.append(("role", observer.role))
        if reason == "quantizable_use":
            use = next(u for u in v.uses()
                       if rules.use_quantizable(u.user, u.offset, self.quant_type))
            detail.append(("use", (use.user.kind(), use.offset)))
        elif reason == "no_quantizable_use" and self.quant_type == rules.DYNAMIC:
            would = self.static_would_observe(v)
            if would is not None:
                detail.append(("static_would_observe", would))
        return tuple(detail)

    @staticmethod
    def static_would_observe(v: Value) -> tuple[str, str] | None:
        """Which clause of static ``valueNeedsToBeQuantized`` would accept ``v``: (``"the
        output"``, ``"input 0"`` or ``"the weight"``; the op). Propagate ops (add, cat) are
        left out: static quantization observes them only when shouldObserve agrees."""
        producer = v.node()
        if rules.node_quantizable(producer, rules.STATIC) and \
                not rules.is_weight_only_static_quant_op(producer):
            return "the output", rules.op_name(producer)
        for use in v.uses():
            if rules.use_quantizable(use.user, use.offset, rules.STATIC):
                use_info = [(use.user, use.offset, use.user.kind())]
                argument = f"argument {use.offset - 1}" if \
                    use.user.kind() == "prim::CallFunction" else f"input {use.offset}"
                which = "the weight" if rules.WEIGHT.matches(use_info) else argument
                return which, rules.op_name(use.user)
        return None

    def fill_pass_through_value_map(self, graph: Graph, gq: str, path: str) -> None:
        """``fillPassThroughValueMap``, descending into user-defined function graphs."""
        stack: list[tuple[Block, str]] = [(graph.block(), gq)]
        while stack:
            block, q = stack.pop()
            for n in block.nodes():
                kind = n.kind()
                if kind == "prim::CallFunction" and rules.user_defined_call_function(n):
                    g, fq = self.function_graph(n)
                    stack.append((g.block(), fq))
                if kind not in rules.PASS_THROUGH_KINDS:
                    if kind in BLOCK_KINDS:
                        stack.extend((sub, q) for sub in n.blocks())
                    continue
                for out in n.outputs():
                    inputs = rules.get_pass_through_inputs(out, kind)
                    if not inputs:
                        continue
                    self.pass_through_value_map.setdefault((q, out.unique()), []).extend(
                        (q, i.unique()) for i in inputs)
                    if self.emit:
                        graph_kind = "method" if q == gq else "function"
                        self.emit(ev.PassThroughEntry(
                            output=self.ref(out, q, path, graph_kind),
                            inputs=tuple(self.ref(i, q, path, graph_kind) for i in inputs)))
                for sub in n.blocks():
                    stack.append((sub, q))

    def remove_activation_observers(self) -> None:
        """``removeActivationObservers`` (on-device dynamic PTQ): keep weight observers."""
        for key in [k for k, o in self.observer_for_value.items() if o.role != "weight"]:
            del self.observer_for_value[key]
            if self.emit:
                self.emit(ev.RuleEvaluated(rule="removeActivationObservers",
                                           value=self.key_ref(key), outcome=False,
                                           reason="ondevice_dynamic_activation"))

    # ------------------------------------------------------------------ insertion
    def get_observer_for(self, key: VKey) -> ObserverConfig | None:
        """``getObserverFor``: the value's own observer, else one found across boundaries."""
        observer = self.observer_for_value.get(key)
        if observer is not None:
            return observer
        result, result_from = None, None
        for nxt in self.boundary_value_map.get(key, ()):
            found = self.get_observer_for(nxt)
            if found is None:
                continue
            if result is not None and found != result:
                raise failures.observer_conflict(
                    self.key_ref(key),
                    [(self.key_ref(result_from), result), (self.key_ref(nxt), found)],
                    frozenset(q.path for q in self.module_qconfigs.values() if q.explicit))
            result, result_from = found, nxt
        return result

    def is_observed(self, key: VKey, block_observed: set[VKey]) -> bool:
        return key in block_observed or key in self.observed_values

    def record_observed(self, v: Value, gq: str, observer: ObserverConfig,
                        values_to_observe: dict[VKey, tuple[Value, ObserverConfig]],
                        block_observed: set[VKey], ctx: ModuleCtx, via: str) -> None:
        """``recordObserved``: mark ``v`` (or the value its observation is delayed to)."""
        key = (gq, v.unique())
        delayed = self.delay_observation_map.get(key)
        if delayed is not None:
            target, target_key = delayed[0], delayed[1]
        else:
            target, target_key = v, key
        values_to_observe[target_key] = (target, observer)
        block_observed.add(target_key)
        if self.emit:
            self.emit(ev.ObserverRecorded(value=self.ref(v, gq, ctx.path),
                                          target=self.ref(target, gq, ctx.path),
                                          role=observer.role, via=via, site=ctx.path))

    def should_observe(self, n: Node, gq: str, block_observed: set[VKey]) -> tuple[bool, str]:
        """``shouldObserve``: cat/add/mul outputs only when their inputs are observed."""
        for v in n.outputs():
            for use in v.uses():
                if rules.use_quantizable(use.user, use.offset, self.quant_type):
                    return True, "quantizable_use"
        if rules.is_propagate_quant_single_input_op(n):
            ok = self.is_observed((gq, n.inputsAt(0).unique()), block_observed)
            return ok, "propagate_input_observed" if ok else "propagate_input_unobserved"
        if rules.is_propagate_quant_binary_op(n):
            ok = self.is_observed((gq, n.inputsAt(0).unique()), block_observed) and \
                self.is_observed((gq, n.inputsAt(1).unique()), block_observed)
            return ok, "propagate_inputs_observed" if ok else "propagate_input_unobserved"
        return True, "not_propagate_op"

    def should_observe_detail(self, n: Node, gq: str, reason: str, path: str,
                              block_observed: set[VKey]) -> tuple:
        """For explanations: the deciding use, or the propagate op's inputs and their state."""
        if reason == "quantizable_use":
            for v in n.outputs():
                for use in v.uses():
                    if rules.use_quantizable(use.user, use.offset, self.quant_type):
                        return (("use", (use.user.kind(), use.offset)),)
        if reason.startswith("propagate_"):
            count = 1 if rules.is_propagate_quant_single_input_op(n) else 2
            return (("inputs", tuple(
                (self.ref(i, gq, path), self.is_observed((gq, i.unique()), block_observed))
                for i in list(n.inputs())[:count])),)
        return ()

    def propagate_observed_property(self, out: Value, gq: str, block_observed: set[VKey],
                                    path: str) -> None:
        """``propagateObservedProperty``: pass-through outputs of observed inputs."""
        key = (gq, out.unique())
        inputs = self.pass_through_value_map.get(key)
        if inputs and all(i in self.observed_values or i in block_observed for i in inputs):
            block_observed.add(key)
            if self.emit:
                self.emit(ev.ObservedPropagated(
                    value=self.ref(out, gq, path),
                    sources=tuple(self.key_ref(i, path) for i in dict.fromkeys(inputs)),
                    via="pass_through"))

    def insert_observers(self, ctx: ModuleCtx, method_name: str, is_entry_point: bool = False,
                         observed: set[VKey] | None = None) -> CallSite:
        """``insertObservers``: run ``insertObserversFor`` on the method's graph."""
        graph, gq = ctx.method_graph(method_name)
        self.note_graph(ctx, gq)
        return self.insert_observers_for(graph.block(), graph, gq, (gq,), ctx,
                                         observed if observed is not None else set(),
                                         is_entry_point)

    def insert_observers_for(self, block: Block, graph: Graph, gq: str, block_key: tuple,
                             ctx: ModuleCtx, block_observed: set[VKey],
                             is_entry_point: bool = False,
                             is_user_defined_function: bool = False) -> CallSite:
        """``insertObserversFor``: walk one block in execution order, deciding each value."""
        self.where = f"{_display(ctx.path)}.{gq.rsplit('.', 1)[-1]}"
        inputs_outputs: set[VKey] = set()
        input_observers: list[ObserverConfig | None] = []
        output_observers: list[ObserverConfig | None] = []
        if not is_entry_point:
            for v in list(graph.inputs()) + list(graph.outputs()) + list(block.outputs()):
                inputs_outputs.add((gq, v.unique()))
            for v in block.inputs():
                input_observers.append(self.get_observer_for((gq, v.unique())))
            for v in block.outputs():
                key = (gq, v.unique())
                output_observers.append(
                    None if self.is_observed(key, block_observed) else self.get_observer_for(key))

        visited = block_key in self.block_observer_map
        if self.emit and len(block_key) == 1:
            kind = "method" if gq in self.paths_of_graph else "function"
            self.emit(ev.GraphEntered(graph=GraphRef(gq, kind), module_path=ctx.path,
                                      first_visit=not visited))
        if visited:
            filled = self.filled_slots.setdefault(ctx.path, set())
            for name, observer in self.block_observer_map[block_key]:
                ctx.module.setattr(name, copy.deepcopy(observer))
                filled.add(name)
                if self.emit:
                    self.emit(ev.ObserverAttached(module_path=ctx.path, attribute=name))

        # A user-defined function may take no inputs; the C++ pass reads inputs()[0]
        # regardless, which is where it crashes on e.g. nn.MultiheadAttention.
        self_value = next(graph.inputs(), None)
        values_to_observe: dict[VKey, tuple[Value, ObserverConfig]] = {}
        for v in block.inputs():
            key = (gq, v.unique())
            if key not in inputs_outputs and key not in values_to_observe:
                observer = self.get_observer_for(key)
                if observer is not None:
                    self.record_observed(v, gq, observer, values_to_observe, block_observed,
                                         ctx, "self")

        position = 0
        for n in block.nodes():
            kind = n.kind()
            if kind == "prim::CallMethod" and n.outputsSize() and \
                    (gq, n.outputsAt(0).unique()) in self.observer_nodes:
                continue
            if kind == "prim::GetAttr" and (gq, n.output().unique()) in self.observer_nodes:
                continue
            position += 1
            if kind == "prim::CallMethod" or rules.user_defined_call_function(n):
                callee = self.callee(ctx, n, self_value, gq)
                if callee is None:
                    continue
                child, callee_graph, callee_q = callee.ctx, callee.graph, callee.qualname
                offset = callee.input_offset
                if callee.kind == "method":
                    self.note_graph(child, callee_q)
                    is_udf = is_user_defined_function
                else:
                    is_udf = True
                callee_observed: set[VKey] = set()
                for i, arg in enumerate(callee_graph.inputs()):
                    if self.is_observed((gq, n.inputsAt(i + offset).unique()), block_observed):
                        callee_observed.add((callee_q, arg.unique()))
                self.call_stack.append((n, graph, offset))
                try:
                    info = self.insert_observers_for(callee_graph.block(), callee_graph,
                                                     callee_q, (callee_q,), child,
                                                     callee_observed, False, is_udf)
                finally:
                    self.call_stack.pop()
                for idx in info.observed_outputs:
                    out = n.outputsAt(idx)
                    block_observed.add((gq, out.unique()))
                    if self.emit:
                        ret = list(callee_graph.outputs())[idx]
                        kind_ = callee.kind
                        self.emit(ev.ObservedPropagated(
                            value=self.ref(out, gq, ctx.path),
                            sources=(self.ref(ret, callee_q, child.path, kind_),),
                            via="callee_output"))
                for i, observer in enumerate(info.input_observers):
                    node_input = n.inputsAt(i + offset)
                    key = (gq, node_input.unique())
                    if observer is not None and key not in inputs_outputs and \
                            not self.is_observed(key, block_observed):
                        self.record_observed(node_input, gq, observer, values_to_observe,
                                             block_observed, ctx, "callee_input")
                for i, observer in enumerate(info.output_observers):
                    out = n.outputsAt(i)
                    key = (gq, out.unique())
                    if observer is not None and key not in inputs_outputs and \
                            not self.is_observed(key, block_observed):
                        self.record_observed(out, gq, observer, values_to_observe,
                                             block_observed, ctx, "callee_output")
            elif kind == "prim::If":
                self.insert_observers_for_if(n, graph, gq, block_key + (position,), ctx,
                                             block_observed, inputs_outputs, values_to_observe)
            elif kind == "prim::Loop":
                self.warn_loop(n, gq, ctx)
            for v in n.outputs():
                self.propagate_observed_property(v, gq, block_observed, ctx.path)
                key = (gq, v.unique())
                if key in inputs_outputs or self.is_observed(key, block_observed):
                    if self.emit:
                        reason = "graph_boundary" if key in inputs_outputs else \
                            "already_observed"
                        self.emit(ev.RuleEvaluated(rule="insertObserversFor",
                                                   value=self.ref(v, gq, ctx.path),
                                                   outcome=False, reason=reason))
                    continue
                observer = self.get_observer_for(key)
                if observer is None:
                    if self.emit:
                        self.emit(ev.RuleEvaluated(rule="getObserverFor",
                                                   value=self.ref(v, gq, ctx.path),
                                                   outcome=False, reason="no_observer"))
                    continue
                should, reason = self.should_observe(n, gq, block_observed)
                if self.emit:
                    self.emit(ev.RuleEvaluated(
                        rule="shouldObserve", value=self.ref(v, gq, ctx.path), outcome=should,
                        reason=reason, detail=self.should_observe_detail(n, gq, reason, ctx.path,
                                                                         block_observed)))
                if should:
                    self.record_observed(v, gq, observer, values_to_observe, block_observed,
                                         ctx, "self")

        observed_outputs = [
            i for i, v in enumerate(block.outputs())
            if self.is_observed((gq, v.unique()), block_observed)
        ]
        if not visited:
            observer_names: list[tuple[str, torch._C.ScriptModule]] = []
            for key in sorted(values_to_observe, key=lambda k: k[1]):
                v, observer = values_to_observe[key]
                if is_user_defined_function:
                    raise failures.user_defined_function(ctx.path, gq, v, observer)
                self.insert_observer_for(v, gq, graph, ctx, observer, observer_names)
            if self.insert_reset_observer_method and observer_names:
                entry = self.reset_observers.setdefault(ctx.type_name, (ctx, []))
                entry[1].extend(name for name, _ in observer_names)
            self.block_observer_map[block_key] = observer_names
        return CallSite(input_observers, output_observers, observed_outputs)

    def insert_observers_for_if(self, n: Node, graph: Graph, gq: str, if_key: tuple,
                                ctx: ModuleCtx, block_observed: set[VKey],
                                inputs_outputs: set[VKey],
                                values_to_observe: dict[VKey, tuple[Value, ObserverConfig]]
                                ) -> None:
        """The ``prim::If`` case of ``insertObserversFor``: branches must agree."""
        aggregated: list[bool] | None = None
        states: list[tuple[int, list[bool]]] = []
        for index, sub in enumerate(n.blocks()):
            if rules.always_raises_exception(sub):
                continue
            info = self.insert_observers_for(sub, graph, gq, if_key + (index,), ctx,
                                             block_observed)
            outputs = list(sub.outputs())
            for i, out in enumerate(outputs):
                key = (gq, out.unique())
                observer = info.output_observers[i]
                if observer is not None and key not in inputs_outputs and \
                        not self.is_observed(key, block_observed):
                    self.record_observed(out, gq, observer, values_to_observe, block_observed,
                                         ctx, "if_output")
            for idx in info.observed_outputs:
                block_observed.add((gq, outputs[idx].unique()))
            state = [self.is_observed((gq, out.unique()), block_observed) for out in outputs]
            states.append((index, state))
            if aggregated is None:
                aggregated = state
            elif aggregated != state:
                raise failures.inconsistent_if(n, graph, gq, ctx.path, states, self.call_stack,
                                               lambda v: self.ref(v, gq, ctx.path))
        branch_outputs = [list(sub.outputs()) for sub in n.blocks()]
        for i, out in enumerate(n.outputs()):
            if aggregated is not None and aggregated[i]:
                block_observed.add((gq, out.unique()))
                if self.emit:
                    self.emit(ev.ObservedPropagated(
                        value=self.ref(out, gq, ctx.path),
                        sources=tuple(self.ref(b[i], gq, ctx.path) for b in branch_outputs),
                        via="if_output"))

    def warn_loop(self, n: Node, gq: str, ctx: ModuleCtx) -> None:
        """The ``prim::Loop`` case: the pass warns once and never looks inside.

        obsviz warns (once per run) only when the body holds something quantizable,
        and names those values.
        """
        skipped = [x for b in n.blocks() for x in walk_nodes(b)
                   if rules.node_quantizable(x, self.quant_type) or x.kind() == "prim::CallMethod"]
        if not skipped:
            return
        values = [x.outputsAt(0) for x in skipped if x.outputsSize()]
        if not self.loop_warned:
            self.loop_warned = True
            names = ", ".join(f"%{v.debugName()} ({v.node().kind()})" for v in values[:5])
            more = f" and {len(values) - 5} more" if len(values) > 5 else ""
            warnings.warn(
                f"{_display(ctx.path)}.{gq.rsplit('.', 1)[-1]}: prim::Loop is not supported in "
                f"quantization; nothing inside the loop body is observed, so {names}{more} "
                "stay unobserved. Unroll the loop, or move the quantizable work out of it.",
                LoopWarning, stacklevel=2)
        if self.emit:
            out = n.outputsAt(0) if n.outputsSize() else None
            self.emit(ev.LoopSkipped(loop_output=self.ref(out, gq, ctx.path) if out else None,
                                     module_path=ctx.path, method=gq.rsplit(".", 1)[-1],
                                     values=tuple(self.ref(v, gq, ctx.path) for v in values)))

    def warn_quantizable_function(self, n: Node, graph: Graph, fq: str, gq: str,
                                  path: str) -> None:
        """User-defined functions are walked but never observed inside: say so."""
        if fq in self.functions_warned:
            return
        self.functions_warned.add(fq)
        ops = [x for x in walk_nodes(graph.block()) if rules.node_quantizable(x, self.quant_type)]
        if not ops:
            return
        names = ", ".join(f"%{x.outputsAt(0).debugName()} ({x.kind()})" for x in ops[:5])
        warnings.warn(
            f"{_display(path)}.{gq.rsplit('.', 1)[-1]} calls function {fq}, whose quantizable "
            f"ops {names} get no observers: the pass does not insert observers inside "
            "user-defined functions. Make the function a submodule's method to quantize it.",
            FunctionWarning, stacklevel=2)

    def insert_observer_for(self, v: Value, gq: str, graph: Graph, ctx: ModuleCtx,
                            observer: ObserverConfig,
                            observer_names: list[tuple[str, torch._C.ScriptModule]]) -> None:
        """``insertObserverFor``: add an observer submodule and call it on ``v``."""
        key = (gq, v.unique())
        if key in self.observed_values:
            return
        instance = copy.deepcopy(observer.module)
        module = ctx.module
        name = f"_observer_{self.uid}"
        self.uid += 1
        while module.hasattr(name):
            name = f"_observer_{self.uid}"
            self.uid += 1
        module._register_attribute(name, instance._type(), instance)
        observer_names.append((name, instance))
        self.observers_by_type.setdefault(ctx.type_name, []).append((name, instance))
        self.filled_slots.setdefault(ctx.path, set()).add(name)

        original_name = v.debugName()
        get_attr = graph.create("prim::GetAttr", [next(graph.inputs())], 1)
        get_attr.s_("name", name)
        get_attr.output().setType(instance._type())
        get_attr.insertAfter(v.node())
        get_attr.output().setDebugName(name)
        call = graph.create("prim::CallMethod", [get_attr.output(), v], 1)
        call.s_("name", "forward")
        call.insertAfter(get_attr)
        call.output().copyMetadata(v)
        v.replaceAllUsesWith(call.output())
        call.replaceInput(1, v)
        out_key = (gq, call.output().unique())
        self.observer_nodes.add(out_key)
        self.observer_nodes.add((gq, get_attr.output().unique()))
        self.observed_values.add(out_key)
        ref = ValueRef(GraphRef(gq), key[1], self.names.get(key, original_name), ctx.path)
        self.inserted.append((ctx.path, name, ref))
        if self.emit:
            self.emit(ev.ObserverInserted(value=ref, module_path=ctx.path, attribute=name,
                                          observer_class=observer.class_name,
                                          output_name=call.output().debugName()))

    def fill_empty_observer_slots(self, instances: list[tuple[str, torch._C.ScriptModule]]
                                  ) -> None:
        """Give every instance a value for each observer attribute its class type declares.

        An observer attribute belongs to the type, but the pass sets it only on the
        instances whose graph it walks: an instance reached only inside a loop, or one
        whose type's other methods are called elsewhere but not on it (one
        FloatFunctional that adds, another of the same type that multiplies) keeps an
        empty slot. The real pass returns such a module, and reading it fails ("Can't
        convert InvalidTag") or crashes the process; obsviz fills each empty slot with its
        own copy of the observer.
        """
        for path, module in instances:
            observers = self.observers_by_type.get(module._type().qualified_name())
            if not observers:
                continue
            filled = self.filled_slots.setdefault(path, set())
            for name, observer in observers:
                if name in filled:
                    continue
                module.setattr(name, copy.deepcopy(observer))
                filled.add(name)
                if self.emit:
                    self.emit(ev.ObserverAttached(module_path=path, attribute=name))

    def add_reset_observer_methods(self) -> None:
        """``insertObserverResetMinMax``: a method resetting every observer of a module."""
        for ctx, names in self.reset_observers.values():
            body = "\n".join(f"    self.{name}.reset_min_max_vals()" for name in names)
            source = f"def {self.reset_observer_method_name}(self) -> None:\n{body}\n" \
                     "    return None\n"
            try:
                ctx.module._define(torch._C.ConcreteModuleType.from_jit_type(ctx.module._type()),
                                   source, lambda name: None)
            except RuntimeError as err:
                raise ObsvizError(
                    f"{_display(ctx.path)}: could not add {self.reset_observer_method_name}: "
                    f"{err}") from err
            if self.emit:
                self.emit(ev.ResetMethodAdded(module_path=ctx.path,
                                              method=self.reset_observer_method_name,
                                              observers=tuple(names)))
