"""The graph as text: a Wengert list, one line per value in the order it was made.

    %0  = parameter w0           (1, 4)  parameter
    %4  = identity(%0)           (1, 4)  forward         inner step 1  second-order ← %0
    %17 = multiply(2, %15)       (5, 1)  backward ∇¹     inner step 1  second-order ← %15
    %31 = subtract(%0, %30)      (1, 4)  update θ₁ [w0]  inner step 1  I ← %0; −α∇²L(θ₀) ← %30

The last column names the classes of the edges coming into the value: the
identity path "I", the Hessian path (second-order) and FOMAML's cut.

This is what a terminal, a test or a diff can read without Graphviz: the same
nodes, roles and edge classes as the picture (``--format text`` in the CLI).
"""

from __future__ import annotations

import numpy as np

from tinymeta.viz.flow import Flow
from tinymeta.viz.graph import EDGE_CLASSES, Graph, Node, subscript

__all__ = ["wengert_list"]

_SUPERSCRIPTS = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


def _ref(graph: Graph, arg: object) -> str:
    if isinstance(arg, str) and arg in graph.nodes:
        return f"%{graph.nodes[arg].index}"
    return f"{arg:g}" if isinstance(arg, float) else repr(arg)


def expression(graph: Graph, n: Node) -> str:
    """``matmul(%3, %5)``, ``parameter w0``, ``data``."""
    if n.role == "parameter":
        return f"parameter {n.name}" if n.name else "parameter"
    if n.op in ("data", "constant"):
        return f"{n.op} {n.name}" if n.name else n.op
    params = "".join(f", {k}={v!r}" for k, v in n.params.items())
    return f"{n.op}({', '.join(_ref(graph, a) for a in n.args)}{params})"


def role_text(graph: Graph, n: Node) -> str:
    """``backward ∇¹``, ``update θ₂ [w0]``, ``stop_gradient (cut)``."""
    role = n.role
    if n.order and n.role in ("backward", "output", "stop_gradient"):
        role += f" ∇{str(n.order).translate(_SUPERSCRIPTS)}"
    if n.role == "update":
        role += f" θ{subscript(n.step or 0)}" + (f" [{n.parameter}]" if n.parameter else "")
    if n.role == "stop_gradient":
        role += " (cut)"
    if "no-gradient" in n.classes:
        role += ", no gradient"
    return role


def _incoming(graph: Graph, edges: list) -> str:
    """``I ← %0; −α∇²L(θ₀) ← %34`` / ``second-order ← %18 %20`` / ``cut ← %29``."""
    parts: dict[str, list[str]] = {}
    for e in edges:
        ref = f"%{graph.nodes[e.src].index}"
        if e.label and ("identity" in e.classes or "second-order" in e.classes):
            parts.setdefault(e.label, []).append(ref)
        elif "cut" in e.classes:
            parts.setdefault("cut", []).append(ref)
        elif "second-order" in e.classes:
            parts.setdefault("second-order", []).append(ref)
    return "; ".join(f"{k} ← {' '.join(v)}" for k, v in parts.items())


def wengert_list(graph: Graph, flow: Flow | None = None) -> str:
    """One line per value: ``%i = op(args)``, shape, role, scope, and the classes of its
    incoming edges (with a flow, also ‖adjoint‖ of the value)."""
    incoming: dict[str, list] = {nid: [] for nid in graph.nodes}
    for e in graph.edges:
        incoming[e.dst].append(e)
    rows = []
    for n in sorted(graph.nodes.values(), key=lambda n: n.index):
        shape = str(n.shape) if n.shape else "()"
        extra = _incoming(graph, incoming[n.id])
        if flow is not None and n.id in flow.node:
            norm = f"‖ḡ‖ = {float(np.linalg.norm(flow.node[n.id])):.3g}"
            extra = f"{norm}; {extra}" if extra else norm
        rows.append((f"%{n.index}", expression(graph, n), shape, role_text(graph, n),
                     n.scope, extra))
    w = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = [
        f"{a:<{w[0]}} = {b:<{w[1]}}  {c:<{w[2]}}  {d:<{w[3]}}  {e:<{w[4]}}  {f}".rstrip()
        for a, b, c, d, e, f in rows
    ]
    counts = ", ".join(f"{graph.count(c)} {c}" for c in EDGE_CLASSES)
    roles = ", ".join(f"{graph.count(r)} {r}" for r in
                      ("parameter", "forward", "backward", "update", "stop_gradient"))
    lines.append(f"# {len(graph.nodes)} values ({roles}); edges: {len(graph.edges)} "
                 f"({counts})")
    return "\n".join(lines)
