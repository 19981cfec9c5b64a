"""The Explorer's state: one small frozen value that every view is a function of.

The run key (qconfig choices, quant type, method, what is folded: constant branches,
conv-bn pairs) decides which run of the pass the views read; ``step`` picks a moment of
that run; the rest say what the views look at.
Changing anything but the run key never re-runs the pass.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import NamedTuple

from ..errors import ObsvizError
from ..refs import TOP, display_path
from .choices import INHERIT, QConfigChoices

WHEN = ("diff", "before", "after", "changes")
OVERLAYS = ("sqnr", "range")  # what colours the Calibrate step's graph


class RunKey(NamedTuple):
    """What decides a run of the pass; two states with the same key share one run."""

    qconfig: tuple[tuple[str, str], ...]
    quant_type: str
    method: str
    folded: tuple[str, ...]
    fold_arguments: bool
    fold_conv_bn: bool


@dataclass(frozen=True)
class ExplorerState:
    """What the Explorer shows; change it with :meth:`replace` or the ``with_*`` methods."""

    # the run: module path -> choice name (paths not listed inherit), sorted by path
    qconfig: tuple[tuple[str, str], ...] = (("", "static"),)
    quant_type: str = "static"
    method: str = "forward"
    # what obsviz.fold_constant_branches makes constant first: these self attributes (in
    # order), and with fold_arguments the arguments every call passes alike
    folded: tuple[str, ...] = ()
    fold_arguments: bool = False
    # fold conv-bn pairs before the pass, as prepare_jit does (False: the bare pass)
    fold_conv_bn: bool = True
    # the moment of the run the views read: an event's step, or None for the end
    step: int | None = None
    # what the views look at
    module: str = ""  # the graph view's module path
    when: str = "diff"  # "diff", "before", "after" or "changes" (what the last change did)
    depth: int = 0
    table: str = "values"
    query: str = ""  # the tables' filter
    search: str = ""  # the value search box's text
    value: str = ""  # the picked value, "path:method:%name" ("<top>" for the top module)
    # step 6: calibrate the run on the Explorer's inputs (only while shown), and what
    # colours its graph
    calibrate: bool = False
    overlay: str = "sqnr"

    @property
    def run_key(self) -> RunKey:
        return RunKey(
            self.qconfig,
            self.quant_type,
            self.method,
            self.folded,
            self.fold_arguments,
            self.fold_conv_bn,
        )

    def choice(self, path: str) -> str:
        """The choice set on ``path`` itself (``inherit`` when it has no key)."""
        return dict(self.qconfig).get(path, INHERIT)

    def effective(self, path: str) -> tuple[str, str | None]:
        """The choice that applies to ``path`` and the key it comes from (None: no key)."""
        own = dict(self.qconfig)
        parts = path.split(".") if path else []
        for end in range(len(parts), -1, -1):
            key = ".".join(parts[:end])
            if key in own:
                return own[key], key
        return INHERIT, None

    def with_choice(self, path: str, choice: str) -> ExplorerState:
        """The state with ``path`` given ``choice`` (``inherit`` removes its key)."""
        entries = dict(self.qconfig)
        if choice == INHERIT:
            entries.pop(path, None)
        else:
            entries[path] = choice
        return self.with_run(qconfig=tuple(sorted(entries.items())))

    def with_run(self, **changes: object) -> ExplorerState:
        """A new run key; the step goes back to the end, since runs differ in length."""
        return replace(self, step=None, **changes)

    def replace(self, **changes: object) -> ExplorerState:
        if "when" in changes and changes["when"] not in WHEN:
            raise ObsvizError(f"when must be one of {', '.join(WHEN)}, got {changes['when']!r}")
        if "overlay" in changes and changes["overlay"] not in OVERLAYS:
            raise ObsvizError(
                f"overlay must be one of {', '.join(OVERLAYS)}, got {changes['overlay']!r}"
            )
        return replace(self, **changes)

    def qconfig_dict(self, choices: QConfigChoices) -> dict[str, object]:
        """The qconfig_dict of this state, with the QConfig objects themselves."""
        return {path: choices[name].qconfig for path, name in self.qconfig}

    def code(self, choices: QConfigChoices, model: str = "model") -> str:
        """Python that makes this state's qconfig_dict and run, to paste into a notebook."""
        names = [name for _, name in self.qconfig]
        lines = ["import obsviz"]
        imports = choices.imports(names)
        if imports:
            lines.append(f"from torch.ao.quantization import {', '.join(imports)}")
        if choices.needs_user_qconfigs(names):
            lines.append("# qconfigs: the named QConfigs you gave obsviz.Explorer(qconfigs=...)")
        lines.append("")
        if self.qconfig:
            body = "".join(
                f"\n    {json.dumps(path)}: {choices[name].code}," for path, name in self.qconfig
            )
            lines.append(f"qconfig_dict = {{{body}\n}}")
        else:
            lines.append("qconfig_dict = {}")
        if self.folded or self.fold_arguments:
            options = [f"attributes={self.folded!r}"] if self.folded != ("training",) else []
            if not self.fold_arguments:
                options.append("arguments=False")
            lines.append(
                f"{model} = obsviz.fold_constant_branches(" + ", ".join([model, *options]) + ")"
            )
        lines += self._run_code(model)
        if self.calibrate:
            lines += [
                "cal = run.calibrate(inputs)  # inputs: the batches given to Explorer(inputs=...)",
                "err = cal.error(inputs)",
            ]
        if self.step is not None:
            lines.append(
                f"view = run.at({self.step})  # the pass as it stood after step {self.step}"
            )
        return "\n".join(lines)

    def _run_code(self, model: str) -> list[str]:
        """The call that runs the pass: prepare_jit's (conv-bn folded first) or the bare
        pass's, giving ``run``."""
        if self.fold_conv_bn and self.method == "forward":
            prepare = "prepare_jit" if self.quant_type == "static" else "prepare_dynamic_jit"
            return [
                f"observed = obsviz.{prepare}({model}, qconfig_dict)  # conv-bn folded, "
                "then the pass",
                "run = observed._obsviz_run",
            ]
        lines = (
            [f"{model} = obsviz.fold_conv_bn({model})  # as prepare_jit does first"]
            if self.fold_conv_bn
            else []
        )
        args = [model, "qconfig_dict"]
        if self.quant_type != "static":
            args.append(f"quant_type={json.dumps(self.quant_type)}")
        if self.method != "forward":
            args.append(f"method_name={json.dumps(self.method)}")
        return [*lines, f"run = obsviz.insert_observers({', '.join(args)})"]


def parse_value(label: str) -> tuple[str, str, str]:
    """``"layer1.0:forward:%out.1"`` -> ``("layer1.0", "forward", "out.1")``."""
    parts = label.split(":", 2)
    if len(parts) != 3 or not parts[2].startswith("%"):
        raise ObsvizError(
            f"a value is named 'module:method:%name' (as in the tables), got {label!r}"
        )
    path, method, name = parts
    return ("" if path == TOP else path), method, name[1:]


def value_label(path: str, method: str, name: str) -> str:
    return f"{display_path(path)}:{method}:%{name}"
