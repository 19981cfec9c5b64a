"""The torch obsviz runs on: quiet internal scripting, and a clear error without the JIT API.

torch 2.9+ warns on every ``torch.jit.script`` call. obsviz silences that warning where it
scripts for itself, and nowhere else. PyTorch has announced the removal of
``torch.ao.quantization``: on a torch without the JIT quantization API, ``import obsviz``
must work and each entry point must say which torch versions obsviz supports.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch
from torch.ao.quantization import MinMaxObserver, QConfig, default_weight_observer

import obsviz

from .corpus import LinearOnly, case, script

ROOT = Path(__file__).resolve().parents[1]

# torch/jit/_script.py's words (2.9 on); on 2.13 the test adds them to torch.jit.script itself
TORCH_DEPRECATION = (
    "`torch.jit.script` is deprecated. Please switch to `torch.compile` or `torch.export`."
)
USER_DEPRECATION = "my_observer() is deprecated: use MinMaxObserver"


def my_observer() -> MinMaxObserver:
    """A user's observer factory that warns, as code being phased out does."""
    warnings.warn(USER_DEPRECATION, DeprecationWarning, stacklevel=2)
    return MinMaxObserver()


@pytest.fixture
def deprecated_script(monkeypatch: pytest.MonkeyPatch) -> None:
    """``torch.jit.script`` warning as torch 2.14's does, on any torch."""
    script = torch.jit.script

    def warning_script(obj: object, *args: object, **kwargs: object) -> object:
        warnings.warn(TORCH_DEPRECATION, DeprecationWarning, stacklevel=2)
        return script(obj, *args, **kwargs)

    monkeypatch.setattr(torch.jit, "script", warning_script)


def _messages(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught]


@pytest.mark.usefixtures("deprecated_script")
def test_internal_scripting_hides_torchs_deprecation_and_nothing_else() -> None:
    model = script(case("shared_blocks_split_below_none"))  # obsviz splits a type there
    qconfig = QConfig(activation=my_observer, weight=default_weight_observer)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = obsviz.insert_observers(model, {"": qconfig, "b0.conv": None})
        sample = obsviz.samples.load("resnet_small")
    assert run.splits, "the model must make obsviz split a type (clone.py scripts then)"
    assert isinstance(sample, torch.jit.ScriptModule)
    messages = _messages(caught)
    assert TORCH_DEPRECATION not in messages, messages
    assert USER_DEPRECATION in messages, messages


@pytest.mark.usefixtures("deprecated_script")
def test_the_users_own_scripting_still_warns_after_obsvizs() -> None:
    filters = list(warnings.filters)
    obsviz.samples.load("resnet_small")
    assert warnings.filters == filters, "obsviz left a warning filter behind"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.jit.script(LinearOnly())
    assert TORCH_DEPRECATION in _messages(caught)


def _claimed_torch_range() -> tuple[str, ...]:
    """The torch versions pyproject.toml claims, e.g. ('>=2.2',)."""
    torch_requirement = re.search(
        r'^\s*"torch([^"]*)"', (ROOT / "pyproject.toml").read_text(), re.MULTILINE
    )
    assert torch_requirement, "pyproject.toml has no torch dependency"
    return tuple(re.findall(r"[<>=!~]=?\s*[\d.]+", torch_requirement.group(1)))


# Run in a fresh interpreter: hide the JIT quantization API as a torch without it would
# lack it, then import obsviz and call each entry point.
HIDE_AND_CALL = r"""
import json, sys, torch
import torch.ao.quantization as tq

model = torch.jit.script(torch.nn.Linear(2, 2))  # torch 2.13's own scripting reads the package
HIDE_PACKAGE = sys.argv[1] == "package"
del torch._C._jit_pass_insert_observers
sys.modules["torch.ao.quantization.quantize_jit"] = None
del tq.quantize_jit
if HIDE_PACKAGE:
    for name in [n for n in sys.modules if n.startswith("torch.ao.quantization")]:
        sys.modules[name] = None
    del torch.ao.quantization

import obsviz  # must work
from obsviz.__main__ import main

calls = {
    "insert_observers": lambda: obsviz.insert_observers(model, {"": None}),
    "prepare_jit": lambda: obsviz.prepare_jit(model, {"": None}),
    "prepare_dynamic_jit": lambda: obsviz.prepare_dynamic_jit(model, {"": None}),
    "prepare_ondevice_jit": lambda: obsviz.prepare_ondevice_jit(model, {"": None}),
    "steps": lambda: list(obsviz.steps(model, {"": None})),
    "check": lambda: obsviz.check(model, {"": None}),
    "Explorer": lambda: obsviz.Explorer(model),
}
results = {}
for name, call in calls.items():
    try:
        call()
        results[name] = ["returned", ""]
    except Exception as err:
        results[name] = [type(err).__name__, str(err)]
exit_code = main(["summary", "--sample", "resnet_small"])
results["cli"] = [exit_code, ""]
print(json.dumps(results))
"""


@pytest.mark.parametrize("hidden", ["jit_api", "package"])
def test_without_the_jit_quantization_api_every_entry_point_names_the_supported_torch(
    hidden: str,
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", HIDE_AND_CALL, hidden],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout.strip().splitlines()[-1])
    claimed = _claimed_torch_range()
    assert claimed, "pyproject.toml names no torch version"
    for name, (outcome, message) in results.items():
        if name == "cli":
            continue
        assert outcome == "ObsvizError", (name, outcome, message)
        assert "torch._C._jit_pass_insert_observers" in message, (name, message)
        for bound in claimed:
            assert bound.lstrip("<>=!~ ") in message, (name, bound, message)
    cli_exit_code = results["cli"][0]
    assert cli_exit_code == 2, done.stderr
    cli_error = done.stderr.strip().splitlines()[-1]
    assert cli_error.startswith("obsviz summary: error: torch "), done.stderr
    assert "torch._C._jit_pass_insert_observers" in cli_error
