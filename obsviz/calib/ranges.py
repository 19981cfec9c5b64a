"""``cal.ranges``: one row per observer."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import pandas as pd
import torch

from .observers import PER_CHANNEL

if TYPE_CHECKING:
    from .calibration import Calibration
    from .sites import Site

VALUE_COLUMNS = ["module_path", "method", "value", "producer", "graph", "unique"]

COLUMNS = [
    *VALUE_COLUMNS,
    "observer",
    "role",
    "observer_class",
    "quantized_as",
    "dtype",
    "qscheme",
    "ch_axis",
    "min",
    "max",
    "channels",
    "channel_width_min",
    "channel_width_max",
    "scale",
    "zero_point",
    "batches",
    "calls",
]


def value_columns(cal: Calibration) -> dict[tuple[str, str, int], list]:
    """The run's names for each observed value (``run.tables``), when there is a run."""
    run = cal.run
    if run is None or not run.events:
        return {}
    values = run.tables.values
    wanted = {(s.module_path, s.method, s.unique) for s in cal.sites}
    found = {}
    for row in values[VALUE_COLUMNS].itertuples(index=False):
        key = (row.module_path, row.method, row.unique)
        if key in wanted:
            found[key] = list(row)
    return found


def channel_extremes(cal: Calibration, site: Site) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Per-channel (low, high): the observer's own (per-channel observers), the weight's
    along axis 0, or those recorded while calibrating (activations)."""
    state = cal.state(site)
    if state.config.per_channel and state.saw_data:
        return state.min_val, state.max_val
    weight = cal.weight(site)
    if weight is not None and weight.dim() >= 2:
        flat = weight.detach().reshape(weight.shape[0], -1)
        return flat.amin(dim=1), flat.amax(dim=1)
    record = cal.record(site)
    if record is not None and record.channel_low is not None:
        return record.channel_low, record.channel_high
    return None


def _number(t: torch.Tensor | None, reduce: str) -> float:
    if t is None or t.numel() == 0:
        return math.nan
    return float(t.min() if reduce == "min" else t.max())


def _qparam(t: torch.Tensor | None, per_channel: bool) -> object:
    if t is None:
        return None
    if per_channel:
        return t
    return t.item()


def site_row(cal: Calibration, site: Site, names: list | None) -> list:
    state = cal.state(site)
    config = state.config
    record = cal.record(site)
    kind = config.kind(site.role)
    low, high = _number(state.min_val, "min"), _number(state.max_val, "max")
    if not state.keeps_range or not state.saw_data:
        if record is not None and record.batches_seen:  # dynamic / placeholder observers
            low, high = record.seen_low, record.seen_high
        elif site.role == "weight" and cal.weight(site) is not None:
            weight = cal.weight(site)
            low, high = float(weight.min()), float(weight.max())
    extremes = channel_extremes(cal, site)
    widths = (extremes[1] - extremes[0]) if extremes is not None else None
    qparams = state.qparams if kind in (PER_CHANNEL, "per_tensor") else None
    per_channel = kind == PER_CHANNEL
    return [
        *(
            names
            or [site.module_path, site.method, site.value, site.producer, site.graph, site.unique]
        ),
        site.attribute,
        site.role,
        config.class_name,
        kind,
        str(config.dtype).removeprefix("torch.") if config.dtype is not None else "",
        str(config.qscheme).removeprefix("torch.") if config.qscheme is not None else "",
        config.ch_axis,
        low,
        high,
        int(widths.numel()) if widths is not None else None,
        _number(widths, "min"),
        _number(widths, "max"),
        _qparam(qparams[0] if qparams else None, per_channel),
        _qparam(qparams[1] if qparams else None, per_channel),
        record.batches_seen if record is not None else None,
        sum(record.calls) if record is not None else None,
    ]


def ranges_table(cal: Calibration) -> pd.DataFrame:
    names = value_columns(cal)
    rows = [site_row(cal, s, names.get((s.module_path, s.method, s.unique))) for s in cal.sites]
    frame = pd.DataFrame(rows, columns=COLUMNS)
    for column in ("ch_axis", "channels", "batches", "calls"):
        frame[column] = frame[column].astype("Int64")
    return frame
