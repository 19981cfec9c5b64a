"""Small frozen references to graphs and values that outlive torch's transient wrappers,
and the keys views find values by."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

TOP = "<top>"
"""How the top module's instance path (``""``) is shown."""


def display_path(path: str) -> str:
    """An instance path as people read it: ``<top>`` for the top module."""
    return path or TOP


def method_label(path: str, method: str) -> str:
    """``layer1.0.forward``: a method of the instance at ``path``."""
    return f"{display_path(path)}.{method}"


def value_label(path: str, method: str, name: str) -> str:
    """``layer1.0:forward:%x.1``: a value, by its debug name, of a method of an instance."""
    return f"{display_path(path)}:{method}:%{name}"


def join_path(path: str, names: Sequence[str]) -> str:
    """The instance path of ``self.a.b`` (``names``) of the instance at ``path``."""
    return ".".join([path, *names] if path else names)


class ValueKey(NamedTuple):
    """One value of one graph, as the pass keys its maps (every instance of a class type
    runs the same graph)."""

    graph: str  # the graph's qualname
    unique: int


class InstanceKey(NamedTuple):
    """A module instance running a method (or a function called from it)."""

    path: str  # "" for the top module
    method: str

    def loc(self, unique: int) -> Loc:
        """One value of this instance's graph."""
        return Loc(self.path, self.method, unique)

    def __str__(self) -> str:
        return method_label(self.path, self.method)


class Loc(NamedTuple):
    """One value of one instance: where views find its verdict, name and row."""

    path: str
    method: str
    unique: int

    @property
    def instance(self) -> InstanceKey:
        return InstanceKey(self.path, self.method)

    def __str__(self) -> str:
        return f"{self.instance}:{self.unique}"


@dataclass(frozen=True, slots=True)
class GraphRef:
    """A method graph (``owner`` is the class type after cloning) or a function graph.

    ``qualname`` is the qualified name of the torch Function that owns the graph; it is
    what the engine keys its maps by.
    """

    qualname: str
    kind: str = "method"  # "method" or "function"

    @property
    def owner(self) -> str:
        return self.qualname.rsplit(".", 1)[0] if self.kind == "method" else self.qualname

    @property
    def method(self) -> str:
        return self.qualname.rsplit(".", 1)[-1]

    def __str__(self) -> str:
        return self.qualname


@dataclass(frozen=True, slots=True)
class ValueRef:
    """One value of one graph, by the value's ``unique()`` id in that graph.

    ``name`` is its debug name when the reference was taken; ``module_path`` is the
    instance the engine was working in (one of possibly many sharing the graph).
    """

    graph: GraphRef
    unique: int
    name: str
    module_path: str = ""

    @property
    def key(self) -> ValueKey:
        return ValueKey(self.graph.qualname, self.unique)

    def __str__(self) -> str:
        return value_label(self.module_path, self.graph.method, self.name)
