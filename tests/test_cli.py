"""The command line: report, explain and summary, and clear errors for bad input."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import torch
from torch.ao.quantization import get_default_qconfig
from torch.ao.quantization.quantize_jit import prepare_jit

import obsviz
from obsviz import fold_constant_branches
from obsviz.__main__ import main

from .corpus import real_pass
from .failure_models import AuxHead, StochasticDepthBlocks
from .observed_graphs import observer_sites


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from obsviz import samples

    path = tmp_path_factory.mktemp("models") / "resnet_small.pt"
    torch.jit.save(samples.load("resnet_small"), str(path))
    return path


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_report_of_a_saved_model(saved_model, tmp_path, capsys):
    out = tmp_path / "sub" / "report.html"
    status, stdout, err = run_cli(
        capsys,
        "report",
        str(saved_model),
        "--qconfig",
        "qnnpack",
        "--set",
        "fc=none",
        "--set",
        "layer4.0=fbgemm",
        "--out",
        str(out),
    )
    assert status == 0, err
    assert f"report written to {out}" in stdout
    page = out.read_text()
    assert "<code>&#x27;fc&#x27;</code>: none" in page
    assert "<code>&#x27;layer4.0&#x27;</code>: fbgemm" in page
    assert "Please use quant_min" not in err  # torch's chatter is not shown


def test_dynamic_report_explains_unobserved_activations(tmp_path, capsys):
    out = tmp_path / "dynamic.html"
    status, _, err = run_cli(
        capsys, "report", "--sample", "resnet_small", "--qconfig", "dynamic", "--out", str(out)
    )
    assert status == 0, err
    page = out.read_text()
    assert "<code>dynamic_rules</code>" in page
    assert "dynamic <code>InsertObservers</code>" in page


def test_explain_prints_the_explanation(saved_model, capsys):
    status, out, _ = run_cli(capsys, "explain", str(saved_model), "%8")
    assert status == 0
    assert out.startswith("<top>:forward:%8  (prim::CallMethod)\nnot observed [delayed]")
    assert "delayObservingValuesInPattern(pattern=nn_conv2d_nn_relu" in out
    status, out, _ = run_cli(
        capsys,
        "explain",
        "--sample",
        "resnet_small",
        "out.9",
        "--module",
        "layer1.0",
        "--method",
        "forward",
        "--no-fold",
    )
    assert status == 0
    assert "layer1.0:forward:%out.9  (aten::add_)" in out
    assert "inplace_add_nn_relu" in out and "folded" not in out


def test_explain_on_a_failing_model_gives_the_diagnosis_first(tmp_path, capsys):
    path = tmp_path / "aux.pt"
    torch.jit.save(torch.jit.script(AuxHead()), str(path))
    status, out, _ = run_cli(capsys, "explain", str(path), "y.1")
    assert status == 1
    assert out.startswith("the pass failed:\n<top>.forward: the branches of an `if`")
    assert "<top>:forward:%y.1" in out


def test_a_suggested_fold_is_spelled_as_an_option_and_the_option_applies_it(tmp_path, capsys):
    model = torch.jit.script(StochasticDepthBlocks().eval())
    path = tmp_path / "blocks.pt"
    torch.jit.save(model, str(path))
    status, out, _ = run_cli(capsys, "summary", str(path), "--no-fold")
    assert status == 1
    assert "On the command line, that fold is: --fold-constants\n" in out
    status, out, err = run_cli(capsys, "summary", str(path), "--no-fold", "--fold-constants")
    assert status == 0, err
    assert "self.training and the arguments every call passes alike made constant" in out
    folded = fold_constant_branches(model)
    real = real_pass(folded, {"": get_default_qconfig("fbgemm")})
    assert f"obsviz Run: {len(observer_sites(real))} observers" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["report", "{missing}"], "no such file"),
        (["report", "{text}"], "not a TorchScript file"),
        (["report", "{pickle}"], "Is it a state_dict or a torch.save() pickle?"),
        (
            ["report", "--sample", "resnet_small", "--qconfig", "fbgem"],
            "unknown qconfig 'fbgem'. Did you mean 'fbgemm'?",
        ),
        (
            ["report", "--sample", "resnet_small", "--set", "layer1.0.cnv1=none"],
            "no submodule at path 'layer1.0.cnv1'. Closest module paths: 'layer1.0.conv1'",
        ),
        (
            ["report", "--sample", "resnet_small", "--set", "fc=qnnpak"],
            "unknown qconfig 'qnnpak'. Did you mean 'qnnpack'?",
        ),
        (["report", "--sample", "resnet_small", "--set", "fc"], "expected PATH=QCONFIG"),
        (
            ["report", "--sample", "resnet_small", "--set", "fc=dynamic"],
            "dynamic is a dynamic qconfig but --qconfig fbgemm is static",
        ),
        (["report", "--sample", "resnet_smal"], "Did you mean 'resnet_small'"),
        (["report"], "no model: give a file saved with torch.jit.save, or --sample NAME"),
        (["explain", "--sample", "resnet_small", "%nope"], "no value named %nope"),
        (
            ["explain", "--sample", "resnet_small", "%x.1", "--module", "layer9"],
            "Closest module paths: 'layer4'",
        ),
        (["explain", "--sample", "resnet_small"], "which value?"),
        (
            ["summary", "--sample", "resnet_small", "--fold-attribute", "stride"],
            "conv1.stride is tuple; only bool, int, float and str attributes can be folded",
        ),
        (
            ["summary", "--sample", "resnet_small", "--fold-attribute", "trainig"],
            "no module of the model has an attribute 'trainig' to fold",
        ),
    ],
)
def test_bad_input_gives_a_clear_error(argv, message, tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("not a model")
    torch.save({"weight": torch.zeros(2)}, str(tmp_path / "state.pt"))
    files = {
        "missing": str(tmp_path / "missing.pt"),
        "text": str(tmp_path / "notes.txt"),
        "pickle": str(tmp_path / "state.pt"),
    }
    argv = [arg.format(**files) for arg in argv]
    status, _, err = run_cli(capsys, *argv)
    assert status == 2
    assert err.startswith(f"obsviz {argv[0]}: error: ")
    assert message in err
    assert "Traceback" not in err


def test_summary_still_works(capsys):
    status, out, _ = run_cli(capsys, "summary")
    assert status == 0
    assert "resnet_small (built-in sample)" in out and "observers by owning module" in out
    # the count per module is what torch's prepare_jit puts in each module of the sample
    observed = prepare_jit(obsviz.samples.load("resnet_small"), {"": get_default_qconfig("fbgemm")})
    held = Counter(
        name.rsplit(".", 1)[0] if "." in name else "<top>"
        for name, _ in observed.named_modules()
        if name.rsplit(".", 1)[-1].startswith("_observer_")
    )
    listed = out.split("observers by owning module", 1)[1].split("first observed values")[0]
    rows = dict(line.split() for line in listed.strip().splitlines()[1:] if line.strip())
    assert {path: int(n) for path, n in rows.items()} == dict(held)


@pytest.mark.slow
def test_python_m_obsviz_is_the_obsviz_command(saved_model):
    script = Path(sys.executable).parent / "obsviz"
    if not script.exists():
        script = Path(shutil.which("obsviz") or "")
    assert script.is_file(), "the obsviz console script is not installed (pip install -e .)"
    argv = ["explain", str(saved_model), "%8", "--module", ""]
    as_module = subprocess.run(
        [sys.executable, "-m", "obsviz", *argv], capture_output=True, text=True, timeout=120
    )
    as_script = subprocess.run([str(script), *argv], capture_output=True, text=True, timeout=120)
    assert as_module.returncode == as_script.returncode == 0, as_module.stderr
    assert as_module.stdout == as_script.stdout
    assert "not observed [delayed]" in as_module.stdout
