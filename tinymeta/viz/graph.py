"""Walk a recorded graph and say what every node and edge *is*.

This module knows nothing about pictures. It turns the tensors behind an
output into a plain ``Graph`` of ``Node`` and ``Edge`` records, each tagged
with the role it plays in a meta-gradient; ``dot.py`` draws it, ``text.py``
prints it and ``flow.py`` pushes adjoints through it.

Node roles
----------
``parameter``      a leaf that requires grad (θ, or Meta-SGD's α)
``data``           a numpy array an op read (support and query sets)
``constant``       a constant tensor (e.g. a backward pass's ``xᵀ``)
``forward``        an op of a forward pass (``order == 0``)
``backward``       an op a backward pass made, with its derivative ``order``
                   (1 for MAML's inner gradient ∇L(θᵢ₋₁), 2 for a Hessian-vector product)
``update``         a parameter update θᵢ = θᵢ₋₁ − α·g (see ``_is_update``)
``stop_gradient``  where FOMAML cuts the graph
``output``         what was drawn

Edge classes (also the ``class`` attribute in the DOT and the SVG)
-----------------------------------------------------------------
``identity``      θᵢ₋₁ → θᵢ, the update's first input: the "I" of ∂θᵢ/∂θᵢ₋₁
``second-order``  an edge of some update's *Hessian path*: every edge on a path
                  θᵢ₋₁ ⇝ g ⇝ α·g → θᵢ that passes through a node made by the
                  inner backward pass, where θᵢ is an update on the way to
                  the output. Since θᵢ = θᵢ₋₁ − α·g, these are exactly the
                  edges that carry −α∇²L(θᵢ₋₁); with the identity edge they
                  make up ∂θᵢ/∂θᵢ₋₁ = I − α∇²L(θᵢ₋₁).
``cut``           the input edge of a ``stop_gradient``: g → stop_gradient(g)
``no-gradient``   an edge into or out of the part of the graph that receives
                  no gradient from the output, because it lies behind a cut
                  (upstream of it; drawn above it).
                  Nodes of that part carry the class too.

In FOMAML the same edges that are second-order in MAML are no-gradient
(plus the data edges into that region), and the cut sits where g fed α·g.

The walk is iterative (an explicit stack): a graph 10,000 ops deep is fine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tinymeta import Tensor
from tinymeta.tree import flatten
from tinymeta.viz.record import Op, recorder_of, records_of

__all__ = ["Node", "Edge", "Graph", "walk", "ROLES", "EDGE_CLASSES", "subscript"]

ROLES = ("parameter", "data", "constant", "forward", "backward", "update", "stop_gradient",
         "output")
EDGE_CLASSES = ("identity", "second-order", "cut", "no-gradient")

_SUBSCRIPTS = str.maketrans("0123456789-", "₀₁₂₃₄₅₆₇₈₉₋")


def subscript(i: int) -> str:
    """``subscript(12) == "₁₂"``."""
    return str(i).translate(_SUBSCRIPTS)


@dataclass
class Node:
    """One value of the graph: a recorded op, a leaf, or a numpy array an op read."""

    id: str  # "n17" for a tensor, "d2" for a numpy array
    index: int  # position in the Wengert list (creation order)
    op: str  # the primitive's name, "leaf", "constant" or "data"
    shape: tuple[int, ...]
    dtype: str
    role: str
    scope: str = ""
    order: int = 0
    name: str | None = None  # parameter name ("w0") or grad's variable name
    args: list[Any] = field(default_factory=list)  # node ids, or literal Python scalars
    params: dict[str, Any] = field(default_factory=dict)
    backward_of: str | None = None  # id of the node whose VJP made this one (if drawn)
    step: int | None = None  # for an update θᵢ: i
    parameter: str | None = None  # for an update: the parameter it updates ("w0")
    classes: set[str] = field(default_factory=set)
    value: Any = field(default=None, repr=False)  # the Tensor or numpy array
    requires_grad: bool = False  # the value is being differentiated
    rules: frozenset = frozenset()  # the inputs the op has a VJP rule for

    @property
    def differentiable(self) -> bool:
        return self.requires_grad


@dataclass
class Edge:
    """Input ``argnum`` of node ``dst`` is node ``src``."""

    src: str
    dst: str
    argnum: int
    classes: set[str] = field(default_factory=set)
    label: str = ""


@dataclass
class Graph:
    """Nodes in creation order, edges, and which nodes are outputs and updates."""

    nodes: dict[str, Node]
    edges: list[Edge]
    outputs: list[str]
    updates: list[str]

    def edges_with(self, cls: str) -> list[Edge]:
        return [e for e in self.edges if cls in e.classes]

    def nodes_with(self, cls: str) -> list[Node]:
        return [n for n in self.nodes.values() if cls in n.classes]

    def count(self, cls: str) -> int:
        """How many edges carry class ``cls`` (a role name counts nodes instead)."""
        if cls in ROLES:
            return sum(n.role == cls for n in self.nodes.values())
        return len(self.edges_with(cls))

    def inputs_of(self) -> dict[str, list[Edge]]:
        """Each node id's incoming edges (an index built on demand: edges can be added)."""
        index: dict[str, list[Edge]] = {nid: [] for nid in self.nodes}
        for e in self.edges:
            index[e.dst].append(e)
        return index

    def consumers(self) -> dict[str, list[Edge]]:
        """Each node id's outgoing edges."""
        index: dict[str, list[Edge]] = {nid: [] for nid in self.nodes}
        for e in self.edges:
            index[e.src].append(e)
        return index

    @property
    def inner_steps(self) -> int:
        return max((self.nodes[u].step or 0 for u in self.updates), default=0)

    def summary(self) -> str:
        """``Graph: 39 values, 49 edges (4 identity, 31 second-order, …), 1 inner step``."""
        counts = ", ".join(f"{self.count(c)} {c}" for c in EDGE_CLASSES if self.count(c))
        k = self.inner_steps
        steps = f", {k} inner step{'s' * (k != 1)}" if k else ""
        return (f"Graph: {len(self.nodes)} values, {len(self.edges)} edges"
                + (f" ({counts})" if counts else "") + steps)

    def __repr__(self) -> str:  # the dataclass's would print every node
        return f"<{self.summary()}>"

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        """Jupyter shows the picture (SVG, when Graphviz's ``dot`` is installed) and a
        summary. The renderer is imported here, on use: it sits above this module."""
        bundle = {"text/plain": self.summary()}
        try:
            from tinymeta.viz.dot import to_digraph

            bundle["image/svg+xml"] = to_digraph(self).pipe(format="svg", encoding="utf-8")
        except Exception:  # no `dot` program: the summary alone is still useful
            pass
        return bundle


# ---------------------------------------------------------------- the walk
def _reach(starts: Iterable[Any], neighbours: Callable[[Any], Iterable[Any]],
           stop: Callable[[Any], bool] = lambda _: False) -> set[Any]:
    """Everything reachable from ``starts`` through ``neighbours``, not going on past a
    node where ``stop`` holds: the one graph walk of this module (an explicit stack, so a
    graph 10,000 ops deep is fine)."""
    found: set[Any] = set()
    stack = list(starts)
    while stack:
        x = stack.pop()
        if x in found:
            continue
        found.add(x)
        if not stop(x):
            stack.extend(n for n in neighbours(x) if n not in found)
    return found


def _collect(outputs: list[Op]) -> list[Op]:
    """Every op the outputs were computed from, in creation order."""
    found = _reach(outputs, lambda t: [p for p in t.inputs if isinstance(p, Op)])
    return sorted(found, key=lambda t: t.seq)


def _is_literal(x: Any) -> bool:
    """Python numbers and 0-d arrays are printed inside the op's label, not drawn."""
    return not isinstance(x, Op) and np.ndim(x) == 0


def _gradient_source(y: Op, level: int) -> bool:
    """Is ``y`` (or an input of it: α·g) a gradient made by a backward pass above ``level``,
    or such a gradient behind a stop_gradient?"""
    for c in (y, *(p for p in y.inputs if isinstance(p, Op))):
        if c.order > level:
            return True
        if c.op == "stop_gradient" and c.inputs and c.inputs[0].order > level:
            return True
    return False


def _is_update(t: Op) -> bool:
    """θᵢ = θᵢ₋₁ − α·g: a ``subtract`` of two tensors whose second input is a gradient
    made by a backward pass of higher order than the subtract itself (or that gradient
    behind a ``stop_gradient``). The order test tells a real update apart from the many
    subtracts *inside* a backward pass (``1 − tanh²`` in tanh's VJP)."""
    if t.op != "subtract" or not t.inputs or len(t.inputs) != 2:
        return False
    theta, step = t.inputs
    if not isinstance(theta, Op) or not isinstance(step, Op) or theta.shape != t.shape:
        return False
    return _gradient_source(step, t.order)


def _name(t: Op) -> str | None:
    name = t.name
    if name and name.startswith("arg"):  # grad's variable names: "arg0['w0']" -> "w0"
        inner = name.split("[")
        if len(inner) > 1:
            name = ".".join(s.strip("]'\"") for s in inner[1:])
    return name


def walk(outputs: Any, names: dict[str, Any] | None = None) -> Graph:
    """The graph behind ``outputs`` (a tensor or a tree of tensors), with roles and classes.

    Every tensor reachable through ``_inputs`` becomes a node (constants, data and
    ``stop_gradient`` nodes included); numpy arrays an op read become ``data`` nodes;
    Python numbers stay in their op's argument list. ``names`` maps a name to an array
    (``{"x_support": x}``): a data node with the same shape and values takes that name.
    """
    tensors_out = [t for t in flatten(outputs)[0] if isinstance(t, Tensor)]
    if not tensors_out:
        raise TypeError(f"walk: expected a tensor or a tree of tensors, got "
                        f"{type(outputs).__name__}")
    recorder = recorder_of(tensors_out[0])
    outs = recorder.records(tensors_out) if recorder else records_of(tensors_out)
    tensors = _collect(outs)
    node_of: dict[Op, Node] = {}
    data_of: dict[int, Node] = {}
    nodes: dict[str, Node] = {}
    edges: list[Edge] = []
    out_set = set(outs)
    index = 0

    def add(node: Node) -> None:
        nonlocal index
        node.index = index
        index += 1
        nodes[node.id] = node

    for t in tensors:
        inputs = t.inputs
        for x in inputs:  # numpy arrays first, so the list stays in dependency order
            if not isinstance(x, Op) and not _is_literal(x) and id(x) not in data_of:
                arr = np.asarray(x)
                d = Node(f"d{len(data_of)}", 0, "data", arr.shape, str(arr.dtype), "data",
                         value=x)
                data_of[id(x)] = d
                add(d)
        if not t.inputs:
            role = "parameter" if t.requires_grad else "constant"
            op = "leaf" if t.requires_grad else "constant"
        elif t.op == "stop_gradient":
            role, op = "stop_gradient", t.op
        else:
            op = t.op
            role = "update" if _is_update(t) else ("backward" if t.order > 0 else "forward")
        if t in out_set:
            role = "output"
        n = Node(f"n{t.seq}", 0, op, t.shape, str(t.dtype), role, t.scope, t.order,
                 _name(t), params=t.op_params, value=t.value, requires_grad=t.requires_grad,
                 rules=t.rules())
        for i, x in enumerate(inputs):
            if isinstance(x, Op):
                n.args.append(node_of[x].id)
                edges.append(Edge(node_of[x].id, n.id, i))
            elif _is_literal(x):
                n.args.append(x.item() if isinstance(x, np.ndarray) else x)
            else:
                n.args.append(data_of[id(x)].id)
                edges.append(Edge(data_of[id(x)].id, n.id, i))
        node_of[t] = n
        add(n)
    for d in data_of.values():
        for name, array in (names or {}).items():
            if np.shape(array) == d.shape and np.array_equal(np.asarray(array), d.value):
                d.name = name
                break
    for t, n in node_of.items():
        if t.backward_of is not None and t.backward_of in node_of:
            n.backward_of = node_of[t.backward_of].id

    graph = Graph(nodes, edges, [node_of[t].id for t in outs],
                  [node_of[t].id for t in tensors if _is_update(t)])
    _name_updates(graph)
    _classify(graph)
    return graph


def _name_updates(graph: Graph) -> None:
    """Step numbers (θ₁, θ₂, …) and parameter names for updates, by following θᵢ₋₁ back."""
    for uid in graph.updates:  # creation order: θᵢ₋₁'s update is numbered before θᵢ's
        u = graph.nodes[uid]
        prev = graph.nodes[u.args[0]]
        u.step = prev.step + 1 if prev.id in graph.updates else 1
        while True:  # θᵢ₋₁, back through broadcasts and the like, to a parameter
            if prev.id in graph.updates or prev.role == "parameter":
                u.parameter = prev.parameter if prev.id in graph.updates else prev.name
                break
            if not prev.args or not isinstance(prev.args[0], str):
                break
            prev = graph.nodes[prev.args[0]]


# ---------------------------------------------------------------- classes
def _live(graph: Graph, inputs_of: dict[str, list[Edge]]) -> set[str]:
    """Nodes the output's gradient reaches: back from the outputs along edges with a VJP
    rule whose both ends require grad."""
    outputs = [o for o in graph.outputs if graph.nodes[o].differentiable]
    return _reach(outputs, lambda nid: [e.src for e in inputs_of[nid]
                                        if _carries_gradient(graph, e)])


def _carries_gradient(graph: Graph, e: Edge) -> bool:
    src, dst = graph.nodes[e.src], graph.nodes[e.dst]
    if not (src.differentiable and dst.differentiable):
        return False
    return e.argnum in dst.rules


def _classify(graph: Graph) -> None:
    inputs_of, consumers = graph.inputs_of(), graph.consumers()

    # -- the part behind a cut: receives no gradient ----------------------------------
    live = _live(graph, inputs_of)
    leafy = ("data", "constant")
    dead = {nid for nid, n in graph.nodes.items()
            if nid not in live and n.role not in leafy + ("stop_gradient",)
            and not (n.role == "parameter" and not consumers[nid])}
    for nid, n in graph.nodes.items():  # data read only by that part is greyed with it
        if n.role in leafy and consumers[nid] and all(e.dst in dead for e in consumers[nid]):
            dead.add(nid)
    for nid in dead:
        graph.nodes[nid].classes.add("no-gradient")
    for e in graph.edges:
        if graph.nodes[e.dst].role == "stop_gradient":
            e.classes.add("cut")
        elif e.src in dead or e.dst in dead or graph.nodes[e.src].role == "stop_gradient":
            e.classes.add("no-gradient")

    # -- identity edges and Hessian paths of the updates the output depends on ---------
    for uid in graph.updates:
        u = graph.nodes[uid]
        first, second = inputs_of[uid][0], inputs_of[uid][1]
        first.classes.add("identity")
        if uid not in live:
            continue
        prev = f"θ{subscript(u.step - 1)}"
        first.label = "I"
        if "cut" in first.classes or not _carries_gradient(graph, second):
            continue  # FOMAML: the Hessian path is cut (the cut edge is labelled)
        hessian = _hessian_path(graph, u, second.src, inputs_of)
        for e in hessian:
            e.classes.add("second-order")
        second.classes.add("second-order")
        second.label = f"−α∇²L({prev})"
    for e in graph.edges:
        if "cut" in e.classes:
            u = _update_below(graph, e.dst, consumers)
            step = f"θ{subscript(u.step - 1)}" if u is not None and u.step else "θ"
            e.label = f"✂ −α∇²L({step}) dropped"


def _update_below(graph: Graph, nid: str, consumers: dict[str, list[Edge]]) -> Node | None:
    """The first update downstream of ``nid`` (for labelling a cut)."""
    below = _reach([nid], lambda cur: [e.dst for e in consumers[cur]],
                   stop=lambda cur: cur in graph.updates)
    updates = [graph.nodes[u] for u in below if u in graph.updates and u != nid]
    return min(updates, key=lambda n: n.index, default=None)


def _hessian_path(graph: Graph, u: Node, y: str, inputs_of: dict[str, list[Edge]]) -> list[Edge]:
    """The edges on paths θᵢ₋₁ ⇝ g ⇝ y that pass through a node made by a backward pass.

    Walks up from ``y`` (= α·g) along gradient-carrying edges, stopping at the previous
    updates and at leaves, so each inner step's Hessian path ends where the previous
    step's update begins.
    """
    boundary = set(graph.updates)

    def ancestors(starts: Iterable[str], within: set[str] | None) -> set[str]:
        """Nodes reachable upwards along gradient-carrying edges, stopping at the previous
        updates and at parameters (and staying ``within`` a set when given)."""
        return _reach(starts, lambda nid: [
            e.src for e in inputs_of[nid]
            if (within is None or e.src in within) and _carries_gradient(graph, e)],
            stop=lambda nid: nid in boundary or graph.nodes[nid].role == "parameter")

    region = ancestors([y], None)  # ancestors of y, inclusive, within this step
    made_by_backward = {nid for nid in region if graph.nodes[nid].order > u.order}
    # ancestors of the backward-made nodes (paths θᵢ₋₁ ⇝ g) ...
    upstream = ancestors(made_by_backward, region)
    # ... and their descendants up to y (paths g ⇝ α·g)
    downstream = set(made_by_backward)
    for nid in sorted(region, key=lambda n: graph.nodes[n].index):
        if any(e.src in downstream for e in inputs_of[nid] if e.src in region):
            downstream.add(nid)
    return [e for nid in region for e in inputs_of[nid]
            if e.src in region and _carries_gradient(graph, e)
            and (nid in upstream and nid not in boundary or e.src in downstream)]

