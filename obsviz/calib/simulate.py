"""The simulated quantized model: the observed module with each observer call replaced by
a :class:`QuantSim` holding that observer's frozen qparams.

The observers sit exactly where ``convert_jit`` puts its quantize/dequantize pairs, so
quantize->dequantize at each of them is the converted model's arithmetic up to the
rounding of its integer kernels. A QuantSim quantizes the way the converted model does:
``quantize_per_tensor`` / ``_per_channel`` clamp to the dtype's full integer range (the
observer's ``quant_min``/``quant_max`` only shape the scale), dynamic activations get
qparams from each batch (``_choose_qparams_per_tensor``, as ``quantized::linear_dynamic``
does), float16 values are cast and cast back.

Modes, set on every QuantSim before a pass:
``FLOAT`` returns values untouched (the float model); ``SIMULATE`` quantizes (the
simulated model); ``REFERENCE`` returns values untouched but keeps a copy of each and adds
the error quantizing it alone would make (the *local* error); ``QUANTIZED`` quantizes and
adds the distance of the result to the copy from the reference pass (the *accumulated*
error of every quantizing observer up to here), then drops the copy.
"""


from functools import cache
from typing import Final, List  # noqa: UP035 - TorchScript needs typing.List

import torch
from torch import nn

FLOAT = 0
SIMULATE = 1
REFERENCE = 2
QUANTIZED = 3

KIND_PER_TENSOR = 0
KIND_PER_CHANNEL = 1
KIND_FLOAT16 = 2
KIND_DYNAMIC = 3
KIND_FLOAT = 4

# stats slots
SIGNAL = 0  # sum of squares of the float value (reference passes)
LOCAL_ERROR = 1  # sum of squared local errors
ACCUMULATED_ERROR = 2  # sum of squared accumulated errors
ELEMENTS = 3  # elements compared (reference passes)
DIVERGED = 4  # calls of a quantized pass with no matching reference (control flow changed)
CALLS = 5  # calls in reference passes
STATS = 6


class QuantSim(nn.Module):
    """Quantize->dequantize with frozen qparams, and stream error statistics."""

    FLOAT: Final[int]
    SIMULATE: Final[int]
    REFERENCE: Final[int]
    QUANTIZED: Final[int]
    KIND_PER_TENSOR: Final[int]
    KIND_PER_CHANNEL: Final[int]
    KIND_FLOAT16: Final[int]
    KIND_DYNAMIC: Final[int]
    KIND_FLOAT: Final[int]
    SIGNAL: Final[int]
    LOCAL_ERROR: Final[int]
    ACCUMULATED_ERROR: Final[int]
    ELEMENTS: Final[int]
    DIVERGED: Final[int]
    CALLS: Final[int]
    STATS: Final[int]

    references: List[torch.Tensor]

    def __init__(self) -> None:
        super().__init__()
        for name in self.__annotations__:
            if name.isupper():
                setattr(self, name, globals()[name])
        self.kind = self.KIND_FLOAT
        self.mode = self.FLOAT
        self.quantize = True
        self.weight = False
        self.scale = torch.ones(1)
        self.zero_point = torch.zeros(1, dtype=torch.int32)
        self.quant_min = 0
        self.quant_max = 255
        self.ch_axis = 0
        self.reduce_range = False
        self.references = []
        self.cursor = 0
        self.stats = torch.zeros(self.STATS, dtype=torch.float64)

    def quantized(self, x: torch.Tensor) -> torch.Tensor:
        if not x.is_floating_point():
            return x
        if self.kind == self.KIND_PER_TENSOR:
            return torch.fake_quantize_per_tensor_affine(
                x, self.scale, self.zero_point, self.quant_min, self.quant_max)
        if self.kind == self.KIND_PER_CHANNEL:
            return torch.fake_quantize_per_channel_affine(
                x, self.scale, self.zero_point, self.ch_axis, self.quant_min, self.quant_max)
        if self.kind == self.KIND_FLOAT16:
            return x.to(torch.float16).to(x.dtype)
        if self.kind == self.KIND_DYNAMIC:
            scale, zero_point = torch._choose_qparams_per_tensor(x, self.reduce_range)
            return torch.fake_quantize_per_tensor_affine(
                x, scale, zero_point, self.quant_min, self.quant_max)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == self.FLOAT:
            return x
        if self.mode == self.SIMULATE:
            return self.quantized(x) if self.quantize else x
        if self.mode == self.REFERENCE:
            error = self.quantized(x) - x
            self.stats[self.SIGNAL] += _squares(x)
            self.stats[self.LOCAL_ERROR] += _squares(error)
            self.stats[self.ELEMENTS] += x.numel()
            self.stats[self.CALLS] += 1
            if not self.weight:
                self.references.append(x.detach().clone())
            return x
        y = self.quantized(x) if self.quantize else x
        if self.weight:  # a parameter has nothing upstream: its float value is x itself
            self.stats[self.ACCUMULATED_ERROR] += _squares(y - x)
            return y
        if self.cursor < len(self.references) and \
                self.references[self.cursor].shape == y.shape:
            self.stats[self.ACCUMULATED_ERROR] += _squares(y - self.references[self.cursor])
            self.references[self.cursor] = torch.empty(0)
        else:
            self.stats[self.DIVERGED] += 1
        self.cursor += 1
        if self.cursor >= len(self.references):
            self.references = []
            self.cursor = 0
        return y


def _squares(t: torch.Tensor) -> torch.Tensor:
    norm = torch.linalg.vector_norm(t.detach()).double()
    return norm * norm


@cache
def scripted_template() -> torch.jit.ScriptModule:
    """One scripted QuantSim; every site gets a deep copy, so all share its class type."""
    return torch.jit.script(QuantSim())
