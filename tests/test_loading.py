"""Saved TorchScript models: loaded with their functions, bad files refused clearly."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import obsviz
from obsviz.placement import observer_placement

from .corpus import case, real_insert_observers, script


def test_a_saved_model_calling_functions_matches_the_scripted_one(tmp_path: Path) -> None:
    c = case("function_call_scale_static")
    model = script(c)
    path = tmp_path / "model.pt"
    torch.jit.save(model, path)
    loaded = obsviz.load(path)
    run = obsviz.insert_observers(loaded, c.qconfig_dict())
    assert observer_placement(run.module) == observer_placement(real_insert_observers(c, model))


@pytest.mark.parametrize(("name", "message"), [
    ("missing.pt", "no such file"),
    ("", "is a directory"),
    ("weights.pt", r"cannot read it as TorchScript.*torch.save\(\) pickle"),
    ("model.py", "not a TorchScript file"),
])
def test_bad_files_get_errors_that_say_what_they_are(tmp_path: Path, name: str,
                                                     message: str) -> None:
    torch.save({"weight": torch.ones(1)}, tmp_path / "weights.pt")
    (tmp_path / "model.py").write_text("print('hi')\n")
    with pytest.raises(obsviz.ObsvizError, match=message):
        obsviz.load(tmp_path / name)
