"""The qconfigs a module can be given in the Explorer, by name, and how to write them in code.

The built-in choices are the usual ones of graph-mode quantization; any ``QConfig`` the
user passes (``qconfigs={"name": qconfig}``, or a value of the initial ``qconfig_dict``
that is none of the built-ins) becomes a named choice too.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ..errors import ObsvizError
from ..refs import display_path
from ..rules import DYNAMIC, STATIC
from ..torch_api import QConfig
from ..torch_api import quantization as tq

INHERIT = "inherit"
"""The choice of a module with no key of its own: it takes its parent's qconfig."""

NONE = "None"


@dataclass(frozen=True)
class Choice:
    """One qconfig a module can be given: its name, the object, and the code that makes it."""

    name: str
    qconfig: QConfig | None
    code: str  # a Python expression that evaluates to ``qconfig``
    imports: tuple[str, ...]  # names it needs from torch.ao.quantization
    description: str
    made_for: str | None = None  # the quant type it is meant for (None: not said)


def builtin_choices() -> list[Choice]:
    """The static, per-tensor, dynamic, per-channel dynamic, fp16 dynamic and None choices."""
    return [
        Choice(
            "static",
            tq.get_default_qconfig("fbgemm"),
            'get_default_qconfig("fbgemm")',
            ("get_default_qconfig",),
            "static, fbgemm: histogram activations, per-channel int8 weights",
            STATIC,
        ),
        Choice(
            "static per-tensor",
            tq.default_qconfig,
            "default_qconfig",
            ("default_qconfig",),
            "static: min/max activations, per-tensor int8 weights",
            STATIC,
        ),
        Choice(
            "dynamic",
            tq.default_dynamic_qconfig,
            "default_dynamic_qconfig",
            ("default_dynamic_qconfig",),
            "dynamic: per-tensor int8 weights",
            DYNAMIC,
        ),
        Choice(
            "dynamic per-channel",
            tq.per_channel_dynamic_qconfig,
            "per_channel_dynamic_qconfig",
            ("per_channel_dynamic_qconfig",),
            "dynamic: per-channel int8 weights",
            DYNAMIC,
        ),
        Choice(
            "dynamic fp16",
            tq.float16_dynamic_qconfig,
            "float16_dynamic_qconfig",
            ("float16_dynamic_qconfig",),
            "dynamic: float16 weights, no activations",
            DYNAMIC,
        ),
        Choice(NONE, None, "None", (), "no qconfig: nothing in the module is observed"),
    ]


class QConfigChoices:
    """The named qconfigs of one Explorer, in menu order (``inherit`` first)."""

    def __init__(self, named: Mapping[str, QConfig | None] | None = None) -> None:
        self._choices: dict[str, Choice] = {c.name: c for c in builtin_choices()}
        for name, qconfig in (named or {}).items():
            self.add(name, qconfig, f"qconfigs[{json.dumps(name)}]", "yours")

    def add(self, name: str, qconfig: QConfig | None, code: str, description: str) -> Choice:
        if not isinstance(name, str) or not name or name == INHERIT:
            raise ObsvizError(
                f"a qconfig's name must be a non-empty string other than {INHERIT!r}, got {name!r}"
            )
        if qconfig is not None and not isinstance(qconfig, QConfig):
            raise ObsvizError(
                f"qconfigs[{name!r}] must be a torch.ao.quantization.QConfig "
                f"or None, got {type(qconfig).__name__}"
            )
        choice = Choice(name, qconfig, code, (), description)
        self._choices[name] = choice
        return choice

    @property
    def names(self) -> tuple[str, ...]:
        return (INHERIT, *self._choices)

    def __getitem__(self, name: str) -> Choice:
        try:
            return self._choices[name]
        except KeyError:
            raise ObsvizError(
                f"no qconfig choice named {name!r}; the choices are "
                f"{', '.join(map(repr, self.names))}"
            ) from None

    def __contains__(self, name: object) -> bool:
        return name == INHERIT or name in self._choices

    def name_of(self, qconfig: QConfig | None, key: str) -> str:
        """The choice holding ``qconfig`` (the same object, or one that prints the same);
        a qconfig that is none of them becomes a new choice named after its key."""
        for choice in self._choices.values():
            if choice.qconfig is qconfig:
                return choice.name
        for choice in self._choices.values():
            if qconfig is not None and repr(choice.qconfig) == repr(qconfig):
                return choice.name
        name = f"yours ({display_path(key)})"
        self.add(
            name, qconfig, f"qconfigs[{json.dumps(name)}]", f"the QConfig qconfig_dict[{key!r}]"
        )
        return name

    def imports(self, names: Iterable[str]) -> list[str]:
        return sorted({i for name in names for i in self[name].imports})

    def needs_user_qconfigs(self, names: Iterable[str]) -> bool:
        return any(self[name].code.startswith("qconfigs[") for name in names)
