"""Finding the graph of a user-defined function called with ``prim::CallFunction``.

Torch's Python bindings do not expose a ``FunctionType``'s function, so functions are
looked up by the type's qualified name in the compilation units obsviz knows: the one
``torch.jit.script`` compiles into, and those of models loaded with :func:`obsviz.load`.
The unit that holds the model's own class is searched first: a loaded model and this
session may both define ``__torch__.helper``, and the model calls its own.
"""

from __future__ import annotations

import torch

from .errors import ObsvizError
from .rules import get_func_name

# Held strongly: the loaded module keeps its C++ unit alive, but not this Python handle
# to it, and the handle is the only way to reach the unit's functions from Python.
_loaded_units: list[torch._C.CompilationUnit] = []


def register_compilation_unit(unit: torch._C.CompilationUnit) -> None:
    """Make the functions of ``unit`` (e.g. a loaded model's) resolvable."""
    if not any(known is unit for known in _loaded_units):
        _loaded_units.append(unit)


def _units_for(module: torch._C.ScriptModule | None) -> list[torch._C.CompilationUnit]:
    """Every known unit, the one defining ``module``'s class first."""
    units = [torch.jit._state._python_cu, *_loaded_units]
    if module is None:
        return units
    own_type = module._type()
    owners = [unit for unit in units if unit.get_class(own_type.qualified_name()) == own_type]
    return owners + [unit for unit in units if not any(unit is owner for owner in owners)]


class FunctionResolver:
    """Resolves CallFunction nodes to (graph, qualified name), caching per run.

    ``module`` is the model being walked (a ``torch._C.ScriptModule``); its
    compilation unit wins when several define the same qualified name.
    """

    def __init__(self, module: torch._C.ScriptModule | None = None) -> None:
        self._units = _units_for(module)
        self._by_name: dict[str, list[torch._C.ScriptFunction]] | None = None
        self._cache: dict[str, tuple[torch._C.Graph, str]] = {}

    def _index(self) -> dict[str, list[torch._C.ScriptFunction]]:
        if self._by_name is None:
            self._by_name = {}
            for unit in self._units:
                for fn in unit.get_functions():
                    self._by_name.setdefault(fn.name, []).append(fn)
        return self._by_name

    def __call__(self, node: torch._C.Node) -> tuple[torch._C.Graph, str]:
        fn_type = node.inputsAt(0).type()
        if fn_type.kind() == "FunctionType":
            # The value's type names the function exactly; functions of one name in two
            # modules (or redefined in a notebook, mangled) are different functions.
            qualified = fn_type.annotation_str
            cached = self._cache.get(qualified)
            if cached is None:
                cached = self._by_qualified_name(qualified)
            if cached is not None:
                self._cache[qualified] = cached
                return cached
        return self._by_short_name(node)

    def _by_qualified_name(self, qualified: str) -> tuple[torch._C.Graph, str] | None:
        for unit in self._units:
            fn = unit.find_function(qualified)
            if fn is not None:
                return fn.graph, fn.qualified_name
        return None

    def _by_short_name(self, node: torch._C.Node) -> tuple[torch._C.Graph, str]:
        """The last resort: a function of that short name, arity and argument types."""
        name = get_func_name(node.inputsAt(0))
        arity = node.inputsSize() - 1
        candidates = [
            f for f in self._index().get(name, ()) if len(list(f.graph.inputs())) == arity
        ]
        if len(candidates) > 1:
            wanted = [str(node.inputsAt(i + 1).type()) for i in range(arity)]
            typed = [f for f in candidates if [str(v.type()) for v in f.graph.inputs()] == wanted]
            candidates = typed or candidates
        if not candidates:
            raise ObsvizError(
                f"cannot find the graph of function {name!r} called by "
                f"%{node.outputsAt(0).debugName() if node.outputsSize() else '?'}; load saved "
                "models with obsviz.load() so their functions can be resolved"
            )
        fn = candidates[0]
        return fn.graph, fn.qualified_name
