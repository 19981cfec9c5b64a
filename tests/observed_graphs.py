"""An observed module read with torch's graph API alone, for tests that check obsviz.

Nothing here imports obsviz: the op lists are copied by hand from PyTorch's
``torch/csrc/jit/passes/quantization/helper.cpp`` (torch 2.13), so a test comparing
obsviz's answers with these shares no code with what it checks.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import torch

OBSERVER_PREFIX = "_observer_"

# helper.cpp: _static_quantizable_aten_funcs and _static_quantizable_call_funcs
QUANTIZABLE_ATEN = frozenset(
    f"aten::{name}"
    for name in (
        "conv1d",
        "conv2d",
        "conv3d",
        "conv_transpose1d",
        "conv_transpose2d",
        "linear",
        "hardswish",
        "hardswish_",
        "elu",
        "elu_",
        "celu",
        "celu_",
        "batch_norm",
        "layer_norm",
        "group_norm",
        "instance_norm",
        "embedding_bag",
    )
)
QUANTIZABLE_CALL = frozenset(
    (
        "conv2d",
        "linear",
        "batch_norm",
        "hardswish",
        "elu",
        "celu",
        "layer_norm",
        "group_norm",
        "instance_norm",
        "embedding_bag",
    )
)
# helper.cpp: _propagate_quant_single_input_ops and _propagate_quant_binary_ops
PROPAGATE_QUANT = frozenset(f"aten::{name}" for name in ("cat", "add", "add_", "mul", "mul_"))
# helper.cpp: _observe_inputs_call_func, the calls whose other inputs are never quantized
OBSERVED_INPUT_OF_CALL = {"batch_norm": 1}
# helper.cpp: _single_input_general_{shape,value}_call_funcs, which are not user functions
GENERAL_CALL = frozenset(
    (
        "_max_pool1d",
        "_max_pool2d",
        "_max_pool3d",
        "dropout",
        "relu",
        "avg_pool1d",
        "avg_pool2d",
        "avg_pool3d",
        "adaptive_avg_pool1d",
        "adaptive_avg_pool2d",
        "adaptive_avg_pool3d",
        "interpolate",
        "upsample",
        "upsample_bilinear",
        "upsample_nearest",
        "hardtanh",
        "leaky_relu",
    )
)

TENSOR = torch._C.TensorType.get()
TENSOR_LIST = torch._C.ListType.ofTensors()


@dataclass(frozen=True)
class GraphInstance:
    """A graph as one module instance runs it (functions run in their caller's instance)."""

    path: str
    method: str
    graph: torch._C.Graph


@dataclass(frozen=True)
class CallSite:
    """A call in ``caller``'s graph: callee graph input ``k`` is ``node.inputsAt(k + offset)``
    (``offset`` 0 for a method, whose input 0 is self, and 1 for a function) and callee
    output ``k`` is ``node.outputsAt(k)``."""

    caller: tuple[str, str]
    node: torch._C.Node
    callee: tuple[str, str]
    offset: int
    nested: bool  # inside an If branch or a Loop body of the caller's graph


@dataclass
class ObservedModule:
    """The graphs reached from an entry method of an observed module, and the calls."""

    module: torch._C.ScriptModule
    instances: dict[tuple[str, str], GraphInstance]
    calls: list[CallSite]

    def always_run(self) -> set[tuple[str, str]]:
        """The instances every call of the entry runs: reached through calls none of which
        sits inside an If branch or a Loop body."""
        entry = next(iter(self.instances))
        running = {entry}
        changed = True
        while changed:
            changed = False
            for call in self.calls:
                if call.callee not in running and call.caller in running and not call.nested:
                    running.add(call.callee)
                    changed = True
        return running

    def observers_always_called(self) -> list[tuple[str, str]]:
        """(instance path, attribute) of the observers every call of the entry calls."""
        found = []
        for key in self.always_run():
            graph = self.instances[key].graph
            for node, nested in _nodes_nested(graph.block()):
                if not nested and _is_observer_call(node):
                    found.append((key[0], node.inputsAt(0).node().s("name")))
        return found

    def submodule(self, path: str) -> torch._C.ScriptModule:
        module = self.module
        for name in filter(None, path.split(".")):
            module = module.getattr(name)
        return module


def function_name(call: torch._C.Node) -> str:
    """The called function's short name, as ``getFuncName`` reads it."""
    constant = call.inputsAt(0).node()
    return constant.s("name").rsplit(".", 1)[-1] if constant.hasAttribute("name") else ""


def _function_graph(call: torch._C.Node) -> torch._C.Graph:
    qualified = call.inputsAt(0).type().annotation_str
    function = torch.jit._state._python_cu.find_function(qualified)
    assert function is not None, f"no compiled function {qualified}"
    return function.graph


def _nodes(block: torch._C.Block) -> Iterator[torch._C.Node]:
    for node, _ in _nodes_nested(block):
        yield node


def _nodes_nested(
    block: torch._C.Block, nested: bool = False
) -> Iterator[tuple[torch._C.Node, bool]]:
    """Every node of a block and of the blocks inside it, and whether it is inside one."""
    for node in block.nodes():
        yield node, nested
        for sub in node.blocks():
            yield from _nodes_nested(sub, True)


def _is_observer(value: torch._C.Value) -> bool:
    node = value.node()
    return node.kind() == "prim::GetAttr" and node.s("name").startswith(OBSERVER_PREFIX)


def _is_observer_call(node: torch._C.Node) -> bool:
    return node.kind() == "prim::CallMethod" and _is_observer(node.inputsAt(0))


def _is_observer_node(node: torch._C.Node) -> bool:
    """An observer's GetAttr, or the call of its forward."""
    if node.kind() == "prim::GetAttr":
        return node.s("name").startswith(OBSERVER_PREFIX)
    return _is_observer_call(node)


def _submodule(
    module: torch._C.ScriptModule, self_value: torch._C.Value, target: torch._C.Value
) -> tuple[list[str], torch._C.ScriptModule] | None:
    names: list[str] = []
    while target.node().kind() == "prim::GetAttr":
        names.insert(0, target.node().s("name"))
        target = target.node().inputsAt(0)
    if target.unique() != self_value.unique():
        return None
    for name in names:
        module = module.getattr(name)
        if not isinstance(module, torch._C.ScriptModule):
            return None
    return names, module


def read_observed(
    module: torch.jit.ScriptModule | torch._C.ScriptModule, entry: str = "forward"
) -> ObservedModule:
    """Every (instance path, method or function) reached from ``entry``, calls made inside
    any block included, observers' own methods left out."""
    root = module._c if isinstance(module, torch.jit.ScriptModule) else module
    found = ObservedModule(root, {}, [])

    def visit(
        owner: torch._C.ScriptModule | None, path: str, method: str, graph: torch._C.Graph
    ) -> None:
        if (path, method) in found.instances:
            return
        found.instances[(path, method)] = GraphInstance(path, method, graph)
        self_value = next(graph.inputs()) if owner is not None else None
        for node, nested in _nodes_nested(graph.block()):
            if node.kind() == "prim::CallMethod" and self_value is not None:
                if _is_observer_call(node):
                    continue
                target = _submodule(owner, self_value, node.inputsAt(0))
                if target is not None:
                    names, child = target
                    callee = (".".join(filter(None, [path, *names])), node.s("name"))
                    found.calls.append(CallSite((path, method), node, callee, 0, nested))
                    visit(child, *callee, child._get_method(callee[1]).graph)
            elif node.kind() == "prim::CallFunction":
                name = function_name(node)
                if name not in GENERAL_CALL and name not in QUANTIZABLE_CALL:
                    found.calls.append(CallSite((path, method), node, (path, name), 1, nested))
                    visit(None, path, name, _function_graph(node))

    visit(root, "", entry, root._get_method(entry).graph)
    return found


def graph_instances(
    module: torch.jit.ScriptModule | torch._C.ScriptModule, entry: str = "forward"
) -> list[GraphInstance]:
    """The graphs reached from ``entry``, each as the instance that runs it."""
    return list(read_observed(module, entry).instances.values())


def graph_values(graph: torch._C.Graph) -> Iterator[torch._C.Value]:
    """Graph inputs, block inputs and node outputs, observers and their outputs left out."""
    yield from graph.inputs()

    def walk(block: torch._C.Block) -> Iterator[torch._C.Value]:
        for node in block.nodes():
            if _is_observer_node(node):
                continue
            yield from node.outputs()
            for sub in node.blocks():
                yield from sub.inputs()
                yield from walk(sub)

    yield from walk(graph.block())


def observed_values(graph: torch._C.Graph) -> set[int]:
    """Uniques of the values an observer call in ``graph`` reads."""
    return {node.inputsAt(1).unique() for node in _nodes(graph.block()) if _is_observer_call(node)}


def _quantizes(node: torch._C.Node) -> bool:
    if node.kind() in QUANTIZABLE_ATEN:
        return True
    return node.kind() == "prim::CallFunction" and function_name(node) in QUANTIZABLE_CALL


def _use_quantizes(use: torch._C.Use) -> bool:
    user = use.user
    if user.kind() == "prim::CallFunction" and function_name(user) in OBSERVED_INPUT_OF_CALL:
        return use.offset == OBSERVED_INPUT_OF_CALL[function_name(user)]
    return _quantizes(user)


def has_quantizable_use(value: torch._C.Value) -> bool:
    """A tensor (or tensor list) that a quantizable op produces, or that a quantizable op
    takes as an input it quantizes: the tests ``valueNeedsToBeQuantized`` makes (static)."""
    kind = value.type()
    if not (kind.isSubtypeOf(TENSOR) or kind.isSubtypeOf(TENSOR_LIST)):
        return False
    producer = value.node()
    if _quantizes(producer) or producer.kind() in PROPAGATE_QUANT:
        return True
    return any(_use_quantizes(use) for use in value.uses())


def quantizable_without_observer(
    module: torch.jit.ScriptModule | torch._C.ScriptModule, entry: str = "forward"
) -> set[tuple[str, str, int]]:
    """(instance path, method, value unique) of every tensor value with a quantizable use
    that no observer in its own graph reads."""
    found = set()
    for instance in graph_instances(module, entry):
        observed = observed_values(instance.graph)
        for value in graph_values(instance.graph):
            if value.unique() not in observed and has_quantizable_use(value):
                found.add((instance.path, instance.method, value.unique()))
    return found


def observer_class(observer: torch._C.ScriptModule) -> str:
    """An observer submodule's class name, e.g. ``HistogramObserver``."""
    return re.sub(r"___torch_mangle_\d+\.", "", observer._type().qualified_name()).rsplit(".", 1)[
        -1
    ]


def observers_called(graph: torch._C.Graph) -> set[str]:
    """The attribute names of the observers ``graph`` calls."""
    return {
        node.inputsAt(0).node().s("name")
        for node in _nodes(graph.block())
        if _is_observer_call(node)
    }


def observer_reading(value: torch._C.Value) -> str | None:
    """The attribute name of the observer whose call reads ``value``, if one does."""
    for use in value.uses():
        if _is_observer_call(use.user):
            return use.user.inputsAt(0).node().s("name")
    producer = value.node()  # an observer's output, as a call now receives it
    return producer.inputsAt(0).node().s("name") if _is_observer_call(producer) else None


def observers_of(
    observed: ObservedModule,
    path: str,
    method: str,
    unique: int,
    instead: Mapping[tuple[str, str, int], int] | None = None,
) -> set[tuple[str, str]]:
    """(owner path, attribute) of the observers run.module has for one value: its own, or,
    for a method's input or return, the ones at the call sites, as far up as it is passed.
    ``instead`` maps a value (path, method, unique) to the value observed in its place in
    the same graph (a fusion pattern delays observing the first to the second)."""
    instead = instead or {}
    unique = instead.get((path, method, unique), unique)
    instance = observed.instances[(path, method)]
    value = next((v for v in graph_values(instance.graph) if v.unique() == unique), None)
    assert value is not None, (path, method, unique)
    own = observer_reading(value)
    if own is not None:
        return {(path, own)}
    found: set[tuple[str, str]] = set()
    inputs = [v.unique() for v in instance.graph.inputs()]
    outputs = [v.unique() for v in instance.graph.outputs()]
    for call in observed.calls:
        if call.callee != (path, method):
            continue
        caller_values = []
        if unique in inputs:
            caller_values.append(call.node.inputsAt(inputs.index(unique) + call.offset))
        if unique in outputs:
            caller_values.append(call.node.outputsAt(outputs.index(unique)))
        for caller_value in caller_values:
            own = observer_reading(caller_value)
            if own is not None:
                found.add((call.caller[0], own))
            else:
                found |= observers_of(observed, *call.caller, caller_value.unique(), instead)
    return found


Position = tuple  # ("input", index) or ("node", index among the graph's own nodes, offset)


def observer_sites(
    module: torch.jit.ScriptModule | torch._C.ScriptModule, entry: str = "forward"
) -> dict[tuple[str, str, Position], str]:
    """The class of each observer, by (instance path, method, position of the value it
    reads): positions leave observers out, so two runs on one model compare."""
    observed = read_observed(module, entry)
    return {
        site: observer_class(observed.submodule(site[0]).getattr(attribute))
        for site, attribute in _observer_attributes(observed).items()
    }


def observer_paths(
    module: torch.jit.ScriptModule | torch._C.ScriptModule, entry: str = "forward"
) -> dict[tuple[str, str, Position], str]:
    """The path of each observer (``layer1.0._observer_3``), by the site of the value it
    reads, as ``observer_sites`` keys them: two observed modules whose observers are named
    differently compare by site."""
    return {
        site: f"{site[0]}.{attribute}" if site[0] else attribute
        for site, attribute in _observer_attributes(read_observed(module, entry)).items()
    }


def _observer_attributes(observed: ObservedModule) -> dict[tuple[str, str, Position], str]:
    sites = {}
    for (path, method), instance in observed.instances.items():
        graph = instance.graph
        positions = {v.unique(): ("input", i) for i, v in enumerate(graph.inputs())}
        own_nodes = 0
        for node in _nodes(graph.block()):
            if _is_observer_call(node):
                attribute = node.inputsAt(0).node().s("name")
                sites[(path, method, positions[node.inputsAt(1).unique()])] = attribute
            elif not _is_observer_node(node):
                for out in node.outputs():
                    positions[out.unique()] = ("node", own_nodes, out.offset())
                own_nodes += 1
    return sites


def _batchnorm_calls(model: torch.jit.ScriptModule) -> int:
    """Calls of a BatchNorm's methods in every instance's forward graph (a BatchNorm
    calls its own _check_input_dim too)."""
    return sum(
        1
        for _, module in model.named_modules()
        if hasattr(module, "graph")
        for node in module.graph.nodes()
        if node.kind() == "prim::CallMethod" and "BatchNorm" in node.inputsAt(0).type().str()
    )


def conv_bn_pairs_folded(model: torch.jit.ScriptModule) -> int:
    """How many conv-bn pairs torch's ``fuse_conv_bn_jit`` (prepare_jit's first step)
    folds: each takes one BatchNorm call out of the graphs."""
    from torch.ao.quantization.quantize_jit import fuse_conv_bn_jit

    return _batchnorm_calls(model) - _batchnorm_calls(fuse_conv_bn_jit(model))


def forward_value_names(module: torch.jit.ScriptModule) -> set[str]:
    """The debug names of every value of a scripted module's forward graph, nested blocks
    included (empty for a module without one)."""
    if not hasattr(module, "graph"):
        return set()
    names = {v.debugName() for v in module.graph.inputs()}
    blocks = [module.graph.block()]
    while blocks:
        for node in blocks.pop().nodes():
            names.update(v.debugName() for v in node.outputs())
            blocks.extend(node.blocks())
    return names


def modules_naming(model: torch.jit.ScriptModule, name: str) -> set[str]:
    """The paths ("" for the top) of the modules whose forward graph has a value ``name``."""
    return {path for path, module in model.named_modules() if name in forward_value_names(module)}
