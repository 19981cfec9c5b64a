"""Whether every submodule attribute of a module tree holds a value, read without crashing.

A class type can gain attributes after its instances were made: the pass adds an
observer attribute to a type while setting it on the one instance it walks. Every other
instance keeps a slot vector shorter than its type, and reading a missing slot (torch's
``getattr``, ``ModuleDict``, ``wrap_cpp_module``) reads past the vector's end: an error
("Can't convert InvalidTag") at best, a segmentation fault at worst. A shallow copy
(``Object::copy``) is sized to the type and copies only the slots the instance has, so
on the copy a missing slot reads ``None``; an attribute of module type never legitimately
holds ``None``.
"""

from __future__ import annotations

import torch

from .refs import join_path


def module_attribute_names(module: torch._C.ScriptModule) -> list[str]:
    """The attributes of module type its class type declares, read from the type alone."""
    concrete = torch._C.ConcreteModuleType.from_jit_type(module._type())
    return [name for name, _ in concrete.get_modules()]


def empty_module_slots(root: torch._C.ScriptModule) -> list[tuple[str, str]]:
    """``(module path, attribute)`` of each attribute of module type in the tree below
    ``root`` that holds no value; the tree is walked through sized copies only."""
    names_of_type: dict[str, list[str]] = {}
    empty = []
    stack = [("", root)]
    while stack:
        path, module = stack.pop()
        type_name = module._type().qualified_name()
        names = names_of_type.get(type_name)
        if names is None:
            names = names_of_type[type_name] = module_attribute_names(module)
        if not names:
            continue
        sized_to_its_type = module.__copy__()
        for name in reversed(names):
            child = sized_to_its_type.getattr(name)
            if child is None:
                empty.append((path, name))
            else:
                stack.append((join_path(path, [name]), child))
    return sorted(empty)
