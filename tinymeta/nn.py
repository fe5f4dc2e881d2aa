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

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tinymeta import ops
from tinymeta.ops import mse_loss
from tinymeta.tensor import Tensor
from tinymeta.tree import flatten, tree_map, tree_paths, unflatten

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

    When every leaf has the same dtype (an MLP's parameters do), a step joins
    the leaves into one vector: ten numpy calls however many leaves there are,
    instead of ten per leaf. At this size the per-call cost, not the
    arithmetic, is what a step costs; the numbers are the same either way.
    """

    def __init__(self, lr: float = 1e-3, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8):
        if not lr > 0:
            raise ValueError(f"Adam: lr must be positive, got {lr}")
        self.lr, self.b1, self.b2, self.eps = lr, b1, b2, eps
        self.t = 0
        self.m: list[np.ndarray] | None = None  # per leaf, updated in place each step
        self.v: list[np.ndarray] | None = None

    def step(self, params: Any, grads: Any) -> Any:
        """Return the updated tree (the input is not modified)."""
        p_leaves, treedef = flatten(params)
        g_leaves, g_def = flatten(grads)
        if g_def != treedef:
            raise ValueError("Adam.step: gradient tree does not match the parameter tree")
        p_leaves = [np.asarray(p) for p in p_leaves]
        g_leaves = [np.asarray(g) for g in g_leaves]
        shapes = [p.shape for p in p_leaves]
        if [g.shape for g in g_leaves] != shapes:
            for p, g, path in zip(p_leaves, g_leaves, tree_paths(params), strict=True):
                if g.shape != p.shape:
                    raise ValueError(f"Adam.step: the gradient of {path or 'the parameter'} "
                                     f"has shape {g.shape} but the parameter has shape "
                                     f"{p.shape}")
        if self.m is None or self.v is None:
            self.m = [np.zeros_like(p) for p in p_leaves]
            self.v = [np.zeros_like(p) for p in p_leaves]
        elif [np.shape(m) for m in self.m] != shapes:
            raise ValueError(f"Adam.step: parameter shapes {shapes} differ from those of the "
                             f"moments {[np.shape(m) for m in self.m]}; use a new Adam for a "
                             f"new model")
        self.t += 1
        c1 = 1 - self.b1**self.t
        c2 = 1 - self.b2**self.t
        dtype = p_leaves[0].dtype if p_leaves else None
        # 0-d leaves take the loop: numpy < 2 promotes a 0-d array by value, a vector not
        if len(p_leaves) > 1 and all(p.ndim for p in p_leaves) and all(
                getattr(a, "dtype", None) == dtype for a in (
                    *p_leaves, *g_leaves, *self.m, *self.v)):
            # one vector for every leaf: the same arithmetic, one call per operation
            m, v, p = self._update(_joined(self.m), _joined(self.v), _joined(g_leaves),
                                   _joined(p_leaves), c1, c2)
            self.m[:], self.v[:] = _split(m, shapes), _split(v, shapes)
            return unflatten(treedef, _split(p, shapes))
        out = []
        for i, (p, g) in enumerate(zip(p_leaves, g_leaves, strict=True)):
            self.m[i], self.v[i], p = self._update(self.m[i], self.v[i], g, p, c1, c2)
            out.append(p)
        return unflatten(treedef, out)

    def _update(self, m: Any, v: Any, g: np.ndarray, p: np.ndarray, c1: float,
                c2: float) -> tuple[Any, Any, np.ndarray]:
        """(new m, new v, new p) for one leaf or for all of them joined."""
        m = self.b1 * m + (1 - self.b1) * g
        v = self.b2 * v + (1 - self.b2) * g * g
        step = self.lr * (m / c1) / (np.sqrt(v / c2) + self.eps)
        return m, v, (p - step).astype(p.dtype, copy=False)

    def state_dict(self) -> dict[str, Any]:
        return {"t": self.t, "m": self.m, "v": self.v}


def _joined(leaves: list[Any]) -> np.ndarray:
    return np.concatenate([np.ravel(a) for a in leaves])


def _split(flat: np.ndarray, shapes: list[tuple[int, ...]]) -> list[np.ndarray]:
    """Views of ``flat`` with the given shapes, in order (``_joined`` undone)."""
    out, start = [], 0
    for shape in shapes:
        size = math.prod(shape)
        out.append(flat[start:start + size].reshape(shape))
        start += size
    return out
