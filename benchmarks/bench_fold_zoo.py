"""The fold on model-zoo classifiers: runs the real pass fails on, and what the fold the
diagnosis offers makes of them.

For each model (torchvision's, and timm's when timm is importable), scripted in eval mode,
and each quant type, both passes run on the model. When the real pass fails, obsviz's
diagnosis is read and the fold it offers applied (``fold_constant_branches`` with the
attributes it names; again while a new diagnosis offers more); then both passes run on
the folded model and their observers are compared (``obsviz.observer_placement``), and
the folded model's output on a random input is compared with the original's. One row is
printed per run, then the table of runs where the real pass fails before the fold.

torchvision is installed as ``bench_torchvision.py`` says; timm (not a dependency either)
needs only torch and torchvision to build its models::

    pip install --no-deps --target build/timm timm==1.0.31
    python benchmarks/bench_fold_zoo.py --timm-path build/timm [--models tv:resnet18 ...]

Each model runs in a process of its own (see ``bench_torchvision.py``).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import types
import warnings

import torch
from bench_torchvision import MODELS as TORCHVISION_MODELS
from bench_torchvision import QUANT_TYPES, import_torchvision, obsviz_pass, real_pass

import obsviz

warnings.filterwarnings("ignore")

# timm classifiers whose forward_head takes pre_logits (all but ViT's MLP-free cousins
# share it), across families: ResNets, EfficientNets, MobileNets, ConvNeXt, RegNet,
# DenseNet, ViT/DeiT, MLP-Mixer, ResMLP, GhostNet, ReXNet, DLA, CSPNet, MNASNet
TIMM_MODELS = (
    "resnet18",
    "resnet50",
    "efficientnet_b0",
    "tf_efficientnet_b0",
    "efficientnet_lite0",
    "mobilenetv2_100",
    "mobilenetv3_large_100",
    "convnext_tiny",
    "regnety_002",
    "densenet121",
    "vit_tiny_patch16_224",
    "deit_tiny_patch16_224",
    "mixer_s16_224",
    "resmlp_12_224",
    "ghostnet_100",
    "rexnet_100",
    "dla34",
    "cspresnet50",
    "mnasnet_100",
)
FOLD_ROUNDS = 3  # a model can hold several kinds of failing branches
ROW = "ROW\t"


def build(spec: str, args: argparse.Namespace) -> tuple[torch.jit.ScriptModule, tuple]:
    """The scripted model named ``tv:NAME`` or ``timm:NAME``, and its input shape."""
    zoo, name = spec.split(":", 1)
    torch.manual_seed(0)
    if zoo == "timm":
        import_torchvision(args.path)
        timm = import_timm(args.timm_path)
        model = timm.create_model(name, pretrained=False).eval()
        shape = (1, *model.pretrained_cfg["input_size"])
    else:
        torchvision = import_torchvision(args.path)
        options = (
            {"init_weights": False, "aux_logits": False}
            if name in ("googlenet", "inception_v3")
            else {}
        )
        model = getattr(torchvision.models, name)(**options).eval()
        shape = (1, 3, 299, 299) if name == "inception_v3" else (1, 3, 224, 224)
    return torch.jit.script(model), shape


def both_passes(
    model: torch.jit.ScriptModule, quant_type: str
) -> tuple[str, obsviz.PassFailure | None]:
    """What the two passes make of the model, and obsviz's failure if it failed."""
    try:
        real = obsviz.observer_placement(real_pass(model, quant_type))
    except RuntimeError as err:
        real = err
    try:
        mine = obsviz.observer_placement(obsviz_pass(model, quant_type).module)
    except obsviz.PassFailure as failure:
        if isinstance(real, RuntimeError):
            return "both fail", failure
        return "MISMATCH: only obsviz fails", failure
    if isinstance(real, RuntimeError):
        return f"MISMATCH: only the real pass fails: {str(real).splitlines()[0]}", None
    if mine != real:
        return f"MISMATCH: {len(set(mine) ^ set(real))} observers differ", None
    return f"both pass, same {len(real)} observers", None


def fold_offered(
    model: torch.jit.ScriptModule, quant_type: str, failure: obsviz.PassFailure
) -> tuple[torch.jit.ScriptModule | None, str]:
    """The model after the folds the diagnoses offer, and what was folded (None and the
    reason when no fold is offered)."""
    attributes: list[str] = []
    arguments: list[obsviz.ArgumentFold] = []
    folded = model
    for _ in range(FOLD_ROUNDS):
        diagnosis = failure.diagnosis
        offered = [a for a in diagnosis.fold_attributes if a not in attributes]
        new_arguments = [a for a in diagnosis.fold_arguments if a not in arguments]
        if not offered and not new_arguments:
            where = f"{diagnosis.module_path or '<top>'}.{diagnosis.method}"
            return None, f"no fold offered for {where}: {diagnosis.fix}"
        attributes += offered
        arguments += new_arguments
        folded = obsviz.fold_constant_branches(model, attributes=tuple(attributes))
        try:
            obsviz_pass(folded, quant_type)
        except obsviz.PassFailure as again:
            failure = again
            continue
        break
    what = ", ".join(
        [*(f"self.{a}" for a in attributes), *(f"{a.argument}={a.value!r}" for a in arguments)]
    )
    return folded, what


def same_outputs(
    model: torch.jit.ScriptModule, folded: torch.jit.ScriptModule, shape: tuple
) -> str:
    inputs = torch.randn(*shape)
    with torch.no_grad():
        expected, got = _tensors(model(inputs)), _tensors(folded(inputs))
    if all(torch.equal(a, b) for a, b in zip(expected, got, strict=True)):
        return "same outputs"
    return "OUTPUTS DIFFER"


def _tensors(output: object) -> list[torch.Tensor]:
    """The tensors of an output (Inception v3 returns a named tuple)."""
    if isinstance(output, torch.Tensor):
        return [output]
    return [t for item in output if item is not None for t in _tensors(item)]


def bench_one(spec: str, args: argparse.Namespace) -> None:
    model, shape = build(spec, args)
    for quant_type in QUANT_TYPES:
        before, failure = both_passes(model, quant_type)
        fold, after, outputs = "", "", ""
        if failure is not None and before == "both fail":
            folded, fold = fold_offered(model, quant_type, failure)
            if folded is not None:
                after, _ = both_passes(folded, quant_type)
                outputs = same_outputs(model, folded, shape)
        print(ROW + "\t".join((spec, quant_type, before, fold, after, outputs)), flush=True)


def table(rows: list[list[str]]) -> str:
    lines = [
        "| model | quant type | before the fold | folded | after the fold |",
        "| --- | --- | --- | --- | --- |",
    ]
    for spec, quant_type, before, fold, after, outputs in rows:
        if before.startswith("both fail"):
            lines.append(
                f"| {spec} | {quant_type} | real pass fails | {fold or '-'} | "
                f"{after + ', ' + outputs if after else '-'} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--path", help="a folder torchvision was installed into")
    parser.add_argument("--timm-path", help="a folder timm was installed into")
    parser.add_argument("--models", nargs="*", help="tv:NAME or timm:NAME (default: all)")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        bench_one(args.one, args)
        return
    specs = args.models or [f"tv:{name}" for name in TORCHVISION_MODELS]
    if not args.models and import_timm(args.timm_path) is not None:
        specs += [f"timm:{name}" for name in TIMM_MODELS]
    options = [
        *(["--path", args.path] if args.path else []),
        *(["--timm-path", args.timm_path] if args.timm_path else []),
    ]
    rows = []
    print(f"torch {torch.__version__}", flush=True)
    for spec in specs:
        result = subprocess.run(
            [sys.executable, __file__, "--one", spec, *options],
            capture_output=True,
            text=True,
            check=False,
        )
        found = [
            line[len(ROW) :].split("\t")
            for line in result.stdout.splitlines()
            if line.startswith(ROW)
        ]
        if not found:
            print(f"{spec}: no result\n{result.stderr[-1500:]}", flush=True)
        for row in found:
            print("  ".join(cell for cell in row if cell), flush=True)
        rows += found
    failing = [row for row in rows if row[2].startswith("both fail")]
    fixed = [
        row for row in failing if row[4].startswith("both pass, same") and row[5] == "same outputs"
    ]
    print(
        f"\n{len(rows)} runs on {len(specs)} models; the real pass fails on {len(failing)}; "
        f"after the fold the diagnosis offers, both passes succeed with the same observers "
        f"and the folded model computes the same outputs on {len(fixed)}.\n"
    )
    print(table(rows))


def import_timm(path: str | None) -> types.ModuleType | None:
    """timm, from ``path`` when given; None when it is not installed."""
    if path:
        sys.path.insert(0, path)
    try:
        import timm
    except ImportError:
        return None
    return timm


if __name__ == "__main__":
    main()
