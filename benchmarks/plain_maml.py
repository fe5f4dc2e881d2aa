"""MAML's meta-gradient written as a user would, with no fused helpers.

``tinymeta.meta.maml_objective`` uses the library's fused ``linear`` and
``mse_loss`` primitives. A user porting a numpy script writes ``x @ W + b``,
``tm.relu`` and ``(pred - y) ** 2`` instead; this module is that script, so
``benchmarks/run.py`` can show what plain code costs next to the library path
(the "tinymeta plain user code" row). Same losses as ``maml_objective``
(batched): the support loss sums the tasks' mean squared errors, the query
loss averages them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import tinymeta as tm

__all__ = ["maml_objective_plain"]


def _mlp(params: dict, x: Any) -> Any:
    layers = len(params) // 2
    h = x
    for i in range(layers):
        h = h @ params[f"w{i}"] + params[f"b{i}"][:, None, :]  # b: (tasks, out)
        if i < layers - 1:
            h = tm.relu(h)
    return h


def _support_loss(params: dict, x: Any, y: Any) -> Any:
    return tm.sum(tm.mean((_mlp(params, x) - y) ** 2, axis=(1, 2)))


def maml_objective_plain(params: dict, batch: dict[str, np.ndarray], inner_lr: float,
                         steps: int, first_order: bool) -> Any:
    """The query loss after ``steps`` inner SGD steps, every task at once."""
    xs, ys, xq, yq = (batch[k] for k in ("x_support", "y_support", "x_query", "y_query"))
    tasks = xs.shape[0]
    theta = {n: tm.broadcast_to(p, (tasks, *np.shape(p))) for n, p in params.items()}
    for _ in range(steps):
        g = tm.grad(_support_loss)(theta, xs, ys)
        if first_order:
            g = tm.stop_gradient(g)
        theta = {n: theta[n] - inner_lr * g[n] for n in theta}
    return tm.mean((_mlp(theta, xq) - yq) ** 2)
