"""obsviz against the real pass on torchvision's classification models.

For each model (scripted in eval mode) and each quant type, both passes run on the same
scripted model in this process: prints whether they insert the same observers (compared
with ``obsviz.observer_placement``), how many, and the median time ratio obsviz / real.
Where both fail, obsviz's diagnosis is printed, and when it offers
``fold_attribute_branches`` the fold is applied and both passes are compared again.

torchvision is not a dependency of obsviz. Install it beside the project, without
touching the environment's torch::

    pip install --no-deps --target build/torchvision torchvision==0.29.1 pillow
    python benchmarks/bench_torchvision.py --path build/torchvision [--models resnet18 ...]

A torchvision wheel built for another torch fails to register its C++ operators at
import; only the model definitions are needed here, so its operator registrations are
skipped then (``--path`` only). Models whose real pass crashes the process (any with
``nn.MultiheadAttention``, such as vit_b_16; see the README) are left out by default.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
import types
import warnings

import torch
from torch.ao.quantization import default_dynamic_qconfig, get_default_qconfig
from torch.ao.quantization.quantize_jit import script_qconfig_dict
from torch.jit._recursive import wrap_cpp_module

import obsviz

warnings.filterwarnings("ignore")

MODELS = (
    "resnet18", "resnext50_32x4d", "wide_resnet50_2", "mobilenet_v2", "mobilenet_v3_small",
    "googlenet", "inception_v3", "shufflenet_v2_x0_5", "squeezenet1_0", "densenet121",
    "efficientnet_b0", "efficientnet_v2_s", "regnet_y_400mf", "vgg11", "alexnet",
    "mnasnet0_5", "convnext_tiny", "swin_t", "maxvit_t",
)
QUANT_TYPES = {"static": (get_default_qconfig("fbgemm"), 1),
               "dynamic": (default_dynamic_qconfig, 0)}
FOLD_ROUNDS = 3  # a model can hold several kinds of failing branches


def import_torchvision(path: str | None) -> types.ModuleType:
    if path:
        sys.path.insert(0, path)
        try:
            import torchvision
        except RuntimeError:  # its C++ operators do not match this torch
            for name in [m for m in sys.modules if m.startswith("torchvision")]:
                del sys.modules[name]
            sys.modules["torchvision._meta_registrations"] = types.ModuleType("stub")
            import torchvision
    else:
        import torchvision
    return torchvision


def real_pass(model: torch.jit.ScriptModule, quant_type: str) -> torch.jit.ScriptModule:
    qconfig, code = QUANT_TYPES[quant_type]
    return wrap_cpp_module(torch._C._jit_pass_insert_observers(
        model._c, "forward", script_qconfig_dict({"": qconfig}), False, code))


def obsviz_pass(model: torch.jit.ScriptModule, quant_type: str) -> obsviz.Run:
    return obsviz.insert_observers(model, {"": QUANT_TYPES[quant_type][0]},
                                   quant_type=quant_type)


def median_seconds(work: object, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def compare(model: torch.jit.ScriptModule, quant_type: str, repeat: int) -> str:
    try:
        real = obsviz.observer_placement(real_pass(model, quant_type))
    except RuntimeError as err:
        real = err
    try:
        run = obsviz_pass(model, quant_type)
    except obsviz.PassFailure as failure:
        if not isinstance(real, RuntimeError):
            return f"MISMATCH: only obsviz fails: {failure.diagnosis.summary}"
        return f"both fail\n      {failure.diagnosis.summary}\n      Fix: " \
               f"{failure.diagnosis.fix}"
    if isinstance(real, RuntimeError):
        return f"MISMATCH: only the real pass fails: {str(real).splitlines()[0]}"
    mine = obsviz.observer_placement(run.module)
    if mine != real:
        return f"MISMATCH: {len(set(mine) ^ set(real))} observers differ"
    ratio = median_seconds(lambda: obsviz_pass(model, quant_type), repeat) / \
        median_seconds(lambda: real_pass(model, quant_type), repeat)
    return f"same {len(real)} observers, obsviz/real {ratio:.2f}x"


def fold_until_it_passes(model: torch.jit.ScriptModule, repeat: int) -> str:
    """Apply the folds the static diagnoses offer, and compare the passes again."""
    attributes: list[str] = []
    for _ in range(FOLD_ROUNDS):
        try:
            obsviz_pass(model, "static")
        except obsviz.PassFailure as failure:
            offered = failure.diagnosis.fold_attributes
            if not offered or set(offered) <= set(attributes):
                return f"no fold offered for {failure.diagnosis.module_path or '<top>'}"
            attributes += [a for a in offered if a not in attributes]
            model = obsviz.fold_attribute_branches(model, attributes=tuple(attributes))
            continue
        break
    return f"after fold_attribute_branches(attributes={tuple(attributes)!r}): " + \
        compare(model, "static", repeat)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--path", help="a folder torchvision was installed into")
    parser.add_argument("--models", nargs="*", default=MODELS)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    torchvision = import_torchvision(args.path)
    if not args.one:
        # One process per model: every clone adds class types to torch's compilation
        # unit, and finding a free mangled name gets slower with each, so later models
        # in a long process would time the process's history, not the passes.
        print(f"torch {torch.__version__}, torchvision {torchvision.__version__}", flush=True)
        for name in args.models:
            subprocess.run([sys.executable, __file__, "--one", "--models", name, "--repeat",
                            str(args.repeat), *(["--path", args.path] if args.path else [])],
                           check=False)
        return
    for name in args.models:
        options = {"init_weights": False} if name in ("googlenet", "inception_v3") else {}
        if name in ("googlenet", "inception_v3"):
            options["aux_logits"] = False
        model = torch.jit.script(getattr(torchvision.models, name)(**options).eval())
        for quant_type in QUANT_TYPES:
            result = compare(model, quant_type, args.repeat)
            print(f"{name:20s} {quant_type:8s} {result}", flush=True)
            if quant_type == "static" and result.startswith("both fail"):
                print(f"{'':20s} {'':8s} {fold_until_it_passes(model, args.repeat)}",
                      flush=True)


if __name__ == "__main__":
    main()
