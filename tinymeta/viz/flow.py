"""Gradient flow: how much adjoint runs along every edge of a recorded graph.

Once a graph is drawn we want to see *where* the meta-gradient comes from.
``gradient_flow`` runs the engine's own backward pass from the drawn output to
every leaf (``tm.autodiff.backward_flow``), which tells an observer the
cotangent each VJP rule computes for each input, before the contributions are
summed into the input's adjoint. The renderer draws each edge with a pen width
and a label for ‖contribution‖. Since it is the very backward pass ``tm.grad``
runs, the adjoints that reach the parameter leaves are exactly the
meta-gradient (``tests/test_viz.py`` checks it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinymeta import Tensor
from tinymeta.autodiff import backward_flow
from tinymeta.viz.graph import Graph

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
    drawn = {id(n.value.node): n.id for n in graph.nodes.values()
             if isinstance(n.value, Tensor) and n.value.node is not None}
    cot: dict[str, np.ndarray] = {out.id: seed}
    edge: dict[tuple[str, str, int], np.ndarray] = {}

    def on_edge(node: object, i: int, c: np.ndarray) -> None:
        dst, src = drawn.get(id(node)), drawn.get(id(node.inputs[i]))
        if dst is None or src is None:
            return
        c = np.asarray(c)
        edge[(src, dst, i)] = c
        cot[src] = c if src not in cot else cot[src] + c

    if isinstance(out.value, Tensor) and out.value.node is not None:
        backward_flow(out.value, on_edge, seed)
    return Flow(edge, cot)
