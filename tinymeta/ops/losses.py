"""Losses built from primitives (so every order of derivative comes for free).

Both check shapes strictly: a (10, 1) prediction against a (10,) target would
silently broadcast to a (10, 10) difference, the most common bug in small
regression scripts.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinymeta.ops._util import shape_of
from tinymeta.ops.elementwise import multiply, square, subtract
from tinymeta.ops.reductions import log_softmax, mean
from tinymeta.ops.reductions import sum as _sum
from tinymeta.ops.shape import getitem
from tinymeta.tensor import Tensor

__all__ = ["mse_loss", "cross_entropy"]


def mse_loss(prediction: Any, target: Any) -> Tensor:
    """mean((prediction - target)²); the two shapes must be equal."""
    sp, st = shape_of(prediction), shape_of(target)
    if sp != st:
        raise ValueError(
            f"mse_loss: prediction shape {sp} != target shape {st}; they must match exactly "
            f"(broadcasting here is almost always a bug: reshape one of them)"
        )
    return mean(square(subtract(prediction, target)))


def cross_entropy(logits: Any, labels: Any) -> Tensor:
    """Mean cross-entropy of ``logits`` (N, C) against integer ``labels`` (N,)
    or against probabilities of shape (N, C)."""
    sl = shape_of(logits)
    if len(sl) != 2:
        raise ValueError(f"cross_entropy: logits must have shape (N, C), got {sl}")
    lab = labels._data if isinstance(labels, Tensor) else np.asarray(labels)
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
