"""Small helpers shared by the op modules: shapes, axes and error messages."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from tinymeta.checks import describe
from tinymeta.tensor import (  # Unsaved: the ops import it from here
    Tensor,
    Unsaved,
    holds_traced,
    recording,
)

BROADCAST_RULE = (
    "numpy broadcasting aligns shapes from the last axis and needs each pair of sizes "
    "to be equal or 1"
)


def add_reduce(x: np.ndarray, axes: tuple[int, ...], keepdims: bool) -> np.ndarray:
    """``np.sum(x, axes, keepdims=keepdims)``, with the quickest kernel for what the ops
    reduce (sum, mean and sum_to_shape all call this)."""
    if x.dtype.kind != "f":
        return np.sum(x, axis=axes, keepdims=keepdims)
    if len(axes) == 1 and x.ndim >= 3 and axes[0] == x.ndim - 2:
        # summing the rows of a stack of matrices, as a batched layer's bias gradient
        # does: numpy's strided reduction is ~2.4x slower than a product with ones
        rows = np.matmul(_ones_row(x.shape[-2], x.dtype), x)  # (..., 1, n)
        return rows if keepdims else rows[..., 0, :]
    return np.add.reduce(x, axes, None, None, keepdims)  # skips np.sum's wrapper


@functools.lru_cache(maxsize=64)
def _ones_row(n: int, dtype: np.dtype) -> np.ndarray:
    ones = np.ones((1, n), dtype)
    ones.flags.writeable = False
    return ones


def values(x: Any, op: str = "an op") -> Any:
    """The numpy values of ``x``, for an op that looks at them (a mask, an index, a case).

    While ``tm.jit`` records, reading values that depend on its arguments is refused:
    a program would freeze them on the first call's data.
    """
    v = x._value if type(x) is Tensor else x
    if recording.jit is not None:
        recording.jit.reads(v, op)
    return v


def shape_of(x: Any) -> tuple[int, ...]:
    kind = type(x)
    if kind is np.ndarray or kind is Tensor or isinstance(x, Unsaved):
        return x.shape
    if (kind is list or kind is tuple) and holds_traced(x):
        # np.shape would convert the tensors to arrays; the op will stack them (pack)
        return (len(x), *shape_of(x[0]))
    return np.shape(x)


def dtype_of(x: Any) -> np.dtype | None:
    if type(x) is Tensor or type(x) is np.ndarray:
        return x.dtype
    return None


_AXES_CACHE: dict[tuple[Any, int], tuple[int, ...]] = {}


def normalize_axis(axis: Any, ndim: int, opname: str) -> tuple[int, ...]:
    """axis=None|int|tuple -> sorted tuple of non-negative axes (with a clear error)."""
    # only exact ints are cached: True == 1.0 == 1 as dict keys, and those must still raise
    cacheable = axis is None or type(axis) is int or (
        type(axis) is tuple and all(type(a) is int for a in axis))
    if cacheable:
        axes = _AXES_CACHE.get((axis, ndim))
        if axes is not None:
            return axes
    axes = _normalize_axis(axis, ndim, opname)
    if cacheable and len(_AXES_CACHE) < 4096:
        _AXES_CACHE[axis, ndim] = axes
    return axes


def _normalize_axis(axis: Any, ndim: int, opname: str) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (int, np.integer)):
        axes = (axis,)
    elif isinstance(axis, (tuple, list)):
        axes = tuple(axis)
    else:
        raise TypeError(f"{opname}: axis must be None, an int or a tuple of ints, got {axis!r}")
    out = []
    for a in axes:
        if not isinstance(a, (int, np.integer)) or isinstance(a, bool):
            raise TypeError(f"{opname}: axis must be None, an int or a tuple of ints, got {axis!r}")
        if not -ndim <= a < ndim:
            raise ValueError(
                f"{opname}: axis {a} is out of range for an array with {ndim} dimensions "
                f"(valid: {-ndim}..{ndim - 1})" if ndim else
                f"{opname}: axis {a} is out of range for a 0-d array (valid: axis=None)"
            )
        out.append(int(a) % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"{opname}: repeated axis in {axis!r}")
    return tuple(sorted(out))


def keepdims_shape(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def explain_broadcast(name: str, error: Exception, args: tuple, params: dict) -> Exception:
    shapes = [shape_of(a) for a in args if not isinstance(a, (str, type(None)))]
    try:
        np.broadcast_shapes(*shapes)
    except ValueError:
        shown = " and ".join(str(s) for s in shapes)
        return ValueError(f"{name}: shapes {shown} are not broadcast-compatible: {BROADCAST_RULE}")
    except TypeError:
        pass
    shown = ", ".join(describe(a) for a in args)
    return TypeError(
        f"{name}: unsupported arguments ({shown}); expected tensors, numpy arrays or numbers"
        f" ({error})"
    )


def variadic(prim: Any) -> Any:
    """``prim`` with its one rule serving every argument, told which (``rule(i, g, ...)``):
    for ops that take any number of arguments. Returns it, to stay in its declaration."""
    prim.variadic = True
    return prim
