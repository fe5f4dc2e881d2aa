"""Losses: mean squared error as one primitive, cross-entropy built from others.

``mse_loss`` could be ``mean(square(subtract(p, t)))``, but as its own
primitive it is one node instead of three, and its VJP rule
``2 (p − t) g / n`` is two recorded ops instead of the six that the
chain of mean, square and subtract records. Meta-learning differentiates
that recorded rule again, so the saving counts twice. ``cross_entropy`` is a
composition of primitives, so every order of derivative comes for free.

Both check shapes strictly: a (10, 1) prediction against a (10,) target would
silently broadcast to a (10, 10) difference, the most common bug in small
regression scripts.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tinymeta.ops._export import export
from tinymeta.ops._util import shape_of, values
from tinymeta.ops.elementwise import multiply, subtract
from tinymeta.ops.reductions import log_softmax, mean
from tinymeta.ops.reductions import sum as _sum
from tinymeta.ops.shape import getitem
from tinymeta.primitive import Primitive
from tinymeta.tensor import Tensor


@export
def mse_loss(prediction: Any, target: Any) -> Tensor:
    """mean((prediction - target)²); the two shapes must be equal."""
    sp, st = shape_of(prediction), shape_of(target)
    if sp != st:
        raise ValueError(
            f"mse_loss: prediction shape {sp} != target shape {st}; they must match exactly "
            f"(broadcasting here is almost always a bug: reshape one of them)"
        )
    return _mse(prediction, target)


def _mse_forward(p: Any, t: Any) -> np.ndarray:
    d = np.subtract(p, t).ravel()
    return np.dot(d, d) / d.size if d.size else np.asarray(np.nan, d.dtype)


def _mse_vjp(g: Any, ans: Any, a: Any, b: Any) -> Any:
    """d mean((a − b)²)/da = 2 (a − b) / n; the rule for b swaps the arguments."""
    n = max(math.prod(shape_of(a)), 1)  # an empty input has an empty gradient
    return multiply(subtract(a, b), multiply(g, 2.0 / n))


_mse = Primitive(
    "mse_loss", _mse_forward,
    doc="mean((prediction − target)²) over every element (see ``mse_loss``).",
).defvjp(_mse_vjp, lambda g, ans, p, t: _mse_vjp(g, ans, t, p), saves=[{0, 1}, {0, 1}])


@export
def cross_entropy(logits: Any, labels: Any) -> Tensor:
    """Mean cross-entropy of ``logits`` (N, C) against integer ``labels`` (N,)
    or against probabilities of shape (N, C)."""
    sl = shape_of(logits)
    if len(sl) != 2:
        raise ValueError(f"cross_entropy: logits must have shape (N, C), got {sl}")
    lab = np.asarray(values(labels, "cross_entropy's labels"))
    logp = log_softmax(logits, axis=-1)
    if lab.dtype.kind in "iu":
        if lab.shape != sl[:1]:
            raise ValueError(f"cross_entropy: integer labels must have shape {sl[:1]}, "
                             f"got {lab.shape}")
        if lab.size and (lab.min() < 0 or lab.max() >= sl[1]):
            raise ValueError(f"cross_entropy: labels must lie in [0, {sl[1] - 1}], "
                             f"got range [{lab.min()}, {lab.max()}]")
        return -mean(getitem(logp, (np.arange(sl[0]), lab)))
    if shape_of(labels) != sl:
        raise ValueError(
            f"cross_entropy: labels must be integer class indices of shape {sl[:1]} or "
            f"probabilities of shape {sl}, got {shape_of(labels)} {lab.dtype}"
        )
    return -mean(_sum(multiply(labels, logp), axis=-1))
