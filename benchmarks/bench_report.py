"""How long ``obsviz report`` takes on a big model, whole and by stage.

Target (issue 6): the report for ResNet-50 written in under 10 s. Prints the wall time
of the command as a user runs it (a fresh ``python -m obsviz report`` process: imports,
scripting the sample, folding, the pass, the report), then the median of each stage in
one process: the real ``prepare_jit`` for scale, obsviz's pass, and the report build
(explanations, tables, figures) and write. Run with
``python benchmarks/bench_report.py`` (``--model resnet152`` to push it).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch
from torch.ao.quantization import get_default_qconfig, prepare_jit
from torch.jit._recursive import wrap_cpp_module

import obsviz
from obsviz.report import ReportHeader, write_report

warnings.filterwarnings("ignore")
TARGET_SECONDS = 10.0


def command_seconds(model: str, out: Path) -> float:
    start = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "obsviz",
            "report",
            "--sample",
            model,
            "--out",
            str(out),
            "--no-progress",
        ],
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - start


def stages(model_name: str, out: Path) -> dict[str, float]:
    times: dict[str, float] = {}
    start = time.perf_counter()
    model = obsviz.samples.load(model_name)
    times["script the sample"] = time.perf_counter() - start
    qconfig_dict = {"": get_default_qconfig("fbgemm")}
    start = time.perf_counter()
    prepare_jit(model, qconfig_dict)
    times["torch prepare_jit (for scale)"] = time.perf_counter() - start
    start = time.perf_counter()
    folded = wrap_cpp_module(torch._C._jit_pass_fold_convbn(model._c))
    run = obsviz.insert_observers(folded, qconfig_dict)
    times["obsviz: fold + pass"] = time.perf_counter() - start
    start = time.perf_counter()
    write_report(out, run, ReportHeader(model_name, qconfig=[("", "fbgemm")]))
    times["report: build + write"] = time.perf_counter() - start
    return times


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report.html"
        walls = [command_seconds(args.model, out) for _ in range(args.repeat)]
        size = out.stat().st_size
        runs = [stages(args.model, out) for _ in range(args.repeat)]
    wall = statistics.median(walls)
    verdict = "ok" if wall < TARGET_SECONDS else "TOO SLOW"
    print(
        f"{args.model}: `obsviz report` {wall:.2f} s wall (median of {args.repeat}; "
        f"target < {TARGET_SECONDS:.0f} s: {verdict}), {size / 1e6:.2f} MB of HTML"
    )
    for stage in runs[0]:
        print(f"  {stage:32s} {statistics.median(r[stage] for r in runs):6.2f} s")
    ratio = statistics.median(
        r["obsviz: fold + pass"] / r["torch prepare_jit (for scale)"] for r in runs
    )
    print(f"  obsviz pass / torch prepare_jit: {ratio:.1f}x")
    return 0 if wall < TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
