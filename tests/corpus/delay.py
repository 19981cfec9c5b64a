"""Delayed observation: the fusion patterns (conv / linear / add / mul / bn + relu) whose
intermediate value is left unobserved, and the same patterns blocked by another use."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .builders import DYNAMIC, IMG, STATIC, VEC, _build, _randn, _tags
from .case_record import Case

# ---------------------------------------------------------------------------
# Delayed observation: conv/linear + relu fusion patterns
# ---------------------------------------------------------------------------


class ConvReluModule(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv(x))


class ConvFunctionalRelu(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv(x))


class ConvFunctionalReluInplace(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv(x), inplace=True)


class ConvTorchRelu(nn.Module):
    """torch.relu is aten::relu, not the CallFunction of the delay patterns."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv(x))


class LinearReluModule(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 6)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.fc(x))


class LinearFunctionalRelu(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.fc(x))


class ConvBlock(nn.Module):
    """conv + ReLU module, reused by many containers below."""

    def __init__(self, channels: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv(x))


# ---------------------------------------------------------------------------
# Delayed observation: add / mul + relu
# ---------------------------------------------------------------------------


class AddReluModule(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3)
        self.conv2 = nn.Conv2d(3, 4, 3)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv1(x) + self.conv2(x))


class InplaceAddFunctionalRelu(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3)
        self.conv2 = nn.Conv2d(3, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv1(x)
        y += self.conv2(x)
        return F.relu(y)


class TorchAddTorchRelu(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3)
        self.conv2 = nn.Conv2d(3, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(torch.add(self.conv1(x), self.conv2(x)))


class MulReluModule(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3)
        self.conv2 = nn.Conv2d(3, 4, 3)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv1(x) * self.conv2(x))


class InplaceMulFunctionalRelu(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3)
        self.conv2 = nn.Conv2d(3, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv1(x)
        y *= self.conv2(x)
        return F.relu(y)


class TorchMulInplaceRelu(nn.Module):
    """aten::mul followed by aten::relu_ (the mul_aten_relu_ pattern)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3)
        self.conv2 = nn.Conv2d(3, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu_(torch.mul(self.conv1(x), self.conv2(x)))


# ---------------------------------------------------------------------------
# BatchNorm (no conv-bn folding here) and bn + relu
# ---------------------------------------------------------------------------


class ConvBn(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm2d(4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x))


class BnReluModule(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(3)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(x))


class ConvBnFunctionalRelu(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm2d(4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


class Bn3dRelu(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv3d(3, 4, 3)
        self.bn = nn.BatchNorm3d(4)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))


class Bn1dRelu(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 6)
        self.bn = nn.BatchNorm1d(6)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.fc(x)))


# ---------------------------------------------------------------------------
# Fusion patterns whose intermediate value has another use (must NOT match)
# ---------------------------------------------------------------------------


class ConvReluIntermediateReturned(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y = self.conv(x)
        return self.relu(y), y


class ConvReluIntermediateToConv(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.conv2 = nn.Conv2d(4, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return self.conv2(y) + F.relu(y)


class AddReluIntermediateReused(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3)
        self.conv2 = nn.Conv2d(3, 4, 3)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.conv1(x) + self.conv2(x)
        return torch.cat([self.relu(s), s], 1)


class LinearReluIntermediateReused(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)
        self.fc2 = nn.Linear(8, 8)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.fc(x)
        return self.fc2(y) + self.relu(y)


class BnReluIntermediateReused(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y = self.bn(self.conv(x))
        return self.relu(y), torch.sigmoid(y)


# ---------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------


CASES: tuple[Case, ...] = (
    # --- delay conv/linear + relu ---
    Case(
        "conv_relu_module_static",
        _build(ConvReluModule),
        STATIC,
        IMG,
        tags=_tags("conv", "delay_conv_relu"),
        convertible=True,
    ),
    Case(
        "conv_functional_relu_static",
        _build(ConvFunctionalRelu),
        STATIC,
        IMG,
        tags=_tags("conv", "delay_conv_relu"),
        convertible=True,
    ),
    Case(
        "conv_functional_relu_inplace_static",
        _build(ConvFunctionalReluInplace),
        STATIC,
        IMG,
        tags=_tags("conv", "delay_conv_relu"),
        convertible=True,
    ),
    Case(
        "conv_torch_relu_static",
        _build(ConvTorchRelu),
        STATIC,
        IMG,
        tags=_tags("conv", "pass_through"),
        convertible=True,
    ),
    Case(
        "linear_relu_module_static",
        _build(LinearReluModule),
        STATIC,
        VEC,
        tags=_tags("linear", "delay_linear_relu"),
        convertible=True,
    ),
    Case(
        "linear_functional_relu_static",
        _build(LinearFunctionalRelu),
        STATIC,
        VEC,
        tags=_tags("linear", "delay_linear_relu"),
        convertible=True,
    ),
    Case(
        "linear_relu_module_dynamic",
        _build(LinearReluModule),
        DYNAMIC,
        VEC,
        quant_type="dynamic",
        tags=_tags("linear", "delay_linear_relu", "dynamic"),
        convertible=True,
    ),
    # --- delay add/mul + relu ---
    Case(
        "add_relu_module_static",
        _build(AddReluModule),
        STATIC,
        IMG,
        tags=_tags("conv", "delay_add_relu", "propagate_add_mul", "graph_input_used_twice"),
        convertible=True,
    ),
    Case(
        "inplace_add_functional_relu_static",
        _build(InplaceAddFunctionalRelu),
        STATIC,
        IMG,
        tags=_tags("conv", "delay_add_relu", "propagate_add_mul"),
        convertible=True,
    ),
    Case(
        "torch_add_torch_relu_static",
        _build(TorchAddTorchRelu),
        STATIC,
        IMG,
        tags=_tags("conv", "propagate_add_mul", "pass_through"),
        convertible=True,
    ),
    Case(
        "mul_relu_module_static",
        _build(MulReluModule),
        STATIC,
        IMG,
        tags=_tags("conv", "delay_mul_relu", "propagate_add_mul"),
        convertible=True,
    ),
    Case(
        "inplace_mul_functional_relu_static",
        _build(InplaceMulFunctionalRelu),
        STATIC,
        IMG,
        tags=_tags("conv", "delay_mul_relu", "propagate_add_mul"),
        convertible=True,
    ),
    Case(
        "torch_mul_inplace_relu_static",
        _build(TorchMulInplaceRelu),
        STATIC,
        IMG,
        tags=_tags("conv", "delay_mul_relu", "propagate_add_mul"),
        convertible=True,
    ),
    # --- bn ---
    Case("conv_bn_static", _build(ConvBn), STATIC, IMG, tags=_tags("conv", "bn"), convertible=True),
    Case(
        "bn_relu_module_static",
        _build(BnReluModule),
        STATIC,
        IMG,
        tags=_tags("bn", "delay_bn_relu"),
        convertible=True,
    ),
    Case(
        "conv_bn_functional_relu_static",
        _build(ConvBnFunctionalRelu),
        STATIC,
        IMG,
        tags=_tags("conv", "bn", "delay_bn_relu"),
        convertible=True,
    ),
    Case(
        "conv3d_bn3d_relu_static",
        _build(Bn3dRelu),
        STATIC,
        _randn((1, 3, 5, 5, 5)),
        tags=_tags("conv", "bn", "delay_bn_relu", "conv1d_conv3d"),
        convertible=True,
    ),
    Case(
        "linear_bn1d_relu_static",
        _build(Bn1dRelu),
        STATIC,
        _randn((4, 8)),
        tags=_tags("linear", "bn", "delay_bn_relu"),
        convertible=True,
    ),
    Case(
        "conv_bn_dynamic",
        _build(ConvBn),
        DYNAMIC,
        IMG,
        quant_type="dynamic",
        tags=_tags("conv", "bn", "dynamic"),
        convertible=True,
    ),
    # --- fusion pattern blocked by another use ---
    Case(
        "conv_relu_intermediate_returned_static",
        _build(ConvReluIntermediateReturned),
        STATIC,
        IMG,
        tags=_tags("conv", "delay_blocked_by_other_use", "multiple_outputs", "tuple_list"),
        convertible=True,
    ),
    Case(
        "conv_relu_intermediate_to_conv_static",
        _build(ConvReluIntermediateToConv),
        STATIC,
        IMG,
        tags=_tags("conv", "delay_blocked_by_other_use", "propagate_add_mul"),
        convertible=True,
    ),
    Case(
        "add_relu_intermediate_reused_static",
        _build(AddReluIntermediateReused),
        STATIC,
        IMG,
        tags=_tags("conv", "delay_blocked_by_other_use", "propagate_cat"),
        convertible=True,
    ),
    Case(
        "linear_relu_intermediate_reused_static",
        _build(LinearReluIntermediateReused),
        STATIC,
        VEC,
        tags=_tags("linear", "delay_blocked_by_other_use"),
        convertible=True,
    ),
    Case(
        "bn_relu_intermediate_reused_static",
        _build(BnReluIntermediateReused),
        STATIC,
        IMG,
        tags=_tags("bn", "delay_blocked_by_other_use", "fixed_qparams", "multiple_outputs"),
        convertible=True,
    ),
)
