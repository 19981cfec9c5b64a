"""``prim::Loop``: bodies the pass never enters, and the shared types whose instances are
walked through one method or only inside a loop."""

from __future__ import annotations

import torch
from torch import nn
from torch.ao.nn.quantized import FloatFunctional

from .builders import DYNAMIC, IMG, SEQ, STATIC, VEC, _build, _tags
from .case_record import Case
from .torch_pass import LOOP_SHARED_TYPE_MSG

# ---------------------------------------------------------------------------
# Loops and the shared types walked through them
# ---------------------------------------------------------------------------


class LoopConv(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for _ in range(3):
            x = self.conv(x)
        return x


class LoopLinearAppend(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs: list[torch.Tensor] = []
        for i in range(x.size(0)):
            outs.append(self.fc(x[i]))
        return torch.stack(outs)


class LoopBetweenConvs(nn.Module):
    """Distinct conv types around a loop: the conv inside the loop is left unobserved."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 1)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
        self.conv3 = nn.Conv2d(4, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        for _ in range(2):
            x = self.conv2(x)
        return self.conv3(x)


class LoopSharedTypeConvs(nn.Module):
    """Same conv type inside and outside a loop: the real pass leaves the in-loop
    instance without the weight-observer slot its (shared, mutated) type now declares,
    so wrapping the result fails."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 3, 1)
        self.conv2 = nn.Conv2d(3, 3, 1)
        self.conv3 = nn.Conv2d(3, 3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        for _ in range(2):
            x = self.conv2(x)
        return self.conv3(x)


class SqueezeScale(nn.Module):
    """Gates its input per channel through ``FloatFunctional.mul`` (the shape of
    torchvision's QuantizableSqueezeExcitation)."""

    def __init__(self) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Conv2d(4, 4, 1)
        self.gate = nn.Hardsigmoid()
        self.skip_mul = FloatFunctional()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.skip_mul.mul(self.gate(self.fc(self.pool(x))), x)


class FloatFunctionalAddAndMul(nn.Module):
    """One FloatFunctional type, one instance that only adds and one that only multiplies
    (torchvision's mobilenet_v3_large: each residual block's skip_add, its squeeze block's
    skip_mul). Both instances are walked, but each through one method: the real pass
    leaves each without the observer slot the other method's graph added to the shared
    type, so wrapping the result fails (or crashes the process)."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 1)
        self.conv = nn.Conv2d(4, 4, 1)
        self.scale = SqueezeScale()
        self.skip_add = FloatFunctional()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        return self.skip_add.add(x, self.scale(self.conv(x)))


class ConvThenLoopLinear(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 1)
        self.fc = nn.Linear(6, 6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        for _ in range(2):
            x = self.fc(x)
        return y + x


class SplitBelowChildInLoop(nn.Module):
    """Found by fuzzing: ``b1.conv: None`` splits b1's type from b2's, while b1.fc and
    b2.fc keep sharing one. b1.fc is called from forward, b2.fc only in b2's loop, so
    b2.fc carries the weight observer of their shared graph, as with the real pass on
    the unsplit model; fully unshared, b2.fc would have none."""

    def __init__(self) -> None:
        super().__init__()
        self.b1 = ConvThenLoopLinear()
        self.b2 = ConvThenLoopLinear()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b1.fc(self.b1(x)) + self.b2(x)


class LoopLinearThenHead(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)
        self.head = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for _ in range(2):
            x = self.fc(x)
        return self.head(x)


class IntLoopBesideConvs(nn.Module):
    """A loop over ints only, next to quantizable ops; its int result is added."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 3, 1)
        self.conv2 = nn.Conv2d(3, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        total = 0
        for i in range(3):
            total += i
        return self.conv2(x) + total


# ---------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------


CASES: tuple[Case, ...] = (
    # --- loops ---
    Case(
        "loop_conv_static",
        _build(LoopConv),
        STATIC,
        IMG,
        tags=_tags("loop", "conv"),
        convertible=True,
    ),
    Case(
        "loop_linear_append_static",
        _build(LoopLinearAppend),
        STATIC,
        SEQ,
        tags=_tags("loop", "linear", "tuple_list"),
        convertible=True,
    ),
    Case(
        "loop_between_convs_static",
        _build(LoopBetweenConvs),
        STATIC,
        IMG,
        tags=_tags("loop", "conv"),
        convertible=True,
    ),
    Case(
        "loop_shared_type_convs_static",
        _build(LoopSharedTypeConvs),
        STATIC,
        IMG,
        real_raises=LOOP_SHARED_TYPE_MSG,
        tags=_tags("loop", "conv", "shared_type_same_qconfig"),
    ),
    Case(
        "float_functional_add_and_mul_static",
        _build(FloatFunctionalAddAndMul),
        STATIC,
        IMG,
        real_raises=LOOP_SHARED_TYPE_MSG,
        tags=_tags("shared_type_same_qconfig", "propagate_add_mul", "nested_submodules"),
    ),
    Case(
        "loop_linear_then_head_static",
        _build(LoopLinearThenHead),
        STATIC,
        VEC,
        tags=_tags("loop", "linear"),
        convertible=True,
    ),
    Case(
        "loop_linear_then_head_dynamic",
        _build(LoopLinearThenHead),
        DYNAMIC,
        VEC,
        quant_type="dynamic",
        tags=_tags("loop", "linear", "dynamic"),
        convertible=True,
    ),
    Case(
        "int_loop_beside_convs_static",
        _build(IntLoopBesideConvs),
        STATIC,
        IMG,
        tags=_tags("loop", "conv", "propagate_add_mul"),
        convertible=True,
    ),
    Case(
        "loop_linear_append_dynamic",
        _build(LoopLinearAppend),
        DYNAMIC,
        SEQ,
        quant_type="dynamic",
        tags=_tags("loop", "linear", "tuple_list", "dynamic"),
        convertible=True,
    ),
)
