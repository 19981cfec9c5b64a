"""A generated 20,000-node model runs through the engine and matches the real pass."""

from __future__ import annotations

import pytest
import torch
from torch.ao.quantization import get_default_qconfig
from torch.ao.quantization.quantize_jit import script_qconfig_dict

import obsviz
from obsviz.placement import observer_placement


@pytest.mark.slow
def test_twenty_thousand_nodes_match_the_real_pass() -> None:
    model = obsviz.samples.load("resnet_deep")
    qconfig_dict = {"": get_default_qconfig("fbgemm")}
    run = obsviz.insert_observers(model, qconfig_dict)
    real = torch._C._jit_pass_insert_observers(
        model._c, "forward", script_qconfig_dict(qconfig_dict), False, 1)
    placement = observer_placement(run.module)
    assert placement == observer_placement(real)
    assert len(placement) > 1000  # one shared graph's observers count once per instance
    run.module(*obsviz.samples.SAMPLES["resnet_deep"].example_inputs())
