"""Write the notebooks from the cells below and execute them, so they carry their outputs.

    python notebooks/build.py             # rewrite and execute every notebook in place
    python notebooks/build.py tour        # only one of them
    python notebooks/build.py --headless build
        # execute the committed tour into build/tour.ipynb and build/tour.html

Edit the cells here rather than the .ipynb files, then run this script and commit both.
The tests (tests/test_notebooks.py) execute the committed notebooks again.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
TIMEOUT = 600

Cells = list[tuple[str, str]]  # ("md" | "code", source)

SETUP = """\
import warnings

import pandas as pd
import torch
from torch.ao.quantization import get_default_qconfig

import obsviz

# torch's observers warn about reduce_range each time one is built: not what we look at
warnings.filterwarnings("ignore", message="Please use quant_min and quant_max")
pd.set_option("display.max_colwidth", 60)
pd.set_option("display.width", 160)"""

TOUR: Cells = [
    ("md", """\
# A tour of obsviz

`torch.ao.quantization.prepare_jit` decides, value by value, where a scripted model gets
observers. obsviz runs the same decisions (the C++ pass `InsertObservers`) in Python and
records every one of them, so you can ask *why*.

This tour uses `resnet_small`, a narrow ResNet built into obsviz (no download). In order:
running the pass, the tables, the explanation of a conv output that got no observer,
pictures before, after and as a diff, stepping through the pass, and the Explorer."""),
    ("code", SETUP),
    ("md", """\
## 1. Run the pass

`obsviz.prepare_jit` is a drop-in for torch's: it folds conv-bn pairs, then runs the
pass. The observed module is what torch would give you; the `Run` behind it
(`observed._obsviz_run`) holds everything the pass decided.
`obsviz.insert_observers(model, qconfig_dict)` runs the pass alone, without the folding.
`run.original` is the model the pass was given (here the folded one): value names in the
tables and explanations are those of its graphs."""),
    ("code", """\
model = obsviz.samples.load("resnet_small")
qconfig_dict = {"": get_default_qconfig("fbgemm")}

observed = obsviz.prepare_jit(model, qconfig_dict)
run = observed._obsviz_run
print(run)"""),
    ("md", """\
`run.inserted` lists each observer: the module that owns it, its attribute name, and the
value it watches (`module path:method:%value`)."""),
    ("code", """\
for path, attribute, value in run.inserted[:6]:
    print(f"{attribute:13s} in {path or '<top>':16s} observes {value}")"""),
    ("md", """\
## 2. The tables

`run.tables` holds the pass's maps and decisions as pandas DataFrames. Each names values
with the same columns (`module_path`, `method`, `value`, `producer`), so they filter and
join like any other frame. The row counts below say how much each map holds."""),
    ("code", "run.tables"),
    ("md", """\
`run.tables.delay` is the map of delayed observations: a fusion pattern (conv2d → relu,
add → relu, ...) matched, so the first op's output gets no observer and the fused op's
output (`observed_instead_value`) gets it instead."""),
    ("code", """\
run.tables.delay[["module_path", "value", "producer", "pattern", "observed_instead_value"]]"""),
    ("md", """\
`run.values()` has one row per value of every graph the pass reached, with a reason
code (`obsviz.explain.REASONS` documents them). Counting the codes is a quick census."""),
    ("code", """\
values = run.values()
values[values.producer != "prim::Constant"].reason.value_counts()"""),
    ("md", """\
## 3. Why is there no observer on this conv output?

The last row of the delay table is the top-level `conv1`'s output: the stem's conv whose
batch norm was folded into it. Ask `run.explain` about it. Look at the verdict (first
lines) and at the trail: the rule checks of the pass in the order it made them, with
`delayObservingValuesInPattern` matching the conv-relu pattern."""),
    ("code", """\
stem = run.tables.delay.query("module_path == ''").iloc[0]
explanation = run.explain(stem.value, module=stem.module_path)
print(explanation)"""),
    ("code", """\
print("reason:", explanation.reason)
print("observed instead:", explanation.related["observed_instead"])
print(explanation.summary)"""),
    ("md", """\
`explanation.render()` draws the value's neighbourhood: the conv's output (highlighted,
dashed orange: delayed) and the relu's output that carries the observer."""),
    ("code", "explanation.render()"),
    ("md", """\
## 4. Before, after, and what the pass added

`run.render(when=...)` draws one graph. `"before"` is the model you gave the pass, each
value drawn in its state; `"after"` is `run.module`, observers included; `"diff"` is your
graph with the observers the pass added (octagons). Submodule calls stay collapsed and say
how many observers went inside; `module=` draws one submodule, `depth=` expands calls.
Hover an edge in Jupyter for the decision about its value.

The top-level graph before the pass:"""),
    ("code", 'run.render(when="before")'),
    ("md", """\
The first residual block as the pass left it (`run.module.layer1[0]`): the observer
calls sit on the values they watch."""),
    ("code", 'run.render(module="layer1.0", when="after")'),
    ("md", """\
The same block as a diff: the dashed orange edges are the values a fusion pattern left
to the relu after them; the octagons are what the pass added."""),
    ("code", 'run.render(module="layer1.0", when="diff")'),
    ("md", """\
### Two configurations compared

`run.diff(other)` lists the observers one run has and the other lacks, each explained
in both runs. Here `layer1.0.conv2` gets no qconfig: its weight observer goes, the
block's conv output and residual add lose theirs, and the top level now observes the
block's result itself."""),
    ("code", """\
other = obsviz.prepare_jit(model, {**qconfig_dict, "layer1.0.conv2": None})._obsviz_run
diff = run.diff(other)
print(diff)"""),
    ("code", """\
diff.to_frame()[["module_path", "value", "change", "reason_this", "reason_other"]]"""),
    ("md", """\
## 5. Step through the pass

Every decision is an event (`obsviz.events`), numbered in the order the pass made it.
`run.at(step)` gives the tables as they stood after any event, so you can watch the maps
fill up phase by phase: the boundary map when calls are linked, the delay and observer
maps during analysis, the observers at the end."""),
    ("code", """\
from obsviz import events as ev

MAPS = ("boundary", "delay", "observer_map", "pass_through", "inserted")
rows = []
for event in run.events_of(ev.PhaseFinished):
    tables = run.at(event.step).tables
    rows.append({"step": event.step, "phase": event.phase,
                 **{name: len(getattr(tables, name)) for name in MAPS}})
pd.DataFrame(rows).set_index("step")"""),
    ("md", """\
`obsviz.steps(...)` runs the pass one event at a time, for stepping live: the pass waits
while you look. Here we stop at the first fusion pattern the analysis matches, let the
pass finish (its last item is the `Run`), and read the delay table as it stood then."""),
    ("code", """\
stepper = obsviz.steps(run.original, qconfig_dict)
for event in stepper:
    if isinstance(event, ev.DelayMatched):
        print(f"step {event.step}: {event.pattern} delays {event.first} to {event.second}")
        break
*_, stepped = stepper  # the rest of the events, then the Run
stepped.at(event.step).tables.delay[["module_path", "value", "pattern",
                                     "observed_instead_value"]]"""),
    ("md", """\
## 6. The Explorer

The Explorer puts all of this in one widget: pick a qconfig per module (or None), switch
static and dynamic, step through the events, and click a value to read why. Its diff
panel compares against the configuration you started from. (The widget needs a live
kernel: run this notebook in JupyterLab with `make tour`.)"""),
    ("code", """\
explorer = obsviz.Explorer(model, qconfig_dict=qconfig_dict)
explorer"""),
    ("md", """\
The widget is its state plus views of it, so code can drive it as clicks do. Give
`layer1.0.conv2` no qconfig, as in the diff above, and read the configuration back as
Python for `prepare_jit`. (As `prepare_jit` does, the Explorer folds conv-bn pairs
before the pass, so its counts are `prepare_jit`'s; the checkbox in its header, or
`fold_conv_bn=False`, runs the bare pass on the model as given.)"""),
    ("code", """\
explorer.set_qconfig("layer1.0.conv2", "None")
print(explorer.code())
print(explorer.run)"""),
    ("md", """\
## 7. Share it

`obsviz report` writes all of the above for a saved model into one HTML file that opens
without a network: summary counts, figures, tables, and an explanation for every value
with a quantizable use but no observer.

```sh
obsviz report model.pt --qconfig fbgemm --set fc=none --out report.html
obsviz explain model.pt %input.5 --module layer1.0
```

Next: `why_not_observed.ipynb` answers the questions users ask most, one recipe each."""),
]

WHY: Cells = [
    ("md", """\
# Why is this value not observed?

Recipes for the questions users ask most. Each builds a small model, asks obsviz, and
then changes the model or the qconfig to get the other outcome. `e.reason` is the reason
code (`obsviz.explain.REASONS`); `print(e)` adds the trail of rule checks."""),
    ("code", SETUP + """

from torch import nn
from torch.ao.quantization import default_dynamic_qconfig

qconfig = get_default_qconfig("fbgemm")


def script(module):
    return torch.jit.script(module.eval())


def why(run, value, module=""):
    e = run.explain(value, module=module)
    print(f"{e.value}: {'observed' if e.observed else 'NOT observed'} [{e.reason}]")
    print(e.verdict)
    return e"""),
    ("md", """\
## A conv output with no observer

A conv followed by a relu is fused when quantized, so the pass observes the relu's output
and not the conv's: `delayed`, by the `nn_conv2d_nn_relu` pattern (`aten_conv2d_*` when
the relu is functional)."""),
    ("code", """\
class ConvRelu(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.relu = nn.ReLU()

    def forward(self, x):
        y = self.conv(x)
        return self.relu(y)


run = obsviz.insert_observers(script(ConvRelu()), {"": qconfig})
e = why(run, "y.1")"""),
    ("md", """\
**Other outcome.** The fusion needs the conv output to have no other use. Use it
elsewhere too (here: return it) and the pass observes it itself."""),
    ("code", """\
class ConvReluBoth(ConvRelu):
    def forward(self, x):
        y = self.conv(x)
        return self.relu(y), y


run = obsviz.insert_observers(script(ConvReluBoth()), {"": qconfig})
e = why(run, "y.1")
print(obsviz.check(script(ConvReluBoth()), {"": qconfig}).of_kind("fusion_blocked")[0])"""),
    ("md", """\
## An add output with no observer

`add`, `mul` and `cat` are observed only when all their tensor inputs are. Here `right`
has no qconfig, so its output is float and the sum stays unobserved:
`propagate_input_unobserved`, naming the input to look at next."""),
    ("code", """\
class TwoBranches(nn.Module):
    def __init__(self):
        super().__init__()
        self.left = nn.Conv2d(3, 8, 1)
        self.right = nn.Conv2d(3, 8, 1)

    def forward(self, x):
        total = self.left(x) + self.right(x)
        return total


model = script(TwoBranches())
run = obsviz.insert_observers(model, {"": qconfig, "right": None})
e = why(run, "total.1")
print("look next at:", e.related["unobserved_input"])"""),
    ("md", "**Other outcome.** Quantize both branches, and the add is observed."),
    ("code", """\
run = obsviz.insert_observers(model, {"": qconfig})
e = why(run, "total.1")"""),
    ("md", """\
## A submodule with qconfig None

A `None` in the qconfig_dict covers the module and everything inside it (`fillQConfigMap`:
a module takes its own key, else its parent's). Its values say `no_qconfig`, and the
verdict names the key responsible."""),
    ("code", """\
class Head(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        return self.fc(x)


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(16, 8)
        self.head = Head()

    def forward(self, x):
        return self.head(torch.relu(self.body(x)))


model = script(Classifier())
run = obsviz.insert_observers(model, {"": qconfig, "head": None})
e = why(run, "weight", module="head.fc")
run.tables.qconfig[["module_path", "how", "qconfig_key"]]"""),
    ("md", """\
**Other outcome.** Give the inner module its own key: the most specific key wins, so
`head.fc` is quantized while the rest of `head` stays float."""),
    ("code", """\
run = obsviz.insert_observers(model, {"": qconfig, "head": None, "head.fc": qconfig})
e = why(run, "weight", module="head.fc")"""),
    ("md", """\
## One submodule type under two qconfigs

Scripting gives identical submodules one class type, and one graph. When the instances
get different qconfigs the pass clones the type so each can be observed its own way;
`run.splits` says which were split, and each instance gets its own verdict."""),
    ("code", """\
class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(8, 8, 1)

    def forward(self, x):
        return self.conv(x)


class TwoBlocks(nn.Module):
    def __init__(self):
        super().__init__()
        self.b0 = Block()
        self.b1 = Block()

    def forward(self, x):
        return self.b1(self.b0(x))


model = script(TwoBlocks())
print("one type:", model.b0._c._type() == model.b1._c._type())
run = obsviz.insert_observers(model, {"": qconfig, "b1": None})
for group in run.splits:
    print(f"split: {', '.join(group.module_paths)} -> {group.new_type}")
for path in ("b0.conv", "b1.conv"):
    e = why(run, "weight", module=path)"""),
    ("md", """\
**Other outcome.** Give both instances the same qconfig (or set it on their parent) and
they keep sharing one type and one graph: no split."""),
    ("code", """\
run = obsviz.insert_observers(model, {"": qconfig})
print("splits:", run.splits)
e = why(run, "weight", module="b1.conv")"""),
    ("md", """\
## An `if` whose branches disagree

The pass insists that every branch of an `if` returns values observed alike. An auxiliary
head that only runs in training breaks that, and the real pass fails. obsviz fails too,
with a `PassFailure` whose `diagnosis` says what, where and what to change; `err.run` is
the partial run."""),
    ("code", """\
class AuxHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.aux = nn.Conv2d(4, 4, 1)

    def forward(self, x):
        y = self.conv(x)
        if self.training:
            return y + self.aux(y)
        return torch.softmax(y, 1)


model = script(AuxHead())
try:
    obsviz.insert_observers(model, {"": qconfig})
except obsviz.PassFailure as err:
    print(err.diagnosis)
    failure = err"""),
    ("md", """\
**Other outcome.** The model is quantized in eval mode, so `self.training` is fixed:
`obsviz.fold_attribute_branches` returns a copy with that branch folded away, and the
pass succeeds."""),
    ("code", """\
fixed = obsviz.fold_attribute_branches(model)
run = obsviz.insert_observers(fixed, {"": qconfig})
print(run)"""),
    ("md", """\
The branch can also sit in a function the module calls, as in torchvision's stochastic
depth (EfficientNet, MaxViT). The diagnosis follows the function's parameters back to the
attributes the caller passes, and the fold inlines that call so its branch folds too."""),
    ("code", """\
def stochastic_depth(x, p: float, training: bool):
    if not training or p == 0.0:
        return x
    keep = torch.rand(x.shape[0], 1, 1, 1) > p
    return x * keep.to(x.dtype) / (1.0 - p)


class DropPath(nn.Module):
    def __init__(self, p):
        super().__init__()
        self.p = p

    def forward(self, x):
        return stochastic_depth(x, self.p, self.training)


class ResidualDrop(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.drop = DropPath(0.1)

    def forward(self, x):
        y = self.conv(x)
        return y + self.drop(y)


model = script(ResidualDrop())
try:
    obsviz.insert_observers(model, {"": qconfig})
except obsviz.PassFailure as err:
    print("Fix:", err.diagnosis.fix)
print(obsviz.insert_observers(obsviz.fold_attribute_branches(model), {"": qconfig}))"""),
    ("md", """\
## A function call that needs observers

The pass never looks inside a user-defined function (`prim::CallFunction`): a conv or
linear there stays float. obsviz warns (`obsviz.FunctionWarning`), and the function's
values say `in_function`."""),
    ("code", """\
def scale_and_project(x, weight):
    return torch.nn.functional.linear(x * 2.0, weight)


class CallsFunction(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(4, 8))

    def forward(self, x):
        return scale_and_project(x, self.weight)


with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always", obsviz.ObsvizWarning)
    run = obsviz.insert_observers(script(CallsFunction()), {"": qconfig})
for warning in caught:
    print(f"{warning.category.__name__}: {warning.message}")
inside = run.values().query("reason == 'in_function' and producer == 'aten::linear'")
inside[["module_path", "method", "value", "producer", "reason"]]"""),
    ("md", """\
**Other outcome.** Make the function a submodule (or inline it in `forward`): the pass
follows method calls, so the linear is observed."""),
    ("code", """\
class Project(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(4, 8))

    def forward(self, x):
        return torch.nn.functional.linear(x * 2.0, self.weight)


class CallsModule(nn.Module):
    def __init__(self):
        super().__init__()
        self.project = Project()

    def forward(self, x):
        return self.project(x)


run = obsviz.insert_observers(script(CallsModule()), {"": qconfig})
e = why(run, "weight", module="project")"""),
    ("md", """\
## Dynamic quantization leaves activations unobserved

Dynamic quantization computes activation ranges at run time: the pass observes only the
inputs and weights of linear layers. The output of `aten::conv2d` (inside the conv
module's `_conv_forward`) says `dynamic_rules`; the linear's input is observed, by a
`PlaceholderObserver` that records the dtype."""),
    ("code", """\
class ConvThenLinear(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        y = self.conv(x)
        features = y.mean((2, 3))
        return self.fc(features)


model = script(ConvThenLinear())
run = obsviz.insert_observers(model, {"": default_dynamic_qconfig}, quant_type="dynamic")
conv_output = run.values().query("producer == 'aten::conv2d'").iloc[0]
e = why(run, conv_output.value, module=conv_output.module_path)
e = why(run, "features.1")"""),
    ("md", """\
**Other outcome.** Static quantization (a static qconfig and `quant_type="static"`, as
`prepare_jit` uses) observes the activations too."""),
    ("code", """\
run = obsviz.insert_observers(model, {"": qconfig})
e = why(run, conv_output.value, module=conv_output.module_path)
e = why(run, "y.1")"""),
]

CALIBRATION: Cells = [
    ("md", """\
# What the observers saw

Where observers go is half the story. After calibration the questions are: what did each
observer record, what will quantizing each value cost, and which layer is behind the
accuracy drop after `convert_jit`? This notebook walks through them on `resnet_small`
(static, fbgemm): calibrating, the ranges and the flags, one observer's plot, the
quantization error per value, the explanation and the figure with the numbers on them,
the simulation against torch's real `convert_jit`, and which modules to leave float."""),
    ("code", SETUP),
    ("md", """\
## 1. Calibrate

`run.calibrate(batches)` runs any iterable of batches (a tensor or a tuple of arguments
each) through a copy of the observed module; `obsviz.samples.inputs(name, n, seed)` gives
random batches shaped like a sample's example input. `run.module` is left as it was."""),
    ("code", """\
model = obsviz.samples.load("resnet_small")
observed = obsviz.prepare_jit(model, {"": get_default_qconfig("fbgemm")})
run = observed._obsviz_run
cal = run.calibrate(obsviz.samples.inputs("resnet_small", 8), progress=False)
cal"""),
    ("md", """\
## 2. The ranges

One row per observer, with the same value columns as `run.tables`: what it watches, its
role, class, dtype and qscheme, the range it saw (for weights, the spread of the
per-channel widths too) and `scale` / `zero_point` exactly as `calculate_qparams()` gives
them."""),
    ("code", """\
cal.ranges[["module_path", "value", "role", "observer_class", "qscheme", "min", "max",
            "scale", "zero_point", "batches"]].head(8)"""),
    ("md", """\
## 3. What looks wrong

`cal.flags` lists what would make `convert_jit` produce a poor model, each with why and a
fix. On this sample (random inputs) there is little to say; the model below has a
planted fault: one conv output channel 1,000 times the others."""),
    ("code", """\
print(cal.flags)"""),
    ("code", """\
from torch import nn


class OutlierChannel(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.conv3 = nn.Conv2d(8, 4, 1)
        with torch.no_grad():  # channel 3 of conv2 is 1000x; conv3 scales it back
            self.conv2.weight[3] *= 1000
            self.conv2.bias[3] *= 1000
            self.conv3.weight[:, 3] /= 1000

    def forward(self, x):
        return self.conv3(torch.relu(self.conv2(torch.relu(self.conv1(x)))))


faulty = obsviz.insert_observers(torch.jit.script(OutlierChannel().eval()),
                                 {"": get_default_qconfig("fbgemm")})
faulty_batches = [torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(i))
                  for i in range(4)]
faulty_cal = faulty.calibrate(faulty_batches, progress=False)
for flag in faulty_cal.flags.of("outliers"):
    print(flag)"""),
    ("md", """\
## 4. One observer's plot

`cal.plot(value, module=...)` draws what the observer saw: the histogram (for a
`HistogramObserver`), the range per channel and per batch, with the quantization range
its qparams give. Here the value the outlier channel dominates."""),
    ("code", """\
flagged = faulty_cal.flags.of("outliers")[0]
faulty_cal.plot(flagged.value, module=flagged.module_path)"""),
    ("md", """\
## 5. What quantizing each value costs

`cal.error(batches)` quantizes and dequantizes each observed value with its calibrated
qparams, alone (*local*) and with every other observer quantizing too (*accumulated*, the
simulated quantized model), as SQNR in dB and MSE, worst first. Use other batches than
the calibration ones."""),
    ("code", """\
err = faulty_cal.error(faulty_batches[:2], progress=False)
print(err)
err.table[["module_path", "value", "role", "sqnr_local_db", "sqnr_accumulated_db"]]"""),
    ("md", """\
## 6. The numbers where you already look

Once a run is calibrated, `run.explain(...)` adds the observer's range, qparams, flags and
error to its answer. The scale it shows is the observer's own `calculate_qparams()`."""),
    ("code", """\
e = faulty.explain(flagged.value, module=flagged.module_path)
print(e)
observer = dict(faulty_cal.module.named_modules())[e.calibration.observer]
print("\\nequals calculate_qparams():",
      e.calibration.scale == float(observer.calculate_qparams()[0]))"""),
    ("md", """\
Figures take `overlay="sqnr"` (or `"range"`): each observed value's edge is coloured on a
colour-blind-safe scale (dark is worst) and labelled with its number; the line styles
still say what the pass decided."""),
    ("code", """\
faulty.render(overlay="sqnr")"""),
    ("md", """\
## 7. Against the real thing

How far can the simulation be trusted? `err.against_converted(batches)` converts a copy
of the calibrated module with torch's `convert_jit` and compares its output with the float
model's and with the simulation's."""),
    ("code", """\
warnings.filterwarnings("ignore", message="The .grad attribute")  # torch's convert_jit
held_out = obsviz.samples.inputs("resnet_small", 2, seed=1)
print(cal.error(held_out, progress=False))
print(cal.last_error.against_converted(held_out, progress=False))"""),
    ("md", """\
## 8. Which modules to leave float

`cal.sensitivity(batches)` leaves one module float at a time (obsviz's own pass with that
key set to None) and ranks modules by the output SQNR gained; the observers leaving a
module float adds (for `conv1`: the top then observes the max-pool's output itself) are
calibrated on `calibration_batches`, the batches `cal` saw. `suggest(budget_db=...)` turns
the best into a `qconfig_dict` to paste."""),
    ("code", """\
sens = cal.sensitivity(held_out, calibration_batches=obsviz.samples.inputs("resnet_small", 8),
                       progress=False)
print(sens)
print(sens.suggest(budget_db=1.0))"""),
    ("md", """\
## 9. Any calibrated observed module

`obsviz.calibration(observed)` reads the same tables from any calibrated observed module,
torch's own `prepare_jit` output too, without running the pass again."""),
    ("code", """\
from torch.ao.quantization.quantize_jit import prepare_jit

theirs = prepare_jit(obsviz.samples.load("resnet_small"), {"": get_default_qconfig("fbgemm")})
for batch in obsviz.samples.inputs("resnet_small", 8):
    theirs(*batch)
print(obsviz.calibration(theirs))
print("same scales as ours:",
      sorted(obsviz.calibration(theirs).ranges.scale.map(str))
      == sorted(cal.ranges.scale.map(str)))"""),
]

NOTEBOOKS: dict[str, Cells] = {"tour": TOUR, "why_not_observed": WHY,
                               "calibration": CALIBRATION}


def make_notebook(cells: Cells) -> nbformat.NotebookNode:
    notebook = nbformat.v4.new_notebook()
    notebook.metadata.update({
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
    })
    notebook.cells = [nbformat.v4.new_markdown_cell(source) if kind == "md"
                      else nbformat.v4.new_code_cell(source) for kind, source in cells]
    for index, cell in enumerate(notebook.cells):
        cell.id = f"cell-{index:02d}"  # stable ids keep the diffs of re-runs small
    return notebook


def execute(notebook: nbformat.NotebookNode, workdir: Path,
            timeout: int = TIMEOUT) -> nbformat.NotebookNode:
    """Run every cell in a fresh kernel, in ``workdir``; outputs are stored in place."""
    # coalesce_streams: the kernel flushes stdout on a timer, so one print can arrive
    # as two stream outputs; merged, a cell's text is the same on every run.
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            coalesce_streams=True,
                            resources={"metadata": {"path": str(workdir)}})
    client.execute()
    for cell in notebook.cells:  # run times and dates would make every re-run a diff
        cell.metadata.pop("execution", None)
    return notebook


def build(name: str) -> Path:
    path = HERE / f"{name}.ipynb"
    start = time.perf_counter()
    notebook = execute(make_notebook(NOTEBOOKS[name]), HERE)
    nbformat.write(notebook, path)
    print(f"{path.relative_to(HERE.parent)}: {path.stat().st_size / 1e3:.0f} kB, "
          f"executed in {time.perf_counter() - start:.1f} s")
    return path


def headless(out: Path) -> None:
    """Execute the committed tour into ``out``/tour.ipynb and ``out``/tour.html."""
    from nbconvert import HTMLExporter

    out.mkdir(parents=True, exist_ok=True)
    notebook = execute(nbformat.read(HERE / "tour.ipynb", as_version=4), HERE)
    nbformat.write(notebook, out / "tour.ipynb")
    body, _ = HTMLExporter().from_notebook_node(notebook)
    (out / "tour.html").write_text(body, encoding="utf-8")
    print(f"wrote {out / 'tour.ipynb'} and {out / 'tour.html'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"notebooks to rebuild: {', '.join(NOTEBOOKS)} (default: all)")
    parser.add_argument("--headless", type=Path, metavar="DIR",
                        help="execute the committed tour into DIR instead")
    args = parser.parse_args(argv)
    if args.headless:
        headless(args.headless)
        return 0
    unknown = [name for name in args.names if name not in NOTEBOOKS]
    if unknown:
        parser.error(f"unknown notebook {unknown[0]!r}; known: {', '.join(NOTEBOOKS)}")
    for name in args.names or NOTEBOOKS:
        build(name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
