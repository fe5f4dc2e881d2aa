"""MAML, first-order MAML, Meta-SGD, Reptile and a pretrained baseline, through the tape.

Read ``adapt`` next to the paper's Algorithm 2. The inner loop is

    θ_0 = θ,   θ_i = θ_{i-1} − α ∇L_support(θ_{i-1}),

and MAML's meta-objective is the query loss at θ_k, differentiated with
respect to θ *through* the inner loop. Because ``tm.grad`` returns a
recorded tensor whenever its input depends on an outer traced value, the
second-order terms (∂θ_i/∂θ_{i-1} = I − α∇²L(θ_{i-1})) come out of the outer
``tm.grad`` with no extra code.

First-order MAML is the same code with one ``stop_gradient`` on the inner
gradient: the update then sees ∇L(θ_{i-1}) as a constant, every factor
∂θ_i/∂θ_{i-1} becomes I, and the meta-gradient is just ∇L_query(θ_k).

Every objective runs a meta-batch either one task at a time (the readable
reference, ``batched=False``) or as one computation with a leading task axis
(``batched=True``): θ is broadcast to (T, ...), the support loss is the *sum*
of the per-task losses so that its gradient with respect to the task-batched
θ is each task's own gradient, and the query losses are averaged. Both give
the same meta-gradient.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

import tinymeta as tm
from tinymeta.nn import mlp_apply, sgd
from tinymeta.tree import tree_map

__all__ = [
    "task_loss", "adapt", "maml_objective", "metasgd_objective", "pretrain_objective",
    "reptile_direction", "meta_gradient", "ALGORITHMS", "GRAPH_ALGORITHMS",
]

ALGORITHMS = ("maml", "fomaml", "reptile", "metasgd", "pretrain")
# the ones whose meta-gradient tinymeta.viz can draw (the pretrained baseline has no inner loop)
GRAPH_ALGORITHMS = ("maml", "fomaml", "reptile", "metasgd")


def task_loss(params: Any, x: Any, y: Any, activation: str = "relu") -> Any:
    """Mean squared error of the MLP on one task; for task-batched inputs (T, N, 1),
    the *sum* over tasks of each task's mean squared error.

    Every task has the same N points, so that sum is T times the mean over all
    of them: one ``mse_loss`` node however many tasks there are.
    """
    loss = tm.mse_loss(mlp_apply(params, x, activation), y)
    return loss * np.shape(x)[0] if np.ndim(x) == 3 else loss


def adapt(
    params: Any, x: Any, y: Any, inner_lr: Any, steps: int, first_order: bool = False,
    activation: str = "relu", loss: Callable[..., Any] = task_loss,
) -> Any:
    """k steps of SGD on the support set: θ_i = θ_{i-1} − α ∇L(θ_{i-1}).

    ``inner_lr`` is a float (MAML) or a tree of per-parameter rates (Meta-SGD).
    With ``first_order`` the inner gradient is a constant (FOMAML).
    """
    theta = params
    for i in range(1, steps + 1):
        with tm.name_scope(f"inner step {i}"):
            g = tm.grad(loss)(theta, x, y, activation)
            if first_order:
                g = tm.stop_gradient(g)  # the one line that makes MAML first-order
            theta = sgd(theta, g, inner_lr)
    return theta


def _broadcast_tasks(tree: Any, num_tasks: int) -> Any:
    return tree_map(lambda p: tm.broadcast_to(p, (num_tasks, *np.shape(p))), tree)


def _query_loss(theta: Any, x: Any, y: Any, activation: str) -> Any:
    """The query loss at θ_k; for task-batched inputs the *mean* of the tasks' losses."""
    with tm.name_scope("query loss"):
        return tm.mse_loss(mlp_apply(theta, x, activation), y)


def maml_objective(
    params: Any, batch: dict[str, np.ndarray], inner_lr: Any = 0.01, steps: int = 1,
    first_order: bool = False, batched: bool = True, activation: str = "relu",
) -> Any:
    """Mean over the meta-batch of L_query(θ_k(θ)); differentiate it for the meta-gradient."""
    xs, ys, xq, yq = (batch[k] for k in ("x_support", "y_support", "x_query", "y_query"))
    num_tasks = xs.shape[0]
    if batched:
        theta = _broadcast_tasks(params, num_tasks)
        adapted = adapt(theta, xs, ys, inner_lr, steps, first_order, activation)
        return _query_loss(adapted, xq, yq, activation)
    total = None
    for t in range(num_tasks):
        adapted = adapt(params, xs[t], ys[t], inner_lr, steps, first_order, activation)
        loss = _query_loss(adapted, xq[t], yq[t], activation)
        total = loss if total is None else total + loss
    return total / num_tasks


def metasgd_objective(
    meta_params: dict[str, Any], batch: dict[str, np.ndarray], steps: int = 1,
    batched: bool = True, activation: str = "relu",
) -> Any:
    """Meta-SGD (Li et al., 2017): MAML whose inner rates α are a tree of learned,
    per-parameter arrays, ``meta_params = {"params": θ, "lr": α}``."""
    return maml_objective(meta_params["params"], batch, meta_params["lr"], steps,
                          first_order=False, batched=batched, activation=activation)


def pretrain_objective(params: Any, batch: dict[str, np.ndarray], activation: str = "relu") -> Any:
    """The paper's baseline: one network regressed on all tasks at once (no adaptation)."""
    x = np.concatenate([batch["x_support"], batch["x_query"]], axis=1)
    y = np.concatenate([batch["y_support"], batch["y_query"]], axis=1)
    return tm.mse_loss(mlp_apply(params, x, activation), y)


def reptile_direction(
    params: Any, batch: dict[str, np.ndarray], inner_lr: float = 0.01, steps: int = 5,
    batched: bool = True, activation: str = "relu",
) -> dict[str, np.ndarray]:
    """Reptile (Nichol et al., 2018): the meta-update direction θ − mean_tasks(θ_k).

    Fed to the meta-optimiser as if it were a gradient (θ moves towards the
    adapted weights). Needs no second-order terms, so nothing is recorded.
    """
    return tree_map(_value, _reptile(params, batch, inner_lr, steps, batched, activation)[0])


def _value(a: Any) -> np.ndarray:
    """The numpy value of a result, leaving the graph on purpose (Reptile's direction and
    the meta-gradient handed to the optimiser are plain arrays)."""
    return a.data if isinstance(a, tm.Tensor) else np.asarray(a)


def _reptile(
    params: Any, batch: dict[str, np.ndarray], inner_lr: float, steps: int, batched: bool,
    activation: str,
) -> tuple[Any, Any]:
    """(Reptile direction, mean query loss at θ_k) as tensors: one inner loop serves both.
    Written with tinymeta ops only, so ``tm.jit`` can compile it (``meta_gradient``)."""
    xs, ys, xq, yq = (batch[k] for k in ("x_support", "y_support", "x_query", "y_query"))
    if batched:
        theta = _broadcast_tasks(params, xs.shape[0])
        adapted = adapt(theta, xs, ys, inner_lr, steps, True, activation)
        # sum / T: np.mean's own arithmetic, bit for bit
        mean_adapted = tree_map(lambda a: tm.sum(a, axis=0) / xs.shape[0], adapted)
        loss = _query_loss(adapted, xq, yq, activation)
    else:
        runs = [adapt(params, xs[t], ys[t], inner_lr, steps, True, activation)
                for t in range(xs.shape[0])]
        mean_adapted = tree_map(lambda *a: tm.mean(tm.stack(a), axis=0), *runs)
        loss = sum(_query_loss(r, xq[t], yq[t], activation) for t, r in enumerate(runs))
        loss = loss / len(runs)
    return tree_map(lambda p, a: p - a, params, mean_adapted), loss


def meta_gradient(
    algo: str, meta_params: Any, batch: dict[str, np.ndarray], inner_lr: float = 0.01,
    steps: int = 1, batched: bool = True, activation: str = "relu", jit: bool = True,
) -> tuple[float, Any]:
    """(meta-loss, meta-gradient) of one meta-batch for ``algo`` in ``ALGORITHMS``.

    For Reptile the "loss" is the query loss after adaptation (for monitoring)
    and the gradient is the Reptile direction. With ``jit`` (the default) the
    objective's ``value_and_grad`` (Reptile's direction and loss) runs as the program
    ``tm.jit`` records on the first meta-batch of each shape: the same numbers as the
    eager engine, about twice as fast.
    """
    if algo == "reptile":
        reptile = _compiled(_reptile, 4, differentiate=False) if jit else _reptile
        g, value = reptile(meta_params, batch, inner_lr, steps, batched, activation)
        return float(value), tree_map(_value, g)
    if algo in ("maml", "fomaml"):
        objective, args = maml_objective, (inner_lr, steps, algo == "fomaml", batched, activation)
    elif algo == "metasgd":
        objective, args = metasgd_objective, (steps, batched, activation)
    elif algo == "pretrain":
        objective, args = pretrain_objective, (activation,)
    else:
        raise ValueError(f"meta_gradient: unknown algorithm {algo!r}; choose one of "
                         f"{', '.join(ALGORITHMS)}")
    value_and_grad = _compiled(objective, len(args)) if jit else tm.value_and_grad(objective)
    value, g = value_and_grad(meta_params, batch, *args)
    return float(value), tree_map(_value, g)


_COMPILED: dict[Callable, Any] = {}


def _compiled(objective: Callable, settings: int, differentiate: bool = True) -> Any:
    """``tm.jit(tm.value_and_grad(objective))`` (or of ``objective`` itself), its settings
    (after θ and the batch) static; one per objective, so that its programs are cached
    across meta-batches."""
    if objective not in _COMPILED:
        f = tm.value_and_grad(objective) if differentiate else objective
        _COMPILED[objective] = tm.jit(f, static_argnums=tuple(range(2, 2 + settings)))
    return _COMPILED[objective]
