"""A generated 20,000-node model runs through the engine and matches the real pass."""

from __future__ import annotations

import pytest
from torch.ao.quantization import get_default_qconfig

import obsviz
from obsviz.placement import observer_placement

from .corpus import real_pass


@pytest.mark.slow
def test_twenty_thousand_nodes_match_the_real_pass() -> None:
    model = obsviz.samples.load("resnet_deep")
    qconfig_dict = {"": get_default_qconfig("fbgemm")}
    run = obsviz.insert_observers(model, qconfig_dict)
    real = real_pass(model, qconfig_dict)
    placement = observer_placement(run.module)
    assert placement == observer_placement(real)
    assert len(placement) > 1000  # one shared graph's observers count once per instance
    run.module(*obsviz.samples.SAMPLES["resnet_deep"].example_inputs())
