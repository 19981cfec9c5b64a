"""Graphviz figures of TorchScript graphs, before and after ``InsertObservers``.

``obsviz.render(model)`` draws any scripted model or graph; ``run.render(...)`` draws a
run's graphs before and after the pass and their diff, coloured by what the pass decided
for each value. Figures are :class:`Figure` objects (``graphviz.Digraph``): they show
inline in Jupyter and save with ``.render("name", format="svg" | "png" | "pdf")``.
"""

from __future__ import annotations

import torch

from ..functions import FunctionResolver
from .figure import Figure, GraphvizNotFoundError, RenderError
from .graph import DEFAULT_MAX_NODES, Mark, Options, Scope, TooManyNodesError, draw
from .run_figures import render_run, render_value
from .style import STATES

__all__ = [
    "DEFAULT_MAX_NODES",
    "STATES",
    "Figure",
    "GraphvizNotFoundError",
    "Mark",
    "RenderError",
    "TooManyNodesError",
    "render",
    "render_run",
    "render_value",
]


def render(
    graph: object,
    *,
    method: str = "forward",
    depth: int = 0,
    show_constants: bool = False,
    show_params: bool = False,
    show_lists: bool = False,
    max_nodes: int | None = DEFAULT_MAX_NODES,
    legend: bool = True,
    rankdir: str = "TB",
) -> Figure:
    """Draw a TorchScript graph, a scripted module's ``method``, or a scripted function.

    Ops are nodes, values are edges labelled ``%name : Type``. Constants, parameters and
    list/tuple construction are folded into their users unless ``show_constants`` /
    ``show_params`` / ``show_lists``. Submodule and function calls stay collapsed unless
    ``depth`` > 0 (submodules only for modules: a bare graph does not know them).
    ``max_nodes`` stops a figure too big to read (None draws anything); ``rankdir="LR"``
    lays it out sideways.
    """
    scope = _scope_of(graph, method)
    options = Options(
        depth=depth,
        show_constants=show_constants,
        show_params=show_params,
        show_lists=show_lists,
        max_nodes=max_nodes,
        legend=legend,
        rankdir=rankdir,
        functions=FunctionResolver(scope.module),
        narrow_hint="render one submodule's graph, or a smaller depth",
    )
    return draw(scope, options=options)


def _scope_of(graph: object, method: str) -> Scope:
    if isinstance(graph, torch.jit.ScriptModule):
        graph = graph._c
    if isinstance(graph, torch._C.ScriptModule):
        if not graph._has_method(method):
            raise RenderError(
                f"the module has no method {method!r} (its methods: "
                f"{', '.join(graph._method_names()) or 'none'})"
            )
        return Scope(graph._get_method(method).graph, "", method, graph)
    if isinstance(graph, torch._C.Graph):
        return Scope(graph, "", method, None)
    inner = getattr(graph, "graph", None)
    if isinstance(inner, torch._C.Graph):
        return Scope(inner, "", getattr(graph, "name", method), None)
    raise RenderError(
        f"cannot render a {type(graph).__name__}: pass a TorchScript graph "
        "(model.graph), a scripted module or a scripted function"
    )
