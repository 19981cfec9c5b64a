"""Test isolation shared by every test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch.jit._recursive


@pytest.fixture(autouse=True, scope="module")
def fresh_torchscript_types() -> Iterator[None]:
    """Script each test module's models into class types of their own.

    TorchScript reuses a module class's compiled type across ``torch.jit.script`` calls,
    so a test that changes a graph in place (``_jit_pass_inline`` on ``model.forward``,
    an ``inplace=True`` pass) would change it for every later test scripting that class.
    """
    torch.jit._recursive.concrete_type_store = torch.jit._recursive.ConcreteTypeStore()
    yield
