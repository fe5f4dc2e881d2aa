"""Draw a ``Graph`` with Graphviz: clusters per name scope, colours per role, a legend.

Colour legend (also drawn in every picture)

    parameter      light blue box          θ (and Meta-SGD's α)
    data/constant  grey note               support and query sets, constants
    forward        pale yellow box         ops of a forward pass
    backward ∇ⁿ    orange box              ops a backward pass made (order n)
    update         green box               θᵢ = θᵢ₋₁ − α·g
    stop_gradient  red octagon             FOMAML's cut
    output         green double octagon    the meta-objective

    blue edge "I"            θᵢ₋₁ → θᵢ, the identity path          class="identity"
    red edge                 the Hessian path −α∇²L(θᵢ₋₁)          class="second-order"
    red dashed edge ─┤       a stop_gradient cut                   class="cut"
    grey dashed              receives no gradient                  class="no-gradient"

Every class is written as the Graphviz ``class`` attribute, which Graphviz
copies into the SVG (``<g class="edge second-order">``), so a stylesheet or
a test can find the second-order edges of a rendered picture.

``detail="ops"`` draws one node per op. ``detail="scopes"`` draws one box per
role inside each name scope (forward, backward pass, updates, cut), so an
inner step is four boxes at most and a MAML graph with k = 5 stays readable;
the edges between boxes keep the classes of the edges they stand for.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import graphviz
import numpy as np

from tinymeta.viz.flow import Flow
from tinymeta.viz.graph import Edge, Graph, Node, subscript

__all__ = ["to_digraph", "side_by_side", "DETAILS"]

DETAILS = ("ops", "scopes")
FONT = "Helvetica"

_NODE_STYLE: dict[str, dict[str, str]] = {
    "parameter": {"shape": "box", "style": "rounded,filled,bold", "fillcolor": "#d0e2ff",
                  "color": "#1f4e99"},
    "data": {"shape": "note", "style": "filled", "fillcolor": "#eeeeee", "color": "#8a8a8a",
             "fontcolor": "#444444"},
    "constant": {"shape": "note", "style": "filled", "fillcolor": "#eeeeee",
                 "color": "#8a8a8a", "fontcolor": "#444444"},
    "forward": {"shape": "box", "style": "rounded,filled", "fillcolor": "#fff6cc",
                "color": "#b08900"},
    "backward": {"shape": "box", "style": "rounded,filled", "fillcolor": "#ffd8a8",
                 "color": "#d9480f"},
    "update": {"shape": "box", "style": "rounded,filled,bold", "fillcolor": "#b2f2bb",
               "color": "#2b8a3e", "penwidth": "2"},
    "stop_gradient": {"shape": "octagon", "style": "filled", "fillcolor": "#ffc9c9",
                      "color": "#c92a2a", "penwidth": "2"},
    "output": {"shape": "doubleoctagon", "style": "filled", "fillcolor": "#8ce99a",
               "color": "#2b8a3e"},
}
_BACKWARD_FILL = ("#ffd8a8", "#ffa94d", "#ff922b")  # order 1, 2, 3+
_NO_GRADIENT_NODE = {"fillcolor": "#f4f4f4", "color": "#c4c4c4", "fontcolor": "#a0a0a0"}

_EDGE_STYLE: dict[str, dict[str, str]] = {
    "data": {"color": "#b0b0b0", "arrowsize": "0.5"},
    "plain": {"color": "#555555", "arrowsize": "0.6"},
    "identity": {"color": "#1c7ed6", "penwidth": "2.4", "fontcolor": "#1c7ed6",
                 "arrowsize": "0.8"},
    "second-order": {"color": "#e03131", "penwidth": "2.2", "fontcolor": "#c92a2a",
                     "arrowsize": "0.7"},
    "cut": {"color": "#c92a2a", "style": "dashed", "penwidth": "2.2", "arrowhead": "tee",
            "fontcolor": "#c92a2a"},
    "no-gradient": {"color": "#c8c8c8", "style": "dashed", "arrowsize": "0.5"},
}
_EDGE_PRECEDENCE = ("cut", "identity", "second-order", "no-gradient")


def _esc(text: Any) -> str:
    return (str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))


def _shape(shape: tuple[int, ...]) -> str:
    return "()" if not shape else "(" + ", ".join(map(str, shape)) + ")"


def _html(*lines: tuple[str, str], grey: bool = False) -> str:
    """An HTML-like label from (kind, text) lines: kind is "b" (bold), "" or "small"."""
    parts = []
    small = "#a0a0a0" if grey else "#555555"
    for kind, text in lines:
        if kind == "b":
            parts.append(f"<b>{_esc(text)}</b>")
        elif kind == "small":
            parts.append(f'<font point-size="9" color="{small}">{_esc(text)}</font>')
        else:
            parts.append(_esc(text))
    return "<" + "<br/>".join(parts) + ">"


def _literal_args(n: Node, graph: Graph) -> str:
    if not any(not (isinstance(a, str) and a in graph.nodes) for a in n.args):
        return n.op
    shown = ["•" if isinstance(a, str) and a in graph.nodes else f"{a:g}"
             if isinstance(a, float) else repr(a) for a in n.args]
    return f"{n.op}({', '.join(shown)})"


def _node_label(n: Node, graph: Graph, value: bool = True) -> str:
    shape = _shape(n.shape)
    if n.role == "parameter":
        return _html(("b", n.name or "parameter"), ("", shape))
    if n.role in ("data", "constant"):
        return _html(("", n.name or n.role), ("small", shape), grey="no-gradient" in n.classes)
    if n.role == "update":
        prev = f"θ{subscript((n.step or 1) - 1)}"
        head = f"θ{subscript(n.step or 0)}" + (f" [{n.parameter}]" if n.parameter else "")
        return _html(("b", head), ("small", f"= {prev} − α·∇L({prev})"),
                     ("", f"subtract {shape}"))
    lines: list[tuple[str, str]] = [("b", _literal_args(n, graph))]
    if n.role == "output":
        lines = [("b", "output"), ("", _literal_args(n, graph))]
        if value and n.value is not None and np.size(n.value) == 1:
            number = float(np.ravel(getattr(n.value, "data", n.value))[0])  # .data: no graph
            lines.append(("small", f"= {number:.4g}"))
    lines.append(("", shape))
    if n.order:
        vjp_of = graph.nodes[n.backward_of].op if n.backward_of else None
        lines.append(("small", f"∇ order {n.order}" + (f" · vjp of {vjp_of}" if vjp_of else "")))
    return _html(*lines, grey="no-gradient" in n.classes)


def _node_attrs(role: str, order: int, classes: set[str]) -> dict[str, str]:
    attrs = dict(_NODE_STYLE[role])
    if role == "backward":
        attrs["fillcolor"] = _BACKWARD_FILL[min(order, 3) - 1]
    if "no-gradient" in classes:
        attrs.update(_NO_GRADIENT_NODE)
        attrs["style"] = attrs["style"] + ",dashed"
    attrs["class"] = " ".join([role.replace("_", "-"), *sorted(classes)])
    return attrs


def _edge_attrs(classes: set[str], from_data: bool, label: str, flow: float | None,
                max_flow: float) -> dict[str, str]:
    kind = next((c for c in _EDGE_PRECEDENCE if c in classes), "data" if from_data else "plain")
    attrs = dict(_EDGE_STYLE[kind])
    if classes:
        attrs["class"] = " ".join(sorted(classes))
    if flow is not None:
        # pen width grows with log ‖adjoint‖ over four decades below the largest
        rel = 0.0 if flow <= 0 or max_flow <= 0 else np.log10(flow / max_flow) / 4 + 1
        attrs["penwidth"] = f"{0.5 + 5.5 * float(np.clip(rel, 0, 1)):.2f}"
        label = f"{label}\n{flow:.2g}" if label else f"{flow:.2g}"
        attrs.setdefault("fontcolor", "#555555")
    if label:
        lines = label.split("\n")
        head = f"<b>{_esc(lines[0])}</b>" if kind in ("identity", "second-order") else _esc(
            lines[0])
        rest = "".join(f'<br/><font point-size="9">{_esc(x)}</font>' for x in lines[1:])
        attrs["label"] = f"<{head}{rest}>"
        attrs["fontsize"] = "13" if lines[0] == "I" else "10"
    return attrs


# ---------------------------------------------------------------- what to draw
@dataclass
class _Box:
    """A drawable node: one op (detail="ops") or a group of ops (detail="scopes")."""

    id: str
    scope: str
    role: str
    order: int
    label: str
    classes: set[str]
    tooltip: str = ""
    sub: str = ""  # a sub-cluster inside the scope ("backward")


@dataclass
class _Link:
    src: str
    dst: str
    classes: set[str]
    label: str = ""
    from_data: bool = False
    flow: float | None = None
    count: int = 1


@dataclass
class _Scene:
    boxes: list[_Box] = field(default_factory=list)
    links: list[_Link] = field(default_factory=list)
    max_flow: float = 0.0


def _tooltip(n: Node, graph: Graph) -> str:
    parts = [f"%{n.index} {n.op} {_shape(n.shape)} {n.dtype}", f"role: {n.role}"]
    if n.scope:
        parts.append(f"scope: {n.scope}")
    if n.order:
        parts.append(f"made by a backward pass, order {n.order}")
    if n.backward_of:
        b = graph.nodes[n.backward_of]
        parts.append(f"VJP of %{b.index} {b.op}")
    if n.classes:
        parts.append("classes: " + " ".join(sorted(n.classes)))
    return "\n".join(parts)


def _ops_scene(graph: Graph, flow: Flow | None) -> _Scene:
    scene = _Scene(max_flow=flow.max_norm if flow else 0.0)
    consumers = graph.consumers()
    for n in graph.nodes.values():
        scope = n.scope
        if n.role == "data":
            # numpy data has no scope; inside a cluster it would share a rank with the
            # previous scope's last nodes and Graphviz lets such clusters overlap
            scope = ""
        sub = "backward" if n.role == "backward" or (
            n.role == "constant" and all(graph.nodes[e.dst].order for e in consumers[n.id])
            and consumers[n.id]) else ""
        scene.boxes.append(_Box(n.id, scope, n.role, n.order, _node_label(n, graph),
                                set(n.classes), _tooltip(n, graph), sub))
    for e in graph.edges:
        src = graph.nodes[e.src]
        scene.links.append(_Link(
            e.src, e.dst, set(e.classes), e.label, src.role in ("data", "constant"),
            flow.norm(e.src, e.dst, e.argnum) if flow else None))
    return scene


def _group_key(n: Node, graph: Graph, operand_of: dict[str, str]) -> str:
    if n.role == "parameter":  # one box per tree: θ, or Meta-SGD's params and lr
        return "parameters\x00" + (n.name.split(".")[0] if n.name and "." in n.name else "")
    if n.role == "output":
        return n.id
    kind = {"update": "update", "stop_gradient": "stop_gradient", "backward":
            f"backward{n.order}"}.get(n.role, "forward")
    if n.id in operand_of:  # α·g belongs with its update, or boxes would form a cycle
        kind = "update"
    return f"{n.scope}\x00{kind}"


def _group_label(role: str, members: list[Node], graph: Graph, grey: bool) -> str:
    ops = Counter(m.op for m in members if m.role not in ("constant", "data"))
    summary = " ".join(f"{op}×{c}" if c > 1 else op for op, c in ops.most_common(4))
    if len(ops) > 4:
        summary += " …"
    n_ops = sum(ops.values())
    if role == "parameter":
        names = ", ".join(f"{m.name} {_shape(m.shape)}" for m in members)
        size = sum(int(np.prod(m.shape)) for m in members)
        tree = members[0].name.split(".")[0] if members[0].name and "." in members[0].name else ""
        if tree:
            names = ", ".join(f"{m.name.split('.', 1)[1]} {_shape(m.shape)}" for m in members)
        return _html(("b", f"{tree or 'θ'}: {len(members)} tensors, {size} numbers"),
                     ("small", names))
    if role == "update":
        steps = sorted({m.step for m in members if m.role == "update"})
        i = steps[0] if steps else 1
        n_upd = sum(m.role == "update" for m in members)
        return _html(("b", f"θ{subscript(i)} = θ{subscript(i - 1)} − α·∇L(θ{subscript(i - 1)})"),
                     ("small", f"{n_upd} updates, {n_ops} ops"), grey=grey)
    if role == "backward":
        order = max(m.order for m in members)
        return _html(("b", f"backward pass, ∇ order {order}"), ("", f"{n_ops} ops"),
                     ("small", summary), grey=grey)
    if role == "stop_gradient":
        return _html(("b", "stop_gradient"), ("small", f"×{len(members)}"), grey=grey)
    return _html(("b", "forward"), ("", f"{n_ops} ops"), ("small", summary), grey=grey)


def _scopes_scene(graph: Graph, flow: Flow | None) -> _Scene:
    operand_of = {graph.nodes[u].args[1]: u for u in graph.updates}
    consumers = graph.consumers()
    group: dict[str, str] = {}
    for n in sorted(graph.nodes.values(), key=lambda n: -n.index):  # consumers first
        if n.role == "constant" and consumers[n.id]:
            group[n.id] = group[consumers[n.id][0].dst]  # a constant joins its reader
        elif n.role == "data":  # one box for the arrays read by the same scopes
            readers = sorted({graph.nodes[e.dst].scope for e in consumers[n.id]})
            group[n.id] = "data\x00" + "\x00".join(readers)
        else:
            group[n.id] = _group_key(n, graph, operand_of)
    members: dict[str, list[Node]] = {}
    for n in graph.nodes.values():
        members.setdefault(group[n.id], []).append(n)

    scene = _Scene()
    ids = {key: f"g{i}" for i, key in enumerate(members)}
    for key, ms in members.items():
        real = [m for m in ms if m.role not in ("constant",)] or ms
        first = real[0]
        role = "update" if key.endswith("\x00update") else first.role
        if role not in ("parameter", "output", "data", "update", "stop_gradient", "backward"):
            role = "forward"
        classes = {"no-gradient"} if all("no-gradient" in m.classes for m in ms) else set()
        if role == "output":
            label = _node_label(first, graph)
        elif role == "data":
            label = _html(*((("", f"{m.name or 'data'}"), ("small", _shape(m.shape)))[i]
                            for m in ms for i in (0, 1)), grey=bool(classes))
        else:
            label = _group_label(role, ms, graph, bool(classes))
        scope = "" if role == "parameter" else first.scope
        if role == "data":
            readers = key.split("\x00")[1:]
            scope = readers[0] if len(readers) == 1 else ""
        tooltip = f"{len(ms)} values: " + ", ".join(f"%{m.index} {m.op}" for m in ms[:40])
        scene.boxes.append(_Box(ids[key], scope, role, first.order, label, classes, tooltip))

    links: dict[tuple[str, str], list[Edge]] = {}
    for e in graph.edges:
        a, b = group[e.src], group[e.dst]
        if a != b:
            links.setdefault((a, b), []).append(e)
    norms = {}
    for (a, b), es in links.items():
        classes: set[str] = set()
        for c in ("identity", "second-order", "cut"):
            if any(c in e.classes for e in es):
                classes.add(c)
        if all("no-gradient" in e.classes for e in es):
            classes.add("no-gradient")
        label = ""
        dst_updates = [graph.nodes[e.dst] for e in es if e.dst in graph.updates]
        step = min((u.step or 1) for u in dst_updates) if dst_updates else None
        if step is None and any(e.dst in operand_of for e in es):
            step = graph.nodes[operand_of[next(e.dst for e in es if e.dst in operand_of)]].step
        prev = f"θ{subscript((step or 1) - 1)}"
        if "identity" in classes:
            label = "I"
        elif "second-order" in classes and b.endswith("\x00update"):
            label = f"−α∇²L({prev})"
        elif "cut" in classes:
            label = next(e.label for e in es if "cut" in e.classes)
        norm = None
        if flow is not None:
            parts = [flow.norm(e.src, e.dst, e.argnum) for e in es]
            parts = [p for p in parts if p is not None]
            norm = float(np.sqrt(sum(p * p for p in parts))) if parts else None
            if norm is not None:
                norms[(a, b)] = norm
        from_data = all(graph.nodes[e.src].role in ("data", "constant") for e in es)
        scene.links.append(_Link(ids[a], ids[b], classes, label, from_data, norm, len(es)))
    scene.max_flow = max(norms.values(), default=0.0)
    return scene


# ---------------------------------------------------------------- emitting DOT
def _cluster_name(prefix: str, path: str) -> str:
    return "cluster_" + prefix + re.sub(r"\W+", "_", path)


def _emit(target: graphviz.Digraph, scene: _Scene, prefix: str) -> None:
    """Nodes into (nested) clusters per scope; edges at the top level of ``target``."""
    tree: dict[str, list[_Box]] = {}
    for b in scene.boxes:
        tree.setdefault(b.scope, []).append(b)
    scopes = sorted(tree, key=lambda s: (s.count("/"), s))
    children: dict[str, list[str]] = {}
    for s in scopes:
        parts = s.split("/") if s else []
        for depth in range(1, len(parts) + 1):
            parent, child = "/".join(parts[:depth - 1]), "/".join(parts[:depth])
            if child not in children.setdefault(parent, []):
                children[parent].append(child)

    def put(g: graphviz.Digraph, box: _Box) -> None:
        attrs = _node_attrs(box.role, box.order, box.classes)
        if box.tooltip:
            attrs["tooltip"] = box.tooltip
        g.node(prefix + box.id, box.label, **attrs)

    def fill(g: graphviz.Digraph, scope: str) -> None:
        boxes = tree.get(scope, [])
        backward = [b for b in boxes if b.sub == "backward"]
        for b in boxes:
            if not b.sub:
                put(g, b)
        if backward:
            with g.subgraph(name=_cluster_name(prefix, scope + "/backward")) as c:
                dead = all("no-gradient" in b.classes for b in backward)
                orders = sorted({b.order for b in backward if b.order})
                where = scope.rsplit("inner step ", 1)
                what = (f"∇L(θ{subscript(int(where[1]) - 1)})" if len(where) == 2
                        and where[1].isdigit() else "the gradient")
                c.attr(label=f"recorded backward pass: {what}, order "
                       f"{', '.join(map(str, orders))}", style="rounded,dashed",
                       color="#d9480f" if not dead else "#c4c4c4", fontsize="11",
                       fontcolor="#d9480f" if not dead else "#a0a0a0")
                c.attr("graph", **{"class": "backward-pass"})
                for b in backward:
                    put(c, b)
        for child in children.get(scope, []):
            with g.subgraph(name=_cluster_name(prefix, child)) as c:
                c.attr(label=child.rsplit("/", 1)[-1], style="rounded,filled",
                       fillcolor="#f8f9fa", color="#868e96", fontsize="13",
                       fontname=FONT + "-Bold", labeljust="l")
                c.attr("graph", **{"class": "scope"})
                fill(c, child)

    fill(target, "")
    _emit_edges(target, scene, prefix)


def _emit_edges(target: graphviz.Digraph, scene: _Scene, prefix: str) -> None:
    # Edges go to the top level: an edge written inside a cluster would pull both of
    # its nodes into that cluster.
    for link in scene.links:
        attrs = _edge_attrs(link.classes, link.from_data, link.label, link.flow, scene.max_flow)
        if link.count > 1:
            attrs["tooltip"] = f"{link.count} edges"
            if link.flow is None and "penwidth" not in attrs:
                attrs["penwidth"] = f"{min(1 + 0.15 * link.count, 3):.2f}"
        target.edge(prefix + link.src, prefix + link.dst, **attrs)


def _legend(target: graphviz.Digraph, prefix: str, flow: bool) -> None:
    rows = []
    for role, text in (("parameter", "parameter θ"), ("data", "data / constant"),
                       ("forward", "forward op"), ("backward", "made by a backward pass (∇ⁿ)"),
                       ("update", "update θᵢ = θᵢ₋₁ − α·g"), ("stop_gradient", "stop_gradient"),
                       ("output", "output")):
        fill = _NODE_STYLE[role]["fillcolor"]
        rows.append(f'<tr><td bgcolor="{fill}" width="22"> </td>'
                    f'<td align="left">{_esc(text)}</td></tr>')
    rows.append('<tr><td bgcolor="#f4f4f4"><font color="#a0a0a0">- -</font></td>'
                '<td align="left"><font color="#808080">no gradient (below a cut)</font>'
                '</td></tr>')
    for kind, text in (("identity", "I: identity path θᵢ₋₁ → θᵢ"),
                       ("second-order", "−α∇²L(θᵢ₋₁): Hessian path"),
                       ("cut", "✂ stop_gradient cut"), ("no-gradient", "no gradient")):
        color = _EDGE_STYLE[kind]["color"]
        glyph = "┄┄┤" if kind == "cut" else ("┄┄▶" if kind == "no-gradient" else "━━▶")
        rows.append(f'<tr><td><font color="{color}"><b>{glyph}</b></font></td>'
                    f'<td align="left">{_esc(text)}</td></tr>')
    if flow:
        rows.append('<tr><td><b>━ 0.1</b></td><td align="left">‖adjoint‖ through the edge '
                    '(width: log scale)</td></tr>')
    table = ('<<table border="0" cellborder="1" cellspacing="0" cellpadding="3">'
             '<tr><td colspan="2"><b>legend</b></td></tr>' + "".join(rows) + "</table>>")
    with target.subgraph(name=f"cluster_{prefix}legend") as c:
        c.attr(label="", style="invis")
        c.attr("graph", **{"class": "legend"})
        c.node(f"{prefix}legend", table, shape="plaintext", fontsize="10", margin="0",
               **{"class": "legend"})


def _new_digraph(title: str | None) -> graphviz.Digraph:
    dot = graphviz.Digraph("tinymeta", format="svg")
    dot.attr(rankdir="TB", fontname=FONT, nodesep="0.25", ranksep="0.35",
             labelloc="t", fontsize="16")
    if title:
        dot.attr(label=title)
    dot.attr("node", fontname=FONT, fontsize="10", margin="0.08,0.03", height="0.3")
    dot.attr("edge", fontname=FONT, fontsize="10")
    return dot


def _scene(graph: Graph, detail: str, flow: Flow | None) -> _Scene:
    if detail not in DETAILS:
        raise ValueError(f"draw: detail must be one of {DETAILS}, got {detail!r}")
    return _ops_scene(graph, flow) if detail == "ops" else _scopes_scene(graph, flow)


def to_digraph(graph: Graph, detail: str = "ops", flow: Flow | None = None,
               title: str | None = None, legend: bool = True) -> graphviz.Digraph:
    """The ``graphviz.Digraph`` of a walked graph (see the module docstring)."""
    dot = _new_digraph(title)
    _emit(dot, _scene(graph, detail, flow), "")
    if legend:
        _legend(dot, "", flow is not None)
    return dot


def side_by_side(panels: list[tuple[str, Graph, Flow | None]], detail: str = "ops",
                 title: str | None = None, legend: bool = True) -> graphviz.Digraph:
    """Several graphs in one picture, one titled cluster each (e.g. MAML | FOMAML)."""
    dot = _new_digraph(title)
    for i, (name, graph, flow) in enumerate(panels):
        prefix = f"p{i}_"
        with dot.subgraph(name=f"cluster_panel{i}") as c:
            c.attr(label=name, fontsize="20", fontname=FONT + "-Bold", style="rounded",
                   color="#adb5bd", labeljust="c")
            c.attr("graph", **{"class": "panel"})
            scene = _scene(graph, detail, flow)
            _emit(c, _Scene(scene.boxes, [], scene.max_flow), prefix)
        _emit_edges(dot, scene, prefix)
    if legend:
        _legend(dot, "", any(f is not None for _, _, f in panels))
    return dot
