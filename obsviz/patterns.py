"""The 44 delay-observation patterns of ``InsertObserversHelper`` and their matcher.

Every pattern is two ops, ``first`` then ``second`` (a ReLU in one of its spellings).
When the pair is found, the output of ``first`` is not observed; the output of
``second`` is observed instead (``delay_observation_map_[first] = second``).

Rows keep the C++ member names and order, with the filters each one lists. The
matcher follows ``SubgraphMatcher``: both nodes in one block, node kinds, input and
output counts and the ``name`` attribute (a regex) must match, and the intermediate
value must have exactly one use, the one inside the pattern.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch

from .rules import get_func_name, module_type_name


@dataclass(frozen=True)
class ModuleFilter:
    """One of helper.cpp's ``is_*_module`` filters: the module's unmangled qualified
    name (``getModuleName``) must be one of ``qualified_names``."""

    name: str
    qualified_names: tuple[str, ...]

    def accepts(self, value: torch._C.Value) -> bool:
        return module_type_name(value) in self.qualified_names


IS_RELU_MODULE = ModuleFilter("is_relu_module", ("__torch__.torch.nn.modules.activation.ReLU",))
IS_LINEAR_MODULE = ModuleFilter("is_linear_module", ("__torch__.torch.nn.modules.linear.Linear",))
IS_CONV1D_MODULE = ModuleFilter("is_conv1d_module", ("__torch__.torch.nn.modules.conv.Conv1d",))
IS_CONV2D_MODULE = ModuleFilter("is_conv2d_module", ("__torch__.torch.nn.modules.conv.Conv2d",))
IS_CONV3D_MODULE = ModuleFilter("is_conv3d_module", ("__torch__.torch.nn.modules.conv.Conv3d",))
# is_conv_transpose1d_module / is_conv_transpose2d_module are defined in helper.cpp too,
# but no delay pattern of InsertObservers uses them.
IS_BATCHNORM2D_MODULE = ModuleFilter(
    "is_batchnorm2d_module",
    (
        "__torch__.torch.nn.modules.batchnorm.BatchNorm2d",
        "__torch__.mobile_cv.arch.layers.batch_norm.NaiveSyncBatchNorm",
    ),
)
IS_BATCHNORM3D_MODULE = ModuleFilter(
    "is_batchnorm3d_module", ("__torch__.torch.nn.modules.batchnorm.BatchNorm3d",)
)


@dataclass(frozen=True)
class OpSpec:
    """One node of a pattern: its kind, input count and ``name`` attribute regex."""

    kind: str
    num_inputs: int
    method_regex: str | None = None


NN_FORWARD = OpSpec("prim::CallMethod", 2, "forward")
NN_RELU = OpSpec("prim::CallMethod", 2, r"forward\d*")
NN_RELU_EXACT = OpSpec("prim::CallMethod", 2, "forward")
F_RELU = OpSpec("prim::CallFunction", 3)
ATEN_RELU = OpSpec("aten::relu", 1)
ATEN_RELU_ = OpSpec("aten::relu_", 1)
ATEN_LINEAR = OpSpec("aten::linear", 3)
ADD = OpSpec("aten::add", 3)
ADD_ = OpSpec("aten::add_", 3)
MUL = OpSpec("aten::mul", 2)
MUL_ = OpSpec("aten::mul_", 2)


@dataclass(frozen=True)
class DelayPattern:
    """A fusion pattern whose intermediate value is observed later, after ``second``."""

    name: str
    first: OpSpec
    second: OpSpec
    first_module: ModuleFilter | None = None  # is_linear_module, is_conv2d_module, ...
    relu_module: bool = False  # is_relu_module
    functional_relu: bool = False  # is_functional_relu
    alpha_is_one: bool = False  # aten_add_alpha_is_one

    @property
    def filters(self) -> tuple[str, ...]:
        names = []
        if self.first_module:
            names.append(self.first_module.name)
        if self.alpha_is_one:
            names.append("aten_add_alpha_is_one")
        if self.relu_module:
            names.append("is_relu_module")
        if self.functional_relu:
            names.append("is_functional_relu")
        return tuple(names)


def _family(
    prefix: str,
    first: OpSpec,
    module: ModuleFilter | None = None,
    nn_relu: OpSpec = NN_RELU,
    alpha: bool = False,
) -> list[DelayPattern]:
    """The four spellings of ReLU after one first op, in the C++ order f, nn, aten, aten_."""
    return [
        DelayPattern(
            f"{prefix}_f_relu", first, F_RELU, module, functional_relu=True, alpha_is_one=alpha
        ),
        DelayPattern(
            f"{prefix}_nn_relu", first, nn_relu, module, relu_module=True, alpha_is_one=alpha
        ),
        DelayPattern(f"{prefix}_aten_relu", first, ATEN_RELU, module),
        DelayPattern(f"{prefix}_aten_relu_", first, ATEN_RELU_, module),
    ]


DELAY_PATTERNS: tuple[DelayPattern, ...] = tuple(
    _family("nn_linear", NN_FORWARD, IS_LINEAR_MODULE)
    + _family("aten_linear", ATEN_LINEAR)
    + _family("nn_conv1d", NN_FORWARD, IS_CONV1D_MODULE)
    + _family("nn_conv2d", NN_FORWARD, IS_CONV2D_MODULE)
    + _family("nn_conv3d", NN_FORWARD, IS_CONV3D_MODULE)
    + _family("add", ADD, alpha=True)
    + _family("inplace_add", ADD_, alpha=True)
    + _family("nn_bn2d", NN_FORWARD, IS_BATCHNORM2D_MODULE)
    + _family("nn_bn3d", NN_FORWARD, IS_BATCHNORM3D_MODULE)
    + _family("mul", MUL, nn_relu=NN_RELU_EXACT)
    + _family("inplace_mul", MUL_, nn_relu=NN_RELU_EXACT)
)

_BY_FIRST_KIND: dict[str, list[DelayPattern]] = {}
for _pattern in DELAY_PATTERNS:
    _BY_FIRST_KIND.setdefault(_pattern.first.kind, []).append(_pattern)
_SECOND_KINDS = frozenset(p.second.kind for p in DELAY_PATTERNS)


def _node_matches(spec: OpSpec, node: torch._C.Node) -> bool:
    if node.kind() != spec.kind or node.inputsSize() != spec.num_inputs:
        return False
    if node.outputsSize() != 1:
        return False
    attributes = node.attributeNames()
    if spec.method_regex is None:
        return not attributes
    return attributes == ["name"] and re.fullmatch(spec.method_regex, node.s("name")) is not None


def _is_int_constant(v: torch._C.Value, value: int) -> bool:
    return (
        v.node().kind() == "prim::Constant"
        and v.toIValue() == value
        and (v.type().kind() == "IntType")
    )


def _filters_pass(pattern: DelayPattern, first: torch._C.Node, second: torch._C.Node) -> bool:
    if pattern.first_module and not pattern.first_module.accepts(first.inputsAt(0)):
        return False
    if pattern.alpha_is_one and not _is_int_constant(first.inputsAt(2), 1):
        return False
    if pattern.relu_module and not IS_RELU_MODULE.accepts(second.inputsAt(0)):
        return False
    if pattern.functional_relu:
        fn = second.inputsAt(0)
        if fn.type().kind() != "FunctionType" or get_func_name(fn) != "relu":
            return False
    return True


def delay_pattern_candidate(second: torch._C.Node) -> tuple[DelayPattern, torch._C.Value] | None:
    """The pattern whose ``second`` op this node is, ignoring other uses of the
    intermediate value."""
    kind = second.kind()
    if kind not in _SECOND_KINDS:
        return None
    index = 0 if kind.startswith("aten::") else 1
    if second.inputsSize() <= index:
        return None
    intermediate = second.inputsAt(index)
    first = intermediate.node()
    candidates = _BY_FIRST_KIND.get(first.kind())
    if not candidates or first.owningBlock() != second.owningBlock():
        return None
    for pattern in candidates:
        if (
            _node_matches(pattern.second, second)
            and _node_matches(pattern.first, first)
            and _filters_pass(pattern, first, second)
        ):
            return pattern, intermediate
    return None


def match_delay_pattern(second: torch._C.Node) -> tuple[DelayPattern, torch._C.Value] | None:
    """The pattern whose ``second`` op is this node, with its intermediate value."""
    if second.kind() not in _SECOND_KINDS:
        return None
    candidate = delay_pattern_candidate(second)
    if candidate is None or len(candidate[1].uses()) != 1:
        return None
    return candidate
