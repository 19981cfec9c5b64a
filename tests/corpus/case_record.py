"""The case record of the corpus.

A :class:`Case` is a small eager model plus the qconfig dict, inputs and quantization type a
user would hand to ``prepare_jit`` / ``prepare_dynamic_jit``, tagged with rule families from
:data:`TAGS`; :func:`script` builds and scripts its model, :func:`run_method` runs it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.ao.quantization import QConfig

QUANT_TYPES: dict[str, int] = {"dynamic": 0, "static": 1}

TAGS: frozenset[str] = frozenset(
    {
        "conv",
        "linear",
        "functional_linear",
        "matmul_linear",
        "bn",
        "delay_conv_relu",
        "delay_linear_relu",
        "delay_add_relu",
        "delay_mul_relu",
        "delay_bn_relu",
        "delay_blocked_by_other_use",
        "pass_through",
        "general_value",
        "fixed_qparams",
        "propagate_cat",
        "propagate_add_mul",
        "hardswish",
        "norms",
        "embedding_bag",
        "bias",
        "weights_reused",
        "submodule_calls",
        "nested_submodules",
        "shared_type_same_qconfig",
        "shared_type_diff_qconfig",
        "shared_type_split_below",
        "nested_qconfig_keys",
        "qconfig_none",
        "if",
        "nested_if",
        "if_raises",
        "if_inconsistent",
        "function_call",
        "function_needs_observer",
        "tuple_list",
        "fork_wait",
        "loop",
        "dynamic",
        "dynamic_fp16",
        "per_channel",
        "multiple_outputs",
        "graph_input_used_twice",
        "method_other_than_forward",
        "conv1d_conv3d",
        "conv_transpose",
        "realistic",
        "qconfig_keys_conflict",
        "torchscript_object",
        "type_names",
        "function_names",
        "fold_constants",
    }
)


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[], nn.Module]
    qconfig_dict: Callable[[], dict[str, QConfig | None]]
    example_inputs: Callable[[], tuple[Any, ...]]
    quant_type: str = "static"
    method_name: str = "forward"
    real_raises: str | None = None
    tags: frozenset[str] = frozenset()
    convertible: bool = False


def script(c: Case) -> torch.jit.ScriptModule:
    """Build the eager model deterministically and script it."""
    torch.manual_seed(0)
    return torch.jit.script(c.build())


def run_method(module: torch.jit.ScriptModule, c: Case) -> Any:
    """Call ``c.method_name`` on ``module`` with the case's example inputs."""
    with torch.no_grad():
        return getattr(module, c.method_name)(*c.example_inputs())
