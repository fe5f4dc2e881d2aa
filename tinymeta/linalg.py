"""tinymeta.linalg: numpy.linalg's inv, det, slogdet, solve, cholesky, norm and eigh.

Every function takes a matrix (M, M) or a stack of them (..., M, M), like
numpy's, and its derivative is a VJP rule written with tinymeta ops, so a
backward pass can be recorded and differentiated again to any order. The
rules that need a matrix function use this module's own primitives: the
derivative of an inverse is an inverse again,

    d inv(A) = -inv(A) dA inv(A)          so  Ā = -inv(A)ᵀ G inv(A)ᵀ
    d det(A) = det(A) tr(inv(A) dA)       so  Ā = g det(A) inv(A)ᵀ
    d log|det(A)| = tr(inv(A) dA)         so  Ā = g inv(A)ᵀ
    X = solve(A, B):  B̄ = solve(Aᵀ, G),  Ā = -B̄ Xᵀ

and ``inv``/``solve`` in those rules are the recorded primitives below, whose
own rules are again the lines above. That is the whole trick: no rule reaches
for raw numpy on a value that carries a derivative. Nor on one that does not:
the masks some rules need (a zero norm, tied eigenvalues, zero singular values)
are made by rule-less primitives such as ``not_equal``, so ``tm.jit`` records
them and its program finds each new input's own mask.

Functions with two results (``eigh``: eigenvalues and eigenvectors;
``slogdet``: sign and log|det|) are one primitive whose output packs both
into one array; the public function slices it with ``getitem``. A rule then
receives one cotangent for both results, and slicing keeps every order
differentiable.

Symmetric inputs (``cholesky``, ``eigh``)
-----------------------------------------
numpy reads only one triangle of the matrix. tinymeta follows JAX and
PyTorch: the gradient is the *symmetric* matrix Ā with ⟨Ā, dA⟩ equal to the
change of the output for every symmetric dA. It is the gradient of
``op((A + Aᵀ) / 2)``, the function of a symmetric matrix that does not
depend on which triangle is stored; perturb the input symmetrically (or
through that wrapper) when you compare with finite differences.

The Cholesky rule (Murray 2016, "Differentiation of the Cholesky
decomposition"): with Φ(X) = the lower triangle of X with its diagonal halved,

    Ā = sym(L⁻ᵀ Φ(Lᵀ L̄) L⁻¹),      sym(X) = (X + Xᵀ) / 2,

where the two triangular solves are calls of ``solve``. The ``eigh`` rule, for
A = V diag(w) Vᵀ and F_ij = 1 / (w_j − w_i) off the diagonal:

    Ā = sym(V (diag(w̄) + F ∘ (Vᵀ V̄)) Vᵀ).

F is infinite where eigenvalues repeat: the eigenvectors are then not unique
and the derivative of V does not exist. Where two eigenvalues are *exactly*
equal and their eigenvectors get no cotangent (the entry of Vᵀ V̄ is 0, as for
a result made of eigenvalues only), the term is 0 and the derivative exact;
where they do get one, the rule cannot know the limit (for a basis-free
result such as V diag(f(w)) Vᵀ it is finite, f'(w), but needs information
the rule does not have), so the gradient is nan there, never a made-up
number. So: first derivatives of eigenvalues are exact everywhere; second
and higher derivatives, and anything through the eigenvectors, need distinct
eigenvalues. Near-equal eigenvalues make the derivative large, as it truly
is, and less accurate.

Norms and singular values
-------------------------
``norm`` composes tinymeta ops where that is exact (sum of |x| for ord 1, max
of |x| for inf, ...), with one primitive for the p-norms (2 and 'fro'
included) whose rule is ĝ · sign(x) (|x| / ‖x‖)^(p−1). The matrix orders 2,
−2 and 'nuc' need the singular values: a primitive ``svdvals`` computes them
with LAPACK, and its rule is Ā = U diag(s̄) Vᵀ, which this module writes as
U diag(s̄ / s) Uᵀ A with (U, s²) = eigh(A Aᵀ) (or the same through Aᵀ A when A
is tall), so that the rule itself is built from differentiable primitives.
First derivatives are exact for any matrix (a singular value that is 0 to
working precision, s ≤ max(m, n)·eps·s_max as in numpy's matrix_rank, gets
no share: the smallest subgradient of 'nuc' at a rank-deficient matrix);
orders above one need distinct non-zero singular values (the ``eigh`` rule
above: nan at ties). Because U comes from A Aᵀ, singular values below about
sqrt(eps)·s_max lose accuracy in the derivative (not in the value).

Subgradient conventions (where a norm has a kink):
- at x = 0 the gradient of every norm (p >= 1, and every matrix order) is 0,
  a valid subgradient and the smallest one;
- |x| has derivative sign(x), 0 at 0 (vector orders 1, inf, -inf, p; matrix
  orders 1, -1, inf, -inf);
- ties of max/min (ord inf/-inf, matrix 1/-1/inf/-inf/2/-2) share the
  gradient evenly among the tied entries, as ``tm.max`` does;
- ord 0 counts non-zero entries: derivative 0 everywhere;
- for 0 < p < 1 and p < 0 the p-"norm" has an infinite derivative at an entry
  equal to 0: the gradient there is nan, not a made-up number.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from tinymeta.checks import describe
from tinymeta.ops._util import keepdims_shape, normalize_axis, shape_of
from tinymeta.ops.elementwise import (
    _mask,
    abs,
    add,
    divide,
    greater,
    less_equal,
    multiply,
    negative,
    not_equal,
    power,
    sign,
    subtract,
    where,
)
from tinymeta.ops.linalg import matmul
from tinymeta.ops.reductions import max as _max
from tinymeta.ops.reductions import min as _min
from tinymeta.ops.reductions import sum as _sum
from tinymeta.ops.shape import _reshape, astype, getitem, swapaxes, transpose, unbroadcast
from tinymeta.primitive import Primitive
from tinymeta.tensor import Tensor

__all__ = ["inv", "det", "slogdet", "solve", "cholesky", "norm", "eigh"]

LinAlgError = np.linalg.LinAlgError  # a ValueError: `except ValueError` catches it too


class SlogdetResult(NamedTuple):
    """What ``slogdet`` returns, as numpy's result: (sign, logabsdet)."""

    sign: Tensor
    logabsdet: Tensor


class EighResult(NamedTuple):
    """What ``eigh`` returns, as numpy's result: (eigenvalues, eigenvectors)."""

    eigenvalues: Tensor
    eigenvectors: Tensor


# ---------------------------------------------------------------- helpers
def _holds_tensor(x: Any) -> bool:
    if isinstance(x, (list, tuple)):
        return any(_holds_tensor(item) for item in x)
    return isinstance(x, Tensor)


def _float(x: Any) -> Any:
    """x with integer or bool values made float64, as numpy.linalg does; floats as they are."""
    if isinstance(x, Tensor):
        return astype(x, dtype=np.float64) if x.dtype.kind in "biu" else x
    if isinstance(x, np.ndarray):
        return x.astype(np.float64) if x.dtype.kind in "biu" else x
    if isinstance(x, (bool, int, np.integer, np.bool_)):
        return float(x)
    if isinstance(x, (list, tuple)) and not _holds_tensor(x):
        array = np.asarray(x)
        return array.astype(np.float64) if array.dtype.kind in "biu" else array
    return x


def _square(name: str, a: Any) -> tuple[int, ...]:
    """The shape of a (stack of) square matrices, or a LinAlgError (a ValueError) naming it."""
    s = shape_of(a)
    if len(s) < 2:
        raise LinAlgError(
            f"{name}: expected a square matrix (M, M) or a stack of them (..., M, M), got "
            f"shape {s} with {len(s)} dimension{'s' if len(s) != 1 else ''}"
        )
    if s[-1] != s[-2]:
        raise LinAlgError(
            f"{name}: expected square matrices, but the last two axes of shape {s} are "
            f"{s[-2]} x {s[-1]}; {name} needs (..., M, M)"
        )
    return s


def _where_in_stack(a: np.ndarray, test: Any) -> str:
    """'the matrix' or 'the stack of shape ... holds one at index (i, j)' (the first
    matrix that ``test`` rejects). Only runs when LAPACK has already failed."""
    if a.ndim <= 2:
        return f"the matrix of shape {a.shape}"
    for index in np.ndindex(*a.shape[:-2]):
        try:
            test(a[index])
        except LinAlgError:
            return f"the stack of matrices of shape {a.shape}, at index {index},"
    return f"the stack of matrices of shape {a.shape}"


def _singular(name: str, a: np.ndarray, error: Exception) -> LinAlgError:
    where_ = _where_in_stack(a, np.linalg.inv)
    return LinAlgError(f"{name}: {where_} is singular (numpy.linalg: {error}); {name} needs "
                       f"an invertible matrix")


def _explain(name: str, error: Exception, args: tuple, params: dict) -> Exception:
    if isinstance(error, LinAlgError):  # made by our forward, with the op and the shape
        return error
    shown = ", ".join(describe(a) for a in args)
    return type(error)(f"{name}: invalid arguments ({shown}): {error}")


def _with_axis(x: Any, where_: int) -> Any:
    """x with a new size-1 axis at position ``where_`` (-1: last, -2: before the last)."""
    s = list(shape_of(x))
    s.insert(len(s) + 1 + where_, 1)
    return _reshape(x, shape=tuple(s))


def _mT(x: Any) -> Any:
    """The transpose of every matrix in a stack."""
    return swapaxes(x, -1, -2)


def _sym(x: Any) -> Any:
    return multiply(add(x, _mT(x)), 0.5)


# ---------------------------------------------------------------- inv
def _inv_forward(a: Any) -> np.ndarray:
    a = np.asarray(a)
    try:
        return np.linalg.inv(a)
    except LinAlgError as error:
        raise _singular("inv", a, error) from None


# d inv = -inv dA inv, so Ā = -inv(A)ᵀ G inv(A)ᵀ; the output *is* inv(A)
_inv = Primitive("inv", _inv_forward, _explain, doc="numpy.linalg.inv (see ``inv``).").defvjp(
    lambda g, ans, a: negative(matmul(matmul(ans, g, transpose_a=True), ans, transpose_b=True)))


def _inverse_in_rule(name: str, a: Any) -> Any:
    """inv(a) for the rule of ``name``, with an error that says whose derivative failed."""
    try:
        return _inv(a)
    except LinAlgError as error:
        raise LinAlgError(f"{name}: the derivative at a singular matrix is not available "
                          f"(the rule needs inv(a)): {error}") from None


def inv(a: Any) -> Tensor:
    """numpy.linalg.inv: the inverse of a square matrix or of each matrix of a stack.

    Derivative: Ā = -inv(A)ᵀ Ā_out inv(A)ᵀ. A singular matrix raises
    ``numpy.linalg.LinAlgError`` naming the op and, in a stack, the index.
    """
    a = _float(a)
    _square("inv", a)
    return _inv(a)


# ---------------------------------------------------------------- det, slogdet
def _det_vjp(g, ans, a):
    scale = _reshape(multiply(g, ans), shape=shape_of(ans) + (1, 1))
    return multiply(scale, _mT(_inverse_in_rule("det", a)))


_det = Primitive("det", lambda a: np.linalg.det(a), _explain,
                 doc="numpy.linalg.det.").defvjp(_det_vjp)


def det(a: Any) -> Tensor:
    """numpy.linalg.det of a square matrix or of each matrix of a stack.

    Derivative: Ā = ḡ det(A) inv(A)ᵀ. At a singular matrix the derivative
    (the adjugate) is finite, but this rule needs inv(A): asking for it there
    raises ``LinAlgError``.
    """
    a = _float(a)
    _square("det", a)
    return _det(a)


def _slogdet_forward(a: Any) -> np.ndarray:
    sign_, logabsdet = np.linalg.slogdet(np.asarray(a))
    return np.stack([sign_, logabsdet])  # packed: (2, ...), sign first


def _slogdet_vjp(g, ans, a):
    # the sign is piecewise constant: only log|det|'s cotangent g[1] matters
    g_log = getitem(g, 1)
    scale = _reshape(g_log, shape=shape_of(g_log) + (1, 1))
    return multiply(scale, _mT(_inverse_in_rule("slogdet", a)))


_slogdet = Primitive(
    "slogdet", _slogdet_forward, _explain,
    doc="numpy.linalg.slogdet, packed as one (2, ...) array: sign, log|det|.",
).defvjp(_slogdet_vjp)


def slogdet(a: Any) -> SlogdetResult:
    """numpy.linalg.slogdet: (sign, logabsdet) with det(a) = sign * exp(logabsdet).

    The sign is piecewise constant: its derivative is 0 at every order. The
    derivative of logabsdet is inv(A)ᵀ. At a singular matrix numpy gives
    sign 0 and logabsdet -inf, where no derivative exists (asking for it
    raises ``LinAlgError``).
    """
    a = _float(a)
    _square("slogdet", a)
    packed = _slogdet(a)
    return SlogdetResult(getitem(packed, 0), getitem(packed, 1))


# ---------------------------------------------------------------- solve
def _solve_forward(a: Any, b: Any, vector: bool) -> np.ndarray:
    a, b = np.asarray(a), np.asarray(b)
    try:
        if vector:  # b (..., M) is a stack of vectors
            return np.linalg.solve(a, b[..., None])[..., 0]
        return np.linalg.solve(a, b)
    except LinAlgError as error:
        raise _singular("solve", a, error) from None


def _solve_vjp_a(g, ans, a, b, vector):
    b_bar = _solve(_mT(a), g, vector=vector)
    if vector:  # Ā = -b̄ xᵀ, an outer product per vector
        a_bar = multiply(_with_axis(b_bar, -1), _with_axis(ans, -2))
    else:
        a_bar = matmul(b_bar, ans, transpose_b=True)
    return unbroadcast(negative(a_bar), shape_of(a))


_solve = Primitive(
    "solve", _solve_forward, _explain,
    doc="numpy.linalg.solve; ``vector=True``: b's last axis is the vector "
        "(numpy's 1-D b, and its cotangents, which may be batched).",
).defvjp(
    _solve_vjp_a,
    lambda g, ans, a, b, vector: unbroadcast(_solve(_mT(a), g, vector=vector), shape_of(b)),
)


def solve(a: Any, b: Any) -> Tensor:
    """numpy.linalg.solve: x with a @ x = b, with numpy 2's rule for b.

    ``a`` is (..., M, M). A 1-D ``b`` (M,) is one vector (the result is
    (..., M)); otherwise ``b`` is a stack of matrices (..., M, K) whose batch
    axes broadcast against a's. Derivatives: b̄ = solve(aᵀ, x̄), ā = -b̄ xᵀ.
    A singular ``a`` raises ``LinAlgError`` naming the op and the index.
    """
    a, b = _float(a), _float(b)
    sa, sb = _square("solve", a), shape_of(b)
    m = sa[-1]
    if len(sb) == 1:
        if sb[0] != m:
            raise LinAlgError(f"solve: a has shape {sa} but the vector b has length {sb[0]}; "
                              f"b must have length {m}")
        return _solve(a, b, vector=True)
    if len(sb) == 0 or sb[-2] != m:
        raise LinAlgError(
            f"solve: a has shape {sa} and b has shape {sb}: b must be a vector ({m},) or a "
            f"stack of matrices (..., {m}, K) (numpy 2 reads any b of 2 or more dimensions "
            f"as matrices; for a stack of vectors use b[..., None] and take [..., 0])"
        )
    try:
        np.broadcast_shapes(sa[:-2], sb[:-2])
    except ValueError:
        raise LinAlgError(f"solve: the batch axes {sa[:-2]} of a {sa} and {sb[:-2]} of b {sb} "
                          f"do not broadcast (each pair of sizes must be equal or 1)") from None
    return _solve(a, b, vector=False)


# ---------------------------------------------------------------- cholesky
def _cholesky_forward(a: Any, upper: bool) -> np.ndarray:
    a = np.asarray(a)
    try:
        return np.linalg.cholesky(a, upper=upper)
    except LinAlgError as error:
        where_ = _where_in_stack(a, np.linalg.cholesky)
        raise LinAlgError(f"cholesky: {where_} is not positive definite (numpy.linalg: "
                          f"{error}); cholesky needs a symmetric positive-definite matrix "
                          f"(e.g. B Bᵀ + n I)") from None


def _cholesky_vjp(g, ans, a, upper):
    if upper:  # U = Lᵀ: the same rule on the transposes
        g, ans = _mT(g), _mT(ans)
    n = shape_of(ans)[-1]
    # Φ: keep the lower triangle, halve the diagonal (a constant mask in g's dtype)
    phi = _mask(np.tril(np.ones((n, n))) - 0.5 * np.eye(n), g)
    p = multiply(matmul(ans, g, transpose_a=True), phi)  # Φ(Lᵀ L̄)
    lt = _mT(ans)
    y = _solve(lt, p, vector=False)  # L⁻ᵀ P
    x = _mT(_solve(lt, _mT(y), vector=False))  # (L⁻ᵀ (L⁻ᵀ P)ᵀ)ᵀ = L⁻ᵀ P L⁻¹
    return _sym(x)


_cholesky = Primitive(
    "cholesky", _cholesky_forward, _explain,
    doc="numpy.linalg.cholesky (lower); see ``cholesky``.",
).defvjp(_cholesky_vjp)


def cholesky(a: Any, *, upper: bool = False) -> Tensor:
    """numpy.linalg.cholesky: the lower-triangular L with a = L Lᵀ (a stack: each matrix);
    ``upper=True``: the upper-triangular U = Lᵀ with a = Uᵀ U.

    numpy reads only the lower (upper) triangle. The derivative is the
    symmetric one (as in JAX and PyTorch): Ā = sym(L⁻ᵀ Φ(Lᵀ L̄) L⁻¹), Φ = lower
    triangle with the diagonal halved, i.e. the gradient of
    cholesky((A + Aᵀ) / 2). A matrix that is not positive definite raises
    ``LinAlgError``.
    """
    a = _float(a)
    _square("cholesky", a)
    return _cholesky(a, upper=bool(upper))


# ---------------------------------------------------------------- eigh
_VALUES = (Ellipsis, 0, slice(None))  # row 0 of the packed output: the eigenvalues
_VECTORS = (Ellipsis, slice(1, None), slice(None))  # the rest: the eigenvectors


def _eigh_forward(a: Any, uplo: str) -> np.ndarray:
    a = np.asarray(a)
    try:
        w, v = np.linalg.eigh(a, UPLO=uplo)
    except LinAlgError as error:
        raise LinAlgError(f"eigh: no eigendecomposition of {describe(a)} (numpy.linalg: "
                          f"{error})") from None
    return np.concatenate([w[..., None, :], v], axis=-2)  # packed: (..., M + 1, M)


def _eigh_vjp(g, ans, a, uplo):
    n = shape_of(ans)[-1]
    w, v = getitem(ans, _VALUES), getitem(ans, _VECTORS)
    g_w, g_v = getitem(g, _VALUES), getitem(g, _VECTORS)
    vg = matmul(v, g_v, transpose_a=True)  # Vᵀ V̄
    # F_ij = 1 / (w_j - w_i) where the eigenvalues differ; 0 on the diagonal and at exact
    # ties (masks: 1 / (D + 1) there, times 0). The masks are recorded primitives (no
    # derivative), so a program of tm.jit finds each new input's ties itself ...
    zero, one, nan = (g.dtype.type(c) for c in (0, 1, np.nan))  # keep float32 float32
    w_j, w_i = _with_axis(w, -2), _with_axis(w, -1)
    apart = not_equal(w_j, w_i)
    diff = subtract(w_j, w_i)
    f = divide(where(apart, one, zero), add(diff, where(apart, zero, one)))
    # ... unless the eigenvectors of a tie get a cotangent: that derivative does not exist
    # (or its finite limit is not known to this rule), so it is nan, not a made-up number
    off_diagonal = ~np.eye(n, dtype=bool)
    unknown = where(apart, False, where(off_diagonal, not_equal(vg, 0), False))
    f = add(f, where(unknown, nan, zero))  # + 0 where the derivative is known: f unchanged
    inner = add(multiply(f, vg), multiply(_mask(np.eye(n, dtype=bool), g), _with_axis(g_w, -2)))
    return _sym(matmul(matmul(v, inner), v, transpose_b=True))


_eigh = Primitive(
    "eigh", _eigh_forward, _explain,
    doc="numpy.linalg.eigh, packed as one (..., M + 1, M) array: the "
        "eigenvalues in row 0, the eigenvectors below.",
).defvjp(_eigh_vjp)


def eigh(a: Any, UPLO: str = "L") -> EighResult:  # noqa: N803  (numpy's name)
    """numpy.linalg.eigh: eigenvalues (ascending) and eigenvectors of a symmetric matrix.

    numpy reads one triangle (UPLO='L': the lower). The derivative is the
    symmetric one, the gradient of eigh((A + Aᵀ) / 2):
    Ā = sym(V (diag(w̄) + F ∘ (Vᵀ V̄)) Vᵀ), F_ij = 1 / (w_j − w_i). It is
    exact for distinct eigenvalues. Eigenvectors of a repeated eigenvalue are
    not unique: at exactly equal eigenvalues the first derivative of the
    eigenvalues is still exact, while a derivative through the eigenvectors
    of the tie (including every second derivative there) is nan.
    """
    if UPLO not in ("L", "U"):
        raise ValueError(f"eigh: UPLO must be 'L' or 'U', got {UPLO!r}")
    a = _float(a)
    _square("eigh", a)
    packed = _eigh(a, uplo=UPLO)
    return EighResult(getitem(packed, _VALUES), getitem(packed, _VECTORS))


# ---------------------------------------------------------------- singular values
def _svdvals_vjp(g, ans, a):
    # Ā = U diag(s̄) Vᵀ. For A (m, n) with m <= n, Vᵀ = diag(1/s) Uᵀ A, so Ā = U diag(s̄/s) Uᵀ A
    # with U from eigh(A Aᵀ): a rule made of differentiable primitives (tall A: via Aᵀ A).
    m, n = shape_of(a)[-2:]
    # singular values that are 0 to working precision (numpy's matrix_rank tolerance) get
    # no share: the smallest subgradient, and no division of rounding noise by ~0 (a mask
    # made by recorded primitives, so that tm.jit's program finds each input's own)
    largest = getitem(ans, (Ellipsis, slice(0, 1)))
    zero = less_equal(ans, multiply(largest, max(m, n) * np.finfo(ans.dtype).eps))
    keep = where(zero, g.dtype.type(0), g.dtype.type(1))
    ratio = multiply(divide(g, where(zero, 1.0, ans)), keep)
    ratio = getitem(ratio, (Ellipsis, slice(None, None, -1)))  # eigh's ascending order
    ratio = _with_axis(ratio, -2)
    if m <= n:
        u = getitem(_eigh(matmul(a, a, transpose_b=True), uplo="L"), _VECTORS)
        return matmul(matmul(multiply(u, ratio), u, transpose_b=True), a)
    v = getitem(_eigh(matmul(a, a, transpose_a=True), uplo="L"), _VECTORS)
    return matmul(a, matmul(multiply(v, ratio), v, transpose_b=True))


def _svdvals_forward(a: Any) -> np.ndarray:
    a = np.asarray(a)
    try:
        return np.linalg.svd(a, compute_uv=False)
    except LinAlgError as error:
        raise LinAlgError(f"norm: no singular values of {describe(a)} (numpy.linalg: "
                          f"{error})") from None


_svdvals = Primitive(
    "svdvals", _svdvals_forward, _explain,
    doc="numpy.linalg.svd(a, compute_uv=False): singular values, descending.",
).defvjp(_svdvals_vjp)


# ---------------------------------------------------------------- norm
def _pnorm_forward(x: Any, p: float, axes: tuple[int, ...], keepdims: bool) -> np.ndarray:
    x = np.asarray(x)
    if p == 2.0:
        return np.asarray(np.sqrt(np.sum(x * x, axis=axes, keepdims=keepdims)))
    total = np.sum(np.abs(x) ** p, axis=axes, keepdims=keepdims)
    return np.asarray(total ** (1.0 / p))


def _pnorm_vjp(g, ans, x, p, axes, keepdims):
    # d‖x‖_p / dx = sign(x) (|x| / ‖x‖)^(p-1); at ‖x‖ = 0 (so x = 0) the gradient is 0
    if not keepdims:
        shape = keepdims_shape(shape_of(x), axes)
        g, ans = _reshape(g, shape=shape), _reshape(ans, shape=shape)
    safe = where(greater(ans, 0), ans, 1.0)  # a recorded mask: right for any x under tm.jit
    if p == 2.0:
        local = divide(x, safe)
    else:
        local = multiply(sign(x), power(divide(abs(x), safe), p - 1.0))
    return multiply(g, local)


_pnorm = Primitive(
    "norm", _pnorm_forward, _explain,
    doc="(sum |x|**p over axes) ** (1/p); p = 2 is the Euclidean/Frobenius norm.",
).defvjp(_pnorm_vjp)


def _axis_index(axis: Any, ndim: int) -> int:
    return normalize_axis(axis, ndim, "norm")[0]


def _drop(out: Any, shape: tuple[int, ...], axes: tuple[int, ...], keepdims: bool) -> Any:
    """out reduced with keepdims=True over ``axes``: drop those axes unless keepdims."""
    if keepdims:
        return out
    return _reshape(out, shape=tuple(n for i, n in enumerate(shape) if i not in axes))


_ORDERS = ("None, inf, -inf, 0, or a number p (1, 2, 3, 0.5, -1, ...)",
           "None, 'fro', 'nuc', inf, -inf, 1, -1, 2, -2")


def _vector_norm(x: Any, ord: Any, axes: tuple[int, ...], keepdims: bool) -> Tensor:
    if isinstance(ord, str):
        raise ValueError(f"norm: invalid norm order {ord!r} for vectors; valid: {_ORDERS[0]}")
    if ord is None or ord == 2:
        return _pnorm(x, p=2.0, axes=axes, keepdims=keepdims)
    if ord == math.inf:
        return _max(abs(x), axis=axes, keepdims=keepdims)
    if ord == -math.inf:
        return _min(abs(x), axis=axes, keepdims=keepdims)
    if ord == 0:  # the number of non-zero entries: derivative 0
        return _sum(abs(sign(x)), axis=axes, keepdims=keepdims)
    if ord == 1:
        return _sum(abs(x), axis=axes, keepdims=keepdims)
    return _pnorm(x, p=float(ord), axes=axes, keepdims=keepdims)


def _matrix_norm(x: Any, ord: Any, row: int, col: int, keepdims: bool) -> Tensor:
    shape = shape_of(x)
    both = tuple(sorted((row, col)))
    if ord is None or ord in ("fro", "f"):
        return _pnorm(x, p=2.0, axes=both, keepdims=keepdims)
    if ord in ("nuc", 2, -2):
        rest = [i for i in range(len(shape)) if i not in both]
        s = _svdvals(transpose(x, rest + [row, col]))  # (..., min(m, n))
        reduce = {"nuc": _sum, 2: _max, -2: _min}[ord]
        out = reduce(s, axis=-1)
        return _reshape(out, shape=keepdims_shape(shape, both)) if keepdims else out
    if ord in (1, -1):  # the largest (smallest) column sum of |x|
        reduce, first, second = (_max if ord == 1 else _min), row, col
    elif ord in (math.inf, -math.inf):  # the largest (smallest) row sum of |x|
        reduce, first, second = (_max if ord == math.inf else _min), col, row
    else:
        raise ValueError(f"norm: invalid norm order {ord!r} for matrices; valid: {_ORDERS[1]}")
    sums = _sum(abs(x), axis=first, keepdims=True)
    return _drop(reduce(sums, axis=second, keepdims=True), shape, both, keepdims)


def norm(x: Any, ord: Any = None, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A002
    """numpy.linalg.norm: vector norms (one axis) and matrix norms (two axes).

    ``axis=None``: with ``ord=None`` the 2-norm of all entries (any shape);
    otherwise x must be 1-D (a vector norm) or 2-D (a matrix norm). An int
    axis takes vector norms along it, a pair (row, col) matrix norms.
    Vector orders: None/2, 1, inf, -inf, 0 (count), any other p. Matrix
    orders: None/'fro', 'nuc', 1, -1, inf, -inf (column/row sums of |x|),
    2, -2 (largest/smallest singular value).

    Derivatives where the norm has a kink: 0 at x = 0; sign(0) = 0 for |x|;
    ties of max/min share the gradient evenly; ord 0 has derivative 0; a
    p < 1 "norm" has a nan gradient at a zero entry (it is infinite there).
    'nuc', 2 and -2 go through the singular values: first derivatives are
    exact (ties of 2/-2 share evenly; zero singular values get no share),
    higher orders need distinct non-zero singular values (nan at ties). See
    the module docstring.
    """
    x = _float(x)
    nd = len(shape_of(x))
    if not (ord is None or isinstance(ord, (str, int, float, np.integer, np.floating))) \
            or isinstance(ord, (bool, np.bool_)):
        raise TypeError(f"norm: ord must be None, a number or 'fro'/'nuc', got {ord!r}")
    if isinstance(ord, str) and ord not in ("fro", "f", "nuc"):
        raise ValueError(f"norm: invalid norm order {ord!r}; valid for vectors: {_ORDERS[0]}; "
                         f"for matrices: {_ORDERS[1]}")
    if axis is None:
        if ord is None or (ord in ("fro", "f") and nd == 2) or (ord == 2 and nd == 1):
            return _pnorm(x, p=2.0, axes=tuple(range(nd)), keepdims=bool(keepdims))
        axes: tuple = tuple(range(nd))
    elif isinstance(axis, (tuple, list)):
        axes = tuple(axis)
    else:
        axes = (axis,)
    if len(axes) == 1:
        return _vector_norm(x, ord, (_axis_index(axes[0], nd),), bool(keepdims))
    if len(axes) == 2:
        row, col = _axis_index(axes[0], nd), _axis_index(axes[1], nd)
        if row == col:
            raise ValueError(f"norm: axis {axis!r} names the same axis twice; a matrix norm "
                             f"needs two different axes")
        return _matrix_norm(x, ord, row, col, bool(keepdims))
    raise ValueError(
        f"norm: cannot take a norm of shape {shape_of(x)} over axes {axes}: give ord=None "
        f"(the 2-norm of all entries), one axis (vector norms) or two axes (matrix norms); "
        f"with axis=None and an ord, x must be 1-D or 2-D"
    )
