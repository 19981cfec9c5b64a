"""Calibrating through obsviz: each observer call goes through a :class:`Recorder` that
calls the observer itself and notes what the observer cannot tell afterwards: how often it
ran in each batch, the batch's extremes, and per-channel extremes (so a channel that
dominates a per-tensor range can be named)."""

import copy
import math
from typing import Final

import torch
from torch import nn

NO_CHANNELS = -2  # channel_dim of values whose channels are not recorded


class Recorder(nn.Module):
    """Calls ``observer`` on the value, and records the batch's extremes."""

    no_channels: Final[int]

    def __init__(self, observer: torch.jit.ScriptModule) -> None:
        super().__init__()
        self.no_channels = NO_CHANNELS
        self.observer = observer
        self.calls = 0
        self.low = math.inf  # this batch's extremes
        self.high = -math.inf
        self.channel_dim = -1  # -1: not known yet, -2: none
        self.channel_low = torch.empty(0)  # over every batch
        self.channel_high = torch.empty(0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if x.numel() > 0 and x.is_floating_point():
            low, high = torch.aminmax(x.detach())
            self.low = min(self.low, float(low))
            self.high = max(self.high, float(high))
            dim = self.channel_dim
            if dim == -1:
                dim = 1 if x.dim() == 4 else x.dim() - 1 if x.dim() in (2, 3) else self.no_channels
                self.channel_dim = dim
            if dim >= 0 and dim < x.dim():
                dims: list[int] = []
                for d in range(x.dim()):
                    if d != dim:
                        dims.append(d)
                channel_low = torch.amin(x.detach(), dims)
                channel_high = torch.amax(x.detach(), dims)
                if self.channel_low.numel() == 0:
                    self.channel_low = channel_low
                    self.channel_high = channel_high
                elif self.channel_low.shape == channel_low.shape:
                    self.channel_low = torch.minimum(self.channel_low, channel_low)
                    self.channel_high = torch.maximum(self.channel_high, channel_high)
        return self.observer(x)


class Recorders:
    """Scripted Recorders, one class type per observer class type."""

    def __init__(self) -> None:
        self.templates: dict[str, torch.jit.ScriptModule] = {}

    def __call__(
        self, observer: torch.jit.ScriptModule, *, channels: bool
    ) -> torch.jit.ScriptModule:
        """A Recorder around ``observer`` itself (not a copy)."""
        type_name = observer._c._type().qualified_name()
        template = self.templates.get(type_name)
        if template is None:
            template = self.templates[type_name] = torch.jit.script(Recorder(observer))
        recorder = copy.deepcopy(template)
        recorder._c.setattr("observer", observer._c)
        if not channels:
            recorder._c.setattr("channel_dim", NO_CHANNELS)
        return recorder
