"""Ops of several inputs that propagate the observed property: cat, add and mul."""

from __future__ import annotations

import torch
from torch import nn

from .builders import IMG, IMG2, IMG_PAIR, STATIC, VEC, _build, _randn, _tags
from .case_record import Case

# ---------------------------------------------------------------------------
# cat propagation
# ---------------------------------------------------------------------------


class CatObserved(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3)
        self.conv2 = nn.Conv2d(3, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.conv1(x), self.conv2(x)], dim=1)


class CatMixedThenConv(nn.Module):
    """cat of an observed and an unobserved value feeding a conv."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 3, 3, padding=1)
        self.conv2 = nn.Conv2d(6, 4, 1)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.conv2(torch.cat([self.conv1(x), y], dim=1))


class CatUnobserved(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.conv(x) + torch.cat([y, y], dim=1).sum()


# ---------------------------------------------------------------------------
# add / mul propagation
# ---------------------------------------------------------------------------


class AddBothObserved(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3)
        self.conv2 = nn.Conv2d(3, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv1(x) + self.conv2(x)


class AddOneUnobserved(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.conv(x) + y


class AddMulScalar(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.conv(x) + 1.0) * 0.5


class MulBothObservedThenConv(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3)
        self.conv2 = nn.Conv2d(3, 4, 3)
        self.conv3 = nn.Conv2d(4, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv3(self.conv1(x) * self.conv2(x))


class AddInputsThenConv(nn.Module):
    """Two graph inputs added, the sum feeds a conv: only the sum needs an observer."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.conv(x + y)


class AddScalarTensorThenLinear(nn.Module):
    """add with a 0-dim tensor constant-like parameter and a mul by int."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(8, 8)
        self.fc2 = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.add(self.fc1(x), 2) * 3)


# ---------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------


CASES: tuple[Case, ...] = (
    # --- cat ---
    Case(
        "cat_observed_static",
        _build(CatObserved),
        STATIC,
        IMG,
        tags=_tags("conv", "propagate_cat", "tuple_list"),
        convertible=True,
    ),
    Case(
        "cat_mixed_then_conv_static",
        _build(CatMixedThenConv),
        STATIC,
        IMG_PAIR,
        tags=_tags("conv", "propagate_cat"),
        convertible=True,
    ),
    Case(
        "cat_unobserved_static",
        _build(CatUnobserved),
        STATIC,
        IMG2,
        tags=_tags("conv", "propagate_cat", "propagate_add_mul"),
        convertible=True,
    ),
    # --- add / mul ---
    Case(
        "add_both_observed_static",
        _build(AddBothObserved),
        STATIC,
        IMG,
        tags=_tags("conv", "propagate_add_mul"),
        convertible=True,
    ),
    Case(
        "add_one_unobserved_static",
        _build(AddOneUnobserved),
        STATIC,
        _randn((1, 3, 8, 8), (1, 4, 6, 6)),
        tags=_tags("conv", "propagate_add_mul"),
        convertible=True,
    ),
    Case(
        "add_mul_scalar_static",
        _build(AddMulScalar),
        STATIC,
        IMG,
        tags=_tags("conv", "propagate_add_mul"),
        convertible=True,
    ),
    Case(
        "mul_both_observed_then_conv_static",
        _build(MulBothObservedThenConv),
        STATIC,
        IMG,
        tags=_tags("conv", "propagate_add_mul"),
        convertible=True,
    ),
    Case(
        "add_inputs_then_conv_static",
        _build(AddInputsThenConv),
        STATIC,
        IMG_PAIR,
        tags=_tags("conv", "propagate_add_mul"),
        convertible=True,
    ),
    Case(
        "add_scalar_then_linear_static",
        _build(AddScalarTensorThenLinear),
        STATIC,
        VEC,
        tags=_tags("linear", "propagate_add_mul"),
        convertible=True,
    ),
)
