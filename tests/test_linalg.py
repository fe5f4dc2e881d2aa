"""tinymeta.linalg against numpy.linalg, and its derivatives against finite differences.

One helper, ``check_linalg``, does the work for every case: forward value (or
tuple of values) against numpy, numpy arrays accepted, output dtype kept,
``check_grads`` to third order in float64 (also with every input an
intermediate result). ``check_float32`` follows the value and three orders of
derivatives in float32 and counts the ``astype`` ops that would change a
dtype. The tables below only say which function, which inputs and which
reference.

Inputs are well-conditioned: general matrices are B + n·I, symmetric
positive-definite ones B Bᵀ + n·I. Functions of a symmetric matrix
(cholesky, eigh) are checked through f(A) = op((A + Aᵀ) / 2), whose gradient is
the symmetric one tinymeta's rules return.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import tinymeta as tm
import tinymeta.ops.shape
from tinymeta import linalg as la
from tinymeta import ops
from tinymeta.testing import check_grads
from tinymeta.tree import flatten, unflatten

FORWARD_TOL = {np.float64: dict(rtol=1e-10, atol=1e-12), np.float32: dict(rtol=2e-5, atol=2e-5)}


# ---------------------------------------------------------------- inputs
def general(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Well-conditioned (stacks of) square matrices: B + n I, some with negative det."""
    n = shape[-1]
    a = rng.standard_normal(shape) + n * np.eye(n)
    if n > 1:
        a[..., [0, 1], :] = a[..., [1, 0], :]  # a row swap: det < 0 too
    return a


def spd(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Symmetric positive-definite (stacks of) matrices B Bᵀ + n I."""
    b = rng.standard_normal(shape)
    return b @ np.swapaxes(b, -1, -2) + shape[-1] * np.eye(shape[-1])


def normal(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.standard_normal(shape)


def apart(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Entries with distinct magnitudes >= 0.5, random signs: no kink of |x|, no tie of
    max/min (nor of row or column sums)."""
    n = int(np.prod(shape))
    magnitudes = 0.5 + 0.25 * rng.permutation(n) + rng.uniform(0.0, 0.05, n)
    return (magnitudes * rng.choice([-1.0, 1.0], n)).reshape(shape)


def symmetrised(fn: Callable) -> Callable:
    """f(A) = fn((A + Aᵀ) / 2): a function of any matrix that a symmetric-input op's
    gradient is the gradient of."""
    def f(a, *rest):
        return fn((a + tm.swapaxes(a, -1, -2)) * 0.5, *rest)

    return f


def eigh_fixed_signs(a: Any, UPLO: str = "L") -> tuple:  # noqa: N803
    """eigh with each eigenvector's largest entry made positive by a constant factor, so
    that finite differences never compare two opposite choices of sign."""
    w, v = la.eigh(a, UPLO=UPLO)
    vd = v.numpy()
    biggest = np.take_along_axis(vd, np.argmax(np.abs(vd), axis=-2)[..., None, :], axis=-2)
    return w, v * np.sign(biggest).astype(vd.dtype)


def eigh_ref(a: np.ndarray, UPLO: str = "L") -> tuple:  # noqa: N803
    w, v = np.linalg.eigh(a, UPLO=UPLO)
    biggest = np.take_along_axis(v, np.argmax(np.abs(v), axis=-2)[..., None, :], axis=-2)
    return w, v * np.sign(biggest)


# ---------------------------------------------------------------- the helpers
def _leaves(x: Any) -> list:
    return flatten(x)[0]


def check_linalg(fn: Callable, ref: Callable, args: tuple, order: int = 3,
                 grad_fn: Callable | None = None, **check_kw: Any) -> None:
    """fn == numpy ``ref`` on float64 inputs (tensors and arrays), dtype kept, and
    ``check_grads`` of ``grad_fn`` (default fn) to ``order``."""
    out = fn(*(tm.tensor(a) for a in args))
    expected = ref(*args)
    got_leaves, want_leaves = _leaves(out), _leaves(expected)
    assert len(got_leaves) == len(want_leaves)
    for got, want in zip(got_leaves, want_leaves, strict=True):
        assert isinstance(got, tm.Tensor)
        assert got.shape == np.shape(want), (got.shape, np.shape(want))
        assert got.dtype == np.float64
        np.testing.assert_allclose(got.data, want, **FORWARD_TOL[np.float64])
    for got, again in zip(got_leaves, _leaves(fn(*args)), strict=True):  # numpy arrays work
        np.testing.assert_array_equal(again.data, got.data)

    grad_fn = grad_fn or fn
    # first order runs the rules on bare numpy; with inputs that require grad the same rules
    # run recorded on tensors: both must give the same gradient
    out, pullback = tm.vjp(grad_fn, *args)
    cotangent = unflatten(flatten(out)[1], [np.random.default_rng(1).standard_normal(o.shape)
                                            for o in _leaves(out)])
    recorded = tm.vjp(grad_fn, *(tm.tensor(a, requires_grad=True) for a in args))[1]
    for g, r, a in zip(pullback(cotangent), recorded(cotangent), args, strict=True):
        assert g.shape == np.shape(a) and g.dtype == np.float64
        np.testing.assert_allclose(g.data, r.data, rtol=1e-12, atol=1e-12)

    check_grads(grad_fn, args, order=order, **check_kw)

    # the same with every input an intermediate result (see test_ops.check_op)
    def from_intermediates(*xs):
        return grad_fn(*(ops.multiply(x, 1.0) for x in xs))

    check_grads(from_intermediates, args, order=min(order, 2), **check_kw)


def derivatives(fn: Callable, args: tuple, order: int) -> list[list]:
    """The value of fn and its derivatives up to ``order``, each as a list of leaves: the
    k-th is the VJP of the (k-1)-th with a fixed random cotangent (as check_grads does)."""
    rng = np.random.default_rng(2)
    levels = []
    f = fn
    for _ in range(order + 1):
        out = f(*args)
        leaves, treedef = flatten(out)
        levels.append(leaves)
        u = unflatten(treedef, [rng.standard_normal(leaf.shape).astype(leaf.dtype)
                                for leaf in leaves])
        f = (lambda g, c: lambda *xs: tm.vjp(g, *xs)[1](c))(f, u)
    return levels


@pytest.fixture
def count_astype(monkeypatch):
    """How many astype ops changed a dtype since the test began: a list of the changes."""
    changes = []
    forward = tinymeta.ops.shape.astype.forward

    def counting(x, dtype):
        if np.result_type(x) != np.dtype(dtype):
            changes.append((np.result_type(x), np.dtype(dtype)))
        return forward(x, dtype=dtype)

    monkeypatch.setattr(tinymeta.ops.shape.astype, "forward", counting)
    return changes


def check_float32(fn: Callable, args: tuple, changes: list, order: int = 3) -> None:
    """fn and its derivatives to ``order`` stay float32, with no astype changing a dtype;
    the float32 gradient agrees with the float64 one."""
    args32 = tuple(np.asarray(a, np.float32) for a in args)
    for k, leaves in enumerate(derivatives(fn, args32, order)):
        for leaf in leaves:
            assert leaf.dtype == np.float32, f"order {k}: {leaf.dtype}"
    assert not changes, f"astype ops changed dtypes: {changes}"
    # the value and the gradient are the float64 ones, to float32 precision
    levels32 = derivatives(fn, args32, 1)
    levels64 = derivatives(fn, tuple(np.asarray(a, np.float64) for a in args), 1)
    for level32, level64 in zip(levels32, levels64, strict=True):
        for a, b in zip(level32, level64, strict=True):
            np.testing.assert_allclose(a.data, b.data, rtol=2e-3, atol=2e-3)


# ---------------------------------------------------------------- the cases
def _solve_vector(rng, a_shape, n):
    return general(rng, a_shape), rng.standard_normal(n)


CASES = {  # id: (tinymeta fn, numpy reference, input maker, symmetric input?)
    **{f"inv {s}": (la.inv, np.linalg.inv, (lambda r, s=s: (general(r, s),)), False)
       for s in [(1, 1), (3, 3), (2, 3, 3), (2, 1, 2, 2)]},
    **{f"det {s}": (la.det, np.linalg.det, (lambda r, s=s: (general(r, s),)), False)
       for s in [(1, 1), (3, 3), (2, 3, 3)]},
    **{f"slogdet {s}": (la.slogdet, lambda a: tuple(np.linalg.slogdet(a)),
                        (lambda r, s=s: (general(r, s),)), False)
       for s in [(3, 3), (2, 3, 3)]},
    **{f"solve {sa} {sb}": (la.solve, np.linalg.solve,
                            (lambda r, sa=sa, sb=sb: (general(r, sa), normal(r, sb))),
                            False)
       for sa, sb in [((3, 3), (3,)), ((2, 3, 3), (3,)), ((3, 3), (3, 2)),
                      ((2, 3, 3), (3, 1)), ((3, 3), (2, 3, 2)), ((2, 1, 2, 2), (3, 2, 1)),
                      ((1, 1), (1,))]},
    **{f"cholesky {s}": (la.cholesky, np.linalg.cholesky, (lambda r, s=s: (spd(r, s),)),
                         True)
       for s in [(1, 1), (3, 3), (2, 3, 3)]},
    "cholesky upper (2, 3, 3)": (lambda a: la.cholesky(a, upper=True),
                                 lambda a: np.linalg.cholesky(a, upper=True),
                                 lambda r: (spd(r, (2, 3, 3)),), True),
    **{f"eigh {s}": (eigh_fixed_signs, eigh_ref,
                     (lambda r, s=s: (spd(r, s) - s[-1] * np.eye(s[-1]),)), True)
       for s in [(1, 1), (3, 3), (2, 3, 3)]},
    "eigh UPLO=U": (lambda a: eigh_fixed_signs(a, UPLO="U"), lambda a: eigh_ref(a, UPLO="U"),
                    lambda r: (spd(r, (3, 3)),), True),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_linalg(case, rng):
    fn, ref, make, symmetric = CASES[case]
    args = make(rng)
    check_linalg(fn, ref, args, order=3, grad_fn=symmetrised(fn) if symmetric else fn)


@pytest.mark.parametrize("case", sorted(c for c in CASES if "(2," in c or "UPLO" in c))
def test_linalg_float32(case, rng, count_astype):
    fn, _, make, symmetric = CASES[case]
    check_float32(symmetrised(fn) if symmetric else fn, make(rng), count_astype)


# ---------------------------------------------------------------- norm
VECTOR_ORDERS = [None, 2, 1, math.inf, -math.inf, 0, 3, 1.5, 0.5, -1]
NORM_CASES = (  # (shape, ord, axis)
    [((), None, None), ((4,), None, None), ((2, 3), None, None), ((2, 3, 2), None, None)]
    + [((4,), o, None) for o in VECTOR_ORDERS]
    + [((2, 4), o, a) for o in VECTOR_ORDERS for a in (-1, 0)]
    + [((2, 3, 2), o, (1,)) for o in (None, 1, math.inf, 3)]
    + [((3, 3), o, None) for o in ("fro", "nuc", 1, -1, 2, -2, math.inf, -math.inf)]
    + [((2, 3, 4), o, a) for o in ("fro", "nuc", 1, -1, 2, -2, math.inf, -math.inf)
       for a in ((1, 2), (2, 0), (-1, -3))]
    + [((3, 2), o, None) for o in ("nuc", 2, -2)]  # tall: singular values via Aᵀ A
)


def _norm_id(case):
    shape, ord_, axis = case
    return f"{shape} ord={ord_} axis={axis}"


@pytest.mark.parametrize("keepdims", [False, True], ids=["drop", "keep"])
@pytest.mark.parametrize("case", NORM_CASES, ids=_norm_id)
def test_norm(case, keepdims, rng):
    shape, ord_, axis = case
    check_linalg(lambda x: la.norm(x, ord_, axis, keepdims),
                 lambda x: np.linalg.norm(x, ord_, axis, keepdims), (apart(rng, shape),))


FLOAT32_NORMS = [(o, -1) for o in VECTOR_ORDERS] + [
    (o, (1, 2)) for o in ("fro", "nuc", 1, -1, 2, -2, math.inf, -math.inf)]


@pytest.mark.parametrize("ord_,axis", FLOAT32_NORMS, ids=str)
def test_norm_float32(ord_, axis, rng, count_astype):
    check_float32(lambda x: la.norm(x, ord_, axis), (apart(rng, (2, 3, 4)),), count_astype)


# ---------------------------------------------------------------- conventions and identities
def test_norm_gradient_at_zero_is_zero():
    zero = np.zeros((2, 3))
    for ord_, axis in [(None, None), (2, -1), (3, -1), (1, -1), (math.inf, -1), (-math.inf, 0),
                       (0, -1), ("fro", None), (1, None), (-1, None), (math.inf, None),
                       (-math.inf, None), ("nuc", None), (2, None), (-2, None)]:
        g = tm.grad(lambda x, o=ord_, a=axis: tm.sum(la.norm(x, o, a)))(zero)
        np.testing.assert_array_equal(g.data, np.zeros((2, 3)), err_msg=f"ord={ord_}")


def test_norm_ties_share_the_gradient():
    g = tm.grad(lambda x: la.norm(x, math.inf))(np.array([1.0, -1.0, 0.5]))
    np.testing.assert_allclose(g.data, [0.5, -0.5, 0.0])
    # the 2-norm of I: every singular value ties, each pair u vᵀ gets a third: I / 3
    np.testing.assert_allclose(tm.grad(lambda a: la.norm(a, 2))(np.eye(3)).data, np.eye(3) / 3,
                               atol=1e-12)
    np.testing.assert_allclose(tm.grad(lambda a: la.norm(a, "nuc"))(np.eye(3)).data, np.eye(3),
                               atol=1e-12)
    np.testing.assert_allclose(tm.grad(lambda a: la.norm(a, -2))(np.diag([3.0, 1.0, 1.0])).data,
                               np.diag([0.0, 0.5, 0.5]), atol=1e-12)


def test_norm_nuc_gradient_at_rank_deficiency_drops_zero_singular_values(rng):
    u, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    a = u @ np.diag([2.0, 1.0, 0.0]) @ u.T  # rank 2
    g = tm.grad(lambda x: la.norm(x, "nuc"))(a)
    np.testing.assert_allclose(g.data, u[:, :2] @ u[:, :2].T, atol=1e-7)


def test_eigh_second_order_of_a_basis_free_function(rng):
    # sum(w²) = ‖A‖_F²: gradient 2A and Hessian 2·sym at every A (distinct eigenvalues here)
    def f(a):
        return tm.sum(la.eigh(a)[0] ** 2)

    a, v = np.diag([1.0, 2.0, 3.5]) + 0.1 * spd(rng, (3, 3)), rng.standard_normal((3, 3))
    np.testing.assert_allclose(tm.grad(f)(a).data, 2 * a, rtol=1e-12)
    np.testing.assert_allclose(tm.hvp(f, a, v).data, v + v.T, rtol=1e-9)


def test_eigh_at_repeated_eigenvalues_is_exact_or_nan(rng):
    # eigenvalues alone: the first derivative is exact where eigenvalues tie ...
    def f(a):
        return tm.sum(la.eigh(a)[0] ** 2)

    for a in (np.eye(3), np.diag([1.0, 1.0, 2.0])):
        np.testing.assert_allclose(tm.grad(f)(a).data, 2 * a, atol=1e-12)
        # ... but the second needs the eigenvectors of the tie, which have no derivative
        # there: nan, never a wrong number
        assert np.isnan(tm.hvp(f, a, rng.standard_normal((3, 3))).data).any()
    c = rng.standard_normal((3, 3))
    g = tm.grad(lambda a: tm.sum(la.eigh(a)[1] * c))(np.diag([1.0, 1.0, 2.0]))
    assert np.isnan(g.data).any()


def test_slogdet_sign_has_zero_derivative(rng):
    a = general(rng, (2, 3, 3))
    g = tm.grad(lambda x: tm.sum(la.slogdet(x)[0]))(a)
    np.testing.assert_array_equal(g.data, np.zeros_like(a))
    sign, logabsdet = la.slogdet(a)
    np.testing.assert_allclose((sign * tm.exp(logabsdet)).data, np.linalg.det(a), rtol=1e-12)


def test_solve_agrees_with_inv(rng):
    a, b = general(rng, (2, 3, 3)), rng.standard_normal((2, 3, 2))
    for argnum in (0, 1):
        g_solve = tm.grad(lambda x, y: tm.sum(tm.tanh(la.solve(x, y))), argnum)(a, b)
        g_inv = tm.grad(lambda x, y: tm.sum(tm.tanh(la.inv(x) @ y)), argnum)(a, b)
        np.testing.assert_allclose(g_solve.data, g_inv.data, rtol=1e-10, atol=1e-12)


def test_det_hessian_matches_finite_differences_of_the_gradient(rng):
    a = general(rng, (3, 3))
    h = tm.hessian(la.det)(a).data.reshape(9, 9)
    eps = 1e-6
    numeric = np.stack([
        (tm.grad(la.det)(a + eps * e.reshape(3, 3)).data
         - tm.grad(la.det)(a - eps * e.reshape(3, 3)).data).ravel() / (2 * eps)
        for e in np.eye(9)], axis=1)
    np.testing.assert_allclose(h, numeric, rtol=1e-6, atol=1e-6)


def test_integer_and_list_inputs_become_float64():
    assert la.inv(np.eye(2, dtype=int)).dtype == np.float64
    assert la.det([[2, 0], [0, 3]]).data == pytest.approx(6.0)
    assert la.norm([3, 4]).data == pytest.approx(5.0)
    assert la.norm(tm.tensor(np.array([3, 4]), dtype=np.int64)).dtype == np.float64


# ---------------------------------------------------------------- errors
ERRORS = {  # id: (call, exception, match)
    "inv 1-d": (lambda: la.inv(np.ones(3)), ValueError, r"inv: .*\(M, M\).*shape \(3,\)"),
    "inv non-square": (lambda: la.inv(np.ones((2, 3))), ValueError, r"inv: .*2 x 3"),
    "det non-square": (lambda: la.det(np.ones((4, 2, 3))), ValueError, "det: .*square"),
    "slogdet 0-d": (lambda: la.slogdet(1.0), ValueError, "slogdet: "),
    "cholesky non-square": (lambda: la.cholesky(np.ones((3, 2))), ValueError, "cholesky: "),
    "eigh non-square": (lambda: la.eigh(np.ones((3, 2))), ValueError, "eigh: "),
    "eigh UPLO": (lambda: la.eigh(np.eye(2), UPLO="X"), ValueError, "eigh: UPLO"),
    "solve vector length": (lambda: la.solve(np.eye(3), np.ones(2)), ValueError,
                            r"solve: .*length 2.*length 3"),
    "solve matrix rows": (lambda: la.solve(np.eye(3), np.ones((2, 3))), ValueError,
                          r"solve: .*\(\.\.\., 3, K\)"),
    "solve batch": (lambda: la.solve(np.ones((2, 3, 3)), np.ones((4, 3, 1))), ValueError,
                    r"solve: the batch axes \(2,\) .* \(4,\)"),
    "solve scalar b": (lambda: la.solve(np.eye(3), 1.0), ValueError, "solve: "),
    "norm vector fro": (lambda: la.norm(np.ones(3), "fro"), ValueError,
                        "norm: invalid norm order 'fro' for vectors"),
    "norm matrix 3": (lambda: la.norm(np.ones((2, 2)), 3), ValueError,
                      "norm: invalid norm order 3 for matrices"),
    "norm bad string": (lambda: la.norm(np.ones(2), "max"), ValueError, "norm: invalid norm"),
    "norm ord type": (lambda: la.norm(np.ones(2), [1]), TypeError, "norm: ord"),
    "norm 3-d with ord": (lambda: la.norm(np.ones((2, 2, 2)), 2), ValueError,
                          r"norm: cannot take a norm of shape \(2, 2, 2\)"),
    "norm duplicate axes": (lambda: la.norm(np.ones((2, 2)), axis=(0, -2)), ValueError,
                            "norm: .*same axis"),
    "norm axis range": (lambda: la.norm(np.ones((2, 2)), axis=2), ValueError, "norm: axis 2"),
}


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_errors(case):
    call, exception, match = ERRORS[case]
    with pytest.raises(exception, match=match):
        call()


SINGULAR = np.array([[1.0, 2.0], [2.0, 4.0]])


@pytest.mark.parametrize("name,call", [
    ("inv", lambda a: la.inv(a)),
    ("solve", lambda a: la.solve(a, np.ones(2))),
])
def test_singular_matrix_errors_name_the_op_and_the_index(name, call):
    with pytest.raises(np.linalg.LinAlgError, match=rf"{name}: the matrix of shape \(2, 2\) is "
                                                     "singular"):
        call(SINGULAR)
    stack = np.stack([np.eye(2), np.eye(2), SINGULAR])
    with pytest.raises(np.linalg.LinAlgError, match=rf"{name}: .*shape \(3, 2, 2\), at index "
                                                     r"\(2,\), is singular"):
        call(stack)
    with pytest.raises(ValueError):  # LinAlgError is a ValueError, as in numpy
        call(tm.tensor(SINGULAR, requires_grad=True))


def test_cholesky_of_a_matrix_that_is_not_positive_definite():
    with pytest.raises(np.linalg.LinAlgError, match="cholesky: the matrix of shape .* not "
                                                     "positive definite"):
        la.cholesky(np.array([[1.0, 2.0], [2.0, 1.0]]))
    with pytest.raises(np.linalg.LinAlgError, match=r"cholesky: .*at index \(1,\)"):
        la.cholesky(np.stack([np.eye(2), -np.eye(2)]))


@pytest.mark.parametrize("name", ["det", "slogdet"])
def test_derivative_at_a_singular_matrix_says_which_op(name):
    fn = la.det if name == "det" else (lambda a: la.slogdet(a)[1])
    with pytest.raises(np.linalg.LinAlgError, match=f"{name}: the derivative at a singular"):
        tm.grad(fn)(SINGULAR)
    assert la.det(SINGULAR).data == pytest.approx(0.0)  # the value itself is fine


def test_module_exports_exactly_its_functions():
    assert sorted(la.__all__) == sorted(["inv", "det", "slogdet", "solve", "cholesky", "norm",
                                         "eigh"])
    assert all(callable(getattr(la, name)) for name in la.__all__)


def test_nested_gradients_through_a_closure(rng):
    # the MAML pattern: an inner gradient that closes over an outer traced value.
    # det(s t A) = (s t)³ det A, so d/dt at t = 1 is 3 s³ det A and d/ds of that 9 s² det A
    a = general(rng, (3, 3))

    def outer(s):
        return tm.grad(lambda t: la.det(a * (s * t)))(1.0)

    np.testing.assert_allclose(tm.grad(outer)(2.0).data, 9 * 4 * np.linalg.det(a), rtol=1e-10)


def test_p_below_one_has_a_nan_gradient_at_a_zero_entry():
    # (sum |x|^p)^(1/p) for p < 1 has an infinite slope where an entry is 0: nan, not a number
    with np.errstate(divide="ignore", invalid="ignore"):  # 0 ** -0.5 and 0 * inf, expected
        g = tm.grad(lambda x: la.norm(x, 0.5))(np.array([0.0, 1.0, 2.0]))
    assert np.isnan(g.data[0])
    g = tm.grad(lambda x: la.norm(x, 0.5))(np.array([0.5, 1.0, 2.0]))
    assert np.all(np.isfinite(g.data))
