"""Statistics and scans: prod, cumsum, cumprod, var, std, trace, average, ptp, median.

Most of these are compositions: ``var`` is the mean squared deviation, ``std``
its square root, ``average`` a weighted sum over a sum of weights, ``ptp`` is
max − min and ``trace`` the sum of a diagonal, so their derivatives are
those of the ops they are made of. ``cumsum`` (whose VJP is a cumsum from the
other end), ``median`` (the middle element's share) and the products ``prod``
and ``cumprod`` have rules of their own; the products show the one trap of
such rules: dividing by zero.

The derivative of a product with respect to one factor is the product of the
*others*. The textbook rule writes that as ``prod / x``, which is exact and
cheap while no factor is zero, and 0/0 = nan as soon as one is. The others'
product can be computed without a division, as a product of everything before
and everything after each element:

    x          =  a      b      c      d
    before     =  1      a      ab     abc      (cumprod, shifted right, 1 in front)
    after      =  bcd    cd     d      1        (cumprod from the right, shifted left)
    before·after = bcd   acd    abd    abc      (each product without its own factor)

``cumprod`` has the same trouble one level down. Its VJP is

    dx_m = Σ_{k≥m} g_k Π_{j≤k, j≠m} x_j  =  (Π_{j<m} x_j) · w_m,
    w_m  = g_m + x_{m+1} w_{m+1}                         (from the right, w past the end = 0)

``Π_{j<m} x_j`` is the cumprod shifted right, and ``w`` is a *linear scan*:
h_t = a_t h_{t−1} + b_t. The scan is a primitive of its own whose VJP is
again a scan (in the other direction, see ``_scan_vjp_a``), so the family
prod → cumprod → scan is closed under differentiation: every order is exact,
zeros included, with no division anywhere.

The division is still the cheap way to get a *value*: ``prod / x`` is one op,
and where no product is zero it is accurate. Its *derivatives* are not: near a
zero factor they subtract terms of size 1/x² that nearly cancel. So a rule
divides only in a backward pass that nobody will differentiate (the usual
first-order gradient, where rules receive bare numpy arrays) and when no
product is zero or underflowed;
a recorded backward pass always takes the division-free form. That form costs
two cumprods for ``prod``; for ``cumprod`` the scan costs one Python-level
step per element along the axis.

Under ``tm.jit`` that choice would be frozen into the program by the first
call's values. So whatever these ops read from values is a primitive the
program records and recomputes on every call: the "no zero" test (and a
program computes both forms and picks with it), std's zero-variance mask,
average's check that the weights do not sum to zero, and median's
middle-element weights (rule-less primitives: constants, as masks are).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import Any

import numpy as np

from tinymeta.ops._export import export
from tinymeta.ops._util import normalize_axis, shape_of
from tinymeta.ops.elementwise import (
    divide,
    multiply,
    not_equal,
    sqrt,
    square,
    subtract,
    where,
)
from tinymeta.ops.rearrange import diagonal
from tinymeta.ops.reductions import _expand, _float_dtype, _max, _mean, _min, _sum
from tinymeta.ops.shape import _broadcast_to, _reshape, _transpose
from tinymeta.primitive import Primitive
from tinymeta.tensor import Tensor, recording


def _count(shape: tuple[int, ...], axes: tuple[int, ...]) -> int:
    return math.prod(shape[a] for a in axes)


def _along(axis: int, index: Any) -> tuple:
    return (slice(None),) * axis + (index,)


# ---------------------------------------------------------------- shift and linear scan
def _shift_forward(x: Any, axis: int, step: int, fill: float) -> np.ndarray:
    x = np.asarray(x)
    out = np.empty_like(x)
    n = x.shape[axis]
    if step > 0:  # out_t = x_{t-1}, out_0 = fill
        out[_along(axis, slice(1, None))] = x[_along(axis, slice(0, max(n - 1, 0)))]
        out[_along(axis, slice(0, 1))] = fill
    else:  # out_t = x_{t+1}, out_{n-1} = fill
        out[_along(axis, slice(0, max(n - 1, 0)))] = x[_along(axis, slice(1, None))]
        out[_along(axis, slice(max(n - 1, 0), n))] = fill
    return out


_shift = Primitive(
    "shift", _shift_forward,
    doc="Move x one step along ``axis`` (step +1: towards the end) and put ``fill`` in the "
        "place left empty; the VJP shifts back with fill 0.",
).defvjp(lambda g, ans, x, axis, step, fill: _shift(g, axis=axis, step=-step, fill=0.0))


def _scan_forward(a: Any, b: Any, axis: int, reverse: bool) -> np.ndarray:
    # h_t = a_t h_{t-1} + b_t from h_{-1} = 0 (reverse: h_t = a_t h_{t+1} + b_t): one
    # vectorised step per position along the axis
    a, b = np.asarray(a), np.asarray(b)
    h = np.array(b, dtype=np.result_type(a, b))
    hm, am = np.moveaxis(h, axis, 0), np.moveaxis(a, axis, 0)  # views: hm writes into h
    n = hm.shape[0]
    for t in range(n - 2, -1, -1) if reverse else range(1, n):
        prev = t + 1 if reverse else t - 1
        hm[t] += am[t] * hm[prev]
    return h


def _scan_cotangent(g, a, axis, reverse):
    # the adjoint recurrence runs the other way with the coefficients shifted by one:
    # λ_t = g_t + a_{t+1} λ_{t+1} for a forward scan
    return _scan(_shift(a, axis=axis, step=1 if reverse else -1, fill=0.0), g,
                 axis=axis, reverse=not reverse)


def _scan_vjp_a(g, ans, a, b, axis, reverse):
    # dh_t/da_t = h_{t-1}: the output shifted one step (h_{-1} = 0)
    previous = _shift(ans, axis=axis, step=-1 if reverse else 1, fill=0.0)
    return multiply(_scan_cotangent(g, a, axis, reverse), previous)


_scan = Primitive(
    "linear_scan", _scan_forward,
    doc="The linear recurrence h_t = a_t h_{t-1} + b_t along ``axis`` (``reverse``: from the "
        "end, h_t = a_t h_{t+1} + b_t); a and b have the same shape.",
).defvjp(_scan_vjp_a, lambda g, ans, a, b, axis, reverse: _scan_cotangent(g, a, axis, reverse))


# ---------------------------------------------------------------- cumsum / cumprod
def _cumsum_forward(x: Any, axis: int, reverse: bool) -> np.ndarray:
    if reverse:
        return np.flip(np.cumsum(np.flip(x, axis), axis), axis)
    return np.cumsum(x, axis)


def _cumprod_forward(x: Any, axis: int, reverse: bool) -> np.ndarray:
    if reverse:
        return np.flip(np.cumprod(np.flip(x, axis), axis), axis)
    return np.cumprod(x, axis)


_cumsum = Primitive(
    "cumsum", _cumsum_forward,
    doc="numpy.cumsum along ``axis`` (``reverse``: summed from the end).",
).defvjp(lambda g, ans, x, axis, reverse: _cumsum(g, axis=axis, reverse=not reverse))


def _no_zero_forward(ans: Any) -> np.ndarray:
    ans = np.asarray(ans)
    return np.asarray(ans.dtype.kind == "f" and bool(
        np.all(np.abs(ans) >= np.finfo(ans.dtype).tiny)))


# a rule-less primitive (a constant flag), so that tm.jit records the test as well
_no_zero = Primitive(
    "no_zero_product", _no_zero_forward,
    doc="True if no product in ``ans`` is zero or has underflowed: dividing by the "
        "factors is then accurate.",
).defvjp()


def _divided_or_exact(ans: Any, x: Any, divided: Callable, exact: Callable) -> Any:
    """``divided(x)`` (the others' products as products over x) where a rule may divide,
    else ``exact()`` (the division-free form). It may only when nobody will differentiate
    its result (the rule got bare numpy, not tensors: the ratio is accurate, its
    derivatives are not, they cancel terms of size 1/x² near a zero) and no product is
    zero or has underflowed."""
    if type(ans) is Tensor:  # a recorded backward pass: its derivatives will be taken
        return exact()
    safe = _no_zero(ans)
    if recording.jit is None:
        return divided(x) if safe else exact()
    # tm.jit records this pass: its program must choose per call, so it computes both
    # (and divides by 1 where it will not use the quotient, so it never warns)
    return where(safe, divided(where(safe, x, 1.0)), exact())


def _cumprod_vjp(g, ans, x, axis, reverse):
    # no zero: dx_m = Σ_{k≥m} g_k y_k / x_m, a reversed cumsum over x;
    # a zero: dx_m = (product before m) · w_m with w_m = g_m + x_{m+1} w_{m+1} (module doc)
    return _divided_or_exact(
        ans, x,
        lambda x: divide(_cumsum(multiply(g, ans), axis=axis, reverse=not reverse), x),
        lambda: multiply(_shift(ans, axis=axis, step=-1 if reverse else 1, fill=1.0),
                         _scan_cotangent(g, x, axis, reverse)))


_cumprod = Primitive(
    "cumprod", _cumprod_forward,
    doc="numpy.cumprod along ``axis`` (``reverse``: multiplied from the end).",
).defvjp(_cumprod_vjp)


def _scan_axis(a: Any, axis: Any, opname: str) -> tuple[Any, int]:
    if axis is None:  # numpy flattens
        return _reshape(a, shape=(math.prod(shape_of(a)),)), 0
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
        raise TypeError(f"{opname}: axis must be None or an int, got {axis!r}")
    return a, normalize_axis(axis, len(shape_of(a)), opname)[0]


@export
def cumsum(a: Any, axis: Any = None) -> Tensor:
    """numpy.cumsum: running sums along ``axis`` (None: of the flattened array).
    Its VJP is a cumsum from the other end."""
    a, ax = _scan_axis(a, axis, "cumsum")
    return _cumsum(a, axis=ax, reverse=False)


@export
def cumprod(a: Any, axis: Any = None) -> Tensor:
    """numpy.cumprod: running products along ``axis`` (None: of the flattened array).

    Derivatives are exact at every order, also where elements are zero (no division
    there: see the module docstring)."""
    a, ax = _scan_axis(a, axis, "cumprod")
    return _cumprod(a, axis=ax, reverse=False)


# ---------------------------------------------------------------- prod
def _others_product(x: Any, axes: tuple[int, ...]) -> Any:
    """For each element, the product of the other elements of its slice over ``axes``,
    as before·after cumprods (no division: exact with zeros)."""
    if len(axes) == 1:
        return _before_times_after(x, axes[0])
    # several axes: move them to the end and flatten them into one
    shape = shape_of(x)
    kept = tuple(k for k in range(len(shape)) if k not in axes)
    perm = kept + axes
    moved = _transpose(x, axes=perm) if perm != tuple(range(len(shape))) else x
    flat = _reshape(moved, shape=tuple(shape[k] for k in kept) + (_count(shape, axes),))
    others = _reshape(_before_times_after(flat, len(kept)), shape=shape_of(moved))
    if perm != tuple(range(len(shape))):
        others = _transpose(others, axes=tuple(int(i) for i in np.argsort(perm)))
    return others


def _before_times_after(x: Any, axis: int) -> Any:
    before = _shift(_cumprod(x, axis=axis, reverse=False), axis=axis, step=1, fill=1.0)
    after = _shift(_cumprod(x, axis=axis, reverse=True), axis=axis, step=-1, fill=1.0)
    return multiply(before, after)


def _prod_vjp(g, ans, x, axes, keepdims):
    g = _expand(g, x, axes, keepdims)
    if not axes:
        return g
    # the others' product is prod / x where there is no zero
    return multiply(g, _divided_or_exact(
        ans, x, lambda x: divide(_expand(ans, x, axes, keepdims), x),
        lambda: _others_product(x, axes)))


_prod = Primitive("prod", lambda x, axes, keepdims: np.prod(x, axis=axes, keepdims=keepdims)
                  ).defvjp(_prod_vjp)


@export
def prod(a: Any, axis: Any = None, *, keepdims: bool = False) -> Tensor:
    """numpy.prod over ``axis`` (None, an int or a tuple).

    The derivative for an element is the product of the others, exact at every
    order also when elements are zero (one zero: its gradient is the product of the
    rest, the others' is 0): see the module docstring for how."""
    axes = normalize_axis(axis, len(shape_of(a)), "prod")
    return _prod(a, axes=axes, keepdims=bool(keepdims))


# ---------------------------------------------------------------- var / std
@export
def var(a: Any, axis: Any = None, *, ddof: float = 0, keepdims: bool = False) -> Tensor:
    """numpy.var: the mean squared deviation from the mean, divided by ``n - ddof``.

    Unlike numpy (which warns and returns inf or nan), ``n - ddof <= 0`` raises a
    ValueError: the result and its gradient would be meaningless."""
    shape = shape_of(a)
    axes = normalize_axis(axis, len(shape), "var")
    n = _count(shape, axes)
    if isinstance(ddof, bool) or not isinstance(ddof, (int, float, np.integer, np.floating)):
        raise TypeError(f"var: ddof must be a number, got {ddof!r}")
    if n - ddof <= 0:
        raise ValueError(
            f"var: ddof={ddof} leaves no degrees of freedom: the reduction of shape {shape} over "
            f"axes {axes} has {n} element(s), and ddof must be less than that")
    deviation = subtract(a, _mean(a, axes=axes, keepdims=True))
    return divide(_sum(square(deviation), axes=axes, keepdims=bool(keepdims)), float(n - ddof))


@export
def std(a: Any, axis: Any = None, *, ddof: float = 0, keepdims: bool = False) -> Tensor:
    """numpy.std: sqrt(var(a, axis, ddof=ddof)).

    Where the variance is exactly 0 (a constant slice, e.g. one element) std has a
    kink, like abs at 0; tinymeta takes 0 as its derivative there, at every order
    (plain sqrt would give nan). A nan variance gives nan."""
    v = var(a, axis, ddof=ddof, keepdims=keepdims)
    # a recorded mask, not a test on the values, so that tm.jit's program decides per
    # call (on a slice of nonzero variance this is sqrt(v), bit for bit, at every
    # order); sqrt only ever sees nonzero values, so no 0·inf reaches the gradient
    nonzero = not_equal(v, 0.0)
    return where(nonzero, sqrt(where(nonzero, v, 1.0)), 0.0)


# ---------------------------------------------------------------- trace
@export
def trace(a: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Tensor:
    """numpy.trace: the sum along a diagonal (``offset`` above the main one if positive,
    below if negative) of the 2-D slices given by ``axis1`` and ``axis2``.

    As numpy computes it, the sum of ``diagonal(a, offset, axis1, axis2)`` (the same
    bits); the gather's VJP puts the cotangent back on the diagonal."""
    shape = shape_of(a)
    if len(shape) < 2:
        raise ValueError(f"trace: needs an array with at least 2 axes, got shape {shape}")
    try:
        offset = operator.index(offset)
    except TypeError:
        raise TypeError(f"trace: offset must be an int, got {offset!r}") from None
    ax1 = normalize_axis(axis1, len(shape), "trace")[0]
    ax2 = normalize_axis(axis2, len(shape), "trace")[0]
    if ax1 == ax2:
        raise ValueError(f"trace: axis1 ({axis1}) and axis2 ({axis2}) name the same axis of "
                         f"shape {shape}; they must differ")
    return _sum(diagonal(a, offset, ax1, ax2), axes=(len(shape) - 2,), keepdims=False)


# ---------------------------------------------------------------- average / ptp
def _normalizer_forward(total: Any, axis: Any) -> np.ndarray:
    total = np.asarray(total)
    if np.any(total == 0):
        raise ZeroDivisionError(f"average: the weights sum to zero over axis {axis}, so they "
                                f"cannot be normalized")
    return total.view()  # a new array: the recorder sees a call, not an identity


# The check is a primitive (its VJP passes the cotangent on) rather than a test in
# average: a program tm.jit records then makes it too, on each call's weights
_normalizer = Primitive(
    "weights_total", _normalizer_forward,
    doc="The sums of the weights, unchanged, after checking that none is zero.",
).defvjp(lambda g, ans, total, axis: g, saves=[()])


@export
def average(a: Any, axis: Any = None, weights: Any = None, returned: bool = False, *,
            keepdims: bool = False) -> Any:
    """numpy.average: sum(a * weights) / sum(weights) over ``axis``; without weights, the mean.

    ``weights`` has a's shape, or the shape of the axes reduced (in the order of
    ``axis``). Both a and weights are differentiable. ``returned=True`` also returns
    the sum of weights (the count without weights), broadcast to the result's shape."""
    shape = shape_of(a)
    axes = normalize_axis(axis, len(shape), "average")
    keepdims = bool(keepdims)
    if weights is None:
        avg = _mean(a, axes=axes, keepdims=keepdims)
        if not returned:
            return avg
        count = np.full(shape_of(avg), float(_count(shape, axes)), dtype=avg.dtype)
        return avg, Tensor(count, dtype=avg.dtype)
    w_shape = shape_of(weights)
    if w_shape != shape:
        if axis is None:
            raise TypeError(f"average: weights of shape {w_shape} differ from a's shape "
                            f"{shape}: give axis=, or weights of a's shape")
        order = tuple(int(x) % len(shape) for x in (
            axis if isinstance(axis, (tuple, list)) else (axis,)))
        if w_shape != tuple(shape[x] for x in order):
            raise ValueError(
                f"average: weights of shape {w_shape} fit neither a's shape {shape} nor the "
                f"sizes {tuple(shape[x] for x in order)} of the axes {axis} averaged over")
        if order != tuple(sorted(order)):
            weights = _transpose(weights, axes=tuple(int(i) for i in np.argsort(order)))
        # now in the order of a's axes: put size-1 axes where a has the others
        weights = _reshape(weights, shape=tuple(shape[x] if x in axes else 1
                                                for x in range(len(shape))))
    total = _normalizer(
        _sum(_broadcast_to(weights, shape=shape) if shape_of(weights) != shape else weights,
             axes=axes, keepdims=keepdims), axis=axis)
    avg = divide(_sum(multiply(a, weights), axes=axes, keepdims=keepdims), total)
    if not returned:
        return avg
    return avg, (_broadcast_to(total, shape=shape_of(avg)) if shape_of(total) != shape_of(avg)
                 else total)


@export
def ptp(a: Any, axis: Any = None, *, keepdims: bool = False) -> Tensor:
    """numpy.ptp: max − min over ``axis`` ("peak to peak"); ties share the gradient evenly,
    as in max and min."""
    axes = normalize_axis(axis, len(shape_of(a)), "ptp")
    keepdims = bool(keepdims)
    return subtract(_max(a, axes=axes, keepdims=keepdims), _min(a, axes=axes, keepdims=keepdims))


# ---------------------------------------------------------------- median
def _median_weights_forward(xd: Any, axes: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    xd = np.asarray(xd)
    kept = tuple(k for k in range(xd.ndim) if k not in axes)
    moved = np.transpose(xd, kept + axes)
    flat = moved.reshape(moved.shape[:len(kept)] + (-1,))
    n = flat.shape[-1]
    ordered = np.sort(flat, axis=-1)
    weights = np.zeros(flat.shape)
    for position in ((n - 1) // 2, n // 2):
        equal = flat == ordered[..., position:position + 1]
        weights += 0.5 * equal / np.maximum(equal.sum(axis=-1, keepdims=True), 1)
    weights = np.transpose(weights.reshape(moved.shape), np.argsort(kept + axes))
    return weights.astype(dtype)


# the order statistics are read from the values: a rule-less primitive (a constant)
# rather than numpy in the rule, so tm.jit records them too
_median_weights = Primitive(
    "median_weights", _median_weights_forward,
    doc="d median / dx as a constant: 1/2 for each of the two middle order statistics "
        "(one, with weight 1, for an odd count), each shared evenly among the elements "
        "equal to it.",
).defvjp()


def _median_vjp(g, ans, x, axes, keepdims):
    weights = _median_weights(x, axes=axes, dtype=_float_dtype(g))
    return multiply(_expand(g, x, axes, keepdims), weights)


_median = Primitive("median",
                    lambda x, axes, keepdims: np.median(x, axis=axes, keepdims=keepdims)
                    ).defvjp(_median_vjp)


@export
def median(a: Any, axis: Any = None, *, keepdims: bool = False) -> Tensor:
    """numpy.median over ``axis`` (None, an int or a tuple).

    The gradient goes to the middle element (odd count) or half to each of the two
    middle ones (even count); an element tied with a middle value shares its part
    evenly with its equals, as max and min share among ties. Piecewise linear: the
    second derivative is 0."""
    shape = shape_of(a)
    axes = normalize_axis(axis, len(shape), "median")
    if _count(shape, axes) == 0:
        raise ValueError(f"median: the reduction of shape {shape} over axes {axes} is empty; "
                         f"the median of no elements is undefined")
    return _median(a, axes=axes, keepdims=bool(keepdims))
