"""Figures: the structure of the DOT they hold, and real SVG laid out by Graphviz's dot.

Structure is read back from ``dot -Tjson0``, so every test also checks that dot parses
the DOT. Nodes carry ``class`` = their role (op, call, observer, ...); value edges carry
``class`` = "value state-<state>"; clusters carry ``class`` = "cluster-<role>".
"""

from __future__ import annotations

import json
import re
import textwrap
import warnings
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch
from torch.ao.quantization import get_default_qconfig

import obsviz
from obsviz.figures import (
    STATES,
    Figure,
    GraphvizNotFoundError,
    RenderError,
    TooManyNodesError,
    render_value,
)

from .corpus import CASES, case, script
from .required import require_dot


@pytest.fixture(autouse=True)
def _graphviz() -> None:
    require_dot()


SVG = "{http://www.w3.org/2000/svg}"


@dataclass
class Layout:
    """A figure as dot read it: nodes, edges and clusters with their attributes."""

    nodes: dict[str, dict] = field(default_factory=dict)
    edges: list[dict] = field(default_factory=list)
    clusters: dict[str, dict] = field(default_factory=dict)
    graph: dict = field(default_factory=dict)

    def role(self, role: str) -> list[dict]:
        return [n for n in self.nodes.values() if role in n.get("class", "").split()]

    def state(self, state: str) -> list[dict]:
        return [e for e in self.edges if f"state-{state}" in e.get("class", "").split()]

    def labelled(self, text: str) -> list[dict]:
        return [n for n in self.nodes.values() if text in n.get("label", "")]

    def edges_named(self, name: str) -> list[dict]:
        return [e for e in self.edges if f"%{name} :" in e.get("label", "")]

    def cluster_of(self, node: dict) -> list[str]:
        return [c["label"] for c in self.clusters.values() if node["name"] in c["members"]]


def layout(fig: Figure) -> Layout:
    data = json.loads(fig.pipe(format="json0", encoding="utf-8"))
    result = Layout(graph={k: v for k, v in data.items() if k != "objects"})
    by_id = {}
    for obj in data.get("objects", []):
        if "nodes" in obj or obj["name"].startswith("cluster"):
            continue
        result.nodes[obj["name"]] = obj
        by_id[obj["_gvid"]] = obj["name"]
    for obj in data.get("objects", []):
        if obj["name"].startswith("cluster"):
            members = {by_id[i] for i in obj.get("nodes", []) if i in by_id}
            result.clusters[obj["name"]] = dict(obj, members=members)
    for edge in data.get("edges", []):
        result.edges.append(dict(edge, tail=by_id[edge["tail"]], head=by_id[edge["head"]]))
    return result


@pytest.fixture(scope="module")
def resnet_run() -> obsviz.Run:
    model = obsviz.samples.load("resnet_small")
    return obsviz.insert_observers(model, {"": get_default_qconfig("fbgemm"), "fc": None})


# ------------------------------------------------------------------ any graph
def test_collapsed_top_level_has_one_call_node_per_submodule_call() -> None:
    fig = obsviz.render(obsviz.samples.load("resnet_small"))
    lay = layout(fig)
    calls = {n["label"].split("</B>")[0].removeprefix("<B>") for n in lay.role("call")}
    assert calls == {
        "conv1",
        "bn1",
        "relu",
        "maxpool",
        "layer1",
        "layer2",
        "layer3",
        "layer4",
        "avgpool",
        "fc",
    }
    assert [n["label"] for n in lay.role("op")] == [
        '<B>flatten</B><BR/><FONT POINT-SIZE="9" COLOR="#595959">1, -1</FONT>'
    ]
    assert len(lay.role("input")) == len(lay.role("return")) == 1
    assert not lay.clusters and not lay.role("const") and not lay.role("param")
    assert lay.edges_named("x.1")[0]["label"].count("Tensor") == 1


def test_constants_and_parameters_fold_unless_asked() -> None:
    conv = obsviz.samples.load("resnet_small").conv1
    folded = layout(obsviz.render(conv))
    assert not folded.role("param") and not folded.role("const")
    call = folded.labelled("_conv_forward")[0]
    assert "weight, bias" in call["label"]
    shown = layout(obsviz.render(conv, show_params=True, show_constants=True))
    assert {n["label"] for n in shown.role("param")} == {"weight", "bias"}
    assert shown.edges_named("weight") and shown.edges_named("bias")


def test_depth_expands_calls_into_clusters_joined_by_boundary_edges() -> None:
    model = obsviz.samples.load("resnet_small")
    lay = layout(obsviz.render(model, depth=1))
    labels = {c["label"] for c in lay.clusters.values()}
    assert any("layer1" in label and "Sequential.forward" in label for label in labels)
    layer1 = next(c for c in lay.clusters.values() if "<B>layer1</B>" in c["label"])
    boundary = [e for e in lay.edges if "boundary" in e.get("class", "").split()]
    into = [e for e in boundary if e["head"] in layer1["members"]]
    out_of = [e for e in boundary if e["tail"] in layer1["members"]]
    assert len(into) == 1 and into[0]["tail"] not in layer1["members"]
    assert len(out_of) == 1 and "%x.9 :" in out_of[0]["label"]  # the caller's value
    assert not any(
        n["name"] in layer1["members"] for n in lay.role("op") if "flatten" in n["label"]
    )
    deeper = layout(obsviz.render(model, depth=2))
    assert len(deeper.clusters) > len(lay.clusters)


def test_depth_expands_function_calls_and_marks_their_values() -> None:
    c = case("function_needs_observer_linear_static")
    model = script(c)
    collapsed = layout(obsviz.render(model))
    assert collapsed.labelled("linear_helper") and not collapsed.clusters
    run = obsviz.insert_observers(model, c.qconfig_dict())
    lay = layout(run.render(depth=1))
    function = next(cl for cl in lay.clusters.values() if "linear_helper()" in cl["label"])
    [linear] = [n for n in lay.role("op") if n["label"].startswith("<B>linear</B>")]
    assert linear["name"] in function["members"]
    assert not lay.labelled("linear_helper</B>")  # no collapsed call node left
    inside = [e for e in lay.edges if e["head"] == linear["name"] or e["tail"] == linear["name"]]
    assert inside and all("in_function:" in e["tooltip"] for e in inside)
    boundary = [e for e in lay.edges if "boundary" in e["class"].split()]
    assert {e["head"] in function["members"] for e in boundary} == {True, False}


def test_if_blocks_are_clusters_with_a_header_branches_and_merge() -> None:
    model = script(case("if_conv_static"))
    lay = layout(obsviz.render(model))
    roles = {c["class"]: [] for c in lay.clusters.values()}
    for c in lay.clusters.values():
        roles[c["class"]].append(c)
    (block,) = roles["cluster-block"]
    assert {c["label"] for c in roles["cluster-branch"]} == {"<B>then</B>", "<B>else</B>"}
    (header,) = lay.role("control")
    (merge,) = lay.role("merge")
    assert {header["name"], merge["name"]} <= block["members"]
    into_merge = [
        e
        for e in lay.edges
        if e["head"] == merge["name"] and e.get("class", "").startswith("value")
    ]
    assert sorted(e["label"].split(" :")[0][-4:] for e in into_merge) == ["%y.1", "%y.3"]
    assert [e["head"] for e in lay.edges if e["tail"] == merge["name"]] == [
        lay.labelled("conv3")[0]["name"]
    ]


def test_max_nodes_stops_an_unreadable_figure_and_says_how_to_narrow_it(
    resnet_run: obsviz.Run,
) -> None:
    with pytest.raises(TooManyNodesError) as err:
        resnet_run.render(depth=3, max_nodes=30)
    message = str(err.value)
    assert "max_nodes=30" in message
    assert "render(module='layer2')" in message  # the biggest child: it has a downsample
    assert "depth=2" in message
    assert "explain(" in message and "max_nodes=None" in message
    assert isinstance(err.value, obsviz.ObsvizError)
    assert resnet_run.render(depth=3, max_nodes=None).source


def test_render_rejects_what_it_cannot_draw(resnet_run: obsviz.Run) -> None:
    with pytest.raises(RenderError, match="cannot render a str"):
        obsviz.render("graph")
    with pytest.raises(RenderError, match="no submodule 'layer9'.*layer1"):
        resnet_run.render(module="layer9")
    with pytest.raises(RenderError, match="when must be one of"):
        resnet_run.render(when="later")
    assert obsviz.render(obsviz.samples.load("resnet_small").graph).source


# ------------------------------------------------------------------ a run's views
def test_after_draws_each_inserted_observer_as_an_observer_node(resnet_run: obsviz.Run) -> None:
    lay = layout(resnet_run.render(module="layer1.0"))
    observers = {n["label"].split("</B>")[0].removeprefix("<B>") for n in lay.role("observer")}
    assert observers == {"_observer_2", "_observer_3", "_observer_4", "_observer_5", "_observer_6"}
    for node in lay.role("observer"):
        (into,) = [e for e in lay.edges if e["head"] == node["name"]]
        assert "state-observed" in into["class"] and into["style"] == "solid"
        assert float(into["penwidth"]) > 2
    delayed = lay.state("delayed")
    assert len(delayed) == 2  # bn1 -> relu and add_ -> relu
    for edge in delayed:
        assert edge["style"] == "dashed"
        assert lay.nodes[edge["head"]]["label"].startswith("<B>relu</B>")
        (relu_out,) = [e for e in lay.edges if e["tail"] == edge["head"]]
        observed_instead = relu_out["label"].split(" :")[0].split(">")[-1]
        assert f"delayed → {observed_instead}<" in edge["label"]  # names of this graph
    assert "Legend" not in lay.graph["label"]  # the legend is rows, not a heading
    for text in ("observed here", "delayed", "observer inserted by the pass"):
        assert text in lay.graph["label"]
    assert "after InsertObservers" in lay.graph["label"]


@pytest.mark.parametrize("when", ["after", "diff"])
def test_expanded_calls_keep_every_observed_values_state(resnet_run: obsviz.Run, when: str) -> None:
    lay = layout(resnet_run.render(module="layer2", when=when, depth=2))
    observers = lay.role("observer")
    drawn_levels = {"layer2", "layer2.0"} | {  # depth=2: layer2.0 and its children
        f"layer2.0.{name}" for name in ("conv1", "bn1", "relu", "conv2", "bn2", "downsample")
    }
    sites = [s for s in resnet_run.placement() if s.module_path in drawn_levels]
    assert len(observers) == len(sites) > 5  # the weight observers of conv1 and conv2 too
    for node in observers:
        (into,) = [e for e in lay.edges if e["head"] == node["name"]]
        assert {"state-observed", "state-weight"} & set(into["class"].split()), into


def test_before_is_the_input_models_graph_with_each_values_state(resnet_run: obsviz.Run) -> None:
    lay = layout(resnet_run.render(module="layer1.0", when="before"))
    assert not lay.role("observer")
    named = {e["label"].split(" :")[0].split(">")[-1]: e for e in lay.edges}
    assert "by _observer_2" in named["%7"]["label"]
    assert "state-observed" in named["%7"]["class"]
    assert "state-delayed" in named["%8"]["class"] and "%out.1" in named["%8"]["label"]
    assert "state-call_site" in named["%x.1"]["class"]
    assert resnet_run.render(when="before").source != resnet_run.render().source


def test_diff_overlays_added_observers_on_the_input_graph_and_mutes_the_rest(
    resnet_run: obsviz.Run,
) -> None:
    lay = layout(resnet_run.render(module="layer1.0", when="diff"))
    added = sorted(n["label"].split("</B>")[0].removeprefix("<B>") for n in lay.role("observer"))
    assert added == [f"+ _observer_{i}" for i in range(2, 7)]
    assert all(n["color"] == "#9E9E9E" for n in lay.role("call"))
    relu_out = [e for e in lay.edges_named("out.1") if "state-observed" in e["class"]]
    assert relu_out and lay.nodes[relu_out[0]["head"]]["class"] == "observer"
    assert "what InsertObservers added" in lay.graph["label"]


def test_a_values_neighbourhood_shows_its_pattern_and_the_value_observed_instead(
    resnet_run: obsviz.Run,
) -> None:
    explanation = resnet_run.explain("%8", module="layer1.0")
    lay = layout(explanation.render())
    calls = sorted(n["label"].split("</B>")[0].removeprefix("<B>") for n in lay.role("call"))
    assert calls == ["bn1", "conv2", "relu"]
    (focus,) = [e for e in lay.edges if "focus" in e.get("class", "").split()]
    assert "%8 :" in focus["label"] and "state-delayed" in focus["class"]
    assert float(focus["penwidth"]) == 4.0
    assert any("_observer_3" in n["label"] for n in lay.role("observer"))
    assert lay.role("stub")  # the rest of the graph, elided
    assert "nn_bn2d_nn_relu" in lay.graph["label"]  # the verdict is the caption
    after = layout(explanation.render(when="after"))
    assert [n["label"] for n in after.role("observer")] == [
        n["label"].removeprefix("<B>+ ").join(["<B>", ""]) for n in lay.role("observer")
    ]
    with pytest.raises(RenderError, match="has no value %nope"):
        render_value(resnet_run, "%nope", module="layer1.0")


def test_every_state_has_a_distinct_look_and_a_legend_line() -> None:
    looks = {(s.color, s.style, s.penwidth, s.arrowhead) for s in STATES.values()}
    assert len(looks) == len(STATES)
    dashes = {s.style for s in STATES.values()}
    assert len(dashes) >= 3  # solid, dotted, dashed: readable without colour
    assert all(s.legend and s.sample for s in STATES.values())


# ------------------------------------------------------------------ hostile names
HOSTILE = 'a"b<script>alert(1)</script>{x}\\N\\'
HOSTILE_VALUE = 'v<img src=y onerror=alert(2)>"\\l]'


@pytest.fixture(scope="module")
def hostile_model(tmp_path_factory: pytest.TempPathFactory) -> torch.jit.ScriptModule:
    """A model whose submodule name, a value's debug name and a string constant are markup."""
    source = textwrap.dedent(f"""
        import torch
        from torch import nn

        class Hostile(nn.Module):
            def __init__(self):
                super().__init__()
                self.convs = nn.ModuleDict({{{HOSTILE!r}: nn.Conv2d(3, 3, 1),
                                            "plain": nn.Conv2d(3, 3, 1)}})

            def forward(self, x):
                for conv in self.convs.values():
                    x = conv(x)
                if bool(x.sum() > 1000):
                    raise RuntimeError('</text><script>"\\\\{{')
                return x
    """)
    folder = tmp_path_factory.mktemp("hostile")
    (folder / "hostile_module.py").write_text(source)
    import importlib.util

    spec = importlib.util.spec_from_file_location("hostile_module", folder / "hostile_module.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    scripted = torch.jit.script(module.Hostile().eval())
    total = next(n for n in scripted.graph.nodes() if n.kind() == "aten::sum")
    total.output().setDebugName(HOSTILE_VALUE)
    return scripted


def _check_svg(svg: str) -> ET.Element:
    root = ET.fromstring(svg)  # well-formed XML: nothing broke out of a label
    tags = {element.tag.removeprefix(SVG) for element in root.iter()}
    assert not tags & {"script", "img", "foreignObject"}
    assert "<script" not in svg and "<img" not in svg
    return root


@pytest.mark.parametrize("depth", [0, 1])
def test_hostile_names_are_quoted_in_dot_and_escaped_in_svg(
    hostile_model: torch.jit.ScriptModule, depth: int
) -> None:
    fig = obsviz.render(hostile_model, depth=depth)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # graphviz warns about DOT it cannot quote
        svg = fig.pipe(format="svg", encoding="utf-8")
    root = _check_svg(svg)
    texts = " ".join(t.text or "" for t in root.iter(f"{SVG}text"))
    assert "<script>alert(1)</script>" in texts  # drawn as text, not lost
    assert "%" + HOSTILE_VALUE in texts
    assert "</text><script>" in texts
    tooltips = " ".join(
        a.get("{http://www.w3.org/1999/xlink}title", "") for a in root.iter(f"{SVG}a")
    )
    assert HOSTILE_VALUE in tooltips
    if depth:
        assert any(
            HOSTILE
            in (c.get("label") or "")
            .replace("&quot;", '"')
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&#x27;", "'")
            for c in layout(fig).clusters.values()
        )


def test_hostile_names_survive_a_run(hostile_model: torch.jit.ScriptModule) -> None:
    run = obsviz.insert_observers(hostile_model, {"": get_default_qconfig("fbgemm")})
    for when in ("after", "before", "diff"):
        _check_svg(run.render(when=when, depth=1).pipe(format="svg", encoding="utf-8"))


# ------------------------------------------------------------------ Graphviz itself
def test_figures_render_real_svg_png_and_pdf_files(resnet_run: obsviz.Run, tmp_path: Path) -> None:
    fig = resnet_run.render(when="diff")
    assert isinstance(fig, Figure)
    for fmt in ("svg", "png", "pdf"):
        path = Path(fig.render(tmp_path / "view", format=fmt, cleanup=True))
        assert path.suffix == f".{fmt}" and path.stat().st_size > 1000
    svg = (tmp_path / "view.svg").read_text()
    _check_svg(svg)
    assert "_observer_" in svg
    bundle = fig._repr_mimebundle_()
    assert bundle["image/svg+xml"].lstrip().startswith("<?xml")


def test_missing_dot_says_how_to_install_graphviz_and_keeps_the_dot(
    resnet_run: obsviz.Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fig = resnet_run.render()
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH without dot
    with pytest.raises(GraphvizNotFoundError) as err:
        fig.pipe(format="svg")
    assert isinstance(err.value, obsviz.ObsvizError)
    assert "apt-get install graphviz" in str(err.value) and "brew install" in str(err.value)
    assert err.value.source == fig.source and "digraph" in fig.source
    with pytest.raises(GraphvizNotFoundError):
        fig.render(tmp_path / "x", format="png")
    bundle = fig._repr_mimebundle_()
    assert set(bundle) == {"text/plain"} and "Install Graphviz" in bundle["text/plain"]
    assert fig.source in bundle["text/plain"]


def test_before_of_an_inplace_run_is_still_the_graph_passed_in() -> None:
    model = obsviz.samples.load("resnet_small")
    run = obsviz.insert_observers(model, {"": get_default_qconfig("fbgemm")}, inplace=True)
    assert run.module is model
    assert "_observer_" in run.render(module="layer1.0").source
    before = layout(run.render(module="layer1.0", when="before"))
    assert not before.role("observer") and before.state("observed")


@pytest.mark.parametrize("name", ["addmm_linear_static", "fork_wait_mlp_static"])
def test_values_preprocessing_made_are_drawn_on_the_value_they_replace(name: str) -> None:
    c = case(name)
    run = obsviz.insert_observers(script(c), c.qconfig_dict(), quant_type=c.quant_type)
    top = [s for s in run.placement() if s.module_path == ""]
    diff = layout(run.render(when="diff"))
    assert len(diff.role("observer")) == len(top)
    made = [r for _, _, r in run.inserted if r.key not in run.original_names]
    assert made  # e.g. the aten::linear that fuse_linear made from addmm
    stand_ins = [e for e in diff.edges for r in made if f"as %{r.name}" in e.get("label", "")]
    assert len(stand_ins) == len(made)
    assert all(
        lay_class == "observer" for lay_class in (diff.nodes[e["head"]]["class"] for e in stand_ins)
    )


@pytest.mark.filterwarnings("ignore::obsviz.ObsvizWarning")  # loops and functions left float
def test_diff_and_after_agree_on_every_corpus_model() -> None:
    """The diff overlay (the input graph plus the run's decisions) puts exactly as many
    observers in each top-level graph as run.module really has there."""
    checked = 0
    for c in CASES:
        if c.real_raises:
            continue
        run = obsviz.insert_observers(
            script(c), c.qconfig_dict(), method_name=c.method_name, quant_type=c.quant_type
        )
        entry = (
            c.method_name
            if run.module._c._has_method(c.method_name)
            else f"observe_{c.method_name}"
        )
        top = [s for s in run.placement() if s.module_path == "" and s.method == entry]
        for when in ("after", "diff"):
            source = run.render(when=when, method=c.method_name, max_nodes=None).source
            assert len(re.findall(r"class=observer\b", source)) == len(top), (c.name, when)
        checked += 1
    assert checked > 150
