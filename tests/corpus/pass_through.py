"""Ops of one tensor input and what they do with the observed property: shape-only and
general-value ops hand it through; elu, calls of functions such as ``F.relu6`` and the
fixed-qparams ops (sigmoid, tanh, hardsigmoid) do not."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .builders import IMG, STATIC, VEC, _build, _randn, _tags
from .case_record import Case

# ---------------------------------------------------------------------------
# Pass-through ops (shape only): observed property flows through, no new observer
# ---------------------------------------------------------------------------


class ConvPoolFlattenLinear(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.dropout = nn.Dropout(0.5)
        self.fc = nn.Linear(4 * 4 * 4, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.pool(self.conv(x))
        y = torch.flatten(y, 1)
        return self.fc(self.dropout(y))


class ShapeOpsChain(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4, 6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        y = y.permute(0, 2, 3, 1).contiguous()
        y = y.reshape(-1, 4).view(-1, 4)
        y = y.unsqueeze(0).squeeze(0).detach()
        y = F.max_pool1d(y.transpose(0, 1).unsqueeze(0), 2).squeeze(0).transpose(0, 1)
        return self.fc(y)


class ChunkConvs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.conv_a = nn.Conv2d(2, 2, 1)
        self.conv_b = nn.Conv2d(2, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.conv(x).chunk(2, dim=1)
        return self.conv_a(a) + self.conv_b(b)


class FlattenBeforeLinear(nn.Module):
    """Unobserved graph input through flatten into a linear."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3 * 4 * 4, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.flatten(1).relu())


class RepeatMaxOps(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x).repeat(1, 2, 1, 1)
        values, _ = torch.max(y, dim=1)
        return values.repeat_interleave(2, dim=0)


# ---------------------------------------------------------------------------
# General-value ops (avg_pool, interpolate, hardtanh, clamp, leaky_relu, mean): these pass
# the observed property through.  elu is NOT one of them in torch 2.13 (it gets its own
# output observer), and CallFunctions like F.relu6 count as user functions.
# ---------------------------------------------------------------------------


class ConvGeneralValueOps(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.pool = nn.AvgPool2d(2)
        self.gap = nn.AdaptiveAvgPool2d((2, 2))
        self.hardtanh = nn.Hardtanh()
        self.conv2 = nn.Conv2d(4, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.hardtanh(self.pool(self.conv(x)))
        y = F.interpolate(y, scale_factor=2.0, mode="nearest")
        y = torch.clamp(y, -0.5, 0.5)
        y = F.leaky_relu(y, 0.1)
        y = F.elu(y)
        return self.conv2(self.gap(y))


class GeneralValueAtOutput(nn.Module):
    """General-value op is the last op: is its output observed on its own?"""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.adaptive_avg_pool2d(self.conv(x), 1)


class MeanAfterLinear(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)
        self.fc2 = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.fc(x).mean(0, keepdim=True))


class GeneralValueOnInput(nn.Module):
    """General-value ops applied to the unobserved graph input, then a conv."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.relu6 = nn.ReLU6()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.relu6(F.avg_pool2d(x, 2)))


class EluBetweenConvs(nn.Module):
    """elu is quantizable on its own in torch 2.13: its output gets an observer."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 1)
        self.elu = nn.ELU()
        self.conv2 = nn.Conv2d(4, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.elu(self.conv1(x)))


class Relu6FunctionalBetweenConvs(nn.Module):
    """F.relu6 is a prim::CallFunction that is neither general nor quantizable."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 1)
        self.conv2 = nn.Conv2d(4, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(F.relu6(self.conv1(x)))


class UnsupportedOpsBetweenConvs(nn.Module):
    """gelu / softmax / exp are not known to the pass: their outputs need new observers."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 1)
        self.conv2 = nn.Conv2d(4, 4, 1)
        self.conv3 = nn.Conv2d(4, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv2(F.gelu(self.conv1(x)))
        return self.conv3(torch.exp(F.softmax(y, dim=1)))


# ---------------------------------------------------------------------------
# Fixed-qparams ops (sigmoid / tanh / hardsigmoid)
# ---------------------------------------------------------------------------


class ConvSigmoidTanh(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3)
        self.conv2 = nn.Conv2d(3, 4, 3)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.sigmoid(self.conv1(x)), torch.tanh(self.conv2(x))


class HardsigmoidThenConv(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3)
        self.hsig = nn.Hardsigmoid()
        self.conv2 = nn.Conv2d(4, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.hsig(self.conv1(x)))


class SigmoidOnInput(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.sigmoid(x))


# ---------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------


CASES: tuple[Case, ...] = (
    # --- pass-through ---
    Case(
        "conv_pool_flatten_linear_static",
        _build(ConvPoolFlattenLinear),
        STATIC,
        IMG,
        tags=_tags("conv", "linear", "pass_through"),
        convertible=True,
    ),
    Case(
        "shape_ops_chain_static",
        _build(ShapeOpsChain),
        STATIC,
        IMG,
        tags=_tags("conv", "linear", "pass_through"),
        convertible=True,
    ),
    Case(
        "chunk_convs_static",
        _build(ChunkConvs),
        STATIC,
        IMG,
        tags=_tags("conv", "pass_through", "tuple_list", "propagate_add_mul"),
        convertible=True,
    ),
    Case(
        "flatten_before_linear_static",
        _build(FlattenBeforeLinear),
        STATIC,
        _randn((2, 3, 4, 4)),
        tags=_tags("linear", "pass_through"),
        convertible=True,
    ),
    Case(
        "repeat_max_ops_static",
        _build(RepeatMaxOps),
        STATIC,
        IMG,
        tags=_tags("conv", "pass_through"),
        convertible=True,
    ),
    # --- general value ---
    Case(
        "conv_general_value_ops_static",
        _build(ConvGeneralValueOps),
        STATIC,
        IMG,
        tags=_tags("conv", "general_value"),
    ),
    Case(
        "general_value_at_output_static",
        _build(GeneralValueAtOutput),
        STATIC,
        IMG,
        tags=_tags("conv", "general_value"),
        convertible=True,
    ),
    Case(
        "mean_after_linear_static",
        _build(MeanAfterLinear),
        STATIC,
        VEC,
        tags=_tags("linear", "general_value"),
        convertible=True,
    ),
    Case(
        "elu_between_convs_static",
        _build(EluBetweenConvs),
        STATIC,
        IMG,
        tags=_tags("conv", "general_value"),
        convertible=True,
    ),
    Case(
        "relu6_functional_between_convs_static",
        _build(Relu6FunctionalBetweenConvs),
        STATIC,
        IMG,
        tags=_tags("conv", "general_value", "function_call"),
        convertible=True,
    ),
    Case(
        "unsupported_ops_between_convs_static",
        _build(UnsupportedOpsBetweenConvs),
        STATIC,
        IMG,
        tags=_tags("conv"),
        convertible=True,
    ),
    Case(
        "general_value_on_input_static",
        _build(GeneralValueOnInput),
        STATIC,
        IMG,
        tags=_tags("conv", "general_value"),
        convertible=True,
    ),
    # --- fixed qparams ---
    Case(
        "conv_sigmoid_tanh_static",
        _build(ConvSigmoidTanh),
        STATIC,
        IMG,
        tags=_tags("conv", "fixed_qparams", "multiple_outputs"),
        convertible=True,
    ),
    Case(
        "hardsigmoid_then_conv_static",
        _build(HardsigmoidThenConv),
        STATIC,
        IMG,
        tags=_tags("conv", "fixed_qparams"),
        convertible=True,
    ),
    Case(
        "sigmoid_on_input_static",
        _build(SigmoidOnInput),
        STATIC,
        VEC,
        tags=_tags("linear", "fixed_qparams"),
        convertible=True,
    ),
)
