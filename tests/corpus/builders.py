"""What the case tables are written in: deterministic inputs, qconfig dicts, builders and
tags, shared by every rule family. The helpers' names start with an underscore: they are
for the case tables of this package only."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.ao.quantization import (
    QConfig,
    default_dynamic_qconfig,
    default_qconfig,
    float16_dynamic_qconfig,
    float_qparams_weight_only_qconfig,
    get_default_qconfig,
    per_channel_dynamic_qconfig,
)

from .case_record import TAGS


def _randn(*shapes: tuple[int, ...]) -> Callable[[], tuple[torch.Tensor, ...]]:
    """Deterministic float inputs, one tensor per shape."""

    def make() -> tuple[torch.Tensor, ...]:
        gen = torch.Generator().manual_seed(0)
        return tuple(torch.randn(*shape, generator=gen) for shape in shapes)

    return make


def _qd(mapping: dict[str, QConfig | None]) -> Callable[[], dict[str, QConfig | None]]:
    def make() -> dict[str, QConfig | None]:
        return dict(mapping)

    return make


def _build(cls: Callable[..., nn.Module], *args: Any) -> Callable[[], nn.Module]:
    def make() -> nn.Module:
        return cls(*args).eval()

    return make


def _tags(*names: str) -> frozenset[str]:
    unknown = set(names) - TAGS
    if unknown:
        raise ValueError(f"unknown tags: {sorted(unknown)}")
    return frozenset(names)


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
