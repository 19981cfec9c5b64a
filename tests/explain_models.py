"""Small models for the explanation casebook and the table tests, and cached runs.

Each model names its values (``y = ...``) so tests can refer to them as users see them
in the scripted model's graphs.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.ao.quantization import (
    default_dynamic_qconfig,
    default_qconfig,
    float16_dynamic_qconfig,
    float_qparams_weight_only_qconfig,
)

import obsviz

from .corpus import case, script

# ---------------------------------------------------------------------------- models


class ConvRelu(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        z = self.relu(y)
        return z


class AddUnobserved(nn.Module):
    """``y + w``: w is a graph input nothing quantizable uses, so it stays unobserved."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        z = y + w
        return z


class AddObserved(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3)
        self.conv2 = nn.Conv2d(3, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.conv1(x)
        b = self.conv2(x)
        s = a + b
        return s


class AddRelu(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3)
        self.conv2 = nn.Conv2d(3, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.conv1(x) + self.conv2(x)
        r = F.relu(s)
        return r


class ConvFlattenLinear(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(4 * 3 * 3, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        p = self.pool(y)
        f = torch.flatten(p, 1)
        n = f.size(0)
        return self.fc(f) * n


class LinearRelu(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(6, 8))
        self.bias = nn.Parameter(torch.randn(6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.linear(x, self.weight, self.bias)
        return F.relu(h)


class UnobservedIntoLinear(nn.Module):
    """``a + w`` is refused by shouldObserve, then observed at the fc call site."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(6, 2)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        a = self.conv(x)
        z = a + w
        return self.fc(z)


class IfConvs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3)
        self.conv2 = nn.Conv2d(3, 4, 1)

    def forward(self, x: torch.Tensor, flag: bool) -> torch.Tensor:
        if flag:  # noqa: SIM108 (the branch results are the values explained)
            y = self.conv1(x)
        else:
            y = self.conv2(x)
        return y


class EmbeddingBagOp(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(10, 4))

    def forward(self, indices: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        out, a, b, c = torch.embedding_bag(
            self.weight, indices, offsets, False, 0, False, None, False
        )
        return out


class MatmulAdd(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(6, 8))
        self.bias = nn.Parameter(torch.randn(6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = torch.matmul(x, self.weight.t())
        return m + self.bias


class RaisingBranch(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.guard = nn.Conv2d(3, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4:
            g = self.guard(x)  # noqa: F841 (named for the casebook)
            raise RuntimeError("expected 4 dims")
        return self.conv(x)


class LinearOnly(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x)


class SharedRelu(nn.Module):
    """One relu instance called twice: on a conv's result, and on an input nothing uses."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.conv(x))
        z = self.relu(w)
        return y + z


# ---------------------------------------------------------------------------- runs

STATIC = {"": default_qconfig}


@functools.cache
def scripted_model(key: str) -> torch.jit.ScriptModule:
    torch.manual_seed(0)
    if key.startswith("case:"):
        return script(case(key[5:]))
    return torch.jit.script(MODELS[key]().eval())


MODELS = {
    cls.__name__: cls
    for cls in (
        ConvRelu,
        AddUnobserved,
        AddObserved,
        AddRelu,
        ConvFlattenLinear,
        LinearRelu,
        UnobservedIntoLinear,
        IfConvs,
        EmbeddingBagOp,
        MatmulAdd,
        RaisingBranch,
        LinearOnly,
        SharedRelu,
    )
}

QCONFIGS = {
    "static": (lambda: STATIC, "static"),
    "fc_none": (lambda: {"": default_qconfig, "fc": None}, "static"),
    "all_none": (lambda: {"": None}, "static"),
    "dynamic": (lambda: {"": default_dynamic_qconfig}, "dynamic"),
    "fp16": (lambda: {"": float16_dynamic_qconfig}, "dynamic"),
    "weight_only": (lambda: {"": float_qparams_weight_only_qconfig}, "static"),
}


@functools.cache
def run_of(model: str, qconfig: str = "static") -> obsviz.Run:
    qconfig_dict, quant_type = QCONFIGS[qconfig]
    return obsviz.insert_observers(scripted_model(model), qconfig_dict(), quant_type=quant_type)


@functools.cache
def ondevice_run() -> obsviz.Run:
    model = scripted_model("LinearOnly")
    observed = obsviz.prepare_ondevice_jit(
        model, {"": default_dynamic_qconfig}, quant_type="dynamic"
    )
    return observed._obsviz_run


@dataclass(frozen=True)
class Op:
    """The output of the ``nth`` ``kind`` node of a graph of the model given to the pass."""

    kind: str
    nth: int = 0


def user_name(model: torch.jit.ScriptModule, path: str, method: str, name: str | Op) -> str:
    if isinstance(name, str):
        return name
    module = model._c
    for part in filter(None, path.split(".")):
        module = module.getattr(part)
    graph = module._get_method(method).graph
    node = graph.findAllNodes(name.kind, True)[name.nth]
    return node.outputsAt(0).debugName()
