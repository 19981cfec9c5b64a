"""``cal.plot(value, module=...)``: what one observer saw, drawn with matplotlib.

A histogram observer's histogram; per-channel ranges for weights (and for activations
whose channels were recorded); per-batch extremes when calibrated through obsviz; each
with the range its qparams cover. The figure renders inline in notebooks and as SVG.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import torch

from .observers import PER_CHANNEL, PER_TENSOR
from .ranges import channel_extremes

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from .calibration import Calibration
    from .sites import Site

# Okabe-Ito: distinguishable with every common colour-vision deficiency
BLUE, ORANGE, GREEN, VERMILLION, GREY = "#0072B2", "#E69F00", "#009E73", "#D55E00", "#999999"
MAX_BINS = 128  # a histogram observer's 2048 bins, summed for reading


class Plot:
    """A matplotlib figure that shows itself as SVG in notebooks and reports."""

    def __init__(self, figure: Figure, title: str) -> None:
        self.figure = figure
        self.title = title

    def svg(self) -> str:
        buffer = io.StringIO()
        self.figure.savefig(buffer, format="svg", bbox_inches="tight")
        return buffer.getvalue()

    def _repr_svg_(self) -> str:
        return self.svg()

    def save(self, path: str, **options: object) -> None:
        self.figure.savefig(path, bbox_inches="tight", **options)

    def __repr__(self) -> str:
        return f"<obsviz Plot: {self.title}>"


def quantization_range(cal: Calibration, site: Site) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The float range the qparams map onto the observer's quant_min..quant_max."""
    state = cal.state(site)
    qparams = state.qparams
    config = state.config
    if qparams is None or config.quant_min is None or config.quant_max is None:
        return None
    scale, zero_point = (t.double().reshape(-1) for t in qparams)
    return (config.quant_min - zero_point) * scale, (config.quant_max - zero_point) * scale


def plot_site(cal: Calibration, site: Site) -> Plot:
    from matplotlib.figure import Figure

    state = cal.state(site)
    config = state.config
    record = cal.record(site)
    kind = config.kind(site.role)
    panels = []
    if state.histogram is not None and state.saw_data:
        panels.append(_histogram)
    extremes = channel_extremes(cal, site)
    if extremes is not None:
        panels.append(_channels)
    if record is not None and record.batches_seen and site.role == "activation":
        panels.append(_batches)
    if not panels:
        panels.append(_nothing)
    figure = Figure(figsize=(7.5, 2.6 * len(panels)), layout="constrained")
    axes = figure.subplots(len(panels), 1, squeeze=False)[:, 0]
    for ax, panel in zip(axes, panels, strict=True):
        panel(ax, cal, site)
    title = (
        f"{cal.label(site)}  ({site.attribute}: {config.class_name}, "
        f"{str(config.dtype).removeprefix('torch.')}, {kind})"
    )
    figure.suptitle(title, fontsize=10)
    return Plot(figure, title)


def _quant_lines(ax: Axes, cal: Calibration, site: Site, vertical: bool) -> None:
    found = quantization_range(cal, site)
    if found is None or cal.state(site).config.kind(site.role) != PER_TENSOR:
        return
    low, high = float(found[0][0]), float(found[1][0])
    line = ax.axvline if vertical else ax.axhline
    line(low, color=VERMILLION, linestyle="--", linewidth=1, label="quantization range")
    line(high, color=VERMILLION, linestyle="--", linewidth=1)


def _histogram(ax: Axes, cal: Calibration, site: Site) -> None:
    state = cal.state(site)
    counts = state.histogram.double()
    if counts.numel() > MAX_BINS and counts.numel() % MAX_BINS == 0:
        counts = counts.reshape(MAX_BINS, -1).sum(dim=1)
    low, high = float(state.min_val), float(state.max_val)
    edges = torch.linspace(low, high, counts.numel() + 1, dtype=torch.float64)
    ax.stairs(counts.numpy(), edges.numpy(), fill=True, color=BLUE, alpha=0.8, label="histogram")
    ax.set_yscale("symlog", linthresh=1)
    ax.set_xlabel("value")
    ax.set_ylabel("count")
    _quant_lines(ax, cal, site, vertical=True)
    _legend(ax)


def _channels(ax: Axes, cal: Calibration, site: Site) -> None:
    from matplotlib.ticker import MaxNLocator

    low, high = channel_extremes(cal, site)
    channels = torch.arange(low.numel())
    ax.vlines(
        channels.numpy(),
        low.double().numpy(),
        high.double().numpy(),
        color=BLUE,
        linewidth=2,
        label="channel min..max",
    )
    found = quantization_range(cal, site)
    state = cal.state(site)
    if found is not None and state.config.kind(site.role) == PER_CHANNEL:
        ax.scatter(
            channels.numpy(),
            found[0].numpy(),
            marker="_",
            color=VERMILLION,
            s=30,
            label="quantization range",
        )
        ax.scatter(channels.numpy(), found[1].numpy(), marker="_", color=VERMILLION, s=30)
    else:
        _quant_lines(ax, cal, site, vertical=False)
    record = cal.record(site)
    dim = 0 if site.role == "weight" or record is None else record.channel_dim
    ax.set_xlabel(f"channel (dim {dim})")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("value")
    _legend(ax)


def _batches(ax: Axes, cal: Calibration, site: Site) -> None:
    from matplotlib.ticker import MaxNLocator

    record = cal.record(site)
    seen = [
        (i, lo, hi)
        for i, (lo, hi, calls) in enumerate(zip(record.low, record.high, record.calls, strict=True))
        if calls
    ]
    index = [i for i, _, _ in seen]
    ax.scatter(index, [lo for _, lo, _ in seen], color=GREEN, marker="v", label="batch min")
    ax.scatter(index, [hi for _, _, hi in seen], color=ORANGE, marker="^", label="batch max")
    _quant_lines(ax, cal, site, vertical=False)
    ax.set_xlabel("calibration batch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("value")
    _legend(ax)


def _nothing(ax: Axes, cal: Calibration, site: Site) -> None:
    ax.axis("off")
    ax.text(
        0.5,
        0.5,
        "this observer keeps no range, and nothing was recorded for it",
        ha="center",
        va="center",
        color=GREY,
    )


def _legend(ax: Axes) -> None:
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
