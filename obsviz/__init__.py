"""obsviz: see why PyTorch's graph-mode quantization put observers where it did."""

from __future__ import annotations

from . import events, samples
from .api import (
    insert_observers,
    prepare_dynamic_jit,
    prepare_jit,
    prepare_ondevice_jit,
    steps,
)
from .check import CheckReport, Finding, check
from .diagnosis import BranchState, Diagnosis
from .errors import (
    FunctionWarning,
    LoopWarning,
    ObsvizError,
    ObsvizWarning,
    PassError,
    PassFailure,
    QConfigKeyWarning,
)
from .figures import render
from .fixes import ArgumentFold, fold_attribute_branches, fold_constant_branches
from .loading import load
from .placement import ObserverSite, observer_placement
from .run import Run

__all__ = [
    "ArgumentFold",
    "BranchState",
    "CheckReport",
    "Diagnosis",
    "Explorer",
    "Finding",
    "FunctionWarning",
    "LoopWarning",
    "ObserverSite",
    "ObsvizError",
    "ObsvizWarning",
    "PassError",
    "PassFailure",
    "QConfigKeyWarning",
    "Run",
    "calibration",
    "check",
    "events",
    "fold_attribute_branches",
    "fold_constant_branches",
    "insert_observers",
    "load",
    "observer_placement",
    "prepare_dynamic_jit",
    "prepare_jit",
    "prepare_ondevice_jit",
    "render",
    "samples",
    "steps",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    if name == "Explorer":  # ipywidgets is imported only when the Explorer is used
        from .explorer import Explorer

        return Explorer
    if name == "calibration":  # a function, kept apart from the obsviz.calib package
        from .calib import calibration

        return calibration
    raise AttributeError(f"module 'obsviz' has no attribute {name!r}")
