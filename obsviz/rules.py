"""The op lists and predicates of ``torch/csrc/jit/passes/quantization/helper.cpp``.

Each list keeps the C++ name without its leading underscore and the C++ order, so it
can be checked line by line against the torch version obsviz follows (2.13). Each
predicate is named after its C++ counterpart and takes the same arguments.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import torch

Node = torch._C.Node
Value = torch._C.Value

STATIC = "static"
DYNAMIC = "dynamic"

STATIC_QUANTIZABLE_CALL_FUNCS = (
    "conv2d",
    "linear",
    "batch_norm",
    "hardswish",
    "elu",
    "celu",
    "layer_norm",
    "group_norm",
    "instance_norm",
    "embedding_bag",
)
STATIC_QUANTIZABLE_ATEN_FUNCS = (
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "linear",
    "hardswish",
    "hardswish_",
    "elu",
    "elu_",
    "celu",
    "celu_",
    "batch_norm",
    "layer_norm",
    "group_norm",
    "instance_norm",
    "embedding_bag",
)
DYNAMIC_QUANTIZABLE_CALL_FUNCS = ("linear",)
DYNAMIC_QUANTIZABLE_ATEN_FUNCS = ("linear",)
STATIC_WEIGHT_ONLY_QUANT_ATEN_FUNCS = ("embedding_bag",)
STATIC_WEIGHT_ONLY_QUANT_CALL_FUNCS = ("embedding_bag",)

SINGLE_INPUT_GENERAL_SHAPE_CALL_FUNCS = (
    "_max_pool1d",
    "_max_pool2d",
    "_max_pool3d",
    "dropout",
    "relu",
)
SINGLE_INPUT_GENERAL_SHAPE_ATEN_FUNCS = (
    "max_pool1d",
    "max_pool2d",
    "max_pool3d",
    "flatten",
    "max",
    "min",
    "dropout",
    "reshape",
    "resize_",
    "chunk",
    "view",
    "transpose",
    "contiguous",
    "permute",
    "repeat",
    "repeat_interleave",
    "relu",
    "relu_",
    "squeeze",
    "squeeze_",
    "unsqueeze",
    "unsqueeze_",
    "detach",
    "detach_",
    "stack",
    "__getitem__",
)
SINGLE_INPUT_GENERAL_VALUE_CALL_FUNCS = (
    "avg_pool1d",
    "avg_pool2d",
    "avg_pool3d",
    "adaptive_avg_pool1d",
    "adaptive_avg_pool2d",
    "adaptive_avg_pool3d",
    "interpolate",
    "upsample",
    "upsample_bilinear",
    "upsample_nearest",
    "hardtanh",
    "leaky_relu",
)
SINGLE_INPUT_GENERAL_VALUE_ATEN_FUNCS = (
    "avg_pool1d",
    "avg_pool2d",
    "avg_pool3d",
    "adaptive_avg_pool1d",
    "adaptive_avg_pool2d",
    "adaptive_avg_pool3d",
    "mean",
    "upsample_nearest1d",
    "upsample_nearest2d",
    "upsample_nearest3d",
    "upsample_linear1d",
    "upsample_bilinear2d",
    "upsample_trilinear3d",
    "upsample_bicubic2d",
    "clamp",
    "hardtanh",
    "hardtanh_",
    "leaky_relu",
    "leaky_relu_",
)
CLAMP_FUNCS = ("hardtanh", "hardtanh_", "clamp")
FIXED_QPARAMS_ATEN_FUNCS = ("hardsigmoid", "hardsigmoid_", "sigmoid", "sigmoid_", "tanh", "tanh_")
OBSERVE_INPUTS_ATEN_FUNC: tuple[tuple[str, int], ...] = ()
OBSERVE_INPUTS_CALL_FUNC = (("batch_norm", 1),)
TENSOR_INFO_FUNCS = ("size", "len", "dim", "numel")
PROPAGATE_QUANT_SINGLE_INPUT_OPS = ("cat",)
PROPAGATE_QUANT_BINARY_OPS = ("add", "add_", "mul", "mul_")

# isWeight: (function name, argument index) for aten ops and for prim::CallFunction.
WEIGHT_ATEN_ARGS = (
    ("conv1d", 1),
    ("conv2d", 1),
    ("conv3d", 1),
    ("conv_transpose1d", 1),
    ("conv_transpose2d", 1),
    ("linear", 1),
    ("embedding_bag", 0),
)
WEIGHT_CALL_ARGS = (("linear", 2), ("embedding_bag", 2))
BIAS_ATEN_ARGS = (
    ("conv1d", 2),
    ("conv2d", 2),
    ("conv3d", 2),
    ("conv_transpose1d", 2),
    ("conv_transpose2d", 2),
    ("linear", 2),
)
BIAS_CALL_ARGS = (("linear", 3),)
EMBEDDING_BAG_NON_INPUT_ATEN_ARGS = (("embedding_bag", 2), ("embedding_bag", 6))


def _aten(names: Iterable[str]) -> frozenset[str]:
    return frozenset(f"aten::{name}" for name in names)


_STATIC_QUANTIZABLE_ATEN = _aten(STATIC_QUANTIZABLE_ATEN_FUNCS)
_DYNAMIC_QUANTIZABLE_ATEN = _aten(DYNAMIC_QUANTIZABLE_ATEN_FUNCS)
_WEIGHT_ONLY_ATEN = _aten(STATIC_WEIGHT_ONLY_QUANT_ATEN_FUNCS)
_SHAPE_ATEN = _aten(SINGLE_INPUT_GENERAL_SHAPE_ATEN_FUNCS)
_VALUE_ATEN = _aten(SINGLE_INPUT_GENERAL_VALUE_ATEN_FUNCS)
_FIXED_QPARAMS_ATEN = _aten(FIXED_QPARAMS_ATEN_FUNCS)
_PROPAGATE_SINGLE = _aten(PROPAGATE_QUANT_SINGLE_INPUT_OPS)
_PROPAGATE_BINARY = _aten(PROPAGATE_QUANT_BINARY_OPS)
_SINGLE_INPUT_GENERAL_CALL = frozenset(
    SINGLE_INPUT_GENERAL_SHAPE_CALL_FUNCS + SINGLE_INPUT_GENERAL_VALUE_CALL_FUNCS
)

TENSOR = torch._C.TensorType.get()
TENSOR_LIST = torch._C.ListType.ofTensors()
NUMBER = torch._C.NumberType.get()


# c10::ScalarType::Half; scripted observers hold their dtype as this enum's integer.
HALF_SCALAR_TYPE = 5


def is_half(dtype: object) -> bool:
    """Is an observer's ``dtype`` attribute ``at::ScalarType::Half``?"""
    return dtype == torch.float16 or dtype == HALF_SCALAR_TYPE


def get_func_name(func_value: Value) -> str:
    """``graph_rewrite_helper::getFuncName``: the last component of a function's name."""
    node = func_value.node()
    name = node.s("name") if node.hasAttribute("name") else ""
    return name.rsplit(".", 1)[-1]


def op_name(n: Node) -> str:
    """A node's op as users know it: ``aten::conv2d``, or ``linear()`` for a CallFunction."""
    if n.kind() == "prim::CallFunction":
        return f"{get_func_name(n.inputsAt(0))}()"
    return n.kind()


def is_tensor(v: Value) -> bool:
    return v.type().isSubtypeOf(TENSOR)


def is_tensor_or_tensor_list(v: Value) -> bool:
    t = v.type()
    return t.isSubtypeOf(TENSOR) or t.isSubtypeOf(TENSOR_LIST)


def is_function_node(n: Node, call_funcs: Iterable[str], aten_kinds: frozenset[str]) -> bool:
    """``isFunctionNode``: an aten op of the list, or a CallFunction of the list."""
    kind = n.kind()
    if kind in aten_kinds:
        return True
    return kind == "prim::CallFunction" and get_func_name(n.inputsAt(0)) in call_funcs


def match_aten_func_to_use(user: Node, offset: int, func: str, n: int | None) -> bool:
    """``matchAtenFuncToUse``."""
    return user.kind() == f"aten::{func}" and (n is None or n == offset)


def match_call_func_to_use(user: Node, offset: int, func: str, n: int | None) -> bool:
    """``matchCallFuncToUse``."""
    return (
        user.kind() == "prim::CallFunction"
        and get_func_name(user.inputsAt(0)) == func
        and (n is None or n == offset)
    )


UseInfo = tuple[Node, int, str]  # (user node, input offset, user kind)


def use_infos(v: Value) -> list[UseInfo]:
    """The uses of a value with their kinds, read once for several rules."""
    return [(use.user, use.offset, use.user.kind()) for use in v.uses()]


class ArgPattern:
    """``matchArgPattern``'s (function, argument index) lists, indexed for lookup."""

    def __init__(
        self, aten_func_args: Iterable[tuple[str, int]], call_func_args: Iterable[tuple[str, int]]
    ) -> None:
        self.aten: dict[str, frozenset[int]] = {}
        for func, index in aten_func_args:
            self.aten[f"aten::{func}"] = self.aten.get(f"aten::{func}", frozenset()) | {index}
        self.call: dict[str, frozenset[int]] = {}
        for func, index in call_func_args:
            self.call[func] = self.call.get(func, frozenset()) | {index}

    def matches(self, uses: list[UseInfo]) -> bool:
        for user, offset, kind in uses:
            offsets = self.aten.get(kind)
            if offsets is not None and offset in offsets:
                return True
            if kind == "prim::CallFunction" and self.call:
                offsets = self.call.get(get_func_name(user.inputsAt(0)))
                if offsets is not None and offset in offsets:
                    return True
        return False


WEIGHT = ArgPattern(WEIGHT_ATEN_ARGS, WEIGHT_CALL_ARGS)
BIAS = ArgPattern(BIAS_ATEN_ARGS, BIAS_CALL_ARGS)
EMBEDDING_BAG_NON_INPUT = ArgPattern(EMBEDDING_BAG_NON_INPUT_ATEN_ARGS, ())


def match_arg_pattern(
    v: Value,
    aten_func_args: Iterable[tuple[str, int]],
    call_func_args: Iterable[tuple[str, int]],
) -> bool:
    """``matchArgPattern``: some use of ``v`` is argument ``i`` of one of the functions."""
    return ArgPattern(aten_func_args, call_func_args).matches(use_infos(v))


def is_weight(v: Value, uses: list[UseInfo] | None = None) -> bool:
    """``isWeight``."""
    return WEIGHT.matches(use_infos(v) if uses is None else uses)


def is_bias_of_conv_or_linear(v: Value, uses: list[UseInfo] | None = None) -> bool:
    """``isBiasOfConvOrLinear``."""
    return BIAS.matches(use_infos(v) if uses is None else uses)


def is_embedding_bag_non_input(v: Value, uses: list[UseInfo] | None = None) -> bool:
    """``isEmbeddingBagNonInput``."""
    return EMBEDDING_BAG_NON_INPUT.matches(use_infos(v) if uses is None else uses)


def is_scalar(v: Value) -> bool:
    """``isScalar``: a number, or a constant 0-dim tensor."""
    t = v.type()
    if t.isSubtypeOf(NUMBER):
        return True
    if not t.isSubtypeOf(TENSOR) or v.node().kind() != "prim::Constant":
        return False
    iv = v.toIValue()
    return isinstance(iv, torch.Tensor) and iv.dim() == 0


def is_single_input_general_call_function(n: Node) -> bool:
    """``isSingleInputGeneralCallFunction``."""
    return (
        n.kind() == "prim::CallFunction"
        and get_func_name(n.inputsAt(0)) in _SINGLE_INPUT_GENERAL_CALL
    )


def is_propagate_quant_single_input_op(n: Node) -> bool:
    """``isPropagateQuantSingleInputOp``."""
    return n.kind() in _PROPAGATE_SINGLE


def is_propagate_quant_binary_op(n: Node) -> bool:
    """``isPropagateQuantBinaryOp``."""
    return n.kind() in _PROPAGATE_BINARY


def is_propagate_quant_op(n: Node) -> bool:
    """``isPropagateQuantOp``."""
    kind = n.kind()
    return kind in _PROPAGATE_SINGLE or kind in _PROPAGATE_BINARY


def is_binary_op_with_scalar_input(n: Node) -> bool:
    """``isBinaryOpWithScalarInput``."""
    return n.kind() in _PROPAGATE_BINARY and is_scalar(n.inputsAt(1))


def is_single_input_general_value_aten_function(n: Node) -> bool:
    """``isSingleInputGeneralValueAtenFunction``."""
    return n.kind() in _VALUE_ATEN or is_binary_op_with_scalar_input(n)


def is_single_input_general_aten_function(n: Node) -> bool:
    """``isSingleInputGeneralAtenFunction``."""
    kind = n.kind()
    return (
        kind in _SHAPE_ATEN
        or kind in _FIXED_QPARAMS_ATEN
        or is_single_input_general_value_aten_function(n)
    )


def is_weight_only_static_quant_op(n: Node) -> bool:
    """``isWeightOnlyStaticQuantOp``."""
    return is_function_node(n, STATIC_WEIGHT_ONLY_QUANT_CALL_FUNCS, _WEIGHT_ONLY_ATEN)


def node_quantizable(n: Node, quant_type: str = STATIC) -> bool:
    """``nodeQuantizable``; the quant type defaults to static as in ``helper.h``."""
    if quant_type == DYNAMIC:
        return is_function_node(n, DYNAMIC_QUANTIZABLE_CALL_FUNCS, _DYNAMIC_QUANTIZABLE_ATEN)
    return is_function_node(n, STATIC_QUANTIZABLE_CALL_FUNCS, _STATIC_QUANTIZABLE_ATEN)


def use_quantizable(user: Node, offset: int, quant_type: str) -> bool:
    """``useQuantizable``: is this use of a value an input the pass quantizes?"""
    if quant_type == STATIC:
        for func, index in OBSERVE_INPUTS_ATEN_FUNC:
            if match_aten_func_to_use(user, offset, func, None):
                return offset == index
        for func, index in OBSERVE_INPUTS_CALL_FUNC:
            if match_call_func_to_use(user, offset, func, None):
                return offset == index
    return node_quantizable(user, quant_type)


def user_defined_call_function(n: Node) -> bool:
    """``userDefinedCallFunction``: a CallFunction that is not a known functional."""
    if n.kind() != "prim::CallFunction":
        return False
    name = get_func_name(n.inputsAt(0))
    return name not in _SINGLE_INPUT_GENERAL_CALL and name not in STATIC_QUANTIZABLE_CALL_FUNCS


def always_raises_exception(block: torch._C.Block) -> bool:
    """``alwaysRaisesException``."""
    for n in block.nodes():
        kind = n.kind()
        if kind == "prim::RaiseException":
            return True
        if kind == "prim::If" and all(always_raises_exception(b) for b in n.blocks()):
            return True
    return False


PASS_THROUGH_KINDS = (
    _SHAPE_ATEN
    | _VALUE_ATEN
    | _FIXED_QPARAMS_ATEN
    | _PROPAGATE_BINARY
    | frozenset(
        {
            "prim::CallFunction",
            "aten::sort",
            "prim::If",
            "prim::ListUnpack",
            "prim::TupleUnpack",
            "prim::ListConstruct",
            "prim::TupleConstruct",
            "aten::append",
        }
    )
)


def get_pass_through_inputs(v: Value, kind: str | None = None) -> list[Value]:
    """``getPassThroughInputs``: values whose observed state ``v`` inherits."""
    n = v.node()
    kind = kind or n.kind()
    if kind not in PASS_THROUGH_KINDS:
        return []
    if kind == "prim::CallFunction":
        return [n.inputsAt(1)] if is_single_input_general_call_function(n) else []
    if is_single_input_general_aten_function(n) or (kind == "aten::sort" and v.offset() == 0):
        return [n.inputsAt(0)]
    if kind == "prim::If" and n.outputsSize() == 1:
        return [next(b.outputs()) for b in n.blocks() if not always_raises_exception(b)]
    if kind in ("prim::ListUnpack", "prim::TupleUnpack"):
        return [n.inputsAt(0)] if is_tensor(v) else []
    if kind == "prim::ListConstruct" and v.type().isSubtypeOf(TENSOR_LIST):
        return list(n.inputs())
    if kind == "prim::TupleConstruct":
        return [i for i in n.inputs() if is_tensor(i)]
    if kind == "aten::append":
        return list(n.inputs())
    return []


_TORCH_MANGLE = re.compile(r"\.___torch_mangle_\d+")


def remove_torch_mangle(name: str) -> str:
    """``removeTorchMangle``."""
    return _TORCH_MANGLE.sub("", name)


def module_type_name(v: Value) -> str | None:
    """``getModuleName``: the unmangled class name of a module-typed value."""
    t = v.type()
    if t.kind() != "ClassType":
        return None
    return remove_torch_mangle(t.qualified_name())
