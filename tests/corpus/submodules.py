"""Submodule calls, nesting and shared ClassTypes: one type under the same or different
qconfigs, types split below a call site, and qconfig ``None`` for the model or a part."""

from __future__ import annotations

import torch
from torch import nn
from torch.ao.quantization import default_dynamic_qconfig, default_qconfig, get_default_qconfig

from .builders import DYNAMIC, IMG, STATIC, VEC, _build, _qd, _tags
from .case_record import Case
from .conv_linear import ConvThenLinear, TwoLinears
from .delay import ConvBlock, ConvReluModule
from .pass_through import ConvPoolFlattenLinear
from .torch_pass import SPLIT_BELOW_MSG

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
# Cases
# ---------------------------------------------------------------------------


CASES: tuple[Case, ...] = (
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
)
