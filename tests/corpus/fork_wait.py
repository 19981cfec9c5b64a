"""fork / wait of a submodule or a function (inlined in an observed module)."""

from __future__ import annotations

import torch
from torch import nn

from .builders import DYNAMIC, IMG, STATIC, VEC, _build, _randn, _tags
from .case_record import Case
from .delay import ConvBlock
from .dynamic import MlpBlock

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
# Cases
# ---------------------------------------------------------------------------


CASES: tuple[Case, ...] = (
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
)
