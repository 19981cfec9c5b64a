"""Modules and functions named like the ones ``helper.cpp`` recognises, with bodies of their own.

The pass's filters (``is_relu_module``, ``is_conv2d_module``, ...) compare the qualified
name TorchScript gives a module's class, with ``___torch_mangle_N`` removed, and never
look at the Python class; ``is_functional_relu`` and the op lists compare the last part
of a function's qualified name. TorchScript names a class ``__torch__.<__module__>.<__name__>``
(``torch._jit_internal._qualified_name``), so :func:`qualified_as` renames a class defined
here into the class the filter names, as if it had been written in that module; its
methods keep their source here. Each name below is copied from helper.cpp (torch 2.13).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .builders import IMG, STATIC, VEC, _build, _randn, _tags
from .case_record import Case


def qualified_as(qualified_name: str) -> Callable[[type], type]:
    """Give a class the TorchScript qualified name ``qualified_name`` (``__torch__.a.b.C``)."""
    module, _, name = qualified_name.removeprefix("__torch__.").rpartition(".")

    def rename(cls: type) -> type:
        cls.__module__ = module
        cls.__name__ = cls.__qualname__ = name
        return cls

    return rename


@qualified_as("__torch__.torch.nn.modules.activation.ReLU")
class ClampReLU(nn.Module):
    """Not torch's ReLU: a clamp, under ReLU's name."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.clamp(x, min=0.0)


class NamedReLU(nn.ReLU):
    """torch's ReLU under a name of its own
    (``__torch__.tests.corpus.qualified_names.NamedReLU``)."""


class _Weighted(nn.Module):
    def __init__(self, *shape: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(*shape) * 0.1)
        self.bias = nn.Parameter(torch.zeros(shape[0]))


@qualified_as("__torch__.torch.nn.modules.linear.Linear")
class FunctionalLinear(_Weighted):
    def __init__(self) -> None:
        super().__init__(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight, self.bias)


@qualified_as("__torch__.torch.nn.modules.conv.Conv1d")
class FunctionalConv1d(_Weighted):
    def __init__(self) -> None:
        super().__init__(4, 3, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv1d(x, self.weight, self.bias)


@qualified_as("__torch__.torch.nn.modules.conv.Conv2d")
class FunctionalConv2d(_Weighted):
    def __init__(self) -> None:
        super().__init__(4, 3, 3, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight, self.bias)


@qualified_as("__torch__.torch.nn.modules.conv.Conv3d")
class FunctionalConv3d(_Weighted):
    def __init__(self) -> None:
        super().__init__(4, 3, 3, 3, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv3d(x, self.weight, self.bias)


@qualified_as("__torch__.torch.nn.modules.conv.ConvTranspose1d")
class FunctionalConvTranspose1d(_Weighted):
    def __init__(self) -> None:
        super().__init__(3, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv_transpose1d(x, self.weight, None)


@qualified_as("__torch__.torch.nn.modules.conv.ConvTranspose2d")
class FunctionalConvTranspose2d(_Weighted):
    def __init__(self) -> None:
        super().__init__(3, 4, 3, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv_transpose2d(x, self.weight, None)


class _FrozenNorm(nn.Module):
    """A batch norm with fixed statistics, written with ``F.batch_norm``."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(3))
        self.register_buffer("var", torch.ones(3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.batch_norm(x, self.mean, self.var, training=False)


@qualified_as("__torch__.torch.nn.modules.batchnorm.BatchNorm2d")
class FrozenNorm2d(_FrozenNorm):
    pass


@qualified_as("__torch__.torch.nn.modules.batchnorm.BatchNorm3d")
class FrozenNorm3d(_FrozenNorm):
    pass


@qualified_as("__torch__.mobile_cv.arch.layers.batch_norm.NaiveSyncBatchNorm")
class NaiveSyncBatchNorm(nn.BatchNorm2d):
    """mobile_cv's (and detectron2's) synchronised batch norm, which is_batchnorm2d_module
    accepts besides nn.BatchNorm2d."""


class ThenReLU(nn.Module):
    """``first()`` (a conv, linear or batch norm), then ``relu()``."""

    def __init__(self, first: Callable[[], nn.Module], relu: Callable[[], nn.Module]) -> None:
        super().__init__()
        self.first = first()
        self.relu = relu()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.first(x))


def relu(x: torch.Tensor, inplace: bool = False) -> torch.Tensor:
    """Not F.relu, but named ``relu``: a leaky one."""
    return torch.where(x > 0, x, x * 0.1)


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """Not F.linear, but named ``linear`` and called like it."""
    return torch.matmul(x, weight.t()) * 0.5 + bias


class ConvThenNamedRelu(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return relu(self.conv(x), False)


class NamedLinearCall(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(8, 8) * 0.1)
        self.bias = nn.Parameter(torch.zeros(8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(linear(x, self.weight, self.bias))


# ---------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------


def _conv2d_3_4() -> nn.Module:
    return nn.Conv2d(3, 4, 3)


def _naive_sync_bn() -> nn.Module:
    return NaiveSyncBatchNorm(3)


CASES: tuple[Case, ...] = (
    # --- modules and functions named like the ones helper.cpp's filters check ---
    Case(
        "type_name_relu_static",
        _build(ThenReLU, _conv2d_3_4, ClampReLU),
        STATIC,
        IMG,
        tags=_tags("type_names", "delay_conv_relu"),
    ),
    Case(
        "type_name_relu_subclass_static",
        _build(ThenReLU, _conv2d_3_4, NamedReLU),
        STATIC,
        IMG,
        tags=_tags("type_names", "conv"),
    ),
    Case(
        "type_name_linear_static",
        _build(ThenReLU, FunctionalLinear, nn.ReLU),
        STATIC,
        VEC,
        tags=_tags("type_names", "delay_linear_relu"),
    ),
    Case(
        "type_name_conv1d_static",
        _build(ThenReLU, FunctionalConv1d, nn.ReLU),
        STATIC,
        _randn((1, 3, 8)),
        tags=_tags("type_names", "conv1d_conv3d", "delay_conv_relu"),
    ),
    Case(
        "type_name_conv2d_static",
        _build(ThenReLU, FunctionalConv2d, nn.ReLU),
        STATIC,
        IMG,
        tags=_tags("type_names", "delay_conv_relu"),
    ),
    Case(
        "type_name_conv3d_static",
        _build(ThenReLU, FunctionalConv3d, nn.ReLU),
        STATIC,
        _randn((1, 3, 4, 6, 6)),
        tags=_tags("type_names", "conv1d_conv3d", "delay_conv_relu"),
    ),
    Case(
        "type_name_conv_transpose1d_static",
        _build(ThenReLU, FunctionalConvTranspose1d, nn.ReLU),
        STATIC,
        _randn((1, 3, 8)),
        tags=_tags("type_names", "conv_transpose"),
    ),
    Case(
        "type_name_conv_transpose2d_static",
        _build(ThenReLU, FunctionalConvTranspose2d, nn.ReLU),
        STATIC,
        IMG,
        tags=_tags("type_names", "conv_transpose"),
    ),
    Case(
        "type_name_batchnorm2d_static",
        _build(ThenReLU, FrozenNorm2d, nn.ReLU),
        STATIC,
        IMG,
        tags=_tags("type_names", "bn", "delay_bn_relu"),
    ),
    Case(
        "type_name_naive_sync_batchnorm_static",
        _build(ThenReLU, _naive_sync_bn, nn.ReLU),
        STATIC,
        IMG,
        tags=_tags("type_names", "bn", "delay_bn_relu"),
    ),
    Case(
        "type_name_batchnorm3d_static",
        _build(ThenReLU, FrozenNorm3d, nn.ReLU),
        STATIC,
        _randn((1, 3, 4, 6, 6)),
        tags=_tags("type_names", "bn", "delay_bn_relu"),
    ),
    Case(
        "function_name_relu_static",
        _build(ConvThenNamedRelu),
        STATIC,
        IMG,
        tags=_tags("function_names", "delay_conv_relu", "function_call"),
    ),
    Case(
        "function_name_linear_static",
        _build(NamedLinearCall),
        STATIC,
        VEC,
        tags=_tags("function_names", "functional_linear", "fixed_qparams"),
    ),
)
