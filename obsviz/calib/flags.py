"""``cal.flags``: what looks wrong in the calibrated observers, why it matters, what to do.

Each check reads what the observers hold (and, when calibrated through obsviz, what the
recorders saw batch by batch and channel by channel); the thresholds are in
:data:`THRESHOLDS`, in quantization levels where that is what matters.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

from ..refs import display_path, value_label
from .observers import DYNAMIC, FLOAT16, PER_CHANNEL, PER_TENSOR

if TYPE_CHECKING:
    import pandas as pd

    from .calibration import Calibration
    from .sites import Site

SEVERITIES = ("error", "warning", "info")

THRESHOLDS = {
    # a channel this many times wider than the median channel dominates a per-tensor range
    "channel_ratio": 50.0,
    # the central 99.9% of a histogram spanning fewer levels than this: outliers set the range
    "bulk_levels": 16.0,
    "bulk_mass": 0.999,
    # one batch's extreme this many times the median batch's: that batch sets the range
    "batch_ratio": 10.0,
    "min_batches": 4,
    # weight channels under a per-tensor qscheme: widest over median channel
    "weight_channel_ratio": 10.0,
    # a range not reaching zero wastes the share of levels between zero and it
    "zero_waste": 0.5,
}


@dataclass(frozen=True)
class Flag:
    """One finding about one observer."""

    kind: str
    severity: str
    module_path: str
    method: str
    value: str
    observer: str
    role: str
    message: str  # what is wrong and why it matters
    fix: str
    details: dict = field(default_factory=dict, compare=False)

    @property
    def where(self) -> str:
        return f"{value_label(self.module_path, self.method, self.value)} ({self.observer})"

    def __str__(self) -> str:
        return f"[{self.severity}] {self.kind} at {self.where}: {self.message}\n    fix: {self.fix}"


class Flags(tuple):
    """The flags of a calibration, errors first; ``.table`` as a DataFrame."""

    def of(self, kind: str) -> list[Flag]:
        return [f for f in self if f.kind == kind]

    @property
    def table(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame(
            [
                [
                    f.kind,
                    f.severity,
                    f.module_path,
                    f.method,
                    f.value,
                    f.observer,
                    f.role,
                    f.message,
                    f.fix,
                ]
                for f in self
            ],
            columns=[
                "kind",
                "severity",
                "module_path",
                "method",
                "value",
                "observer",
                "role",
                "message",
                "fix",
            ],
        )

    def __str__(self) -> str:
        if not self:
            return "no flags: every observer saw data and its range looks usable"
        return "\n".join(map(str, self))

    def __repr__(self) -> str:
        return f"<obsviz Flags: {len(self)}>\n{self}"


def _module_hint(site: Site) -> str:
    return (
        f'qconfig_dict["{site.module_path}"] = None'
        if site.module_path
        else "a qconfig of None for the module that computes it"
    )


class _Checker:
    def __init__(self, cal: Calibration, site: Site, row: dict) -> None:
        self.cal = cal
        self.site = site
        self.row = row
        self.state = cal.state(site)
        self.config = self.state.config
        self.kind = self.config.kind(site.role)
        self.record = cal.record(site)

    def flag(self, kind: str, severity: str, message: str, fix: str, **details) -> Flag:
        s = self.site
        return Flag(
            kind,
            severity,
            s.module_path,
            s.method,
            str(self.row["value"]),
            s.attribute,
            s.role,
            message,
            fix,
            details,
        )

    # ---------------------------------------------------------------- the checks
    def checks(self) -> Iterator[Flag]:
        if self.kind in (FLOAT16,):
            return
        no_data = self.no_data()
        if no_data is not None:
            yield no_data
            return
        if self.kind not in (PER_TENSOR, PER_CHANNEL) or self.state.qparams is None:
            yield from self.partial_data()
            return
        yield from self.degenerate()
        clamped = self.scale_at_eps()
        if clamped is not None:
            yield clamped
        else:
            yield from self.outliers()
        yield from self.weight_channels()
        yield from self.signed_nonnegative()
        yield from self.far_from_zero()
        yield from self.partial_data()

    def no_data(self) -> Flag | None:
        recorded = self.record is not None and self.record.batches_seen == 0 and self.cal.batches
        if self.state.saw_data is False or recorded:
            branch = self.cal.branch_not_taken(self.site)
            if branch is not None:
                return self.flag(
                    "no_data",
                    "info",
                    f"this observer saw no data, and never will here: its value is computed "
                    f"only when {display_path(self.site.branch[0])}.{branch[0]} is {branch[1]}, "
                    f"and it is {branch[2]}; convert_jit's meaningless scale for it is "
                    "never used.",
                    "nothing to do; fold the branch with obsviz.fold_attribute_branches("
                    f"model, attributes=({branch[0]!r},)) before preparing to drop the "
                    "observer.",
                )
            scale = ""
            if self.state.qparams is not None:
                scale = (
                    f"; convert_jit will quantize it with scale "
                    f"{_short(self.state.qparams[0])} and zero point "
                    f"{_short(self.state.qparams[1])}, "
                    "which has nothing to do with its values"
                )
            when = (
                f"in any of the {self.cal.batches} calibration batches"
                if self.cal.batches
                else "during calibration"
            )
            return self.flag(
                "no_data",
                "error",
                f"this observer saw no data: its value never ran {when}{scale}.",
                "calibrate with inputs that take this path (a branch or a mode the batches "
                f"never reach), or keep it float with {_module_hint(self.site)}.",
            )
        return None

    def degenerate(self) -> Iterator[Flag]:
        low, high = self.row["min"], self.row["max"]
        if self.kind == PER_TENSOR and low == high:
            yield self.flag(
                "degenerate",
                "warning",
                f"every value it saw was {low:.6g} (min == max): the scale collapses to "
                f"{_short(self.state.qparams[0])}, so any other value saturates.",
                "calibrate with varied inputs; if the value really is constant (a mask, "
                f"a padding), keep it float with {_module_hint(self.site)}.",
                value=low,
            )

    def scale_at_eps(self) -> Flag | None:
        eps = self.state.eps
        scale = self.state.qparams[0].reshape(-1)
        low, high = self.row["min"], self.row["max"]
        if (
            eps is None
            or self.kind != PER_TENSOR
            or low == high
            or float(scale[0]) > eps * (1 + 1e-6)
        ):
            return None
        used = (high - low) / eps
        if used >= THRESHOLDS["bulk_levels"]:
            return None
        return self.flag(
            "scale_at_eps",
            "warning",
            f"its values span only [{low:.3g}, {high:.3g}]: the scale stops at the observer's "
            f"eps ({eps:.3g}), so the whole range gets {used:.1f} of the "
            f"{_levels(self.config)} levels and quantizes to almost nothing.",
            "such tiny activations usually mean vanishing values in the float model (check "
            "its normalization or initialization), or keep it float with "
            f"{_module_hint(self.site)}.",
            levels_used=used,
        )

    def outliers(self) -> Iterator[Flag]:
        if self.kind != PER_TENSOR:
            return
        scale = float(self.state.qparams[0].reshape(-1)[0])
        levels = _levels(self.config)
        found = (
            self._dominant_channel(scale, levels)
            or self._histogram_bulk(scale, levels)
            or self._dominant_batch(levels)
        )
        if found is not None:
            yield found

    def _dominant_channel(self, scale: float, levels: int) -> Flag | None:
        record = self.record
        if self.site.role != "activation" or record is None or record.channel_low is None:
            return None
        widths = (record.channel_high - record.channel_low).double()
        live = widths[widths > 0]
        if live.numel() < 2:
            return None
        median = float(live.median())
        widest = int(torch.argmax(widths))
        ratio = float(widths[widest]) / median
        if ratio < THRESHOLDS["channel_ratio"]:
            return None
        return self.flag(
            "outliers",
            "warning",
            f"channel {widest} (dim {record.channel_dim}) spans {ratio:.0f}x the median "
            f"channel's range and sets the per-tensor range alone: the median channel gets "
            f"{median / scale:.1f} of the {levels} quantization levels.",
            "find what makes that channel large (a layer whose weights or bias blew up, a "
            "missing normalization) and fix it in the float model; otherwise keep the "
            f"module float with {_module_hint(self.site)}.",
            channel=widest,
            ratio=ratio,
            median_levels=median / scale,
        )

    def _histogram_bulk(self, scale: float, levels: int) -> Flag | None:
        histogram = self.state.histogram
        if histogram is None or histogram.sum() <= 0:
            return None
        low, high = float(self.state.min_val), float(self.state.max_val)
        lo, hi = _central_interval(histogram, low, high, THRESHOLDS["bulk_mass"])
        used = (hi - lo) / scale
        if used >= THRESHOLDS["bulk_levels"]:
            return None
        share = 100 * THRESHOLDS["bulk_mass"]
        return self.flag(
            "outliers",
            "warning",
            f"{share:g}% of the values lie in [{lo:.4g}, {hi:.4g}], which gets {used:.1f} of "
            f"the {levels} levels: a few outliers out to [{low:.4g}, {high:.4g}] set the "
            "range, and the rest is quantized coarsely.",
            "clip the outliers in the float model (e.g. a bounded activation), or keep it "
            f"float with {_module_hint(self.site)}.",
            bulk=(lo, hi),
            levels_used=used,
        )

    def _dominant_batch(self, levels: int) -> Flag | None:
        record = self.record
        if record is None or self.state.histogram is not None:
            return None
        extremes = [
            max(abs(lo), abs(hi))
            for lo, hi, calls in zip(record.low, record.high, record.calls, strict=True)
            if calls
        ]
        if len(extremes) < THRESHOLDS["min_batches"]:
            return None
        ordered = sorted(extremes)
        median = ordered[len(ordered) // 2]
        worst = max(range(len(extremes)), key=extremes.__getitem__)
        if median <= 0 or extremes[worst] / median < THRESHOLDS["batch_ratio"]:
            return None
        ratio = extremes[worst] / median
        return self.flag(
            "outliers",
            "warning",
            f"one calibration batch reaches {extremes[worst]:.4g}, {ratio:.0f}x the median "
            f"batch's extreme: that batch alone sets the range, and the typical batch uses "
            f"about {levels / ratio:.0f} of the {levels} levels.",
            "look at that batch (an outlier input?) and drop it from calibration, or use "
            "a HistogramObserver (get_default_qconfig), which clips rare outliers.",
            batch=worst,
            ratio=ratio,
        )

    def weight_channels(self) -> Iterator[Flag]:
        if self.site.role != "weight" or self.kind != PER_TENSOR:
            return
        weight = self.cal.weight(self.site)
        if weight is None or weight.dim() < 2 or weight.shape[0] < 2:
            return
        reach = weight.detach().reshape(weight.shape[0], -1).abs().amax(dim=1).double()
        live = reach[reach > 0]
        if live.numel() < 2:
            return
        median = float(live.median())
        ratio = float(live.max()) / median
        if ratio < THRESHOLDS["weight_channel_ratio"]:
            return
        yield self.flag(
            "weight_channel_spread",
            "warning",
            f"its output channels' ranges differ by {ratio:.0f}x (widest over median) "
            f"under a per-tensor qscheme ({self.row['qscheme']}): one scale for all leaves "
            f"the median channel about {_levels(self.config) / ratio:.0f} levels.",
            "quantize weights per channel: get_default_qconfig('fbgemm') for static, "
            "per_channel_dynamic_qconfig for dynamic quantization.",
            ratio=ratio,
        )

    def signed_nonnegative(self) -> Iterator[Flag]:
        if not (self.config.signed and self.config.symmetric) or self.row["min"] < 0:
            return
        yield self.flag(
            "signed_nonnegative",
            "warning",
            f"a signed dtype ({self.row['dtype']}) with a symmetric qscheme observes a value "
            f"that is never negative (min {self.row['min']:.4g}): the negative half of the "
            "levels is never used, so it is quantized with one bit less.",
            "observe it with an unsigned dtype (torch.quint8) or an affine qscheme "
            "(torch.per_tensor_affine).",
        )

    def far_from_zero(self) -> Iterator[Flag]:
        if self.kind != PER_TENSOR:
            return
        low, high = self.row["min"], self.row["max"]
        if not (math.isfinite(low) and math.isfinite(high)) or low <= 0 <= high:
            return
        gap = min(abs(low), abs(high))
        wasted = gap / max(abs(low), abs(high))
        if wasted < THRESHOLDS["zero_waste"]:
            return
        yield self.flag(
            "range_excludes_zero",
            "info",
            f"its values lie in [{low:.4g}, {high:.4g}], but a quantized range must contain "
            f"zero: {100 * wasted:.0f}% of the levels cover [0, {gap:.4g}], where no value "
            "is.",
            "subtract the offset in the float model (normalize the input, or fold the "
            f"constant into the next layer), or keep it float with {_module_hint(self.site)}.",
            wasted=wasted,
        )

    def partial_data(self) -> Iterator[Flag]:
        record, batches = self.record, self.cal.batches
        if record is None or not batches or not 0 < record.batches_seen < batches:
            return
        yield self.flag(
            "partial_data",
            "info",
            f"its value ran in {record.batches_seen} of the {batches} calibration batches "
            "(a branch taken only sometimes): its range rests on those batches alone.",
            "make sure the calibration batches cover that path as the real inputs do.",
            batches_seen=record.batches_seen,
        )


def _levels(config) -> int:
    if config.quant_min is None or config.quant_max is None:
        return 256
    return int(config.quant_max) - int(config.quant_min) + 1


def _short(t: torch.Tensor) -> str:
    flat = t.reshape(-1)
    return f"{float(flat[0]):.4g}" if flat.numel() == 1 else f"{flat.numel()} values"


def _central_interval(
    histogram: torch.Tensor, low: float, high: float, mass: float
) -> tuple[float, float]:
    """The interval holding the central ``mass`` of a histogram over [low, high]."""
    counts = histogram.double()
    cumulative = torch.cumsum(counts, 0) / counts.sum()
    tail = (1 - mass) / 2
    width = (high - low) / counts.numel()
    first = int(torch.searchsorted(cumulative, torch.tensor(tail, dtype=torch.float64)))
    last = int(torch.searchsorted(cumulative, torch.tensor(1 - tail, dtype=torch.float64)))
    return low + first * width, low + (last + 1) * width


def find_flags(cal: Calibration) -> Flags:
    rows = cal.ranges.to_dict("records")
    found = [
        flag
        for site, row in zip(cal.sites, rows, strict=True)
        for flag in _Checker(cal, site, row).checks()
    ]
    found.sort(key=lambda f: SEVERITIES.index(f.severity))
    return Flags(found)


__all__ = ["DYNAMIC", "THRESHOLDS", "Flag", "Flags", "find_flags"]
