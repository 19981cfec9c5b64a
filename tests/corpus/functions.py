"""User-defined free functions (``prim::CallFunction``), and two functions of one name in
two modules (the other one is in :mod:`tests.corpus.twins`)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from . import twins
from .builders import DYNAMIC, IMG, STATIC, VEC, _build, _tags
from .case_record import Case
from .torch_pass import IF_INCONSISTENT_MSG

# ---------------------------------------------------------------------------
# User-defined free functions (prim::CallFunction)
#
# In torch 2.13 the pass never records observers for values *inside* a user function
# (observer_for_value_ / the boundary map are only filled from method graphs), so the
# "Inserting observers for user defined functions is not supported" check is not
# reached: F.linear / F.conv2d inside a helper are silently left unobserved.  The
# observed property does flow through helpers (pass-through map covers their graphs).
# ---------------------------------------------------------------------------


def shape_only_helper(x: torch.Tensor) -> torch.Tensor:
    return torch.flatten(x, 1)


def scale_helper(x: torch.Tensor, factor: float) -> torch.Tensor:
    return x * factor


def linear_helper(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    return F.linear(x, weight, bias)


def conv_relu_helper(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    return F.relu(F.conv2d(x, weight))


def twin_helper(x: torch.Tensor) -> torch.Tensor:
    return torch.relu(x)


def drop_helper(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """torchvision's stochastic_depth shape: the identity branch returns the input."""
    if not training or p == 0.0:
        return x
    keep = torch.rand(x.shape[0], 1, 1, 1) > p
    return x * keep.to(x.dtype) / (1.0 - p)


def pick_helper(x: torch.Tensor, flatten: bool) -> torch.Tensor:
    if flatten:  # noqa: SIM108 - keep a real prim::If with statement branches
        y = torch.flatten(x, 1)
    else:
        y = torch.relu(x)
    return y


class CallsDropHelper(nn.Module):
    """An If inside a called function whose branches disagree: the real pass fails there."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.p = 0.1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return y + drop_helper(y, self.p, self.training)


class CallsPickHelper(nn.Module):
    """An If inside a called function whose branches agree (both pass the input on)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.flatten = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return pick_helper(self.conv(x), self.flatten) * 2.0


class CallsTwinHelpers(nn.Module):
    """Found by fuzzing: two functions named ``twin_helper`` (this module's passes the
    observed property through, ``twins``' does not) must not be mixed up."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return twin_helper(y) + twins.twin_helper(y)


class CallsShapeHelper(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(4 * 6 * 6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(shape_only_helper(self.conv(x)))


class CallsScaleHelper(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(8, 8)
        self.fc2 = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(scale_helper(self.fc1(x), 0.5))


class CallsLinearHelper(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(6, 8))
        self.bias = nn.Parameter(torch.randn(6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return linear_helper(x, self.weight, self.bias)


class CallsConvHelper(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)
        self.weight = nn.Parameter(torch.randn(4, 3, 3, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return conv_relu_helper(self.conv(x), self.weight)


# ---------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------


CASES: tuple[Case, ...] = (
    # --- user-defined functions ---
    Case(
        "function_call_shape_static",
        _build(CallsShapeHelper),
        STATIC,
        IMG,
        tags=_tags("function_call", "conv", "linear", "pass_through"),
        convertible=True,
    ),
    Case(
        "function_call_scale_static",
        _build(CallsScaleHelper),
        STATIC,
        VEC,
        tags=_tags("function_call", "linear", "propagate_add_mul"),
        convertible=True,
    ),
    Case(
        "function_needs_observer_linear_static",
        _build(CallsLinearHelper),
        STATIC,
        VEC,
        tags=_tags("function_needs_observer", "functional_linear"),
        convertible=True,
    ),
    Case(
        "function_needs_observer_linear_dynamic",
        _build(CallsLinearHelper),
        DYNAMIC,
        VEC,
        quant_type="dynamic",
        tags=_tags("function_needs_observer", "functional_linear", "dynamic"),
        convertible=True,
    ),
    Case(
        "function_needs_observer_conv_static",
        _build(CallsConvHelper),
        STATIC,
        IMG,
        tags=_tags("function_needs_observer", "conv"),
        convertible=True,
    ),
    Case(
        "function_twins_same_name_static",
        _build(CallsTwinHelpers),
        STATIC,
        IMG,
        tags=_tags("function_call", "conv", "propagate_add_mul"),
        convertible=True,
    ),
    Case(
        "function_if_inconsistent_static",
        _build(CallsDropHelper),
        STATIC,
        IMG,
        real_raises=IF_INCONSISTENT_MSG,
        tags=_tags("function_call", "if", "if_inconsistent", "conv"),
    ),
    Case(
        "function_if_consistent_static",
        _build(CallsPickHelper),
        STATIC,
        IMG,
        tags=_tags("function_call", "if", "conv", "pass_through"),
        convertible=True,
    ),
    Case(
        "function_call_scale_dynamic",
        _build(CallsScaleHelper),
        DYNAMIC,
        VEC,
        quant_type="dynamic",
        tags=_tags("function_call", "linear", "dynamic"),
        convertible=True,
    ),
)
