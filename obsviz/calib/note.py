"""What a calibration adds to ``run.explain(...)``: the observer's range, qparams, error."""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from ..refs import value_label

if TYPE_CHECKING:
    from ..explain import Explanation
    from ..refs import ValueRef
    from .calibration import Calibration
    from .flags import Flag
    from .sites import Site


@dataclass(frozen=True)
class ObserverNumbers:
    """One observer's numbers after calibration, as an explanation shows them."""

    label: str  # module:method:%value of the observed value
    observer: str  # the observer's path in the observed module
    via: str  # "" when the value itself is observed, else the related value's role
    role: str
    observer_class: str
    dtype: str
    qscheme: str
    low: float
    high: float
    scale: object  # a float, or a tensor per channel (None when nothing is computed)
    zero_point: object
    batches: int | None
    error: dict | None  # sqnr/mse local and accumulated when cal.error(...) was measured
    flags: tuple[Flag, ...]

    def lines(self) -> list[str]:
        lead = f"calibrated observer {self.observer} on {self.label}"
        if self.via:
            lead += f" (the {self.via.replace('_', ' ')})"
        seen = f" over {self.batches} batches" if self.batches is not None else ""
        lines = [
            f"{lead}: {self.observer_class}, {self.dtype} {self.qscheme}",
            f"  range [{self.low:.6g}, {self.high:.6g}]{seen}",
            f"  scale {short_numbers(self.scale)}, zero_point {short_numbers(self.zero_point)}",
        ]
        if self.error is not None:
            e = self.error
            lines.append(
                f"  quantization error: SQNR {e['sqnr_local_db']:.2f} dB alone, "
                f"{e['sqnr_accumulated_db']:.2f} dB with every observer quantizing "
                f"(MSE {e['mse_local']:.3g} / {e['mse_accumulated']:.3g})"
            )
        else:
            lines.append("  quantization error: not measured (call cal.error(batches))")
        lines += [f"  flag [{f.severity}] {f.kind}: {f.message} Fix: {f.fix}" for f in self.flags]
        return lines

    def html(self) -> str:
        e = html.escape
        cells = [
            ("range", f"[{self.low:.6g}, {self.high:.6g}]"),
            ("scale", short_numbers(self.scale)),
            ("zero_point", short_numbers(self.zero_point)),
            ("observer", f"{self.observer_class}, {self.dtype} {self.qscheme}"),
        ]
        if self.batches is not None:
            cells.append(("batches", str(self.batches)))
        if self.error is not None:
            err = self.error
            cells += [
                ("SQNR alone", f"{err['sqnr_local_db']:.2f} dB"),
                ("SQNR with all", f"{err['sqnr_accumulated_db']:.2f} dB"),
                ("MSE alone / with all", f"{err['mse_local']:.3g} / {err['mse_accumulated']:.3g}"),
            ]
        rows = "".join(f"<tr><th>{e(k)}</th><td><code>{e(v)}</code></td></tr>" for k, v in cells)
        flags = "".join(
            f"<li><b>{e(f.severity)}</b> <code>{e(f.kind)}</code>: "
            f"{e(f.message)} <i>Fix:</i> {e(f.fix)}</li>"
            for f in self.flags
        )
        via = f" (the {e(self.via.replace('_', ' '))})" if self.via else ""
        return (
            f"<div class='obsviz-calibration'>Calibrated observer "
            f"<code>{e(self.observer)}</code> on <code>{e(self.label)}</code>{via}"
            f"<table>{rows}</table>{f'<ul>{flags}</ul>' if flags else ''}</div>"
        )


def short_numbers(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, torch.Tensor):
        values = value.flatten().tolist()
        shown = ", ".join(f"{v:.6g}" for v in values[:4])
        more = f", ... ({len(values)} channels)" if len(values) > 4 else ""
        return f"[{shown}{more}]"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def site_of(cal: Calibration, explanation: Explanation) -> tuple[Site, str] | None:
    """The observer behind an explained value: its own, or the one of the related value
    it relies on (a fused pattern's output, the caller's value, ...), with that role."""
    from ..explain import FOLLOW

    refs: list[tuple[str, ValueRef]] = [("", explanation.value)]
    refs += [(role, explanation.related[role]) for role in FOLLOW if role in explanation.related]
    for role, ref in refs:
        for site in cal.sites:
            if (site.module_path, site.method, site.unique) == (
                ref.module_path or "",
                ref.graph.method,
                ref.unique,
            ):
                return site, role
    return None


def observer_numbers(cal: Calibration, explanation: Explanation) -> ObserverNumbers | None:
    import pandas as pd

    found = site_of(cal, explanation)
    if found is None:
        return None
    site, via = found
    row = cal.ranges.iloc[cal.sites.index(site)]
    error = None
    if cal.last_error is not None:
        table = cal.last_error.table
        hit = table[table.observer == site.attribute]
        hit = hit[(hit.module_path == site.module_path) & (hit.method == site.method)]
        if len(hit):
            error = {
                k: float(hit.iloc[0][k])
                for k in ("sqnr_local_db", "sqnr_accumulated_db", "mse_local", "mse_accumulated")
            }
    flags = tuple(
        f
        for f in cal.flags
        if (f.module_path, f.method, f.observer) == (site.module_path, site.method, site.attribute)
    )
    batches = row["batches"]
    return ObserverNumbers(
        label=value_label(site.module_path, site.method, row["value"]),
        observer=site.observer_path,
        via=via,
        role=site.role,
        observer_class=row["observer_class"],
        dtype=row["dtype"],
        qscheme=row["qscheme"],
        low=float(row["min"]),
        high=float(row["max"]),
        scale=row["scale"],
        zero_point=row["zero_point"],
        batches=None if pd.isna(batches) else int(batches),
        error=None if error is None or any(math.isnan(v) for v in error.values()) else error,
        flags=flags,
    )
