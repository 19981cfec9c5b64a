"""The simulated quantized model: the observed module with each observer call replaced by
a :class:`QuantSim` holding that observer's frozen qparams.

The observers sit exactly where ``convert_jit`` puts its quantize/dequantize pairs, so
quantize->dequantize at each of them is the converted model's arithmetic up to the
rounding of its integer kernels. A QuantSim quantizes the way the converted model does:
``quantize_per_tensor`` / ``_per_channel`` clamp to the dtype's full integer range (the
observer's ``quant_min``/``quant_max`` only shape the scale); float16 values are cast and
cast back. A dynamic activation is measured at its observer but quantized, with qparams
from each batch (``_choose_qparams_per_tensor``, reduce_range as
``quantized::linear_dynamic`` does), at the input of each ``aten::linear`` whose weight is
observed: ``convert_dynamic_jit`` quantizes it per use, and leaves its other uses float.

Modes, set on every QuantSim before a pass:
``FLOAT`` returns values untouched (the float model); ``SIMULATE`` quantizes (the
simulated model); ``REFERENCE`` returns values untouched but keeps a copy of each and adds
the error quantizing it alone would make (the *local* error); ``QUANTIZED`` quantizes and
adds the distance of the result to the copy from the reference pass (the *accumulated*
error of every quantizing observer up to here), then drops the copy.
"""

import copy
from functools import cache
from typing import Final

import torch
from torch import nn
from torch.jit._recursive import wrap_cpp_module

from ..refs import join_path
from .observers import ObserverState
from .sites import quantize_linear_inputs, replace_observer_calls

# quantized::linear_dynamic chooses its input's qparams with reduce_range on (fbgemm)
DYNAMIC_REDUCE_RANGE = True
SIM_PREFIX = "_obsviz_sim"
DYNAMIC_INPUT_PREFIX = "_obsviz_dynamic_input"
STATISTICS = ("signal", "local_error", "accumulated_error", "elements", "calls", "diverged")

FLOAT = 0
SIMULATE = 1
REFERENCE = 2
QUANTIZED = 3

KIND_PER_TENSOR = 0
KIND_PER_CHANNEL = 1
KIND_FLOAT16 = 2
KIND_DYNAMIC = 3
KIND_FLOAT = 4


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

    references: list[torch.Tensor]

    def __init__(self) -> None:
        super().__init__()
        for name in self.__annotations__:
            if name.isupper():
                setattr(self, name, globals()[name])
        self.kind = self.KIND_FLOAT
        self.mode = self.FLOAT
        self.quantize = True  # off: this observer's value stays float
        self.measure = True  # off: quantize without statistics (a dynamic linear's input)
        self.transparent = False  # on: measure, but pass the value on unchanged
        self.weight = False
        self.scale = torch.ones(1)
        self.zero_point = torch.zeros(1, dtype=torch.int32)
        self.inverse_scale = torch.ones(1)  # per tensor: 1 / scale in float32, and
        self.offset = 0  # the zero point
        self.quant_min = 0
        self.quant_max = 255
        self.ch_axis = 0
        self.reduce_range = False
        self.references = []
        self.cursor = 0
        self.frozen = torch.empty(0)  # a weight's quantized value, computed once
        self.frozen_signal = 0.0  # and its sums of squares
        self.frozen_error = 0.0
        self.signal = 0.0  # sums of squares of float values (reference passes)
        self.local_error = 0.0  # ... of local errors
        self.accumulated_error = 0.0  # ... of accumulated errors (quantized passes)
        self.elements = 0  # elements compared (reference passes)
        self.calls = 0
        self.diverged = 0  # quantized calls with no matching reference (control flow changed)

    def quantized(self, x: torch.Tensor) -> torch.Tensor:
        if not x.is_floating_point():
            return x
        if self.frozen.numel() and self.frozen.shape == x.shape:
            return self.frozen
        if self.kind == self.KIND_PER_TENSOR:
            return self.per_tensor(x, self.scale, self.inverse_scale, self.offset)
        if self.kind == self.KIND_PER_CHANNEL:
            return torch.fake_quantize_per_channel_affine(
                x, self.scale, self.zero_point, self.ch_axis, self.quant_min, self.quant_max
            )
        if self.kind == self.KIND_FLOAT16:
            return x.to(torch.float16).to(x.dtype)
        if self.kind == self.KIND_DYNAMIC:
            scale, zero_point = torch._choose_qparams_per_tensor(x, self.reduce_range)
            scale_tensor = torch.tensor([scale], dtype=torch.float32)
            return self.per_tensor(x, scale_tensor, 1.0 / scale_tensor, zero_point)
        return x

    def per_tensor(
        self, x: torch.Tensor, scale: torch.Tensor, inverse_scale: torch.Tensor, zero_point: int
    ) -> torch.Tensor:
        """torch.fake_quantize_per_tensor_affine's arithmetic (round(x / scale) by the
        float32 inverse, clamp, scale back), in place on one new tensor: several times
        faster than the op, which also computes a gradient mask."""
        y = x * inverse_scale
        y.round_()
        y.clamp_(self.quant_min - zero_point, self.quant_max - zero_point)
        return y.mul_(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == self.FLOAT:
            return x
        if self.mode == self.REFERENCE:
            if self.measure:
                self.calls += 1
                self.elements += x.numel()
                if self.frozen.numel() and self.frozen.shape == x.shape:
                    self.signal += self.frozen_signal
                    self.local_error += self.frozen_error
                else:
                    self.signal += _squares(x)
                    self.local_error += _squares(self.quantized(x) - x)
                if not self.weight:
                    self.references.append(x.detach().clone())
            return x
        y = self.quantized(x) if self.quantize else x
        if self.mode == self.QUANTIZED and self.measure:
            self.accumulate(x, y)
        return x if self.transparent else y

    def accumulate(self, x: torch.Tensor, y: torch.Tensor) -> None:
        if self.weight:  # a parameter has nothing upstream: its float value is x itself
            if self.quantize and self.frozen.numel() and self.frozen.shape == x.shape:
                self.accumulated_error += self.frozen_error
            else:
                self.accumulated_error += _squares(y - x)
            return
        if self.cursor < len(self.references) and self.references[self.cursor].shape == y.shape:
            self.accumulated_error += _squares(y - self.references[self.cursor])
            self.references[self.cursor] = torch.empty(0)
        else:
            self.diverged += 1
        self.cursor += 1
        if self.cursor >= len(self.references):
            self.references = []
            self.cursor = 0


def _squares(t: torch.Tensor) -> float:
    norm = float(torch.linalg.vector_norm(t.detach()))
    return norm * norm


@cache
def scripted_template() -> torch.jit.ScriptModule:
    """One scripted QuantSim; every site gets a deep copy, so all share its class type."""
    return torch.jit.script(QuantSim())


_KINDS = {
    "per_tensor": KIND_PER_TENSOR,
    "per_channel": KIND_PER_CHANNEL,
    "float16": KIND_FLOAT16,
    "dynamic": KIND_DYNAMIC,
    "float": KIND_FLOAT,
}


def quant_simulator(state: ObserverState, role: str) -> torch.jit.ScriptModule:
    """A scripted QuantSim with the frozen qparams of one calibrated observer."""
    simulator = copy.deepcopy(scripted_template())
    c = simulator._c
    config = state.config
    kind = config.kind(role)
    qparams = state.qparams
    if kind in ("per_tensor", "per_channel") and qparams is None:
        kind = "float"
    c.setattr("kind", _KINDS[kind])
    c.setattr("weight", role == "weight")
    if config.dtype_range is not None:
        c.setattr("quant_min", config.dtype_range[0])
        c.setattr("quant_max", config.dtype_range[1])
    if kind in ("per_tensor", "per_channel"):
        scale, zero_point = qparams
        scale = scale.detach().to(torch.float32).reshape(-1)
        c.setattr("scale", scale)
        c.setattr("zero_point", zero_point.detach().to(torch.int32).reshape(-1))
        c.setattr("inverse_scale", 1.0 / scale)
        c.setattr("offset", int(zero_point.reshape(-1)[0]))
        if kind == "per_channel":
            c.setattr("ch_axis", int(config.ch_axis))
    if kind == "dynamic":  # measured here, quantized at each linear using it
        c.setattr("reduce_range", DYNAMIC_REDUCE_RANGE)
        c.setattr("transparent", True)
    return simulator


def freeze_weight(simulator: torch.jit.ScriptModule, weight: torch.Tensor) -> None:
    """Quantize a weight once: it is the same at every call, and per-channel
    fake-quantization costs as much as the conv using it."""
    with torch.no_grad():
        frozen = simulator.quantized(weight.detach()).contiguous()
        simulator._c.setattr("frozen", frozen)
        simulator._c.setattr("frozen_signal", float(weight.double().square().sum()))
        simulator._c.setattr("frozen_error", float((frozen - weight).double().square().sum()))


def share_frozen_weight(simulator: torch.jit.ScriptModule, source: torch._C.ScriptModule) -> None:
    """Take the weight another simulation quantized with the same qparams."""
    for name in ("frozen", "frozen_signal", "frozen_error"):
        simulator._c.setattr(name, source.getattr(name))


def dynamic_input_simulator(activation: ObserverState) -> torch.jit.ScriptModule:
    """Quantizes a dynamic linear's input, per batch, without statistics."""
    simulator = quant_simulator(activation, "activation")
    simulator._c.setattr("transparent", False)
    simulator._c.setattr("measure", False)
    return simulator


class Simulation:
    """A class clone of the calibrated module whose observer calls are QuantSims."""

    def __init__(
        self,
        module: torch.jit.ScriptModule,
        method: str,
        states: dict[str, ObserverState],
        roles: dict[str, str],
        weights: dict[str, torch.Tensor],
        frozen_weights: dict[str, torch._C.ScriptModule] | None = None,
    ) -> None:
        """``frozen_weights``: QuantSims of another simulation, by observer path here,
        whose quantized weights are the ones these observers would compute."""
        frozen_weights = frozen_weights or {}
        self.method = method
        self.module = wrap_cpp_module(
            torch._C._hack_do_not_use_clone_module_with_class(module._c, [], [])
        )
        self.simulators: dict[str, torch._C.ScriptModule] = {}

        def make(
            path: str, attribute: str, observer: torch._C.ScriptModule
        ) -> torch.jit.ScriptModule:
            key = join_path(path, [attribute])
            state = states.get(key) or ObserverState(wrap_cpp_module(observer))
            simulator = quant_simulator(state, roles.get(key, "activation"))
            if key in frozen_weights:
                share_frozen_weight(simulator, frozen_weights[key])
            elif key in weights:
                freeze_weight(simulator, weights[key])
            self.simulators[key] = simulator._c
            return simulator

        self.linear_inputs: dict[str, torch._C.ScriptModule] = {}

        def linear_input(
            path: str, attribute: str, observer: torch._C.ScriptModule
        ) -> torch.jit.ScriptModule | None:
            key = join_path(path, [attribute])
            if roles.get(key) != "weight" or not dynamic_activations:
                return None
            simulator = dynamic_input_simulator(dynamic_activations[0])
            self.linear_inputs[key] = simulator._c
            return simulator

        dynamic_activations = [
            state
            for key, state in states.items()
            if roles.get(key) == "activation" and state.config.kind("activation") == "dynamic"
        ]
        if dynamic_activations:
            quantize_linear_inputs(self.module._c, method, DYNAMIC_INPUT_PREFIX, linear_input)
        replace_observer_calls(self.module._c, method, SIM_PREFIX, make)
        self.forward = getattr(self.module, method)

    def set_mode(self, mode: int) -> None:
        for simulator in (*self.simulators.values(), *self.linear_inputs.values()):
            simulator.setattr("mode", mode)

    def quantize_only(self, paths: set[str] | None) -> None:
        """Quantize at these observers (every one when None); leave the others float.
        A dynamic linear's input is quantized when its weight is."""
        for table in (self.simulators, self.linear_inputs):
            for key, simulator in table.items():
                simulator.setattr("quantize", paths is None or key in paths)

    def reset(self) -> None:
        """Zero the statistics and drop references left by a pass that failed."""
        for simulator in self.simulators.values():
            for name in STATISTICS:
                simulator.setattr(name, type(simulator.getattr(name))(0))
            simulator.setattr("references", [])
            simulator.setattr("cursor", 0)

    def stats(self) -> dict[str, dict[str, float]]:
        return {
            key: {name: simulator.getattr(name) for name in STATISTICS}
            for key, simulator in self.simulators.items()
        }
