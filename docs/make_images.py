"""Regenerate the PNGs in docs/images: three sample models, each before, after, diff and
one value's neighbourhood. Run from the repository root: `python docs/make_images.py`."""

from __future__ import annotations

import warnings
from pathlib import Path

from torch.ao.quantization import get_default_qconfig

import obsviz

warnings.filterwarnings("ignore")
OUT = Path(__file__).parent / "images"

# (sample, submodule drawn, depth, value whose neighbourhood is drawn, its module)
VIEWS = [
    ("resnet_small", "layer2.0", 0, "%out.9", "layer2.0"),
    ("mobilenet_v3_small", "features.4.block.2", 0, "%8", "features.4.block.2"),
    ("transformer_encoder", "blocks.0", 0, "%10", "blocks.0"),
]


def main() -> None:
    OUT.mkdir(exist_ok=True)
    for sample, module, depth, value, value_module in VIEWS:
        run = obsviz.insert_observers(obsviz.samples.load(sample),
                                      {"": get_default_qconfig("fbgemm")})
        for when in ("before", "after", "diff"):
            figure = run.render(module=module, when=when, depth=depth)
            path = figure.render(OUT / f"{sample}_{when}", format="png", cleanup=True)
            print(path, Path(path).stat().st_size // 1024, "KB")
        figure = run.explain(value, module=value_module).render()
        path = figure.render(OUT / f"{sample}_value", format="png", cleanup=True)
        print(path, Path(path).stat().st_size // 1024, "KB")


if __name__ == "__main__":
    main()
