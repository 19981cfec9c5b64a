"""A run that records nothing pays nothing for recording.

With ``record=False`` and no hooks the engine gets a ``NullRecorder``. While the pass
runs, refs are made only for events (the run's maps make theirs when read), so a
``NullRecorder`` that makes one is doing the recording work of an event method it does
not override.
"""

from __future__ import annotations

import pytest

import obsviz
from obsviz.recorder import NullRecorder

from .corpus import case, script

# Calls into shared types, delay patterns and pass-through ops, an If, a function, a
# loop, dynamic quantization; and on device, where activation observers are removed.
CASES = (
    ("resnet_small_nested_keys", False),
    ("nested_if_static", False),
    ("function_twins_same_name_static", False),
    ("loop_between_convs_static", False),
    ("two_mlps_dynamic_diff_qconfig", False),
    ("conv_then_linear_dynamic", True),
)


@pytest.mark.parametrize(
    ("name", "on_device"),
    CASES,
    ids=[f"{name}{'-on_device' if on_device else ''}" for name, on_device in CASES],
)
def test_a_run_that_records_nothing_makes_no_refs(
    name: str, on_device: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    def ref(*args: object) -> None:
        raise AssertionError("the NullRecorder made a ref for an event it does not keep")

    monkeypatch.setattr(NullRecorder, "ref", ref)
    monkeypatch.setattr(NullRecorder, "key_ref", ref)
    c = case(name)
    run = obsviz.insert_observers(
        script(c),
        c.qconfig_dict(),
        method_name=c.method_name,
        quant_type=c.quant_type,
        record=False,
        on_device=on_device,
    )
    assert run.events == ()
    assert run.inserted, "the run's maps still list the observers inserted"
