"""Loading saved TorchScript models so that obsviz can follow their functions."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import torch
from torch.jit._recursive import wrap_cpp_module

from .errors import ObsvizError
from .functions import register_compilation_unit


def load(path: str | os.PathLike[str]) -> torch.jit.ScriptModule:
    """``torch.jit.load`` that keeps the model's compilation unit for obsviz.

    Functions a saved model calls live in that unit; obsviz needs their graphs to follow
    ``prim::CallFunction`` the way the pass does.
    """
    file = Path(path)
    if not file.exists():
        raise ObsvizError(f"{file}: no such file")
    if file.is_dir():
        raise ObsvizError(f"{file}: is a directory, not a saved TorchScript model")
    if not zipfile.is_zipfile(file):
        raise ObsvizError(
            f"{file}: not a TorchScript file (torch.jit.save writes a zip "
            "archive); save the model with torch.jit.save(torch.jit.script(m))"
        )
    unit = torch._C.CompilationUnit()
    try:
        module = torch._C.import_ir_module(unit, os.fspath(file), None, {}, False)
    except RuntimeError as err:
        first = str(err).strip().splitlines()[0].split(". ")[0]
        raise ObsvizError(
            f"{file}: torch.jit.load cannot read it as TorchScript ({first}). "
            "Is it a state_dict or a torch.save() pickle? obsviz needs a "
            "model saved with torch.jit.save."
        ) from err
    register_compilation_unit(unit)
    return wrap_cpp_module(module)
