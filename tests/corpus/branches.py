"""``if``: nested, raising and inconsistently observed branches, in forward and in a
submodule."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .builders import DYNAMIC, IMG, IMG_PAIR, STATIC, VEC, _build, _tags
from .case_record import Case
from .torch_pass import IF_INCONSISTENT_MSG

# ---------------------------------------------------------------------------
# Control flow: if / nested if / raising branch / inconsistent branches / loops
# ---------------------------------------------------------------------------


class IfConv(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3)
        self.conv2 = nn.Conv2d(3, 4, 3)
        self.conv3 = nn.Conv2d(4, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if bool(x.sum() > 0):  # noqa: SIM108 - keep a real prim::If with statement branches
            y = self.conv1(x)
        else:
            y = self.conv2(x)
        return self.conv3(y)


class NestedIf(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3)
        self.conv2 = nn.Conv2d(3, 4, 3)
        self.conv3 = nn.Conv2d(3, 4, 3)

    def forward(self, x: torch.Tensor, flag: int) -> torch.Tensor:
        if flag > 0:
            if flag > 1:  # noqa: SIM108 - keep a real prim::If with statement branches
                y = self.conv1(x)
            else:
                y = self.conv2(x)
        else:
            y = self.conv3(x)
        return F.relu(y)


class IfRaises(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(4 * 6 * 6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        if y.dim() == 4:
            z = torch.flatten(y, 1)
        else:
            raise RuntimeError("expected a 4-d activation")
        return self.fc(z)


class IfBranchScalarMul(nn.Module):
    """Looks inconsistent but is not: ``x * 2`` inherits the observed property of ``x``."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x: torch.Tensor, flag: bool) -> torch.Tensor:
        if flag:  # noqa: SIM108 - keep a real prim::If with statement branches
            y = self.conv(x)
        else:
            y = x * 2
        return y


class IfBranchSigmoidFeedsConv(nn.Module):
    """sigmoid of the observed input passes the observed property through the branch."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.conv2 = nn.Conv2d(3, 4, 1)

    def forward(self, x: torch.Tensor, flag: bool) -> torch.Tensor:
        if flag:  # noqa: SIM108 - keep a real prim::If with statement branches
            y = self.conv(x)
        else:
            y = x.sigmoid()
        return self.conv2(y)


class IfInconsistentZeros(nn.Module):
    """One branch returns an observed conv output, the other a fresh unobserved tensor."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x: torch.Tensor, flag: bool) -> torch.Tensor:
        if flag:  # noqa: SIM108 - keep a real prim::If with statement branches
            y = self.conv(x)
        else:
            y = torch.zeros_like(x)
        return y


class IfInconsistentOtherInput(nn.Module):
    """The else branch returns a graph input that nothing quantizable uses."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
        if bool(x.sum() > 0):  # noqa: SIM108 - keep a real prim::If with statement branches
            z = self.conv(x)
        else:
            z = other
        return z


class IfInconsistentExpFeedsConv(nn.Module):
    """Even when the if output feeds a conv, an unobserved branch value is an error."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.conv2 = nn.Conv2d(3, 4, 1)

    def forward(self, x: torch.Tensor, flag: bool) -> torch.Tensor:
        if flag:  # noqa: SIM108 - keep a real prim::If with statement branches
            y = self.conv(x)
        else:
            y = x.exp()
        return self.conv2(y)


class IfRaisesNested(nn.Module):
    """The else branch is a nested if whose branches both raise: it always raises."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.conv2 = nn.Conv2d(4, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 4:
            y = self.conv(x)
        else:
            if x.dim() == 3:
                raise ValueError("unbatched input is not supported")
            else:
                raise ValueError("expected a 4-d input")
        return self.conv2(y)


class NestedIfLinears(nn.Module):
    """Three same-typed linears selected by nested ifs."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(8, 4)
        self.fc2 = nn.Linear(8, 4)
        self.fc3 = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor, mode: int) -> torch.Tensor:
        if mode > 0:
            if mode > 1:  # noqa: SIM108 - keep a real prim::If with statement branches
                y = self.fc1(x)
            else:
                y = self.fc2(x)
        else:
            y = self.fc3(x)
        return y


class IfInSubmodule(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.block = IfConv()
        self.fc = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.block(x).mean([2, 3]))


# ---------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------


def _with_extra(
    make: Callable[[], tuple[torch.Tensor, ...]], *extra: Any
) -> Callable[[], tuple[Any, ...]]:
    def full() -> tuple[Any, ...]:
        return (*make(), *extra)

    return full


CASES: tuple[Case, ...] = (
    # --- control flow ---
    Case("if_conv_static", _build(IfConv), STATIC, IMG, tags=_tags("if", "conv"), convertible=True),
    Case(
        "nested_if_static",
        _build(NestedIf),
        STATIC,
        _with_extra(IMG, 2),
        tags=_tags("if", "nested_if", "conv", "pass_through"),
        convertible=True,
    ),
    Case(
        "if_raises_static",
        _build(IfRaises),
        STATIC,
        IMG,
        tags=_tags("if", "if_raises", "conv", "linear", "pass_through"),
        convertible=True,
    ),
    Case(
        "if_branch_scalar_mul_static",
        _build(IfBranchScalarMul),
        STATIC,
        _with_extra(IMG, True),
        tags=_tags("if", "conv", "propagate_add_mul"),
        convertible=True,
    ),
    Case(
        "if_branch_sigmoid_feeds_conv_static",
        _build(IfBranchSigmoidFeedsConv),
        STATIC,
        _with_extra(IMG, False),
        tags=_tags("if", "conv", "fixed_qparams"),
        convertible=True,
    ),
    Case(
        "if_inconsistent_zeros_static",
        _build(IfInconsistentZeros),
        STATIC,
        _with_extra(IMG, True),
        real_raises=IF_INCONSISTENT_MSG,
        tags=_tags("if", "if_inconsistent", "conv"),
    ),
    Case(
        "if_inconsistent_other_input_static",
        _build(IfInconsistentOtherInput),
        STATIC,
        IMG_PAIR,
        real_raises=IF_INCONSISTENT_MSG,
        tags=_tags("if", "if_inconsistent", "conv"),
    ),
    Case(
        "if_inconsistent_exp_feeds_conv_static",
        _build(IfInconsistentExpFeedsConv),
        STATIC,
        _with_extra(IMG, True),
        real_raises=IF_INCONSISTENT_MSG,
        tags=_tags("if", "if_inconsistent", "conv"),
    ),
    Case(
        "if_inconsistent_zeros_dynamic",
        _build(IfInconsistentZeros),
        DYNAMIC,
        _with_extra(IMG, True),
        quant_type="dynamic",
        tags=_tags("if", "dynamic", "conv"),
        convertible=True,
    ),
    Case(
        "if_raises_nested_static",
        _build(IfRaisesNested),
        STATIC,
        IMG,
        tags=_tags("if", "if_raises", "nested_if", "conv"),
        convertible=True,
    ),
    Case(
        "nested_if_linears_static",
        _build(NestedIfLinears),
        STATIC,
        _with_extra(VEC, 1),
        tags=_tags("if", "nested_if", "linear", "shared_type_same_qconfig"),
        convertible=True,
    ),
    Case(
        "nested_if_linears_dynamic",
        _build(NestedIfLinears),
        DYNAMIC,
        _with_extra(VEC, 2),
        quant_type="dynamic",
        tags=_tags("if", "nested_if", "linear", "dynamic"),
        convertible=True,
    ),
    Case(
        "if_raises_nested_dynamic_conv",
        _build(IfRaisesNested),
        DYNAMIC,
        IMG,
        quant_type="dynamic",
        tags=_tags("if", "if_raises", "nested_if", "conv", "dynamic"),
        convertible=True,
    ),
    Case(
        "if_in_submodule_static",
        _build(IfInSubmodule),
        STATIC,
        IMG,
        tags=_tags("if", "submodule_calls", "conv", "linear"),
        convertible=True,
    ),
    Case(
        "if_conv_dynamic",
        _build(IfConv),
        DYNAMIC,
        IMG,
        quant_type="dynamic",
        tags=_tags("if", "conv", "dynamic"),
        convertible=True,
    ),
)
