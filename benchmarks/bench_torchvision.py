"""obsviz against the real pass on torchvision's models, one process per model and quant type.

Two families (``--family``):

- ``classification``: torchvision's classification models, scripted in eval mode as built.
- ``quantization``: every model of ``torchvision.models.quantization`` (the ones people
  build for quantization), with ``weights=None, quantize=False``, scripted in eval mode
  and conv-bn folded (``fuse_conv_bn_jit``) as ``prepare_jit`` does.

Each (model, quant type) runs both passes on the same scripted model in a process of its
own, so a crash ends one row, not the table. A row gives the real pass's result (its
observers; its error; or a module with empty observer slots, read safely with
``obsviz.slots`` and then wrapped in yet another process to show what reading it does),
obsviz's result (its observers, or its diagnosis), whether both place the same observers
(``obsviz.observer_placement``, also on the real pass's unreadable module), and a short
calibration of obsviz's module: it runs, and every observer it calls records, apart from
those only reached in branches the input does not take. Where both passes fail on an
``if`` and the diagnosis offers ``fold_attribute_branches``, the fold is applied and the
row repeated. The table is printed in Markdown at the end.

torchvision is not a dependency of obsviz. Install it beside the project, without
touching the environment's torch::

    pip install --no-deps --target build/torchvision torchvision==0.29.1 pillow
    python benchmarks/bench_torchvision.py --path build/torchvision [--models resnet18 ...]

or run it with a Python that has torchvision. A torchvision wheel built for another torch
fails to register its C++ operators at import; only the model definitions are needed
here, so its operator registrations are skipped then (``--path`` only). Models with
``nn.MultiheadAttention`` (vit_b_16), whose real pass crashes the process, are not in
the default lists.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import time
import types
import warnings
from collections.abc import Iterator

import torch
from torch.ao.quantization import default_dynamic_qconfig, get_default_qconfig
from torch.ao.quantization.quantize_jit import fuse_conv_bn_jit, script_qconfig_dict
from torch.jit._recursive import wrap_cpp_module

import obsviz
from obsviz.graphs import access_path
from obsviz.slots import empty_module_slots

warnings.filterwarnings("ignore")

FAMILIES = {
    "classification": (
        "resnet18",
        "resnext50_32x4d",
        "wide_resnet50_2",
        "mobilenet_v2",
        "mobilenet_v3_small",
        "googlenet",
        "inception_v3",
        "shufflenet_v2_x0_5",
        "squeezenet1_0",
        "densenet121",
        "efficientnet_b0",
        "efficientnet_v2_s",
        "regnet_y_400mf",
        "vgg11",
        "alexnet",
        "mnasnet0_5",
        "convnext_tiny",
        "swin_t",
        "maxvit_t",
    ),
    "quantization": (
        "googlenet",
        "inception_v3",
        "mobilenet_v2",
        "mobilenet_v3_large",
        "resnet18",
        "resnet50",
        "resnext101_32x8d",
        "shufflenet_v2_x0_5",
    ),
}
QUANT_TYPES = {
    "static": (get_default_qconfig("fbgemm"), 1),
    "dynamic": (default_dynamic_qconfig, 0),
}
INPUT_SIDE = {"inception_v3": 75}  # the smallest each model takes; the others take 32
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


def build(torchvision: types.ModuleType, family: str, name: str) -> torch.jit.ScriptModule:
    torch.manual_seed(0)
    if family == "quantization":
        eager = getattr(torchvision.models.quantization, name)(weights=None, quantize=False)
        return fuse_conv_bn_jit(torch.jit.script(eager.eval()))
    options = (
        {"init_weights": False, "aux_logits": False}
        if name in ("googlenet", "inception_v3")
        else {}
    )
    return torch.jit.script(getattr(torchvision.models, name)(**options).eval())


def example_input(name: str) -> torch.Tensor:
    side = INPUT_SIDE.get(name, 32)
    return torch.randn(2, 3, side, side, generator=torch.Generator().manual_seed(0))


def real_pass(model: torch.jit.ScriptModule, quant_type: str) -> torch._C.ScriptModule:
    """The real pass's module, left unwrapped: wrapping one with an empty slot crashes."""
    qconfig, code = QUANT_TYPES[quant_type]
    return torch._C._jit_pass_insert_observers(
        model._c, "forward", script_qconfig_dict({"": qconfig}), False, code
    )


def obsviz_pass(model: torch.jit.ScriptModule, quant_type: str) -> obsviz.Run:
    return obsviz.insert_observers(model, {"": QUANT_TYPES[quant_type][0]}, quant_type=quant_type)


def median_seconds(work: object, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _method_calls(block: torch._C.Block, nested: bool) -> Iterator[tuple[torch._C.Node, bool]]:
    """Every CallMethod of a block, and whether it sits inside an ``if`` or loop body."""
    for node in block.nodes():
        if node.kind() == "prim::CallMethod":
            yield node, nested
        for sub in node.blocks():
            yield from _method_calls(sub, True)


def observer_calls(root: torch._C.ScriptModule) -> dict[tuple[str, str], bool]:
    """``(instance path, observer attribute)`` of every observer call reached from
    forward, and whether each is reached only through an ``if`` branch or loop body."""
    calls: dict[tuple[str, str], bool] = {}
    seen: dict[tuple[str, str], bool] = {}
    stack = [(root, "", "forward", False)]
    while stack:
        module, path, method, conditional = stack.pop()
        if seen.get((path, method)) in (False, conditional):
            continue
        seen[(path, method)] = conditional
        graph = module._get_method(method).graph
        self_unique = next(graph.inputs()).unique()
        for node, nested in _method_calls(graph.block(), conditional):
            names, origin = access_path(node.inputsAt(0))
            if origin.unique() != self_unique:
                continue
            if len(names) == 1 and names[0].startswith("_observer_"):
                key = (path, names[0])
                calls[key] = calls.get(key, True) and nested
                continue
            target = module
            for name in names:
                target = target.getattr(name)
            if isinstance(target, torch._C.ScriptModule):
                sub = ".".join(names)
                stack.append(
                    (
                        target,
                        f"{path}.{sub}" if path and sub else path or sub,
                        node.s("name"),
                        nested,
                    )
                )
    return calls


def _recorded(observer: torch.jit.ScriptModule) -> bool:
    values = observer.min_val
    return values.numel() > 0 and bool(torch.isfinite(values).all())


def calibrate(run: obsviz.Run, inputs: torch.Tensor) -> str:
    """Run obsviz's module twice and say which of the observers it calls recorded."""
    module = run.module
    with torch.no_grad():
        module(inputs)
        module(inputs)
    calls = observer_calls(module._c)
    recorded = conditional = placeholders = 0
    silent = []
    for (path, attribute), only_in_branches in sorted(calls.items()):
        observer = module
        for part in [*filter(None, path.split(".")), attribute]:
            observer = getattr(observer, part)
        if not hasattr(observer, "min_val"):
            placeholders += 1  # a PlaceholderObserver (dynamic activations) keeps nothing
        elif _recorded(observer):
            recorded += 1
        elif only_in_branches:
            conditional += 1
        else:
            silent.append(f"{path}.{attribute}")
    held = sum(
        1 for name, _ in module.named_modules() if name.rsplit(".", 1)[-1].startswith("_observer_")
    )
    parts = [f"runs; {recorded}/{len(calls) - placeholders} observers record"]
    if conditional:
        parts.append(f"{conditional} only in branches this input does not take")
    if placeholders:
        parts.append(f"{placeholders} placeholders (nothing to record)")
    if held > len(calls):
        parts.append(f"{held - len(calls)} copies in slots of methods never run there")
    if silent:
        parts.append(f"NOT RECORDED: {', '.join(silent[:3])}")
    return ", ".join(parts)


def error_line(stderr: str) -> str:
    """The ``SomeError: message`` line of a traceback (torch's messages run on below it)."""
    lines = stderr.strip().splitlines()
    found = [line for line in lines if re.match(r"[\w.]+(Error|Exception): ", line)]
    return (found or lines or ["?"])[-1][:90]


def what_wrapping_does(
    name: str, quant_type: str, folded: tuple[str, ...], args: argparse.Namespace
) -> str:
    """Wrap the real pass's module in a process of its own and say how that ended."""
    result = subprocess.run(
        row_command(name, quant_type, args, "--wrap-real", folded),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode == 0:
        return "wrapping it works"
    if result.returncode < 0:
        return f"wrapping it kills the process (signal {-result.returncode})"
    return f"wrapping it raises {error_line(result.stderr)}"


def compare(
    model: torch.jit.ScriptModule,
    quant_type: str,
    name: str,
    args: argparse.Namespace,
    folded: tuple[str, ...] = (),
) -> Iterator[dict[str, str]]:
    row = {"model": f"{name} folded {folded}" if folded else name, "quant": quant_type}
    try:
        real_module = real_pass(model, quant_type)
    except RuntimeError as err:
        real_module = None
        row["real"] = f"fails: {str(err).strip().splitlines()[0][:90]}"
    else:
        real_sites = obsviz.observer_placement(real_module)
        empty = empty_module_slots(real_module)
        row["real"] = f"{len(real_sites)} observers"
        if empty:
            row["real"] += f", {len(empty)} empty slots; " + what_wrapping_does(
                name, quant_type, folded, args
            )
    try:
        run = obsviz_pass(model, quant_type)
    except obsviz.PassFailure as failure:
        row["obsviz"] = f"PassFailure: {failure.diagnosis.summary}"
        row["verdict"] = "both fail" if real_module is None else "MISMATCH: only obsviz fails"
        yield row
        offered = failure.diagnosis.fold_attributes
        if real_module is None and quant_type == "static" and offered and not folded:
            yield from after_folding(model, name, args)
        return
    sites = obsviz.observer_placement(run.module)
    row["obsviz"] = f"{len(sites)} observers"
    if real_module is None:
        row["verdict"] = "MISMATCH: only the real pass fails"
    elif sites != real_sites:
        row["verdict"] = f"MISMATCH: {len(set(sites) ^ set(real_sites))} observers differ"
    else:
        row["verdict"] = "same observers"
        if not empty:
            ratio = median_seconds(
                lambda: obsviz_pass(model, quant_type), args.repeat
            ) / median_seconds(lambda: real_pass(model, quant_type), args.repeat)
            row["verdict"] += f", obsviz/real time {ratio:.2f}x"
    row["calibration"] = calibrate(run, example_input(name))
    yield row


def after_folding(
    model: torch.jit.ScriptModule, name: str, args: argparse.Namespace
) -> Iterator[dict[str, str]]:
    """Apply the folds the static diagnoses offer, and compare the passes again."""
    attributes: list[str] = []
    for _ in range(FOLD_ROUNDS):
        try:
            obsviz_pass(model, "static")
        except obsviz.PassFailure as failure:
            offered = failure.diagnosis.fold_attributes
            if not offered or set(offered) <= set(attributes):
                break
            attributes += [a for a in offered if a not in attributes]
            model = obsviz.fold_attribute_branches(model, attributes=tuple(attributes))
            continue
        break
    yield from compare(model, "static", name, args, tuple(attributes))


def one_model(args: argparse.Namespace) -> None:
    torchvision = import_torchvision(args.path)
    name = args.models[0]
    model = build(torchvision, args.family, name)
    if args.fold:
        model = obsviz.fold_attribute_branches(model, attributes=tuple(args.fold))
    if args.wrap_real:
        observed = wrap_cpp_module(real_pass(model, args.quant))
        with torch.no_grad():
            observed(example_input(name))
        return
    for row in compare(model, args.quant, name, args):
        print(json.dumps(row), flush=True)


def row_command(
    name: str, quant_type: str, args: argparse.Namespace, mode: str, folded: tuple[str, ...] = ()
) -> list[str]:
    """The command running one row (``--one``), or wrapping its real module (``--wrap-real``)."""
    return [
        sys.executable,
        __file__,
        mode,
        "--family",
        args.family,
        "--models",
        name,
        "--quant",
        quant_type,
        "--repeat",
        str(args.repeat),
        *(["--path", args.path] if args.path else []),
        *(["--fold", *folded] if folded else []),
    ]


def print_table(rows: list[dict[str, str]]) -> None:
    columns = ("model", "quant", "real", "obsviz", "verdict", "calibration")
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(row.get(c, "").replace("|", "/") for c in columns) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--path", help="a folder torchvision was installed into")
    parser.add_argument("--family", choices=FAMILIES, default="quantization")
    parser.add_argument("--models", nargs="*")
    parser.add_argument("--quant", choices=QUANT_TYPES, nargs="*", default=list(QUANT_TYPES))
    parser.add_argument("--repeat", type=int, default=3, help="timing runs of each pass")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--wrap-real", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--fold", nargs="*", default=[], help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.models = args.models or list(FAMILIES[args.family])
    if args.one or args.wrap_real:
        args.quant = args.quant[0] if isinstance(args.quant, list) else args.quant
        one_model(args)
        return
    torchvision = import_torchvision(args.path)
    print(
        f"torch {torch.__version__}, torchvision {torchvision.__version__}, family {args.family}",
        flush=True,
    )
    rows = []
    for name in args.models:
        for quant_type in args.quant:
            # One process per row: a crash ends the row; and every clone adds class types
            # to torch's compilation unit, so later rows would time the process's history.
            start = time.perf_counter()
            result = subprocess.run(
                row_command(name, quant_type, args, "--one"),
                capture_output=True,
                text=True,
                check=False,
            )
            got = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
            if result.returncode != 0:
                got.append(
                    {
                        "model": name,
                        "quant": quant_type,
                        "verdict": f"process ended with {result.returncode}: "
                        f"{error_line(result.stderr)}",
                    }
                )
            for row in got:
                print(json.dumps(row), f"({time.perf_counter() - start:.0f} s)", flush=True)
            rows += got
    print()
    print_table(rows)


if __name__ == "__main__":
    main()
