"""``ModuleCloneHelper``: copy the model, giving each qconfig group its own class type.

TorchScript shares one class type between module instances that look alike, and the
observers of a graph are inserted once per type. When instances of a type get
different qconfigs they must stop sharing it. The C++ helper keys new types by
(type, the instance's own qconfig); obsviz keys them by (type, the qconfig of every
module in the instance's subtree), which gives the same types wherever the C++ pass
succeeds and also handles qconfigs that differ only below the shared instance,
where the C++ pass fails with "... is not compatible with the type ... for the field".
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

import torch

from . import failures
from .graphs import access_path
from .qconfig import ModuleQConfig, named_children, named_modules
from .refs import join_path
from .torch_api import QConfig, internal_scripting

_clone_with_class = torch._C._hack_do_not_use_clone_module_with_class
# the attribute of the module holding the model while its class types are split, and
# the method the on-device pass is run on there
_HELD = "model"
_PROBE_METHOD = "probe"


def _attributes(module: torch._C.ScriptModule) -> list[tuple[str, object]]:
    return torch._C._jit_debug_module_iterators(module)["named_attributes"]


@dataclass(frozen=True)
class SplitGroup:
    """Instances of ``original_type`` that share one new type after cloning."""

    original_type: str
    new_type: str
    module_paths: tuple[str, ...]
    qconfig_key: str | None
    below: bool


def subtree_keys(
    root: torch._C.ScriptModule, qconfigs: Mapping[str, ModuleQConfig]
) -> dict[str, tuple]:
    """For each instance path, the key that decides which cloned type it gets."""
    keys: dict[str, tuple] = {}

    def visit(module: torch._C.ScriptModule, path: str) -> tuple:
        child_keys = tuple(
            (name, visit(child, join_path(path, [name]))) for name, child in named_children(module)
        )
        key = (module._type().qualified_name(), qconfigs[path].key, child_keys)
        keys[path] = key
        return key

    visit(root, "")
    return keys


def needs_split(root: torch._C.ScriptModule, keys: Mapping[str, tuple]) -> bool:
    by_type: dict[str, set[tuple]] = defaultdict(set)
    for key in keys.values():
        by_type[key[0]].add(key)
    return any(len(variants) > 1 for variants in by_type.values())


def clone_module(
    root: torch._C.ScriptModule,
    qconfigs: Mapping[str, ModuleQConfig],
    *,
    inplace: bool = False,
) -> tuple[torch._C.ScriptModule, list[SplitGroup]]:
    """Clone ``root`` with fresh class types; tensors are shared when ``inplace``.

    Where instances of one type need different types, torch's own ``ModuleCloneHelper``
    does the split (it is the only code that can rewrite method graphs onto new types).
    """
    keys = subtree_keys(root, qconfigs)
    split = needs_split(root, keys)
    cloned = _clone_with_class(_split_types(root, keys) if split else root, [], [])
    splits = _split_groups(root, cloned, keys, qconfigs) if split else []
    if inplace:
        _share_attributes(root, cloned)
    return cloned, splits


def _split_types(root: torch._C.ScriptModule, keys: Mapping[str, tuple]) -> torch._C.ScriptModule:
    """A copy of ``root`` (sharing its tensors) whose instances share a class type exactly
    when they share ``root``'s type and their subtree key.

    ``ModuleCloneHelper`` is reached only through the on-device pass, which needs a method
    to observe and leaves it, with its ``observe_`` copy, on the top module's type. So the
    pass runs on a holder module that owns ``root`` and has an empty probe method: given
    one placeholder qconfig per distinct key it inserts no observer, and ``root``'s copy
    comes out of the holder without a trace of the probe.
    """
    holder = torch._C.ScriptModule("__torch__.obsviz.SplitHolder", torch._C.CompilationUnit(), True)
    holder._register_attribute(_HELD, root._type(), root)
    holder._define(
        torch._C.ConcreteModuleType.from_jit_type(holder._type()),
        f"def {_PROBE_METHOD}(self) -> None:\n    return None\n",
        lambda name: None,
    )
    with internal_scripting():
        placeholder = torch.jit.script(torch.nn.Identity())._c
    sentinels: dict[tuple | None, QConfig] = {}

    def sentinel(key: tuple | None) -> QConfig:
        if key not in sentinels:
            marker = copy.deepcopy(placeholder)
            sentinels[key] = QConfig(activation=marker, weight=marker)
        return sentinels[key]

    qconfig_dict = {"": sentinel(None)}
    for path, key in keys.items():
        qconfig_dict[f"{_HELD}.{path}" if path else _HELD] = sentinel(key)
    split = torch._C._jit_pass_insert_observer_method_for_ondevice_ptq(
        holder, _PROBE_METHOD, qconfig_dict, True, 1
    )
    return split.getattr(_HELD)


def _split_groups(
    root: torch._C.ScriptModule,
    cloned: torch._C.ScriptModule,
    keys: Mapping[str, tuple],
    qconfigs: Mapping[str, ModuleQConfig],
) -> list[SplitGroup]:
    new_types = {path: m._type().qualified_name() for path, m in named_modules(cloned)}
    by_original: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for path, key in keys.items():
        by_original[key[0]][new_types[path]].append(path)
    groups = []
    for original_type, variants in by_original.items():
        if len(variants) < 2:
            continue
        own_keys = [qconfigs[paths[0]].key for paths in variants.values()]
        for new_type, paths in variants.items():
            own = qconfigs[paths[0]].key
            groups.append(
                SplitGroup(
                    original_type, new_type, tuple(paths), own, below=own_keys.count(own) > 1
                )
            )
    return groups


def _share_attributes(original: torch._C.ScriptModule, cloned: torch._C.ScriptModule) -> None:
    """Point every non-module attribute of ``cloned`` at the original's object."""
    children = {name for name, _ in named_children(original)}
    for name, value in _attributes(original):
        if name in children:
            _share_attributes(value, cloned.getattr(name))
        else:
            cloned.setattr(name, value)


def check_remap_types(root: torch._C.ScriptModule) -> None:
    """The checks ``ModuleCloneHelper::remapTypes`` makes on every method it clones.

    Children are cloned before their parent, and each class type once. A method may not
    take objects as arguments, and every ``CallMethod`` or ``GetAttr`` must be reached
    from ``self`` through attributes (``getModuleAccessPath``).
    """
    seen: set[str] = set()

    def visit(module: torch._C.ScriptModule, path: str) -> None:
        for name, child in named_children(module):
            visit(child, join_path(path, [name]))
        type_name = module._type().qualified_name()
        if type_name in seen:
            return
        seen.add(type_name)
        for method_name in module._method_names():
            graph = module._get_method(method_name).graph
            self_value, *arguments = graph.inputs()
            for value in arguments:
                if value.type().kind() == "ClassType":
                    raise failures.object_argument(path, method_name, value)
            _check_access_paths(graph.block(), self_value, path, method_name)

    visit(root, "")


def _check_access_paths(
    block: torch._C.Block, self_value: torch._C.Value, path: str, method_name: str
) -> None:
    for node in block.nodes():
        if node.kind() in ("prim::CallMethod", "prim::GetAttr"):
            _, value = access_path(node.inputsAt(0))
            if value.unique() != self_value.unique():
                raise failures.module_access_path(path, method_name, node, value, self_value)
        for sub in node.blocks():
            _check_access_paths(sub, self_value, path, method_name)
