"""A method's boundaries: several outputs, a graph input used twice, methods other than
forward as entry or called from it."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .builders import DYNAMIC, IMG, STATIC, VEC, _build, _tags
from .case_record import Case

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
# Cases
# ---------------------------------------------------------------------------


CASES: tuple[Case, ...] = (
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
)
