"""The benchmarks `make bench` runs still run: each on a small sample, one repeat.

They time nothing here; a benchmark that fails on the code it measures (a moved
function, a renamed attribute) would otherwise go unnoticed until someone quotes it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"

SMALL_RUNS = {
    "bench_engine.py": ["--repeat", "1", "resnet_small"],
    "bench_render.py": ["--repeat", "1", "--model", "resnet_small"],
    "bench_explorer.py": ["--model", "resnet_small", "--inputs", "1"],
    "bench_report.py": ["--model", "resnet_small", "--repeat", "1"],
    "bench_fold.py": ["--repeat", "1", "resnet_small"],
    "bench_calibration.py": [
        "--model",
        "resnet_small",
        "--size",
        "32",
        "--batches",
        "2",
        "--repeat",
        "1",
        "--sensitivity-batches",
        "1",
    ],
}


def test_every_make_bench_script_is_covered() -> None:
    makefile = (BENCHMARKS.parent / "Makefile").read_text()
    bench_rule = makefile.split("\nbench:", 1)[1].split("\n\n", 1)[0]
    run_by_make = {word.split("/")[-1] for word in bench_rule.split() if word.endswith(".py")}
    assert run_by_make <= set(SMALL_RUNS)


@pytest.mark.parametrize("script", sorted(SMALL_RUNS))
def test_benchmark_runs_on_a_small_model(script: str) -> None:
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *SMALL_RUNS[script]],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "resnet_small" in done.stdout
