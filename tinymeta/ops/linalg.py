"""matmul with numpy's rules: 1-D operands are promoted, leading axes broadcast.

For C = A @ B the rules are the familiar dA = dC @ Bᵀ and dB = Aᵀ @ dC on the
last two axes, summed back over any broadcast batch axes. A 1-D operand is a
row (left) or column (right) vector whose extra axis numpy drops from the
output, so its rule works on the output with that axis put back.

``linear(x, w, b) = x @ w + b`` is a layer as one node. It computes nothing
matmul and add could not, but a graph of MLP layers then has a third of the
nodes (no matmul–reshape–add triple per layer), and every node costs a
Python-level dispatch forward, another in each backward pass, and more in a
recorded backward pass that is differentiated again. Its rules are matmul's
for x and w, and a sum over the rows for b.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinymeta.ops._export import export
from tinymeta.ops._util import shape_of
from tinymeta.ops.elementwise import multiply
from tinymeta.ops.reductions import _sum as _sum_over
from tinymeta.ops.reductions import sum as _sum
from tinymeta.ops.shape import _reshape, unbroadcast
from tinymeta.primitive import Primitive
from tinymeta.tensor import Tensor


def _explain_matmul(name, error, args, params):
    a, b = (shape_of(x) for x in args)
    if len(a) == 0 or len(b) == 0:
        return ValueError(f"matmul: shapes {a} and {b}: scalar operands are not allowed "
                          f"(use multiply or *)")
    k1 = a[-1]
    k2 = b[0] if len(b) == 1 else b[-2]
    if k1 != k2:
        return ValueError(
            f"matmul: shapes {a} and {b} do not align: the last axis of the first ({k1}) must "
            f"equal the {'only' if len(b) == 1 else 'second-to-last'} axis of the second ({k2})"
        )
    return ValueError(
        f"matmul: shapes {a} and {b}: the batch axes {a[:-2]} and {b[:-2]} do not broadcast "
        f"(each pair of sizes must be equal or 1)"
    )


def _append_axis(t: Any, where: int) -> Any:
    s = list(shape_of(t))
    s.insert(len(s) + 1 + where if where < 0 else where, 1)
    return _reshape(t, shape=tuple(s))


def _matmul_vjp_a(g, ans, a, b, transpose_a=False, transpose_b=False):
    sa, sb = shape_of(a), shape_of(b)
    if len(sa) == 1 and len(sb) == 1:
        return multiply(g, b)
    if len(sa) == 1:  # a is a row vector (1, n): g has lost that axis
        g2 = _append_axis(g, -2)  # (..., 1, p)
        ga = matmul(g2, b, transpose_b=True)  # (..., 1, n)
        return unbroadcast(_reshape(ga, shape=shape_of(ga)[:-2] + (sa[0],)), sa)
    if len(sb) == 1:  # b is a column vector (n, 1)
        return unbroadcast(multiply(_append_axis(g, -1), b), sa)
    if not transpose_a:  # dA = G op(B)ᵀ
        return unbroadcast(matmul(g, b, transpose_b=not transpose_b), sa)
    # C = Aᵀ op(B): dA = op(B) Gᵀ
    return unbroadcast(matmul(b, g, transpose_a=transpose_b, transpose_b=True), sa)


def _matmul_vjp_b(g, ans, a, b, transpose_a=False, transpose_b=False):
    sa, sb = shape_of(a), shape_of(b)
    if len(sa) == 1 and len(sb) == 1:
        return multiply(g, a)
    if len(sb) == 1:
        g2 = _append_axis(g, -1)  # (..., m, 1)
        gb = matmul(a, g2, transpose_a=True)  # (..., n, 1)
        return unbroadcast(_reshape(gb, shape=shape_of(gb)[:-1]), sb)
    if len(sa) == 1:
        return unbroadcast(multiply(_append_axis(a, -1), _append_axis(g, -2)), sb)
    if not transpose_b:  # dB = op(A)ᵀ G
        return unbroadcast(matmul(a, g, transpose_a=not transpose_a), sb)
    # C = op(A) Bᵀ: dB = Gᵀ op(A)
    return unbroadcast(matmul(g, a, transpose_a=True, transpose_b=transpose_a), sb)


def _matmul_forward(a: Any, b: Any, transpose_a: bool = False, transpose_b: bool = False):
    # The flags let the VJP rules say "G Bᵀ" in one node instead of a transpose and a
    # matmul: half the nodes in a recorded backward pass through a linear layer.
    a = a if type(a) is np.ndarray else np.asarray(a)
    b = b if type(b) is np.ndarray else np.asarray(b)
    if transpose_a:
        a = a.swapaxes(-1, -2)
    if transpose_b:
        b = b.swapaxes(-1, -2)
    sa, sb = a.shape, b.shape
    if len(sa) >= 2 and len(sb) >= 2 and sa[-1] == 1 == sb[-2]:
        # an outer product (a 1-wide layer, or its VJP): broadcasting multiply computes the
        # same single products, about 2.5x faster than matmul's per-matrix BLAS calls
        return np.multiply(a, b)
    return np.matmul(a, b)


matmul = export(Primitive(
    "matmul", _matmul_forward, _explain_matmul,
    doc="numpy.matmul (the @ operator); ``transpose_a``/``transpose_b`` swap the last two "
        "axes of an operand first (used by the VJP rules).",
).defvjp(_matmul_vjp_a, _matmul_vjp_b, saves=[{1}, {0}]))


def _linear_forward(x: Any, w: Any, b: Any) -> np.ndarray:
    # b[..., None, :]: one bias row per matrix in the batch, shared by its rows
    b = b if type(b) is np.ndarray else np.asarray(b)
    return np.add(_matmul_forward(x, w), b[..., None, :])


def _explain_linear(name, error, args, params):
    x, w, b = (shape_of(a) for a in args)
    return ValueError(
        f"linear: x {x} @ w {w} + b {b} is not defined: x is (..., N, in), w is (..., in, out) "
        f"and b is (..., out), one bias per output, with batch axes that broadcast ({error})"
    )


_linear = Primitive(
    "linear", _linear_forward, _explain_linear,
    doc="x @ w + b[..., None, :]: a dense layer as one node (see ``linear``).",
).defvjp(
    lambda g, ans, x, w, b: _matmul_vjp_a(g, ans, x, w),
    lambda g, ans, x, w, b: _matmul_vjp_b(g, ans, x, w),
    lambda g, ans, x, w, b: unbroadcast(_sum_over(g, axes=(len(shape_of(g)) - 2,), keepdims=False),
                                        shape_of(b)),
    saves=[{1}, {0}, ()],
)


@export
def linear(x: Any, w: Any, b: Any) -> Tensor:
    """A dense layer ``x @ w + b`` as one node: x (..., N, in), w (..., in, out), b (..., out).

    The bias is added to every row of ``x @ w``; with task-batched weights
    (T, in, out) it is (T, out), one bias per task. Same value and derivatives
    as ``matmul(x, w) + expand_dims(b, -2)``, with one node instead of three.
    """
    sx, sw, sb = shape_of(x), shape_of(w), shape_of(b)
    if len(sx) < 2 or len(sw) < 2 or len(sb) < 1 or sb[-1] != sw[-1]:
        raise ValueError(
            f"linear: shapes x {sx}, w {sw}, b {sb}: x must be (..., N, in) with at least 2 "
            f"axes, w (..., in, out) with at least 2, and b (..., out) ending in w's out "
            f"size {sw[-1] if sw else '?'}; for a single input row use x of shape (1, in)"
        )
    return _linear(x, w, b)


@export
def vdot(a: Any, b: Any) -> Tensor:
    """sum(a * b) over all elements (shapes must match)."""
    if shape_of(a) != shape_of(b):
        raise ValueError(f"vdot: shapes {shape_of(a)} and {shape_of(b)} must be equal")
    return _sum(multiply(a, b))
