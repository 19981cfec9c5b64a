"""A model whose module, method and value names hold markup and script.

TorchScript accepts such names where Python does not look: the keys of an
``nn.Sequential(OrderedDict(...))`` become submodule attributes and paths, an exported
method can be set on the class under any name, and ``setDebugName`` renames values.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

EVIL_MODULE = "<img src=x onerror=alert('module')>"
EVIL_METHOD = "m<svg onload=alert('method')>"
EVIL_VALUE = "<script>alert('value')</script>"
EVIL_NAMES = (EVIL_MODULE, EVIL_METHOD, EVIL_VALUE)


class Inner(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv(x)) + x


def _run_all(self: nn.Sequential, input: torch.Tensor) -> torch.Tensor:
    for module in self:
        input = module(input)
    return input


HostileSequential = type(
    "HostileSequential", (nn.Sequential,), {EVIL_METHOD: torch.jit.export(_run_all)}
)


def hostile_model() -> torch.jit.ScriptModule:
    """Scripted; its entry method is ``EVIL_METHOD``, whose graph calls ``EVIL_MODULE``
    and names a value ``EVIL_VALUE``."""
    model = HostileSequential(OrderedDict([(EVIL_MODULE, Inner()), ("head", nn.Conv2d(3, 3, 1))]))
    scripted = torch.jit.script(model.eval())
    graph = scripted._c._get_method(EVIL_METHOD).graph
    calls = [node for node in graph.nodes() if node.kind() == "prim::CallMethod"]
    calls[0].output().setDebugName(EVIL_VALUE)
    return scripted
