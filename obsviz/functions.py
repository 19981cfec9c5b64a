"""Finding the graph of a user-defined function called with ``prim::CallFunction``.

Torch's Python bindings do not expose a ``FunctionType``'s function, so functions are
looked up by name in the compilation units obsviz knows: the one ``torch.jit.script``
compiles into, and those of models loaded with :func:`obsviz.load`.
"""

from __future__ import annotations

import weakref

import torch

from .errors import ObsvizError
from .rules import get_func_name

_extra_units: weakref.WeakSet = weakref.WeakSet()


def register_compilation_unit(cu: torch._C.CompilationUnit) -> None:
    """Make the functions of ``cu`` (e.g. a loaded model's) resolvable."""
    _extra_units.add(cu)


class FunctionResolver:
    """Resolves CallFunction nodes to (graph, qualified name), caching per run."""

    def __init__(self) -> None:
        self._by_name: dict[str, list[torch._C.ScriptFunction]] | None = None
        self._cache: dict[tuple[str, int], tuple[torch._C.Graph, str]] = {}

    def _index(self) -> dict[str, list[torch._C.ScriptFunction]]:
        if self._by_name is None:
            self._by_name = {}
            units = [torch.jit._state._python_cu, *list(_extra_units)]
            for cu in units:
                for fn in cu.get_functions():
                    self._by_name.setdefault(fn.name, []).append(fn)
        return self._by_name

    def __call__(self, node: torch._C.Node) -> tuple[torch._C.Graph, str]:
        name = get_func_name(node.inputsAt(0))
        arity = node.inputsSize() - 1
        cached = self._cache.get((name, arity))
        if cached is not None:
            return cached
        candidates = [f for f in self._index().get(name, ())
                      if len(list(f.graph.inputs())) == arity]
        if len(candidates) > 1:
            wanted = [str(node.inputsAt(i + 1).type()) for i in range(arity)]
            typed = [f for f in candidates
                     if [str(v.type()) for v in f.graph.inputs()] == wanted]
            candidates = typed or candidates
        if not candidates:
            raise ObsvizError(
                f"cannot find the graph of function {name!r} called by "
                f"%{node.outputsAt(0).debugName() if node.outputsSize() else '?'}; load saved "
                "models with obsviz.load() so their functions can be resolved")
        fn = candidates[0]
        result = (fn.graph, fn.qualified_name)
        self._cache[(name, arity)] = result
        return result
