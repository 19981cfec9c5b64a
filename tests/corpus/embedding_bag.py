"""EmbeddingBag: weight-only static quantization, alone and next to a linear."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.ao.quantization import default_qconfig, float_qparams_weight_only_qconfig

from .builders import STATIC, WEIGHT_ONLY, _build, _qd, _tags
from .case_record import Case

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
# Cases
# ---------------------------------------------------------------------------


def _bag_inputs() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    indices = torch.randint(0, 20, (12,), generator=gen)
    offsets = torch.tensor([0, 3, 7, 9])
    return indices, offsets


CASES: tuple[Case, ...] = (
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
)
