"""On-device PTQ (``InsertObserversForOnDevicePTQ``) on every corpus case the standard
pass completes: obsviz fails exactly where the real pass fails, quoting it, and
otherwise gives the same observed ``observe_<method>`` and ``reset_observers_<method>``."""

from __future__ import annotations

import pytest
import torch
from torch.ao.quantization.quantize_jit import script_qconfig_dict
from torch.jit._recursive import wrap_cpp_module

import obsviz

from .corpus import CASES, Case, script
from .oracle import assert_same_as_real

ON_DEVICE_CASES = [c for c in CASES if c.real_raises is None]


def _inlined_copy(c: Case) -> torch.jit.ScriptModule:
    """torch's on-device prepare inlines the method in place: a copy with its own types."""
    model = wrap_cpp_module(torch._C._hack_do_not_use_clone_module_with_class(script(c)._c, [], []))
    torch._C._jit_pass_inline(model._c._get_method(c.method_name).graph)
    return model


def _reset_calls(module: torch._C.ScriptModule, method: str) -> list[str]:
    graph = module._get_method(f"reset_observers_{method}").graph
    return [n.inputsAt(0).node().s("name") for n in graph.findAllNodes("prim::CallMethod")]


@pytest.mark.parametrize("c", ON_DEVICE_CASES, ids=lambda c: c.name)
def test_on_device_ptq_fails_where_torch_fails_and_otherwise_matches(c: Case) -> None:
    quant_type = 1 if c.quant_type == "static" else 0
    try:
        real = torch._C._jit_pass_insert_observer_method_for_ondevice_ptq(
            _inlined_copy(c)._c,
            c.method_name,
            script_qconfig_dict(c.qconfig_dict()),
            False,
            quant_type,
        )
        real_error = None
    except RuntimeError as err:
        real, real_error = None, str(err)
    model = _inlined_copy(c)
    if real_error is not None:
        with pytest.raises(obsviz.PassFailure) as raised:
            obsviz.insert_observers(
                model,
                c.qconfig_dict(),
                method_name=c.method_name,
                quant_type=c.quant_type,
                on_device=True,
            )
        assert raised.value.cpp_message and raised.value.cpp_message in real_error
        assert raised.value.module_path is not None and raised.value.value
        return
    run = obsviz.insert_observers(
        model, c.qconfig_dict(), method_name=c.method_name, quant_type=c.quant_type, on_device=True
    )
    observe = f"observe_{c.method_name}"
    assert_same_as_real(run.module, real, observe)
    assert run.module._c._has_method(f"reset_observers_{c.method_name}") == real._has_method(
        f"reset_observers_{c.method_name}"
    )
    if real._has_method(f"reset_observers_{c.method_name}"):
        assert len(_reset_calls(run.module._c, c.method_name)) == len(
            _reset_calls(real, c.method_name)
        )
