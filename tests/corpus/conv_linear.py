"""Conv and linear: weights observed, activations observed around the op.

Modules, functional calls and the decomposed linears ``FuseLinear`` turns into
``aten::linear``; biases (never observed), weights used twice, conv1d / conv3d and
transposed convs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .builders import (
    DYNAMIC,
    DYNAMIC_FP16,
    DYNAMIC_PER_CHANNEL,
    FBGEMM,
    IMG,
    SEQ,
    STATIC,
    VEC,
    _build,
    _randn,
    _tags,
)
from .case_record import Case

# ---------------------------------------------------------------------------
# Basic conv / linear: weights observed, activations observed around the op
# ---------------------------------------------------------------------------


class ConvOnly(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class ConvNoBiasChain(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(4, 4, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.conv1(x))


class FunctionalConv(nn.Module):
    """``F.conv2d`` in forward: aten::conv2d directly in the top graph."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(4, 3, 3, 3))
        self.bias = nn.Parameter(torch.randn(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight, self.bias, padding=1)


class LinearOnly(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x)


class TwoLinears(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(8, 16)
        self.fc2 = nn.Linear(16, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.fc1(x))


class ConvThenLinear(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(4 * 6 * 6, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.conv(x), 1))


# ---------------------------------------------------------------------------
# Functional / decomposed linear (FuseLinear turns addmm & matmul+add into aten::linear)
# ---------------------------------------------------------------------------


class FunctionalLinear(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(6, 8))
        self.bias = nn.Parameter(torch.randn(6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight, self.bias)


class FunctionalLinearNoBias(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(6, 8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight)


class FunctionalLinearRelu(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(6, 8))
        self.bias = nn.Parameter(torch.randn(6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(F.linear(x, self.weight, self.bias))


class AddmmLinear(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(6, 8))
        self.bias = nn.Parameter(torch.randn(6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.addmm(self.bias, x, self.weight.t())


class MatmulAddLinear(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(6, 8))
        self.bias = nn.Parameter(torch.randn(6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.matmul(x, self.weight.t()) + self.bias


class MatmulInplaceAddLinear(nn.Module):
    """``matmul(x, w.t())`` then in-place ``add_``: the ``matmul_add`` delay pattern."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(6, 8))
        self.bias = nn.Parameter(torch.randn(6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.matmul(x, self.weight.t())
        y.add_(self.bias)
        return y


class MatmulNoBiasLinear(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(6, 8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.matmul(self.weight.t())


class MatmulTwoActivations(nn.Module):
    """aten::matmul of two activations (attention scores): both inputs are activations."""

    def __init__(self) -> None:
        super().__init__()
        self.q = nn.Linear(8, 8)
        self.k = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.matmul(self.q(x), self.k(x).transpose(-2, -1))


class MatmulInputsOnly(nn.Module):
    """aten::matmul / bmm of two graph inputs: not quantizable, nothing is observed."""

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.matmul(a, b) + torch.bmm(a, b)


# ---------------------------------------------------------------------------
# Bias handling: biases are never observed, even if also used elsewhere
# ---------------------------------------------------------------------------


class BiasAlsoAdded(nn.Module):
    """The bias value feeds F.linear *and* an add: isBiasOfConvOrLinear wins."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(6, 8))
        self.bias = nn.Parameter(torch.randn(6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = self.bias
        return F.linear(x, self.weight, b) + b


class BiasFromActivation(nn.Module):
    """The bias of F.linear is computed from the input (an activation)."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(6, 8))
        self.bias_proj = nn.Linear(8, 6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = self.bias_proj(x).mean(0)
        return F.linear(x, self.weight, b)


# ---------------------------------------------------------------------------
# Weight reuse: one parameter used by two linear calls, one submodule called twice
# ---------------------------------------------------------------------------


class SharedWeightFunctional(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(8, 8))
        self.bias = nn.Parameter(torch.randn(8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight
        return F.linear(F.linear(x, w, self.bias), w, self.bias)


class SubmoduleCalledTwice(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.fc(x))


class ConvCalledTwiceRelu(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv(self.relu(self.conv(x))))


# ---------------------------------------------------------------------------
# conv1d / conv3d / conv_transpose
# ---------------------------------------------------------------------------


class Conv1dRelu(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(3, 4, 3)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv(x))


class Conv3dFunctionalRelu(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv3d(3, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv(x))


class Conv3dReluModule(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv3d(3, 4, 3)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv(x))


class ConvTranspose2dNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.deconv = nn.ConvTranspose2d(4, 3, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.deconv(self.conv(x))


class ConvTranspose1dOnly(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.deconv = nn.ConvTranspose1d(3, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.deconv(x)


class ConvTransposeRelu(nn.Module):
    """No delay pattern exists for conv_transpose + relu."""

    def __init__(self) -> None:
        super().__init__()
        self.deconv = nn.ConvTranspose2d(3, 4, 3)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.deconv(x))


# ---------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------


CASES: tuple[Case, ...] = (
    # --- basic conv / linear ---
    Case("conv2d_static", _build(ConvOnly), STATIC, IMG, tags=_tags("conv"), convertible=True),
    Case(
        "conv2d_no_bias_chain_static",
        _build(ConvNoBiasChain),
        STATIC,
        IMG,
        tags=_tags("conv", "bias"),
        convertible=True,
    ),
    Case(
        "conv2d_functional_static",
        _build(FunctionalConv),
        STATIC,
        IMG,
        tags=_tags("conv"),
        convertible=True,
    ),
    Case(
        "conv2d_dynamic_not_observed",
        _build(ConvOnly),
        DYNAMIC,
        IMG,
        quant_type="dynamic",
        tags=_tags("conv", "dynamic"),
        convertible=True,
    ),
    Case("linear_static", _build(LinearOnly), STATIC, VEC, tags=_tags("linear"), convertible=True),
    Case(
        "linear_dynamic",
        _build(LinearOnly),
        DYNAMIC,
        VEC,
        quant_type="dynamic",
        tags=_tags("linear", "dynamic"),
        convertible=True,
    ),
    Case(
        "two_linears_dynamic_per_channel",
        _build(TwoLinears),
        DYNAMIC_PER_CHANNEL,
        VEC,
        quant_type="dynamic",
        tags=_tags("linear", "dynamic", "per_channel"),
        convertible=True,
    ),
    Case(
        "two_linears_dynamic_fp16",
        _build(TwoLinears),
        DYNAMIC_FP16,
        VEC,
        quant_type="dynamic",
        tags=_tags("linear", "dynamic", "dynamic_fp16"),
        convertible=True,
    ),
    Case(
        "conv_then_linear_static",
        _build(ConvThenLinear),
        STATIC,
        IMG,
        tags=_tags("conv", "linear", "pass_through"),
        convertible=True,
    ),
    Case(
        "conv_then_linear_dynamic",
        _build(ConvThenLinear),
        DYNAMIC,
        IMG,
        quant_type="dynamic",
        tags=_tags("conv", "linear", "dynamic"),
        convertible=True,
    ),
    # --- functional / decomposed linear ---
    Case(
        "functional_linear_static",
        _build(FunctionalLinear),
        STATIC,
        VEC,
        tags=_tags("functional_linear", "bias"),
        convertible=True,
    ),
    Case(
        "functional_linear_dynamic",
        _build(FunctionalLinear),
        DYNAMIC,
        VEC,
        quant_type="dynamic",
        tags=_tags("functional_linear", "dynamic", "bias"),
        convertible=True,
    ),
    Case(
        "functional_linear_no_bias_static",
        _build(FunctionalLinearNoBias),
        STATIC,
        VEC,
        tags=_tags("functional_linear", "bias"),
        convertible=True,
    ),
    Case(
        "functional_linear_relu_static",
        _build(FunctionalLinearRelu),
        STATIC,
        VEC,
        tags=_tags("functional_linear", "delay_linear_relu"),
        convertible=True,
    ),
    Case(
        "functional_linear_dynamic_fp16",
        _build(FunctionalLinear),
        DYNAMIC_FP16,
        VEC,
        quant_type="dynamic",
        tags=_tags("functional_linear", "dynamic", "dynamic_fp16"),
        convertible=True,
    ),
    Case(
        "addmm_linear_static",
        _build(AddmmLinear),
        STATIC,
        VEC,
        tags=_tags("matmul_linear", "bias"),
        convertible=True,
    ),
    Case(
        "addmm_linear_dynamic",
        _build(AddmmLinear),
        DYNAMIC,
        VEC,
        quant_type="dynamic",
        tags=_tags("matmul_linear", "dynamic"),
        convertible=True,
    ),
    Case(
        "matmul_add_linear_static",
        _build(MatmulAddLinear),
        STATIC,
        SEQ,
        tags=_tags("matmul_linear", "bias"),
        convertible=True,
    ),
    Case(
        "matmul_inplace_add_linear_static",
        _build(MatmulInplaceAddLinear),
        STATIC,
        SEQ,
        tags=_tags("matmul_linear", "bias"),
        convertible=True,
    ),
    Case(
        "matmul_no_bias_linear_static",
        _build(MatmulNoBiasLinear),
        STATIC,
        VEC,
        tags=_tags("matmul_linear"),
        convertible=True,
    ),
    Case(
        "matmul_add_linear_dynamic",
        _build(MatmulAddLinear),
        DYNAMIC,
        SEQ,
        quant_type="dynamic",
        tags=_tags("matmul_linear", "dynamic"),
        convertible=True,
    ),
    Case(
        "matmul_two_activations_static",
        _build(MatmulTwoActivations),
        STATIC,
        SEQ,
        tags=_tags("linear", "pass_through", "graph_input_used_twice"),
        convertible=True,
    ),
    Case(
        "matmul_inputs_only_static",
        _build(MatmulInputsOnly),
        STATIC,
        _randn((2, 4, 4), (2, 4, 4)),
        tags=_tags("matmul_linear"),
        convertible=True,
    ),
    # --- bias ---
    Case(
        "bias_also_added_static",
        _build(BiasAlsoAdded),
        STATIC,
        VEC,
        tags=_tags("functional_linear", "bias", "propagate_add_mul"),
        convertible=True,
    ),
    Case(
        "bias_from_activation_static",
        _build(BiasFromActivation),
        STATIC,
        VEC,
        tags=_tags("functional_linear", "bias", "general_value", "graph_input_used_twice"),
        convertible=True,
    ),
    # --- weight reuse ---
    Case(
        "shared_weight_functional_static",
        _build(SharedWeightFunctional),
        STATIC,
        VEC,
        tags=_tags("functional_linear", "weights_reused"),
        convertible=True,
    ),
    Case(
        "shared_weight_functional_dynamic",
        _build(SharedWeightFunctional),
        DYNAMIC,
        VEC,
        quant_type="dynamic",
        tags=_tags("functional_linear", "weights_reused", "dynamic"),
        convertible=True,
    ),
    Case(
        "submodule_called_twice_static",
        _build(SubmoduleCalledTwice),
        STATIC,
        VEC,
        tags=_tags("linear", "weights_reused", "submodule_calls"),
        convertible=True,
    ),
    Case(
        "submodule_called_twice_dynamic",
        _build(SubmoduleCalledTwice),
        DYNAMIC,
        VEC,
        quant_type="dynamic",
        tags=_tags("linear", "weights_reused", "dynamic"),
        convertible=True,
    ),
    Case(
        "conv_relu_called_twice_static",
        _build(ConvCalledTwiceRelu),
        STATIC,
        IMG,
        tags=_tags("conv", "weights_reused", "delay_conv_relu"),
        convertible=True,
    ),
    # --- conv1d / conv3d / transpose ---
    Case(
        "conv1d_relu_static",
        _build(Conv1dRelu),
        STATIC,
        _randn((1, 3, 10)),
        tags=_tags("conv", "conv1d_conv3d", "delay_conv_relu"),
        convertible=True,
    ),
    Case(
        "conv3d_functional_relu_static",
        _build(Conv3dFunctionalRelu),
        STATIC,
        _randn((1, 3, 5, 5, 5)),
        tags=_tags("conv", "conv1d_conv3d", "delay_conv_relu"),
        convertible=True,
    ),
    Case(
        "conv3d_relu_module_per_channel",
        _build(Conv3dReluModule),
        FBGEMM,
        _randn((1, 3, 5, 5, 5)),
        tags=_tags("conv", "conv1d_conv3d", "delay_conv_relu", "per_channel"),
        convertible=True,
    ),
    Case(
        "conv_transpose2d_static",
        _build(ConvTranspose2dNet),
        STATIC,
        IMG,
        tags=_tags("conv", "conv_transpose"),
        convertible=True,
    ),
    Case(
        "conv_transpose1d_static",
        _build(ConvTranspose1dOnly),
        STATIC,
        _randn((1, 3, 10)),
        tags=_tags("conv_transpose"),
        convertible=True,
    ),
    Case(
        "conv_transpose_relu_static",
        _build(ConvTransposeRelu),
        STATIC,
        IMG,
        tags=_tags("conv_transpose", "pass_through"),
        convertible=True,
    ),
    Case(
        "conv_transpose_relu_dynamic",
        _build(ConvTransposeRelu),
        DYNAMIC,
        IMG,
        quant_type="dynamic",
        tags=_tags("conv_transpose", "dynamic"),
        convertible=True,
    ),
)
