"""``Figure``: a ``graphviz.Digraph`` that explains a missing Graphviz install in our words."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import graphviz

from ..errors import ObsvizError


class RenderError(ObsvizError):
    """A figure could not be built as asked (unknown module, too many nodes, ...)."""


class GraphvizNotFoundError(RenderError):
    """Graphviz's ``dot`` is not installed; ``source`` still holds the figure's DOT."""

    def __init__(self, source: str) -> None:
        super().__init__(
            "Graphviz's `dot` executable was not found on PATH, so the figure cannot be laid "
            "out as an image. Install Graphviz: `sudo apt-get install graphviz` (Debian, "
            "Ubuntu), `brew install graphviz` (macOS), `conda install -c conda-forge "
            "graphviz`, or see https://graphviz.org/download/ (Windows: add its bin folder "
            "to PATH). The DOT source is still available as `figure.source` (and as this "
            "error's `.source`); `figure.save('view.dot')` writes it to a file."
        )
        self.source = source


def _scalable(match: re.Match[str]) -> str:
    width = re.search(r'width="([\d.]+)pt"', match.group(0))
    style = f' style="max-width:{float(width.group(1)):.0f}pt"' if width else ""
    return f'<svg width="100%"{style}'


@contextmanager
def _needs_dot(source: str) -> Iterator[None]:
    try:
        yield
    except graphviz.ExecutableNotFound as err:
        raise GraphvizNotFoundError(source) from err


class Figure(graphviz.Digraph):
    """An obsviz view. It shows inline in Jupyter; ``.source`` is its DOT text, and
    ``.render("name", format="svg")`` (or ``"png"``, ``"pdf"``) saves it with Graphviz.
    ``.title`` is its title, lines joined by newlines, drawn in it unless asked not to be
    (``title=False``: for a page that shows it above the figure, wrapped to fit)."""

    title: str = ""

    def pipe(self, *args: Any, **kwargs: Any) -> Any:
        with _needs_dot(self.source):
            return super().pipe(*args, **kwargs)

    def render(self, *args: Any, **kwargs: Any) -> Any:
        with _needs_dot(self.source):
            return super().render(*args, **kwargs)

    def svg(self, *, scalable: bool = False) -> str:
        """The figure as an ``<svg>`` element to place in HTML (no XML prolog or DOCTYPE);
        ``scalable`` trades the fixed size in points for the page's width, up to that size."""
        svg = self.pipe(format="svg").decode("utf-8")
        start = svg.find("<svg")
        if start < 0:
            raise RenderError("Graphviz gave no SVG for this figure")
        svg = svg[start:]
        if scalable:
            svg = re.sub(r'<svg width="[^"]*" height="[^"]*"', _scalable, svg, count=1)
        return svg

    def _repr_mimebundle_(
        self, include: Any = None, exclude: Any = None, **kwargs: Any
    ) -> dict[str, Any]:
        try:
            return super()._repr_mimebundle_(include, exclude, **kwargs)
        except GraphvizNotFoundError as err:
            return {"text/plain": f"{err}\n\n{self.source}"}
