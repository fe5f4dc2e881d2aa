"""einsum, tensordot, dot, inner, outer, kron; prod, cumsum, cumprod, var, std, trace,
average, ptp, median: forward against numpy, derivatives to third order, float32 kept.

Every case in the two tables runs three tests: ``check_op`` (tests/test_ops.py) in
float64 to third order; ``check_op`` in float32 to first order (finite differences
in float32 are too coarse for more); and a float32 run of the first three
derivatives of ``sum(sin(f(x)) * u)``, where each must stay float32 with no
dtype-changing ``astype`` recorded or run. The tests after the tables pin what a
table cannot: exact values at zeros and kinks, numpy's conventions, and errors.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from test_ops import check_op, draw

import tinymeta as tm
import tinymeta.ops.shape
from tinymeta.ops.contractions import dot, einsum, inner, kron, outer, tensordot
from tinymeta.ops.statistics import (
    average,
    cumprod,
    cumsum,
    median,
    prod,
    ptp,
    std,
    trace,
    var,
)
from tinymeta.testing import check_grads


def _sub(a, b, out=None):
    """einsum's sublist form: operands and their axis-number lists."""
    return (lambda x, y: einsum(x, a, y, b, *([out] if out else [])),
            lambda x, y: np.einsum(x, a, y, b, *([out] if out else [])))


# ---------------------------------------------------------------- the tables
# id: (tinymeta function, numpy reference, argument shapes, argument domains)
CONTRACTIONS: dict[str, tuple] = {}
EINSUM = {  # id: (subscripts, shapes)
    "matmul": ("ij,jk->ik", [(2, 3), (3, 4)]),
    "implicit": ("ij,jk", [(2, 3), (3, 4)]),
    "implicit sorts letters, capitals first": ("cb,bA", [(2, 3), (3, 4)]),
    "ellipsis batch broadcast": ("...ij,...jk->...ik", [(2, 1, 2, 3), (3, 3, 2)]),
    "implicit ellipsis": ("ij...,j...", [(2, 3, 4), (3, 4)]),
    "ellipsis summed over a letter": ("i...->...", [(2, 3, 4)]),
    "diagonal": ("ii->i", [(3, 3)]),
    "trace": ("ii", [(3, 3)]),
    "batched diagonal": ("...ii->...i", [(2, 3, 3)]),
    "letter three times": ("iii->i", [(2, 2, 2)]),
    "diagonal times others": ("iij,jk,k->ik", [(2, 2, 3), (3, 4), (4,)]),
    "diagonal apart": ("iji->j", [(2, 3, 2)]),
    "sum all": ("ij->", [(2, 3)]),
    "transpose": ("ij->ji", [(2, 3)]),
    "outer": ("i,j->ij", [(2,), (3,)]),
    "size 1 broadcasts": ("ij,ij->ij", [(1, 3), (2, 3)]),
    "size 1 diagonal broadcasts": ("ii,i->i", [(1, 1), (3,)]),
    "scalar operand": (",ij->ji", [(), (2, 3)]),
    "scalars only": (",->", [(), ()]),
    "bilinear form": ("i,ij,j->", [(3,), (3, 4), (4,)]),
    "four operands": ("ab,bc,cd,d->a", [(2, 3), (3, 2), (2, 4), (4,)]),
    "letter only in one operand": ("ij,j->j", [(2, 3), (3,)]),
    "spaces": ("i j , j k -> k i", [(2, 3), (3, 4)]),
}
for _id, (_s, _shapes) in EINSUM.items():
    CONTRACTIONS[f"einsum {_id}"] = (
        lambda *xs, s=_s: einsum(s, *xs), lambda *xs, s=_s: np.einsum(s, *xs), _shapes, None)
CONTRACTIONS["einsum sublists"] = (*_sub([0, 1], [1, 2], [2, 0]), [(2, 3), (3, 4)], None)
CONTRACTIONS["einsum sublists implicit ellipsis"] = (
    *_sub([Ellipsis, 0], [0, 1]), [(2, 2, 3), (3, 4)], None)

TENSORDOT_AXES = [2, 1, 0, ([1, 0], [0, 2]), ((-1,), (0,)), (1, 0), ([], [])]
for _axes in TENSORDOT_AXES:
    _shapes = {2: [(2, 3, 4), (3, 4, 2)], 1: [(2, 3), (3, 4)], 0: [(2,), (3,)],
               (1, 0): [(2, 3), (3, 2)]}.get(_axes if isinstance(_axes, int) or _axes == (1, 0)
                                              else None, [(2, 3, 4), (3, 2, 2)])
    if _axes == ((-1,), (0,)):
        _shapes = [(2, 3, 4), (4, 2)]
    if _axes == ([], []):
        _shapes = [(2,), (3, 2)]
    CONTRACTIONS[f"tensordot axes={_axes}"] = (
        lambda a, b, ax=_axes: tensordot(a, b, axes=ax),
        lambda a, b, ax=_axes: np.tensordot(a, b, axes=ax), _shapes, None)

for _name, _fn, _ref, _shape_list in [
    ("dot", dot, np.dot, [[(2, 3, 4), (5, 4, 2)], [(3,), (2, 3, 4)], [(2, 3), (3,)],
                          [(2, 3), (3, 4)], [(3,), (3,)], [(), (2, 3)], [(2, 3, 4), (4,)],
                          [(2, 3), (2, 3, 2)], [(2, 2, 3), (3, 2)]]),
    ("inner", inner, np.inner, [[(3,), (3,)], [(2, 3), (4, 3)], [(2, 2, 3), (3,)],
                                [(), (2, 3)], [(3,), (2, 2, 3)]]),
    ("outer", outer, np.outer, [[(3,), (4,)], [(2, 3), (2,)], [(), (3,)]]),
    ("kron", kron, np.kron, [[(2, 3), (2, 2)], [(2, 3), (2,)], [(3,), (2, 2)], [(), (3,)],
                             [(2, 1, 2), (1, 2, 3)], [(), ()]]),
]:
    for _shapes in _shape_list:
        CONTRACTIONS[f"{_name} {_shapes}"] = (_fn, _ref, _shapes, None)


STATISTICS: dict[str, tuple] = {}
AXES = [None, 0, -1, (0, 2)]
for _axis, _keep in itertools.product(AXES, [False, True]):
    _kw = dict(axis=_axis, keepdims=_keep)
    STATISTICS[f"prod {_kw}"] = (lambda x, kw=_kw: prod(x, **kw),
                                 lambda x, kw=_kw: np.prod(x, **kw), [(2, 3, 2)], None)
    STATISTICS[f"ptp {_kw}"] = (lambda x, kw=_kw: ptp(x, **kw),
                                lambda x, kw=_kw: np.ptp(x, **kw), [(2, 3, 2)], ["distinct"])
    STATISTICS[f"median {_kw}"] = (lambda x, kw=_kw: median(x, **kw),
                                   lambda x, kw=_kw: np.median(x, **kw), [(2, 3, 2)],
                                   ["distinct"])
    for _ddof in (0, 1):
        _kw = dict(axis=_axis, ddof=_ddof, keepdims=_keep)
        STATISTICS[f"var {_kw}"] = (lambda x, kw=_kw: var(x, **kw),
                                    lambda x, kw=_kw: np.var(x, **kw), [(2, 3, 2)], None)
        STATISTICS[f"std {_kw}"] = (lambda x, kw=_kw: std(x, **kw),
                                    lambda x, kw=_kw: np.std(x, **kw), [(2, 3, 2)], None)
for _shape in [(), (3,), (4,)]:  # 0-d, and odd and even counts
    for _name, _fn, _ref in [("prod", prod, np.prod), ("median", median, np.median),
                             ("ptp", ptp, np.ptp), ("var", var, np.var), ("std", std, np.std),
                             ("average", average, np.average), ("cumsum", cumsum, np.cumsum),
                             ("cumprod", cumprod, np.cumprod)]:
        STATISTICS[f"{_name} shape {_shape}"] = (_fn, _ref, [_shape], ["distinct"])
for _axis in [None, 0, 1, -1]:
    for _name, _fn, _ref in [("cumsum", cumsum, np.cumsum), ("cumprod", cumprod, np.cumprod)]:
        STATISTICS[f"{_name} axis={_axis}"] = (lambda x, f=_fn, a=_axis: f(x, a),
                                               lambda x, f=_ref, a=_axis: f(x, a),
                                               [(2, 3, 2)], None)
for _offset, _a1, _a2, _shape in [(0, 0, 1, (3, 3)), (1, 0, 1, (2, 3)), (-1, 0, 1, (3, 2)),
                                  (0, 0, 1, (2, 3, 2)), (1, 2, 0, (2, 3, 4)),
                                  (0, -1, -2, (2, 3, 3)), (5, 0, 1, (2, 3)),
                                  (-2, 1, 2, (2, 3, 4))]:
    STATISTICS[f"trace offset={_offset} axes=({_a1}, {_a2}) {_shape}"] = (
        lambda x, o=_offset, a1=_a1, a2=_a2: trace(x, o, a1, a2),
        lambda x, o=_offset, a1=_a1, a2=_a2: np.trace(x, o, a1, a2), [_shape], None)
for _axis, _wshape, _keep in [(None, (2, 3, 2), False), (1, (2, 3, 2), False),
                              (1, (3,), True), ((2, 0), (2, 2), False), ((0, 2), (2, 2), True),
                              (-1, (2,), False)]:
    STATISTICS[f"average weights axis={_axis} {_wshape} keepdims={_keep}"] = (
        lambda x, w, a=_axis, k=_keep: average(x, a, w, keepdims=k),
        lambda x, w, a=_axis, k=_keep: np.average(x, a, w, keepdims=k),
        [(2, 3, 2), _wshape], ["normal", "positive"])
for _axis in [None, 1, (0, 2)]:
    STATISTICS[f"average axis={_axis}"] = (lambda x, a=_axis: average(x, a),
                                           lambda x, a=_axis: np.average(x, a), [(2, 3, 2)],
                                           None)

CASES = {**CONTRACTIONS, **STATISTICS}


def _inputs(rng: np.random.Generator, case: str) -> list[np.ndarray]:
    _, _, shapes, domains = CASES[case]
    return [draw(rng, d, s) for d, s in zip(domains or ["normal"] * len(shapes), shapes,
                                            strict=True)]


# ---------------------------------------------------------------- table tests
@pytest.mark.parametrize("case", sorted(CASES))
def test_float64_value_and_derivatives_to_third_order(case, rng):
    fn, ref, _, _ = CASES[case]
    check_op(fn, ref, _inputs(rng, case), order=3, dtype=np.float64)


@pytest.mark.parametrize("case", sorted(CASES))
def test_float32_value_and_gradient(case, rng):
    fn, ref, _, _ = CASES[case]
    check_op(fn, ref, _inputs(rng, case), order=1, dtype=np.float32)


def _derivatives(fn, args: list[np.ndarray], order: int) -> list[tuple]:
    """The first ``order`` derivatives of sum(sin(fn(*args)) · u), each contracted with a
    fixed direction before the next is taken (sin keeps every order non-zero)."""
    rng = np.random.default_rng(3)
    argnums = tuple(range(len(args)))
    u = rng.standard_normal(np.shape(fn(*args))).astype(args[0].dtype)
    directions = [rng.standard_normal(a.shape).astype(a.dtype) for a in args]

    def f(*xs):
        return tm.sum(tm.sin(fn(*xs)) * u)

    out = []
    for _ in range(order):
        grads_of = tm.grad(f, argnums=argnums)
        out.append(grads_of(*args))

        def f(*xs, grads_of=grads_of):
            return sum(tm.sum(g * d) for g, d in zip(grads_of(*xs), directions, strict=True))
    return out


@pytest.mark.parametrize("case", sorted(CASES))
def test_float32_kept_to_third_order_without_astype(case, rng, monkeypatch):
    changes = []
    forward = tinymeta.ops.shape.astype.forward

    def counting(x, dtype):
        if np.dtype(dtype) != np.asarray(x).dtype:
            changes.append((np.asarray(x).dtype, dtype))
        return forward(x, dtype)

    monkeypatch.setattr(tinymeta.ops.shape.astype, "forward", counting)
    fn = CASES[case][0]
    args = [a.astype(np.float32) for a in _inputs(rng, case)]
    assert fn(*args).dtype == np.float32
    for k, grads in enumerate(_derivatives(fn, args, 3), 1):
        assert all(g.dtype == np.float32 for g in grads), f"order {k}: {[g.dtype for g in grads]}"
    assert not changes, f"astype changed dtypes: {changes}"


def test_every_public_function_is_in_a_table():
    from tinymeta.ops import contractions, exported_by, statistics
    named = {case.split()[0] for case in CASES}
    assert set(exported_by(contractions)) | set(exported_by(statistics)) <= named


# ---------------------------------------------------------------- products at zeros
def _multilinear_third_derivatives(f, x: np.ndarray) -> np.ndarray:
    """d³f/dx_i dx_j dx_k of a function that is linear in each element (prod, cumprod):
    exact by inclusion-exclusion over unit steps; 0 where an index repeats."""
    n = x.size
    out = np.zeros((n, n, n))
    for i, j, k in itertools.permutations(range(n), 3):
        for steps in itertools.product([0, 1], repeat=3):
            y = x.copy()
            y[[i, j, k]] += steps
            out[i, j, k] += (-1) ** (3 - sum(steps)) * f(y)
    return out


WEIGHTS = np.array([0.3, -1.2, 0.7, 1.1])
ZERO_POINTS = {
    "one zero": np.array([2.0, 0.0, 3.0, -1.5]),
    "two zeros": np.array([0.0, 1.3, 0.0, 2.1]),
    "all zero": np.zeros(4),
    "zero first": np.array([0.0, 1.3, -0.7, 2.1]),
}
PRODUCTS = {  # id: (tinymeta scalar function, numpy reference)
    "prod": (prod, np.prod),
    "cumprod": (lambda x: tm.sum(cumprod(x) * WEIGHTS), lambda x: np.sum(np.cumprod(x) * WEIGHTS)),
    "prod over an axis": (lambda x: tm.sum(prod(tm.reshape(x, (2, 2)), axis=0) * WEIGHTS[:2]),
                          lambda x: np.sum(np.prod(x.reshape(2, 2), axis=0) * WEIGHTS[:2])),
    "prod over two axes": (lambda x: prod(tm.reshape(x, (2, 1, 2)), axis=(0, 2)),
                           lambda x: np.prod(x)),
}


@pytest.mark.parametrize("point", sorted(ZERO_POINTS))
@pytest.mark.parametrize("name", sorted(PRODUCTS))
def test_products_at_zeros_are_exact_to_third_order(name, point):
    fn, ref = PRODUCTS[name]
    x = ZERO_POINTS[point]
    third = tm.jacobian(tm.hessian(fn))(x).data
    assert np.all(np.isfinite(third))
    np.testing.assert_allclose(third, _multilinear_third_derivatives(ref, x), atol=1e-12)
    check_grads(fn, (x,), order=3)


def test_prod_gradient_with_one_zero_is_the_product_of_the_others():
    x = np.array([[2.0, 0.0, 3.0], [4.0, 5.0, 0.0]])
    np.testing.assert_array_equal(tm.grad(prod)(x).data, [[0, 0, 0], [0, 0, 0]])  # two zeros
    np.testing.assert_array_equal(tm.grad(lambda v: tm.sum(prod(v, axis=1)))(x).data,
                                  [[0, 6, 0], [0, 0, 20]])
    np.testing.assert_array_equal(tm.grad(prod)(np.array([2.0, 0.0, 3.0])).data, [0, 6, 0])
    # the Hessian at one zero: d²/dx_i dx_j = product of the rest, 0 on the diagonal
    H = tm.hessian(prod)(np.array([2.0, 0.0, 3.0])).data
    np.testing.assert_array_equal(H, [[0, 3, 0], [3, 0, 2], [0, 2, 0]])


def test_cumprod_gradient_with_zeros():
    x = np.array([2.0, 0.0, 3.0])
    # cumprod = [x0, x0 x1, x0 x1 x2]; d sum / dx = [1 + x1 + x1 x2, x0 + x0 x2, x0 x1]
    np.testing.assert_array_equal(tm.grad(lambda v: tm.sum(cumprod(v)))(x).data, [1, 8, 0])


def test_prod_near_zero_hessian_is_accurate():
    # a tiny factor: the division formula's derivatives would cancel terms of size 1/x²
    x = np.array([1e-9, 1.3, -0.7, 2.1])
    H = tm.hessian(prod)(x).data
    expected = np.array([[0 if i == j else np.prod(np.delete(x, [i, j])) for j in range(4)]
                         for i in range(4)])
    np.testing.assert_allclose(H, expected, rtol=1e-12, atol=1e-20)


# ---------------------------------------------------------------- kinks and conventions
def test_std_of_a_constant_slice_has_derivative_zero():
    x = np.array([[1.0, 2.0], [1.0, 5.0]])
    g = tm.grad(lambda v: tm.sum(std(v, axis=0)))(x)
    np.testing.assert_allclose(g.data, [[0, -0.5], [0, 0.5]])
    H = tm.hessian(lambda v: tm.sum(std(v, axis=0)))(x).data
    assert np.all(np.isfinite(H)) and np.all(H.reshape(4, 4)[[0, 2]][:, [0, 2]] == 0)
    assert tm.grad(std)(3.0).item() == 0.0


def test_median_and_ptp_share_the_gradient_between_ties():
    grad_median = tm.grad(median)
    np.testing.assert_allclose(grad_median(np.array([3.0, 1.0, 2.0])).data, [0, 0, 1])
    np.testing.assert_allclose(grad_median(np.array([4.0, 1.0, 2.0, 3.0])).data,
                               [0, 0, 0.5, 0.5])
    np.testing.assert_allclose(grad_median(np.array([2.0, 1.0, 2.0, 5.0, 2.0])).data,
                               [1 / 3, 0, 1 / 3, 0, 1 / 3])
    np.testing.assert_allclose(tm.grad(ptp)(np.array([1.0, 3.0, 3.0, 0.0])).data,
                               [0, 0.5, 0.5, -1])


def test_average_weights_are_differentiable_and_returned_matches_numpy(rng):
    a, w = rng.standard_normal((2, 3)), rng.uniform(0.5, 2.0, 3)
    avg, total = average(a, axis=1, weights=w, returned=True)
    np_avg, np_total = np.average(a, axis=1, weights=w, returned=True)
    np.testing.assert_allclose(avg.data, np_avg, rtol=1e-12)
    np.testing.assert_allclose(total.data, np_total, rtol=1e-12)
    _, count = average(a, axis=1, returned=True)
    np.testing.assert_array_equal(count.data, np.average(a, axis=1, returned=True)[1])
    # d avg / d w_j = (a_j - avg) / sum(w)
    g = tm.grad(lambda v: tm.sum(average(a, 1, v)))(w)
    np.testing.assert_allclose(g.data, np.sum((a - np_avg[:, None]) / w.sum(), axis=0),
                               rtol=1e-12)


def test_python_numbers_are_weak_in_contractions(rng):
    x = rng.standard_normal((2, 3)).astype(np.float32)
    for out in [einsum("ij,->ij", x, 2.0), einsum(",ij", 2, x), dot(x, 2.0), dot(2.0, x),
                inner(x, 0.5), outer(2.0, x), kron(x, 3.0), tensordot(x, 2.0, axes=0)]:
        assert out.dtype == np.float32


@pytest.mark.parametrize("optimize", [False, True, "greedy", "optimal"])
@pytest.mark.parametrize("size", [2, 70])  # 70: large enough for the default to search
def test_einsum_optimize_gives_the_same_contraction(optimize, size, rng):
    a, b, c = (rng.standard_normal(s) for s in [(3, size), (size, 4), (4,)])
    out = einsum("ij,jk,k->i", a, b, c, optimize=optimize)
    np.testing.assert_allclose(out.data, a @ b @ c, rtol=1e-12)
    np.testing.assert_allclose(einsum("ij,jk,k->i", a, b, c).data, out.data, rtol=1e-12)
    if size == 2:
        check_grads(lambda x, y, z: einsum("ij,jk,k->i", x, y, z, optimize=optimize),
                    (a, b, c), order=2)


def test_dot_sums_the_last_axis_of_a_against_the_second_to_last_of_b(rng):
    a, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((5, 4, 6))
    out = dot(a, b)
    assert out.shape == (2, 3, 5, 6)  # no batch broadcasting, unlike matmul
    np.testing.assert_allclose(out.data, np.dot(a, b), rtol=1e-12)


@pytest.mark.parametrize("subscripts, shapes, rule", [
    ("ij,jk->ik", [(2, 3), (3, 4)], "ik,jk->ij"),
    ("ii->i", [(3, 3)], "i,ia->ia"),  # the cotangent on the diagonal, by an identity matrix
    ("ii", [(3, 3)], ",ia->ia"),
])
def test_einsum_rule_is_one_einsum(subscripts, shapes, rule, rng):
    # a recorded backward pass of a contraction is a single einsum node per operand
    xs = [rng.standard_normal(s) for s in shapes]
    seen = []

    def outer_loss(x):
        def inner_loss(y):
            return tm.sum(tm.sin(einsum(subscripts, y, *xs[1:])))

        g = tm.grad(inner_loss)(x)
        seen.append((g.op, g.node.params.get("subscripts")))
        return tm.sum(g * g)

    tm.grad(outer_loss)(xs[0])
    assert seen == [("einsum", rule)]


# ---------------------------------------------------------------- errors
ERRORS = {  # id: (call, exception type, message pattern)
    "einsum operand count": (lambda: einsum("ij,jk->ik", np.ones((2, 3))), ValueError,
                             r"einsum: .* name 2 operand\(s\) but 1 were given"),
    "einsum bad character": (lambda: einsum("i1->i", np.ones((2, 3))), ValueError,
                             "einsum: invalid subscripts .* '1' is not a subscript"),
    "einsum two arrows": (lambda: einsum("i->i->i", np.ones(2)), ValueError, "einsum"),
    "einsum two ellipses": (lambda: einsum("......", np.ones(2)), ValueError, "einsum.*once"),
    "einsum too few letters": (lambda: einsum("i->i", np.ones((2, 3))), ValueError,
                               r"einsum: .* 1 subscript\(s\) for an array of shape \(2, 3\)"),
    "einsum too many letters": (lambda: einsum("ijk->i", np.ones((2, 3))), ValueError,
                                "einsum: .* shape"),
    "einsum size mismatch": (lambda: einsum("ij,jk", np.ones((2, 3)), np.ones((4, 2))),
                             ValueError, "einsum: 'j' .* size 3 in one operand and 4"),
    "einsum unequal diagonal": (lambda: einsum("ii->i", np.ones((2, 3))), ValueError,
                                "einsum: 'i' is repeated .* diagonal needs equal sizes"),
    "einsum output letter unknown": (lambda: einsum("ij->k", np.ones((2, 3))), ValueError,
                                     "einsum: .* output letter 'k' names no input axis"),
    "einsum output repeats": (lambda: einsum("i->ii", np.ones(2)), ValueError,
                              "einsum: .* appears twice in the output"),
    "einsum ellipsis missing in output": (lambda: einsum("...i->i", np.ones((2, 3))),
                                          ValueError, r"einsum: .* add '\.\.\.' to the output"),
    "einsum no operands": (lambda: einsum("ij"), ValueError, "einsum: .* no operands"),
    "einsum bad sublist": (lambda: einsum(np.ones(2), ["a"]), ValueError, "einsum: sublist"),
    "tensordot misaligned": (lambda: tensordot(np.ones((2, 3)), np.ones((4, 2)), axes=1),
                             ValueError, "tensordot: shapes .* axis 1 of a has size 3"),
    "tensordot too many axes": (lambda: tensordot(np.ones(2), np.ones(2), axes=2), ValueError,
                                "tensordot: axes=2"),
    "tensordot unpaired": (lambda: tensordot(np.ones((2, 2)), np.ones((2, 2)),
                                             axes=([0, 1], [0])), ValueError,
                           "tensordot: .* pair 2 axes of a with 1"),
    "tensordot bad axes": (lambda: tensordot(np.ones(2), np.ones(2), axes="x"), TypeError,
                           "tensordot: axes must be"),
    "tensordot axis out of range": (lambda: tensordot(np.ones(2), np.ones(2),
                                                      axes=([3], [0])), ValueError,
                                    "tensordot: axis 3 is out of range"),
    "tensordot repeated axis": (lambda: tensordot(np.ones((2, 2)), np.ones((2, 2)),
                                                  axes=([0, 0], [0, 1])), ValueError,
                                "tensordot: .* repeat an axis of a"),
    "dot misaligned": (lambda: dot(np.ones((2, 3, 4)), np.ones((5, 3, 2))), ValueError,
                       r"dot: shapes \(2, 3, 4\) and \(5, 3, 2\) are not aligned"),
    "dot misaligned vector": (lambda: dot(np.ones((2, 3)), np.ones(4)), ValueError,
                              "dot: .* the only axis of b"),
    "inner misaligned": (lambda: inner(np.ones((2, 3)), np.ones((3, 2))), ValueError,
                         "inner: shapes .* last axes"),
    "prod bad axis": (lambda: prod(np.ones((2, 3)), axis=2), ValueError,
                      "prod: axis 2 is out of range"),
    "cumsum tuple axis": (lambda: cumsum(np.ones((2, 3)), axis=(0, 1)), TypeError,
                          "cumsum: axis must be None or an int"),
    "cumprod bad axis": (lambda: cumprod(np.ones((2, 3)), axis=-3), ValueError,
                         "cumprod: axis -3 is out of range"),
    "cumsum 0-d with axis": (lambda: cumsum(np.float64(1.0), axis=0), ValueError,
                             "cumsum: axis 0 is out of range for a 0-d array"),
    "var no degrees of freedom": (lambda: var(np.ones((2, 3)), axis=0, ddof=2), ValueError,
                                  "var: ddof=2 leaves no degrees of freedom"),
    "std no degrees of freedom": (lambda: std(np.ones(3), ddof=3), ValueError, "var: ddof=3"),
    "var bad ddof": (lambda: var(np.ones(3), ddof="1"), TypeError, "var: ddof must be"),
    "trace 1-d": (lambda: trace(np.ones(3)), ValueError, "trace: needs an array with at least 2"),
    "trace same axes": (lambda: trace(np.ones((2, 2)), axis1=1, axis2=-1), ValueError,
                        "trace: axis1 .* same axis"),
    "trace bad offset": (lambda: trace(np.ones((2, 2)), offset=0.5), TypeError,
                         "trace: offset must be an int"),
    "average weights without axis": (lambda: average(np.ones((2, 3)), weights=np.ones(3)),
                                     TypeError, "average: weights of shape .* give axis="),
    "average weights misfit": (lambda: average(np.ones((2, 3)), axis=1, weights=np.ones(2)),
                               ValueError, "average: weights of shape"),
    "average weights sum to zero": (lambda: average(np.ones(2), weights=np.array([1.0, -1.0])),
                                    ZeroDivisionError, "average: the weights sum to zero"),
    "ptp bad axis": (lambda: ptp(np.ones(3), axis=1), ValueError, "ptp: axis 1"),
    "median empty": (lambda: median(np.ones((0, 3)), axis=0), ValueError, "median: .* empty"),
}


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_clear_errors(case):
    call, error, pattern = ERRORS[case]
    with pytest.raises(error, match=pattern):
        call()
