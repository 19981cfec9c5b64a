"""Command line: ``python -m obsviz summary --sample resnet_small``."""

from __future__ import annotations

import argparse
import sys
from collections import Counter

from torch.ao.quantization import (
    default_dynamic_qconfig,
    float16_dynamic_qconfig,
    get_default_qconfig,
    per_channel_dynamic_qconfig,
)

from . import samples
from .api import insert_observers
from .errors import ObsvizError

QCONFIGS = {
    "fbgemm": (lambda: get_default_qconfig("fbgemm"), "static"),
    "qnnpack": (lambda: get_default_qconfig("qnnpack"), "static"),
    "dynamic": (lambda: default_dynamic_qconfig, "dynamic"),
    "per_channel_dynamic": (lambda: per_channel_dynamic_qconfig, "dynamic"),
    "fp16": (lambda: float16_dynamic_qconfig, "dynamic"),
}


def summary(args: argparse.Namespace) -> int:
    model = samples.load(args.sample)
    make_qconfig, quant_type = QCONFIGS[args.qconfig]
    run = insert_observers(model, {"": make_qconfig()}, quant_type=quant_type)
    print(f"{args.sample}: {samples.SAMPLES[args.sample].description}")
    print(run)
    by_module = Counter(path or "<top>" for path, _, _ in run.inserted)
    print(f"\nobservers by owning module ({len(by_module)} modules):")
    for path, count in sorted(by_module.items()):
        print(f"  {path:40s} {count}")
    print("\nfirst observed values:")
    for _path, name, value in run.inserted[:10]:
        print(f"  {name:14s} observes {value}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="obsviz", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("summary", help="run the pass on a sample model and summarize it")
    p.add_argument("--sample", default="resnet_small", choices=samples.names())
    p.add_argument("--qconfig", default="fbgemm", choices=sorted(QCONFIGS))
    p.set_defaults(func=summary)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ObsvizError as err:
        print(f"obsviz: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
