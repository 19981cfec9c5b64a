"""How long ``obsviz.fold_constant_branches`` takes on a big model.

Prints the median time of ``fold_constant_branches(model)`` (the training attribute and
every constant argument, the default), of ``fold_attribute_branches(model)`` (attributes
only), and of cloning the model with torch's ``_hack_do_not_use_clone_module_with_class``
(what the fold copied before it shared the parameters), for comparison, with torch's
default threads, as a user runs it. The aim: under 1 s on ResNet-50. Run with
``python benchmarks/bench_fold.py [resnet50 ...]``.
"""

from __future__ import annotations

import argparse
import warnings

import torch
from bench_engine import count_nodes
from bench_torchvision import median_seconds

import obsviz

warnings.filterwarnings("ignore")


def bench(name: str, repeat: int) -> None:
    model = obsviz.samples.load(name)
    fold = median_seconds(lambda: obsviz.fold_constant_branches(model), repeat)
    attributes = median_seconds(lambda: obsviz.fold_attribute_branches(model), repeat)
    clone = median_seconds(
        lambda: torch._C._hack_do_not_use_clone_module_with_class(model._c, [], []), repeat
    )
    print(
        f"{name:12s} nodes={count_nodes(model):6d}  fold_constant_branches={fold:.3f}s  "
        f"fold_attribute_branches={attributes:.3f}s  (a full clone: {clone:.3f}s; "
        f"medians of {repeat})"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("models", nargs="*", default=["resnet50"])
    args = parser.parse_args()
    for name in args.models:
        bench(name, args.repeat)


if __name__ == "__main__":
    main()
