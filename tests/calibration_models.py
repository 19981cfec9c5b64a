"""Small models with planted calibration faults, for tests/test_calibration*.py."""

from __future__ import annotations

import torch
from torch import nn


class OutlierChannel(nn.Module):
    """conv2's output channel 3 is 1,000x the others; conv3 scales it back down, so the
    float model is an ordinary one and only quantizing conv2's output loses the others."""

    outlier_channel = 3

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.relu2 = nn.ReLU()
        self.conv3 = nn.Conv2d(8, 8, 1)
        self.relu3 = nn.ReLU()
        self.conv4 = nn.Conv2d(8, 4, 1)
        for conv in (self.conv1, self.conv2, self.conv3, self.conv4):
            conv.weight.data = torch.randn(conv.weight.shape, generator=g) * 0.3
            conv.bias.data = torch.rand(conv.bias.shape, generator=g) * 0.1
        c = self.outlier_channel
        with torch.no_grad():
            self.conv2.weight[c] *= 1000
            self.conv2.bias[c] *= 1000
            self.conv3.weight[:, c] /= 1000

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu1(self.conv1(x))
        x = self.relu2(self.conv2(x))
        x = self.relu3(self.conv3(x))
        return self.conv4(x)


class RareBranch(nn.Module):
    """``rare`` runs only for inputs no calibration batch has (a sum beyond 1e6)."""

    def __init__(self) -> None:
        super().__init__()
        self.common = nn.Linear(8, 8)
        self.rare = nn.Linear(8, 8)
        self.head = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if bool(x.sum() > 1e6):  # noqa: SIM108 - an If node in the graph, as users write it
            y = self.rare(x)
        else:
            y = self.common(x)
        return self.head(y)


class FragileLayer(nn.Module):
    """``fc2``'s weight has one element 500x the rest: one per-tensor scale for its weight
    rounds every other weight to a few levels, so quantizing it costs the most."""

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.fc1 = nn.Linear(16, 32)
        self.relu1 = nn.ReLU()
        self.fc2 = nn.Linear(32, 32)
        self.relu2 = nn.ReLU()
        self.fc3 = nn.Linear(32, 8)
        for fc in (self.fc1, self.fc2, self.fc3):
            fc.weight.data = torch.randn(fc.weight.shape, generator=g) * 0.2
        with torch.no_grad():
            self.fc2.weight[0, 0] = 100.0 * float(self.fc2.weight.abs().max())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu1(self.fc1(x))
        x = self.relu2(self.fc2(x))
        return self.fc3(x)


def scripted(module: nn.Module) -> torch.jit.ScriptModule:
    return torch.jit.script(module.eval())


class Gated(nn.Module):
    """``extra`` runs only when ``use_extra`` is True, and this instance has it False."""

    def __init__(self) -> None:
        super().__init__()
        self.use_extra = False
        self.fc = nn.Linear(8, 8)
        self.extra = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.fc(x)
        if self.use_extra:
            y = y + self.extra(y)
        return y


class FloatBoundary(nn.Module):
    """Leaving ``sub.conv`` float makes the caller observe a value it did not before.

    Quantized, the conv's output is observed inside ``sub`` and flatten passes that on:
    ``sub`` returns an observed value, so the caller's reshape of it counts as observed.
    With the conv float nothing in ``sub`` is observed, and the caller observes ``z``
    itself for ``fc``. The model's input has channel 0 in units 1,000x the others
    (``scaled_input``) and the conv scales it back, so quantizing the input per tensor
    costs the most: leaving the conv float, which stops observing the input, pays."""

    input_scale = 1000.0

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.sub = _ConvFlatten()
        self.fc = nn.Linear(4 * 6 * 6, 5)
        for layer in (self.sub.conv, self.fc):
            layer.weight.data = torch.randn(layer.weight.shape, generator=g) * 0.2
            layer.bias.data = torch.rand(layer.bias.shape, generator=g) * 0.1
        with torch.no_grad():
            self.sub.conv.weight[:, 0] /= self.input_scale

    @classmethod
    def scaled_input(cls, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x[:, :1] * cls.input_scale, x[:, 1:]], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.sub(x)
        z = y.reshape(y.shape[0], -1)
        return self.fc(z)


class _ConvFlatten(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.conv(x), 1)


def sqnr_labels(svg: str) -> set[tuple[str, str]]:
    """The (value, SQNR line) of each edge an SQNR overlay coloured, as the SVG draws them:
    ``("%10", "SQNR 33.7 dB")``."""
    import html
    import re

    labels = set()
    for texts in re.findall(
        r'<g id="edge\d+" class="edge[^"]*overlay[^"]*">.*?</g>\n'
        r"((?:<text[^>]*>[^<]*</text>\n)*)",
        svg,
        re.S,
    ):
        lines = [html.unescape(t) for t in re.findall(r">([^<]*)</text>", texts)]
        labels.add((lines[0].split(" : ")[0], next(x for x in lines if x.startswith("SQNR "))))
    return labels


def sqnr_rows(table, module: str) -> set[tuple[str, str]]:
    """The (value, SQNR line) of each row of an error table in ``module``, as a figure
    should label it: the accumulated SQNR to 0.1 dB."""
    return {
        (f"%{row.value}", f"SQNR {row.sqnr_accumulated_db:.1f} dB")
        for row in table.itertuples(index=False)
        if row.module_path == module
    }
