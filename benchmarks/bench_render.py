"""How long a figure takes: DOT built from a run, then laid out to SVG by Graphviz's dot.

Targets (issue 4), on ResNet-50: the collapsed top-level view under 1 s, ``depth=2``
under 5 s. Prints, per view: nodes drawn, median seconds to build the DOT (states
included; the first view of a run also builds the run's value index), to lay it out
with ``dot -Tsvg``, and their sum. Run with
`python benchmarks/bench_render.py` (``--model resnet152 --repeat 7`` to push it).
"""

from __future__ import annotations

import argparse
import gc
import re
import statistics
import time
import warnings

from torch.ao.quantization import get_default_qconfig

import obsviz

warnings.filterwarnings("ignore")

VIEWS = (
    ("after, collapsed", {}, 1.0),
    ("after, depth=2", {"depth": 2}, 5.0),
    ("diff, collapsed", {"when": "diff"}, 1.0),
    ("diff, depth=2", {"when": "diff", "depth": 2}, 5.0),
)


def bench(name: str, repeat: int) -> bool:
    model = obsviz.samples.load(name)
    builds: dict[str, list[float]] = {label: [] for label, _, _ in VIEWS}
    layouts: dict[str, list[float]] = {label: [] for label, _, _ in VIEWS}
    nodes: dict[str, int] = {}
    for _ in range(repeat):
        # A fresh run each time: the first view also pays for the run's value index.
        run = obsviz.insert_observers(model, {"": get_default_qconfig("fbgemm")})
        for label, kwargs, _ in VIEWS:
            gc.collect()
            start = time.perf_counter()
            figure = run.render(max_nodes=None, **kwargs)
            source = figure.source
            built = time.perf_counter()
            figure.pipe(format="svg")
            done = time.perf_counter()
            builds[label].append(built - start)
            layouts[label].append(done - built)
            nodes[label] = len(re.findall(r"^\s*n\d+ \[", source, re.M))
    within = True
    for label, _, budget in VIEWS:
        build, lay = statistics.median(builds[label]), statistics.median(layouts[label])
        ok = build + lay < budget
        within &= ok
        print(
            f"{name:12s} {label:18s} nodes={nodes[label]:5d}  dot build={build:.3f}s  "
            f"layout={lay:.3f}s  total={build + lay:.3f}s  "
            f"(budget {budget:.0f} s: {'ok' if ok else 'OVER'})"
        )
    return within


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", action="append", help="sample model(s) to time (default: resnet50)"
    )
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    results = [bench(name, args.repeat) for name in args.model or ["resnet50"]]
    raise SystemExit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
