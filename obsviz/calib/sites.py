"""Where the observers of an observed module are, found by walking its graphs.

An observer is a submodule whose ``forward`` the observed graph calls on a value
(``%y = prim::CallMethod[name="forward"](%_observer_N, %x)``), whoever inserted it:
obsviz's pass or torch's own ``prepare_jit``. A :class:`Site` is one such call, in the
instance that runs the graph; the observer object itself is read from that instance.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

from ..errors import ObsvizError
from ..graphs import is_observer_name, method_calls, observer_calls, producer_positions
from ..refs import TOP, join_path, value_label


@dataclass(frozen=True)
class Site:
    """One observer call: the instance and method running it, and the value it watches."""

    module_path: str  # the instance that owns the observer and runs the graph ("" = top)
    method: str
    attribute: str  # the observer's attribute on that instance
    graph: str  # qualified name of the method's graph
    unique: int  # the observed value's id in that graph
    value: str  # the observed value's debug name in that graph
    producer: str  # the kind of the node producing the value
    position: str  # its producer's place in the graph (graphs.producer_positions)
    role: str  # "weight" (a parameter read from the module) or "activation"
    parameter: str | None = None  # for a weight: the attribute it is read from
    # when the value is computed only inside an `if self.<attribute>:` branch, here or in
    # every caller: (path of the module holding the attribute, attribute, the value of the
    # attribute that takes the branch)
    branch: tuple[str, str, bool] | None = None

    @property
    def observer_path(self) -> str:
        """The observer's path as ``named_modules`` gives it, e.g. ``layer1.0._observer_2``."""
        return join_path(self.module_path, [self.attribute])

    @property
    def label(self) -> str:
        return value_label(self.module_path, self.method, self.value)

    @property
    def placement_key(self) -> tuple[str, str, str]:
        """What stays the same for this site in another observed copy of the same model."""
        return (self.module_path, self.method, self.position)


def _parameter(value: torch._C.Value) -> str | None:
    """The attribute a weight is read from (``prim::GetAttr`` of a tensor on self)."""
    node = value.node()
    if (
        node.kind() == "prim::GetAttr"
        and isinstance(value.type(), torch._C.TensorType)
        and node.inputsAt(0).node().kind() == "prim::Param"
    ):
        return node.s("name")
    return None


def find_sites(
    module: torch.jit.ScriptModule | torch._C.ScriptModule, method: str = "forward"
) -> list[Site]:
    """Every observer call reached from ``method``, in execution order of the graphs."""
    root = module._c if isinstance(module, torch.jit.ScriptModule) else module
    if not root._has_method(method):
        raise ObsvizError(
            f"{TOP}: the module has no method {method!r} "
            f"(its methods: {', '.join(root._method_names()) or 'none'})"
        )
    sites: list[Site] = []
    positions: dict[str, dict[int, str]] = {}
    contexts = branch_contexts(root, method)
    for call in observer_calls(root, method):
        key = graph_name(call.graph, call.method)
        if key not in positions:
            positions[key] = producer_positions(call.graph.block())[0]
        observed = call.node.inputsAt(1)
        parameter = _parameter(observed)
        sites.append(
            Site(
                module_path=call.path,
                method=call.method,
                attribute=call.node.inputsAt(0).node().s("name"),
                graph=key,
                unique=observed.unique(),
                value=observed.debugName(),
                producer=observed.node().kind(),
                position=positions[key].get(observed.unique(), "?"),
                role="activation" if parameter is None else "weight",
                parameter=parameter,
                branch=_attribute_branch(call.node, call.path)
                or contexts.get((call.path, call.method)),
            )
        )
    return sites


def _attribute_branch(node: torch._C.Node, path: str) -> tuple[str, str, bool] | None:
    """(path, attribute, value) when ``node`` runs only in an ``if self.<attribute>:``
    branch of the module at ``path``."""
    block = node.owningBlock()
    while block.owningNode() is not None:
        owner = block.owningNode()
        if owner.kind() == "prim::If":
            condition = owner.inputsAt(0).node()
            if (
                condition.kind() == "prim::GetAttr"
                and condition.inputsAt(0).node().kind() == "prim::Param"
            ):
                taken = next(i for i, b in enumerate(owner.blocks()) if b == block) == 0
                return path, condition.s("name"), taken
        block = owner.owningBlock()
    return None


_UNCONDITIONAL = ("", "", True)


def branch_contexts(
    root: torch._C.ScriptModule, method: str
) -> dict[tuple[str, str], tuple[str, str, bool]]:
    """For each (instance, method) called only inside ``if self.<attribute>:`` branches
    of one attribute: that branch. Instances called unconditionally, or under different
    branches, are left out."""
    edges = [
        ((call.path, call.method), call.callee, _attribute_branch(call.node, call.path))
        for call in method_calls(root, method)
        if call.callee is not None
    ]
    contexts: dict[tuple[str, str], tuple] = {("", method): _UNCONDITIONAL}
    for _ in range(len(edges) + 1):  # a DAG: settled after at most as many rounds
        changed = False
        incoming: dict[tuple[str, str], set] = {}
        for caller, callee, branch in edges:
            incoming.setdefault(callee, set()).add(branch or contexts.get(caller, _UNCONDITIONAL))
        for callee, found in incoming.items():
            context = found.pop() if len(found) == 1 else _UNCONDITIONAL
            if contexts.get(callee) != context:
                contexts[callee] = context
                changed = True
        if not changed:
            break
    return {key: c for key, c in contexts.items() if c != _UNCONDITIONAL}


def graph_name(graph: torch._C.Graph, method: str) -> str:
    """The method's qualified name: the same for every instance sharing the graph."""
    return f"{next(graph.inputs()).type().qualified_name()}.{method}"


def instance_at(module: torch.jit.ScriptModule, path: str) -> torch.jit.ScriptModule:
    target = module
    for name in filter(None, path.split(".")):
        target = getattr(target, name)
    return target


def observer_of(module: torch.jit.ScriptModule, site: Site) -> torch.jit.ScriptModule:
    """The observer object of ``site`` in ``module`` (an observed module of the same model)."""
    return getattr(instance_at(module, site.module_path), site.attribute)


def parameter_of(module: torch.jit.ScriptModule, site: Site) -> torch.Tensor | None:
    """The float weight a weight site observes, read from its module."""
    if site.parameter is None:
        return None
    return instance_at(module, site.module_path)._c.getattr(site.parameter)


def replace_observer_calls(
    root: torch._C.ScriptModule,
    method: str,
    prefix: str,
    replacement: Callable[[str, str, torch._C.ScriptModule], torch.jit.ScriptModule],
) -> None:
    """Call ``replacement(path, attribute, observer)`` instead of each observer.

    ``root`` must be a fresh class clone (``_hack_do_not_use_clone_module_with_class``)
    that has never run: its graphs are rewritten in place, once per graph, and every
    instance reached gets the replacement as attribute ``prefix + attribute``. Instances
    sharing a graph must get replacements of one type per attribute.
    """
    calls: dict[tuple[str, int], tuple[torch._C.Graph, torch._C.Node]] = {}
    for call in observer_calls(root, method):
        key = (graph_name(call.graph, call.method), call.node.output().unique())
        calls.setdefault(key, (call.graph, call.node))
    types = _register(root, prefix, replacement)
    for graph, node in calls.values():
        _redirect(graph, node, prefix, types)


def remove_observer_calls(
    root: torch._C.ScriptModule, method: str, keep: set[tuple[str, int]]
) -> None:
    """Pass each observed value on unobserved, except where ``(Site.graph, Site.unique)``
    is in ``keep``: those observers alone see what runs. ``root`` must be a fresh class
    clone that has never run (see :func:`replace_observer_calls`)."""
    calls: dict[tuple[str, int], torch._C.Node] = {}
    for call in observer_calls(root, method):
        key = (graph_name(call.graph, call.method), call.node.output().unique())
        calls.setdefault(key, call.node)
    for (graph, _), call in calls.items():
        if (graph, call.inputsAt(1).unique()) in keep:
            continue
        get_attr = call.inputsAt(0).node()
        call.output().replaceAllUsesWith(call.inputsAt(1))
        call.destroy()
        if not get_attr.output().uses():
            get_attr.destroy()


def _instances(
    root: torch._C.ScriptModule, prefix: str
) -> Iterator[tuple[str, torch._C.ScriptModule]]:
    """Every instance of the module tree but observers: one the walk never reached still
    shares its type's rewritten graph, so it needs the attribute too."""

    def visit(module: torch._C.ScriptModule, path: str) -> Iterator:
        yield path, module
        for name, child in torch._C._jit_debug_module_iterators(module)["named_children"]:
            if not (is_observer_name(name) or name.startswith(prefix)):
                yield from visit(child, join_path(path, [name]))

    yield from visit(root, "")


def _observer_attributes(module: torch._C.ScriptModule) -> list[str]:
    return [
        name
        for name, _ in torch._C._jit_debug_module_iterators(module)["named_children"]
        if is_observer_name(name)
    ]


def _register(
    root: torch._C.ScriptModule,
    prefix: str,
    replacement: Callable[[str, str, torch._C.ScriptModule], torch.jit.ScriptModule],
) -> dict[tuple[str, str], torch._C.ClassType]:
    """Give every instance ``prefix + attribute`` for each of its observer attributes."""
    # Read every instance before adding attributes: once a shared type has the new slot,
    # reading an instance of it that lacks the slot crashes the process.
    owners = [
        (path, instance, _observer_attributes(instance))
        for path, instance in _instances(root, prefix)
    ]
    types: dict[tuple[str, str], torch._C.ClassType] = {}
    for path, instance, attributes in owners:
        for attribute in attributes:
            made = replacement(path, attribute, instance.getattr(attribute))
            if made is None:
                continue
            instance._register_attribute(prefix + attribute, made._c._type(), made._c)
            types[(instance._type().qualified_name(), prefix + attribute)] = made._c._type()
    return types


def _call(
    graph: torch._C.Graph,
    owner: torch._C.Value,
    name: str,
    types: dict[tuple[str, str], torch._C.ClassType],
    value: torch._C.Value,
    before: torch._C.Node,
) -> torch._C.Value:
    """Insert ``owner.<name>.forward(value)`` before ``before``; return its result."""
    get_attr = graph.create("prim::GetAttr", [owner], 1)
    get_attr.s_("name", name)
    get_attr.insertBefore(before)
    get_attr.output().setType(types[(owner.type().qualified_name(), name)])
    call = graph.create("prim::CallMethod", [get_attr.output(), value], 1)
    call.s_("name", "forward")
    call.insertBefore(before)
    call.output().copyMetadata(value)
    return call.output()


def _redirect(
    graph: torch._C.Graph,
    call: torch._C.Node,
    prefix: str,
    types: dict[tuple[str, str], torch._C.ClassType],
) -> None:
    get_attr = call.inputsAt(0).node()
    result = _call(
        graph, get_attr.inputsAt(0), prefix + get_attr.s("name"), types, call.inputsAt(1), call
    )
    call.output().replaceAllUsesWith(result)
    call.destroy()
    if not get_attr.output().uses():
        get_attr.destroy()


def quantize_linear_inputs(
    root: torch._C.ScriptModule,
    method: str,
    prefix: str,
    replacement: Callable[[str, str, torch._C.ScriptModule], torch.jit.ScriptModule | None],
) -> None:
    """Insert ``replacement(path, weight observer attribute, observer)`` on the input of
    every ``aten::linear`` whose weight is observed.

    This is where ``convert_dynamic_jit`` quantizes a dynamic activation: at each linear
    that uses it (after inlining), never at its other uses; quantizing one value twice
    this way changes nothing, as each pass chooses the same qparams from the same values.
    ``replacement`` returns None for observers that are not such weights.
    """
    linears: dict[tuple[str, int], tuple[torch._C.Graph, torch._C.Node, str]] = {}
    for call in observer_calls(root, method):
        for use in call.node.output().uses():
            if use.user.kind() == "aten::linear" and use.offset == 1:
                key = (graph_name(call.graph, call.method), use.user.output().unique())
                attribute = call.node.inputsAt(0).node().s("name")
                linears.setdefault(key, (call.graph, use.user, attribute))
    types = _register(root, prefix, replacement)
    for graph, linear, attribute in linears.values():
        owner = next(graph.inputs())
        if (owner.type().qualified_name(), prefix + attribute) in types:
            linear.replaceInput(
                0, _call(graph, owner, prefix + attribute, types, linear.inputsAt(0), linear)
            )
