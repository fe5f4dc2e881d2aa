"""tinymeta.viz: the graph walk, edge classes in the DOT text, rendering, the Wengert list,
the gradient-flow overlay and the `graph` command.

The class counts are asserted on the DOT source, which needs no Graphviz binary.
They are for the pictures' model: a 1→3→1 tanh MLP (4 parameter tensors: w0, b0,
w1, b1) on one task. Per inner step the Hessian path θᵢ₋₁ ⇝ g ⇝ α·g → θᵢ has

     4  edges θᵢ₋₁ → identity (grad's variables, one per parameter tensor)
     6  edges of the support loss's forward pass (identity → linear → tanh → linear)
    13  edges into and inside the recorded backward pass (its own edges and its reads
        of forward values, e.g. tanh's output for tanh's VJP)
     4  edges g → α·g
     4  edges α·g → θᵢ
    --
    31  second-order edges per step: 31·k in MAML, 0 in FOMAML.

FOMAML cuts each of the 4 inner gradients once per step (4·k cut edges) and greys
the region behind the cuts: the 23 differentiable edges of that Hessian path that lie
above the cut, the 4 data/constant edges into it (x support twice, y support, and the
constant 2/n of mse_loss's VJP), 4 edges stop_gradient → α·g and 4 edges α·g → θᵢ: 35·k
no-gradient edges; its nodes are 4 identity + 3 forward + 10 backward ops, 4 α·g, one
constant and the two support arrays (24 for k = 1; 46 for k = 2, the data being shared).
Both graphs have 4·k identity edges θᵢ₋₁ → θᵢ. These numbers depend on how the
engine's VJP rules are written (linear, tanh, mse_loss): when a rule changes, the
structural identities tested next to them say whether the classes are still right.
"""

from __future__ import annotations

import argparse
import re
import shutil
from functools import cache

import graphviz
import numpy as np
import pytest

import tinymeta as tm
from tinymeta import viz
from tinymeta.cli.graph import explain, explain_arguments, graph, graph_arguments
from tinymeta.meta import maml_objective
from tinymeta.viz.meta_graphs import meta_problem

HAS_DOT = shutil.which("dot") is not None
needs_dot = pytest.mark.skipif(not HAS_DOT, reason="the Graphviz `dot` program is not "
                               "installed (apt-get install graphviz); DOT-text tests still run")

PARAMS = 4  # parameter tensors of the 1→3→1 MLP
CLASS = re.compile(r'class=(?:"([^"]*)"|([^\s\]]+))')


@cache
def _graph(algo: str, k: int) -> viz.Graph:
    return viz.meta_graph(algo, k)


@cache
def _dot(algo: str, k: int, detail: str = "ops") -> str:
    return viz.to_digraph(_graph(algo, k), detail=detail).source


def class_counts(source: str) -> tuple[dict[str, int], dict[str, int]]:
    """(edge class -> count, node class -> count), read from DOT text."""
    edges: dict[str, int] = {}
    nodes: dict[str, int] = {}
    for line in source.splitlines():
        m = CLASS.search(line)
        if m is None:
            continue
        into = edges if " -> " in line else nodes
        for cls in (m.group(1) or m.group(2)).split():
            into[cls] = into.get(cls, 0) + 1
    return edges, nodes


# ---------------------------------------------------------------- DOT structure
@pytest.mark.parametrize("algo, k, second_order, cut, no_gradient, no_gradient_nodes", [
    ("maml", 1, 31, 0, 0, 0),
    ("maml", 2, 62, 0, 0, 0),
    ("fomaml", 1, 0, 4, 35, 24),
    ("fomaml", 2, 0, 8, 70, 46),
])
def test_exact_class_counts_in_dot(algo, k, second_order, cut, no_gradient, no_gradient_nodes):
    edges, nodes = class_counts(_dot(algo, k))
    assert edges.get("second-order", 0) == second_order
    assert edges.get("cut", 0) == cut
    assert edges.get("no-gradient", 0) == no_gradient
    assert edges.get("identity", 0) == PARAMS * k
    assert nodes.get("no-gradient", 0) == no_gradient_nodes
    assert nodes.get("stop-gradient", 0) == cut  # one stop_gradient per cut
    assert nodes.get("update", 0) == PARAMS * k


@pytest.mark.parametrize("k", [1, 2, 3])
def test_class_counts_follow_the_structure(k):
    """Engine-independent: the Hessian path repeats per step, and FOMAML greys exactly the
    region MAML highlights (plus the data read by it), cut once per parameter per step."""
    maml, fomaml = _graph("maml", k), _graph("fomaml", k)
    one = _graph("maml", 1).count("second-order")
    assert maml.count("second-order") == k * one
    assert fomaml.count("cut") == fomaml.count("identity") == maml.count("identity") == PARAMS * k
    assert fomaml.count("second-order") == maml.count("cut") == maml.count("no-gradient") == 0
    data_edges = sum(1 for e in fomaml.edges_with("no-gradient")
                     if fomaml.nodes[e.src].role in ("data", "constant"))
    assert fomaml.count("no-gradient") == maml.count("second-order") + data_edges


def test_second_order_edges_form_the_hessian_path():
    g = _graph("maml", 2)
    for u in (g.nodes[uid] for uid in g.updates):
        into = {e.argnum: e for e in g.edges if e.dst == u.id}
        assert into[0].classes == {"identity"} and into[0].label == "I"
        assert "second-order" in into[1].classes
        assert into[1].label == f"−α∇²L(θ{viz.graph.subscript(u.step - 1)})"
    # every backward-made node lies on it; no edge of the query loss does
    for e in g.edges_with("second-order"):
        assert g.nodes[e.dst].scope.startswith("inner step")
    backward = {n.id for n in g.nodes.values() if n.role == "backward"}
    touched = {e.dst for e in g.edges_with("second-order")} | {
        e.src for e in g.edges_with("second-order")}
    assert backward <= touched
    assert sorted((g.nodes[u].step, g.nodes[u].parameter) for u in g.updates) == sorted(
        (s, p) for s in (1, 2) for p in ("w0", "b0", "w1", "b1"))


def test_metasgd_learning_rates_are_not_second_order():
    g = _graph("metasgd", 1)
    lr = {n.id for n in g.nodes.values() if n.role == "parameter" and n.name.startswith("lr.")}
    assert len(lr) == PARAMS
    assert g.count("second-order") == _graph("maml", 1).count("second-order")
    assert not any(e.src in lr for e in g.edges_with("second-order"))


def test_reptile_draws_theta_minus_adapted_with_cuts():
    g = _graph("reptile", 2)
    assert len(g.outputs) == PARAMS and g.count("cut") == PARAMS * 2
    assert g.count("second-order") == 0


@pytest.mark.parametrize("algo", ["maml", "fomaml"])
def test_clusters_and_legend(algo):
    src = _dot(algo, 2)
    for scope in ("inner_step_1", "inner_step_2", "query_loss"):
        assert f"subgraph cluster_{scope} " in src
    assert 'label="inner step 1"' in src and 'label="query loss"' in src
    assert "cluster_inner_step_1_backward" in src  # the recorded backward pass
    assert "<b>legend</b>" in src and "class=legend" in src
    assert "−α∇²L(θ₀)" in src and "−α∇²L(θ₁)" in src


@pytest.mark.parametrize("algo, k, counts", [
    ("maml", 2, {"second-order": 6, "identity": 2, "theta0": 1}),
    ("fomaml", 2, {"cut": 2, "identity": 2, "no-gradient": 10, "theta0": 1}),
    ("maml", 5, {"second-order": 15, "identity": 5, "theta0": 1}),
])
def test_scopes_detail_collapses_each_scope(algo, k, counts):
    """Per inner step: θᵢ₋₁ → forward → backward → update is the Hessian path (3 box edges),
    θᵢ₋₁ → θᵢ the identity; FOMAML cuts backward → stop_gradient once per step and greys
    θᵢ₋₁ → forward → backward, stop_gradient → update and the support data's two edges."""
    src = _dot(algo, k, "scopes")
    edges, _ = class_counts(src)
    assert edges == counts
    nodes = [line for line in src.splitlines() if re.match(r"\s+g\d+ \[", line)]
    assert len(nodes) <= 5 * k + 6  # a handful of boxes per step: k = 5 stays readable
    assert f"subgraph cluster_inner_step_{k} " in src


def test_side_by_side_has_both_panels():
    panels = [("MAML", _graph("maml", 1), None), ("FOMAML", _graph("fomaml", 1), None)]
    dot = viz.side_by_side(panels, align=False)
    edges, _ = class_counts(dot.source)
    assert edges["second-order"] == 31 and edges["cut"] == 4
    assert "cluster_panel0" in dot.source and "cluster_panel1" in dot.source
    assert 'label=MAML' in dot.source and 'label=FOMAML' in dot.source


# ---------------------------------------------------------------- the draw API
def test_draw_a_function_and_a_tensor():
    params, batch = meta_problem()
    dot = viz.draw(maml_objective, params, batch, 0.01, 1, batched=False, activation="tanh")
    assert isinstance(dot, graphviz.Digraph)
    assert class_counts(dot.source)[0]["second-order"] == 31
    # a tensor recorded by the user
    x = tm.tensor([1.0, 2.0], requires_grad=True)
    y = tm.sum(tm.tanh(x) * 3.0)  # drawn from the engine's own nodes
    src = viz.draw(y).source
    assert "tanh" in src and "class=output" in src and "class=parameter" in src
    with pytest.raises(TypeError, match="only accepted with a function"):
        viz.draw(y, 1.0)
    with pytest.raises(ValueError, match="detail must be one of"):
        viz.draw(y, detail="layers")


def test_batched_maml_graph_finds_updates_through_broadcasts():
    params, batch = meta_problem()
    g = viz.graph_of(maml_objective, params, batch, 0.01, 2, batched=True, activation="tanh")
    assert len(g.updates) == PARAMS * 2
    assert {g.nodes[u].parameter for u in g.updates} == {"w0", "b0", "w1", "b1"}
    assert g.count("second-order") > 0


def test_walk_is_iterative_on_a_deep_graph():
    x = tm.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y * 1.0
    g = viz.walk(y)
    assert len(g.nodes) == 10_001
    assert len(viz.wengert_list(g).splitlines()) == 10_002


# ---------------------------------------------------------------- gradient flow
@pytest.mark.parametrize("algo, k", [("maml", 1), ("maml", 2), ("fomaml", 2)])
def test_flow_adjoints_add_up_to_the_meta_gradient(algo, k):
    g = _graph(algo, k)
    flow = viz.gradient_flow(g)
    params, batch = meta_problem()
    ref = tm.grad(maml_objective)(params, batch, 0.01, k, algo == "fomaml", False, "tanh")
    got = flow.gradient(g)
    for name in ref:
        np.testing.assert_allclose(got[name], np.asarray(ref[name]), rtol=1e-12, atol=1e-14)
    # nothing flows through the greyed region
    assert not any((e.src, e.dst, e.argnum) in flow.edge for e in g.edges_with("no-gradient"))


def test_flow_overlay_sets_pen_widths_and_labels():
    g = _graph("maml", 1)
    flow = viz.gradient_flow(g)
    src = viz.to_digraph(g, flow=flow).source
    widths = [float(w) for w in re.findall(r"penwidth=([\d.]+)", src)]
    assert len(set(widths)) > 5  # widths vary with ‖adjoint‖
    for e in g.edges_with("second-order"):
        assert flow.norm(e.src, e.dst, e.argnum) is not None
    assert "‖adjoint‖" in src  # legend row
    with pytest.raises(TypeError, match="pass seed="):
        viz.gradient_flow(_graph("reptile", 1))


# ---------------------------------------------------------------- the text tape
def test_wengert_list_lines_roles_and_classes():
    g = _graph("fomaml", 1)
    lines = viz.wengert_list(g).splitlines()
    assert len(lines) == len(g.nodes) + 1
    assert [int(line.split()[0][1:]) for line in lines[:-1]] == list(range(len(g.nodes)))
    assert lines[0].startswith("%0  = parameter w0") and "(1, 3)" in lines[0]
    cuts = [line for line in lines if "stop_gradient (cut)" in line]
    assert len(cuts) == PARAMS and all("cut ← %" in line for line in cuts)
    updates = [line for line in lines if "update θ₁" in line]
    assert len(updates) == PARAMS and all("I ← %" in line for line in updates)
    assert any("backward ∇¹, no gradient" in line for line in lines)
    assert lines[-1].startswith(f"# {len(g.nodes)} values") and "4 cut" in lines[-1]

    maml = viz.wengert_list(_graph("maml", 1)).splitlines()
    updates = [line for line in maml if "update θ₁" in line]
    assert all("I ← %" in line and "−α∇²L(θ₀) ← %" in line for line in updates)
    assert maml[-1].endswith("(4 identity, 31 second-order, 0 cut, 0 no-gradient)")


def test_wengert_of_a_function_needs_no_graphviz():
    params, batch = meta_problem()
    text = viz.wengert(maml_objective, params, batch, 0.01, 1, batched=False,
                       activation="tanh", flow=True, data_names={"x query": batch["x_query"][0]})
    assert "‖ḡ‖ = " in text and "data x query" in text


# ---------------------------------------------------------------- rendering
@needs_dot
@pytest.mark.parametrize("algo, expected", [
    ("maml", {"second-order": 31, "identity": 4, "theta0": 4}),
    ("fomaml", {"cut": 4, "no-gradient": 35, "identity": 4, "theta0": 4}),
])
def test_render_svg_keeps_classes(algo, expected):
    from xml.etree import ElementTree

    svg = viz.to_digraph(_graph(algo, 1)).pipe(format="svg")
    root = ElementTree.fromstring(svg)  # Graphviz writes "second&#45;order": parse, not grep
    counts: dict[str, int] = {}
    for g in root.iter("{http://www.w3.org/2000/svg}g"):
        classes = g.get("class", "").split()
        if "edge" in classes:
            for c in classes[1:]:
                counts[c] = counts.get(c, 0) + 1
    assert counts == expected


@needs_dot
def test_render_png_decodes_and_is_not_blank(tmp_path):
    image = pytest.importorskip("matplotlib.image")
    out = tmp_path / "g.png"
    out.write_bytes(viz.to_digraph(_graph("fomaml", 1), detail="scopes").pipe(format="png"))
    pixels = image.imread(out)
    assert pixels.ndim == 3 and pixels.shape[0] > 100 and pixels.shape[1] > 100
    assert float(pixels.var()) > 0


# ---------------------------------------------------------------- the commands
def _parse(arguments, argv):
    p = argparse.ArgumentParser()
    arguments(p)
    return p.parse_args(argv)


def test_graph_command_text_and_dot(tmp_path, capsys):
    assert graph(_parse(graph_arguments, ["--format", "text", "--inner-steps", "2"])) == 0
    out = capsys.readouterr().out
    assert out.startswith("# MAML, k = 2 inner steps") and "update θ₂ [b1]" in out
    path = tmp_path / "fo.dot"
    assert graph(_parse(graph_arguments, ["--algo", "fomaml", "--out", str(path)])) == 0
    assert class_counts(path.read_text())[0]["cut"] == 4
    assert graph(_parse(graph_arguments, ["--algo", "reptile", "--side-by-side"])) == 2
    assert "--side-by-side compares MAML with FOMAML" in capsys.readouterr().err


def test_graph_command_without_dot_writes_the_dot_source(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no `dot` anywhere
    out = tmp_path / "maml.svg"
    status = graph(_parse(graph_arguments, ["--out", str(out), "--side-by-side"]))
    err = capsys.readouterr().err
    assert status == 1 and not out.exists()
    assert "'dot' program was not found" in err and "apt-get install graphviz" in err
    assert class_counts((tmp_path / "maml.dot").read_text())[0]["cut"] == 4


@needs_dot
def test_graph_command_renders_png(tmp_path):
    out = tmp_path / "sbs.png"
    argv = ["--side-by-side", "--detail", "scopes", "--flow", "--inner-steps", "2", "--out",
            str(out)]
    assert graph(_parse(graph_arguments, argv)) == 0
    assert out.read_bytes().startswith(b"\x89PNG")


def test_explain_command_json(capsys):
    import json

    assert explain(_parse(explain_arguments, ["--inner-steps", "1", "--json",
                                              "--no-reptile"])) == 0
    data = json.loads(capsys.readouterr().out)
    assert {"max_jacobian_error", "dropped_norm_ratio", "cosine"} <= set(data)
    assert data["max_jacobian_error"] <= 1e-10


def test_graph_and_explain_default_to_the_same_problem():
    g, e = _parse(graph_arguments, []), _parse(explain_arguments, [])
    for name in ("hidden", "activation", "shots", "seed", "inner_lr"):
        assert getattr(g, name) == getattr(e, name), name
    # ... which is the pictures' problem and the report's
    params, batch = meta_problem()
    from tinymeta.meta.report import small_problem
    params2, batch2 = small_problem()
    assert all(np.array_equal(params[k], params2[k]) for k in params)
    assert all(np.array_equal(batch[k], batch2[k]) for k in batch)
    assert [np.shape(params[k]) for k in ("w0", "b0", "w1", "b1")] == [(1, 3), (3,), (3, 1),
                                                                        (1,)]


def test_explain_command_relu(capsys):
    import json

    assert explain(_parse(explain_arguments, ["--inner-steps", "1", "--json", "--no-reptile",
                                              "--activation", "relu"])) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["activation"] == "relu" and data["max_jacobian_error"] <= 1e-10


NODE_POS = re.compile(r'^\s+p(\d)_(\S+) \[.*?pos="([\d.]+),([\d.]+)"', re.M)


@needs_dot
@pytest.mark.parametrize("detail", ["ops", "scopes"])
def test_maml_and_fomaml_share_node_positions(detail):
    """Side by side, the two panels are one layout: every MAML box sits where the same box
    sits in FOMAML (shifted by the panel's width), and where FOMAML has a stop_gradient
    MAML has a placeholder its red edge runs through."""
    from tinymeta.viz.pinned import PinnedDigraph

    m, f = _graph("maml", 1), _graph("fomaml", 1)
    dot = viz.compare([("MAML", m), ("FOMAML", f)], detail=detail)
    assert isinstance(dot, PinnedDigraph)
    src = dot.source
    pos = [[(float(x), float(y)) for p, _, x, y in NODE_POS.findall(src) if p == str(i)]
           for i in (0, 1)]
    assert len(pos[0]) == len(pos[1]) > 5
    shift = pos[1][0][0] - pos[0][0][0]
    assert shift > 0
    for (x0, y0), (x1, y1) in zip(sorted(pos[0]), sorted(pos[1]), strict=True):
        assert x1 - x0 == pytest.approx(shift, abs=0.05) and y1 == pytest.approx(y0)
    edges, nodes = class_counts(src)
    assert nodes["pass"] == (4 if detail == "ops" else 1) and edges["cut"] == nodes["pass"]
    svg = dot.pipe(format="svg").decode()  # neato -n2 keeps the positions
    assert svg.count('class="node pass') == nodes["pass"]


def test_meta_problem_is_exported_and_draw_uses_the_figures_activation():
    assert viz.meta_problem is meta_problem
    params, batch = viz.meta_problem()
    drawn = viz.graph_of(maml_objective, params, batch, 0.01, 1, batched=False)
    ops = {n.op for n in drawn.nodes.values()}
    assert "tanh" in ops and "relu" not in ops  # as the figures, not the library's relu
    relu = viz.graph_of(maml_objective, params, batch, 0.01, 1, batched=False,
                        activation="relu")
    assert "relu" in {n.op for n in relu.nodes.values()}


def test_labels_say_what_nodes_are():
    src = _dot("maml", 1)
    assert "θ₀ [w0]" in src and "as the inner grad sees it" in src  # grad's variables
    assert "2/n = 0.2 (n = 10)" in src and "L_query(θ_k)" in src
    assert "I = ∂θ₀/∂θ" in src
    g = viz.meta_graph("maml", 1, activation="relu")
    assert "ReLU mask (x &gt; 0)" in viz.to_digraph(g).source


def test_legend_lists_only_what_is_drawn():
    def legend(src):
        return src[src.index("<b>legend</b>"):]

    maml, fomaml = legend(_dot("maml", 1)), legend(_dot("fomaml", 1))
    assert "stop_gradient" not in maml and "behind a cut" not in maml
    assert "stop_gradient cut" in fomaml and fomaml.count("behind a cut") == 1
    assert "below a cut" not in fomaml and "‖adjoint‖" not in maml


def test_tooltips_name_op_shape_order_scope_and_value():
    src = _dot("maml", 1)
    tips = re.findall(r'tooltip="([^"]*)"', src)
    backward = next(t for t in tips if "derivative order 1" in t)
    assert "scope: inner step 1" in backward and "value:" in backward


def test_graph_and_report_display_themselves_in_jupyter():
    g = _graph("maml", 1)
    assert repr(g).startswith("<Graph: 39 values") and len(repr(g)) < 200
    bundle = g._repr_mimebundle_()
    assert bundle["text/plain"].startswith("Graph:")
    if shutil.which("dot"):
        assert bundle["image/svg+xml"].lstrip().startswith("<?xml")
    r = viz.jacobian_report(1, with_reptile=False)
    assert repr(r).startswith("<JacobianReport: MLP 1→3→1 (tanh), k = 1")
    assert r._repr_html_().startswith("<pre") and "∂θ₀/∂θ" in r._repr_html_()
