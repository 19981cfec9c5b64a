"""Models on which the real InsertObservers pass fails, one per failure family."""

from __future__ import annotations

import torch
import torch.nn as nn
from torch.ao.nn.quantized import FloatFunctional


class AuxHead(nn.Module):
    """`if self.training:` returns an auxiliary head's output only when training."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.aux = nn.Conv2d(4, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        if self.training:
            return y + self.aux(y)
        return torch.softmax(y, 1)


class StochasticDepth(nn.Module):
    """torchvision's stochastic depth: the identity branch returns an unobserved input."""

    def __init__(self, p: float = 0.2) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = torch.rand(x.shape[0], 1, 1, 1) > self.p
        return x * keep.to(x.dtype) / (1.0 - self.p)


class StochasticDepthNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.drop = StochasticDepth()
        self.head = nn.Conv2d(4, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return self.head(self.drop(y))


def stochastic_depth(x: torch.Tensor, p: float, mode: str, training: bool) -> torch.Tensor:
    """torchvision.ops.stochastic_depth's shape: the branch lives in a free function."""
    if p < 0.0 or p > 1.0:
        raise ValueError("drop probability has to be between 0 and 1")
    if not training or p == 0.0:
        return x
    size = [x.shape[0]] + [1] * (x.ndim - 1) if mode == "row" else [1] * x.ndim
    keep = torch.empty(size, dtype=x.dtype).bernoulli_(1.0 - p)
    return x * keep / (1.0 - p)


class StochasticDepthCall(nn.Module):
    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p
        self.mode = "row"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return stochastic_depth(x, self.p, self.mode, self.training)


class DropBlock(nn.Module):
    def __init__(self, p: float) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)
        self.drop = StochasticDepthCall(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.drop(self.conv(x))


class StochasticDepthBlocks(nn.Module):
    """EfficientNet's pattern: the drop rate grows block by block, one type for all."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3, padding=1)
        self.blocks = nn.Sequential(DropBlock(0.0), DropBlock(0.1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.stem(x))


class ShiftedAttention(nn.Module):
    """Swin's pattern: blocks alternate a shift, and only shifted ones add a mask."""

    def __init__(self, shift: int) -> None:
        super().__init__()
        self.shift = shift
        self.proj = nn.Conv2d(4, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.proj(x)
        if self.shift > 0:
            return torch.roll(y, self.shift, 2)
        return y


class ShiftedBlocks(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 1)
        self.blocks = nn.Sequential(ShiftedAttention(0), ShiftedAttention(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.stem(x))


@torch.jit.script
class Anchors:
    def __init__(self, scale: float) -> None:
        self.scale = scale

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale


class ObjectCall(nn.Module):
    """Calls a method of a TorchScript class object (detection-style box coders)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        anchors = Anchors(2.0)
        return anchors.apply(self.conv(x))


class ObjectArgument(nn.Module):
    """A method that takes a TorchScript object as an argument."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)

    @torch.jit.export
    def scaled(self, anchors: Anchors, x: torch.Tensor) -> torch.Tensor:
        return anchors.apply(self.conv(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scaled(Anchors(2.0), x)


class AddBlock(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 1)
        self.skip = FloatFunctional()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.skip.add(self.conv(x), x)


class PlainBlock(nn.Module):
    """Holds a FloatFunctional of the same type as AddBlock's but never calls it."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 1)
        self.skip = FloatFunctional()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class SharedFloatFunctional(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 1)
        self.b0 = AddBlock()
        self.b1 = PlainBlock()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b1(self.b0(self.stem(x)))


class AttentionNet(nn.Module):
    """nn.MultiheadAttention calls functions that take no inputs; the real pass reads
    such a function graph's first input anyway and crashes the process."""

    def __init__(self) -> None:
        super().__init__()
        self.att = nn.MultiheadAttention(16, 2, batch_first=True)
        self.fc = nn.Linear(16, 16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y, _ = self.att(x, x, x)
        return self.fc(y)
