"""Dynamic and fp16 qconfigs (models such as an LSTM or MLPs), and the per-channel
backends (fbgemm, qnnpack)."""

from __future__ import annotations

import torch
from torch import nn
from torch.ao.quantization import default_dynamic_qconfig, default_qconfig, float16_dynamic_qconfig

from .builders import (
    DYNAMIC,
    DYNAMIC_FP16,
    FBGEMM,
    IMG,
    QNNPACK,
    SEQ,
    VEC,
    _build,
    _qd,
    _randn,
    _tags,
)
from .case_record import Case
from .delay import ConvReluModule
from .loops import SplitBelowChildInLoop
from .pass_through import ConvPoolFlattenLinear
from .torch_pass import SPLIT_BELOW_MSG

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
# Cases
# ---------------------------------------------------------------------------


CASES: tuple[Case, ...] = (
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
)
