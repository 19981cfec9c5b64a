"""Every colour, shape and line style of obsviz figures, and the legend that explains them.

Colours are the Okabe-Ito palette, which colour-blind readers can tell apart; each state
also differs in line width, dash pattern or arrowhead, so figures still read in print.
Labels are Graphviz HTML-like labels built only here, with every name HTML-escaped.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

FONT = "Helvetica,Arial,DejaVu Sans,sans-serif"
MONO = "DejaVu Sans Mono,Menlo,Consolas,monospace"
GREY = "#595959"

BLUE = "#0072B2"
SKY = "#56B4E9"
ORANGE = "#E69F00"
GREEN = "#009E73"
PURPLE = "#CC79A7"
VERMILION = "#D55E00"
LIGHT_BLUE = "#D6EAF8"


@dataclass(frozen=True)
class ValueStyle:
    """How an edge carrying a value in one state is drawn, and what the legend says."""

    legend: str
    color: str
    style: str = "solid"
    penwidth: float = 1.0
    arrowhead: str = "normal"
    sample: str = "────▶"  # the line drawn in the legend, in text

    def attrs(self) -> dict[str, str]:
        return {
            "color": self.color,
            "fontcolor": self.color if self.penwidth > 1 else GREY,
            "style": self.style,
            "penwidth": str(self.penwidth),
            "arrowhead": self.arrowhead,
        }


# The value states, in legend order. The keys are the documented state names that reason
# codes map onto (each reason's ``state`` in obsviz.reasons.REASONS, through
# obsviz.figures.states.state_of); edges carry class="state-<key>".
STATES: dict[str, ValueStyle] = {
    "observed": ValueStyle(
        "observed here, by the observer named on it", BLUE, "solid", 2.6, sample="━━━━▶"
    ),
    "call_site": ValueStyle(
        "observed across a call: at the call site, in the callee, or above",
        SKY,
        "bold,dotted",
        2.6,
        sample="• • • •▶",
    ),
    "delayed": ValueStyle(
        "delayed: the fused op's output is observed instead", ORANGE, "dashed", 2.2, sample="╍╍╍╍▶"
    ),
    "pass_through": ValueStyle(
        "observed because its inputs (or If branches) are",
        GREEN,
        "solid",
        1.8,
        "onormal",
        sample="────▷",
    ),
    "weight": ValueStyle(
        "weight, observed by the weight observer", PURPLE, "solid", 2.6, "diamond", sample="━━━━◆"
    ),
    "bias": ValueStyle(
        "bias: never observed", PURPLE, "dotted", 1.4, "odiamond", sample="· · · ·◇"
    ),
    "not_needed": ValueStyle("needs no observer", "#8C8C8C", "solid", 1.0),
    "not_visited": ValueStyle(
        "never looked at by the pass (a loop body, a branch that always raises)",
        "#8C8C8C",
        "dotted",
        1.0,
        "empty",
        sample="· · · ·▷",
    ),
    "not_reached": ValueStyle(
        "not reached yet at this step: decided later in the pass",
        "#C8C8C8",
        "dashed",
        1.0,
        "none",
        sample="─ ─ ─ ─ ",
    ),
}
PLAIN = ValueStyle("value", "#404040")

# The calibration overlay's sequential scale: viridis in five steps, stopped short of its
# pale yellow end so every step shows on white; readable without telling hues apart
# (dark to light), and by readers with any colour-vision deficiency.
RAMP = ("#440154", "#3B528B", "#21908C", "#27AD81", "#5DC863")


@dataclass(frozen=True)
class Shade:
    """An overlay on one observed value's edges: a ramp colour and a label line."""

    color: str
    note: str
    detail: str = ""


@dataclass(frozen=True)
class OverlayLegend:
    """The overlay's legend: a title and one (colour, what it means) row per step."""

    title: str
    steps: tuple[tuple[str, str], ...]


BOUNDARY = ValueStyle(
    "boundary: caller value → callee input, callee return → caller", GREY, "solid", 1.0, "empty"
)

GRAPH_ATTRS = {
    "fontname": FONT,
    "fontsize": "11",
    "nodesep": "0.22",
    "ranksep": "0.32",
    "outputorder": "edgesfirst",
    "bgcolor": "white",
}
NODE_ATTRS = {
    "fontname": FONT,
    "fontsize": "11",
    "shape": "box",
    "style": "rounded",
    "margin": "0.10,0.04",
    "height": "0.3",
    "penwidth": "1.0",
}
EDGE_ATTRS = {"fontname": FONT, "fontsize": "9", "arrowsize": "0.7", "color": "#404040"}

# Node roles. Each node of a figure carries class="<role>".
NODES: dict[str, dict[str, str]] = {
    "op": {"shape": "box", "style": "rounded"},
    "call": {"shape": "component", "style": "filled", "fillcolor": "#F2F2F2"},
    "observer": {
        "shape": "octagon",
        "style": "filled,bold",
        "fillcolor": LIGHT_BLUE,
        "color": BLUE,
        "penwidth": "2",
        "margin": "0,0",
    },
    # what a qconfig change did (the Explorer's "changes" view)
    "observer_added": {
        "shape": "octagon",
        "style": "filled,bold",
        "fillcolor": "#D4EFDF",
        "color": GREEN,
        "penwidth": "2.5",
        "margin": "0,0",
    },
    "observer_removed": {
        "shape": "octagon",
        "style": "dashed,bold",
        "color": VERMILION,
        "fontcolor": VERMILION,
        "penwidth": "2",
        "margin": "0,0",
    },
    "param": {"shape": "cylinder", "style": "solid", "color": PURPLE, "height": "0.25"},
    "const": {"shape": "plain"},
    "input": {"shape": "invhouse", "style": "solid", "height": "0.25"},
    "return": {"shape": "house", "style": "solid", "height": "0.25"},
    "control": {"shape": "diamond", "style": "solid", "height": "0.3"},
    "merge": {"shape": "invtriangle", "style": "solid", "height": "0.2", "width": "0.3"},
    "stub": {"shape": "plain", "fontcolor": GREY},
}
MUTED = {"color": "#9E9E9E", "fontcolor": "#4D4D4D"}

NODE_LEGEND = {
    "observer": "observer inserted by the pass",
    "observer_added": "observer your last change added",
    "observer_removed": "observer your last change removed",
    "call": "submodule call, collapsed (depth= expands it)",
    "param": "parameter or attribute",
}
ROLE_SAMPLES = {
    "observer": "_observer_N",
    "observer_added": "+ new",
    "observer_removed": "− removed",
    "call": "module",
    "param": "weight",
}

CLUSTERS: dict[str, dict[str, str]] = {
    "module": {
        "style": "rounded,filled",
        "fillcolor": "#FAFAFA",
        "color": "#A6A6A6",
        "fontcolor": GREY,
        "labeljust": "l",
    },
    "block": {"style": "rounded,dashed", "color": "#A6A6A6", "fontcolor": GREY, "labeljust": "l"},
    "branch": {"style": "dotted", "color": "#A6A6A6", "fontcolor": GREY, "labeljust": "l"},
    "focus": {"style": "invis"},
}

FOCUS_PENWIDTH = 4.0
MAX_LABEL_CHARS = 38

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_QUALIFIED = re.compile(r"(?:__torch__\.)?(?:[A-Za-z_][\w]*\.)+(?=[A-Za-z_]\w*)")


def text(s: object) -> str:
    """Any string from a model, made safe inside an HTML-like label (and in SVG)."""
    s = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(s))
    return html.escape(s, quote=True)


def shorten(s: str, limit: int = MAX_LABEL_CHARS) -> str:
    return s if len(s) <= limit else s[: limit - 1] + "…"


def short_type(type_str: str) -> str:
    """``__torch__.torch.nn.modules.conv.___torch_mangle_3.Conv2d`` -> ``Conv2d``."""
    return _QUALIFIED.sub("", type_str)


def node_label(title: str, *lines: str, bold: bool = True) -> str:
    """An HTML-like label: a title line and smaller grey lines, all escaped."""
    head = f"<B>{text(title)}</B>" if bold else text(title)
    rest = [f'<FONT POINT-SIZE="9" COLOR="{GREY}">{text(line)}</FONT>' for line in lines if line]
    return "<" + "<BR/>".join([head, *rest]) + ">"


def edge_label(*lines: str) -> str:
    # A borderless padded cell keeps the text off the edge it labels.
    body = "<BR/>".join(text(line) for line in lines if line)
    return (
        f'<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="3">'
        f'<TR><TD BALIGN="LEFT">{body}</TD></TR></TABLE>>'
    )


def graph_label(
    title: str, states: list[str], roles: list[str], overlay: OverlayLegend | None = None
) -> str:
    """The figure's title (its first line bold) and legend, drawn above the graph so they
    take no part in its layout: a row per value state (a line sample and a sentence), per
    node role, and per step of the overlay's colour scale."""
    rows = []
    head, *more = title.split("\n") if title else [""]
    if head:
        rows.append(
            f'<TR><TD COLSPAN="2" ALIGN="LEFT"><FONT POINT-SIZE="13"><B>{text(head)}'
            "</B></FONT></TD></TR>"
        )
    rows += [f'<TR><TD COLSPAN="2" ALIGN="LEFT">{text(line)}</TD></TR>' for line in more]
    for state in states:
        value_style = STATES[state]
        rows.append(
            f'<TR><TD ALIGN="LEFT"><FONT COLOR="{value_style.color}">{value_style.sample}'
            f'</FONT></TD><TD ALIGN="LEFT">{text(value_style.legend)}</TD></TR>'
        )
    for role in roles:
        attrs = NODES[role]
        fill = attrs.get("fillcolor", "white")
        border = attrs.get("color", "#404040")
        rows.append(
            f'<TR><TD BORDER="1" COLOR="{border}" BGCOLOR="{fill}">{text(ROLE_SAMPLES[role])}'
            f'</TD><TD ALIGN="LEFT">{text(NODE_LEGEND[role])}</TD></TR>'
        )
    if overlay is not None:
        rows.append(f'<TR><TD COLSPAN="2" ALIGN="LEFT"><B>{text(overlay.title)}</B></TD></TR>')
        rows += [
            f'<TR><TD BGCOLOR="{color}"> </TD><TD ALIGN="LEFT">{text(meaning)}</TD></TR>'
            for color, meaning in overlay.steps
        ]
    if not rows:
        return ""
    return (
        '<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="1" CELLPADDING="2">'
        f"{''.join(rows)}</TABLE>>"
    )


def cluster_label(title: str, subtitle: str = "") -> str:
    sub = f' <FONT POINT-SIZE="9">{text(subtitle)}</FONT>' if subtitle else ""
    return f"<<B>{text(title)}</B>{sub}>"
