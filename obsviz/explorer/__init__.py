"""The Explorer: an ipywidgets app to toggle qconfigs, step through the pass, and ask why.

``state`` holds the UI state and its qconfig choices, ``session`` the runs kept by run
key, ``panels`` the HTML of each panel as pure functions of a run and a state, and
``app`` the widgets.
"""

from __future__ import annotations

from .app import Explorer
from .choices import INHERIT, Choice, QConfigChoices
from .state import ExplorerState

__all__ = ["INHERIT", "Choice", "Explorer", "ExplorerState", "QConfigChoices"]
