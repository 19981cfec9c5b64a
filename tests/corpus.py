"""Differential test corpus for the ``InsertObservers`` re-implementation.

Every :class:`Case` is a small eager model plus the qconfig dict, inputs and quantization
type a user would hand to ``prepare_jit`` / ``prepare_dynamic_jit``.  The recorded
behaviour (``real_raises``, ``convertible``) was verified against the real C++ pass
(``torch._C._jit_pass_insert_observers``) of the installed torch; see
``tests/test_corpus_real.py``.

Models are module-level classes because TorchScript needs their source.  They are
grouped by the rule family of the pass they exercise.  Cases are tagged with rule
families from :data:`TAGS`.  :func:`count_observer_calls` counts the observer calls the
real pass inserted (once per distinct module-type graph).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.ao.nn.quantized import FloatFunctional
from torch.ao.quantization import (
    QConfig,
    default_dynamic_qconfig,
    default_qconfig,
    float16_dynamic_qconfig,
    float_qparams_weight_only_qconfig,
    get_default_qconfig,
    per_channel_dynamic_qconfig,
)
from torch.ao.quantization.quantize_jit import script_qconfig_dict
from torch.jit._recursive import wrap_cpp_module

from . import corpus_fold as cf
from . import corpus_qualified as cq
from . import corpus_twins

QUANT_TYPES: dict[str, int] = {"dynamic": 0, "static": 1}

TAGS: frozenset[str] = frozenset(
    {
        "conv",
        "linear",
        "functional_linear",
        "matmul_linear",
        "bn",
        "delay_conv_relu",
        "delay_linear_relu",
        "delay_add_relu",
        "delay_mul_relu",
        "delay_bn_relu",
        "delay_blocked_by_other_use",
        "pass_through",
        "general_value",
        "fixed_qparams",
        "propagate_cat",
        "propagate_add_mul",
        "hardswish",
        "norms",
        "embedding_bag",
        "bias",
        "weights_reused",
        "submodule_calls",
        "nested_submodules",
        "shared_type_same_qconfig",
        "shared_type_diff_qconfig",
        "shared_type_split_below",
        "nested_qconfig_keys",
        "qconfig_none",
        "if",
        "nested_if",
        "if_raises",
        "if_inconsistent",
        "function_call",
        "function_needs_observer",
        "tuple_list",
        "fork_wait",
        "loop",
        "dynamic",
        "dynamic_fp16",
        "per_channel",
        "multiple_outputs",
        "graph_input_used_twice",
        "method_other_than_forward",
        "conv1d_conv3d",
        "conv_transpose",
        "realistic",
        "qconfig_keys_conflict",
        "torchscript_object",
        "type_names",
        "function_names",
        "fold_constants",
    }
)


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[], nn.Module]
    qconfig_dict: Callable[[], dict[str, QConfig | None]]
    example_inputs: Callable[[], tuple[Any, ...]]
    quant_type: str = "static"
    method_name: str = "forward"
    real_raises: str | None = None
    tags: frozenset[str] = frozenset()
    convertible: bool = False


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
# EmbeddingBag (weight-only static quantization)
# ---------------------------------------------------------------------------


class EmbeddingBagModule(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.EmbeddingBag(20, 8, mode="sum")

    def forward(self, indices: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        return self.emb(indices, offsets)


class FunctionalEmbeddingBag(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(20, 8))

    def forward(self, indices: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        return F.embedding_bag(indices, self.weight, offsets, mode="sum")


class EmbeddingBagThenLinear(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.EmbeddingBag(20, 8, mode="mean")
        self.fc = nn.Linear(8, 4)

    def forward(self, indices: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        return self.fc(self.emb(indices, offsets))


# ---------------------------------------------------------------------------
# Submodule calls, nesting, shared ClassTypes
# ---------------------------------------------------------------------------


class TwoBlocks(nn.Module):
    """Two instances of the same class: their ClassType is shared."""

    def __init__(self) -> None:
        super().__init__()
        self.b0 = ConvBlock()
        self.b1 = ConvBlock()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b1(self.b0(x))


class Middle(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.block = ConvBlock()
        self.fc = nn.Linear(3, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.block(x)
        return self.fc(y.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class Outer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 3, 1)
        self.middle = Middle()
        self.head = nn.Conv2d(3, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.middle(self.stem(x)))


class SequentialLayers(nn.Module):
    """nn.Sequential of distinct-typed blocks: keys like ``layer1.0.conv``."""

    def __init__(self) -> None:
        super().__init__()
        self.layer1 = nn.Sequential(ConvBlock(3), nn.Sequential(nn.Conv2d(3, 4, 1), nn.ReLU()))
        self.layer2 = nn.Sequential(ConvBlock(4), nn.Conv2d(4, 2, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer2(self.layer1(x))


class SharedBlocksNested(nn.Module):
    """Shared-type blocks each holding a submodule: ``b0.conv`` is one level below."""

    def __init__(self) -> None:
        super().__init__()
        self.b0 = ConvBlock()
        self.b1 = ConvBlock()
        self.fc = nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.b1(self.b0(x))
        return self.fc(y.mean([2, 3]))


class SubmoduleReturnsTuple(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.split = TupleProducer()
        self.conv = nn.Conv2d(4, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.split(x)
        return self.conv(a) + b


class TupleProducer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3)
        self.conv2 = nn.Conv2d(3, 4, 3)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.conv1(x), self.conv2(x)


class SubmoduleWithShapeOps(nn.Module):
    """Submodule that only does shape ops: observed property crosses call boundaries."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.flat = nn.Flatten()
        self.fc = nn.Linear(4 * 6 * 6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.flat(self.conv(x)))


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
    observed property through, ``corpus_twins``' does not) must not be mixed up."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return twin_helper(y) + corpus_twins.twin_helper(y)


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
# Tuples / lists (TupleConstruct, ListConstruct, ListUnpack, append + cat)
# ---------------------------------------------------------------------------


class ListAppendCat(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 2, 3)
        self.conv2 = nn.Conv2d(3, 2, 3)
        self.conv3 = nn.Conv2d(4, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats: list[torch.Tensor] = []
        feats.append(self.conv1(x))
        feats.append(self.conv2(x))
        return self.conv3(torch.cat(feats, 1))


class TupleRoundTrip(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3)
        self.conv2 = nn.Conv2d(3, 4, 3)
        self.conv3 = nn.Conv2d(4, 4, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pair = (self.conv1(x), self.conv2(x))
        a, b = pair
        items = [a, b]
        c, d = items
        return self.conv3(c), d


class TupleInputModule(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(8, 4)
        self.fc2 = nn.Linear(8, 4)

    def forward(self, x: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        a, b = x
        return torch.cat([self.fc1(a), self.fc2(b)], 1)


# Found by tests/test_fuzz.py: RemoveListMutation folds appends to lists that already hold
# tensors, moves the ListConstruct down to the append (past functional ops), and folds
# ``insert`` at a constant index too.


class ListAppendSameValueTwice(nn.Module):
    """Found by fuzzing: the second append is folded although the list now holds a tensor."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(6, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(x)
        feats: list[torch.Tensor] = []
        feats.append(y)
        feats.append(y)
        return self.conv(torch.cat(feats, 1))


class ListConstructMovesPastConv(nn.Module):
    """Found by fuzzing: folding moves the ListConstruct down past a functional conv."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(3, 3, 1, 1))
        self.conv = nn.Conv2d(6, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = torch.relu(x)
        feats = [a]
        b = F.conv2d(x, self.weight)
        feats.append(b)
        return self.conv(torch.cat(feats, 1))


class ListInsertCat(nn.Module):
    """``insert`` at a constant index is folded into the ListConstruct as well."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 3, 1)
        self.conv2 = nn.Conv2d(6, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [self.conv1(x)]
        feats.insert(0, torch.relu(x))
        return self.conv2(torch.cat(feats, 1))


# ---------------------------------------------------------------------------
# fork / wait
# ---------------------------------------------------------------------------


class ForkWait(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.branch = ConvBlock()
        self.conv = nn.Conv2d(3, 3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fut = torch.jit.fork(self.branch, x)
        y = self.conv(x)
        return y + torch.jit.wait(fut)


class ForkWaitMlp(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.branch = MlpBlock()
        self.fc = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fut = torch.jit.fork(self.branch, x)
        return self.fc(x) * torch.jit.wait(fut)


def fork_target(x: torch.Tensor) -> torch.Tensor:
    return torch.flatten(x, 1) * 2.0


class ForkFunctionWait(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fut = torch.jit.fork(fork_target, x)
        return self.fc(torch.jit.wait(fut))


# ---------------------------------------------------------------------------
# Multiple outputs, graph input used twice, other exported methods
# ---------------------------------------------------------------------------


class MultipleOutputs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        y = self.conv(x)
        pooled = y.mean([2, 3])
        return y, self.fc(pooled), pooled


class InputUsedTwice(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3)
        self.conv2 = nn.Conv2d(3, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv1(x) + self.conv2(x) + x.mean()


class InputToLinearAndAdd(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x) + x


class ExportedEncode(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)

    @torch.jit.export
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.fc(self.conv(x).mean([2, 3])))


class ExportedHelperCalledFromForward(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(8, 8)
        self.fc2 = nn.Linear(8, 4)

    @torch.jit.export
    def features(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.fc1(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.features(x))


# ---------------------------------------------------------------------------
# Dynamic-quantization-flavoured models
# ---------------------------------------------------------------------------


class LstmThenLinear(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(8, 8, batch_first=True)
        self.fc = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)
        return self.fc(out)


class MlpBlock(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(8, 16)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(16, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class TwoMlps(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.m0 = MlpBlock()
        self.m1 = MlpBlock()
        self.head = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.m1(self.m0(x)))


# ---------------------------------------------------------------------------
# Qconfig keys and TorchScript objects the pass refuses (quoted by the diagnosis)
# ---------------------------------------------------------------------------


class SharedInputPair(nn.Module):
    """One input feeds two convs; given qconfigs under two keys, the pass finds two
    observer modules for that input."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 4, 1)
        self.b = nn.Conv2d(3, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.a(x) + self.b(x)


@torch.jit.script
class Offset:
    def __init__(self, value: float) -> None:
        self.value = value

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.value


class OffsetArgument(nn.Module):
    """A method that takes a TorchScript object, held by the module, as an argument."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.offset = Offset(0.5)

    @torch.jit.export
    def shifted(self, offset: Offset, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) + offset.value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shifted(self.offset, x)


class OffsetAttribute(nn.Module):
    """The same object read as an attribute of self: the pass skips what is no module."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.offset = Offset(0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.offset.apply(self.conv(x))


class OffsetCreated(nn.Module):
    """A TorchScript object created in the method: its calls cannot be traced to self."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return Offset(0.5).apply(self.conv(x))


# ---------------------------------------------------------------------------
# Case table
# ---------------------------------------------------------------------------


def _randn(*shapes: tuple[int, ...]) -> Callable[[], tuple[torch.Tensor, ...]]:
    """Deterministic float inputs, one tensor per shape."""

    def make() -> tuple[torch.Tensor, ...]:
        gen = torch.Generator().manual_seed(0)
        return tuple(torch.randn(*shape, generator=gen) for shape in shapes)

    return make


def _with_extra(
    make: Callable[[], tuple[torch.Tensor, ...]], *extra: Any
) -> Callable[[], tuple[Any, ...]]:
    def full() -> tuple[Any, ...]:
        return (*make(), *extra)

    return full


def _bag_inputs() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    indices = torch.randint(0, 20, (12,), generator=gen)
    offsets = torch.tensor([0, 3, 7, 9])
    return indices, offsets


def _tuple_input() -> tuple[tuple[torch.Tensor, torch.Tensor]]:
    gen = torch.Generator().manual_seed(0)
    return ((torch.randn(2, 8, generator=gen), torch.randn(2, 8, generator=gen)),)


def _qd(mapping: dict[str, QConfig | None]) -> Callable[[], dict[str, QConfig | None]]:
    def make() -> dict[str, QConfig | None]:
        return dict(mapping)

    return make


def _build(cls: Callable[..., nn.Module], *args: Any) -> Callable[[], nn.Module]:
    def make() -> nn.Module:
        return cls(*args).eval()

    return make


def _sample_build(name: str) -> Callable[[], nn.Module]:
    def make() -> nn.Module:
        from obsviz import samples

        return samples.SAMPLES[name].build().eval()

    return make


def _sample_inputs(name: str) -> Callable[[], tuple[Any, ...]]:
    def make() -> tuple[Any, ...]:
        from obsviz import samples

        return tuple(samples.SAMPLES[name].example_inputs())

    return make


def _folded(cls: Callable[..., nn.Module], attributes: tuple[str, ...] = ("training",)
            ) -> Callable[[], nn.Module]:
    """The scripted model after ``obsviz.fold_constant_branches`` (the fold the diagnosis
    offers): the two passes are compared on what the fold gives."""

    def make() -> nn.Module:
        from obsviz import fold_constant_branches

        return fold_constant_branches(torch.jit.script(cls().eval()), attributes)

    return make


def _tags(*names: str) -> frozenset[str]:
    unknown = set(names) - TAGS
    if unknown:
        raise ValueError(f"unknown tags: {sorted(unknown)}")
    return frozenset(names)


def _conv2d_3_4() -> nn.Module:
    return nn.Conv2d(3, 4, 3)


def _naive_sync_bn() -> nn.Module:
    return cq.NaiveSyncBatchNorm(3)


STATIC = _qd({"": default_qconfig})
FBGEMM = _qd({"": get_default_qconfig("fbgemm")})
QNNPACK = _qd({"": get_default_qconfig("qnnpack")})
DYNAMIC = _qd({"": default_dynamic_qconfig})
DYNAMIC_PER_CHANNEL = _qd({"": per_channel_dynamic_qconfig})
DYNAMIC_FP16 = _qd({"": float16_dynamic_qconfig})
WEIGHT_ONLY = _qd({"": float_qparams_weight_only_qconfig})

IMG = _randn((1, 3, 8, 8))
IMG2 = _randn((1, 3, 8, 8), (1, 3, 6, 6))
IMG_PAIR = _randn((1, 3, 8, 8), (1, 3, 8, 8))
VEC = _randn((2, 8))
SEQ = _randn((2, 5, 8))

IF_INCONSISTENT_MSG = "branches for `if` should return values that are observed consistently"
LOOP_SHARED_TYPE_MSG = "Missing cases in 'toPyObject'"
SPLIT_BELOW_MSG = "is not compatible with the type"
ONE_OBSERVER_MSG = "Expecting all values in the graph only configured with one observer"
OBJECT_ARGUMENT_MSG = "We don't support quantizing methods that has Object as arguments"
MODULE_ACCESS_MSG = "Can't handle the access pattern of GetAttr"


def _fold_pair(name: str, cls: Callable[..., nn.Module],
               inputs: Callable[[], tuple[Any, ...]], quant_type: str,
               attributes: tuple[str, ...] = ("training",), folded_raises: bool = False
               ) -> tuple[Case, Case]:
    """A model the pass fails on an ``if`` of, and the same model after the fold its
    diagnosis offers (``attributes``): ``fold_<name>_<quant type>[_folded]``."""
    qconfig_dict = DYNAMIC if quant_type == "dynamic" else STATIC
    tags = _tags("fold_constants", "if_inconsistent",
                 *(("dynamic",) if quant_type == "dynamic" else ()))
    return (
        Case(f"fold_{name}_{quant_type}", _build(cls), qconfig_dict, inputs,
             quant_type=quant_type, real_raises=IF_INCONSISTENT_MSG, tags=tags),
        Case(f"fold_{name}_{quant_type}_folded", _folded(cls, attributes), qconfig_dict,
             inputs, quant_type=quant_type,
             real_raises=IF_INCONSISTENT_MSG if folded_raises else None, tags=tags),
    )

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
    # --- embedding bag ---
    Case(
        "embedding_bag_weight_only",
        _build(EmbeddingBagModule),
        WEIGHT_ONLY,
        _bag_inputs,
        tags=_tags("embedding_bag"),
    ),
    Case(
        "functional_embedding_bag_weight_only",
        _build(FunctionalEmbeddingBag),
        WEIGHT_ONLY,
        _bag_inputs,
        tags=_tags("embedding_bag"),
    ),
    Case(
        "embedding_bag_then_linear_mixed",
        _build(EmbeddingBagThenLinear),
        _qd({"": default_qconfig, "emb": float_qparams_weight_only_qconfig}),
        _bag_inputs,
        tags=_tags("embedding_bag", "linear", "nested_qconfig_keys"),
    ),
    Case(
        "embedding_bag_default_qconfig",
        _build(EmbeddingBagModule),
        STATIC,
        _bag_inputs,
        tags=_tags("embedding_bag"),
    ),
    # --- submodules / shared types ---
    Case(
        "two_blocks_same_qconfig_static",
        _build(TwoBlocks),
        STATIC,
        IMG,
        tags=_tags("submodule_calls", "shared_type_same_qconfig", "delay_conv_relu"),
        convertible=True,
    ),
    Case(
        "two_blocks_diff_qconfig_static",
        _build(TwoBlocks),
        _qd({"": default_qconfig, "b1": None}),
        IMG,
        tags=_tags("submodule_calls", "shared_type_diff_qconfig", "qconfig_none"),
        convertible=True,
    ),
    Case(
        "two_blocks_diff_qconfig_per_channel",
        _build(TwoBlocks),
        _qd({"": default_qconfig, "b0": get_default_qconfig("fbgemm")}),
        IMG,
        tags=_tags("submodule_calls", "shared_type_diff_qconfig", "per_channel"),
        convertible=True,
    ),
    Case(
        "shared_blocks_split_below_none",
        _build(SharedBlocksNested),
        _qd({"": default_qconfig, "b0.conv": None}),
        IMG,
        tags=_tags("shared_type_split_below", "qconfig_none", "nested_qconfig_keys"),
        real_raises=SPLIT_BELOW_MSG,
    ),
    Case(
        "shared_blocks_split_below_relu_none",
        _build(SharedBlocksNested),
        _qd({"": default_qconfig, "b1.relu": None}),
        IMG,
        tags=_tags("shared_type_split_below", "qconfig_none", "nested_qconfig_keys"),
        real_raises=SPLIT_BELOW_MSG,
    ),
    Case(
        "shared_blocks_both_below_none",
        _build(SharedBlocksNested),
        _qd({"": default_qconfig, "b0.conv": None, "b1.conv": None}),
        IMG,
        tags=_tags("shared_type_same_qconfig", "qconfig_none", "nested_qconfig_keys"),
        convertible=True,
    ),
    Case(
        "nested_outer_static",
        _build(Outer),
        STATIC,
        IMG,
        tags=_tags("nested_submodules", "submodule_calls", "pass_through"),
        convertible=True,
    ),
    Case(
        "nested_outer_inner_none",
        _build(Outer),
        _qd({"": default_qconfig, "middle.block.conv": None}),
        IMG,
        tags=_tags("nested_submodules", "nested_qconfig_keys", "qconfig_none"),
        convertible=True,
    ),
    Case(
        "nested_outer_only_inner",
        _build(Outer),
        _qd({"": None, "middle.fc": default_qconfig}),
        IMG,
        tags=_tags("nested_submodules", "nested_qconfig_keys", "qconfig_none"),
        convertible=True,
    ),
    Case(
        "nested_outer_dynamic",
        _build(Outer),
        DYNAMIC,
        IMG,
        quant_type="dynamic",
        tags=_tags("nested_submodules", "dynamic"),
        convertible=True,
    ),
    Case(
        "sequential_layers_static",
        _build(SequentialLayers),
        _qd({"": default_qconfig, "layer1.1.0": None}),
        IMG,
        tags=_tags("nested_submodules", "nested_qconfig_keys", "qconfig_none"),
        convertible=True,
    ),
    Case(
        "sequential_layers_per_channel",
        _build(SequentialLayers),
        _qd({"": get_default_qconfig("fbgemm"), "layer2.0.conv": get_default_qconfig("qnnpack")}),
        IMG,
        tags=_tags("nested_submodules", "nested_qconfig_keys", "per_channel"),
        convertible=True,
    ),
    Case(
        "submodule_returns_tuple_static",
        _build(SubmoduleReturnsTuple),
        STATIC,
        IMG,
        tags=_tags("submodule_calls", "tuple_list", "propagate_add_mul"),
        convertible=True,
    ),
    Case(
        "submodule_shape_ops_static",
        _build(SubmoduleWithShapeOps),
        STATIC,
        IMG,
        tags=_tags("submodule_calls", "pass_through"),
        convertible=True,
    ),
    # --- qconfig None ---
    Case(
        "qconfig_none_global",
        _build(ConvPoolFlattenLinear),
        _qd({"": None}),
        IMG,
        tags=_tags("qconfig_none", "conv", "linear"),
        convertible=True,
    ),
    Case(
        "qconfig_empty_dict",
        _build(ConvReluModule),
        _qd({}),
        IMG,
        tags=_tags("qconfig_none", "conv"),
        convertible=True,
    ),
    Case(
        "qconfig_none_for_fc",
        _build(ConvThenLinear),
        _qd({"": default_qconfig, "fc": None}),
        IMG,
        tags=_tags("qconfig_none", "conv", "linear"),
        convertible=True,
    ),
    Case(
        "qconfig_only_fc",
        _build(ConvThenLinear),
        _qd({"": None, "fc": default_qconfig}),
        IMG,
        tags=_tags("qconfig_none", "conv", "linear"),
        convertible=True,
    ),
    Case(
        "qconfig_none_for_fc_dynamic",
        _build(TwoLinears),
        _qd({"": default_dynamic_qconfig, "fc2": None}),
        VEC,
        quant_type="dynamic",
        tags=_tags("qconfig_none", "linear", "dynamic"),
        convertible=True,
    ),
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
    # --- tuples / lists ---
    Case(
        "list_append_cat_static",
        _build(ListAppendCat),
        STATIC,
        IMG,
        tags=_tags("tuple_list", "propagate_cat", "conv"),
        convertible=True,
    ),
    Case(
        "tuple_round_trip_static",
        _build(TupleRoundTrip),
        STATIC,
        IMG,
        tags=_tags("tuple_list", "multiple_outputs", "conv"),
        convertible=True,
    ),
    Case(
        "tuple_input_static",
        _build(TupleInputModule),
        STATIC,
        _tuple_input,
        tags=_tags("tuple_list", "propagate_cat", "linear"),
        convertible=True,
    ),
    Case(
        "list_append_same_value_twice_static",
        _build(ListAppendSameValueTwice),
        STATIC,
        IMG,
        tags=_tags("tuple_list", "propagate_cat", "conv"),
        convertible=True,
    ),
    Case(
        "list_construct_moves_past_conv_static",
        _build(ListConstructMovesPastConv),
        STATIC,
        IMG,
        tags=_tags("tuple_list", "propagate_cat", "conv"),
        convertible=True,
    ),
    Case(
        "list_insert_cat_static",
        _build(ListInsertCat),
        STATIC,
        IMG,
        tags=_tags("tuple_list", "propagate_cat", "conv"),
        convertible=True,
    ),
    # --- fork / wait ---
    Case(
        "fork_wait_module_static",
        _build(ForkWait),
        STATIC,
        IMG,
        tags=_tags("fork_wait", "conv", "propagate_add_mul", "graph_input_used_twice"),
        convertible=True,
    ),
    Case(
        "fork_wait_function_static",
        _build(ForkFunctionWait),
        STATIC,
        _randn((2, 2, 4)),
        tags=_tags("fork_wait", "linear", "function_call"),
        convertible=True,
    ),
    Case(
        "fork_wait_mlp_dynamic",
        _build(ForkWaitMlp),
        DYNAMIC,
        VEC,
        quant_type="dynamic",
        tags=_tags("fork_wait", "dynamic", "linear", "graph_input_used_twice"),
        convertible=True,
    ),
    Case(
        "fork_wait_mlp_static",
        _build(ForkWaitMlp),
        STATIC,
        VEC,
        tags=_tags("fork_wait", "linear", "propagate_add_mul", "delay_linear_relu"),
        convertible=True,
    ),
    # --- multiple outputs / inputs used twice / other methods ---
    Case(
        "multiple_outputs_static",
        _build(MultipleOutputs),
        STATIC,
        IMG,
        tags=_tags("multiple_outputs", "conv", "linear", "general_value"),
        convertible=True,
    ),
    Case(
        "input_used_twice_static",
        _build(InputUsedTwice),
        STATIC,
        IMG,
        tags=_tags("graph_input_used_twice", "conv", "propagate_add_mul"),
        convertible=True,
    ),
    Case(
        "input_to_linear_and_add_static",
        _build(InputToLinearAndAdd),
        STATIC,
        VEC,
        tags=_tags("graph_input_used_twice", "linear", "propagate_add_mul"),
        convertible=True,
    ),
    Case(
        "input_to_linear_and_add_dynamic",
        _build(InputToLinearAndAdd),
        DYNAMIC,
        VEC,
        quant_type="dynamic",
        tags=_tags("graph_input_used_twice", "linear", "dynamic"),
        convertible=True,
    ),
    Case(
        "exported_method_encode_static",
        _build(ExportedEncode),
        STATIC,
        IMG,
        method_name="encode",
        tags=_tags("method_other_than_forward", "conv", "linear", "delay_linear_relu"),
    ),
    Case(
        "exported_method_encode_dynamic",
        _build(ExportedEncode),
        DYNAMIC,
        IMG,
        quant_type="dynamic",
        method_name="encode",
        tags=_tags("method_other_than_forward", "linear", "dynamic"),
    ),
    Case(
        "exported_helper_from_forward_static",
        _build(ExportedHelperCalledFromForward),
        STATIC,
        VEC,
        tags=_tags("submodule_calls", "linear", "delay_linear_relu"),
        convertible=True,
    ),
    Case(
        "exported_helper_as_entry_static",
        _build(ExportedHelperCalledFromForward),
        STATIC,
        VEC,
        method_name="features",
        tags=_tags("method_other_than_forward", "linear", "delay_linear_relu"),
    ),
    # --- dynamic-specific ---
    Case(
        "lstm_then_linear_dynamic",
        _build(LstmThenLinear),
        DYNAMIC,
        SEQ,
        quant_type="dynamic",
        tags=_tags("dynamic", "linear", "tuple_list"),
        convertible=True,
    ),
    Case(
        "two_mlps_dynamic",
        _build(TwoMlps),
        DYNAMIC,
        VEC,
        quant_type="dynamic",
        tags=_tags("dynamic", "shared_type_same_qconfig", "submodule_calls", "delay_linear_relu"),
        convertible=True,
    ),
    Case(
        "two_mlps_dynamic_diff_qconfig",
        _build(TwoMlps),
        _qd({"": default_dynamic_qconfig, "m1": float16_dynamic_qconfig}),
        VEC,
        quant_type="dynamic",
        tags=_tags("dynamic", "dynamic_fp16", "shared_type_diff_qconfig"),
        convertible=True,
    ),
    Case(
        "two_mlps_static_fp16_qconfig",
        _build(TwoMlps),
        DYNAMIC_FP16,
        VEC,
        tags=_tags("dynamic_fp16", "shared_type_same_qconfig"),
    ),
    Case(
        "split_below_child_in_loop_static",
        _build(SplitBelowChildInLoop),
        _qd({"": default_qconfig, "b1.conv": None}),
        _randn((1, 4, 6, 6)),
        tags=_tags("shared_type_split_below", "nested_qconfig_keys", "loop", "qconfig_none"),
        real_raises=SPLIT_BELOW_MSG,
    ),
    Case(
        "two_mlps_dynamic_split_below",
        _build(TwoMlps),
        _qd({"": default_dynamic_qconfig, "m0.fc2": None}),
        VEC,
        quant_type="dynamic",
        tags=_tags("dynamic", "shared_type_split_below", "nested_qconfig_keys"),
        real_raises=SPLIT_BELOW_MSG,
    ),
    # --- per-channel ---
    Case(
        "conv_pool_flatten_linear_fbgemm",
        _build(ConvPoolFlattenLinear),
        FBGEMM,
        IMG,
        tags=_tags("per_channel", "conv", "linear", "pass_through"),
        convertible=True,
    ),
    Case(
        "conv_relu_module_qnnpack",
        _build(ConvReluModule),
        QNNPACK,
        IMG,
        tags=_tags("per_channel", "conv", "delay_conv_relu"),
        convertible=True,
    ),
    # --- realistic ---
    Case(
        "resnet_small_fbgemm",
        _sample_build("resnet_small"),
        FBGEMM,
        _sample_inputs("resnet_small"),
        tags=_tags(
            "realistic",
            "per_channel",
            "conv",
            "bn",
            "delay_bn_relu",
            "delay_add_relu",
            "nested_submodules",
            "if",
        ),
        convertible=True,
    ),
    Case(
        "resnet_small_nested_keys",
        _sample_build("resnet_small"),
        _qd({"": default_qconfig, "layer1.0.conv1": None, "layer2.0.downsample": None}),
        _sample_inputs("resnet_small"),
        tags=_tags("realistic", "nested_qconfig_keys", "qconfig_none"),
        convertible=True,
    ),
    Case(
        "mobilenet_v3_tiny_static",
        _sample_build("mobilenet_v3_tiny"),
        STATIC,
        _sample_inputs("mobilenet_v3_tiny"),
        tags=_tags("realistic", "conv", "hardswish", "fixed_qparams", "general_value"),
        convertible=True,
    ),
    Case(
        "transformer_encoder_dynamic",
        _sample_build("transformer_encoder"),
        DYNAMIC,
        _sample_inputs("transformer_encoder"),
        quant_type="dynamic",
        tags=_tags("realistic", "dynamic", "linear", "norms"),
        convertible=True,
    ),
    Case(
        "transformer_encoder_static",
        _sample_build("transformer_encoder"),
        STATIC,
        _sample_inputs("transformer_encoder"),
        tags=_tags("realistic", "linear", "norms", "pass_through"),
        convertible=True,
    ),
    Case(
        "resnet50_static",
        _sample_build("resnet50"),
        STATIC,
        _sample_inputs("resnet50"),
        tags=_tags("realistic", "conv", "bn", "linear", "shared_type_same_qconfig"),
        convertible=True,
    ),
    # --- qconfig keys and TorchScript objects the pass refuses ---
    Case(
        "shared_input_two_keys_same_qconfig",
        _build(SharedInputPair),
        _qd({"a": default_qconfig, "b": default_qconfig}),
        IMG,
        tags=_tags("qconfig_keys_conflict", "submodule_calls"),
        real_raises=ONE_OBSERVER_MSG,
    ),
    Case(
        "shared_input_two_keys_with_parent",
        _build(SharedInputPair),
        _qd({"": default_qconfig, "a": default_qconfig, "b": default_qconfig}),
        IMG,
        tags=_tags("qconfig_keys_conflict", "nested_qconfig_keys"),
        real_raises=ONE_OBSERVER_MSG,
    ),
    Case(
        "shared_input_two_keys_different_qconfigs",
        _build(SharedInputPair),
        _qd({"a": default_qconfig, "b": get_default_qconfig("fbgemm")}),
        IMG,
        tags=_tags("qconfig_keys_conflict", "per_channel"),
        real_raises=ONE_OBSERVER_MSG,
    ),
    Case(
        "shared_input_one_key",
        _build(SharedInputPair),
        _qd({"": default_qconfig, "b": None}),
        IMG,
        tags=_tags("qconfig_keys_conflict", "qconfig_none"),
    ),
    Case(
        "torchscript_object_argument_static",
        _build(OffsetArgument),
        STATIC,
        IMG,
        tags=_tags("torchscript_object", "method_other_than_forward"),
        real_raises=OBJECT_ARGUMENT_MSG,
    ),
    Case(
        "torchscript_object_attribute_static",
        _build(OffsetAttribute),
        STATIC,
        IMG,
        tags=_tags("torchscript_object", "conv"),
    ),
    Case(
        "torchscript_object_created_static",
        _build(OffsetCreated),
        STATIC,
        IMG,
        tags=_tags("torchscript_object",),
        real_raises=MODULE_ACCESS_MSG,
    ),
    # --- modules and functions named like the ones helper.cpp's filters check ---
    Case(
        "type_name_relu_static",
        _build(cq.ThenReLU, _conv2d_3_4, cq.ClampReLU),
        STATIC,
        IMG,
        tags=_tags("type_names", "delay_conv_relu"),
    ),
    Case(
        "type_name_relu_subclass_static",
        _build(cq.ThenReLU, _conv2d_3_4, cq.NamedReLU),
        STATIC,
        IMG,
        tags=_tags("type_names", "conv"),
    ),
    Case(
        "type_name_linear_static",
        _build(cq.ThenReLU, cq.FunctionalLinear, nn.ReLU),
        STATIC,
        VEC,
        tags=_tags("type_names", "delay_linear_relu"),
    ),
    Case(
        "type_name_conv1d_static",
        _build(cq.ThenReLU, cq.FunctionalConv1d, nn.ReLU),
        STATIC,
        _randn((1, 3, 8)),
        tags=_tags("type_names", "conv1d_conv3d", "delay_conv_relu"),
    ),
    Case(
        "type_name_conv2d_static",
        _build(cq.ThenReLU, cq.FunctionalConv2d, nn.ReLU),
        STATIC,
        IMG,
        tags=_tags("type_names", "delay_conv_relu"),
    ),
    Case(
        "type_name_conv3d_static",
        _build(cq.ThenReLU, cq.FunctionalConv3d, nn.ReLU),
        STATIC,
        _randn((1, 3, 4, 6, 6)),
        tags=_tags("type_names", "conv1d_conv3d", "delay_conv_relu"),
    ),
    Case(
        "type_name_conv_transpose1d_static",
        _build(cq.ThenReLU, cq.FunctionalConvTranspose1d, nn.ReLU),
        STATIC,
        _randn((1, 3, 8)),
        tags=_tags("type_names", "conv_transpose"),
    ),
    Case(
        "type_name_conv_transpose2d_static",
        _build(cq.ThenReLU, cq.FunctionalConvTranspose2d, nn.ReLU),
        STATIC,
        IMG,
        tags=_tags("type_names", "conv_transpose"),
    ),
    Case(
        "type_name_batchnorm2d_static",
        _build(cq.ThenReLU, cq.FrozenNorm2d, nn.ReLU),
        STATIC,
        IMG,
        tags=_tags("type_names", "bn", "delay_bn_relu"),
    ),
    Case(
        "type_name_naive_sync_batchnorm_static",
        _build(cq.ThenReLU, _naive_sync_bn, nn.ReLU),
        STATIC,
        IMG,
        tags=_tags("type_names", "bn", "delay_bn_relu"),
    ),
    Case(
        "type_name_batchnorm3d_static",
        _build(cq.ThenReLU, cq.FrozenNorm3d, nn.ReLU),
        STATIC,
        _randn((1, 3, 4, 6, 6)),
        tags=_tags("type_names", "bn", "delay_bn_relu"),
    ),
    Case(
        "function_name_relu_static",
        _build(cq.ConvThenNamedRelu),
        STATIC,
        IMG,
        tags=_tags("function_names", "delay_conv_relu", "function_call"),
    ),
    Case(
        "function_name_linear_static",
        _build(cq.NamedLinearCall),
        STATIC,
        VEC,
        tags=_tags("function_names", "functional_linear", "fixed_qparams"),
    ),
    # --- branches on what fold_constant_branches makes constant (tests/corpus_fold.py) ---
    *_fold_pair("forward_head_default", cf.ForwardHeadDefault, IMG, "dynamic"),
    *_fold_pair("need_weights_explicit", cf.AttentionBlock, SEQ, "static"),
    *_fold_pair("float_attribute", cf.DropRate, IMG, "static", ("drop_rate",)),
    *_fold_pair("optional_none", cf.MaskedNet, IMG, "static"),
    *_fold_pair("two_levels", cf.TwoLevels, VEC, "dynamic"),
    *_fold_pair("function_argument", cf.FunctionArgument, VEC, "dynamic"),
    *_fold_pair("calls_disagree", cf.TwoHeads, VEC, "dynamic", folded_raises=True),
)

_BY_NAME: dict[str, Case] = {c.name: c for c in CASES}
if len(_BY_NAME) != len(CASES):
    raise RuntimeError("duplicate case names in corpus")


def case(name: str) -> Case:
    """Look a case up by name."""
    return _BY_NAME[name]


def script(c: Case) -> torch.jit.ScriptModule:
    """Build the eager model deterministically and script it."""
    torch.manual_seed(0)
    return torch.jit.script(c.build())


def real_pass(model: torch.jit.ScriptModule, qconfig_dict: dict[str, Any],
              quant_type: str = "static", method_name: str = "forward") -> torch._C.ScriptModule:
    """The oracle: torch's InsertObservers (``_jit_pass_insert_observers``) on ``model`` as
    given, with no conv-bn folding. The result is left unwrapped, since wrapping the
    corrupt module the pass returns in some cases raises; ``wrap_cpp_module`` it to run it.
    """
    return torch._C._jit_pass_insert_observers(
        model._c, method_name, script_qconfig_dict(qconfig_dict), False,
        QUANT_TYPES[quant_type])


def real_insert_observers(
    c: Case, module: torch.jit.ScriptModule | None = None
) -> torch.jit.ScriptModule:
    """Run the real C++ InsertObservers pass (no conv-bn folding) and wrap the result."""
    scripted = module if module is not None else script(c)
    return wrap_cpp_module(real_pass(scripted, c.qconfig_dict(), c.quant_type,
                                     c.method_name))


def run_method(module: torch.jit.ScriptModule, c: Case) -> Any:
    """Call ``c.method_name`` on ``module`` with the case's example inputs."""
    with torch.no_grad():
        return getattr(module, c.method_name)(*c.example_inputs())


def _iter_blocks(block: torch._C.Block) -> Iterator[torch._C.Node]:
    for node in block.nodes():
        yield node
        for sub in node.blocks():
            yield from _iter_blocks(sub)


def _resolve_module(
    value: torch._C.Value,
    self_value: torch._C.Value,
    owner: torch.jit.ScriptModule,
    aliases: dict[torch._C.Value, torch._C.Value],
) -> torch.jit.ScriptModule | None:
    """Follow the GetAttr chain from ``value`` back to ``self`` (through fork aliases)."""
    path: list[str] = []
    while value is not self_value:
        if value in aliases:
            value = aliases[value]
            continue
        producer = value.node()
        if producer.kind() != "prim::GetAttr":
            return None
        path.append(producer.s("name"))
        value = producer.input()
    module = owner
    for name in reversed(path):
        module = getattr(module, name)
    # a TorchScript class object held as an attribute is no module: the pass skips it
    return module if isinstance(module, torch.jit.ScriptModule) else None


def _nodes_outside_loops(block: torch._C.Block) -> Iterator[torch._C.Node]:
    for node in block.nodes():
        yield node
        if node.kind() != "prim::Loop":
            for sub in node.blocks():
                yield from _nodes_outside_loops(sub)


def paths_walked(module: torch.jit.ScriptModule | torch._C.ScriptModule,
                 method_name: str = "forward") -> set[str]:
    """Paths of the module instances the pass walks: those called from ``method_name``
    outside ``prim::Loop`` bodies (which it never enters), in an observed module (where
    fork/wait is inlined).

    Instances walked only through a loop keep whatever their class type's graph holds;
    with type sharing that includes observers inserted for other instances, without it
    nothing, so comparisons across the two leave them out.
    """
    root = module._c if isinstance(module, torch.jit.ScriptModule) else module
    seen: set[tuple[str, str]] = set()

    def visit(m: torch._C.ScriptModule, path: str, method: str) -> None:
        if (path, method) in seen:
            return
        seen.add((path, method))
        graph = m._get_method(method).graph
        self_value = next(graph.inputs())
        for node in _nodes_outside_loops(graph.block()):
            if node.kind() != "prim::CallMethod":
                continue
            names: list[str] = []
            value = node.inputsAt(0)
            while value.node().kind() == "prim::GetAttr":
                names.append(value.node().s("name"))
                value = value.node().inputsAt(0)
            if value.unique() != self_value.unique() or (
                    names and names[0].startswith("_observer_")):
                continue
            target: Any = m
            for name in reversed(names):
                target = target.getattr(name)
            if isinstance(target, torch._C.ScriptModule):
                sub = ".".join(reversed(names))
                visit(target, f"{path}.{sub}" if path and sub else path or sub, node.s("name"))

    visit(root, "", method_name)
    return {path for path, _ in seen}


def count_observer_calls(module: torch.jit.ScriptModule, method_name: str = "forward") -> int:
    """Count observer forward calls in every graph reachable from ``method_name``.

    An observer call is a ``prim::CallMethod`` whose first input is a ``prim::GetAttr`` of
    a name starting with ``_observer_``.  Each distinct (module type, method) graph is
    counted once, however many instances share it; ``prim::fork`` subgraphs are
    followed as well.
    """
    seen: set[str] = set()
    total = 0

    def visit(
        graph: torch._C.Graph,
        owner: torch.jit.ScriptModule,
        self_value: torch._C.Value,
        aliases: dict[torch._C.Value, torch._C.Value],
    ) -> None:
        nonlocal total
        for node in _iter_blocks(graph.block()):
            if node.kind() == "prim::CallMethod":
                target = node.inputsAt(0)
                producer = target.node()
                if producer.kind() == "prim::GetAttr" and producer.s("name").startswith(
                    "_observer_"
                ):
                    total += 1
                    continue
                sub = _resolve_module(target, self_value, owner, aliases)
                if sub is not None:
                    visit_method(sub, node.s("name"))
            for attr in node.attributeNames():
                if node.kindOf(attr) == "g":
                    sub_graph = node.g(attr)
                    sub_aliases = dict(aliases)
                    sub_aliases.update(zip(sub_graph.inputs(), node.inputs(), strict=False))
                    visit(sub_graph, owner, self_value, sub_aliases)

    def visit_method(owner: torch.jit.ScriptModule, name: str) -> None:
        key = f"{owner._c._type().qualified_name()}.{name}"
        if key in seen:
            return
        seen.add(key)
        graph = getattr(owner, name).graph
        visit(graph, owner, next(iter(graph.inputs())), {})

    visit_method(module, method_name)
    return total
