"""Engine vs the real InsertObservers pass, timed interleaved in one process.

Prints, per model: node count, median seconds of the real pass, of obsviz with no events
kept, and of obsviz recording every event; the ratios engine/real, and the recording
overhead. Run with `make bench` (or `python benchmarks/bench_engine.py --repeat 7`).
`--clone` times obsviz's clone step alone instead, as the pass runs it and with one conv
excluded (so class types are split below the instance).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
import warnings
from collections import Counter

import torch
from torch.ao.quantization import get_default_qconfig
from torch.ao.quantization.quantize_jit import script_qconfig_dict

import obsviz
from obsviz.clone import clone_module
from obsviz.graphs import access_path, walk_nodes
from obsviz.qconfig import fill_qconfig_map
from obsviz.qconfig import script_qconfig_dict as script_for_obsviz

warnings.filterwarnings("ignore")


def count_nodes(module: torch.jit.ScriptModule) -> int:
    """Nodes of every graph reached from forward, counting each instance's graphs again."""
    total = 0
    stack = [(module._c, "forward")]
    while stack:
        m, method = stack.pop()
        graph = m._get_method(method).graph
        for node in walk_nodes(graph.block()):
            total += 1
            if node.kind() == "prim::CallMethod":
                target = m
                for name in access_path(node.inputsAt(0))[0]:
                    target = target.getattr(name)
                stack.append((target, node.s("name")))
    return total


def timed(fn) -> float:
    gc.collect()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench(name: str, repeat: int) -> None:
    model = obsviz.samples.load(name)
    qconfig_dict = {"": get_default_qconfig("fbgemm")}
    nodes = count_nodes(model)

    def real() -> None:
        torch._C._jit_pass_insert_observers(
            model._c, "forward", script_qconfig_dict(qconfig_dict), False, 1
        )

    def engine() -> None:
        obsviz.insert_observers(model, qconfig_dict, record=False)

    def engine_recording() -> None:
        obsviz.insert_observers(model, qconfig_dict, record=True)

    runs: dict[str, list[float]] = {"real": [], "engine": [], "recording": []}
    for fn in (real, engine, engine_recording):
        fn()  # warm up
    for _ in range(repeat):
        runs["real"].append(timed(real))
        runs["engine"].append(timed(engine))
        runs["recording"].append(timed(engine_recording))
    med = {k: statistics.median(v) for k, v in runs.items()}
    print(
        f"{name:12s} nodes={nodes:6d}  real={med['real']:.3f}s  "
        f"engine={med['engine']:.3f}s  recording={med['recording']:.3f}s  "
        f"engine/real={med['engine'] / med['real']:.2f}x  "
        f"recording overhead={med['recording'] / med['engine'] - 1:+.0%}"
    )


def bench_clone(name: str, repeat: int) -> None:
    model = obsviz.samples.load(name)
    fbgemm = get_default_qconfig("fbgemm")
    types = Counter(m._c._type().qualified_name() for m in model.modules())
    shared = next(
        path
        for path, m in model.named_modules()
        if types[m._c._type().qualified_name()] > 1 and hasattr(m, "conv1")
    )
    cases = {
        "unsplit": {"": fbgemm},
        f"split ({shared}.conv1 excluded)": {"": fbgemm, f"{shared}.conv1": None},
    }
    for label, qconfig_dict in cases.items():
        qconfigs = fill_qconfig_map(model._c, script_for_obsviz(qconfig_dict))
        clone_module(model._c, qconfigs)  # warm up
        times = [timed(lambda q=qconfigs: clone_module(model._c, q)) for _ in range(repeat)]
        print(
            f"{name:12s} clone {label}: median {statistics.median(times):.3f}s  "
            f"min {min(times):.3f}s"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--clone", action="store_true", help="time the clone step alone, unsplit and split"
    )
    parser.add_argument("models", nargs="*", default=["resnet50", "resnet152"])
    args = parser.parse_args()
    torch.set_num_threads(1)
    for name in args.models:
        (bench_clone if args.clone else bench)(name, args.repeat)


if __name__ == "__main__":
    main()
