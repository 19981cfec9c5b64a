"""The errors of the pass's checks: what obsviz says, and what the real pass says there.

Each function builds the :class:`PassError` of one check of ``InsertObservers`` that
fails: a message naming the module path, method and value, the details
:mod:`obsviz.diagnosis` reads to say what to change, and, word for word, the message torch
raises at the same point (:mod:`obsviz.torch_messages`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import torch

from . import torch_messages
from .errors import PassError
from .graphs import is_method_graph, producer_summary, source_line, sources_behind
from .refs import ValueRef, display_path, method_label

if TYPE_CHECKING:
    from .engine import InstanceGraph, ObserverConfig

Value = torch._C.Value
Node = torch._C.Node


def module_access_path(
    path: str, method: str, n: Node, traced_to: Value, self_value: Value | None
) -> PassError:
    """``getModuleAccessPath``: what ``n`` (a ``CallMethod`` or ``GetAttr`` of ``method``
    of the instance at ``path``) calls or reads traces back to ``traced_to``, not self."""
    self_name = f" (%{self_value.debugName()})" if self_value is not None else ""
    return PassError(
        f"{method_label(path, method)}: can't handle the access pattern of GetAttr in "
        f"getModuleAccessPath: {n.kind()} on %{n.inputsAt(0).debugName()} traces back to "
        f"%{traced_to.debugName()} ({producer_summary(traced_to)}), which is not "
        f"self{self_name}. The pass follows only submodules reached as self.a.b...; call "
        "submodules and read attributes through attributes of self.",
        rule="getModuleAccessPath",
        module_path=path,
        method=method,
        value=traced_to.debugName(),
        details={
            "node": n.kind(),
            "source": source_line(n),
            "call": n.outputsAt(0).debugName() if n.outputsSize() else None,
            "traced_to": producer_summary(traced_to),
        },
        cpp_message=torch_messages.module_access_path(traced_to, self_value)
        if self_value is not None
        else "",
    )


def object_argument(path: str, method: str, argument: Value) -> PassError:
    """``ModuleCloneHelper::remapTypes``: a method takes an object as argument."""
    return PassError(
        f"{method_label(path, method)}: argument %{argument.debugName()} is an object "
        f"({argument.type()}); the pass does not support quantizing methods that have Object "
        "arguments. Pass tensors, or reach the object through an attribute of self.",
        rule="remapTypes",
        module_path=path,
        method=method,
        value=argument.debugName(),
        details={"type": argument.type().annotation_str.removeprefix("__torch__.")},
        cpp_message=torch_messages.OBJECT_ARGUMENTS,
    )


def observer_conflict(
    value: ValueRef,
    sources: Sequence[tuple[ValueRef, ObserverConfig]],
    explicit_keys: frozenset[str],
) -> PassError:
    """``getObserverFor`` found two observer modules for one value across calls."""
    parts = [
        f"{where} ({observer.class_name}, {observer.role}, from "
        f"qconfig_dict[{observer.qconfig.key!r}])"
        for where, observer in sources
    ]
    return PassError(
        f"{value}: the values this one maps to across calls are configured with "
        f"different observer modules: {' and '.join(parts)}; the pass expects one "
        "observer module per value.",
        rule="getObserverFor",
        module_path=value.module_path,
        method=value.graph.method,
        value=value.name,
        cpp_message=torch_messages.ONE_OBSERVER,
        details={"observers": list(sources), "keys": explicit_keys},
    )


def user_defined_function(
    path: str, function: str, v: Value, observer: ObserverConfig
) -> PassError:
    """``insertObserversFor``: a value inside a user-defined function needs an observer."""
    return PassError(
        f"{display_path(path)}: %{v.debugName()} in function {function} needs an "
        f"observer ({observer.class_name}); inserting observers for user "
        "defined functions is not supported. Make the function a method of a "
        "submodule, or inline its quantizable ops into the caller.",
        rule="insertObserversFor",
        module_path=path,
        method=function.rsplit(".", 1)[-1],
        value=v.debugName(),
        cpp_message=torch_messages.USER_DEFINED_FUNCTIONS,
    )


def observer_without_reset(
    path: str, method: str, v: Value, attribute: str, observer: torch._C.ScriptModule
) -> PassError:
    """``insertObserverResetMinMax``: on-device PTQ's reset method calls
    ``reset_min_max_vals`` on every observer it inserted, and this one has none."""
    class_name = observer._type().name()
    return PassError(
        f"{method_label(path, method)}: the observer {attribute} ({class_name}) on "
        f"%{v.debugName()} has no reset_min_max_vals, which on-device PTQ's reset method "
        "calls on every observer it inserts.",
        rule="insertObserverResetMinMax",
        module_path=path,
        method=method,
        value=v.debugName(),
        details={"attribute": attribute, "observer": class_name},
        cpp_message=torch_messages.OBSERVER_WITHOUT_RESET,
    )


def inconsistent_if(
    n: Node,
    instance: InstanceGraph,
    states: list[tuple[int, list[bool]]],
    call_stack: list,
    ref: Callable[[Value], ValueRef],
) -> PassError:
    """``insertObserversFor``: the branches of an ``If`` in ``instance`` return values observed
    differently.

    ``states`` holds, per branch walked, whether each output is observed; ``call_stack``
    the calls the walk is inside, to find what the condition depends on.
    """
    outputs = ", ".join(f"%{v.debugName()}" for v in n.outputs())
    lines = [
        f"{method_label(instance.path, instance.method)}: branches for 'if' should return "
        f"values that are observed consistently (If node with outputs {outputs}).",
    ]
    for index, state in states:
        marks = ", ".join("observed" if s else "not observed" for s in state)
        lines.append(f"  branch {index}: {marks}")
    lines.append(
        "Make both branches return values of the same kind (e.g. both outputs of "
        "quantizable ops), or remove the branch for the mode you quantize in."
    )
    blocks = list(n.blocks())
    condition = n.inputsAt(0)
    details = {
        "node": n.kind(),
        "source": source_line(n),
        "condition": condition.debugName(),
        "condition_producer": producer_summary(condition),
        "condition_sources": sources_behind(condition, instance.graph, call_stack),
        "function": None if is_method_graph(instance.graph) else instance.qualname,
        "outputs": [ref(v) for v in n.outputs()],
        "branches": [
            (index, [ref(v) for v in blocks[index].outputs()], state) for index, state in states
        ],
    }
    return PassError(
        "\n".join(lines),
        rule="insertObserversFor",
        module_path=instance.path,
        method=instance.method,
        value=outputs,
        details=details,
        cpp_message=torch_messages.if_branches(n),
    )


def empty_observer_slots(empty: list[tuple[str, str]]) -> PassError:
    """obsviz's own check: a module with an empty submodule slot crashes torch when read."""
    path, attribute = empty[0]
    others = f" (and {len(empty) - 1} more)" if len(empty) > 1 else ""
    return PassError(
        f"{display_path(path)}: attribute {attribute} holds no value{others}; torch crashes "
        "reading such a module, so obsviz does not return it.",
        rule="emptyObserverSlot",
        module_path=path,
        value=attribute,
        details={"empty_slots": empty},
    )
