"""What an observer module is configured to do and what it holds after calibration.

Observers in an observed TorchScript module are script objects: ``dtype`` and ``qscheme``
read back as the integers TorchScript stores (c10's ``ScalarType`` and ``QScheme``
numbering, fixed by the serialization format), and qparams come from the observer's own
exported ``calculate_qparams()``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import cached_property

import torch

SCALAR_TYPES = {
    0: torch.uint8,
    1: torch.int8,
    2: torch.int16,
    3: torch.int32,
    4: torch.int64,
    5: torch.float16,
    6: torch.float32,
    7: torch.float64,
    11: torch.bool,
    12: torch.qint8,
    13: torch.quint8,
    14: torch.qint32,
    15: torch.bfloat16,
    16: torch.quint4x2,
    17: torch.quint2x4,
}
QSCHEMES = {
    0: torch.per_tensor_affine,
    1: torch.per_channel_affine,
    2: torch.per_tensor_symmetric,
    3: torch.per_channel_symmetric,
    4: torch.per_channel_affine_float_qparams,
}
PER_CHANNEL_QSCHEMES = (
    torch.per_channel_affine,
    torch.per_channel_symmetric,
    torch.per_channel_affine_float_qparams,
)
# The integer range a quantized dtype stores: what quantize_per_tensor clamps to.
DTYPE_RANGES = {
    torch.quint8: (0, 255),
    torch.qint8: (-128, 127),
    torch.qint32: (-(2**31), 2**31 - 1),
    torch.uint8: (0, 255),
    torch.int8: (-128, 127),
    torch.quint4x2: (0, 15),
    torch.quint2x4: (0, 3),
}
FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32)

# How the converted model treats the value.
PER_TENSOR = "per_tensor"  # quantized with fixed per-tensor qparams
PER_CHANNEL = "per_channel"  # quantized with fixed per-channel qparams
DYNAMIC = "dynamic"  # quantized with qparams computed from each batch at run time
FLOAT16 = "float16"  # cast to float16 and back
UNQUANTIZED = "float"  # left float (an observer convert_jit does not quantize with)


def _attribute(module: torch._C.ScriptModule, name: str, default: object = None) -> object:
    return module.getattr(name) if module.hasattr(name) else default


def _enum(table: dict, value: object) -> object:
    return table.get(value, value) if isinstance(value, int) else value


@dataclass(frozen=True)
class ObserverConfig:
    class_name: str
    dtype: torch.dtype | None
    qscheme: torch.qscheme | None
    ch_axis: int | None
    quant_min: int | None
    quant_max: int | None
    is_dynamic: bool
    fake_quant: bool  # a FakeQuantize (QAT qconfigs): the observer is its activation_post_process

    @property
    def per_channel(self) -> bool:
        return self.qscheme in PER_CHANNEL_QSCHEMES

    @property
    def symmetric(self) -> bool:
        return self.qscheme in (torch.per_tensor_symmetric, torch.per_channel_symmetric)

    @property
    def signed(self) -> bool:
        return self.dtype in (torch.qint8, torch.int8, torch.qint32)

    def kind(self, role: str) -> str:
        if self.dtype in FLOAT_DTYPES:
            return FLOAT16 if self.dtype in (torch.float16, torch.bfloat16) else UNQUANTIZED
        if self.dtype not in DTYPE_RANGES:
            return UNQUANTIZED
        if self.is_dynamic and role == "activation":
            return DYNAMIC
        if self.class_name in ("PlaceholderObserver", "NoopObserver"):
            return UNQUANTIZED
        return PER_CHANNEL if self.per_channel else PER_TENSOR

    @property
    def dtype_range(self) -> tuple[int, int] | None:
        return DTYPE_RANGES.get(self.dtype)


class ObserverState:
    """One observer module, read after calibration."""

    def __init__(self, module: torch.jit.ScriptModule) -> None:
        self.module = module
        c = module._c
        self.fake_quant = c.hasattr("activation_post_process")
        # the object holding min/max (a FakeQuantize keeps them in its observer)
        self.holder = c.getattr("activation_post_process") if self.fake_quant else c
        qscheme = _enum(QSCHEMES, _attribute(c, "qscheme"))
        self.config = ObserverConfig(
            class_name=c._type().name(),
            dtype=_enum(SCALAR_TYPES, _attribute(c, "dtype")),
            qscheme=qscheme,
            ch_axis=_attribute(c, "ch_axis") if qscheme in PER_CHANNEL_QSCHEMES else None,
            quant_min=_attribute(c, "quant_min"),
            quant_max=_attribute(c, "quant_max"),
            is_dynamic=bool(_attribute(c, "is_dynamic", False)),
            fake_quant=self.fake_quant,
        )

    @cached_property
    def min_val(self) -> torch.Tensor | None:
        value = _attribute(self.holder, "min_val")
        return value.detach().clone() if isinstance(value, torch.Tensor) else None

    @cached_property
    def max_val(self) -> torch.Tensor | None:
        value = _attribute(self.holder, "max_val")
        return value.detach().clone() if isinstance(value, torch.Tensor) else None

    @cached_property
    def histogram(self) -> torch.Tensor | None:
        value = _attribute(self.holder, "histogram")
        return value.detach().clone() if isinstance(value, torch.Tensor) else None

    @cached_property
    def eps(self) -> float | None:
        value = _attribute(self.holder, "eps")
        if isinstance(value, torch.Tensor):
            return float(value.reshape(-1)[0])
        return float(value) if isinstance(value, float) else None

    @property
    def keeps_range(self) -> bool:
        return self.min_val is not None and self.max_val is not None

    @cached_property
    def saw_data(self) -> bool | None:
        """False when the observer holds its initial state; None when it keeps nothing."""
        if not self.keeps_range:
            return None
        low = self.min_val
        return bool(low.numel() > 0 and torch.isfinite(low).all())

    @cached_property
    def qparams(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """``calculate_qparams()``, or None for observers convert_jit takes none from."""
        if not self.module._c._has_method("calculate_qparams") or not self.keeps_range:
            return None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "must run observer before calculate_qparams"
            try:
                scale, zero_point = self.module.calculate_qparams()
            except (RuntimeError, torch.jit.Error):
                return None
        return scale.detach().clone(), zero_point.detach().clone()
