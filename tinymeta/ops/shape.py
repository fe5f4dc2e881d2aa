"""Shape primitives: reshape, transpose, broadcasting, indexing, joining.

Broadcasting is undone by ``sum_to_shape``, itself a primitive whose VJP is
``broadcast_to`` (and vice versa), so unbroadcasting stays differentiable at
every order. ``getitem``'s VJP scatters the cotangent back with
``scatter_add``, whose VJP is ``getitem`` again; an index that is a tensor of
ints (``x[tm.argsort(x)]``) goes to the same pair with the index as an argument,
``take`` and ``scatter_at``, so ``tm.jit`` records the indices as values.
"""

from __future__ import annotations

import functools
import itertools
from typing import Any

import numpy as np

from tinymeta.checks import describe
from tinymeta.ops._export import export
from tinymeta.ops._util import (
    BROADCAST_RULE,
    add_reduce,
    normalize_axis,
    shape_of,
    values,
    variadic,
)
from tinymeta.primitive import Primitive
from tinymeta.tensor import Tensor, holds_traced, recording


def _as_shape(shape: Any, opname: str) -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)):
        return (int(shape),)
    try:
        return tuple(int(n) for n in shape)
    except (TypeError, ValueError):  # ValueError: int("a") for a str shape
        raise TypeError(
            f"{opname}: shape must be an int or a tuple of ints, got {shape!r}"
        ) from None


# ---------------------------------------------------------------- reshape
def _explain_reshape(name, error, args, params):
    return ValueError(
        f"reshape: cannot reshape {describe(args[0])} (size {int(np.prod(shape_of(args[0])))}) "
        f"into shape {params['shape']}: the sizes must match (one -1 may stand for the rest)"
    )


def _reshape_forward(x: Any, shape: tuple[int, ...]) -> np.ndarray:
    if type(x) is np.ndarray:
        return x.reshape(shape)  # the method skips np.reshape's Python wrapper
    return np.reshape(x, shape)


_reshape = Primitive("reshape", _reshape_forward, _explain_reshape).defvjp(
    lambda g, ans, x, shape: _reshape(g, shape=shape_of(x)), saves=[()])


@export
def reshape(x: Any, shape: Any) -> Tensor:
    """numpy.reshape: same data, new shape."""
    return _reshape(x, shape=_as_shape(shape, "reshape"))


@export
def expand_dims(x: Any, axis: int) -> Tensor:
    """numpy.expand_dims: a size-1 axis inserted at ``axis`` (a reshape)."""
    s = list(shape_of(x))
    a = axis if axis >= 0 else len(s) + 1 + axis
    if not 0 <= a <= len(s):
        raise ValueError(f"expand_dims: axis {axis} out of range for shape {tuple(s)}")
    s.insert(a, 1)
    return _reshape(x, shape=tuple(s))


@export
def squeeze(x: Any, axis: Any = None) -> Tensor:
    """numpy.squeeze: size-1 axes removed (all of them, or those in ``axis``; a reshape)."""
    s = shape_of(x)
    axes = normalize_axis(axis, len(s), "squeeze") if axis is not None else tuple(
        i for i, n in enumerate(s) if n == 1)
    for a in axes:
        if s[a] != 1:
            raise ValueError(f"squeeze: axis {a} of shape {s} has size {s[a]}, not 1")
    return _reshape(x, shape=tuple(n for i, n in enumerate(s) if i not in axes))


# ---------------------------------------------------------------- transpose
def _explain_transpose(name, error, args, params):
    return ValueError(
        f"transpose: axes {params['axes']} are not a permutation of the "
        f"{len(shape_of(args[0]))} axes of {describe(args[0])}"
    )


def _transpose_forward(x: Any, axes: tuple[int, ...] | None) -> np.ndarray:
    if type(x) is np.ndarray:
        return x.transpose(axes)
    return np.transpose(x, axes)


_transpose = Primitive("transpose", _transpose_forward, _explain_transpose).defvjp(
    lambda g, ans, x, axes: _transpose(
        g, axes=None if axes is None else tuple(int(i) for i in np.argsort(axes))
    ),
    saves=[()],
)


@export
def transpose(x: Any, axes: Any = None) -> Tensor:
    """numpy.transpose: reverse the axes, or permute them by ``axes``."""
    return _transpose(x, axes=None if axes is None else tuple(int(a) for a in axes))


@functools.lru_cache(maxsize=256)
def _swap_perm(n: int, axis1: int, axis2: int) -> tuple[int, ...]:
    perm = list(range(n))
    a, b = normalize_axis(axis1, n, "swapaxes")[0], normalize_axis(axis2, n, "swapaxes")[0]
    perm[a], perm[b] = perm[b], perm[a]
    return tuple(perm)


@export
def swapaxes(x: Any, axis1: int, axis2: int) -> Tensor:
    """numpy.swapaxes (a transpose with a cached permutation)."""
    return _transpose(x, axes=_swap_perm(len(shape_of(x)), axis1, axis2))


# ---------------------------------------------------------------- broadcast_to / sum_to_shape
def _explain_broadcast_to(name, error, args, params):
    return ValueError(
        f"broadcast_to: cannot broadcast {describe(args[0])} to shape {params['shape']}: "
        f"{BROADCAST_RULE}, and the target may only add axes on the left"
    )


def _broadcast_to_forward(x: Any, shape: tuple[int, ...]) -> np.ndarray:
    x = np.asarray(x)
    if x.shape == shape:
        return x.view()  # a new array object: reading the result's .data makes *it*
        # read-only, and must not do that to the caller's own array
    # a materialised copy: cheaper to make than np.broadcast_to's view, and faster to use
    out = np.empty(shape, dtype=x.dtype)
    out[...] = x
    return out


def _sum_to_shape_forward(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    x = np.asarray(x)
    if x.shape == shape:
        return x.view()  # a new array object: reading the result's .data makes *it*
        # read-only, and must not do that to the caller's own array
    lead = x.ndim - len(shape)
    if lead == 1 and x.shape[1:] == shape:  # the common bias case: (N, n) -> (n,)
        return np.add.reduce(x, 0)
    if lead < 0:
        raise ValueError("target has more dimensions than the array")
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and x.shape[lead + i] != 1
    )
    out = add_reduce(x, axes, True) if axes else x
    if lead:
        out = out.reshape(out.shape[lead:])
    if out.shape != shape:
        raise ValueError("shapes are not broadcast-compatible")
    return out


def _explain_sum_to_shape(name, error, args, params):
    return ValueError(
        f"sum_to_shape: cannot sum {describe(args[0])} down to shape {params['shape']}: "
        f"the target must broadcast to the array's shape"
    )


_broadcast_to = Primitive(
    "broadcast_to", _broadcast_to_forward, _explain_broadcast_to,
    doc="numpy.broadcast_to(x, shape=...); its VJP is sum_to_shape.",
).defvjp(lambda g, ans, x, shape: sum_to_shape(g, shape=shape_of(x)), saves=[()])
sum_to_shape = export(Primitive(
    "sum_to_shape", _sum_to_shape_forward, _explain_sum_to_shape,
    doc="Sum a broadcast array back to ``shape`` (undoes broadcasting); VJP is broadcast_to.",
).defvjp(lambda g, ans, x, shape: _broadcast_to(g, shape=shape_of(x)), saves=[()]))


@export
def broadcast_to(x: Any, shape: Any) -> Tensor:
    """numpy.broadcast_to(x, shape)."""
    return _broadcast_to(x, shape=_as_shape(shape, "broadcast_to"))


def unbroadcast(g: Any, shape: tuple[int, ...]) -> Any:
    """Sum ``g`` down to ``shape`` if broadcasting made it bigger (no node otherwise)."""
    if shape_of(g) == shape:
        return g
    return sum_to_shape(g, shape=shape)


# ---------------------------------------------------------------- indexing
def _raw_index(index: Any) -> Any:
    """The index as the graph keeps it: tensors unwrapped, the caller's arrays and lists
    copied (they travel in the node's params, and the caller may reuse them)."""
    if isinstance(index, tuple):
        return tuple(_raw_index(i) for i in index)
    if isinstance(index, Tensor):
        return values(index, "indexing")
    if isinstance(index, np.ndarray):
        return index.copy()
    if isinstance(index, list):
        return list(index)
    return index


def _has_array(index: Any) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    return any(isinstance(p, (np.ndarray, list)) for p in parts)


def _scatter_add_forward(g: np.ndarray, index: Any, shape: tuple[int, ...]) -> np.ndarray:
    out = np.zeros(shape, dtype=np.result_type(g))
    if _has_array(index):
        np.add.at(out, index, g)  # repeated integer indices must accumulate
    else:
        out[index] = g
    return out


def _explain_getitem(name, error, args, params):
    return IndexError(
        f"getitem: index {params['index']!r} is invalid for {describe(args[0])}: {error}"
    )


_getitem = Primitive("getitem", lambda x, index: np.asarray(x)[index], _explain_getitem).defvjp(
    lambda g, ans, x, index: scatter_add(g, index=index, shape=shape_of(x)), saves=[()])
scatter_add = export(Primitive(
    "scatter_add", _scatter_add_forward,
    doc="zeros(shape) with g added at ``index`` (the VJP of getitem); VJP is getitem.",
).defvjp(lambda g, ans, x, index, shape: _getitem(g, index=index), saves=[()]))


# An index that is itself a tensor of ints (argsort's, say) is an *argument* of the gather,
# not a parameter: tm.jit then records where the indices come from instead of freezing the
# first call's indices into its program. The pair is getitem/scatter_add along axis 0.
def _take_forward(x: Any, index: Any) -> np.ndarray:
    return np.asarray(x)[np.asarray(index)]


def _scatter_at_forward(g: Any, index: Any, shape: tuple[int, ...]) -> np.ndarray:
    out = np.zeros(shape, dtype=np.result_type(g))
    np.add.at(out, np.asarray(index), g)  # repeated indices must accumulate
    return out


def _explain_take(name, error, args, params):
    index = args[1]._value if isinstance(args[1], Tensor) else args[1]
    return _explain_getitem(name, error, args, {"index": index})  # the message getitem gives


_take = Primitive(
    "take", _take_forward, _explain_take,
    doc="x[index] for an integer array ``index`` given as an argument.",
).defvjp(lambda g, ans, x, index: _scatter_at(g, index, shape=shape_of(x)), None,
         saves=[{1}, ()])
_scatter_at = Primitive(
    "scatter_at", _scatter_at_forward,
    doc="zeros(shape) with g added at the integer ``index`` (take's VJP).",
).defvjp(lambda g, ans, x, index, shape: _take(g, index), None, saves=[{1}, ()])


def _adds_axes_only(parts: tuple) -> bool:
    """Is the index made of ``:``, ``None`` and at most one ``...`` (a loop, not generator
    expressions: ``b[:, None, :]`` runs once per layer and inner step)?"""
    ellipses = 0
    for p in parts:
        if p is Ellipsis:
            ellipses += 1
        elif p is not None and not (type(p) is slice and p.start is None and p.stop is None
                                    and p.step is None):
            return False
    return ellipses <= 1


def _with_new_axes(shape: tuple[int, ...], parts: tuple) -> tuple[int, ...]:
    """The shape of x[parts] for parts of only ``:``, ``None`` and one ``...``."""
    taken = len(parts) - parts.count(None) - parts.count(Ellipsis)  # the ``:`` parts
    if taken > len(shape):
        raise IndexError(f"getitem: too many indices for an array of shape {shape}")
    dims, out = iter(shape), []
    for p in parts:
        if p is None:
            out.append(1)
        elif p is Ellipsis:
            out.extend(itertools.islice(dims, len(shape) - taken))
        else:
            out.append(next(dims))
    return (*out, *dims)


@export
def getitem(x: Any, index: Any) -> Tensor:
    """x[index] with numpy's basic and advanced indexing.

    An index of only ``:``, ``None`` and ``...`` (``b[:, None, :]``) adds axes and
    selects everything: that is a reshape, recorded as one, whose rule is a reshape back
    (not a scatter into zeros)."""
    parts = index if isinstance(index, tuple) else (index,)
    if _adds_axes_only(parts):
        return _reshape(x, shape=_with_new_axes(shape_of(x), parts))
    if isinstance(index, Tensor) and index.dtype.kind in "iu":
        return _take(x, index)  # x[tm.argsort(x)]: the indices stay a recorded value
    return _getitem(x, index=_raw_index(index))


# ---------------------------------------------------------------- concatenate / stack
def _explain_join(name, error, args, params):
    shown = ", ".join(str(shape_of(a)) for a in args)
    rule = ("all inputs must have the same shape" if name == "stack" else
            "all inputs must have the same number of dimensions and equal sizes off the axis")
    return ValueError(f"{name}: cannot join shapes {shown} along axis {params['axis']}: {rule}")


def _concat_vjp(i, g, ans, *args, axis):
    ax = axis % ans.ndim
    start = sum(shape_of(a)[ax] for a in args[:i])
    index = (slice(None),) * ax + (slice(start, start + shape_of(args[i])[ax]),)
    return _getitem(g, index=index)


def _stack_vjp(i, g, ans, *args, axis):
    ax = axis % ans.ndim
    return _getitem(g, index=(slice(None),) * ax + (i,))


_concatenate = variadic(Primitive(
    "concatenate", lambda *xs, axis: np.concatenate(xs, axis=axis), _explain_join,
).defvjp(_concat_vjp))
_stack = variadic(Primitive(
    "stack", lambda *xs, axis: np.stack(xs, axis=axis), _explain_join).defvjp(_stack_vjp))


def pack(seq: Any) -> Tensor:
    """A (nested) list or tuple of tensors, arrays and numbers as one tensor, stacked by
    recorded ``stack`` ops (what ``np.array`` does to a nested list, but differentiable).
    Python numbers take the dtype the tensors and arrays give (float32 stays float32)."""
    items = [pack(s) if isinstance(s, (list, tuple)) else s for s in seq]
    if not items:
        raise ValueError("cannot stack an empty list holding tensors")
    arrays = [s for s in items if isinstance(s, (Tensor, np.ndarray, np.generic))]
    dtype = np.result_type(*(s.dtype for s in arrays),
                          *(s for s in items if isinstance(s, (int, float))))
    items = [s if isinstance(s, (Tensor, np.ndarray)) else np.asarray(s, dtype=dtype)
             for s in items]
    return _stack(*items, axis=0)


def tensor(data: Any, requires_grad: bool = False, dtype: Any = None) -> Tensor:
    """Make a tensor (``tm.tensor``). Integer/bool data become float64 unless ``dtype`` says
    otherwise; float32 data stays float32. A (nested) list holding traced tensors is
    stacked by recorded ops (``tm.tensor([x, 2 * x])`` keeps its gradient)."""
    if isinstance(data, Tensor) and recording.jit is not None:
        recording.jit.concrete(data, "tm.tensor()")  # a copy tm.jit could not follow
    if isinstance(data, (list, tuple)) and holds_traced(data):
        out = pack(data)
        return out if dtype is None or np.dtype(dtype) == out.dtype else astype(out, dtype=dtype)
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def _sequence(arrays: Any, opname: str) -> tuple:
    if isinstance(arrays, (Tensor, np.ndarray)) or not hasattr(arrays, "__len__"):
        raise TypeError(
            f"{opname}: expected a list or tuple of arrays, got {type(arrays).__name__}"
        )
    if len(arrays) == 0:
        raise ValueError(f"{opname}: need at least one array")
    return tuple(arrays)


@export
def concatenate(arrays: Any, axis: int = 0) -> Tensor:
    """numpy.concatenate(arrays, axis)."""
    return _concatenate(*_sequence(arrays, "concatenate"), axis=axis)


@export
def stack(arrays: Any, axis: int = 0) -> Tensor:
    """numpy.stack(arrays, axis)."""
    return _stack(*_sequence(arrays, "stack"), axis=axis)


# ---------------------------------------------------------------- dtype
astype = export(Primitive("astype", lambda x, dtype: np.asarray(x).astype(dtype),
                          doc="x.astype(dtype): the values in another dtype; its VJP casts "
                              "the cotangent back.").defvjp(
    lambda g, ans, x, dtype: astype(g, dtype=x.dtype), saves=[()]))
