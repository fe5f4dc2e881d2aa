"""A functional MLP, losses, and SGD/Adam over trees of parameters.

Parameters are a plain dict of arrays, ``{"w0": (in, h), "b0": (h,), ...}``,
so that ``tm.grad(loss)(params, x, y)`` returns a dict of the same shape and
an inner SGD step is one ``tree_map``. Nothing here is a class with hidden
state: that is what lets MAML differentiate *through* an update.

Every function also accepts a *task-batched* parameter tree, where each leaf
has a leading task axis (``w0`` of shape (T, in, h)) and the inputs are
(T, N, in): batched matmul then runs all tasks of a meta-batch at once.

Initialisation follows the MAML reference code for the sinusoid problem:
weights from a normal with standard deviation 0.01 truncated at two standard
deviations, biases zero.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tinymeta import ops
from tinymeta.ops import mse_loss
from tinymeta.tensor import Tensor
from tinymeta.tree import flatten, tree_map, unflatten

__all__ = ["mlp_init", "mlp_apply", "mse_loss", "sgd", "Adam", "ACTIVATIONS"]

ACTIVATIONS: dict[str, Callable[[Any], Any]] = {"relu": ops.relu, "tanh": ops.tanh}


def mlp_init(
    sizes: Sequence[int], seed: int | np.random.Generator = 0, std: float = 0.01,
    dtype: Any = np.float64,
) -> dict[str, np.ndarray]:
    """Parameters of an MLP with layer ``sizes`` (e.g. ``[1, 40, 40, 1]``).

    ``w{i}`` ~ N(0, std²) truncated to ±2·std (as the MAML code's
    ``tf.truncated_normal(stddev=0.01)``), ``b{i}`` = 0.
    """
    if len(sizes) < 2 or any(int(n) < 1 for n in sizes):
        raise ValueError(f"mlp_init: sizes must list at least two positive layer widths, "
                         f"got {list(sizes)}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    params: dict[str, np.ndarray] = {}
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        w = rng.standard_normal((n_in, n_out))
        while np.any(bad := np.abs(w) > 2.0):  # resample outside two standard deviations
            w[bad] = rng.standard_normal(int(bad.sum()))
        params[f"w{i}"] = (std * w).astype(dtype)
        params[f"b{i}"] = np.zeros(n_out, dtype=dtype)
    return params


def _layers(params: dict[str, Any]) -> int:
    n = 0
    while f"w{n}" in params:
        if f"b{n}" not in params:
            raise KeyError(f"mlp_apply: parameters have w{n} but no b{n}")
        n += 1
    if n == 0:
        raise KeyError(f"mlp_apply: expected keys w0, b0, w1, ...; got {sorted(params)}")
    return n


def mlp_apply(params: dict[str, Any], x: Any, activation: str = "relu") -> Any:
    """Run the MLP on inputs ``x`` of shape (N, in), or (T, N, in) with task-batched params."""
    act = ACTIVATIONS.get(activation)
    if act is None:
        raise ValueError(f"mlp_apply: activation must be one of {sorted(ACTIVATIONS)}, "
                         f"got {activation!r}")
    n = _layers(params)
    h = x
    for i in range(n):
        # one node per layer; task-batched (T, out) biases broadcast over the N points
        h = ops.linear(h, params[f"w{i}"], params[f"b{i}"])
        if i < n - 1:
            h = act(h)
    return h


def sgd(params: Any, grads: Any, lr: float | Any) -> Any:
    """One SGD step over a tree: ``p - lr * g``. ``lr`` may be a tree (per-parameter rates)."""
    if isinstance(lr, (int, float, np.number)) or (
            isinstance(lr, (np.ndarray, Tensor)) and np.ndim(lr) == 0):
        return tree_map(lambda p, g: p - lr * g, params, grads)
    return tree_map(lambda p, g, a: p - a * g, params, grads, lr)


class Adam:
    """Adam (Kingma & Ba, 2015) over a tree of numpy arrays; the meta-optimiser.

    Runs on plain numpy outside any graph: meta-parameters are updated *after*
    the meta-gradient is computed, so nothing here needs differentiating.
    """

    def __init__(self, lr: float = 1e-3, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8):
        if not lr > 0:
            raise ValueError(f"Adam: lr must be positive, got {lr}")
        self.lr, self.b1, self.b2, self.eps = lr, b1, b2, eps
        self.t = 0
        self.m: list[np.ndarray] | None = None
        self.v: list[np.ndarray] | None = None

    def step(self, params: Any, grads: Any) -> Any:
        """Return the updated tree (the input is not modified)."""
        p_leaves, treedef = flatten(params)
        g_leaves, g_def = flatten(grads)
        if g_def != treedef:
            raise ValueError("Adam.step: gradient tree does not match the parameter tree")
        p_leaves = [np.asarray(p) for p in p_leaves]
        g_leaves = [np.asarray(g) for g in g_leaves]
        if self.m is None:
            self.m = [np.zeros_like(p) for p in p_leaves]
            self.v = [np.zeros_like(p) for p in p_leaves]
        self.t += 1
        c1 = 1 - self.b1**self.t
        c2 = 1 - self.b2**self.t
        out = []
        for i, (p, g) in enumerate(zip(p_leaves, g_leaves, strict=True)):
            self.m[i] = self.b1 * self.m[i] + (1 - self.b1) * g
            self.v[i] = self.b2 * self.v[i] + (1 - self.b2) * g * g
            step = self.lr * (self.m[i] / c1) / (np.sqrt(self.v[i] / c2) + self.eps)
            out.append((p - step).astype(p.dtype, copy=False))
        return unflatten(treedef, out)

    def state_dict(self) -> dict[str, Any]:
        return {"t": self.t, "m": self.m, "v": self.v}
