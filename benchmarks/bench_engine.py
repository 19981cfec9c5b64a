"""Engine vs the real InsertObservers pass, timed interleaved in one process.

Prints, per model: node count, median seconds of the real pass, of obsviz with no events
kept, and of obsviz recording every event; the ratios engine/real, and the recording
overhead. Run with `make bench` (or `python benchmarks/bench_engine.py --repeat 7`).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
import warnings

import torch
from torch.ao.quantization import get_default_qconfig
from torch.ao.quantization.quantize_jit import script_qconfig_dict

import obsviz
from obsviz.graphs import access_path, walk_nodes

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
        torch._C._jit_pass_insert_observers(model._c, "forward",
                                            script_qconfig_dict(qconfig_dict), False, 1)

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
    print(f"{name:12s} nodes={nodes:6d}  real={med['real']:.3f}s  "
          f"engine={med['engine']:.3f}s  recording={med['recording']:.3f}s  "
          f"engine/real={med['engine'] / med['real']:.2f}x  "
          f"recording overhead={med['recording'] / med['engine'] - 1:+.0%}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("models", nargs="*", default=["resnet50", "resnet152"])
    args = parser.parse_args()
    torch.set_num_threads(1)
    for name in args.models:
        bench(name, args.repeat)


if __name__ == "__main__":
    main()
