"""Model rewrites that avoid known failures of the pass, leaving the input alone."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch.jit._recursive import wrap_cpp_module

from .errors import ObsvizError
from .functions import FunctionResolver
from .graphs import walk_nodes
from .qconfig import named_modules
from .refs import display_path

FOLDABLE = (bool, int, float, str)  # attribute values a graph can hold as a constant


def self_attributes(names: Iterable[str]) -> str:
    """``("p", "training")`` -> ``"self.p, self.training"``, as messages name them."""
    return ", ".join(f"self.{name}" for name in names)


def fold_attribute_branches(model: torch.jit.ScriptModule,
                            attributes: Iterable[str] = ("training",)) -> torch.jit.ScriptModule:
    """A copy of ``model`` where reads of these attributes (bool, int, float or str) are
    constants.

    Constant propagation then removes the ``if self.training:`` (or similar) branches
    that make the pass fail with inconsistently observed branches. A function call that
    takes one of these attributes as an argument is inlined first, so that branches on it
    inside the function fold too; what is left of its body then belongs to the method and
    is observed like the method's own ops. Every instance of a class type must hold the
    same value, since they share one graph.
    """
    names = set(attributes)
    cloned = torch._C._hack_do_not_use_clone_module_with_class(model._c, [], [])
    functions = FunctionResolver(model._c)
    values_by_type, problems = _attribute_values(named_modules(cloned), names)
    if problems:
        raise ObsvizError(next(iter(problems.values())))
    found = {name for values in values_by_type.values() for name in values}
    missing = sorted(names - found)
    if missing:
        raise ObsvizError(f"no module of the model has an attribute {missing[0]!r} to fold "
                          "(attributes are the names modules read as self.<name>)")
    done: set[str] = set()
    for _, module in named_modules(cloned):
        type_name = module._type().qualified_name()
        if type_name in done:
            continue
        done.add(type_name)
        folded = values_by_type.get(type_name, {})
        for method in module._method_names():
            graph = module._get_method(method).graph
            self_unique = next(graph.inputs()).unique()
            calls_given_constants: list[torch._C.Node] = []
            for node in list(walk_nodes(graph.block())):
                if node.kind() != "prim::GetAttr" or node.s("name") not in folded:
                    continue
                if node.inputsAt(0).unique() != self_unique:
                    continue
                constant = graph.insertConstant(folded[node.s("name")])
                constant.node().moveBefore(node)
                node.output().replaceAllUsesWith(constant)
                node.destroy()
                calls_given_constants += [use.user for use in constant.uses()
                                          if use.user.kind() == "prim::CallFunction"]
            for call in dict.fromkeys(calls_given_constants):
                _inline_function_call(graph, call, functions)
            torch._C._jit_pass_constant_propagation(graph)
            torch._C._jit_pass_dce(graph)
    return wrap_cpp_module(cloned)


def _attribute_values(instances: Iterable[tuple[str, torch._C.ScriptModule]], names: set[str]
                      ) -> tuple[dict[str, dict[str, object]], dict[str, str]]:
    """The value of each named attribute per class type, and why any cannot be folded: a
    message per attribute whose value is not a scalar, or differs between instances
    sharing a type (and so a graph)."""
    values_by_type: dict[str, dict[str, object]] = {}
    problems: dict[str, str] = {}
    for path, module in instances:
        type_name = module._type().qualified_name()
        for name in sorted(names):
            if not module.hasattr(name):
                continue
            value = module.getattr(name)
            if not isinstance(value, FOLDABLE):
                problems.setdefault(name, f"{display_path(path)}.{name} is "
                                    f"{type(value).__name__}; only bool, int, float and str "
                                    "attributes can be folded")
                continue
            seen = values_by_type.setdefault(type_name, {})
            if seen.setdefault(name, value) != value:
                class_name = type_name.rsplit(".", 1)[-1]
                problems.setdefault(name, f"{display_path(path)}.{name} is {value} but another "
                                    f"{class_name} has {seen[name]}; they share one graph, "
                                    "so the attribute cannot be folded")
    return values_by_type, problems


def fold_problems(model: torch._C.ScriptModule, module_path: str,
                  attributes: Iterable[str]) -> dict[str, str]:
    """Why :func:`fold_attribute_branches` cannot fold each of these attributes of the
    module at ``module_path`` (those missing from the result can be folded)."""
    module = model
    for name in module_path.split(".") if module_path else ():
        if not module.hasattr(name):
            return {}  # a path of a clone the model lacks: nothing to check it against
        module = module.getattr(name)
    own_type = module._type()
    instances = [(path, m) for path, m in named_modules(model) if m._type() == own_type]
    return _attribute_values(instances, set(attributes))[1]


def _inline_function_call(graph: torch._C.Graph, call: torch._C.Node,
                          functions: FunctionResolver) -> None:
    """Replace ``call`` by a copy of the function's body, so that branches inside it
    on the folded arguments fold too (``stochastic_depth(x, self.p, ..., self.training)``).
    """
    body, _ = functions(call)
    with graph.insert_point_guard(call):
        outputs = graph.insertGraph(body, list(call.inputs())[1:])
    for old, new in zip(call.outputs(), outputs, strict=True):
        old.replaceAllUsesWith(new)
    call.destroy()
