"""Draw a ``Graph`` with Graphviz: clusters per name scope, colours per role, a legend.

Colour legend (each picture draws the rows it uses)

    parameter      light blue box          θ (and Meta-SGD's α)
    θ₀ = θ         pale blue box           where adaptation starts (drawn, not recorded)
    data/constant  grey note               support and query sets, constants
    forward        pale yellow box         ops of a forward pass
    backward ∇ⁿ    orange box              ops a backward pass made (order n)
    update         green box               θᵢ = θᵢ₋₁ − α·g
    stop_gradient  red octagon             FOMAML's cut
    output         green double box        the meta-objective

    blue edge "I"            θ → θ₀: ∂θ₀/∂θ = I                    class="theta0"
    blue edge "I"            θᵢ₋₁ → θᵢ, the identity path          class="identity"
    red edge                 the Hessian path −α∇²L(θᵢ₋₁)          class="second-order"
    red dashed edge ─┤       a stop_gradient cut                   class="cut"
    grey dashed              behind a cut: receives no gradient    class="no-gradient"

The legend lists only what the picture uses. θ₀ is not a value the engine
records (θ₀ *is* θ), so the walk has no node for it; the renderer draws one
between each parameter and its readers, so the first factor of the chain
rule, ∂θ₀/∂θ = I, is on the page. Hovering a node in the SVG shows its op,
shape, derivative order, scope and a summary of its value (``tooltip``).

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

__all__ = ["to_digraph", "side_by_side", "DETAILS", "Layout"]

DETAILS = ("ops", "scopes")
FONT = "Helvetica"

def _look(shape: str, style: str, fill: str | None, color: str, **more: str) -> dict[str, str]:
    """One node look: Graphviz's shape, style, fill and outline colours, and the rest."""
    return {"shape": shape, "style": style, **({"fillcolor": fill} if fill else {}),
            "color": color, **more}


_NOTE = _look("note", "filled", "#eeeeee", "#8a8a8a", fontcolor="#444444")  # data, constants
_NODE_STYLE: dict[str, dict[str, str]] = {
    "parameter": _look("box", "rounded,filled,bold", "#d0e2ff", "#1f4e99"),
    "data": _NOTE,
    "constant": _NOTE,
    "forward": _look("box", "rounded,filled", "#fff6cc", "#b08900"),
    "backward": _look("box", "rounded,filled", "#ffd8a8", "#d9480f"),
    "update": _look("box", "rounded,filled,bold", "#b2f2bb", "#2b8a3e", penwidth="2"),
    "stop_gradient": _look("octagon", "filled", "#ffc9c9", "#c92a2a", penwidth="2"),
    "output": _look("box", "rounded,filled,bold", "#8ce99a", "#2b8a3e", peripheries="2"),
    "theta0": _look("box", "rounded,filled", "#eef4ff", "#1f4e99"),
    # where FOMAML has a stop_gradient, in a MAML panel drawn at FOMAML's positions
    "pass": _look("octagon", "dashed", None, "#c4c4c4", fontcolor="#a0a0a0"),
}
_BACKWARD_FILL = ("#ffd8a8", "#ffa94d", "#ff922b")  # order 1, 2, 3+
_NO_GRADIENT_NODE = {"fillcolor": "#f4f4f4", "color": "#c4c4c4", "fontcolor": "#a0a0a0"}

_EDGE_STYLE: dict[str, dict[str, str]] = {
    "data": {"color": "#b0b0b0", "arrowsize": "0.5"},
    "plain": {"color": "#555555", "arrowsize": "0.6"},
    "identity": {"color": "#1c7ed6", "penwidth": "2.4", "fontcolor": "#1c7ed6",
                 "arrowsize": "0.8"},
    "theta0": {"color": "#1c7ed6", "penwidth": "2.4", "fontcolor": "#1c7ed6",
               "arrowsize": "0.8"},
    "second-order": {"color": "#e03131", "penwidth": "2.2", "fontcolor": "#c92a2a",
                     "arrowsize": "0.7"},
    "cut": {"color": "#c92a2a", "style": "dashed", "penwidth": "2.2", "arrowhead": "tee",
            "fontcolor": "#c92a2a"},
    "no-gradient": {"color": "#c8c8c8", "style": "dashed", "arrowsize": "0.5"},
}
_EDGE_PRECEDENCE = ("cut", "theta0", "identity", "second-order", "no-gradient")


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


def _inner_step(scope: str) -> int | None:
    """``"inner step 2"`` -> 2 (the innermost such scope), else None."""
    tail = scope.rsplit("inner step ", 1)
    return int(tail[1].split("/")[0]) if len(tail) == 2 and tail[1].split("/")[0].isdigit() \
        else None


def _vjp_of(n: Node, graph: Graph) -> str | None:
    """The op whose VJP rule made ``n``, even when that op is not drawn (the support
    loss's ``mse_loss`` is freed once its rule has run, but the tensor remembers it)."""
    if n.backward_of:
        return graph.nodes[n.backward_of].op
    node = getattr(n.value, "node", None)  # the engine node knows whose rule made it
    source = None if node is None else node.rule_of
    return getattr(source, "op", None)


def _rule_of(n: Node, graph: Graph) -> str | None:
    """The op whose VJP rule read ``n`` (for a constant or an array), if one did."""
    for e in graph.edges:
        if e.src == n.id:
            op = _vjp_of(graph.nodes[e.dst], graph)
            if op:
                return op
    return None


def _scalar(value: Any) -> float | None:
    a = np.asarray(value.data if hasattr(value, "data") else value)
    return float(a.ravel()[0]) if a.size == 1 else None


def _node_label(n: Node, graph: Graph, value: bool = True) -> str:
    shape = _shape(n.shape)
    grey = "no-gradient" in n.classes
    if n.role == "parameter":
        return _html(("b", n.name or "parameter"), ("", shape))
    if n.role in ("data", "constant"):
        rule = _rule_of(n, graph)
        name = n.name or n.role
        if n.role == "constant" and _scalar(n.value) is not None:
            c = _scalar(n.value)
            size = next((int(np.prod(graph.nodes[e.dst].shape)) for e in graph.edges
                         if e.src == n.id), 0)
            name = (f"2/n = {c:g} (n = {size})" if rule == "mse_loss" and size
                    and abs(c * size - 2) < 1e-12 else f"constant {c:g}")
        elif not n.name and rule == "relu":  # the mask relu's rule multiplies by
            name = "ReLU mask (x > 0)"
        lines = [("", name), ("small", shape)]
        if rule and not n.name:
            lines.append(("small", f"read by {rule}'s rule"))
        return _html(*lines, grey=grey)
    if n.role == "update":
        prev = f"θ{subscript((n.step or 1) - 1)}"
        head = f"θ{subscript(n.step or 0)}" + (f" [{n.parameter}]" if n.parameter else "")
        return _html(("b", head), ("small", f"= {prev} − α·∇L({prev})"),
                     ("", f"subtract {shape}"))
    step = _inner_step(n.scope)
    if n.op == "identity" and not n.order and step is not None and n.name:
        # tm.grad's variable: the inner gradient differentiates with respect to this
        # copy of θᵢ₋₁, so the Hessian path starts here
        return _html(("b", f"θ{subscript(step - 1)} [{n.name}]"),
                     ("small", "as the inner grad sees it"), ("", f"identity {shape}"),
                     grey=grey)
    lines: list[tuple[str, str]] = [("b", _literal_args(n, graph))]
    if n.role == "output":
        what = "L_query(θ_k)" if graph.updates else "output"
        lines = [("b", what), ("small", "the meta-objective" if graph.updates else ""),
                 ("", _literal_args(n, graph))]
        lines = [x for x in lines if x[1]]
        if value and n.value is not None and np.size(n.value) == 1:
            number = float(np.ravel(getattr(n.value, "data", n.value))[0])  # .data: no graph
            lines.append(("small", f"= {number:.4g}"))
    lines.append(("", shape))
    if n.order:
        vjp_of = _vjp_of(n, graph)
        lines.append(("small", f"∇ order {n.order}" + (f" · vjp of {vjp_of}" if vjp_of else "")))
    return _html(*lines, grey=grey)


def _node_attrs(role: str, order: int, classes: set[str]) -> dict[str, str]:
    attrs = dict(_NODE_STYLE[role])
    if role == "backward":
        attrs["fillcolor"] = _BACKWARD_FILL[min(order, 3) - 1]
    if "no-gradient" in classes:
        attrs.update(_NO_GRADIENT_NODE)
        attrs["style"] = attrs["style"] + ",dashed"
    attrs["class"] = " ".join([role.replace("_", "-"), *sorted(classes)])
    return attrs


def _values(a: np.ndarray) -> str:
    """``[0.49 −3.2 −0.11]``: the signed entries of a small adjoint."""
    return "[" + " ".join(f"{v:.2g}".replace("-", "−") for v in np.ravel(a)) + "]"


def _flow_text(norm: float, values: np.ndarray | None) -> str:
    """Signed values when there are at most 4 (a reader can add them up), else the norm."""
    if values is not None and 0 < np.size(values) <= 4:
        return _values(values)
    return f"{norm:.2g}"


def _edge_attrs(classes: set[str], from_data: bool, label: str, flow: float | None,
                max_flow: float, values: np.ndarray | None = None) -> dict[str, str]:
    kind = next((c for c in _EDGE_PRECEDENCE if c in classes), "data" if from_data else "plain")
    attrs = dict(_EDGE_STYLE[kind])
    if classes:
        attrs["class"] = " ".join(sorted(classes))
    if flow is not None:
        # pen width grows with log ‖adjoint‖ over four decades below the largest
        rel = 0.0 if flow <= 0 or max_flow <= 0 else np.log10(flow / max_flow) / 4 + 1
        attrs["penwidth"] = f"{0.5 + 5.5 * float(np.clip(rel, 0, 1)):.2f}"
        text = _flow_text(flow, values)
        label = f"{label}\n{text}" if label else text
        attrs.setdefault("fontcolor", "#555555")
    if label:
        lines = label.split("\n")
        head = f"<b>{_esc(lines[0])}</b>" if kind in ("identity", "second-order", "theta0") \
            else _esc(lines[0])
        if kind in ("identity", "theta0"):  # clear of the thick blue line it labels
            head = "&#160;&#160;" + head
        pad = "&#160;&#160;&#160;" if kind in ("identity", "theta0") else ""
        rest = "".join(f'<br/>{pad}<font point-size="9">{_esc(x)}</font>' for x in lines[1:])
        attrs["label"] = f"<{head}{rest}>"
        attrs["fontsize"] = "13" if lines[0].startswith("I") else "10"
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
    key: str = ""  # the same box in another panel (MAML | FOMAML) has the same key


@dataclass
class _Link:
    src: str
    dst: str
    classes: set[str]
    label: str = ""
    from_data: bool = False
    flow: float | None = None
    count: int = 1
    values: np.ndarray | None = None  # the adjoint itself (ops detail), for signed labels


@dataclass
class _Scene:
    boxes: list[_Box] = field(default_factory=list)
    links: list[_Link] = field(default_factory=list)
    max_flow: float = 0.0


def _summary(value: Any) -> str:
    """A value for a tooltip: every entry when there are few, else mean, min and max."""
    if value is None:
        return ""
    a = np.asarray(value.data if hasattr(value, "data") else value, dtype=float)
    if a.size <= 6:
        return "value: " + np.array2string(a, precision=4, suppress_small=True)
    return (f"value: {a.size} numbers, mean {a.mean():.4g}, min {a.min():.4g}, "
            f"max {a.max():.4g}")


def _tooltip(n: Node, graph: Graph) -> str:
    parts = [f"%{n.index} {n.op} {_shape(n.shape)} {n.dtype}", f"role: {n.role}"]
    parts.append(f"derivative order {n.order}" + (" (made by a backward pass)" if n.order
                                                  else ""))
    parts.append(f"scope: {n.scope or '(none)'}")
    if n.backward_of:
        b = graph.nodes[n.backward_of]
        parts.append(f"VJP of %{b.index} {b.op}")
    if n.classes:
        parts.append("classes: " + " ".join(sorted(n.classes)))
    summary = _summary(n.value)
    if summary:
        parts.append(summary)
    return "\n".join(parts)


def _keys(graph: Graph) -> dict[str, str]:
    """A key per node that is the same in MAML's and FOMAML's graph of one problem: the
    position among the nodes that are not stop_gradient (FOMAML only adds those)."""
    keys: dict[str, str] = {}
    j = 0
    for n in sorted(graph.nodes.values(), key=lambda n: n.index):
        if n.role == "stop_gradient" and n.args:
            keys[n.id] = f"cut<{keys[n.args[0]]}"
        else:
            keys[n.id] = f"{j}:{n.op}"
            j += 1
    return keys


def _add_theta0(scene: _Scene, graph: Graph, flow: Flow | None, grouped: bool,
                node_of: dict[str, str] | None = None) -> None:
    """Draw θ₀ = θ between each parameter box and its readers, joined by an edge "I".

    The engine records no node for θ₀ (it *is* θ), so this is the renderer's: with a
    flow, the edge θ → θ₀ carries each parameter's whole meta-gradient."""
    if not graph.updates:
        return
    params = {b.id: b for b in scene.boxes if b.role == "parameter"}
    readers = {b for b in params if any(link.src == b for link in scene.links)}
    for pid in sorted(readers):
        p = params[pid]
        tid = f"{pid}_theta0"
        if grouped:
            label = _html(("b", "θ₀ = θ"), ("small", "adaptation starts here"))
        else:
            name = graph.nodes[node_of[pid]].name or "θ"
            label = _html(("b", f"θ₀ [{name}]"), ("small", "= θ: adaptation starts here"))
        tip = "θ₀ = θ: not a recorded op; drawn so that ∂θ₀/∂θ = I shows\nderivative order 0"
        if not grouped:
            n = graph.nodes[node_of[pid]]
            tip += f"\nshape {_shape(n.shape)} {n.dtype}\n{_summary(n.value)}"
        scene.boxes.append(_Box(tid, "", "theta0", 0, label, set(), tip,
                                key=f"theta0<{p.key}"))
        for link in scene.links:
            if link.src == pid:
                link.src = tid
        total = norm = None
        if flow is not None:
            if grouped:
                parts = [flow.node[n] for n in graph.nodes if graph.nodes[n].role ==
                         "parameter" and n in flow.node]
                norm = float(np.sqrt(sum(float(np.sum(np.square(a))) for a in parts)))
            elif node_of[pid] in flow.node:
                total = flow.node[node_of[pid]]
                norm = float(np.linalg.norm(total))
        scene.links.append(_Link(pid, tid, {"theta0"}, "I = ∂θ₀/∂θ", False, norm,
                                 values=total))


def _ops_scene(graph: Graph, flow: Flow | None) -> _Scene:
    scene = _Scene()
    consumers = graph.consumers()
    keys = _keys(graph)
    for n in graph.nodes.values():
        scope = n.scope
        if n.role == "data":
            # numpy data has no scope; inside a cluster it would share a rank with the
            # previous scope's last nodes and Graphviz lets such clusters overlap
            scope = ""
        sub = "backward" if n.role == "backward" or (
            n.role == "constant" and all(graph.nodes[e.dst].order for e in consumers[n.id])
            and consumers[n.id]) else ""
        # ids by position, not by the engine's tensor counter: the same graph drawn in a
        # later process (or after other work) gives the same DOT, byte for byte
        scene.boxes.append(_Box(f"v{n.index}", scope, n.role, n.order, _node_label(n, graph),
                                set(n.classes), _tooltip(n, graph), sub, keys[n.id]))
    for e in graph.edges:
        src, dst = graph.nodes[e.src], graph.nodes[e.dst]
        label = e.label
        step = _inner_step(dst.scope)
        if flow is not None and "second-order" in e.classes:
            # With numbers on the edges, −α∇²L labels the *entry* of the Hessian path,
            # θᵢ₋₁ → the inner grad's variable: the adjoint there is that path's whole
            # contribution to θᵢ₋₁ (beside the identity edge's, into the same node)
            if e.dst in graph.updates:
                label = ""
            elif dst.op == "identity" and not dst.order and step is not None:
                label = f"−α∇²L(θ{subscript(step - 1)})"
        scene.links.append(_Link(
            f"v{src.index}", f"v{dst.index}", set(e.classes), label,
            src.role in ("data", "constant"),
            flow.norm(e.src, e.dst, e.argnum) if flow else None,
            values=flow.edge.get((e.src, e.dst, e.argnum)) if flow else None))
    _add_theta0(scene, graph, flow, grouped=False,
                node_of={f"v{n.index}": n.id for n in graph.nodes.values()})
    scene.max_flow = max((link.flow or 0.0 for link in scene.links), default=0.0)
    return scene


def _group_key(n: Node, graph: Graph, operand_of: dict[str, str]) -> str:
    if n.role == "parameter":  # one box per tree: θ, or Meta-SGD's params and lr
        return "parameters\x00" + (n.name.split(".")[0] if n.name and "." in n.name else "")
    if n.role == "output":  # by position, so MAML's and FOMAML's outputs share a key
        return f"output\x00{graph.outputs.index(n.id)}"
    kind = {"update": "update", "stop_gradient": "stop_gradient", "backward":
            f"backward{n.order}"}.get(n.role, "forward")
    if n.id in operand_of:  # α·g belongs with its update, or boxes would form a cycle
        kind = "update"
    return f"{n.scope}\x00{kind}"


def _group_label(role: str, members: list[Node], graph: Graph, grey: bool) -> str:
    ops = Counter(m.op for m in members if m.role not in ("constant", "data"))
    summary = " ".join(f"{op}×{c}" if c > 1 else op for op, c in ops.most_common(3))
    if len(ops) > 3:
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
        orders = sorted({m.order for m in ms})
        tooltip = (f"{role} · scope: {first.scope or '(none)'} · derivative order "
                   f"{', '.join(map(str, orders))}\n{len(ms)} values: "
                   + ", ".join(f"%{m.index} {m.op} {_shape(m.shape)}" for m in ms[:40]))
        scene.boxes.append(_Box(ids[key], scope, role, first.order, label, classes, tooltip,
                                key=key))

    links: dict[tuple[str, str], list[Edge]] = {}
    for e in graph.edges:
        a, b = group[e.src], group[e.dst]
        if a != b:
            links.setdefault((a, b), []).append(e)
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
        entry = graph.nodes[es[0].dst].scope
        if "identity" in classes:
            label = "I"
        elif "second-order" in classes and b.endswith("\x00update") and flow is None:
            label = f"−α∇²L({prev})"
        elif ("second-order" in classes and flow is not None and _inner_step(entry)
              and all(graph.nodes[e.src].role in ("parameter", "update") for e in es)):
            # with numbers on the edges, −α∇²L labels the entry of the Hessian path
            label = f"−α∇²L(θ{subscript(_inner_step(entry) - 1)})"
        elif "cut" in classes:
            label = next(e.label for e in es if "cut" in e.classes)
        norm = None
        if flow is not None:
            parts = [flow.norm(e.src, e.dst, e.argnum) for e in es]
            parts = [p for p in parts if p is not None]
            norm = float(np.sqrt(sum(p * p for p in parts))) if parts else None
        from_data = all(graph.nodes[e.src].role in ("data", "constant") for e in es)
        scene.links.append(_Link(ids[a], ids[b], classes, label, from_data, norm, len(es)))
    _add_theta0(scene, graph, flow, grouped=True)
    scene.max_flow = max((link.flow or 0.0 for link in scene.links), default=0.0)
    return scene


# ---------------------------------------------------------------- emitting DOT
def _cluster_name(prefix: str, path: str) -> str:
    return "cluster_" + prefix + re.sub(r"\W+", "_", path)


@dataclass
class Layout:
    """Positions from one ``dot`` run, by box key and unprefixed cluster name (points),
    so another panel can be drawn at the same places (``pinned.py``); ``dx`` shifts it."""

    nodes: dict[str, dict[str, str]]  # key -> pos, width, height
    clusters: dict[str, dict[str, str]]  # cluster name -> bb, lp
    edges: dict[tuple[str, str, int], dict[str, str]]  # (src key, dst key, nth) -> pos, lp
    dx: float = 0.0


def _emit(target: graphviz.Digraph, scene: _Scene, prefix: str,
          layout: Layout | None = None) -> None:
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
        if layout is not None:
            attrs.update(layout.nodes[box.key], fixedsize="true")
        g.node(prefix + box.id, box.label, **attrs)

    def place(c: graphviz.Digraph, path: str) -> None:
        if layout is not None and _cluster_name("", path) in layout.clusters:
            c.attr(**layout.clusters[_cluster_name("", path)])

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
                place(c, scope + "/backward")
                for b in backward:
                    put(c, b)
        for child in children.get(scope, []):
            with g.subgraph(name=_cluster_name(prefix, child)) as c:
                c.attr(label=child.rsplit("/", 1)[-1], style="rounded,filled",
                       fillcolor="#f8f9fa", color="#868e96", fontsize="13",
                       fontname=FONT + "-Bold", labeljust="l")
                c.attr("graph", **{"class": "scope"})
                place(c, child)
                fill(c, child)

    fill(target, "")
    _emit_edges(target, scene, prefix, layout)


def _emit_edges(target: graphviz.Digraph, scene: _Scene, prefix: str,
                layout: Layout | None = None) -> None:
    # Edges go to the top level: an edge written inside a cluster would pull both of
    # its nodes into that cluster.
    keys = {b.id: b.key for b in scene.boxes}
    nth: dict[tuple[str, str], int] = {}
    for link in scene.links:
        attrs = _edge_attrs(link.classes, link.from_data, link.label, link.flow, scene.max_flow,
                            link.values)
        if link.count > 1:
            attrs["tooltip"] = f"{link.count} edges"
            if link.flow is None and "penwidth" not in attrs:
                attrs["penwidth"] = f"{min(1 + 0.15 * link.count, 3):.2f}"
        if layout is not None:
            pair = (keys[link.src], keys[link.dst])
            nth[pair] = nth.get(pair, -1) + 1
            attrs.update(layout.edges.get((*pair, nth[pair]), {}))
        target.edge(prefix + link.src, prefix + link.dst, **attrs)


_LEGEND_ROLES = (
    ("parameter", "parameter θ"), ("theta0", "θ₀ = θ (where adaptation starts)"),
    ("data", "data / constant"), ("forward", "forward op"),
    ("backward", "made by a backward pass (∇ order n)"),
    ("update", "update θᵢ = θᵢ₋₁ − α·g"), ("stop_gradient", "stop_gradient (FOMAML)"),
    ("pass", "no stop_gradient here (MAML)"), ("output", "output"),
)
_LEGEND_EDGES = (
    ("theta0", "I = ∂θ₀/∂θ: θ₀ is θ"), ("identity", "I: identity path θᵢ₋₁ → θᵢ"),
    ("second-order", "−α∇²L(θᵢ₋₁): Hessian path"), ("cut", "stop_gradient cut"),
)


def _legend(target: graphviz.Digraph, prefix: str, scenes: list[_Scene], flow: bool,
            **node_attrs: str) -> None:
    """A legend with one row for each role and edge kind the scenes use, and no others."""
    roles = {"data" if b.role == "constant" else b.role for sc in scenes for b in sc.boxes}
    kinds = {next((c for c in _EDGE_PRECEDENCE if c in link.classes), "")
             for sc in scenes for link in sc.links}
    grey = any("no-gradient" in b.classes for sc in scenes for b in sc.boxes) or \
        "no-gradient" in kinds
    rows = []
    for role, text in _LEGEND_ROLES:
        if role not in roles:
            continue
        fill = _NODE_STYLE[role].get("fillcolor", "white")
        rows.append(f'<tr><td bgcolor="{fill}" width="22"> </td>'
                    f'<td align="left">{_esc(text)}</td></tr>')
    for kind, text in _LEGEND_EDGES:
        if kind not in kinds:
            continue
        color = _EDGE_STYLE[kind]["color"]
        glyph = "┄┄┤" if kind == "cut" else "━━▶"
        rows.append(f'<tr><td><font color="{color}"><b>{glyph}</b></font></td>'
                    f'<td align="left">{_esc(text)}</td></tr>')
    if grey:
        rows.append('<tr><td bgcolor="#f4f4f4"><font color="#a0a0a0">┄┄▶</font></td>'
                    '<td align="left"><font color="#808080">behind a cut: receives no '
                    'gradient</font></td></tr>')
    if flow:
        rows.append('<tr><td><b>━ 0.1</b></td><td align="left">adjoint through the edge: '
                    'entries, or ‖adjoint‖ (width: log scale)</td></tr>')
    table = ('<<table border="0" cellborder="1" cellspacing="0" cellpadding="3">'
             '<tr><td colspan="2"><b>legend</b></td></tr>' + "".join(rows) + "</table>>")
    with target.subgraph(name=f"cluster_{prefix}legend") as c:
        c.attr(label="", style="invis")
        c.attr("graph", **{"class": "legend"})
        c.node(f"{prefix}legend", table, shape="plaintext", fontsize="10", margin="0",
               **{"class": "legend"}, **node_attrs)


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
    scene = _scene(graph, detail, flow)
    _emit(dot, scene, "")
    if legend:
        _legend(dot, "", [scene], flow is not None)
    return dot


def side_by_side(panels: list[tuple[str, Graph, Flow | None]], detail: str = "ops",
                 title: str | None = None, legend: bool = True,
                 align: bool = True, only: int | None = None) -> graphviz.Digraph:
    """Several graphs in one picture, one titled cluster each (e.g. MAML | FOMAML).

    With ``align`` (the default) and two panels that differ only by stop_gradient nodes
    (MAML | FOMAML of one problem), both are drawn with the *same* node positions, laid
    out once by Graphviz's ``dot``: the cut is then the only difference the eye sees.
    That needs the ``dot`` program when the picture is built; without it, or for panels
    that do not match, each panel is laid out on its own. ``only=i`` draws panel i alone
    at its place in the pair (two files a reader can flip between).
    """
    scenes = [_scene(graph, detail, flow) for _, graph, flow in panels]
    if align and len(panels) == 2:
        from tinymeta.viz.pinned import aligned_pair

        pinned = aligned_pair([name for name, _, _ in panels], scenes, title,
                              legend=_legend if legend else None,
                              flow=any(f is not None for _, _, f in panels), only=only)
        if pinned is not None:
            return pinned
    if only is not None:
        panels, scenes = [panels[only]], [scenes[only]]
    dot = _new_digraph(title)
    for i, ((name, _, _), scene) in enumerate(zip(panels, scenes, strict=True)):
        prefix = f"p{i}_"
        with dot.subgraph(name=f"cluster_panel{i}") as c:
            c.attr(label=name, fontsize="20", fontname=FONT + "-Bold", style="rounded",
                   color="#adb5bd", labeljust="c")
            c.attr("graph", **{"class": "panel"})
            _emit(c, _Scene(scene.boxes, [], scene.max_flow), prefix)
        _emit_edges(dot, scene, prefix)
    if legend:
        _legend(dot, "", scenes, any(f is not None for _, _, f in panels))
    return dot
