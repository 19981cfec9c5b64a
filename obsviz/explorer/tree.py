"""The module tree: one row per submodule, with its type and a qconfig menu.

Rows are made when their parent is expanded (a ResNet-50 has 170 modules; a user
looks at a few), and each shows the qconfig that applies to it and where from, and
how many observers the run put in its subtree.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass

import ipywidgets as widgets
import torch

from ..figures.style import short_type
from ..qconfig import named_children
from ..refs import TOP, display_path
from .choices import INHERIT
from .state import ExplorerState


@dataclass(frozen=True)
class ModuleInfo:
    path: str
    name: str  # the attribute name ("<top>" for the model)
    type_name: str
    depth: int
    children: tuple[str, ...]


def module_infos(model: torch.jit.ScriptModule) -> dict[str, ModuleInfo]:
    """Every module instance of the model by path, parents before children."""
    infos: dict[str, ModuleInfo] = {}

    def visit(module: torch._C.ScriptModule, path: str, name: str, depth: int) -> None:
        children = [(n, c) for n, c in named_children(module)]
        paths = tuple(f"{path}.{n}" if path else n for n, _ in children)
        infos[path] = ModuleInfo(
            path, name, short_type(module._type().qualified_name()), depth, paths
        )
        for (child_name, child), child_path in zip(children, paths, strict=True):
            visit(child, child_path, child_name, depth + 1)

    visit(model._c, "", TOP, 0)
    return infos


def css_name(path: str) -> str:
    """A CSS class naming a module's row, for tests and the browser: ``obsviz-m-layer1-0``."""
    return "obsviz-m-" + (re.sub(r"[^A-Za-z0-9_-]", "-", path) if path else "top")


class TreeRow(widgets.HBox):
    """One module: expand button, name and type, qconfig menu, what applies and why."""

    def __init__(
        self,
        info: ModuleInfo,
        choices: tuple[str, ...],
        on_choice: Callable[[str, str], None],
        on_toggle: Callable[[str], None],
        on_show: Callable[[str], None],
    ) -> None:
        self.info = info
        self.expanded = False
        self.toggle = widgets.Button(
            description="▸" if info.children else "",
            disabled=not info.children,
            tooltip="show its submodules" if info.children else "",
            layout=widgets.Layout(width="28px", padding="0"),
        )
        self.toggle.add_class("obsviz-toggle")
        self.toggle.on_click(lambda _: on_toggle(info.path))
        self.name = widgets.Button(
            description=f"{info.name} · {info.type_name}",
            tooltip=f"{display_path(info.path)} ({info.type_name}): click to show it in the graph",
            layout=widgets.Layout(
                width="175px", min_width="175px", padding=f"0 0 0 {4 + info.depth * 12}px"
            ),
        )
        self.name.add_class("obsviz-name")
        self.name.on_click(lambda _: on_show(info.path))
        self.dropdown = widgets.Dropdown(
            options=choices, value=INHERIT, layout=widgets.Layout(width="135px", min_width="135px")
        )
        self.dropdown.add_class("obsviz-qconfig")
        self.dropdown.add_class(css_name(info.path))
        self.dropdown.observe(self._changed, names="value")
        self.on_choice = on_choice
        self.hint = widgets.HTML(layout=widgets.Layout(width="auto"))
        self.hint.add_class("obsviz-hint")
        self._syncing = False
        super().__init__(
            [self.toggle, self.name, self.dropdown, self.hint],
            layout=widgets.Layout(align_items="center", width="100%"),
        )
        self.add_class("obsviz-row")
        self.add_class(css_name(info.path))

    def _changed(self, change: dict) -> None:
        if not self._syncing:
            self.on_choice(self.info.path, change["new"])

    def sync(self, state: ExplorerState, observers: int | None) -> None:
        own = state.choice(self.info.path)
        self._syncing = True
        try:
            self.dropdown.value = own
        finally:
            self._syncing = False
        self.dropdown.layout.border = "" if own == INHERIT else "2px solid #0072B2"
        parts = []
        if own == INHERIT:  # what it inherits, and from where unless from the top
            applied, key = state.effective(self.info.path)
            parts.append(
                "no qconfig" if key is None else applied if key == "" else f"{applied} from {key}"
            )
        if observers is not None:
            parts.append(f"{observers} obs.")
        tip = "the qconfig it inherits · observers the pass put in it and its submodules"
        self.hint.value = f"<span title='{tip}'>{html.escape(' · '.join(parts))}</span>"


class ModuleTree(widgets.VBox):
    """The model's modules as an expandable tree of :class:`TreeRow`."""

    def __init__(
        self,
        infos: dict[str, ModuleInfo],
        choices: tuple[str, ...],
        on_choice: Callable[[str, str], None],
        on_show: Callable[[str], None],
    ) -> None:
        self.infos = infos
        self.choices = choices
        self.on_choice = on_choice
        self.on_show = on_show
        self.rows: dict[str, TreeRow] = {}
        self.state: ExplorerState | None = None
        self.counts: dict[str, int] | None = None
        super().__init__(layout=widgets.Layout(max_height="560px", overflow="auto", width="100%"))
        self.add_class("obsviz-tree")
        self.toggle("")

    def _row(self, path: str) -> TreeRow:
        row = self.rows.get(path)
        if row is None:
            row = self.rows[path] = TreeRow(
                self.infos[path], self.choices, self.on_choice, self.toggle, self.on_show
            )
            if self.state is not None:
                row.sync(self.state, self._count(path))
        return row

    def toggle(self, path: str) -> None:
        """Expand or collapse a module's row."""
        row = self._row(path)
        row.expanded = not row.expanded and bool(row.info.children)
        row.toggle.description = "▾" if row.expanded else ("▸" if row.info.children else "")
        self._layout()

    def expand_to(self, path: str) -> TreeRow:
        """Expand every parent of ``path`` and give its row (as a user clicking ▸ would)."""
        parts = path.split(".") if path else []
        for end in range(len(parts)):
            parent = ".".join(parts[:end])
            if not self._row(parent).expanded:
                self.toggle(parent)
        return self._row(path)

    def _layout(self) -> None:
        shown: list[TreeRow] = []

        def add(path: str) -> None:
            row = self._row(path)
            shown.append(row)
            if row.expanded:
                for child in row.info.children:
                    add(child)

        add("")
        self.children = shown

    def _count(self, path: str) -> int | None:
        if self.counts is None:
            return None
        prefix = f"{path}."
        return sum(
            n for p, n in self.counts.items() if not path or p == path or p.startswith(prefix)
        )

    def sync(self, state: ExplorerState, counts: dict[str, int] | None) -> None:
        """Show the state's choices and the run's observer counts on every made row."""
        self.state, self.counts = state, counts
        for path, row in self.rows.items():
            row.sync(state, self._count(path))
