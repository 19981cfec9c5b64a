"""Realistic models: the samples of :mod:`obsviz.samples` (resnet, mobilenet,
transformer encoder)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn
from torch.ao.quantization import default_qconfig

from .builders import DYNAMIC, FBGEMM, STATIC, _qd, _tags
from .case_record import Case

# ---------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------


def _sample_build(name: str) -> Callable[[], nn.Module]:
    def make() -> nn.Module:
        from obsviz import samples

        return samples.SAMPLES[name].build().eval()

    return make


def _sample_inputs(name: str) -> Callable[[], tuple[Any, ...]]:
    def make() -> tuple[Any, ...]:
        from obsviz import samples

        return tuple(samples.SAMPLES[name].example_inputs())

    return make


CASES: tuple[Case, ...] = (
    # --- realistic ---
    Case(
        "resnet_small_fbgemm",
        _sample_build("resnet_small"),
        FBGEMM,
        _sample_inputs("resnet_small"),
        tags=_tags(
            "realistic",
            "per_channel",
            "conv",
            "bn",
            "delay_bn_relu",
            "delay_add_relu",
            "nested_submodules",
            "if",
        ),
        convertible=True,
    ),
    Case(
        "resnet_small_nested_keys",
        _sample_build("resnet_small"),
        _qd({"": default_qconfig, "layer1.0.conv1": None, "layer2.0.downsample": None}),
        _sample_inputs("resnet_small"),
        tags=_tags("realistic", "nested_qconfig_keys", "qconfig_none"),
        convertible=True,
    ),
    Case(
        "mobilenet_v3_tiny_static",
        _sample_build("mobilenet_v3_tiny"),
        STATIC,
        _sample_inputs("mobilenet_v3_tiny"),
        tags=_tags("realistic", "conv", "hardswish", "fixed_qparams", "general_value"),
        convertible=True,
    ),
    Case(
        "transformer_encoder_dynamic",
        _sample_build("transformer_encoder"),
        DYNAMIC,
        _sample_inputs("transformer_encoder"),
        quant_type="dynamic",
        tags=_tags("realistic", "dynamic", "linear", "norms"),
        convertible=True,
    ),
    Case(
        "transformer_encoder_static",
        _sample_build("transformer_encoder"),
        STATIC,
        _sample_inputs("transformer_encoder"),
        tags=_tags("realistic", "linear", "norms", "pass_through"),
        convertible=True,
    ),
    Case(
        "resnet50_static",
        _sample_build("resnet50"),
        STATIC,
        _sample_inputs("resnet50"),
        tags=_tags("realistic", "conv", "bn", "linear", "shared_type_same_qconfig"),
        convertible=True,
    ),
)
