"""A 20,000-node model through the real pass and through obsviz: time and peak memory.

Time: the real pass and obsviz (recording every event), interleaved in one process,
median of --repeat runs, and their ratio. Memory: peak resident set size of a fresh
process that loads the model and then runs only the real pass, or only obsviz plus its
views (values table and explanations, when available); the model alone is the baseline.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

import torch
from torch.ao.quantization import get_default_qconfig
from torch.ao.quantization.quantize_jit import script_qconfig_dict

import obsviz

warnings.filterwarnings("ignore")
MODEL = "resnet_deep"


def real(model: torch.jit.ScriptModule) -> None:
    qconfigs = script_qconfig_dict({"": get_default_qconfig("fbgemm")})
    torch._C._jit_pass_insert_observers(model._c, "forward", qconfigs, False, 1)


def ours(model: torch.jit.ScriptModule, views: bool = False) -> None:
    run = obsviz.insert_observers(model, {"": get_default_qconfig("fbgemm")})
    if views and hasattr(run, "values"):
        table = run.values()
        for value in list(table.itertuples())[:: max(1, len(table) // 20)]:
            run.explain(value.value, module=value.module_path, method=value.method)


def memory_mb(mode: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def child(mode: str) -> None:
    model = obsviz.samples.load(MODEL)
    if mode == "real":
        real(model)
    elif mode == "obsviz":
        ours(model, views=True)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    status = Path("/proc/self/status").read_text()
    rss_kb = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))
    print(json.dumps({"peak_mb": peak_kb / 1024, "rss_mb": rss_kb / 1024}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", choices=["baseline", "real", "obsviz"])
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    model = obsviz.samples.load(MODEL)
    times: dict[str, list[float]] = {"real": [], "obsviz": []}
    for _ in range(args.repeat):
        for name, fn in (("real", real), ("obsviz", ours)):
            start = time.perf_counter()
            fn(model)
            times[name].append(time.perf_counter() - start)
    med = {k: statistics.median(v) for k, v in times.items()}
    memory = {mode: memory_mb(mode) for mode in ("baseline", "real", "obsviz")}
    print(
        f"{MODEL}: real={med['real']:.2f}s obsviz(recording)={med['obsviz']:.2f}s "
        f"ratio={med['obsviz'] / med['real']:.2f}x"
    )
    for mode, label in (
        ("baseline", "model only"),
        ("real", "+ real pass"),
        ("obsviz", "+ obsviz, values() and explanations"),
    ):
        print(
            f"  {label:38s} peak RSS {memory[mode]['peak_mb']:6.0f} MB, "
            f"RSS at the end {memory[mode]['rss_mb']:6.0f} MB"
        )


if __name__ == "__main__":
    main()
