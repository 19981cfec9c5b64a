"""Saved TorchScript models: loaded with their functions, bad files refused clearly."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest
import torch
from torch.ao.quantization import get_default_qconfig
from torch.jit._recursive import wrap_cpp_module

import obsviz
from obsviz.placement import observer_placement

from .corpus import case, real_insert_observers, real_pass, script

# The saved model calls a function that does a linear; the session's function of the
# same qualified name (same module name, other file) only adds.
SAVED_SOURCE = """
import torch
def project(x, w):
    return torch.nn.functional.linear(x, w)
class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.randn(4, 4))
        self.fc = torch.nn.Linear(4, 4)
    def forward(self, x):
        return self.fc(project(x, self.w))
"""
SESSION_SOURCE = SAVED_SOURCE.replace("torch.nn.functional.linear(x, w)", "x + w")
MODULE_NAME = "obsviz_saved_net"


def save_in_another_process(directory: Path) -> Path:
    """``directory``/net.pt, scripted and saved by a fresh interpreter."""
    (directory / f"{MODULE_NAME}.py").write_text(SAVED_SOURCE)
    path = directory / "net.pt"
    subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
        import torch, {MODULE_NAME}
        torch.jit.save(torch.jit.script({MODULE_NAME}.Net()), {str(path)!r})
        """),
        ],
        cwd=directory,
        check=True,
    )
    return path


def real_pass_on_file(path: Path, qconfig_dict: dict) -> torch.jit.ScriptModule:
    model = torch.jit.load(path)
    return wrap_cpp_module(real_pass(model, qconfig_dict))


def test_a_saved_model_calling_functions_matches_the_scripted_one(tmp_path: Path) -> None:
    c = case("function_call_scale_static")
    model = script(c)
    path = tmp_path / "model.pt"
    torch.jit.save(model, path)
    loaded = obsviz.load(path)
    run = obsviz.insert_observers(loaded, c.qconfig_dict())
    assert observer_placement(run.module) == observer_placement(real_insert_observers(c, model))


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("missing.pt", "no such file"),
        ("", "is a directory"),
        ("weights.pt", r"cannot read it as TorchScript.*torch.save\(\) pickle"),
        ("model.py", "not a TorchScript file"),
    ],
)
def test_bad_files_get_errors_that_say_what_they_are(
    tmp_path: Path, name: str, message: str
) -> None:
    torch.save({"weight": torch.ones(1)}, tmp_path / "weights.pt")
    (tmp_path / "model.py").write_text("print('hi')\n")
    with pytest.raises(obsviz.ObsvizError, match=message):
        obsviz.load(tmp_path / name)


def test_a_model_saved_elsewhere_has_its_functions_followed(tmp_path: Path) -> None:
    """Its function was never compiled in this process: only the loaded unit has it."""
    path = save_in_another_process(tmp_path)
    qconfig_dict = {"": get_default_qconfig("fbgemm")}
    run = obsviz.insert_observers(obsviz.load(path), qconfig_dict)
    assert observer_placement(run.module) == observer_placement(
        real_pass_on_file(path, qconfig_dict)
    )
    assert "project" in run.tables.values.to_string()


def test_a_loaded_model_calls_its_own_function_not_the_sessions_namesake(tmp_path: Path) -> None:
    (tmp_path / "saved").mkdir()
    path = save_in_another_process(tmp_path / "saved")
    session_dir = tmp_path / "session"
    session_dir.mkdir()
    (session_dir / f"{MODULE_NAME}.py").write_text(SESSION_SOURCE)
    spec = importlib.util.spec_from_file_location(MODULE_NAME, session_dir / f"{MODULE_NAME}.py")
    namesake = importlib.util.module_from_spec(spec)
    sys.modules[MODULE_NAME] = namesake
    try:
        spec.loader.exec_module(namesake)
        session_model = torch.jit.script(namesake.Net())
    finally:
        del sys.modules[MODULE_NAME]
    qconfig_dict = {"": get_default_qconfig("fbgemm")}
    with pytest.warns(obsviz.FunctionWarning) as loaded_warnings:
        loaded_run = obsviz.insert_observers(obsviz.load(path), qconfig_dict)
    with warnings.catch_warnings(record=True) as session_warnings:
        warnings.simplefilter("always")
        obsviz.insert_observers(session_model, qconfig_dict)
    assert observer_placement(loaded_run.module) == observer_placement(
        real_pass_on_file(path, qconfig_dict)
    )
    # The placement is the same either way (the pass never observes inside functions);
    # which body was walked shows in what obsviz says about the function.
    assert any("aten::linear" in str(w.message) for w in loaded_warnings)
    assert not any("aten::linear" in str(w.message) for w in session_warnings)
