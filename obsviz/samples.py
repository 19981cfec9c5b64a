"""Built-in sample models for exploring graph-mode quantization without downloads."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from .torch_api import internal_scripting


class BasicBlock(nn.Module):
    # not annotated: torch 2.2 cannot script a class annotation that this file's
    # `from __future__ import annotations` turns into a string
    expansion = 1

    def __init__(
        self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(
        self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class ResNet(nn.Module):
    def __init__(
        self,
        block: type[BasicBlock | Bottleneck],
        layers: list[int],
        num_classes: int = 1000,
        width: int = 64,
    ) -> None:
        super().__init__()
        self.inplanes = width
        self.conv1 = nn.Conv2d(3, width, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, width, layers[0])
        self.layer2 = self._make_layer(block, width * 2, layers[1], stride=2)
        self.layer3 = self._make_layer(block, width * 4, layers[2], stride=2)
        self.layer4 = self._make_layer(block, width * 8, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(width * 8 * block.expansion, num_classes)

    def _make_layer(
        self,
        block: type[BasicBlock | Bottleneck],
        planes: int,
        blocks: int,
        stride: int = 1,
    ) -> nn.Sequential:
        downsample = None
        outplanes = planes * block.expansion
        if stride != 1 or self.inplanes != outplanes:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, outplanes, 1, stride=stride, bias=False),
                nn.BatchNorm2d(outplanes),
            )
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = outplanes
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        x = self.layer4(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        return self.fc(x)


def resnet50(num_classes: int = 1000) -> ResNet:
    return ResNet(Bottleneck, [3, 4, 6, 3], num_classes)


def resnet152(num_classes: int = 1000) -> ResNet:
    return ResNet(Bottleneck, [3, 8, 36, 3], num_classes)


def resnet_deep(num_classes: int = 10) -> ResNet:
    """140 narrow Bottleneck blocks: about 20,000 graph nodes for stress tests."""
    return ResNet(Bottleneck, [3, 24, 111, 3], num_classes, width=16)


def resnet_small(num_classes: int = 10) -> ResNet:
    return ResNet(BasicBlock, [1, 1, 1, 1], num_classes, width=8)


def _make_divisible(value: float, divisor: int = 8) -> int:
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def _activation(name: str) -> nn.Module:
    return nn.Hardswish(inplace=True) if name == "HS" else nn.ReLU(inplace=True)


class ConvBNActivation(nn.Sequential):
    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 1,
        stride: int = 1,
        groups: int = 1,
        activation: str | None = "RE",
    ) -> None:
        layers: list[nn.Module] = [
            nn.Conv2d(
                in_channels,
                out_channels,
                kernel_size,
                stride=stride,
                padding=(kernel_size - 1) // 2,
                groups=groups,
                bias=False,
            ),
            nn.BatchNorm2d(out_channels),
        ]
        if activation is not None:
            layers.append(_activation(activation))
        super().__init__(*layers)


class SqueezeExcitation(nn.Module):
    def __init__(self, channels: int, squeeze_channels: int) -> None:
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze_channels, 1)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(squeeze_channels, channels, 1)
        self.hardsigmoid = nn.Hardsigmoid(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.avgpool(x)
        scale = self.relu(self.fc1(scale))
        scale = self.hardsigmoid(self.fc2(scale))
        return x * scale


@dataclass(frozen=True)
class InvertedResidualConfig:
    in_channels: int
    kernel: int
    expanded_channels: int
    out_channels: int
    use_se: bool
    activation: str
    stride: int


class InvertedResidual(nn.Module):
    def __init__(self, cfg: InvertedResidualConfig) -> None:
        super().__init__()
        self.use_res_connect = cfg.stride == 1 and cfg.in_channels == cfg.out_channels
        layers: list[nn.Module] = []
        if cfg.expanded_channels != cfg.in_channels:
            layers.append(
                ConvBNActivation(cfg.in_channels, cfg.expanded_channels, activation=cfg.activation)
            )
        layers.append(
            ConvBNActivation(
                cfg.expanded_channels,
                cfg.expanded_channels,
                cfg.kernel,
                stride=cfg.stride,
                groups=cfg.expanded_channels,
                activation=cfg.activation,
            )
        )
        if cfg.use_se:
            squeeze = _make_divisible(cfg.expanded_channels // 4)
            layers.append(SqueezeExcitation(cfg.expanded_channels, squeeze))
        layers.append(ConvBNActivation(cfg.expanded_channels, cfg.out_channels, activation=None))
        self.block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        if self.use_res_connect:
            out += x
        return out


class MobileNetV3(nn.Module):
    def __init__(
        self,
        configs: list[InvertedResidualConfig],
        last_channel: int,
        num_classes: int = 1000,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        first = configs[0].in_channels
        last_in = configs[-1].out_channels
        last_out = 6 * last_in
        self.features = nn.Sequential(
            ConvBNActivation(3, first, 3, stride=2, activation="HS"),
            *[InvertedResidual(cfg) for cfg in configs],
            ConvBNActivation(last_in, last_out, activation="HS"),
        )
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            nn.Linear(last_out, last_channel),
            nn.Hardswish(inplace=True),
            nn.Dropout(p=dropout, inplace=True),
            nn.Linear(last_channel, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)


def mobilenet_v3_small(num_classes: int = 1000) -> MobileNetV3:
    cfg = InvertedResidualConfig
    configs = [
        cfg(16, 3, 16, 16, True, "RE", 2),
        cfg(16, 3, 72, 24, False, "RE", 2),
        cfg(24, 3, 88, 24, False, "RE", 1),
        cfg(24, 5, 96, 40, True, "HS", 2),
        cfg(40, 5, 240, 40, True, "HS", 1),
        cfg(40, 5, 240, 40, True, "HS", 1),
        cfg(40, 5, 120, 48, True, "HS", 1),
        cfg(48, 5, 144, 48, True, "HS", 1),
        cfg(48, 5, 288, 96, True, "HS", 2),
        cfg(96, 5, 576, 96, True, "HS", 1),
        cfg(96, 5, 576, 96, True, "HS", 1),
    ]
    return MobileNetV3(configs, last_channel=1024, num_classes=num_classes)


def mobilenet_v3_tiny(num_classes: int = 10) -> MobileNetV3:
    cfg = InvertedResidualConfig
    configs = [
        cfg(8, 3, 8, 8, True, "RE", 2),
        cfg(8, 3, 24, 16, False, "RE", 2),
        cfg(16, 3, 32, 16, True, "HS", 1),
    ]
    return MobileNetV3(configs, last_channel=64, num_classes=num_classes)


class MultiHeadSelfAttention(nn.Module):
    def __init__(self, d_model: int, nhead: int, dropout: float = 0.1) -> None:
        super().__init__()
        if d_model % nhead != 0:
            raise ValueError(f"d_model ({d_model}) must be divisible by nhead ({nhead})")
        self.nhead = nhead
        self.head_dim = d_model // nhead
        self.scale = self.head_dim**-0.5
        self.q_proj = nn.Linear(d_model, d_model)
        self.k_proj = nn.Linear(d_model, d_model)
        self.v_proj = nn.Linear(d_model, d_model)
        self.out_proj = nn.Linear(d_model, d_model)
        self.dropout = nn.Dropout(dropout)

    def _split_heads(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(x.size(0), x.size(1), self.nhead, self.head_dim).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = self._split_heads(self.q_proj(x))
        k = self._split_heads(self.k_proj(x))
        v = self._split_heads(self.v_proj(x))
        scores = torch.matmul(q, k.transpose(-2, -1)) * self.scale
        attn = self.dropout(torch.softmax(scores, dim=-1))
        out = torch.matmul(attn, v).transpose(1, 2)
        out = out.reshape(x.size(0), x.size(1), self.nhead * self.head_dim)
        return self.out_proj(out)


class TransformerEncoderBlock(nn.Module):
    def __init__(
        self, d_model: int, nhead: int, dim_feedforward: int, dropout: float = 0.1
    ) -> None:
        super().__init__()
        self.attn = MultiHeadSelfAttention(d_model, nhead, dropout)
        self.dropout1 = nn.Dropout(dropout)
        self.norm1 = nn.LayerNorm(d_model)
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.relu = nn.ReLU()
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.dropout2 = nn.Dropout(dropout)
        self.norm2 = nn.LayerNorm(d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm1(x + self.dropout1(self.attn(x)))
        ff = self.linear2(self.dropout(self.relu(self.linear1(x))))
        return self.norm2(x + self.dropout2(ff))


class TinyTransformer(nn.Module):
    def __init__(
        self,
        num_layers: int = 2,
        d_model: int = 64,
        nhead: int = 4,
        dim_feedforward: int | None = None,
        num_classes: int = 10,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        ff = dim_feedforward or 4 * d_model
        self.input_proj = nn.Linear(d_model, d_model)
        self.blocks = nn.Sequential(
            *[TransformerEncoderBlock(d_model, nhead, ff, dropout) for _ in range(num_layers)]
        )
        self.head = nn.Linear(d_model, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.input_proj(x))
        return self.head(x.mean(dim=1))


def transformer_encoder(num_layers: int = 2, d_model: int = 64, nhead: int = 4) -> TinyTransformer:
    return TinyTransformer(num_layers=num_layers, d_model=d_model, nhead=nhead)


@dataclass(frozen=True)
class SampleSpec:
    name: str
    build: Callable[[], nn.Module]
    example_inputs: Callable[[], tuple[torch.Tensor, ...]]
    description: str


class UnknownSampleError(KeyError):
    def __init__(self, name: str) -> None:
        suggestions = difflib.get_close_matches(name, list(SAMPLES), n=3)
        hint = f" Did you mean {', '.join(map(repr, suggestions))}?" if suggestions else ""
        self.message = f"Unknown sample {name!r}.{hint} Available: {', '.join(SAMPLES)}"
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


def _randn(*shape: int) -> Callable[[], tuple[torch.Tensor, ...]]:
    def make() -> tuple[torch.Tensor, ...]:
        return (torch.randn(shape, generator=torch.Generator().manual_seed(0)),)

    return make


def _evaluated(factory: Callable[[], nn.Module]) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        return factory().eval()

    return build


SAMPLES: dict[str, SampleSpec] = {
    spec.name: spec
    for spec in [
        SampleSpec(
            "resnet_small",
            _evaluated(resnet_small),
            _randn(1, 3, 32, 32),
            "Narrow ResNet with one BasicBlock per stage; fast to script and prepare.",
        ),
        SampleSpec(
            "resnet50",
            _evaluated(resnet50),
            _randn(1, 3, 64, 64),
            "Full-width ResNet-50 (Bottleneck [3, 4, 6, 3]).",
        ),
        SampleSpec(
            "resnet152",
            _evaluated(resnet152),
            _randn(1, 3, 64, 64),
            "Full-width ResNet-152 (Bottleneck [3, 8, 36, 3]); a large graph for timing.",
        ),
        SampleSpec(
            "resnet_deep",
            _evaluated(resnet_deep),
            _randn(1, 3, 32, 32),
            "Narrow ResNet with 140 Bottleneck blocks (about 20,000 graph nodes).",
        ),
        SampleSpec(
            "mobilenet_v3_tiny",
            _evaluated(mobilenet_v3_tiny),
            _randn(1, 3, 64, 64),
            "Three-block MobileNetV3 with squeeze-excitation, Hardswish and residual adds.",
        ),
        SampleSpec(
            "mobilenet_v3_small",
            _evaluated(mobilenet_v3_small),
            _randn(1, 3, 64, 64),
            "MobileNetV3-Small block layout with squeeze-excitation and Hardswish.",
        ),
        SampleSpec(
            "transformer_encoder",
            _evaluated(transformer_encoder),
            _randn(2, 8, 64),
            "Hand-written two-layer transformer encoder (matmul attention, LayerNorm).",
        ),
    ]
}


def names() -> list[str]:
    return list(SAMPLES)


def inputs(name: str, n: int = 8, seed: int = 0) -> list[tuple[torch.Tensor, ...]]:
    """``n`` random input tuples shaped like the sample's example input, for calibrating
    (``run.calibrate(obsviz.samples.inputs("resnet_small", 8))``); the same for one seed."""
    if name not in SAMPLES:
        raise UnknownSampleError(name)
    example = SAMPLES[name].example_inputs()
    generator = torch.Generator().manual_seed(seed)
    return [
        tuple(torch.randn(t.shape, generator=generator, dtype=t.dtype) for t in example)
        for _ in range(n)
    ]


def load(name: str, *, seed: int = 0) -> torch.jit.ScriptModule:
    if name not in SAMPLES:
        raise UnknownSampleError(name)
    torch.manual_seed(seed)
    with internal_scripting():
        return torch.jit.script(SAMPLES[name].build().eval())
