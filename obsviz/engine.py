"""``insert_observers.cpp`` in Python: ``InsertObserversHelper`` and the two entry points,
``InsertObservers`` and ``InsertObserversForOnDevicePTQ`` (:class:`InsertObserversPass`).

Names, parameters and the order of the functions follow the C++ file (the helper's
inline functions first, as its class body has them); the port's own helpers sit after
the function that uses them. One systematic difference: a C++ ``Value*``, ``Node*`` or
``Block*`` knows the graph it belongs to (``v->owningGraph()``), which torch's Python
bindings do not expose, so the port passes that graph along as ``instance``, an
:class:`InstanceGraph` (a module instance and one graph it runs); ``instance`` stands
where the C++ passes the module, or next to the value it qualifies. Maps are keyed by
``instance.key(v)``, a :class:`~obsviz.refs.ValueKey` (graph qualname, value unique), the
port's ``Value*``: torch's Value wrappers are transient and one graph serves every
instance of its class type. ``module`` is a :class:`ModuleInstance` (an instance and its
path) where the C++ passes a ``Module`` with no graph. Where the C++ would print a
``GRAPH_DEBUG`` line, the port tells its recorder (:mod:`obsviz.recorder`) what it
decided.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from . import failures, rules
from .clone import SplitGroup, check_remap_types, clone_module
from .errors import FunctionWarning, LoopWarning, ObsvizError, warn
from .functions import FunctionResolver
from .graphs import (
    BLOCK_KINDS,
    access_path,
    join_path,
    observed_by,
    submodule,
    walk_nodes,
)
from .patterns import match_delay_pattern
from .preprocess import preprocess_graph
from .qconfig import ModuleQConfig, ScriptedQConfig, fill_qconfig_map, named_modules
from .recorder import Recorder
from .refs import ValueKey, display_path
from .slots import empty_module_slots

Value = torch._C.Value
Node = torch._C.Node
Block = torch._C.Block
Graph = torch._C.Graph


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
class ModuleInstance:
    """A module instance and its dotted path from the top module."""

    module: torch._C.ScriptModule
    path: str

    @property
    def type_name(self) -> str:
        return self.module._type().qualified_name()


@dataclass
class InstanceGraph(ModuleInstance):
    """A graph as one module instance runs it: a method of the instance, or a function
    the instance calls (``kind`` "function"; it runs in its caller's instance)."""

    graph: Graph
    qualname: str
    kind: str = "method"

    @property
    def method(self) -> str:
        return self.qualname.rsplit(".", 1)[-1]

    def key(self, v: Value) -> ValueKey:
        """What the pass's maps key ``v`` of this graph by."""
        return ValueKey(self.qualname, v.unique())


@dataclass
class CallSite:
    """What ``insertObserversFor`` returns to its caller."""

    input_observers: list[ObserverConfig | None]
    output_observers: list[ObserverConfig | None]
    observed_outputs: list[int]


def get_observer_module_for(v: Value, qconfig: ScriptedQConfig) -> ObserverConfig:
    """``getObserverModuleFor``: the weight observer for weights, else activation."""
    return ObserverConfig(qconfig, "weight" if rules.is_weight(v) else "activation")


class InsertObserversHelper:
    """The state and phases of the C++ ``InsertObserversHelper``, function by function."""

    def __init__(
        self,
        module_qconfigs: dict[str, ModuleQConfig],
        quant_type: str,
        recorder: Recorder,
        function_graphs: Callable[[Node], tuple[Graph, str]],
    ) -> None:
        self.module_qconfigs = module_qconfigs
        self.quant_type = quant_type
        self.recorder = recorder
        recorder.helper = self  # its maps are the run's
        self.function_graphs = function_graphs
        # Maps of the C++ helper, by value key.
        self.delay_observation_map: dict[ValueKey, tuple[Value, ValueKey]] = {}
        self.visited_graph_of_observer_map: set[str] = set()
        self.observer_for_value: dict[ValueKey, ObserverConfig] = {}
        self.boundary_value_map: dict[ValueKey, dict[ValueKey, None]] = {}
        self.observed_values: set[ValueKey] = set()
        self.pass_through_value_map: dict[ValueKey, list[ValueKey]] = {}
        self.observer_nodes: set[ValueKey] = set()
        self.block_observer_map: dict[tuple, list[tuple[str, torch._C.ScriptModule]]] = {}
        self.uid = 0
        self.insert_reset_observer_method = False
        self.reset_observer_method_name = ""
        self.reset_observers: dict[str, tuple[ModuleInstance, list[str]]] = {}
        self.preprocessed: set[str] = set()
        # graph qualname -> the calls preprocess follows from it, where they were read
        # before the graph was changed (InsertObserversForOnDevicePTQ's copied method)
        self.calls_before_preprocess: dict[str, list[tuple[ModuleInstance, str]]] = {}
        self.loop_warned = False
        self.where = display_path("")  # the module path and method being worked on, for errors
        # (call node, caller graph, index of the callee's first input among the node's
        # inputs) for each call insertObserversFor is inside, outermost first
        self.call_stack: list[tuple[Node, Graph, int]] = []
        self.functions_warned: set[str] = set()
        self.invoked_cache: dict[tuple[str, str], list[tuple[ModuleInstance, str]]] = {}
        self.boundary_done: set[str] = set()
        self.analyzed: set[str] = set()
        self.observers_by_type: dict[str, list[tuple[str, torch._C.ScriptModule]]] = {}
        # the observer attributes each instance (by path) was given a value for
        self.filled_slots: dict[str, set[str]] = {}

    def set_insert_reset_observer_method(
        self, insert_reset_observer_method: bool, method_name: str
    ) -> None:
        """``setInsertResetObserverMethod``."""
        self.insert_reset_observer_method = insert_reset_observer_method
        self.reset_observer_method_name = f"reset_observers_{method_name}"

    def is_observed(self, key: ValueKey, block_observed_values: set[ValueKey]) -> bool:
        return key in block_observed_values or key in self.observed_values

    def should_observe(
        self,
        n: Node,
        instance: InstanceGraph,
        block_observed_values: set[ValueKey],
        quant_type: str,
    ) -> tuple[bool, str]:
        """``shouldObserve``: cat/add/mul outputs only when their inputs are observed."""
        for v in n.outputs():
            for use in v.uses():
                if rules.use_quantizable(use.user, use.offset, quant_type):
                    return True, "quantizable_use"
        if rules.is_propagate_quant_single_input_op(n):
            observed = self.is_observed(instance.key(n.inputsAt(0)), block_observed_values)
            return (
                observed,
                "propagate_input_observed" if observed else "propagate_input_unobserved",
            )
        if rules.is_propagate_quant_binary_op(n):
            observed = self.is_observed(
                instance.key(n.inputsAt(0)), block_observed_values
            ) and self.is_observed(instance.key(n.inputsAt(1)), block_observed_values)
            return (
                observed,
                "propagate_inputs_observed" if observed else "propagate_input_unobserved",
            )
        return True, "not_propagate_op"

    def method_graph(self, module: ModuleInstance, method_name: str) -> InstanceGraph:
        """``module.get_method(method_name).graph()``, which the recorder learns
        ``module`` runs."""
        graph = module.module._get_method(method_name).graph
        instance = InstanceGraph(
            module.module, module.path, graph, f"{module.type_name}.{method_name}"
        )
        self.recorder.note_graph(instance)
        return instance

    def get_invoked_methods(
        self, module: ModuleInstance, method_name: str
    ) -> list[tuple[ModuleInstance, str]]:
        """``getInvokedMethods``: submodule methods called from this method (any block)."""
        instance = self.method_graph(module, method_name)
        self_value = next(instance.graph.inputs())
        invoked = []
        for n in instance.graph.findAllNodes("prim::CallMethod", True):
            if instance.key(n.outputsAt(0)) in self.observer_nodes:
                continue
            child = self.get_invoked_module_opt(instance, n, self_value)
            if child is not None:
                invoked.append((child, n.s("name")))
        return invoked

    def get_invoked_module_opt(
        self, instance: InstanceGraph, n: Node, self_value: Value | None
    ) -> ModuleInstance | None:
        """``getInvokedModuleOpt`` with ``getModuleAccessPath``: the instance ``n`` (a
        ``CallMethod`` in ``instance``) calls, None when the access path ends at no module."""
        path, root = access_path(n.inputsAt(0))
        if self_value is None or root.unique() != self_value.unique():
            raise failures.module_access_path(instance.path, instance.method, n, root, self_value)
        module = submodule(instance.module, path)
        return (
            ModuleInstance(module, join_path(instance.path, path)) if module is not None else None
        )

    def get_call_function_graph(self, n: Node, instance: InstanceGraph) -> InstanceGraph:
        """``getCallFunctionGraph``: the graph of the function a ``CallFunction`` in
        ``instance`` calls; it runs in that module instance."""
        graph, qualname = self.function_graphs(n)
        return InstanceGraph(instance.module, instance.path, graph, qualname, "function")

    def callee(
        self, instance: InstanceGraph, n: Node, self_value: Value | None
    ) -> tuple[InstanceGraph, int] | None:
        """The graph a ``CallMethod`` (None if not a submodule's) or user-defined
        ``CallFunction`` runs, and the offset of its first input among ``n``'s inputs (a
        ``CallFunction``'s first input is the function itself)."""
        if n.kind() == "prim::CallMethod":
            child = self.get_invoked_module_opt(instance, n, self_value)
            if child is None:
                return None
            return self.method_graph(child, n.s("name")), 0
        return self.get_call_function_graph(n, instance), 1

    def invoked_methods(
        self, module: ModuleInstance, method_name: str
    ) -> list[tuple[ModuleInstance, str]]:
        """``get_invoked_methods`` after preprocessing, when graphs no longer change."""
        key = (module.path, method_name)
        invoked = self.invoked_cache.get(key)
        if invoked is None:
            invoked = self.invoked_cache[key] = self.get_invoked_methods(module, method_name)
        return invoked

    def insert_observer_for(
        self,
        v: Value,
        instance: InstanceGraph,
        observer: ObserverConfig,
        observer_name_and_modules: list[tuple[str, torch._C.ScriptModule]],
    ) -> None:
        """``insertObserverFor``: add an observer submodule and call it on ``v``."""
        key = instance.key(v)
        if key in self.observed_values:
            return
        observer_copy = copy.deepcopy(observer.module)
        name = f"_observer_{self.uid}"
        self.uid += 1
        while instance.module.hasattr(name):
            name = f"_observer_{self.uid}"
            self.uid += 1
        instance.module._register_attribute(name, observer_copy._type(), observer_copy)
        observer_name_and_modules.append((name, observer_copy))
        self.observers_by_type.setdefault(instance.type_name, []).append((name, observer_copy))
        self.filled_slots.setdefault(instance.path, set()).add(name)

        name_before = v.debugName()  # the observer's call takes it over (copyMetadata)
        graph = instance.graph
        get_attr = graph.create("prim::GetAttr", [next(graph.inputs())], 1)
        get_attr.s_("name", name)
        get_attr.output().setType(observer_copy._type())
        get_attr.insertAfter(v.node())
        get_attr.output().setDebugName(name)
        call = graph.create("prim::CallMethod", [get_attr.output(), v], 1)
        call.s_("name", "forward")
        call.insertAfter(get_attr)
        call.output().copyMetadata(v)
        v.replaceAllUsesWith(call.output())
        call.replaceInput(1, v)
        self.observer_nodes.add(instance.key(call.output()))
        self.observer_nodes.add(instance.key(get_attr.output()))
        self.observed_values.add(instance.key(call.output()))
        self.recorder.observer_inserted(v, name_before, instance, name, observer, call.output())

    def check_resettable(
        self,
        instance: InstanceGraph,
        observer_name_and_modules: list[tuple[str, torch._C.ScriptModule]],
    ) -> None:
        """The part of ``insertObserverResetMinMax`` that can fail: it looks up each
        observer's ``reset_min_max_vals`` (a ``PlaceholderObserver`` has none)."""
        for name, observer in observer_name_and_modules:
            if not observer._has_method("reset_min_max_vals"):
                raise failures.observer_without_reset(
                    instance.path,
                    instance.method,
                    observed_by(instance.graph, name),
                    name,
                    observer,
                )

    def add_reset_observer_methods(self) -> None:
        """``insertObserverResetMinMax``: a method resetting every observer of a module."""
        for module, names in self.reset_observers.values():
            body = "\n".join(f"    self.{name}.reset_min_max_vals()" for name in names)
            source = (
                f"def {self.reset_observer_method_name}(self) -> None:\n{body}\n    return None\n"
            )
            try:
                module.module._define(
                    torch._C.ConcreteModuleType.from_jit_type(module.module._type()),
                    source,
                    lambda name: None,
                )
            except RuntimeError as err:
                raise ObsvizError(
                    f"{display_path(module.path)}: could not add "
                    f"{self.reset_observer_method_name}: {err}"
                ) from err
            self.recorder.reset_method_added(
                module.path, self.reset_observer_method_name, tuple(names)
            )

    def add_values_to_delay_observation(self, module: ModuleInstance, method_name: str) -> None:
        """``addValuesToDelayObservation`` with ``delayObservingValuesInPattern``: every
        node of every block is matched against the delay patterns."""
        instance = self.method_graph(module, method_name)
        stack = [instance.graph.block()]
        while stack:
            block = stack.pop()
            for n in block.nodes():
                match = match_delay_pattern(n)
                if match is not None:
                    pattern, first = match
                    second = n.outputsAt(0)
                    self.delay_observation_map[instance.key(first)] = (second, instance.key(second))
                    self.recorder.delay_matched(pattern.name, first, second, instance)
                for subblock in n.blocks():
                    stack.append(subblock)

    def fill_pass_through_value_map(self, instance: InstanceGraph) -> None:
        """``fillPassThroughValueMap``, descending into user-defined function graphs."""
        stack: list[tuple[Block, InstanceGraph]] = [(instance.graph.block(), instance)]
        while stack:
            block, owner = stack.pop()
            for n in block.nodes():
                kind = n.kind()
                if kind == "prim::CallFunction" and rules.user_defined_call_function(n):
                    function = self.get_call_function_graph(n, owner)
                    stack.append((function.graph.block(), function))
                if kind not in rules.PASS_THROUGH_KINDS:
                    if kind in BLOCK_KINDS:
                        stack.extend((subblock, owner) for subblock in n.blocks())
                    continue
                for out in n.outputs():
                    inputs = rules.get_pass_through_inputs(out, kind)
                    if not inputs:
                        continue
                    self.pass_through_value_map.setdefault(owner.key(out), []).extend(
                        owner.key(i) for i in inputs
                    )
                    self.recorder.pass_through_mapped(out, inputs, owner)
                for subblock in n.blocks():
                    stack.append((subblock, owner))

    def fill_boundary_value_map(self, module: ModuleInstance, method_name: str) -> None:
        """``fillBoundaryValueMap``: caller values <-> callee inputs/returns, If outputs.

        A graph shared by several instances gives the same entries each time, so it is
        walked once.
        """
        self.where = f"{display_path(module.path)}.{method_name}"
        for child, child_method in self.invoked_methods(module, method_name):
            self.fill_boundary_value_map(child, child_method)
        instance = self.method_graph(module, method_name)
        if instance.qualname in self.boundary_done:
            return
        self.boundary_done.add(instance.qualname)
        self_value = next(instance.graph.inputs())
        stack = [instance.graph.block()]
        while stack:
            block = stack.pop()
            for n in block.nodes():
                kind = n.kind()
                if kind == "prim::CallMethod" or rules.user_defined_call_function(n):
                    found = self.callee(instance, n, self_value)
                    if found is None:
                        continue
                    callee, input_offset = found
                    if callee.kind == "function":
                        self.warn_quantizable_function(callee, instance)
                    for i, ret in enumerate(callee.graph.outputs()):
                        self.add_boundary(n.outputsAt(i), instance, ret, callee, "return")
                    for i, arg in enumerate(callee.graph.inputs()):
                        self.add_boundary(
                            n.inputsAt(i + input_offset), instance, arg, callee, "input"
                        )
                elif kind == "prim::If":
                    for subblock in n.blocks():
                        stack.append(subblock)
                        outputs = list(subblock.outputs())
                        for v in n.outputs():
                            self.add_boundary(
                                v, instance, outputs[v.offset()], instance, "if_output"
                            )
                else:
                    for subblock in n.blocks():
                        stack.append(subblock)

    def add_boundary(
        self,
        caller: Value,
        instance: InstanceGraph,
        callee: Value,
        callee_instance: InstanceGraph,
        kind: str,
    ) -> None:
        self.boundary_value_map.setdefault(instance.key(caller), {})[
            callee_instance.key(callee)
        ] = None
        self.recorder.boundary_mapped(caller, instance, callee, callee_instance, kind)

    def warn_quantizable_function(self, function: InstanceGraph, instance: InstanceGraph) -> None:
        """User-defined functions are walked but never observed inside: say so."""
        if function.qualname in self.functions_warned:
            return
        self.functions_warned.add(function.qualname)
        ops = [
            node
            for node in walk_nodes(function.graph.block())
            if rules.node_quantizable(node, self.quant_type)
        ]
        if not ops:
            return
        names = ", ".join(f"%{node.outputsAt(0).debugName()} ({node.kind()})" for node in ops[:5])
        warn(
            f"{display_path(instance.path)}.{instance.method} calls function "
            f"{function.qualname}, whose quantizable ops {names} get no observers: the pass "
            "does not insert observers inside user-defined functions. Make the function a "
            "submodule's method to quantize it.",
            FunctionWarning,
        )

    def preprocess(self, module: ModuleInstance, method_name: str) -> None:
        """``preprocess``: children first, then this method's graph."""
        self.where = f"{display_path(module.path)}.{method_name}"
        qualname = f"{module.type_name}.{method_name}"
        if qualname in self.calls_before_preprocess:
            invoked = self.calls_before_preprocess[qualname]
        elif qualname in self.preprocessed:
            invoked = self.invoked_methods(module, method_name)
        else:
            invoked = self.get_invoked_methods(module, method_name)
        for child, child_method in invoked:
            self.preprocess(child, child_method)
        instance = self.method_graph(module, method_name)
        if instance.qualname not in self.preprocessed:
            self.preprocessed.add(instance.qualname)
            preprocess_graph(instance.graph)

    def analyze(self, module: ModuleInstance, method_name: str) -> None:
        """``analyze``: delay patterns, value -> observer map and pass-through map.

        Like the value -> observer map, the delay and pass-through maps depend only on
        the graph, so each graph is analyzed once however many instances share it.
        """
        self.where = f"{display_path(module.path)}.{method_name}"
        for child, child_method in self.invoked_methods(module, method_name):
            self.analyze(child, child_method)
        instance = self.method_graph(module, method_name)
        if instance.qualname in self.analyzed:
            return
        self.analyzed.add(instance.qualname)
        self.add_values_to_delay_observation(module, method_name)
        self.fill_value_observer_map(module, method_name)
        self.fill_pass_through_value_map(instance)

    def value_needs_to_be_quantized(self, v: Value, qconfig: ScriptedQConfig) -> tuple[bool, str]:
        """``valueNeedsToBeQuantized``, with the code of the clause that decided.

        The tensor check runs first because it is cheap; for a value that is not a
        tensor the outcome is the same (the recorder names the bias clause C++ checks
        first).
        """
        if not rules.is_tensor_or_tensor_list(v):
            return False, "not_tensor"
        uses = rules.use_infos(v)
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
            observer = get_observer_module_for(v, qconfig).module
            if rules.is_half(observer.getattr("dtype")) and not rules.is_weight(v, uses):
                return False, "dynamic_fp16_activation"
        for user, offset, _ in uses:
            if rules.use_quantizable(user, offset, self.quant_type):
                return True, "quantizable_use"
        return False, "no_quantizable_use"

    def remove_activation_observers(self) -> None:
        """``removeActivationObservers`` (on-device dynamic PTQ): keep weight observers."""
        activation_keys = [
            key for key, observer in self.observer_for_value.items() if observer.role != "weight"
        ]
        for key in activation_keys:
            del self.observer_for_value[key]
            self.recorder.activation_observer_removed(key)

    def fill_value_observer_map(self, module: ModuleInstance, method_name: str) -> None:
        """``fillValueObserverMap``: once per graph, with the first instance's qconfig."""
        instance = self.method_graph(module, method_name)
        if instance.qualname in self.visited_graph_of_observer_map:
            return
        self.visited_graph_of_observer_map.add(instance.qualname)
        qconfig = self.module_qconfigs[module.path].qconfig
        if qconfig is None:
            return
        for v in instance.graph.inputs():
            self.fill_value_observer(v, instance, qconfig)
        stack = [instance.graph.block()]
        while stack:
            block = stack.pop()
            for n in block.nodes():
                for v in n.outputs():
                    self.fill_value_observer(v, instance, qconfig)
                for subblock in n.blocks():
                    stack.append(subblock)

    def fill_value_observer(
        self, v: Value, instance: InstanceGraph, qconfig: ScriptedQConfig
    ) -> None:
        """The body of ``fillValueObserverMap``'s loops, for one value."""
        needed, reason = self.value_needs_to_be_quantized(v, qconfig)
        observer = None
        if needed:
            observer = self.observer_for_value[instance.key(v)] = get_observer_module_for(
                v, qconfig
            )
        self.recorder.value_needs_to_be_quantized(v, instance, needed, reason, observer)

    def get_observer_for(self, key: ValueKey) -> ObserverConfig | None:
        """``getObserverFor``: the value's own observer, else one found across boundaries."""
        observer = self.observer_for_value.get(key)
        if observer is not None:
            return observer
        result, result_from = None, None
        for next_key in self.boundary_value_map.get(key, ()):
            found = self.get_observer_for(next_key)
            if found is None:
                continue
            if result is not None and found != result:
                key_ref = self.recorder.key_ref
                raise failures.observer_conflict(
                    key_ref(key),
                    [(key_ref(result_from), result), (key_ref(next_key), found)],
                    frozenset(
                        assigned.path
                        for assigned in self.module_qconfigs.values()
                        if assigned.explicit
                    ),
                )
            result, result_from = found, next_key
        return result

    def insert_observers(
        self,
        module: ModuleInstance,
        method_name: str,
        is_entry_point: bool = False,
        graph_observed_values: set[ValueKey] | None = None,
    ) -> CallSite:
        """``insertObservers``: run ``insertObserversFor`` on the method's graph."""
        instance = self.method_graph(module, method_name)
        return self.insert_observers_for(
            instance.graph.block(),
            instance,
            graph_observed_values if graph_observed_values is not None else set(),
            is_entry_point,
        )

    def record_observed(
        self,
        v: Value,
        instance: InstanceGraph,
        observer: ObserverConfig,
        values_to_observe: dict[ValueKey, tuple[Value, ObserverConfig]],
        block_observed_values: set[ValueKey],
        via: str,
    ) -> None:
        """``recordObserved``: mark ``v`` (or the value its observation is delayed to).

        ``via`` is the branch of ``insertObserversFor`` that records it, for the record.
        """
        key = instance.key(v)
        to_observe, to_observe_key = self.delay_observation_map.get(key, (v, key))
        values_to_observe[to_observe_key] = (to_observe, observer)
        block_observed_values.add(to_observe_key)
        self.recorder.observer_recorded(v, to_observe, instance, observer, via)

    def insert_observers_for(
        self,
        block: Block,
        instance: InstanceGraph,
        block_observed_values: set[ValueKey],
        is_entry_point: bool = False,
        is_user_defined_function: bool = False,
        block_key: tuple | None = None,
    ) -> CallSite:
        """``insertObserversFor``: walk one block in execution order, deciding each value.

        ``block_key`` names an ``If`` branch in ``block_observer_map`` (C++ keys it by
        ``Block*``): the graph and the positions of the ``If`` nodes above it.
        """
        block_key = block_key or (instance.qualname,)
        self.where = f"{display_path(instance.path)}.{instance.method}"
        inputs_outputs: set[ValueKey] = set()
        block_input_observers: list[ObserverConfig | None] = []
        block_output_observers: list[ObserverConfig | None] = []
        if not is_entry_point:
            for v in (
                list(instance.graph.inputs())
                + list(instance.graph.outputs())
                + list(block.outputs())
            ):
                inputs_outputs.add(instance.key(v))
            for v in block.inputs():
                block_input_observers.append(self.get_observer_for(instance.key(v)))
            for v in block.outputs():
                key = instance.key(v)
                block_output_observers.append(
                    None
                    if self.is_observed(key, block_observed_values)
                    else self.get_observer_for(key)
                )

        visited = block_key in self.block_observer_map
        if len(block_key) == 1:
            self.recorder.graph_entered(instance, first_visit=not visited)
        if visited:
            filled = self.filled_slots.setdefault(instance.path, set())
            for name, observer in self.block_observer_map[block_key]:
                instance.module.setattr(name, copy.deepcopy(observer))
                filled.add(name)
                self.recorder.observer_attached(instance.path, name)

        # A user-defined function may take no inputs; the C++ pass reads inputs()[0]
        # regardless, which is where it crashes on e.g. nn.MultiheadAttention.
        self_value = next(instance.graph.inputs(), None)
        values_to_observe: dict[ValueKey, tuple[Value, ObserverConfig]] = {}
        for v in block.inputs():
            key = instance.key(v)
            if key not in inputs_outputs and key not in values_to_observe:
                observer = self.get_observer_for(key)
                if observer is not None:
                    self.record_observed(
                        v, instance, observer, values_to_observe, block_observed_values, "self"
                    )

        position = 0
        for n in block.nodes():
            kind = n.kind()
            if (
                kind == "prim::CallMethod"
                and n.outputsSize()
                and instance.key(n.outputsAt(0)) in self.observer_nodes
            ):
                continue
            if kind == "prim::GetAttr" and instance.key(n.output()) in self.observer_nodes:
                continue
            position += 1
            if kind == "prim::CallMethod" or rules.user_defined_call_function(n):
                found = self.callee(instance, n, self_value)
                if found is None:
                    continue
                callee, input_offset = found
                self.insert_observers_for_call(
                    n,
                    instance,
                    callee,
                    input_offset,
                    is_user_defined_function,
                    block_observed_values,
                    inputs_outputs,
                    values_to_observe,
                )
            elif kind == "prim::If":
                self.insert_observers_for_if(
                    n,
                    instance,
                    block_key + (position,),
                    block_observed_values,
                    inputs_outputs,
                    values_to_observe,
                )
            elif kind == "prim::Loop":
                self.warn_loop(n, instance)
            for v in n.outputs():
                self.propagate_observed_property(v, instance, block_observed_values)
                key = instance.key(v)
                if key in inputs_outputs or self.is_observed(key, block_observed_values):
                    self.recorder.passed_over(
                        v,
                        instance,
                        "graph_boundary" if key in inputs_outputs else "already_observed",
                    )
                    continue
                observer = self.get_observer_for(key)
                if observer is None:
                    self.recorder.no_observer(v, instance)
                    continue
                should, reason = self.should_observe(
                    n, instance, block_observed_values, self.quant_type
                )
                self.recorder.should_observe(v, n, instance, should, reason, block_observed_values)
                if should:
                    self.record_observed(
                        v, instance, observer, values_to_observe, block_observed_values, "self"
                    )

        observed_outputs = [
            i
            for i, v in enumerate(block.outputs())
            if self.is_observed(instance.key(v), block_observed_values)
        ]
        if not visited:
            observer_name_and_modules: list[tuple[str, torch._C.ScriptModule]] = []
            for key in sorted(values_to_observe, key=lambda value_key: value_key.unique):
                v, observer = values_to_observe[key]
                if is_user_defined_function:
                    raise failures.user_defined_function(
                        instance.path, instance.qualname, v, observer
                    )
                self.insert_observer_for(v, instance, observer, observer_name_and_modules)
            if self.insert_reset_observer_method and observer_name_and_modules:
                self.check_resettable(instance, observer_name_and_modules)
                entry = self.reset_observers.setdefault(instance.type_name, (instance, []))
                entry[1].extend(name for name, _ in observer_name_and_modules)
            self.block_observer_map[block_key] = observer_name_and_modules
        return CallSite(block_input_observers, block_output_observers, observed_outputs)

    def insert_observers_for_call(
        self,
        n: Node,
        instance: InstanceGraph,
        callee: InstanceGraph,
        input_offset: int,
        is_user_defined_function: bool,
        block_observed_values: set[ValueKey],
        inputs_outputs: set[ValueKey],
        values_to_observe: dict[ValueKey, tuple[Value, ObserverConfig]],
    ) -> None:
        """The ``CallMethod`` / user-defined ``CallFunction`` case of ``insertObserversFor``:
        walk the callee, then record here, at the call site, the observers its inputs and
        outputs need (one callee graph serves every instance of its type)."""
        is_udf_for_subblock = is_user_defined_function or callee.kind == "function"
        callee_observed_inputs: set[ValueKey] = set()
        for i, arg in enumerate(callee.graph.inputs()):
            if self.is_observed(instance.key(n.inputsAt(i + input_offset)), block_observed_values):
                callee_observed_inputs.add(callee.key(arg))
        self.call_stack.append((n, instance.graph, input_offset))
        try:
            info_from_callee = self.insert_observers_for(
                callee.graph.block(), callee, callee_observed_inputs, False, is_udf_for_subblock
            )
        finally:
            self.call_stack.pop()
        for idx in info_from_callee.observed_outputs:
            out = n.outputsAt(idx)
            block_observed_values.add(instance.key(out))
            self.recorder.observed_from_callee(
                out, instance, list(callee.graph.outputs())[idx], callee
            )
        for i, observer in enumerate(info_from_callee.input_observers):
            node_input = n.inputsAt(i + input_offset)
            key = instance.key(node_input)
            if (
                observer is not None
                and key not in inputs_outputs
                and not self.is_observed(key, block_observed_values)
            ):
                self.record_observed(
                    node_input,
                    instance,
                    observer,
                    values_to_observe,
                    block_observed_values,
                    "callee_input",
                )
        for i, observer in enumerate(info_from_callee.output_observers):
            out = n.outputsAt(i)
            key = instance.key(out)
            if (
                observer is not None
                and key not in inputs_outputs
                and not self.is_observed(key, block_observed_values)
            ):
                self.record_observed(
                    out,
                    instance,
                    observer,
                    values_to_observe,
                    block_observed_values,
                    "callee_output",
                )

    def insert_observers_for_if(
        self,
        n: Node,
        instance: InstanceGraph,
        if_key: tuple,
        block_observed_values: set[ValueKey],
        inputs_outputs: set[ValueKey],
        values_to_observe: dict[ValueKey, tuple[Value, ObserverConfig]],
    ) -> None:
        """The ``prim::If`` case of ``insertObserversFor``: branches must agree."""
        aggregated: list[bool] | None = None
        states: list[tuple[int, list[bool]]] = []
        for index, subblock in enumerate(n.blocks()):
            if rules.always_raises_exception(subblock):
                continue
            info_from_subblock = self.insert_observers_for(
                subblock, instance, block_observed_values, block_key=if_key + (index,)
            )
            outputs = list(subblock.outputs())
            for i, out in enumerate(outputs):
                key = instance.key(out)
                observer = info_from_subblock.output_observers[i]
                if (
                    observer is not None
                    and key not in inputs_outputs
                    and not self.is_observed(key, block_observed_values)
                ):
                    self.record_observed(
                        out,
                        instance,
                        observer,
                        values_to_observe,
                        block_observed_values,
                        "if_output",
                    )
            for idx in info_from_subblock.observed_outputs:
                block_observed_values.add(instance.key(outputs[idx]))
            state = [self.is_observed(instance.key(out), block_observed_values) for out in outputs]
            states.append((index, state))
            if aggregated is None:
                aggregated = state
            elif aggregated != state:
                raise failures.inconsistent_if(
                    n, instance, states, self.call_stack, lambda v: self.recorder.ref(v, instance)
                )
        for i, out in enumerate(n.outputs()):
            if aggregated is not None and aggregated[i]:
                block_observed_values.add(instance.key(out))
                self.recorder.observed_from_branches(out, instance, n)

    def warn_loop(self, n: Node, instance: InstanceGraph) -> None:
        """The ``prim::Loop`` case: the pass warns once and never looks inside.

        obsviz warns (once per run) only when the body holds something quantizable,
        and names those values.
        """
        skipped = [
            node
            for body in n.blocks()
            for node in walk_nodes(body)
            if rules.node_quantizable(node, self.quant_type) or node.kind() == "prim::CallMethod"
        ]
        if not skipped:
            return
        values = [node.outputsAt(0) for node in skipped if node.outputsSize()]
        if not self.loop_warned:
            self.loop_warned = True
            names = ", ".join(f"%{v.debugName()} ({v.node().kind()})" for v in values[:5])
            more = f" and {len(values) - 5} more" if len(values) > 5 else ""
            warn(
                f"{display_path(instance.path)}.{instance.method}: prim::Loop is not supported in "
                f"quantization; nothing inside the loop body is observed, so {names}{more} "
                "stay unobserved. Unroll the loop, or move the quantizable work out of it.",
                LoopWarning,
            )
        self.recorder.loop_skipped(n, instance, values)

    def propagate_observed_property(
        self, output: Value, instance: InstanceGraph, block_observed_values: set[ValueKey]
    ) -> None:
        """``propagateObservedProperty``: pass-through outputs of observed inputs."""
        key = instance.key(output)
        inputs = self.pass_through_value_map.get(key)
        if inputs and all(i in self.observed_values or i in block_observed_values for i in inputs):
            block_observed_values.add(key)
            self.recorder.observed_from_inputs(output, instance, inputs)

    def fill_empty_observer_slots(self, instances: list[tuple[str, torch._C.ScriptModule]]) -> None:
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
                self.recorder.observer_attached(path, name)


class InsertObserversPass:
    """One run of ``InsertObservers`` or ``InsertObserversForOnDevicePTQ`` (the methods
    named for them), phase by phase.

    What the phases built stays readable when a later one fails: ``module`` (the clone,
    observed as far as the pass got), ``module_qconfig_map``, ``splits`` and ``helper``.
    """

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.method_name = ""
        self.module: torch._C.ScriptModule | None = None
        self.module_qconfig_map: dict[str, ModuleQConfig] = {}
        self.splits: tuple[SplitGroup, ...] = ()
        self.instances: list[tuple[str, torch._C.ScriptModule]] = []
        self.helper: InsertObserversHelper | None = None

    def insert_observers(
        self,
        input_module: torch._C.ScriptModule,
        method_name: str,
        qconfig_dict: dict[str, ScriptedQConfig | None],
        inplace: bool,
        quant_type: str,
    ) -> torch._C.ScriptModule:
        """``InsertObservers``: a clone of ``input_module`` (sharing its tensors when
        ``inplace``) whose ``method_name`` calls an observer on each value to observe."""
        self.method_name = method_name
        map_before_clone = self.fill_qconfig_map(input_module, qconfig_dict)
        module = self.clone(input_module, map_before_clone, inplace)
        with self.phase("swap_functional_linear"):
            torch._C._jit_pass_swap_functional_linear(module)
        return self.observe(input_module, module, method_name, qconfig_dict, quant_type)

    def insert_observers_for_on_device_ptq(
        self,
        input_module: torch._C.ScriptModule,
        method_name: str,
        qconfig_dict: dict[str, ScriptedQConfig | None],
        inplace: bool,
        quant_type: str,
    ) -> torch._C.ScriptModule:
        """``InsertObserversForOnDevicePTQ``: the observers go into ``observe_<method>``,
        a copy of the method, and ``reset_observers_<method>`` resets them."""
        self.method_name = method_name
        map_before_clone = self.fill_qconfig_map(input_module, qconfig_dict)
        cloned_module = self.clone(input_module, map_before_clone, inplace)
        observer_method_name = f"observe_{method_name}"
        with self.phase("swap_functional_linear"):
            torch._C._jit_pass_swap_functional_linear(cloned_module._get_method(method_name).graph)
            cloned_module = self.module = clone_method(cloned_module, method_name)
        return self.observe(
            input_module,
            cloned_module,
            observer_method_name,
            qconfig_dict,
            quant_type,
            reset_observers_of=method_name,
        )

    def fill_qconfig_map(
        self, input_module: torch._C.ScriptModule, qconfig_dict: dict[str, ScriptedQConfig | None]
    ) -> dict[str, ModuleQConfig]:
        with self.phase("fill_qconfig_map"):
            map_before_clone = self.module_qconfig_map = fill_qconfig_map(
                input_module, qconfig_dict
            )
            self.recorder.qconfigs_assigned(map_before_clone)
        return map_before_clone

    def clone(
        self,
        input_module: torch._C.ScriptModule,
        map_before_clone: dict[str, ModuleQConfig],
        inplace: bool,
    ) -> torch._C.ScriptModule:
        """``ModuleCloneHelper::clone``: instances of one type with different qconfigs
        get types of their own."""
        with self.phase("clone"):
            check_remap_types(input_module)
            module, splits = clone_module(input_module, map_before_clone, inplace=inplace)
            self.module, self.splits = module, tuple(splits)
            self.recorder.types_split(splits)
            self.recorder.values_named(input_module, module)
        return module

    def observe(
        self,
        input_module: torch._C.ScriptModule,
        module: torch._C.ScriptModule,
        method_name: str,
        qconfig_dict: dict[str, ScriptedQConfig | None],
        quant_type: str,
        reset_observers_of: str | None = None,
    ) -> torch._C.ScriptModule:
        """What both entry points do after cloning: fill the qconfig map again (the clone
        has types of its own), then the helper's phases on ``method_name``. On device
        (``reset_observers_of`` names the method copied) dynamic quantization keeps only
        weight observers, and a method resetting the observers is added."""
        on_device = reset_observers_of is not None
        module_qconfig_map = self.module_qconfig_map = fill_qconfig_map(module, qconfig_dict)
        self.instances = list(named_modules(module))
        helper = self.helper = InsertObserversHelper(
            module_qconfig_map, quant_type, self.recorder, FunctionResolver(input_module)
        )
        top = ModuleInstance(module, "")
        if on_device:
            # clone_method's stand-in already preprocessed the copy, inlining its forks;
            # the real pass collects the calls to preprocess before it inlines them
            helper.calls_before_preprocess[f"{top.type_name}.{method_name}"] = (
                helper.get_invoked_methods(top, reset_observers_of)
            )
        with self.phase("preprocess"):
            helper.preprocess(top, method_name)
        with self.phase("fill_boundary_value_map"):
            helper.fill_boundary_value_map(top, method_name)
        with self.phase("analyze"):
            helper.analyze(top, method_name)
            if on_device and quant_type == rules.DYNAMIC:
                helper.remove_activation_observers()
        if on_device:
            helper.set_insert_reset_observer_method(True, reset_observers_of)
        with self.phase("insert_observers"):
            helper.insert_observers(top, method_name, is_entry_point=True)
            helper.fill_empty_observer_slots(self.instances)
        if on_device:
            with self.phase("insert_reset_observer_method"):
                helper.add_reset_observer_methods()
        check_every_slot_holds_a_value(module)
        return module

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Report the phase, and turn torch's internal errors into ones users can act on."""
        self.recorder.phase_started(name)
        try:
            yield
        except ObsvizError:
            raise
        except (RuntimeError, torch.jit.Error) as err:
            where = self.helper.where if self.helper else display_path("")
            first_line = str(err).strip().splitlines()[0] if str(err).strip() else repr(err)
            raise ObsvizError(
                f"{where}: torch failed during the {name} phase of the pass on "
                f"{self.method_name!r}: {first_line}"
            ) from err
        self.recorder.phase_finished(name)

    def partial_module(self) -> torch._C.ScriptModule | None:
        """After a phase failed: the module as the pass left it, with the empty observer
        slots filled; None when there is none yet, or it still has an empty slot."""
        helper, module = self.helper, self.module
        if helper is not None and module is not None:
            helper.fill_empty_observer_slots(self.instances)
        return module if module is not None and not empty_module_slots(module) else None


def clone_method(module: torch._C.ScriptModule, method_name: str) -> torch._C.ScriptModule:
    """``cloneMethod``: a module whose type also has ``observe_<method>``, a graph copy.

    Torch has no binding that adds a graph to a class type, so this runs torch's on-device
    pass with every qconfig None: it copies the method and, with no qconfig, observes
    nothing. The engine then makes every decision on the copy.
    """
    return torch._C._jit_pass_insert_observer_method_for_ondevice_ptq(
        module, method_name, {"": None}, True, 1
    )


def check_every_slot_holds_a_value(module: torch._C.ScriptModule) -> None:
    """Refuse to wrap a module with an empty submodule slot: reading it crashes torch."""
    empty = empty_module_slots(module)
    if empty:
        raise failures.empty_observer_slots(empty)
