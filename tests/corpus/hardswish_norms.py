"""hardswish and the norms (layer, group, instance), as modules and functions."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .builders import DYNAMIC, IMG, SEQ, STATIC, VEC, _build, _tags
from .case_record import Case

# ---------------------------------------------------------------------------
# hardswish
# ---------------------------------------------------------------------------


class ConvHardswish(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.hswish = nn.Hardswish()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.hswish(self.conv(x))


class FunctionalHardswishOnInput(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.hardswish(self.fc(F.hardswish(x)))


# ---------------------------------------------------------------------------
# Norms
# ---------------------------------------------------------------------------


class LinearLayerNorm(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)
        self.ln = nn.LayerNorm(8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ln(self.fc(x))


class ConvGroupInstanceNorm(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.gn = nn.GroupNorm(2, 4)
        self.inorm = nn.InstanceNorm2d(4, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inorm(self.gn(self.conv(x)))


class FunctionalLayerNormOnInput(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(8))
        self.bias = nn.Parameter(torch.zeros(8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, [8], self.weight, self.bias)


# ---------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------


CASES: tuple[Case, ...] = (
    # --- hardswish ---
    Case(
        "conv_hardswish_static",
        _build(ConvHardswish),
        STATIC,
        IMG,
        tags=_tags("conv", "hardswish"),
        convertible=True,
    ),
    Case(
        "functional_hardswish_on_input_static",
        _build(FunctionalHardswishOnInput),
        STATIC,
        VEC,
        tags=_tags("linear", "hardswish"),
        convertible=True,
    ),
    # --- norms ---
    Case(
        "linear_layer_norm_static",
        _build(LinearLayerNorm),
        STATIC,
        SEQ,
        tags=_tags("linear", "norms"),
        convertible=True,
    ),
    Case(
        "conv_group_instance_norm_static",
        _build(ConvGroupInstanceNorm),
        STATIC,
        IMG,
        tags=_tags("conv", "norms"),
        convertible=True,
    ),
    Case(
        "functional_layer_norm_on_input_static",
        _build(FunctionalLayerNormOnInput),
        STATIC,
        SEQ,
        tags=_tags("norms"),
        convertible=True,
    ),
    Case(
        "linear_layer_norm_dynamic",
        _build(LinearLayerNorm),
        DYNAMIC,
        SEQ,
        quant_type="dynamic",
        tags=_tags("linear", "norms", "dynamic"),
        convertible=True,
    ),
)
