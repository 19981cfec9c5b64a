"""Model rewrites that avoid known failures of the pass, leaving the input alone."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch.jit._recursive import wrap_cpp_module

from .errors import ObsvizError
from .graphs import walk_nodes
from .qconfig import named_modules


def fold_attribute_branches(model: torch.jit.ScriptModule,
                            attributes: Iterable[str] = ("training",)) -> torch.jit.ScriptModule:
    """A copy of ``model`` where reads of these attributes (bool, int, float or str) are
    constants.

    Constant propagation then removes the ``if self.training:`` (or similar) branches
    that make the pass fail with inconsistently observed branches. Every instance of a
    class type must hold the same value, since they share one graph.
    """
    names = set(attributes)
    cloned = torch._C._hack_do_not_use_clone_module_with_class(model._c, [], [])
    values_by_type: dict[str, dict[str, object]] = {}
    for path, module in named_modules(cloned):
        type_name = module._type().qualified_name()
        for name in names:
            if not module.hasattr(name):
                continue
            value = module.getattr(name)
            if not isinstance(value, bool | int | float | str):
                raise ObsvizError(f"{path or '<top>'}.{name} is {type(value).__name__}; "
                                  "only bool, int, float and str attributes can be folded")
            seen = values_by_type.setdefault(type_name, {})
            if seen.setdefault(name, value) != value:
                raise ObsvizError(
                    f"{path or '<top>'}.{name} is {value} but another instance of "
                    f"{type_name} has {seen[name]}; they share one graph, so the attribute "
                    "cannot be folded")
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
            for node in list(walk_nodes(graph.block())):
                if node.kind() != "prim::GetAttr" or node.s("name") not in folded:
                    continue
                if node.inputsAt(0).unique() != self_unique:
                    continue
                constant = graph.insertConstant(folded[node.s("name")])
                constant.node().moveBefore(node)
                node.output().replaceAllUsesWith(constant)
                node.destroy()
            torch._C._jit_pass_constant_propagation(graph)
            torch._C._jit_pass_dce(graph)
    return wrap_cpp_module(cloned)
