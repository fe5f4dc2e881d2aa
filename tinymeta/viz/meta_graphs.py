"""The graphs of one meta-gradient, small enough to draw: MAML, FOMAML, Reptile, Meta-SGD.

One task (``batched=False``), the Jacobian report's 1→3→1 tanh MLP and k inner steps:
the graph of MAML with k = 2 is about 80 ops, every one of which can be drawn and read.
The algorithms are the ones in ``tinymeta.meta``, run unchanged under an observer
(``tm.observe``); nothing here re-implements them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tinymeta.meta.algorithms import GRAPH_ALGORITHMS, adapt, maml_objective, metasgd_objective
from tinymeta.meta.report import ACTIVATION, SHOTS, SIZES, small_problem
from tinymeta.tree import tree_map
from tinymeta.viz.graph import Graph, walk
from tinymeta.viz.trace import trace

__all__ = ["GRAPH_ALGORITHMS", "meta_problem", "meta_graph"]


def meta_problem(sizes: Sequence[int] = SIZES, shots: int = SHOTS, seed: int = 0,
                 std: float = 1.0) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(θ, one sinusoid task) for pictures: the Jacobian report's problem
    (``tinymeta.meta.report.small_problem``), a 1→3→1 MLP with 10 support and 10 query
    points and θ drawn with a visible scale (``std``), so the Hessian terms are not
    vanishingly small. ``tinymeta graph`` and ``tinymeta explain`` default to it."""
    return small_problem(sizes, seed, shots, std)


def _reptile_outputs(params: Any, batch: dict[str, np.ndarray], inner_lr: float, steps: int,
                     activation: str) -> Any:
    # Reptile's meta-direction θ − θ_k, written with tensor ops so its graph can be drawn
    # (tinymeta.meta.reptile_direction returns the same numbers as numpy arrays).
    x, y = batch["x_support"][0], batch["y_support"][0]
    adapted = adapt(params, x, y, inner_lr, steps, first_order=True, activation=activation)
    return tree_map(lambda p, a: p - a, params, adapted)


def meta_graph(algo: str = "maml", inner_steps: int = 1, sizes: Sequence[int] = SIZES,
               activation: str = ACTIVATION, inner_lr: float = 0.01, shots: int = SHOTS,
               seed: int = 0) -> Graph:
    """The walked graph of one meta-objective for ``algo`` in ``GRAPH_ALGORITHMS``.

    maml / fomaml / metasgd: the scalar query loss after k inner steps (its gradient is
    the meta-gradient). reptile: the direction θ − θ_k, one output per parameter.
    """
    if algo not in GRAPH_ALGORITHMS:
        raise ValueError(f"meta_graph: algo must be one of {', '.join(GRAPH_ALGORITHMS)}, "
                         f"got {algo!r}")
    if inner_steps < 1:
        raise ValueError(f"meta_graph: inner_steps must be >= 1, got {inner_steps}")
    params, batch = meta_problem(sizes, shots, seed)
    if algo in ("maml", "fomaml"):
        out = trace(maml_objective, params, batch, inner_lr, inner_steps,
                    first_order=algo == "fomaml", batched=False, activation=activation)
    elif algo == "metasgd":
        meta = {"params": params, "lr": tree_map(lambda p: np.full_like(p, inner_lr), params)}
        out = trace(metasgd_objective, meta, batch, inner_steps, batched=False,
                    activation=activation)
    else:
        out = trace(_reptile_outputs, params, batch, inner_lr, inner_steps, activation)
    names = {k.replace("_", " "): batch[k][0] for k in ("x_support", "y_support", "x_query",
                                                       "y_query")}
    return walk(out, names)

