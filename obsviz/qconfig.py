"""QConfigs: checking the user's dict, scripting observers, and ``fillQConfigMap``."""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from .errors import ObsvizError, QConfigKeyWarning, warn
from .refs import join_path
from .torch_api import QConfig, internal_scripting


@dataclass(frozen=True)
class ScriptedQConfig:
    """One qconfig_dict entry with its observers scripted, as ``script_qconfig`` does.

    The C++ pass tells qconfigs apart by the identity of these scripted modules, and
    every dict entry is scripted on its own, so ``key`` identifies the qconfig.
    """

    key: str
    qconfig: QConfig
    activation: torch._C.ScriptModule
    weight: torch._C.ScriptModule

    def observer_for(self, role: str) -> torch._C.ScriptModule:
        return self.weight if role == "weight" else self.activation


@dataclass(frozen=True)
class ModuleQConfig:
    """What ``fillQConfigMap`` decided for one module instance."""

    path: str
    type_name: str
    qconfig: ScriptedQConfig | None
    explicit: bool

    @property
    def key(self) -> str | None:
        return self.qconfig.key if self.qconfig else None


def named_modules(
    module: torch._C.ScriptModule, prefix: str = ""
) -> Iterator[tuple[str, torch._C.ScriptModule]]:
    """Every module instance below and including ``module``, by dotted path, parents first."""
    yield prefix, module
    for name, child in named_children(module):
        yield from named_modules(child, join_path(prefix, [name]))


def named_children(module: torch._C.ScriptModule) -> list[tuple[str, torch._C.ScriptModule]]:
    """The direct submodules of a module, in attribute order."""
    return list(torch._C.ModuleDict(module).items())


def check_qconfig_dict(qconfig_dict: Mapping, module: torch._C.ScriptModule) -> None:
    """Reject what ``prepare_jit`` rejects, and warn about keys the pass ignores silently."""
    if not isinstance(qconfig_dict, Mapping):
        raise ObsvizError(
            f"qconfig_dict must be a dict of module path -> QConfig, got {type(qconfig_dict)}"
        )
    paths = [path for path, _ in named_modules(module)]
    for key, value in qconfig_dict.items():
        if not isinstance(key, str):
            raise ObsvizError(
                f"qconfig_dict should only contain names (str) as keys; got {key!r} "
                f"({type(key).__name__}). Use the dotted module path, e.g. 'layer1.0.conv1', "
                "or '' for the whole model."
            )
        if value is not None and not isinstance(value, QConfig):
            raise ObsvizError(
                f"qconfig_dict[{key!r}] must be a torch.ao.quantization.QConfig or None, "
                f"got {type(value).__name__}"
            )
        if key not in paths:
            close = difflib.get_close_matches(key, paths, n=3)
            hint = f" Closest module paths: {', '.join(repr(c) for c in close)}." if close else ""
            warn(
                f"qconfig_dict key {key!r} matches no submodule; the pass ignores it.{hint}",
                QConfigKeyWarning,
            )


# What torch's own observers warn when made with reduce_range (the default fbgemm qconfig
# is): a deprecation notice, no news on every run of the pass.
REDUCE_RANGE = (
    r"Please use quant_min and quant_max to specify the range for observers\.\s+"
    r"reduce_range will be deprecated"
)


@contextmanager
def quiet_observer_creation() -> Iterator[None]:
    """Silence torch's reduce_range deprecation while obsviz makes a qconfig's observers;
    any other warning they raise still reaches the user."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=REDUCE_RANGE, category=UserWarning)
        yield


def script_qconfig_dict(
    qconfig_dict: Mapping[str, QConfig | None],
) -> dict[str, ScriptedQConfig | None]:
    """``script_qconfig_dict``: instantiate and script each entry's observers."""
    scripted: dict[str, ScriptedQConfig | None] = {}
    for key, qconfig in qconfig_dict.items():
        if not qconfig:
            scripted[key] = None
            continue
        try:
            with internal_scripting(), quiet_observer_creation():
                activation = torch.jit.script(qconfig.activation())._c
                weight = torch.jit.script(qconfig.weight())._c
        except Exception as err:
            raise ObsvizError(
                f"cannot script the observers of qconfig_dict[{key!r}]: {err}"
            ) from err
        scripted[key] = ScriptedQConfig(key, qconfig, activation, weight)
    return scripted


def fill_qconfig_map(
    module: torch._C.ScriptModule,
    qconfig_dict: Mapping[str, ScriptedQConfig | None],
) -> dict[str, ModuleQConfig]:
    """``fillQConfigMap``: each instance takes its own key's qconfig, else its parent's."""
    result: dict[str, ModuleQConfig] = {}

    def visit(m: torch._C.ScriptModule, key: str, parent: ScriptedQConfig | None) -> None:
        explicit = key in qconfig_dict
        qconfig = qconfig_dict[key] if explicit else parent
        result[key] = ModuleQConfig(key, m._type().qualified_name(), qconfig, explicit)
        for name, child in named_children(m):
            visit(child, f"{key}.{name}" if key else name, qconfig)

    visit(module, "", None)
    return result


def describe_qconfig(qconfig: ScriptedQConfig | None) -> str:
    """A one-line summary: observer classes, dtypes and schemes."""
    if qconfig is None:
        return "None"
    return (
        f"activation={observer_summary(qconfig.activation)}, "
        f"weight={observer_summary(qconfig.weight)}"
    )


def observer_summary(observer: torch._C.ScriptModule) -> str:
    name = observer._type().qualified_name().rsplit(".", 1)[-1]
    parts = []
    for attr in ("dtype", "qscheme", "ch_axis"):
        if observer.hasattr(attr):
            parts.append(f"{attr}={observer.getattr(attr)}")
    return f"{name}({', '.join(parts)})"
