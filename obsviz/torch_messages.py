"""The messages of the C++ checks obsviz mirrors, formatted as torch formats them.

``TORCH_CHECK(cond, a, b, ...)`` joins its arguments with nothing in between, and prints
a value by its ``debugName()``. Each function returns what the real pass would raise at
the same point, so users can search for the words torch prints (torch 2.13 texts).
"""

from __future__ import annotations

import torch

# ModuleCloneHelper::remapTypes (insert_observers.cpp)
OBJECT_ARGUMENTS = "We don't support quantizing methods that has Object as arguments"
# InsertObserversHelper::getObserverFor (insert_observers.cpp)
ONE_OBSERVER = "Expecting all values in the graph only configured with one observer"
# InsertObserversHelper::insertObserversFor (insert_observers.cpp)
USER_DEFINED_FUNCTIONS = "Inserting observers for user defined functions is not supported right now"
IF_BRANCHES = "branches for `if` should return values that are observed consistently, if node:"
# InsertObserversHelper::insertObserverResetMinMax (insert_observers.cpp): Module::get_method
OBSERVER_WITHOUT_RESET = "Method 'reset_min_max_vals' is not defined."


def module_access_path(traced_to: torch._C.Value, self_value: torch._C.Value) -> str:
    """``getModuleAccessPath`` (helper.cpp): the chain of ``GetAttr`` does not end at self.

    The two string literals of the C++ source meet with two spaces between them.
    """
    return (
        "Can't handle the access pattern of GetAttr  in getModuleAccessPath, traced back "
        f"to:{traced_to.debugName()} which is not self:{self_value.debugName()}"
    )


def if_branches(node: torch._C.Node) -> str:
    """The first line of the ``prim::If`` check's message: torch prints the whole node
    after it, blocks included, whose value numbering inside the branches is the real
    pass's own; the node's first line (outputs, condition, source) is the same in both."""
    return IF_BRANCHES + str(node).splitlines()[0]
