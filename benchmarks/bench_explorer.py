"""The Explorer on ResNet-50: how long a qconfig toggle takes to show its updated diff,
and how long every other interaction takes to redraw.

A toggle is what picking a qconfig in a module's menu does: the pass runs again with
events recorded, the diff against the previous run is built with an explanation per
changed observer, and the visible views (graph, tables, step, tree) are redrawn. The
time is measured from the menu change to the end of that redraw, per toggle, each to a
run key not seen before. Then: a toggle back to a kept run, and a step or view change
(neither runs the pass), and every other interaction. Then step 6, Calibrate, on
``--inputs`` sample batches: opening it (calibrating the run and measuring its error on
them), its overlay and module, and a toggle while it is open (the pass and the
calibration again). Last, what a re-run of the pass spends its time on: cloning the module
(with type splitting) against scripting the qconfig's observers.

Run with ``python benchmarks/bench_explorer.py`` (``--model resnet50``, ``--inputs 8`` by
default).
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch.ao.quantization import get_default_qconfig

import obsviz
from obsviz import api, engine

warnings.filterwarnings("ignore")

TOGGLES = [
    ("layer4", "None"),
    ("layer3.1.conv1", "None"),
    ("layer2", "static per-tensor"),
    ("fc", "dynamic"),
    ("layer1.0", "None"),
    ("layer4.2.conv3", "dynamic per-channel"),
]
PARTS = ("run", "diff", "graph", "table", "step", "tree", "search")


def timed(action) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


@contextmanager
def stopwatch(module: object, name: str, spent: list[float]) -> Iterator[None]:
    """Time every call of ``module.name`` while inside the block."""
    original = getattr(module, name)

    def timed_call(*args: object, **kwargs: object) -> object:
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent.append(time.perf_counter() - start)

    setattr(module, name, timed_call)
    try:
        yield
    finally:
        setattr(module, name, original)


def rerun_parts(
    model: torch.jit.ScriptModule, qconfig_dict: dict, repeat: int = 5
) -> dict[str, float]:
    """Median seconds a recorded run spends in all, cloning (with type splits), and
    scripting the qconfig's observers."""
    found: dict[str, list[float]] = {"run": [], "clone": [], "script": []}
    for _ in range(repeat):
        clone: list[float] = []
        script: list[float] = []
        with (
            stopwatch(engine, "clone_module", clone),
            stopwatch(api, "script_qconfig_dict", script),
        ):
            found["run"].append(timed(lambda: obsviz.insert_observers(model, qconfig_dict)))
        found["clone"].append(sum(clone))
        found["script"].append(sum(script))
    return {k: statistics.median(v) for k, v in found.items()}


def related_label(explorer: obsviz.Explorer) -> str:
    """A value the picked value's explanation links to (itself if it links to none)."""
    related = explorer.run.explain(explorer.state.value).related.values()
    return str(next(iter(related), explorer.state.value))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--inputs", type=int, default=8, help="batches step 6 calibrates on")
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = obsviz.samples.load(args.model)
    opened = time.perf_counter()
    explorer = obsviz.Explorer(
        model,
        {"": get_default_qconfig("fbgemm")},
        inputs=obsviz.samples.inputs(args.model, args.inputs),
    )
    print(
        f"{args.model}: Explorer opened in {time.perf_counter() - opened:.2f} s "
        f"({len(explorer.run.events)} events, {len(explorer.run.inserted)} observers)"
    )

    shown, totals = [], []
    present = {name for name, _ in model.named_modules()}
    toggles = [(path, choice) for path, choice in TOGGLES if path in present]
    for path, choice in toggles:
        totals.append(timed(lambda p=path, c=choice: explorer.set_qconfig(p, c)))
        assert explorer.errors == [], explorer.errors
        shown.append(explorer.shown_after["diff"])
        parts = "  ".join(f"{k}={explorer.timings.get(k, 0):.2f}" for k in PARTS)
        changes = len(explorer.session.diff(explorer.baseline, explorer.outcome))
        print(
            f"  {path} -> {choice:20s} diff shown after {shown[-1]:.2f} s, every view "
            f"after {totals[-1]:.2f} s ({changes:2d} changes; {parts})"
        )
    print(
        f"toggle -> updated diff shown: median {statistics.median(shown):.2f} s, max "
        f"{max(shown):.2f} s over {len(shown)} toggles (target: 2 s); every view redrawn: "
        f"median {statistics.median(totals):.2f} s"
    )

    made = explorer.session.runs_made
    back = timed(lambda: explorer.set_qconfig(toggles[-1][0], "inherit"))
    print(
        f"toggle back to a kept run: {back * 1000:.0f} ms (pass re-run: "
        f"{explorer.session.runs_made > made})"
    )
    step = timed(lambda: explorer.go_to_step(len(explorer.run.events) // 2))
    view = timed(lambda: setattr(explorer.when, "value", "before"))
    print(
        f"step change: {step:.2f} s, view change: {view:.2f} s; passes run: "
        f"{explorer.session.runs_made - made} (never for these)"
    )

    # every other interaction, each timed from the control's change to the end of redraw
    interactions = {
        "end of the pass": lambda: explorer.end_button.click(),
        "changes view": lambda: setattr(explorer.when, "value", "changes"),
        "diff view, layer1": lambda: (
            setattr(explorer.when, "value", "diff"),
            setattr(explorer.module, "value", "layer1"),
        ),
        "search an ambiguous name": lambda: setattr(explorer.search, "value", "%out.1"),
        "pick one": lambda: setattr(explorer.picks, "value", explorer.picks.options[1][1]),
        "follow a related value": lambda: setattr(
            explorer.follow, "value", related_label(explorer)
        ),
        "filter a table": lambda: setattr(explorer.query, "value", "delayed"),
        "another table": lambda: setattr(explorer.table_picker, "value", "boundary"),
        "bare pass (a new run)": lambda: setattr(explorer.fold_conv_bn, "value", False),
        "prepare_jit's again (kept)": lambda: setattr(explorer.fold_conv_bn, "value", True),
    }
    seconds = {}
    for name, action in interactions.items():
        seconds[name] = timed(action)
        assert explorer.errors == [], explorer.errors
        slowest = sorted(explorer.timings.items(), key=lambda kv: -kv[1])[1:3]  # after total
        print(
            f"  {name:28s} {seconds[name]:.2f} s  ("
            + ", ".join(f"{k}={v:.2f}" for k, v in slowest)
            + ")"
        )
    everything = [*totals, back, step, view, *seconds.values()]
    print(f"every interaction: max {max(everything):.2f} s over {len(everything)} (target: 2 s)")

    made = explorer.session.calibrations_made
    calibrating = {
        f"open step 6 ({args.inputs} batches)": lambda: setattr(
            explorer.calibrate_button, "value", True
        ),
        "colour by range": lambda: setattr(explorer.overlay, "value", "range"),
        "colour by sqnr": lambda: setattr(explorer.overlay, "value", "sqnr"),
        "step 3's module: layer2": lambda: setattr(explorer.module, "value", "layer2"),
        "a toggle, step 6 open": lambda: explorer.set_qconfig("layer3", "None"),
        "toggle back (both kept)": lambda: explorer.set_qconfig("layer3", "inherit"),
        "close step 6": lambda: setattr(explorer.calibrate_button, "value", False),
    }
    for name, action in calibrating.items():
        spent = timed(action)
        assert explorer.errors == [], explorer.errors
        parts = ", ".join(
            f"{k}={explorer.timings[k]:.2f}" for k in ("run", "calibrate") if k in explorer.timings
        )
        shown = ", ".join(  # when the browser had each: the notice first, the result last
            f"{k} {explorer.shown_after[k]:.2f}"
            for k in ("diff", "graph", "calibrating…", "calibrate")
            if k in explorer.shown_after
        )
        print(f"  {name:28s} {spent:.2f} s  ({parts or 'no pass, no calibration'})")
        if "calibrating…" in explorer.shown_after:
            print(f"  {'':28s} shown after: {shown} s")
    print(f"step 6 calibrated {explorer.session.calibrations_made - made} runs")

    parts = rerun_parts(model, {"": get_default_qconfig("fbgemm"), "layer4": None})
    total = parts["run"]
    print(
        f"a re-run of the pass (recording events): median {total:.2f} s, of which "
        f"cloning the module with type splits {parts['clone']:.2f} s "
        f"({parts['clone'] / total:.0%}) and scripting the qconfig observers "
        f"{parts['script']:.2f} s ({parts['script'] / total:.0%}); the rest is the "
        "engine's own walk"
    )


if __name__ == "__main__":
    main()
