"""Command line: an HTML report of a model's run, or one value's explanation, in a terminal.

    obsviz report model.pt --qconfig fbgemm --set fc=none --out report.html
    obsviz report --sample resnet50 --qconfig qnnpack --out report.html
    obsviz explain model.pt %7 --module layer1.0
    obsviz summary --sample resnet_small

MODEL is a file written by ``torch.jit.save``, or ``--sample NAME`` for a built-in model.
As ``prepare_jit`` does, conv-bn pairs are folded before the pass (``--no-fold`` runs the
pass on the model as saved); value names are those of the graphs the pass ran on.
"""

from __future__ import annotations

import argparse
import difflib
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch

from . import events as ev
from . import samples
from .api import insert_observers
from .convbn import fold_conv_bn
from .errors import ObsvizError, ObsvizWarning, PassFailure
from .fixes import fold_constant_branches, self_attributes
from .loading import load
from .qconfig import named_modules
from .refs import TOP, display_path
from .rules import DYNAMIC, STATIC
from .run import Run
from .torch_api import QConfig, require_jit_quantization
from .torch_api import quantization as tq

QCONFIGS: dict[str, tuple[Callable[[], QConfig], str]] = {
    "fbgemm": (lambda: tq.get_default_qconfig("fbgemm"), STATIC),
    "qnnpack": (lambda: tq.get_default_qconfig("qnnpack"), STATIC),
    "dynamic": (lambda: tq.default_dynamic_qconfig, DYNAMIC),
    "per_channel_dynamic": (lambda: tq.per_channel_dynamic_qconfig, DYNAMIC),
    "fp16": (lambda: tq.float16_dynamic_qconfig, DYNAMIC),
}
NONE = "none"
PASS_PHASES = 7  # PhaseFinished events of a static or dynamic (not on-device) run
EXIT_PASS_FAILED = 1
EXIT_BAD_INPUT = 2


class CliError(ObsvizError):
    """Bad command-line input: the message says what to type instead."""


# ---------------------------------------------------------------------- progress
class ProgressBar:
    """A progress bar on stderr (tqdm), shown only when stderr is a terminal."""

    def __init__(self, enabled: bool | None = None) -> None:
        from tqdm import tqdm

        self.bar = tqdm(
            total=0,
            unit="step",
            file=sys.stderr,
            leave=False,
            disable=None if enabled is None else not enabled,
            bar_format="{desc:<34.34} {bar} {n_fmt}/{total_fmt} [{elapsed}]",
        )

    def add(self, units: int) -> None:
        self.bar.total += units
        self.bar.refresh()

    def step(self, label: str, units: int = 1) -> None:
        self.bar.set_description_str(label, refresh=False)
        self.bar.update(units)

    def hook(self, event: ev.Event) -> None:
        """A hook for the pass: one step per finished phase."""
        if isinstance(event, ev.PhaseFinished):
            self.step(f"pass: {event.phase.replace('_', ' ')}")

    def close(self) -> None:
        self.bar.close()


# ---------------------------------------------------------------------- inputs
def qconfig_named(name: str) -> tuple[QConfig | None, str | None]:
    """A qconfig name of the command line -> (QConfig, quant type); ``none`` -> (None, None)."""
    key = name.strip().lower()
    if key == NONE:
        return None, None
    if key not in QCONFIGS:
        known = [*QCONFIGS, NONE]
        close = difflib.get_close_matches(key, known, n=2)
        hint = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
        raise CliError(f"unknown qconfig {name!r}.{hint} Known: {', '.join(known)}.")
    make, quant_type = QCONFIGS[key]
    return make(), quant_type


@dataclass
class Inputs:
    """The model and qconfig_dict a command runs the pass with."""

    model: torch.jit.ScriptModule
    label: str
    qconfig_dict: dict[str, QConfig | None]
    names: list[tuple[str, str]]  # (path, qconfig name) as typed
    quant_type: str
    fold: bool
    method: str
    fold_attributes: tuple[str, ...] = ()  # --fold-attribute, in order
    fold_constants: bool = False  # --fold-constants: arguments too, training by default
    warnings: list[str] = field(default_factory=list)

    @property
    def folded_attributes(self) -> tuple[str, ...]:
        """The attributes fold_constant_branches is given, as its default does."""
        if self.fold_constants and not self.fold_attributes:
            return ("training",)
        return self.fold_attributes


def read_inputs(args: argparse.Namespace) -> Inputs:
    model, label = load_model(args.model, args.sample)
    qconfig, quant_type = qconfig_named(args.qconfig)
    if qconfig is None:
        raise CliError(
            "--qconfig none leaves the whole model unquantized; give fbgemm, "
            "qnnpack, dynamic, per_channel_dynamic or fp16 (and --set PATH=none "
            "for the parts to leave float)"
        )
    qconfig_dict: dict[str, QConfig | None] = {"": qconfig}
    names = [("", args.qconfig)]
    paths = [path for path, _ in named_modules(model._c)]
    for setting in args.set or ():
        path, name = parse_setting(setting, paths)
        value, its_type = qconfig_named(name)
        if its_type is not None and its_type != quant_type:
            raise CliError(
                f"--set {setting}: {name} is a {its_type} qconfig but --qconfig "
                f"{args.qconfig} is {quant_type}; one run quantizes one way"
            )
        qconfig_dict[path] = value
        names.append((path, name))
    return Inputs(
        model,
        label,
        qconfig_dict,
        names,
        quant_type,
        not args.no_fold,
        args.entry,
        tuple(dict.fromkeys(args.fold_attribute or ())),
        args.fold_constants,
    )


def load_model(path: str | None, sample: str | None) -> tuple[torch.jit.ScriptModule, str]:
    if path and sample:
        raise CliError(
            f"give a model file or --sample, not both (got {path!r} and --sample {sample})"
        )
    if sample:
        try:
            return samples.load(sample), f"{sample} (built-in sample)"
        except samples.UnknownSampleError as err:
            raise CliError(str(err)) from None
    if not path:
        raise CliError(
            "no model: give a file saved with torch.jit.save, or --sample NAME "
            f"(samples: {', '.join(samples.names())})"
        )
    return load(path), path


def parse_setting(setting: str, paths: Sequence[str]) -> tuple[str, str]:
    """``PATH=QCONFIG`` -> (path, qconfig name); the path must name a submodule."""
    path, sep, name = setting.partition("=")
    path = path.strip()
    if not sep or not name.strip():
        raise CliError(
            f"--set {setting!r}: expected PATH=QCONFIG, e.g. --set fc=none or --set layer4=qnnpack"
        )
    if path not in paths:
        close = difflib.get_close_matches(path, paths, n=3, cutoff=0.5)
        hint = f" Closest module paths: {', '.join(map(repr, close))}." if close else ""
        raise CliError(
            f"--set {setting}: no submodule at path {path!r}.{hint} Paths are "
            "dotted attribute names as in model.named_modules() ('' is the whole "
            "model)."
        )
    return path, name.strip()


def load_batches(path: str) -> list:
    """``--inputs FILE``: a ``torch.save``d list of batches, each a tensor or a tuple of
    tensors (the model's arguments)."""
    try:
        batches = torch.load(path, weights_only=True)
    except FileNotFoundError as err:
        raise CliError(f"--inputs {path}: no such file") from err
    except Exception as err:  # torch.load's errors have no common type
        raise CliError(
            f"--inputs {path}: torch.load cannot read it ({err}); save a list of "
            "input tuples with torch.save([(x,), ...], path)"
        ) from err
    if not isinstance(batches, list | tuple) or not batches:
        raise CliError(
            f"--inputs {path}: holds a {type(batches).__name__}, not a non-empty "
            "list of input tuples (torch.save([(x,), ...], path))"
        )
    for index, batch in enumerate(batches):
        items = batch if isinstance(batch, list | tuple) else (batch,)
        if not all(isinstance(item, torch.Tensor) for item in items):
            kinds = ", ".join(type(item).__name__ for item in items)
            raise CliError(
                f"--inputs {path}: batch {index} is ({kinds}); each batch is a "
                "tensor or a tuple of tensors"
            )
    return [tuple(b) if isinstance(b, list | tuple) else b for b in batches]


def run_pass(inputs: Inputs, bar: ProgressBar) -> Run:
    """The pass as prepare_jit runs it (conv-bn folded first unless --no-fold); a failed
    pass gives its partial run, whose ``failure`` holds the diagnosis."""
    model = inputs.model
    if inputs.folded_attributes or inputs.fold_constants:
        model = fold_constant_branches(
            model, inputs.folded_attributes, inputs.fold_constants, method_name=inputs.method
        )
    if inputs.fold:
        bar.step("folding conv-bn")
        model = fold_conv_bn(model)
    with obsviz_warnings(inputs.warnings):
        try:
            return insert_observers(
                model,
                inputs.qconfig_dict,
                method_name=inputs.method,
                quant_type=inputs.quant_type,
                hooks=(bar.hook,),
            )
        except PassFailure as failure:
            return failure.run


@contextmanager
def obsviz_warnings(collected: list[str]) -> Iterator[None]:
    """Keep obsviz's warnings for the user; drop torch's deprecation chatter."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for warning in caught:
        if issubclass(warning.category, ObsvizWarning):
            text = str(warning.message)
            if text not in collected:
                collected.append(text)


def _notes(inputs: Inputs) -> list[str]:
    notes = []
    if inputs.fold_constants:
        names = self_attributes(inputs.folded_attributes)
        notes.append(
            f"{names} and the arguments every call passes alike made constant and "
            "the branches on them folded first (--fold-constants)"
        )
    elif inputs.fold_attributes:
        names = self_attributes(inputs.fold_attributes)
        them = "them" if len(inputs.fold_attributes) > 1 else "it"
        notes.append(
            f"{names} made constant and the branches on {them} folded first (--fold-attribute)"
        )
    if inputs.fold:
        notes.append(
            "conv-bn pairs folded first, as prepare_jit does (--no-fold: the pass "
            "on the model as saved); value names are those of the folded graphs"
        )
    else:
        notes.append("the pass ran on the model as saved (no conv-bn folding)")
    return notes


def _failure_text(run: Run, inputs: Inputs) -> str:
    """The diagnosis, and the command-line spelling of a fold it suggests."""
    text = str(run.failure)
    offered = run.failure.fold_attributes
    wanted = tuple(dict.fromkeys((*inputs.folded_attributes, *offered)))
    more_arguments = run.failure.fold_arguments and not inputs.fold_constants
    if wanted != inputs.folded_attributes or more_arguments:
        flags = ["--fold-constants"] + [
            f"--fold-attribute {name}" for name in wanted if wanted != ("training",)
        ]
        text += f"\nOn the command line, that fold is: {' '.join(flags)}"
    return text


# ---------------------------------------------------------------------- commands
def _load_and_run(
    args: argparse.Namespace, then: Callable[[Inputs, Run, ProgressBar], object] | None = None
) -> tuple[Inputs, Run]:
    """Load the model, run the pass (and ``then``) under one progress bar; print the
    warnings the pass gave once the bar is gone."""
    bar = ProgressBar(args.progress)
    try:
        bar.add(2 + PASS_PHASES)
        bar.step("loading the model")
        inputs = read_inputs(args)
        run = run_pass(inputs, bar)
        if then is not None:
            then(inputs, run, bar)
    finally:
        bar.close()
    _print_warnings(inputs.warnings)
    return inputs, run


def report(args: argparse.Namespace) -> int:
    from .report import ReportHeader, write_report

    written: list = []

    def write(inputs: Inputs, run: Run, bar: ProgressBar) -> None:
        notes = _notes(inputs)
        calibration = None
        if args.inputs and run.failure is None:
            batches = load_batches(args.inputs)
            bar.add(2)
            bar.step(f"calibrating on {len(batches)} batches")
            calibration = run.calibrate(batches, progress=False)
            bar.step("measuring the quantization error")
            calibration.error(batches, progress=False)
            notes.append(
                f"calibrated on the {len(batches)} batches of {args.inputs}, and the "
                "error measured on the same batches"
            )
        header = ReportHeader(
            model=inputs.label, qconfig=inputs.names, notes=notes, warnings=inputs.warnings
        )
        written.append(write_report(args.out, run, header, progress=bar, calibration=calibration))

    inputs, run = _load_and_run(args, write)
    path = written[0]
    print(f"{run}\nreport written to {path}")
    if run.failure is not None:
        print(
            f"obsviz: the pass failed; the report starts with the diagnosis:\n"
            f"{_failure_text(run, inputs)}",
            file=sys.stderr,
        )
        return EXIT_PASS_FAILED
    return 0


def explain(args: argparse.Namespace) -> int:
    if args.sample and args.value is None:
        args.model, args.value = None, args.model
    if args.value is None:
        raise CliError(
            "which value? obsviz explain MODEL VALUE [--module PATH], e.g. "
            "obsviz explain model.pt %x.5 --module layer1.0"
        )
    inputs, run = _load_and_run(args)
    status = 0
    if run.failure is not None:
        print(f"the pass failed:\n{_failure_text(run, inputs)}\n\nthe value in the partial run:\n")
        status = EXIT_PASS_FAILED
    module = "" if args.module in ("", TOP) else args.module
    explanation = run.explain(args.value, module=module, method=args.method)
    print(explanation)
    print(f"\n({'; '.join(_notes(inputs))})")
    return status


def summary(args: argparse.Namespace) -> int:
    inputs, run = _load_and_run(args)
    print(f"{inputs.label}: {'; '.join(_notes(inputs))}")
    if run.failure is not None:
        print(f"the pass failed:\n{_failure_text(run, inputs)}\n")
    print(run)
    by_module = {display_path(path): n for path, n in run.observers_by_module().items()}
    print(f"\nobservers by owning module ({len(by_module)} modules):")
    for path, count in sorted(by_module.items()):
        print(f"  {path:40s} {count}")
    print("\nfirst observed values:")
    for _path, name, value in run.inserted[:10]:
        print(f"  {name:14s} observes {value}")
    return EXIT_PASS_FAILED if run.failure is not None else 0


def _print_warnings(collected: Sequence[str]) -> None:
    for text in collected:
        print(f"obsviz: warning: {text}", file=sys.stderr)


# ---------------------------------------------------------------------- parser
def _model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sample",
        metavar="NAME",
        help=f"a built-in model instead of a file ({', '.join(samples.names())})",
    )
    parser.add_argument(
        "--qconfig",
        default="fbgemm",
        metavar="NAME",
        help=f"the qconfig of the whole model: {', '.join(QCONFIGS)} (default fbgemm)",
    )
    parser.add_argument(
        "--set",
        action="append",
        metavar="PATH=QCONFIG",
        help="the qconfig of one submodule and what it contains, e.g. "
        "fc=none or layer4=qnnpack; repeat for more",
    )
    parser.add_argument(
        "--entry",
        default="forward",
        metavar="METHOD",
        help="the method the pass starts from (default forward)",
    )
    parser.add_argument(
        "--no-fold",
        action="store_true",
        help="run the pass on the model as saved, without folding conv-bn "
        "pairs first as prepare_jit does",
    )
    parser.add_argument(
        "--fold-constants",
        action="store_true",
        help="make self.training (or the --fold-attribute ones) and the "
        "arguments every call passes alike constants first, removing "
        "the branches on them the pass fails on "
        "(obsviz.fold_constant_branches)",
    )
    parser.add_argument(
        "--fold-attribute",
        action="append",
        metavar="ATTR",
        help="make self.ATTR a constant first, removing the `if self.ATTR:` "
        "branches the pass fails on, e.g. --fold-attribute drop_rate; "
        "repeat for more",
    )
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show a progress bar (default: when stderr is a terminal)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="obsviz",
        description=__doc__.split("\n\n")[0],
        epilog="MODEL is a file saved with torch.jit.save, or --sample NAME.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = commands.add_parser(
        "report",
        help="write a self-contained HTML report of the pass",
        description="Write one HTML file (no network needed to view it) "
        "with the summary, figures, tables, and an explanation for every "
        "value with a quantizable use but no observer.",
    )
    p.add_argument("model", nargs="?", metavar="MODEL", help="a torch.jit.save file")
    _model_options(p)
    p.add_argument(
        "--out", default="report.html", help="the HTML file to write (default report.html)"
    )
    p.add_argument(
        "--inputs",
        metavar="FILE",
        help="a torch.save'd list of input tuples: "
        "calibrate on them and add a calibration section (ranges, flags, the "
        "values quantizing costs most, the SQNR overlay)",
    )
    p.set_defaults(func=report)

    p = commands.add_parser(
        "explain",
        help="why was, or wasn't, a value observed?",
        usage="obsviz explain [options] (MODEL | --sample NAME) VALUE",
        description="Print the explanation of one value: the verdict, "
        "related values, and the trail of rule checks.",
    )
    p.add_argument("model", nargs="?", metavar="MODEL", help="a torch.jit.save file")
    p.add_argument(
        "value",
        nargs="?",
        metavar="VALUE",
        help="a value's debug name, with or without %% (as in model.graph)",
    )
    p.add_argument(
        "--module",
        default="",
        metavar="PATH",
        help="the module instance whose graph holds the value (default: the top)",
    )
    _model_options(p)
    p.add_argument(
        "--method",
        default=None,
        metavar="NAME",
        help="the method whose graph holds the value (default: --entry, then "
        "the module's other methods)",
    )
    p.set_defaults(func=explain)

    p = commands.add_parser("summary", help="run the pass and list the observers it inserts")
    p.add_argument("model", nargs="?", metavar="MODEL", help="a torch.jit.save file")
    _model_options(p)
    p.set_defaults(func=summary)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # torch's observers warn about reduce_range on every construction: noise here
    warnings.filterwarnings("ignore", message="Please use quant_min and quant_max")
    if args.command == "summary" and not args.model and not args.sample:
        args.sample = "resnet_small"
    try:
        require_jit_quantization()
        return args.func(args)
    except ObsvizError as err:
        print(f"obsviz {args.command}: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
