"""Calibration, quantization error and sensitivity on ResNet-50 (``obsviz.calib``).

1. ``run.calibrate(batches)`` against calling the plain observed module on the same
   batches (8 of 1x3x224x224 by default), both from a fresh copy of the observed module
   (so both pay TorchScript's first-call profiling), interleaved, medians.
2. ``cal.error(batches)`` per batch against a float forward per batch (warm: the
   simulation is built by a first call).
3. ``cal.sensitivity(batches)`` over every conv and the fc, with its progress bar.
4. Peak resident memory of ``cal.error`` for 2, 8 and 32 batches, each in a fresh
   process, batches made on the fly: it must not grow with the number of batches.

Times are this process's CPU time (``time.process_time``), torch on one thread by default
(``--threads``): on a machine shared with other work, wall-clock ratios swing by 2-5x
from one run to the next, CPU time much less.

Run with ``python benchmarks/bench_calibration.py`` (``--model``, ``--size``, ``--batches``,
``--repeat``, ``--threads``, ``--sensitivity-batches``; ``--skip-sensitivity``).
"""

from __future__ import annotations

import argparse
import copy
import json
import resource
import statistics
import subprocess
import sys
import time
import warnings

import torch
from torch.ao.quantization import get_default_qconfig

import obsviz

warnings.filterwarnings("ignore")


def make_batches(n: int, size: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    for _ in range(n):
        yield torch.randn(1, 3, size, size, generator=g)


def observed_model(name: str) -> torch.jit.ScriptModule:
    return obsviz.prepare_jit(obsviz.samples.load(name), {"": get_default_qconfig("fbgemm")})


def timed(action) -> float:
    start = time.process_time()
    action()
    return time.process_time() - start


def calibration(observed, batches: list, repeat: int) -> tuple[float, float]:
    run = observed._obsviz_run
    plain, ours = [], []

    def plain_calibration() -> None:
        module = copy.deepcopy(observed)
        with torch.no_grad():
            for x in batches:
                module(x)

    for _ in range(repeat):
        plain.append(timed(plain_calibration))
        ours.append(timed(lambda: run.calibrate(batches, progress=False)))
    return statistics.median(plain), statistics.median(ours)


def error_per_batch(model, cal, batches: list, repeat: int) -> tuple[float, float, float]:
    with torch.no_grad():
        for x in batches[:2]:
            model(x)  # warm the float model as the simulation is warmed below
    first = timed(lambda: cal.error(batches, progress=False))
    floats, errors = [], []
    for _ in range(repeat):
        with torch.no_grad():
            floats.append(timed(lambda: [model(x) for x in batches]) / len(batches))
        errors.append(timed(lambda: cal.error(batches, progress=False)) / len(batches))
    return statistics.median(floats), statistics.median(errors), first


def memory_child(name: str, size: int, n: int) -> None:
    observed = observed_model(name)
    cal = observed._obsviz_run.calibrate(list(make_batches(2, size)), progress=False)
    cal.error(make_batches(1, size), progress=False)  # build and warm the simulation
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    cal.error(make_batches(n, size, seed=1), progress=False)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"batches": n, "peak_mb": after / 1024, "growth_mb": (after - before) / 1024}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batches", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--sensitivity-batches", type=int, default=2)
    parser.add_argument("--skip-sensitivity", action="store_true")
    parser.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.memory_child:
        memory_child(args.model, args.size, args.memory_child)
        return
    torch.manual_seed(0)
    batches = list(make_batches(args.batches, args.size))
    observed = observed_model(args.model)
    print(
        f"{args.model}: {len(observed._obsviz_run.inserted)} observers; "
        f"{args.batches} batches of 1x3x{args.size}x{args.size}; torch threads "
        f"{torch.get_num_threads()}; CPU seconds, medians of {args.repeat}"
    )

    plain, ours = calibration(observed, batches, args.repeat)
    print(
        f"calibration: plain observed module {plain:.2f} s, run.calibrate {ours:.2f} s "
        f"-> {ours / plain:.2f}x (target <= 1.3x)"
    )

    cal = observed._obsviz_run.calibrate(batches, progress=False)
    model = obsviz.samples.load(args.model)
    float_batch, error_batch, first = error_per_batch(model, cal, batches, args.repeat)
    print(
        f"error: float forward {float_batch * 1000:.0f} ms/batch, cal.error "
        f"{error_batch * 1000:.0f} ms/batch -> {error_batch / float_batch:.2f}x "
        f"(target <= 3x); first call, building the simulation: {first:.2f} s"
    )

    if not args.skip_sensitivity:
        sens_batches = batches[: args.sensitivity_batches]
        wall = time.perf_counter()
        start = time.process_time()
        sens = cal.sensitivity(sens_batches, progress=True)
        spent = time.process_time() - start
        wall = time.perf_counter() - wall
        top = sens.table.iloc[0]
        print(
            f"sensitivity: {len(sens.table)} modules x {len(sens_batches)} batches in "
            f"{spent:.1f} s CPU, {wall:.1f} s wall ({spent / len(sens.table):.2f} s CPU per "
            f"module; {int((sens.table.observers_added > 0).sum())} add an observer, each "
            "calibrated and simulated on its own); all quantized "
            f"{sens.baseline_db:.2f} dB, best {top.module_path} +{top.gain_db:.2f} dB"
        )

    for n in (2, 8, 32):
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--model",
                args.model,
                "--size",
                str(args.size),
                "--threads",
                str(args.threads),
                "--memory-child",
                str(n),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        found = json.loads(out.stdout.strip().splitlines()[-1])
        print(
            f"error memory: {n:3d} batches: peak RSS {found['peak_mb']:.0f} MB, "
            f"grew {found['growth_mb']:.0f} MB during error()"
        )


if __name__ == "__main__":
    main()
