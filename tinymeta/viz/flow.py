"""Gradient flow: how much adjoint runs along every edge of a recorded graph.

Once a graph is drawn we want to see *where* the meta-gradient comes from.
``gradient_flow`` runs one more reverse pass over the very nodes that were
drawn, with each node's own VJP rule,

    adjoint(input i of node) = node.vjp_rules[i](adjoint(node), node, *node.inputs)

under ``no_grad`` (the result is numbers, not a new graph). It keeps the
contribution of every edge before the contributions are summed into the
input's adjoint, so the renderer can draw each edge with a pen width and a
label for ‖contribution‖. The adjoints that reach the parameter leaves add up
to exactly the meta-gradient ``tm.grad`` computes: the engine's backward pass
walks the same graph with the same rules (``tests/test_viz.py`` checks it).

Why a separate pass rather than asking the engine? ``tm.grad`` only returns
the adjoints of the variables; the per-edge contributions exist for an
instant inside the backward loop. Re-running the rules here costs one more
backward pass and needs no change to the engine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinymeta import Tensor, no_grad
from tinymeta.viz.graph import Graph, _carries_gradient

__all__ = ["Flow", "gradient_flow"]


@dataclass
class Flow:
    """Adjoints from one reverse pass: per edge (src, dst, argnum) and per node id."""

    edge: dict[tuple[str, str, int], np.ndarray]
    node: dict[str, np.ndarray]

    def norm(self, src: str, dst: str, argnum: int) -> float | None:
        a = self.edge.get((src, dst, argnum))
        return None if a is None else float(np.linalg.norm(a))

    def gradient(self, graph: Graph) -> dict[str, np.ndarray]:
        """The adjoint that reached each parameter leaf, by parameter name."""
        return {graph.nodes[nid].name or nid: a for nid, a in self.node.items()
                if graph.nodes[nid].role == "parameter"}

    @property
    def max_norm(self) -> float:
        return max((float(np.linalg.norm(a)) for a in self.edge.values()), default=0.0)


def _numpy(x: object) -> np.ndarray:
    return np.asarray(x.data if isinstance(x, Tensor) else x)


def gradient_flow(graph: Graph, seed: object = None) -> Flow:
    """Push ``seed`` (default 1; the output must then be a scalar) from the graph's first
    output back to its leaves and record the adjoint through every edge."""
    out = graph.nodes[graph.outputs[0]]
    if seed is None:
        if int(np.prod(out.shape)) != 1:
            raise TypeError(f"gradient_flow: the output has shape {out.shape}; pass seed= "
                            f"(a cotangent of that shape) or draw a scalar")
        seed = np.ones(out.shape, dtype=out.dtype)
    seed = np.asarray(seed, dtype=out.dtype)
    if seed.shape != out.shape:
        raise ValueError(f"gradient_flow: the seed has shape {seed.shape} but the output has "
                         f"shape {out.shape}")
    inputs_of = graph.inputs_of()
    cot: dict[str, np.ndarray] = {out.id: seed}
    edge: dict[tuple[str, str, int], np.ndarray] = {}
    with no_grad():
        for node in sorted(graph.nodes.values(), key=lambda n: n.index, reverse=True):
            g = cot.get(node.id)
            t = node.value
            if g is None or not isinstance(t, Tensor) or not t.vjp_rules:
                continue
            for e in inputs_of[node.id]:
                if not _carries_gradient(graph, e):
                    continue
                c = _numpy(t.vjp_rules[e.argnum](Tensor(g), t, *t.inputs, **t.op_params))
                edge[(e.src, e.dst, e.argnum)] = c
                cot[e.src] = c if e.src not in cot else cot[e.src] + c
    return Flow(edge, cot)
