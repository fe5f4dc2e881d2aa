"""matmul with numpy's rules: 1-D operands are promoted, leading axes broadcast.

For C = A @ B the rules are the familiar dA = dC @ Bᵀ and dB = Aᵀ @ dC on the
last two axes, summed back over any broadcast batch axes. A 1-D operand is a
row (left) or column (right) vector whose extra axis numpy drops from the
output, so its rule works on the output with that axis put back.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinymeta.ops._util import shape_of
from tinymeta.ops.elementwise import multiply
from tinymeta.ops.reductions import sum as _sum
from tinymeta.ops.shape import _reshape, unbroadcast
from tinymeta.primitive import Primitive
from tinymeta.tensor import Tensor

__all__ = ["matmul", "vdot", "dot"]


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
    if transpose_a:
        a = np.asarray(a).swapaxes(-1, -2)
    if transpose_b:
        b = np.asarray(b).swapaxes(-1, -2)
    if np.ndim(a) >= 2 and np.ndim(b) >= 2 and np.shape(a)[-1] == 1 == np.shape(b)[-2]:
        # an outer product (a 1-wide layer, or its VJP): broadcasting multiply computes the
        # same single products, about 2.5x faster than matmul's per-matrix BLAS calls
        return np.multiply(a, b)
    return np.matmul(a, b)


matmul = Primitive(
    "matmul", _matmul_forward, _explain_matmul,
    doc="numpy.matmul (the @ operator); ``transpose_a``/``transpose_b`` swap the last two "
        "axes of an operand first (used by the VJP rules).",
)
matmul.defvjp(_matmul_vjp_a, _matmul_vjp_b)


def vdot(a: Any, b: Any) -> Tensor:
    """sum(a * b) over all elements (shapes must match)."""
    if shape_of(a) != shape_of(b):
        raise ValueError(f"vdot: shapes {shape_of(a)} and {shape_of(b)} must be equal")
    return _sum(multiply(a, b))


def dot(a: Any, b: Any) -> Tensor:
    """numpy.dot for 1-D and 2-D operands (matmul; scalars multiply)."""
    if len(shape_of(a)) == 0 or len(shape_of(b)) == 0:
        return multiply(a, b)
    if len(shape_of(a)) > 2 or len(shape_of(b)) > 2:
        raise ValueError("dot: only 0-, 1- and 2-D operands are supported; use matmul")
    return matmul(a, b)
