"""Reductions with numpy's ``axis=None | int | tuple`` and ``keepdims``.

Every VJP first puts the reduced axes back as size-1 axes (a reshape), then
lets broadcasting spread the cotangent over them: for ``sum`` that is the
whole rule, ``mean`` divides by the count, ``max``/``min`` route it to the
winners (which ones is a rule-less primitive of the values, so ``tm.jit``
records it), and ``logsumexp`` multiplies by softmax. ``softmax`` and
``log_softmax`` are compositions of these, so they need no rules of their own.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinymeta.ops._export import export
from tinymeta.ops._util import add_reduce, dtype_of, keepdims_shape, normalize_axis, shape_of
from tinymeta.ops.elementwise import divide, exp, multiply, subtract
from tinymeta.ops.shape import _broadcast_to, _reshape
from tinymeta.primitive import Primitive
from tinymeta.tensor import Tensor


def _expand(g: Any, x: Any, axes: tuple[int, ...], keepdims: bool) -> Any:
    """Put the reduced axes back as size 1 so g broadcasts against x."""
    if keepdims:
        return g
    return _reshape(g, shape=keepdims_shape(shape_of(x), axes))


def _count(x: Any, axes: tuple[int, ...]) -> int:
    s = shape_of(x)
    n = 1
    for a in axes:
        n *= s[a]
    return n


def _sum_forward(x: Any, axes: tuple[int, ...], keepdims: bool) -> np.ndarray:
    if type(x) is np.ndarray:
        return add_reduce(x, axes, keepdims)
    return np.sum(x, axis=axes, keepdims=keepdims)


def _mean_forward(x: Any, axes: tuple[int, ...], keepdims: bool) -> np.ndarray:
    if type(x) is np.ndarray and x.dtype.kind == "f" and axes:
        return add_reduce(x, axes, keepdims) / _count(x, axes)
    return np.mean(x, axis=axes, keepdims=keepdims)


_sum = Primitive("sum", _sum_forward).defvjp(
    lambda g, ans, x, axes, keepdims: _broadcast_to(
        _expand(g, x, axes, keepdims), shape=shape_of(x)
    ),
    saves=[()],
)
_mean = Primitive("mean", _mean_forward).defvjp(
    lambda g, ans, x, axes, keepdims: _broadcast_to(
        divide(_expand(g, x, axes, keepdims), float(_count(x, axes))), shape=shape_of(x)
    ),
    saves=[()],
)


def _float_dtype(like: Any) -> np.dtype:
    """The dtype of a constant computed for ``like`` (float32 stays float32)."""
    dtype = dtype_of(like)
    return dtype if dtype is not None and dtype.kind == "f" else np.dtype(np.float64)


def _winners_forward(x: Any, ans: Any, axes: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    x = np.asarray(x)
    winners = (x == np.reshape(ans, keepdims_shape(x.shape, axes))).astype(dtype)
    return winners / winners.sum(axis=axes, keepdims=True)


# Which elements are the extreme is read from the values: a rule-less primitive (its
# result is a constant) rather than numpy in the rule, so tm.jit records it too
_winners = Primitive(
    "extreme_share", _winners_forward,
    doc="1/k at each of the k elements of a slice equal to its extreme ``ans``, else 0 "
        "(d max / dx with ties sharing evenly), as a constant of ``dtype``.",
).defvjp()


def _extreme_vjp(g, ans, x, axes, keepdims):
    # the cotangent goes to the arg-extremes, split evenly among ties
    share = _winners(x, ans, axes=axes, dtype=_float_dtype(g))
    return multiply(_expand(g, x, axes, keepdims), share)


def _explain_empty(name, error, args, params):
    return ValueError(f"{name}: cannot reduce shape {shape_of(args[0])} over axes "
                      f"{params['axes']}: {error}")


_max = Primitive("max", lambda x, axes, keepdims: np.max(x, axis=axes, keepdims=keepdims),
                 _explain_empty).defvjp(_extreme_vjp, saves=[{0, "ans"}])
_min = Primitive("min", lambda x, axes, keepdims: np.min(x, axis=axes, keepdims=keepdims),
                 _explain_empty).defvjp(_extreme_vjp, saves=[{0, "ans"}])


def _logsumexp_forward(x, axes, keepdims):
    x = np.asarray(x)
    m = np.max(x, axis=axes, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)
    out = np.log(np.sum(np.exp(x - m), axis=axes, keepdims=True)) + m
    return out if keepdims else np.reshape(out, [n for i, n in enumerate(x.shape) if i not in axes])


_logsumexp = Primitive("logsumexp", _logsumexp_forward, _explain_empty).defvjp(
    lambda g, ans, x, axes, keepdims: multiply(
        _expand(g, x, axes, keepdims), exp(subtract(x, _expand(ans, x, axes, keepdims)))
    ),
    saves=[{0, "ans"}],
)


def _reduction(prim: Primitive, name: str, doc: str):
    """The public ``name(x, axis=None, keepdims=False)``: numpy's axis forms (None, an
    int, negative, a tuple) normalised to the tuple of axes ``prim`` takes."""
    def reduce(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
        return prim(x, axes=normalize_axis(axis, len(shape_of(x)), name),
                    keepdims=bool(keepdims))

    reduce.__name__ = reduce.__qualname__ = name
    reduce.__doc__ = doc
    return export(reduce)


sum = _reduction(_sum, "sum", "numpy.sum.")  # noqa: A001  (numpy's names)
mean = _reduction(_mean, "mean", "numpy.mean.")
max = _reduction(_max, "max", "numpy.max; ties share the gradient evenly.")  # noqa: A001
min = _reduction(_min, "min", "numpy.min; ties share the gradient evenly.")  # noqa: A001
logsumexp = _reduction(_logsumexp, "logsumexp",
                       "log(sum(exp(x))) computed stably; its gradient is softmax(x).")


@export
def log_softmax(x: Any, axis: int = -1) -> Tensor:
    """x - logsumexp(x, axis, keepdims=True)."""
    return subtract(x, logsumexp(x, axis=axis, keepdims=True))


@export
def softmax(x: Any, axis: int = -1) -> Tensor:
    """exp(log_softmax(x)): normalised along ``axis``."""
    return exp(log_softmax(x, axis=axis))
