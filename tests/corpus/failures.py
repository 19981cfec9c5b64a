"""What the pass refuses, in the words the diagnosis quotes: one input under two qconfig
keys, and TorchScript objects as arguments, attributes or created in a method."""

from __future__ import annotations

import torch
from torch import nn
from torch.ao.quantization import default_qconfig, get_default_qconfig

from .builders import IMG, STATIC, _build, _qd, _tags
from .case_record import Case
from .torch_pass import MODULE_ACCESS_MSG, OBJECT_ARGUMENT_MSG, ONE_OBSERVER_MSG

# ---------------------------------------------------------------------------
# Qconfig keys and TorchScript objects the pass refuses (quoted by the diagnosis)
# ---------------------------------------------------------------------------


class SharedInputPair(nn.Module):
    """One input feeds two convs; given qconfigs under two keys, the pass finds two
    observer modules for that input."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 4, 1)
        self.b = nn.Conv2d(3, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.a(x) + self.b(x)


@torch.jit.script
class Offset:
    def __init__(self, value: float) -> None:
        self.value = value

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.value


class OffsetArgument(nn.Module):
    """A method that takes a TorchScript object, held by the module, as an argument."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.offset = Offset(0.5)

    @torch.jit.export
    def shifted(self, offset: Offset, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) + offset.value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shifted(self.offset, x)


class OffsetAttribute(nn.Module):
    """The same object read as an attribute of self: the pass skips what is no module."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.offset = Offset(0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.offset.apply(self.conv(x))


class OffsetCreated(nn.Module):
    """A TorchScript object created in the method: its calls cannot be traced to self."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return Offset(0.5).apply(self.conv(x))


# ---------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------


CASES: tuple[Case, ...] = (
    # --- qconfig keys and TorchScript objects the pass refuses ---
    Case(
        "shared_input_two_keys_same_qconfig",
        _build(SharedInputPair),
        _qd({"a": default_qconfig, "b": default_qconfig}),
        IMG,
        tags=_tags("qconfig_keys_conflict", "submodule_calls"),
        real_raises=ONE_OBSERVER_MSG,
    ),
    Case(
        "shared_input_two_keys_with_parent",
        _build(SharedInputPair),
        _qd({"": default_qconfig, "a": default_qconfig, "b": default_qconfig}),
        IMG,
        tags=_tags("qconfig_keys_conflict", "nested_qconfig_keys"),
        real_raises=ONE_OBSERVER_MSG,
    ),
    Case(
        "shared_input_two_keys_different_qconfigs",
        _build(SharedInputPair),
        _qd({"a": default_qconfig, "b": get_default_qconfig("fbgemm")}),
        IMG,
        tags=_tags("qconfig_keys_conflict", "per_channel"),
        real_raises=ONE_OBSERVER_MSG,
    ),
    Case(
        "shared_input_one_key",
        _build(SharedInputPair),
        _qd({"": default_qconfig, "b": None}),
        IMG,
        tags=_tags("qconfig_keys_conflict", "qconfig_none"),
    ),
    Case(
        "torchscript_object_argument_static",
        _build(OffsetArgument),
        STATIC,
        IMG,
        tags=_tags("torchscript_object", "method_other_than_forward"),
        real_raises=OBJECT_ARGUMENT_MSG,
    ),
    Case(
        "torchscript_object_attribute_static",
        _build(OffsetAttribute),
        STATIC,
        IMG,
        tags=_tags("torchscript_object", "conv"),
    ),
    Case(
        "torchscript_object_created_static",
        _build(OffsetCreated),
        STATIC,
        IMG,
        tags=_tags(
            "torchscript_object",
        ),
        real_raises=MODULE_ACCESS_MSG,
    ),
)
