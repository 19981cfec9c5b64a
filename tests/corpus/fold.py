"""Models whose ``if`` the pass fails on, where what the branch depends on is fixed.

Each branch depends on something :func:`obsviz.fold_constant_branches` can make a
constant: an argument every call passes alike (a keyword default, a value passed
explicitly, ``None`` for an ``Optional``, a constant handed on through two calls, a
function's argument) or a float attribute compared with a constant. ``TwoHeads`` is the
negative case: two calls of one method pass different values, so nothing folds.
Each model's cases, and the same model folded, are at the end.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from .builders import DYNAMIC, IMG, SEQ, STATIC, VEC, _build, _tags
from .case_record import Case
from .torch_pass import IF_INCONSISTENT_MSG


class ForwardHeadDefault(nn.Module):
    """timm's classifiers: ``forward_head(x, pre_logits=False)``, the default used.

    In dynamic mode the pooled value is observed (it feeds the linear) and the linear's
    output is not, so the branches disagree.
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 4)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv(x))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.pool(x).flatten(1)
        return x if pre_logits else self.fc(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


class Attention(nn.Module):
    """``need_weights: bool = True``, as in nn.MultiheadAttention: the weights returned
    are a softmax output (observed in static mode) or None (never observed)."""

    def __init__(self) -> None:
        super().__init__()
        self.qk = nn.Linear(8, 8)
        self.proj = nn.Linear(8, 8)

    def forward(
        self, x: torch.Tensor, need_weights: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        weights = torch.softmax(torch.matmul(self.qk(x), x.transpose(1, 2)), -1)
        out = self.proj(torch.matmul(weights, x))
        if need_weights:
            return out, weights
        return out, None


class AttentionBlock(nn.Module):
    """Passes ``need_weights=False`` explicitly, against the default."""

    def __init__(self) -> None:
        super().__init__()
        self.attn = Attention()
        self.fc = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.attn(x, need_weights=False)
        return self.fc(out)


class DropRate(nn.Module):
    """``if self.drop_rate > 0.:`` on a float attribute: the dropping branch returns what
    ``torch.where`` gives, which nothing observes, while the other returns the conv's
    observed output."""

    def __init__(self, drop_rate: float = 0.0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.drop_rate = drop_rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        if self.drop_rate > 0.0:
            y = torch.where(torch.rand_like(y) >= self.drop_rate, y, torch.zeros_like(y))
        return y


class Masked(nn.Module):
    """``mask: Optional[Tensor] = None``: the masked branch's output is unobserved."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        y = self.conv(x)
        if mask is not None:
            y = y.masked_fill(mask, 0.0)
        return y


class MaskedNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.block = Masked()
        self.conv = nn.Conv2d(4, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.block(x))


class Head(nn.Module):
    """Branches on an argument: the linear's output (unobserved in dynamic mode) or its
    input (observed)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor, use_fc: bool) -> torch.Tensor:
        return self.fc(x) if use_fc else x


class Stage(nn.Module):
    """Hands its argument on to the head, negated: the head's constant comes from one
    level up, once the stage's is folded and propagated."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)
        self.head = Head()

    def forward(self, x: torch.Tensor, features_only: bool) -> torch.Tensor:
        return self.head(self.fc(x), not features_only)


class TwoLevels(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stage = Stage()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.stage(x, False)


class TwoHeads(nn.Module):
    """The negative case: two instances of one type (one graph) told different things."""

    def __init__(self) -> None:
        super().__init__()
        self.first = Head()
        self.second = Head()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.first(x, True) + self.second(x, False)


def pick(features: torch.Tensor, logits: torch.Tensor, return_features: bool) -> torch.Tensor:
    if return_features:
        return features
    return logits


class FunctionArgument(nn.Module):
    """A function's argument: ``return_features=False`` given to a free function."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return pick(x, self.fc(x), False)


# --- not corpus cases: what the fold must leave alone, or fold only with an attribute ---


class ComputedFlag(nn.Module):
    """The argument is computed from the input: nothing to fold."""

    def __init__(self) -> None:
        super().__init__()
        self.head = Head()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(x, bool(x.sum() > 0))


class TrainingFlag(nn.Module):
    """``self.training`` handed to a method: a constant once training is folded."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)
        self.head = Head()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.fc(x), self.training)


class ForkedHeads(nn.Module):
    """One call of the head sits in a fork's body and passes another value."""

    def __init__(self) -> None:
        super().__init__()
        self.head = Head()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        future = torch.jit.fork(self.head, x, False)
        return self.head(x, True) + torch.jit.wait(future)


class EitherHead(nn.Module):
    """Branches on an argument or on the data: folding the argument leaves the branch."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor, use_fc: bool) -> torch.Tensor:
        return self.fc(x) if use_fc or bool(x.sum() > 0) else x


class EitherNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.head = EitherHead()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(x, False)


# ---------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------


def _folded(
    cls: Callable[..., nn.Module], attributes: tuple[str, ...] = ("training",)
) -> Callable[[], nn.Module]:
    """The scripted model after ``obsviz.fold_constant_branches`` (the fold the diagnosis
    offers): the two passes are compared on what the fold gives."""

    def make() -> nn.Module:
        from obsviz import fold_constant_branches

        return fold_constant_branches(torch.jit.script(cls().eval()), attributes)

    return make


def _fold_pair(
    name: str,
    cls: Callable[..., nn.Module],
    inputs: Callable[[], tuple[Any, ...]],
    quant_type: str,
    attributes: tuple[str, ...] = ("training",),
    folded_raises: bool = False,
) -> tuple[Case, Case]:
    """A model the pass fails on an ``if`` of, and the same model after the fold its
    diagnosis offers (``attributes``): ``fold_<name>_<quant type>[_folded]``."""
    qconfig_dict = DYNAMIC if quant_type == "dynamic" else STATIC
    tags = _tags(
        "fold_constants", "if_inconsistent", *(("dynamic",) if quant_type == "dynamic" else ())
    )
    return (
        Case(
            f"fold_{name}_{quant_type}",
            _build(cls),
            qconfig_dict,
            inputs,
            quant_type=quant_type,
            real_raises=IF_INCONSISTENT_MSG,
            tags=tags,
        ),
        Case(
            f"fold_{name}_{quant_type}_folded",
            _folded(cls, attributes),
            qconfig_dict,
            inputs,
            quant_type=quant_type,
            real_raises=IF_INCONSISTENT_MSG if folded_raises else None,
            tags=tags,
        ),
    )


CASES: tuple[Case, ...] = (
    # --- branches on what fold_constant_branches makes constant ---
    *_fold_pair("forward_head_default", ForwardHeadDefault, IMG, "dynamic"),
    *_fold_pair("need_weights_explicit", AttentionBlock, SEQ, "static"),
    *_fold_pair("float_attribute", DropRate, IMG, "static", ("drop_rate",)),
    *_fold_pair("optional_none", MaskedNet, IMG, "static"),
    *_fold_pair("two_levels", TwoLevels, VEC, "dynamic"),
    *_fold_pair("function_argument", FunctionArgument, VEC, "dynamic"),
    *_fold_pair("calls_disagree", TwoHeads, VEC, "dynamic", folded_raises=True),
)
