"""Random scripted models for fuzzing obsviz against the real ``InsertObservers`` pass.

TorchScript compiles from source, so a model is generated as the *text* of a Python
module: a top class ``Model``, block classes it (and each other) hold as submodules, and
free functions the methods call. The text is written to a file (named after its hash)
under a temporary directory, imported, built in eval mode and scripted.

A method body is a straight-line program of statements over 4-d float tensors
``(1, C, H, W)``. Each statement picks an op from a vocabulary of what the pass knows
(conv/linear/bn/relu in module, functional and aten spellings; add/mul with tensors and
scalars, in place or not; cat, also through a list built with ``append``; chunk; the
pass-through, general-value and fixed-qparams ops; norms, hardswish, elu; ops the pass
does not know; tensor buffers) and inputs among earlier values whose shape it accepts,
so every model runs. Weights are sometimes shared by two ops. Structure comes from
statements too: an ``if`` on a bool input, a bool attribute or the data, with branches
that may raise (only where the example inputs never go) or nest; a ``for`` loop; calls
to free functions (taking weights as arguments where they need them); calls to block
instances (a new class, a second instance of an existing class, whose type is then
shared, or the same instance again), directly or through ``torch.jit.fork``; calls to a
submodule of a block (``self.b1.conv2(x)``); calls to a helper method of ``self``.
Values that nothing reads are returned, so TorchScript's dead code elimination keeps
them.

Each model is steered toward a focus (:data:`FOCUS_KINDS`): a rule family of the pass
(fusion patterns, propagation, pass-through ops, calls, loops, qconfigs set only on
submodules, dynamic mode, ...), a class type split below the instance, or an ``if``
whose branches are observed inconsistently, so that each gets its share of examples.

Everything is drawn through Hypothesis, so failures shrink to a small program. A
:class:`FuzzCase` prints as its focus, the source, inputs, qconfig dict and quant type,
ready to be minimized into a named case of ``tests/corpus/``.
"""

from __future__ import annotations

import atexit
import hashlib
import importlib.util
import shutil
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from hypothesis import strategies as st
from torch import nn
from torch.ao.quantization import (
    QConfig,
    default_dynamic_qconfig,
    default_qconfig,
    float16_dynamic_qconfig,
    get_default_qconfig,
    per_channel_dynamic_qconfig,
)

Shape = tuple[int, int, int, int]
Draw = Callable[[st.SearchStrategy[Any]], Any]

IMAGE: Shape = (1, 4, 6, 6)
MAX_CHANNELS = 8
MAX_BLOCK_DEPTH = 2  # top -> block -> block
MAX_IF_DEPTH = 2

# What a statement does; conv and linear (the ops that get observers) come up more often.
STATEMENT_KINDS = (
    "relu",
    "conv",
    "linear",
    "add_mul",
    "pass_through",
    "conv",
    "linear",
    "value",
    "fixed",
    "bn",
    "scalar",
    "cat",
    "linear",
    "norm",
    "other",
    "if",
    "function",
    "block",
    "reuse",
    "chunk",
    "helper",
    "block",
    "loop",
    "buffer",
    "other_rank",
    "fused",
)

# Each example steers toward one focus, drawn first: its statement kinds make up about
# half of the statements, and ``forward`` opens with what the focus needs (an op that gets
# observers; for "calls" a block call; for "type_split" two instances of one block class,
# a qconfig key then going below one of them; for "if_inconsistent" an ``if`` observed in
# one branch only; for "qconfig_below" a submodule, with qconfigs set on submodules only).
# So every rule family of the pass, type splits and failing ifs each get a fair share.
FOCUS_KINDS: dict[str, tuple[str, ...]] = {
    "mixed": (),
    "conv": ("conv", "other_rank"),
    "linear": ("linear", "other_rank"),
    "fusion": ("fused",),
    "propagate": ("add_mul", "scalar", "cat", "chunk"),
    "pass_through": ("pass_through", "value"),
    "fixed_qparams": ("fixed",),
    "norms": ("norm", "bn"),
    "control_flow": ("if", "loop", "loop"),
    "calls": ("function", "helper", "block", "reuse"),
    "qconfig_below": ("conv", "linear", "block"),
    "dynamic": ("linear", "fused"),
    "type_split": ("block", "reuse"),
    "if_inconsistent": ("if",),
}
FOCUSES = tuple(FOCUS_KINDS)
# foci whose rules hold in both modes; the others are static, or dynamic for "dynamic"
EITHER_MODE_FOCUSES = frozenset({"mixed", "control_flow", "calls", "type_split"})

# qconfigs by the name a FuzzCase shows; None is "no quantization here".
STATIC_QCONFIGS: dict[str, Callable[[], QConfig | None]] = {
    "default_qconfig": lambda: default_qconfig,
    "fbgemm": lambda: get_default_qconfig("fbgemm"),
    "qnnpack": lambda: get_default_qconfig("qnnpack"),
    "None": lambda: None,
}
DYNAMIC_QCONFIGS: dict[str, Callable[[], QConfig | None]] = {
    "default_dynamic_qconfig": lambda: default_dynamic_qconfig,
    "per_channel_dynamic_qconfig": lambda: per_channel_dynamic_qconfig,
    "float16_dynamic_qconfig": lambda: float16_dynamic_qconfig,
    "None": lambda: None,
}
QCONFIGS = {"static": STATIC_QCONFIGS, "dynamic": DYNAMIC_QCONFIGS}
ALL_QCONFIGS = {**STATIC_QCONFIGS, **DYNAMIC_QCONFIGS}

HEADER = '''"""Generated by tests/fuzz_models.py."""
from __future__ import annotations

from typing import List, Tuple

import torch
import torch.nn.functional as F
from torch import nn

'''


# ---------------------------------------------------------------------------------- shapes


def broadcast(a: Shape, b: Shape) -> Shape | None:
    """The broadcast shape of two 4-d shapes, or None."""
    out = []
    for x, y in zip(a, b, strict=True):
        if x != y and 1 not in (x, y):
            return None
        out.append(max(x, y))
    return (out[0], out[1], out[2], out[3])


def with_channels(shape: Shape, channels: int) -> Shape:
    return (shape[0], channels, shape[2], shape[3])


def shape_text(shape: Shape) -> str:
    return ", ".join(str(d) for d in shape)


# ------------------------------------------------------------------------------- builders


FRESH = ""  # a Val root: new memory of its own


@dataclass
class Val:
    """A tensor variable of the program, its static shape, and the memory it may share:
    ``root`` names the value whose memory it views (itself when fresh), None if unknown.
    In-place ops with a second tensor need two known, different roots, or torch refuses
    to write to memory it also reads."""

    name: str
    shape: Shape
    root: str | None = FRESH

    def __post_init__(self) -> None:
        if self.root == FRESH:
            self.root = self.name


@dataclass
class ModuleAttr:
    """A leaf submodule a class holds; ``apply`` gives the output shape for an input."""

    name: str
    apply: Callable[[Shape], Shape | None]


@dataclass
class BlockClass:
    """A generated block class: its name, input shapes and output shapes."""

    name: str
    in_shapes: tuple[Shape, ...]
    out_shapes: tuple[Shape, ...]
    leaf_attrs: list[ModuleAttr] = field(default_factory=list)  # callable from outside
    helpers: list[FunctionSig] = field(default_factory=list)


@dataclass
class BlockInstance:
    attr: str
    cls: BlockClass


@dataclass
class FunctionSig:
    """A generated free function: activation and weight parameters, output shape."""

    name: str
    params: list[tuple[str, str, Shape]]  # (kind "act" | "weight", name, shape)
    out_shape: Shape


@dataclass
class ClassBuilder:
    name: str
    depth: int
    init: list[str] = field(default_factory=list)
    methods: list[list[str]] = field(default_factory=list)
    leaf_attrs: list[ModuleAttr] = field(default_factory=list)
    blocks: list[BlockInstance] = field(default_factory=list)
    helpers: list[FunctionSig] = field(default_factory=list)
    params: list[tuple[str, tuple[int, ...]]] = field(default_factory=list)
    counter: int = 0

    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def add_module(
        self, prefix: str, ctor: str, apply: Callable[[Shape], Shape | None] | None
    ) -> str:
        name = self.fresh(prefix)
        self.init.append(f"self.{name} = {ctor}")
        if apply is not None:
            self.leaf_attrs.append(ModuleAttr(name, apply))
        return name

    def add_param(self, prefix: str, shape: tuple[int, ...]) -> str:
        name = self.fresh(prefix)
        dims = ", ".join(str(d) for d in shape)
        self.init.append(f"self.{name} = nn.Parameter(torch.randn({dims}) * 0.3)")
        self.params.append((f"self.{name}", shape))
        return f"self.{name}"

    def render(self) -> str:
        lines = [
            f"class {self.name}(nn.Module):",
            "    def __init__(self) -> None:",
            "        super().__init__()",
        ]
        lines += [f"        {line}" for line in self.init]
        for method in self.methods:
            lines.append("")
            lines += [f"    {line}" for line in method]
        return "\n".join(lines) + "\n"


@dataclass
class Scope:
    """One method or function body being generated (or one branch of an ``if`` in it)."""

    owner: ClassBuilder | None  # None inside a free function
    lines: list[str]
    indent: int
    env: list[Val]
    counter: list[int]
    if_depth: int = 0
    used: set[str] = field(default_factory=set)  # values some statement reads
    weight_params: list[tuple[str, str, Shape]] | None = None  # a function's weights
    flags: tuple[str, ...] = ()  # bool expressions usable as conditions
    in_helper: bool = False

    def fresh(self, prefix: str = "v") -> str:
        self.counter[0] += 1
        return f"{prefix}{self.counter[0]}"

    def line(self, text: str) -> None:
        self.lines.append("    " * self.indent + text)

    def emit(self, expr: str, shape: Shape, root: str | None = FRESH) -> Val:
        val = Val(self.fresh(), shape, root)
        self.line(f"{val.name} = {expr}")
        self.env.append(val)
        return val

    def branch(self) -> Scope:
        return Scope(
            self.owner,
            self.lines,
            self.indent + 1,
            list(self.env),
            self.counter,
            self.if_depth + 1,
            self.used,
            self.weight_params,
            self.flags,
            self.in_helper,
        )

    def dangling(self) -> list[Val]:
        """Values computed here that nothing reads (yet); TorchScript drops dead code."""
        return [v for v in self.env if v.name not in self.used and v.name[0] in "vr"]

    def weight(self, shape: tuple[int, ...]) -> str:
        """An expression for a weight tensor: a parameter of the class, or of the function."""
        if self.owner is not None:
            return self.owner.add_param("w", shape)
        assert self.weight_params is not None
        name = self.fresh("w")
        self.weight_params.append(("weight", name, shape))  # type: ignore[arg-type]
        return name


class ProgramGenerator:
    """Draws one model file: classes, functions, and the top module ``Model``."""

    def __init__(
        self,
        draw: Draw,
        max_statements: int,
        flag_value: bool | None = None,
        focus: str = "mixed",
        quant_type: str = "static",
    ) -> None:
        self.draw = draw
        self.flag_value = flag_value
        self.focus = focus
        self.quant_type = quant_type
        favoured = FOCUS_KINDS[focus]
        self.kinds = (
            STATEMENT_KINDS + favoured * -(-len(STATEMENT_KINDS) // len(favoured))
            if favoured
            else STATEMENT_KINDS
        )
        self.budget = max_statements
        self.classes: list[ClassBuilder] = []
        self.block_classes: list[BlockClass] = []
        self.functions: list[str] = []
        self.function_sigs: list[FunctionSig] = []
        self.ids = 0

    def next_id(self) -> int:
        """A number for a new function or class name (nested ones are drawn meanwhile)."""
        self.ids += 1
        return self.ids - 1

    # ------------------------------------------------------------------ drawing helpers
    def pick(self, options: list[Any] | tuple[Any, ...]) -> Any:
        return self.draw(st.sampled_from(options))

    def chance(self) -> bool:
        return self.draw(st.booleans())

    def pick_val(
        self, scope: Scope, accept: Callable[[Shape], bool] = lambda s: True, use: bool = True
    ) -> Val | None:
        """An earlier value of an accepted shape, most recent first (None if there is none)."""
        candidates = [v for v in reversed(scope.env) if accept(v.shape)]
        if not candidates:
            return None
        chosen: Val = self.pick(candidates)
        if use:
            scope.used.add(chosen.name)
        return chosen

    def pick_output(self, scope: Scope) -> Val:
        """A value to return: one nothing reads yet, if there is one, so it stays alive."""
        dangling = scope.dangling()
        chosen: Val = self.pick(dangling[::-1]) if dangling else self.pick_val(scope)
        scope.used.add(chosen.name)
        return chosen

    def weight(self, scope: Scope, shape: tuple[int, ...]) -> str:
        """A weight: sometimes a parameter the class already has (weights shared by two
        ops, a bias that is also a weight), else a new parameter or function argument."""
        if scope.owner is not None:
            same = [name for name, s in scope.owner.params if s == shape]
            if same and self.pick([False, False, True]):
                return str(self.pick(same))
        return scope.weight(shape)

    # ------------------------------------------------------------------ programs
    def program(self, scope: Scope, max_len: int, min_len: int = 1) -> None:
        count = self.draw(st.integers(min_value=min_len, max_value=max(min_len, max_len)))
        for _ in range(count):
            if self.budget <= 0:
                break
            self.budget -= 1
            self.statement(scope)

    def statement(self, scope: Scope) -> None:
        kind = self.pick(self.kinds)
        handler = getattr(self, f"op_{kind}")
        if not handler(scope):
            self.op_relu(scope)

    # ------------------------------------------------------------------ leaf ops
    def module_or_functional(self, scope: Scope, as_module: bool | None = None) -> bool:
        """Use an nn module (True) or a functional form; functions have no modules."""
        if as_module is not None:
            return as_module and scope.owner is not None
        return scope.owner is not None and self.chance()

    def call_module(
        self,
        scope: Scope,
        x: Val,
        prefix: str,
        ctor: str,
        apply: Callable[[Shape], Shape | None],
        root: str | None = FRESH,
    ) -> Val:
        assert scope.owner is not None
        name = scope.owner.add_module(prefix, ctor, apply)
        out = apply(x.shape)
        assert out is not None
        return scope.emit(f"self.{name}({x.name})", out, root)

    def op_relu(self, scope: Scope) -> bool:
        x = self.pick_val(scope)
        assert x is not None
        self.relu_of(scope, x)
        return True

    def relu_of(self, scope: Scope, x: Val) -> None:
        spelling = self.pick(
            [
                "F.relu({})",
                "torch.relu({})",
                "{}.relu()",
                "F.relu({}, inplace=True)",
                "{}.relu_()",
                "module",
                "module_inplace",
            ]
        )
        inplace = "inplace" in spelling or "_(" in spelling
        if spelling.startswith("module"):
            if scope.owner is None:
                spelling = "F.relu({})"
            else:
                self.call_module(
                    scope,
                    x,
                    "relu",
                    f"nn.ReLU({'inplace=True' * inplace})",
                    lambda s: s,
                    x.root if inplace else FRESH,
                )
                return
        scope.emit(spelling.format(x.name), x.shape, x.root if inplace else FRESH)

    def op_fused(self, scope: Scope) -> bool:
        """An op the pass fuses with a relu (conv, linear, add, mul, bn), then a relu of
        its output: the pass observes the relu's output instead of the op's."""
        op = self.pick([self.op_conv, self.op_linear, self.op_add_mul, self.op_bn])
        op(scope)
        produced = scope.env[-1]
        scope.used.add(produced.name)
        self.relu_of(scope, produced)
        return True

    def op_conv(self, scope: Scope, as_module: bool | None = None) -> bool:
        x = self.pick_val(scope)
        assert x is not None
        cin = x.shape[1]
        cout = self.pick([4, 2, 8])
        kernel = self.pick([1, 3])
        bias = self.chance()
        out = with_channels(x.shape, cout)
        if self.module_or_functional(scope, as_module):

            def apply(s: Shape, cin: int = cin, cout: int = cout) -> Shape | None:
                return with_channels(s, cout) if s[1] == cin else None

            self.call_module(
                scope,
                x,
                "conv",
                f"nn.Conv2d({cin}, {cout}, {kernel}, padding={kernel // 2}, bias={bias})",
                apply,
            )
            return True
        weight = self.weight(scope, (cout, cin, kernel, kernel))
        b = self.weight(scope, (cout,)) if bias else "None"
        scope.emit(f"F.conv2d({x.name}, {weight}, {b}, padding={kernel // 2})", out)
        return True

    def op_linear(self, scope: Scope, as_module: bool | None = None) -> bool:
        x = self.pick_val(scope)
        assert x is not None
        width = x.shape[3]
        bias = self.chance()
        if self.module_or_functional(scope, as_module):

            def apply(s: Shape, width: int = width) -> Shape | None:
                return s if s[3] == width else None

            self.call_module(scope, x, "fc", f"nn.Linear({width}, {width}, bias={bias})", apply)
            return True
        weight = self.weight(scope, (width, width))
        b = self.weight(scope, (width,)) if bias else "None"
        spelling = self.pick(["F.linear", "matmul", "matmul_t", "addmm_like"])
        if spelling == "F.linear":
            scope.emit(f"F.linear({x.name}, {weight}, {b})", x.shape)
        elif spelling == "matmul":
            suffix = f" + {b}" if bias else ""
            scope.emit(f"torch.matmul({x.name}, {weight}.t()){suffix}", x.shape)
        elif spelling == "matmul_t":
            scope.emit(f"{x.name}.matmul({weight}.t())", x.shape)
        else:
            tmp = scope.emit(f"torch.matmul({x.name}, {weight}.t())", x.shape)
            if bias:
                scope.emit(f"{tmp.name}.add_({b})", x.shape, tmp.root)
        return True

    def op_other_rank(self, scope: Scope) -> bool:
        """Ops on 2-d, 3-d and 5-d views of a value (conv1d/3d, bn1d/3d, addmm), each
        maybe followed by a relu, then back to the value's shape."""
        x = self.pick_val(scope)
        assert x is not None
        n, c, h, w = x.shape
        kind = self.pick(["conv1d", "conv3d", "bn1d", "bn3d", "addmm", "linear2d"])
        if kind in ("conv1d", "bn1d"):
            view, back = f"{x.name}.flatten(2)", f".view({n}, {c}, {h}, {w})"
        elif kind in ("conv3d", "bn3d"):
            view, back = f"{x.name}.unsqueeze(2)", ".squeeze(2)"
        else:
            view, back = f"{x.name}.reshape({n * c * h}, {w})", f".reshape({n}, {c}, {h}, {w})"
        viewed = scope.fresh("t")
        scope.line(f"{viewed} = {view}")
        module = self.module_or_functional(scope)
        if kind == "conv1d" and module:
            op = self.new_module(scope, "conv", f"nn.Conv1d({c}, {c}, 3, padding=1)")
        elif kind == "conv1d":
            op = f"F.conv1d({{}}, {self.weight(scope, (c, c, 3))}, None, padding=1)"
        elif kind == "conv3d" and module:
            op = self.new_module(scope, "conv", f"nn.Conv3d({c}, {c}, 1)")
        elif kind == "conv3d":
            op = f"F.conv3d({{}}, {self.weight(scope, (c, c, 1, 1, 1))})"
        elif kind in ("bn1d", "bn3d") and scope.owner is not None:
            op = self.new_module(scope, "bn", f"nn.BatchNorm{kind[2:]}({c})")
        elif kind in ("bn1d", "bn3d"):  # in a function: functional batch norm
            mean, var = self.weight(scope, (c,)), self.weight(scope, (c,))
            op = f"F.batch_norm({{}}, {mean}, {var}.abs() + 1.0, None, None, False)"
        elif kind == "addmm":
            weight, bias = self.weight(scope, (w, w)), self.weight(scope, (w,))
            op = f"torch.addmm({bias}, {{}}, {weight}.t())"
        elif kind == "linear2d" and module:
            op = self.new_module(scope, "fc", f"nn.Linear({w}, {w})")
        else:
            op = f"F.linear({{}}, {self.weight(scope, (w, w))})"
        result = scope.fresh("t")
        scope.line(f"{result} = {op.format(viewed)}")
        relu = self.pick([None, "F.relu({})", "torch.relu({})", "{}.relu_()", "module"])
        if relu == "module":
            relu = self.new_module(scope, "relu", "nn.ReLU()") if scope.owner else None
        if relu is not None:
            scope.line(f"{result} = {relu.format(result)}")
        scope.emit(f"{result}{back}", x.shape)
        return True

    def new_module(self, scope: Scope, prefix: str, ctor: str) -> str:
        """A submodule called on a value outside the 4-d shape system; a format string."""
        assert scope.owner is not None
        return f"self.{scope.owner.add_module(prefix, ctor, None)}({{}})"

    def op_bn(self, scope: Scope) -> bool:
        x = self.pick_val(scope)
        assert x is not None
        channels = x.shape[1]
        if self.module_or_functional(scope):

            def apply(s: Shape, channels: int = channels) -> Shape | None:
                return s if s[1] == channels else None

            self.call_module(scope, x, "bn", f"nn.BatchNorm2d({channels})", apply)
            return True
        mean = self.weight(scope, (channels,))
        var = self.weight(scope, (channels,))
        scope.emit(f"F.batch_norm({x.name}, {mean}, {var}.abs() + 1.0, None, None, False)", x.shape)
        return True

    def op_add_mul(self, scope: Scope) -> bool:
        a = self.pick_val(scope)
        assert a is not None
        b = self.pick_val(scope, lambda s: broadcast(a.shape, s) is not None)
        assert b is not None
        out = broadcast(a.shape, b.shape)
        assert out is not None
        inplace_ok = out == a.shape and None not in (a.root, b.root) and a.root != b.root
        spellings = [
            "{a} + {b}",
            "torch.add({a}, {b})",
            "{a}.add({b})",
            "{a} * {b}",
            "torch.mul({a}, {b})",
            "torch.add({a}, {b}, alpha=2)",
            "torch.max({a}, {b})",
            "torch.min({a}, {b})",
            "{a} - {b}",
        ]
        if inplace_ok:
            spellings += ["{a}.add_({b})", "{a}.mul_({b})"] * 2
        spelling = self.pick(spellings)
        scope.emit(spelling.format(a=a.name, b=b.name), out, a.root if "_(" in spelling else FRESH)
        return True

    def op_scalar(self, scope: Scope) -> bool:
        x = self.pick_val(scope)
        assert x is not None
        spelling = self.pick(
            [
                "{} + 1.0",
                "{} * 0.5",
                "torch.add({}, 1)",
                "{}.mul(2.0)",
                "{}.add_(1.0)",
                "{}.mul_(0.5)",
                "{} + 1",
                "{} / 2.0",
                "{} * float({}.size(1))",
            ]
        )
        scope.emit(spelling.format(x.name, x.name), x.shape, x.root if "_(" in spelling else FRESH)
        return True

    def op_cat(self, scope: Scope) -> bool:
        a = self.pick_val(scope, lambda s: s[1] < MAX_CHANNELS)
        if a is None:
            return False

        def fits(s: Shape) -> bool:
            return s[2:] == a.shape[2:] and s[1] + a.shape[1] <= MAX_CHANNELS

        b = self.pick_val(scope, fits)
        if b is None:
            return False
        out = with_channels(a.shape, a.shape[1] + b.shape[1])
        if self.chance():
            scope.emit(f"torch.cat([{a.name}, {b.name}], 1)", out)
        else:
            lst = scope.fresh("lst")
            scope.line(f"{lst} = torch.jit.annotate(List[torch.Tensor], [])")
            scope.line(f"{lst}.append({a.name})")
            scope.line(f"{lst}.append({b.name})")
            scope.emit(f"torch.cat({lst}, 1)", out)
        return True

    def op_chunk(self, scope: Scope) -> bool:
        x = self.pick_val(scope, lambda s: s[1] % 2 == 0)
        if x is None:
            return False
        half = with_channels(x.shape, x.shape[1] // 2)
        if self.chance():
            scope.emit(f"{x.name}.chunk(2, 1)[{self.pick([0, 1])}]", half, x.root)
        else:
            first, second = scope.fresh(), scope.fresh()
            scope.line(f"{first}, {second} = torch.chunk({x.name}, 2, 1)")
            scope.env += [Val(first, half, x.root), Val(second, half, x.root)]
        return True

    def op_pass_through(self, scope: Scope) -> bool:
        x = self.pick_val(scope)
        assert x is not None
        n, c, h, w = x.shape
        spellings = [
            "F.max_pool2d({x}, 3, 1, 1)",
            "{x}.transpose(2, 3)",
            "{x}.permute(0, 1, 3, 2)",
            "{x}.contiguous()",
            "{x}.detach()",
            f"torch.flatten({{x}}, 2).view({n}, {c}, {h}, {w})",
            f"{{x}}.reshape({n}, {c}, {h}, {w})",
            "{x}.view({x}.size())",
            "{x}.unsqueeze(0).squeeze(0)",
            "{x}.repeat(1, 1, 1, 1)",
            "F.dropout({x}, 0.5, False)",
            "torch.stack([{x}, {x}], 0).mean(0)",
            "module_maxpool",
            "module_dropout",
            "module_flatten",
        ]
        spelling = self.pick(spellings)
        if spelling.startswith("module"):
            if scope.owner is None:
                spelling = "{x}.contiguous()"
            elif spelling == "module_maxpool":
                self.call_module(scope, x, "pool", "nn.MaxPool2d(3, 1, 1)", lambda s: s)
                return True
            elif spelling == "module_dropout":
                self.call_module(scope, x, "drop", "nn.Dropout(0.5)", lambda s: s, x.root)
                return True
            else:
                assert scope.owner is not None
                name = scope.owner.add_module("flat", "nn.Flatten(2)", None)
                scope.emit(f"self.{name}({x.name}).view({n}, {c}, {h}, {w})", x.shape, x.root)
                return True
        out = (n, c, w, h) if "transpose" in spelling or "permute" in spelling else x.shape
        fresh = spelling.startswith(("F.max_pool2d", "torch.stack")) or "repeat" in spelling
        scope.emit(spelling.format(x=x.name), out, FRESH if fresh else x.root)
        return True

    def op_value(self, scope: Scope) -> bool:
        x = self.pick_val(scope)
        assert x is not None
        n, c, h, w = x.shape
        spellings = [
            "F.avg_pool2d({x}, 3, 1, 1)",
            f"F.adaptive_avg_pool2d({{x}}, ({h}, {w}))",
            "{x}.mean([2, 3], keepdim=True)",
            "{x}.clamp(-1.0, 1.0)",
            "torch.clamp({x}, 0.0, 6.0)",
            "F.hardtanh({x})",
            "F.relu6({x})",
            "F.leaky_relu({x})",
            f"F.interpolate({{x}}, size=[{h}, {w}])",
            "module_avgpool",
            "module_hardtanh",
            "module_leaky",
            "module_relu6",
            "module_adaptive",
        ]
        spelling = self.pick(spellings)
        if spelling.startswith("module"):
            if scope.owner is None:
                spelling = "F.hardtanh({x})"
            else:
                ctor = {
                    "module_avgpool": "nn.AvgPool2d(3, 1, 1)",
                    "module_hardtanh": "nn.Hardtanh()",
                    "module_leaky": "nn.LeakyReLU(0.1)",
                    "module_relu6": "nn.ReLU6()",
                    "module_adaptive": "nn.AdaptiveAvgPool2d(1)",
                }[spelling]
                if spelling == "module_adaptive":
                    self.call_module(scope, x, "act", ctor, lambda s: (s[0], s[1], 1, 1))
                else:
                    self.call_module(scope, x, "act", ctor, lambda s: s)
                return True
        out = (n, c, 1, 1) if "mean" in spelling else x.shape
        maybe_same = "interpolate" in spelling or "adaptive" in spelling
        scope.emit(spelling.format(x=x.name), out, x.root if maybe_same else FRESH)
        return True

    def op_fixed(self, scope: Scope) -> bool:
        x = self.pick_val(scope)
        assert x is not None
        spelling = self.pick(
            [
                "torch.sigmoid({})",
                "torch.tanh({})",
                "F.hardsigmoid({})",
                "{}.sigmoid()",
                "{}.tanh_()",
                "module_sigmoid",
                "module_hardsigmoid",
                "module_tanh",
            ]
        )
        if spelling.startswith("module"):
            if scope.owner is None:
                spelling = "torch.sigmoid({})"
            else:
                ctor = {
                    "module_sigmoid": "nn.Sigmoid()",
                    "module_tanh": "nn.Tanh()",
                    "module_hardsigmoid": "nn.Hardsigmoid()",
                }[spelling]
                self.call_module(scope, x, "act", ctor, lambda s: s)
                return True
        scope.emit(spelling.format(x.name), x.shape, x.root if "_(" in spelling else FRESH)
        return True

    def op_norm(self, scope: Scope) -> bool:
        x = self.pick_val(scope)
        assert x is not None
        n, c, h, w = x.shape
        options = [
            "F.layer_norm",
            "F.group_norm",
            "F.hardswish",
            "F.elu",
            "F.celu",
            "module_layer_norm",
            "module_group_norm",
            "module_hardswish",
            "module_elu",
        ]
        if h * w > 1:
            options += ["F.instance_norm", "module_instance_norm"]
        choice = self.pick(options)
        if choice.startswith("module") and scope.owner is None:
            choice = "F.hardswish"
        if choice == "F.layer_norm":
            scope.emit(f"F.layer_norm({x.name}, [{w}])", x.shape)
        elif choice == "F.group_norm":
            scope.emit(f"F.group_norm({x.name}, {2 if c % 2 == 0 else 1})", x.shape)
        elif choice == "F.instance_norm":
            scope.emit(f"F.instance_norm({x.name})", x.shape)
        elif choice.startswith("F."):
            scope.emit(f"{choice}({x.name})", x.shape)
        elif choice == "module_layer_norm":
            self.call_module(
                scope, x, "norm", f"nn.LayerNorm({w})", lambda s, w=w: s if s[3] == w else None
            )
        elif choice == "module_group_norm":
            self.call_module(
                scope,
                x,
                "norm",
                f"nn.GroupNorm({2 if c % 2 == 0 else 1}, {c})",
                lambda s, c=c: s if s[1] == c else None,
            )
        elif choice == "module_instance_norm":
            self.call_module(
                scope,
                x,
                "norm",
                f"nn.InstanceNorm2d({c})",
                lambda s, c=c: s if s[1] == c and s[2] * s[3] > 1 else None,
            )
        elif choice == "module_hardswish":
            self.call_module(scope, x, "act", "nn.Hardswish()", lambda s: s)
        else:
            self.call_module(scope, x, "act", "nn.ELU()", lambda s: s)
        return True

    def op_other(self, scope: Scope) -> bool:
        x = self.pick_val(scope)
        assert x is not None
        spelling = self.pick(
            [
                "torch.exp({})",
                "{}.abs()",
                "-{}",
                "torch.softmax({}, 1)",
                "{}.exp_()",
                "torch.neg({})",
            ]
        )
        scope.emit(spelling.format(x.name), x.shape, x.root if "_(" in spelling else FRESH)
        return True

    # ------------------------------------------------------------------ structure
    def op_reuse(self, scope: Scope) -> bool:
        """Call a leaf submodule again on another value: one of this class, or one inside
        a block instance this class holds (``self.b1.conv2(x)``)."""
        if scope.owner is None:
            return False
        attrs = [(attr.name, attr) for attr in scope.owner.leaf_attrs]
        attrs += [
            (f"{block.attr}.{attr.name}", attr)
            for block in scope.owner.blocks
            for attr in block.cls.leaf_attrs
        ]
        options = []
        for name, attr in attrs:
            for v in scope.env:
                out = attr.apply(v.shape)
                if out is not None:
                    options.append((name, v, out))
        if not options:
            return False
        name, v, out = self.pick(options)
        scope.used.add(v.name)
        scope.emit(f"self.{name}({v.name})", out, None)
        return True

    def condition(self, scope: Scope) -> tuple[str, bool | None]:
        """A bool expression, and its value on the example inputs when that is known."""
        options: list[tuple[str, bool | None]] = [(f, self.flag_value) for f in scope.flags]
        options += [(f"bool({v.name}.sum() > 0.0)", None) for v in scope.env[-2:]]
        if scope.owner is not None:
            options.append(("self.training", False))  # models are built in eval mode
            options.append(("attr_flag", None))
        cond, value = self.pick(options)
        if cond == "attr_flag":
            assert scope.owner is not None
            name = scope.owner.fresh("use")
            value = self.chance()
            scope.owner.init.append(f"self.{name} = {value}")
            cond = f"self.{name}"
        return cond, value

    def op_if(self, scope: Scope) -> bool:
        if scope.if_depth >= MAX_IF_DEPTH:
            return False
        outputs = self.draw(st.integers(min_value=0, max_value=2))
        shapes = [
            self.pick_val(scope, use=False).shape  # type: ignore[union-attr]
            for _ in range(outputs)
        ]
        names = [scope.fresh("r") for _ in shapes]
        cond, value = self.condition(scope)
        scope.line(f"if {cond}:")
        # a branch may raise when the example inputs never take it
        raises = None
        if value is not None and self.chance():
            raises = "else" if value else "then"
        for branch_name in ("then", "else"):
            if branch_name == "else":
                scope.line("else:")
            branch = scope.branch()
            start = len(branch.lines)
            if raises == branch_name:
                if self.chance():
                    self.program(branch, 1, min_len=0)
                branch.line('raise RuntimeError("unsupported")')
                continue
            self.program(branch, 3, min_len=0)
            for name, shape in zip(names, shapes, strict=True):
                chosen = self.pick_val(branch, lambda s, shape=shape: s == shape)
                assert chosen is not None
                branch.line(f"{name} = {chosen.name}")
            if len(branch.lines) == start:
                branch.line("pass")
        scope.env += [Val(name, shape, None) for name, shape in zip(names, shapes, strict=True)]
        return True

    def op_if_inconsistent(self, scope: Scope) -> bool:
        """An ``if`` returning, from one branch, the output of a conv or linear (which
        gets an observer) and from the other that of an op the pass does not know: the
        pass fails, unless a qconfig None or dynamic mode leaves the first unobserved."""
        x = self.pick_val(scope)
        assert x is not None
        cond, _ = self.condition(scope)
        result = scope.fresh("r")
        observed_branch = self.pick(["then", "else"])
        scope.line(f"if {cond}:")
        for branch_name in ("then", "else"):
            if branch_name == "else":
                scope.line("else:")
            branch = scope.branch()
            if branch_name != observed_branch:
                out = branch.emit(f"torch.exp({x.name})", x.shape)
            elif self.chance():
                weight = self.weight(branch, (x.shape[1], x.shape[1], 1, 1))
                out = branch.emit(f"F.conv2d({x.name}, {weight})", x.shape)
            else:
                weight = self.weight(branch, (x.shape[3], x.shape[3]))
                out = branch.emit(f"F.linear({x.name}, {weight})", x.shape)
            branch.line(f"{result} = {out.name}")
        scope.env.append(Val(result, x.shape, None))
        return True

    def op_loop(self, scope: Scope) -> bool:
        """A ``for`` loop carrying one tensor (the pass observes nothing in its body)."""
        if scope.if_depth >= MAX_IF_DEPTH:
            return False
        start = self.pick_val(scope)
        assert start is not None
        carried = scope.fresh("r")
        scope.line(f"{carried} = {start.name}")
        scope.line("for _ in range(2):")
        body = scope.branch()
        body.env.append(Val(carried, start.shape, None))
        self.program(body, 2)
        chosen = self.pick_val(body, lambda s: s == start.shape)
        assert chosen is not None
        body.line(f"{carried} = {chosen.name}")
        scope.env.append(Val(carried, start.shape, None))
        return True

    def op_buffer(self, scope: Scope) -> bool:
        """Read a tensor buffer of the class (a prim::GetAttr value that is no weight)."""
        if scope.owner is None:
            return False
        like = self.pick_val(scope, use=False)
        assert like is not None
        name = scope.owner.fresh("buf")
        scope.owner.init.append(
            f'self.register_buffer("{name}", torch.randn({shape_text(like.shape)}))'
        )
        scope.emit(f"self.{name}", like.shape)
        return True

    def op_function(self, scope: Scope) -> bool:
        """Call a free function: an existing one whose parameters fit, or a new one."""
        existing = [
            f
            for f in self.function_sigs
            if all(
                any(v.shape == shape for v in scope.env)
                for kind, _, shape in f.params
                if kind == "act"
            )
        ]
        if existing and self.chance():
            sig = self.pick(existing)
        else:
            if len(self.function_sigs) >= 3:
                return False
            sig = self.new_function(scope)
        args = []
        for kind, _, shape in sig.params:
            if kind == "act":
                chosen = self.pick_val(scope, lambda s, shape=shape: s == shape)
                assert chosen is not None
                args.append(chosen.name)
            else:
                args.append(self.weight(scope, shape))
        if self.pick([False, False, True]):  # prim::fork, inlined by the pass
            future = scope.fresh("fut")
            scope.line(f"{future} = torch.jit.fork({sig.name}, {', '.join(args)})")
            scope.emit(f"torch.jit.wait({future})", sig.out_shape, None)
        else:
            scope.emit(f"{sig.name}({', '.join(args)})", sig.out_shape, None)
        return True

    def new_function(self, caller: Scope) -> FunctionSig:
        name = f"fn{self.next_id()}"
        arity = self.draw(st.integers(min_value=1, max_value=2))
        params: list[tuple[str, str, Shape]] = []
        env = []
        for i in range(arity):
            v = self.pick_val(caller)
            assert v is not None
            params.append(("act", f"a{i}", v.shape))
            env.append(Val(f"a{i}", v.shape, None))  # callers may pass one value twice
        lines: list[str] = []
        scope = Scope(None, lines, 1, env, [0], caller.if_depth, weight_params=params)
        self.program(scope, 3)
        result = self.pick_output(scope)
        scope.line(f"return {result.name}")
        signature = ", ".join(f"{p}: torch.Tensor" for _, p, _ in params)
        source = [f"def {name}({signature}) -> torch.Tensor:"] + lines
        self.functions.append("\n".join(source) + "\n")
        sig = FunctionSig(name, params, result.shape)
        self.function_sigs.append(sig)
        return sig

    def op_helper(self, scope: Scope) -> bool:
        """Call a helper method of ``self`` (prim::CallMethod on self), or of a block
        instance ``self`` holds (``self.b1.helper2(x)``)."""
        owner = scope.owner
        if owner is None or scope.in_helper:
            return False
        helpers = [("", h) for h in owner.helpers]
        helpers += [(f"{b.attr}.", h) for b in owner.blocks for h in b.cls.helpers]
        fits = [
            (prefix, h)
            for prefix, h in helpers
            if any(v.shape == h.params[0][2] for v in scope.env)
        ]
        prefix = ""
        if fits and self.chance():
            prefix, sig = self.pick(fits)
        else:
            x = self.pick_val(scope)
            assert x is not None
            name = owner.fresh("helper")
            lines: list[str] = []
            body = Scope(
                owner,
                lines,
                1,
                [Val("a", x.shape, None)],
                [0],
                scope.if_depth,
                flags=(),
                in_helper=True,
            )
            self.program(body, 3)
            result = self.pick_output(body)
            body.line(f"return {result.name}")
            owner.methods.append([f"def {name}(self, a: torch.Tensor) -> torch.Tensor:"] + lines)
            sig = FunctionSig(name, [("act", "a", x.shape)], result.shape)
            owner.helpers.append(sig)
        arg = self.pick_val(scope, lambda s: s == sig.params[0][2])
        assert arg is not None
        scope.emit(f"self.{prefix}{sig.name}({arg.name})", sig.out_shape, None)
        return True

    def op_block(self, scope: Scope) -> bool:
        """Call a block submodule: a new instance of an existing class (the type is then
        shared), the same instance again, a new class, or two new instances of a new class
        one after the other (``self.b2(self.b1(x))``)."""
        owner = scope.owner
        if owner is None or owner.depth >= MAX_BLOCK_DEPTH:
            return False

        def callable_with(cls: BlockClass) -> bool:
            return all(any(v.shape == s for v in scope.env) for s in cls.in_shapes)

        choice = self.pick(["new_instance", "same_instance", "new_class", "twins"])
        instance: BlockInstance | None = None
        if choice == "same_instance":
            fits = [b for b in owner.blocks if callable_with(b.cls)]
            instance = self.pick(fits) if fits else None
        if instance is None and choice == "new_instance":
            classes = [c for c in self.block_classes if callable_with(c)]
            if classes:
                instance = self.new_instance(owner, self.pick(classes))
        if instance is None:
            instance = self.new_instance(owner, self.new_block(scope, owner.depth + 1))
        self.call_block(scope, instance)
        if choice == "twins" and callable_with(instance.cls):
            self.call_block(scope, self.new_instance(owner, instance.cls))
        return True

    def new_instance(self, owner: ClassBuilder, cls: BlockClass) -> BlockInstance:
        instance = BlockInstance(owner.add_module("b", f"{cls.name}()", None), cls)
        owner.blocks.append(instance)
        return instance

    def call_block(self, scope: Scope, instance: BlockInstance) -> None:
        args = []
        for shape in instance.cls.in_shapes:
            chosen = self.pick_val(scope, lambda s, shape=shape: s == shape)
            assert chosen is not None
            args.append(chosen.name)
        call = f"self.{instance.attr}({', '.join(args)})"
        if self.pick([False, False, True]):  # prim::fork, inlined by the pass
            future = scope.fresh("fut")
            scope.line(f"{future} = torch.jit.fork(self.{instance.attr}, {', '.join(args)})")
            call = f"torch.jit.wait({future})"
        if len(instance.cls.out_shapes) == 1:
            scope.emit(call, instance.cls.out_shapes[0], None)
        else:
            names = [scope.fresh() for _ in instance.cls.out_shapes]
            scope.line(f"{', '.join(names)} = {call}")
            scope.env += [
                Val(n, s, None) for n, s in zip(names, instance.cls.out_shapes, strict=True)
            ]

    def op_twin_blocks(self, scope: Scope) -> bool:
        """Two instances of a new block class holding a submodule that gets observers,
        called one after the other: their class type is shared, and a qconfig key set below one
        of them splits it below the instance."""
        owner = scope.owner
        if owner is None or owner.depth >= MAX_BLOCK_DEPTH:
            return False
        cls = self.new_block(scope, owner.depth + 1, leaf_module_first=True)
        for _ in range(2):
            self.call_block(scope, self.new_instance(owner, cls))
        return True

    def new_block(self, caller: Scope, depth: int, leaf_module_first: bool = False) -> BlockClass:
        name = f"Block{self.next_id()}"
        builder = ClassBuilder(name, depth)
        arity = self.draw(st.integers(min_value=1, max_value=2))
        in_shapes = []
        env = []
        for i in range(arity):
            v = self.pick_val(caller)
            assert v is not None
            in_shapes.append(v.shape)
            env.append(Val(f"x{i}", v.shape, None))
        lines: list[str] = []
        scope = Scope(builder, lines, 1, env, [0])
        if leaf_module_first:
            self.observed_op(scope, as_module=True)
        self.program(scope, 4)
        out_shapes = self.finish_method(
            builder, scope, [f"x{i}: torch.Tensor" for i in range(arity)]
        )
        cls = BlockClass(name, tuple(in_shapes), out_shapes, builder.leaf_attrs, builder.helpers)
        # register before the class is used; classes render in creation order, users last
        self.classes.append(builder)
        self.block_classes.append(cls)
        return cls

    def finish_method(
        self, builder: ClassBuilder, scope: Scope, params: list[str], keep_alive: int = 0
    ) -> tuple[Shape, ...]:
        """Add ``forward`` returning one or two values (plus up to ``keep_alive`` values
        nothing reads, so their code is not dropped); returns the output shapes."""
        outputs = self.draw(st.integers(min_value=1, max_value=2))
        results = [self.pick_output(scope) for _ in range(outputs)]
        results += scope.dangling()[-keep_alive:] if keep_alive else []
        names = [r.name for r in results]
        if len(results) == 1:
            ret, annotation = names[0], "torch.Tensor"
        else:
            ret = ", ".join(names)
            annotation = f"Tuple[{', '.join('torch.Tensor' for _ in results)}]"
        scope.line(f"return {ret}")
        signature = ", ".join(["self", *params])
        builder.methods.insert(0, [f"def forward({signature}) -> {annotation}:"] + scope.lines)
        return tuple(r.shape for r in results)

    def observed_op(self, scope: Scope, as_module: bool | None = None) -> None:
        """A conv or linear, in static mode; a linear in dynamic mode."""
        if self.quant_type == "dynamic":
            self.op_linear(scope, as_module)
        else:
            self.pick([self.op_conv, self.op_linear])(scope, as_module)

    def opening(self, scope: Scope) -> None:
        """The first statement of ``forward``: the structure the focus needs, else (but
        for "mixed") an op that gets observers."""
        self.budget -= 1
        if self.focus == "type_split":
            self.op_twin_blocks(scope)
        elif self.focus == "if_inconsistent":
            self.op_if_inconsistent(scope)
        elif self.focus == "calls":
            assert scope.owner is not None
            cls = self.new_block(scope, scope.owner.depth + 1, leaf_module_first=True)
            self.call_block(scope, self.new_instance(scope.owner, cls))
        elif self.focus == "qconfig_below":
            self.observed_op(scope, as_module=True)
        elif self.focus != "mixed":
            self.observed_op(scope)
        else:
            self.budget += 1

    def top(self, inputs: tuple[Shape, ...], flag: bool) -> str:
        builder = ClassBuilder("Model", 0)
        env = [Val(f"x{i}", shape) for i, shape in enumerate(inputs)]
        scope = Scope(builder, [], 1, env, [0], flags=("flag",) if flag else ())
        self.opening(scope)
        self.program(scope, self.budget)
        params = [f"x{i}: torch.Tensor" for i in range(len(inputs))]
        if flag:
            params.append("flag: bool")
        self.finish_method(builder, scope, params, keep_alive=2)
        self.classes.append(builder)
        parts = [HEADER, *self.functions, *(c.render() for c in self.classes)]
        return "\n\n".join(parts)


# ---------------------------------------------------------------------------------- cases


_TMP_DIR: Path | None = None
_LOADED: dict[str, ModuleType] = {}


def _tmp_dir() -> Path:
    global _TMP_DIR
    if _TMP_DIR is None:
        _TMP_DIR = Path(tempfile.mkdtemp(prefix="obsviz-fuzz-"))
        atexit.register(shutil.rmtree, _TMP_DIR, True)
    return _TMP_DIR


def load_source(source: str) -> ModuleType:
    """Write ``source`` to a file named after its hash and import it (once)."""
    name = "obsviz_fuzz_" + hashlib.sha1(source.encode()).hexdigest()[:16]
    module = _LOADED.get(name)
    if module is None:
        path = _tmp_dir() / f"{name}.py"
        path.write_text(source)
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        _LOADED[name] = module
    return module


@dataclass(frozen=True)
class FuzzCase:
    """A generated model with its inputs, qconfig dict and quant type."""

    focus: str  # what the generator steered toward (see FOCUS_KINDS)
    source: str
    input_shapes: tuple[Shape, ...]
    flag: bool | None  # the value of the ``flag`` input, if forward takes one
    quant_type: str
    qconfig_names: tuple[tuple[str, str], ...]  # (module path, qconfig name)

    def build(self) -> nn.Module:
        torch.manual_seed(0)
        return load_source(self.source).Model().eval()

    def example_inputs(self) -> tuple[Any, ...]:
        generator = torch.Generator().manual_seed(1)
        tensors = tuple(torch.randn(shape, generator=generator) for shape in self.input_shapes)
        return tensors if self.flag is None else (*tensors, self.flag)

    def qconfig_dict(self) -> dict[str, QConfig | None]:
        return {path: ALL_QCONFIGS[name]() for path, name in self.qconfig_names}

    def __str__(self) -> str:
        qconfigs = ", ".join(f"{path!r}: {name}" for path, name in self.qconfig_names)
        return (
            f"# focus {self.focus}\n{self.source}\n"
            f"# inputs {self.input_shapes} flag={self.flag}\n"
            f"# quant_type={self.quant_type!r} qconfig_dict={{{qconfigs}}}\n"
        )


def module_paths(model: nn.Module) -> list[str]:
    return [path for path, _ in model.named_modules() if path]


def paths_below_shared_instances(model: nn.Module) -> list[str]:
    """The children of instances whose class has other instances (which TorchScript
    gives one class type): a qconfig of their own splits that type below the instance."""
    instances = Counter(type(module) for module in model.modules())
    return [
        f"{path}.{name}"
        for path, module in model.named_modules()
        if path and instances[type(module)] > 1
        for name, _ in module.named_children()
    ]


@st.composite
def fuzz_cases(draw: Draw, max_statements: int = 12, focus: str | None = None) -> FuzzCase:
    """A random model, inputs, quant type and qconfig dict (over real module paths),
    steered toward ``focus`` (drawn when None)."""
    inputs: tuple[Shape, ...] = (IMAGE,)
    if draw(st.booleans()):
        inputs += (with_channels(IMAGE, draw(st.sampled_from([4, 8, 2]))),)
    flag = draw(st.sampled_from([None, True, False]))
    if focus is None:
        focus = draw(st.sampled_from(FOCUSES))
    quant_type = "dynamic" if focus == "dynamic" else "static"
    if focus in EITHER_MODE_FOCUSES:
        quant_type = draw(st.sampled_from(["static", "dynamic"]))
    generator = ProgramGenerator(draw, max_statements, flag, focus, quant_type)
    source = generator.top(inputs, flag is not None)
    names = list(QCONFIGS[quant_type])
    if draw(st.sampled_from([False] * 7 + [True])):  # now and then the other mode's qconfigs
        names = list(QCONFIGS["static" if quant_type == "dynamic" else "dynamic"])
    qconfigs: list[tuple[str, str]] = []
    if focus == "qconfig_below":
        names = names[:-1]  # qconfigs for submodules only
    elif draw(st.sampled_from([True] * 7 + [False])):  # usually a global entry
        qconfigs.append(("", draw(st.sampled_from(names[:-1]))))
    torch.manual_seed(0)
    model = load_source(source).Model()
    paths = module_paths(model)
    below_shared = paths_below_shared_instances(model)
    if focus == "type_split" and below_shared:
        taken = dict(qconfigs).get("", "None")
        key = draw(st.sampled_from(below_shared))
        qconfigs.append((key, draw(st.sampled_from([n for n in names if n != taken]))))
        paths = [p for p in paths if p != key]
    if paths:
        # deeper paths more often: keys below shared block instances split their types
        weighted = [p for p in paths for _ in range(p.count(".") * 2 + 1)]
        keys = draw(
            st.lists(
                st.sampled_from(weighted),
                min_size=int(focus == "qconfig_below"),
                max_size=3,
                unique=True,
            )
        )
        qconfigs += [(key, draw(st.sampled_from(names))) for key in keys]
    return FuzzCase(focus, source, inputs, flag, quant_type, tuple(qconfigs))
