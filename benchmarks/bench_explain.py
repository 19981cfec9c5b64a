"""Tables and explanations on a big model: ``run.values()`` build time and ``explain`` time.

Prints the node count, the time to build ``run.values()`` once the run is done (the
structural index, the facts, every verdict and the DataFrame), and the median time of
one ``run.explain(...)`` over a sample of the model's values (names resolved as a user
gives them). Run with ``python benchmarks/bench_explain.py [resnet50]``.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import time
import warnings

import torch
from bench_engine import count_nodes
from torch.ao.quantization import get_default_qconfig

import obsviz

warnings.filterwarnings("ignore")


def bench(name: str, samples: int, repeat: int) -> None:
    model = obsviz.samples.load(name)
    nodes = count_nodes(model)
    builds = []
    for _ in range(repeat):
        run = obsviz.insert_observers(model, {"": get_default_qconfig("fbgemm")})
        gc.collect()
        start = time.perf_counter()
        values = run.values()
        builds.append(time.perf_counter() - start)
    rows = values[["module_path", "method", "value"]].itertuples(index=False)
    picked = random.Random(0).sample(list(rows), min(samples, len(values)))
    times = []
    for path, method, value in picked:
        start = time.perf_counter()
        run.explain(value, module=path, method=method)
        times.append(time.perf_counter() - start)
    print(
        f"{name:12s} nodes={nodes:6d} values={len(values):6d}  "
        f"values() build={statistics.median(builds):.3f}s (median of {repeat})  "
        f"explain median={statistics.median(times) * 1e3:.2f}ms "
        f"max={max(times) * 1e3:.2f}ms over {len(times)} values"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("models", nargs="*", default=["resnet50"])
    args = parser.parse_args()
    torch.set_num_threads(1)
    for name in args.models:
        bench(name, args.samples, args.repeat)


if __name__ == "__main__":
    main()
