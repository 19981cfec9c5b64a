"""Tuples and lists: TupleConstruct, ListConstruct, ListUnpack, append + cat, and what
RemoveListMutation does to them."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .builders import IMG, STATIC, _build, _tags
from .case_record import Case

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
# Cases
# ---------------------------------------------------------------------------


def _tuple_input() -> tuple[tuple[torch.Tensor, torch.Tensor]]:
    gen = torch.Generator().manual_seed(0)
    return ((torch.randn(2, 8, generator=gen), torch.randn(2, 8, generator=gen)),)


CASES: tuple[Case, ...] = (
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
)
