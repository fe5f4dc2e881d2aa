"""Every exported op (``tinymeta.ops`` and ``tm.linalg``): forward against numpy, derivatives
by finite differences; and that ``export`` makes them ``tm``'s and ``Tensor``'s.

One helper, ``check_op``, does the work for every case: it compares the
forward value with a numpy reference, checks that the output and the
gradients keep the input dtype, and runs ``check_grads`` to the requested
order. The tables below only say which op, which inputs and which reference.

Inputs are smooth and kink-free: positive for log/sqrt, away from 0 for
relu/abs/sign and divisors, no ties for max/min/maximum/minimum, so that
central differences are valid.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinymeta as tm
from tinymeta import ops
from tinymeta.testing import check_grads

DTYPES = [np.float64, np.float32]
FORWARD_TOL = {np.float64: dict(rtol=1e-12, atol=1e-12), np.float32: dict(rtol=1e-5, atol=1e-6)}


# ---------------------------------------------------------------- inputs
def draw(rng: np.random.Generator, domain: str, shape: tuple[int, ...]) -> np.ndarray:
    """Random float64 inputs of ``shape`` from a domain where the op is smooth."""
    if domain == "normal":
        return rng.standard_normal(shape)
    if domain == "positive":
        return rng.uniform(0.5, 2.0, shape)
    if domain == "nonzero":  # |x| >= 0.3: no kink of relu/abs/sign, no pole of 1/x
        return rng.uniform(0.3, 1.5, shape) * rng.choice([-1.0, 1.0], shape)
    if domain == "above_minus_one":  # log1p
        return rng.uniform(-0.5, 1.5, shape)
    if domain == "distinct":  # every pair at least 0.25 apart: max/min have no ties
        n = int(np.prod(shape))
        values = (rng.permutation(n) - n / 2) * 0.3 + rng.uniform(0.0, 0.05, n)
        return values.reshape(shape)
    raise ValueError(domain)


def draw_apart(rng: np.random.Generator, shapes: tuple[tuple[int, ...], ...]) -> list:
    """Inputs for maximum/minimum: broadcast against each other, never within 0.1."""
    while True:
        xs = [rng.standard_normal(s) for s in shapes]
        a, b = np.broadcast_arrays(*xs)
        if a.size == 0 or np.min(np.abs(a - b)) > 0.1:
            return xs


# ---------------------------------------------------------------- the one helper
def check_op(
    fn: Callable,
    ref: Callable,
    args: tuple,
    order: int = 2,
    dtype: Any = np.float64,
    **check_kw: Any,
) -> None:
    """Forward value == numpy ``ref``; dtype kept in output and gradients; check_grads."""
    args = tuple(np.asarray(a, dtype=dtype) for a in args)
    out = fn(*(tm.tensor(a) for a in args))
    expected = np.asarray(ref(*args))
    assert isinstance(out, tm.Tensor)
    assert out.shape == expected.shape
    assert out.dtype == dtype, f"output dtype {out.dtype}, inputs {np.dtype(dtype)}"
    np.testing.assert_allclose(out.data, expected, **FORWARD_TOL[dtype])

    # numpy arrays are accepted as they are, and stay the caller's: still writable
    out_np = fn(*args)
    np.testing.assert_array_equal(out_np.data, out.data)
    assert all(a.flags.writeable for a in args), "an op made the caller's array read-only"

    # first order runs the rules on bare numpy; with inputs that require grad the same
    # rules run recorded on tensors: both must give the same gradient, in the input dtype
    cotangent = np.random.default_rng(1).standard_normal(out.shape).astype(dtype)
    _, pullback = tm.vjp(fn, *args)
    grads = pullback(cotangent)
    _, recorded_pullback = tm.vjp(fn, *(tm.tensor(a, requires_grad=True) for a in args))
    recorded = recorded_pullback(cotangent)
    for g, r, a in zip(grads, recorded, args, strict=True):
        assert g.shape == a.shape
        assert g.dtype == dtype, f"gradient dtype {g.dtype}, inputs {np.dtype(dtype)}"
        assert r.dtype == dtype
        np.testing.assert_allclose(g.data, r.data, **FORWARD_TOL[dtype])

    check_grads(fn, args, order=order, **check_kw)

    # the same with every input an intermediate result, whose graph node keeps only the
    # values its rules declare they read (``saves``): a rule that reads a value its
    # declaration does not name meets an Unsaved here instead of numbers
    def from_intermediates(*xs):
        return fn(*(ops.multiply(x, 1.0) for x in xs))

    check_grads(from_intermediates, args, order=order, **check_kw)


# ---------------------------------------------------------------- unary elementwise
SMOOTH = 3  # the order for smooth ops
UNARY = {  # name: (numpy reference, input domain, order)
    "exp": (np.exp, "normal", SMOOTH),
    "log": (np.log, "positive", SMOOTH),
    "log1p": (np.log1p, "above_minus_one", SMOOTH),
    "expm1": (np.expm1, "normal", SMOOTH),
    "sin": (np.sin, "normal", SMOOTH),
    "cos": (np.cos, "normal", SMOOTH),
    "tanh": (np.tanh, "normal", SMOOTH),
    "sigmoid": (lambda x: 1 / (1 + np.exp(-x)), "normal", SMOOTH),
    "sqrt": (np.sqrt, "positive", SMOOTH),
    "square": (np.square, "normal", SMOOTH),
    "negative": (np.negative, "normal", SMOOTH),
    "relu": (lambda x: np.maximum(x, 0), "nonzero", 2),
    "abs": (np.abs, "nonzero", 2),
    "sign": (np.sign, "nonzero", 2),
}
UNARY_SHAPES = [(), (3,), (2, 3), (2, 1, 3)]


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("shape", UNARY_SHAPES, ids=str)
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary(name, shape, dtype, rng):
    ref, domain, order = UNARY[name]
    check_op(getattr(tm, name), ref, (draw(rng, domain, shape),), order=order, dtype=dtype)


def test_tensor_methods_match_functions(rng):
    x = tm.tensor(rng.uniform(0.5, 2.0, (2, 3)))
    for method, fn in [("sum", tm.sum), ("mean", tm.mean), ("max", tm.max)]:
        np.testing.assert_array_equal(getattr(x, method)().data, fn(x).data)
    np.testing.assert_array_equal((-x).data, -x.data)
    np.testing.assert_array_equal(abs(-x).data, x.data)
    assert +x is x


# ---------------------------------------------------------------- binary elementwise
BINARY = {  # name: (numpy reference, input domains or "apart")
    "add": (np.add, ("normal", "normal")),
    "subtract": (np.subtract, ("normal", "normal")),
    "multiply": (np.multiply, ("normal", "normal")),
    "divide": (np.divide, ("normal", "nonzero")),
    "power": (np.power, ("positive", "normal")),
    "maximum": (np.maximum, "apart"),
    "minimum": (np.minimum, "apart"),
}
BROADCAST_PAIRS = [
    ((), ()),
    ((3,), ()),
    ((), (3,)),
    ((2, 3), (2, 3)),
    ((2, 3), (3,)),
    ((3,), (2, 3)),
    ((2, 1), (1, 3)),
    ((2, 1, 3), (4, 3)),
    ((1, 3), (2, 2, 1)),
]


def binary_inputs(rng, name, shapes):
    domains = BINARY[name][1]
    if domains == "apart":
        return draw_apart(rng, shapes)
    return [draw(rng, d, s) for d, s in zip(domains, shapes, strict=True)]


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("shapes", BROADCAST_PAIRS, ids=str)
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary(name, shapes, dtype, rng):
    check_op(getattr(tm, name), BINARY[name][0], binary_inputs(rng, name, shapes), dtype=dtype)


WHERE_SHAPES = [
    ((), (), ()),
    ((3,), (3,), (3,)),
    ((2, 3), (2, 3), (2, 3)),
    ((2, 3), (3,), ()),
    ((3,), (2, 1), (1, 3)),
    ((2, 1), (2, 3), (3,)),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("shapes", WHERE_SHAPES, ids=str)
def test_where(shapes, dtype, rng):
    cond = rng.random(shapes[0]) > 0.5
    x, y = rng.standard_normal(shapes[1]), rng.standard_normal(shapes[2])
    check_op(lambda a, b: tm.where(cond, a, b), lambda a, b: np.where(cond, a, b), (x, y),
             dtype=dtype)


def test_where_accepts_a_bool_tensor_condition(rng):
    x = rng.standard_normal(4)
    out = tm.where(tm.tensor(x) > 0, x, 0.0)
    np.testing.assert_array_equal(out.data, np.where(x > 0, x, 0.0))
    g = tm.grad(lambda v: tm.sum(tm.where(v > 0, v, 2 * v)))(x)
    np.testing.assert_array_equal(g.data, np.where(x > 0, 1.0, 2.0))


@pytest.mark.parametrize("exponent", [2, 3, -1, 0.5, 2.5])
def test_power_with_constant_exponent(exponent, rng):
    x = draw(rng, "positive", (2, 3))
    check_op(lambda a: a ** exponent, lambda a: a ** exponent, (x,), order=3)


@pytest.mark.parametrize("exponent", [2, 3, -2])
def test_power_of_negative_base_with_integer_exponent(exponent, rng):
    x = -draw(rng, "positive", (4,))
    check_op(lambda a: tm.power(a, float(exponent)), lambda a: a ** exponent, (x,), order=3)


def test_power_gradient_in_exponent_at_nonpositive_base_is_finite():
    # d(0**y)/dy involves log(0); the rule substitutes 0 rather than producing nan
    g = tm.grad(lambda y: tm.sum(tm.power(np.array([0.0, 2.0]), y)))(np.array([2.0, 2.0]))
    assert np.all(np.isfinite(g.data))
    np.testing.assert_allclose(g.data, [0.0, np.log(2.0) * 4.0])


@pytest.mark.parametrize("name", ["add", "subtract", "multiply", "divide", "power",
                                  "maximum", "minimum"])
def test_binary_ops_accept_numbers_arrays_and_tensors(name, rng):
    fn, ref = getattr(tm, name), BINARY[name][0]
    x = draw(rng, "positive", (3,))
    for a, b in [(x, 1.7), (1.7, x), (x, x[::-1].copy()), (tm.tensor(x), x), (x, tm.tensor(x))]:
        out = fn(a, b)
        assert isinstance(out, tm.Tensor)
        np.testing.assert_allclose(out.data, ref(np.asarray(a), np.asarray(b)), rtol=1e-12)


def test_operators_match_numpy(rng):
    a, b = draw(rng, "positive", (2, 3)), draw(rng, "positive", (3,))
    ta, tb = tm.tensor(a), tm.tensor(b)
    cases = [
        (ta + tb, a + b), (ta - tb, a - b), (ta * tb, a * b), (ta / tb, a / b),
        (ta ** tb, a ** b), (2.0 + ta, 2.0 + a), (2.0 - ta, 2.0 - a), (2.0 * ta, 2.0 * a),
        (2.0 / ta, 2.0 / a), (2.0 ** ta, 2.0 ** a), (b + ta, b + a), (b - ta, b - a),
        (ta @ tb, a @ b), (ta.T, a.T), (ta[1], a[1]), (ta.sum(axis=0), a.sum(axis=0)),
        (ta.mean(), a.mean()), (ta.max(axis=1), a.max(axis=1)), (ta.min(), a.min()),
        (ta.reshape(3, 2), a.reshape(3, 2)), (ta.reshape((6,)), a.reshape(6)),
        (ta.transpose(), a.T), (ta.transpose(1, 0), a.T),
    ]
    for got, want in cases:
        assert isinstance(got, tm.Tensor)
        np.testing.assert_allclose(got.data, want, rtol=1e-12)


def test_numpy_array_on_the_left_of_an_operator_gives_a_tensor(rng):
    a = rng.standard_normal(3)
    t = tm.tensor(rng.standard_normal(3), requires_grad=True)
    for out in (a + t, a - t, a * t, a / t, a @ t):
        assert isinstance(out, tm.Tensor) and out.requires_grad


# ---------------------------------------------------------------- matmul, dot, vdot
MATMUL_SHAPES = [
    ((3,), (3,)),
    ((2, 3), (3,)),
    ((3,), (3, 4)),
    ((2, 3), (3, 4)),
    ((5, 2, 3), (3, 4)),
    ((2, 3), (5, 3, 4)),
    ((5, 2, 3), (5, 3, 4)),
    ((5, 1, 2, 3), (4, 3, 2)),
    ((5, 2, 3), (3,)),
    ((3,), (5, 3, 4)),
    ((1, 3), (3, 1)),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("shapes", MATMUL_SHAPES, ids=str)
def test_matmul(shapes, dtype, rng):
    check_op(tm.matmul, np.matmul, [rng.standard_normal(s) for s in shapes], dtype=dtype)


LINEAR_SHAPES = [  # x, w, b
    ((5, 3), (3, 4), (4,)),  # one layer on 5 rows
    ((2, 5, 3), (2, 3, 4), (2, 4)),  # task-batched: one weight matrix and bias per task
    ((2, 5, 3), (2, 3, 4), (4,)),  # a bias shared by the tasks
    ((5, 3), (2, 3, 4), (2, 4)),  # the same rows through every task's layer
    ((2, 5, 1), (2, 1, 4), (2, 4)),  # 1-wide input: matmul's outer-product path
    ((1, 3), (3, 1), (1,)),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("shapes", LINEAR_SHAPES, ids=str)
def test_linear(shapes, dtype, rng):
    def ref(x, w, b):
        return np.matmul(x, w) + np.expand_dims(b, -2)

    check_op(tm.linear, ref, [rng.standard_normal(s) for s in shapes], order=SMOOTH, dtype=dtype)


def test_linear_equals_matmul_plus_bias_at_second_order(rng):
    # the fused node must differentiate like the three ops it replaces, also through a
    # recorded backward pass (as MAML's inner gradient is)
    x, w, b = (rng.standard_normal(s) for s in ((2, 5, 3), (2, 3, 4), (2, 4)))

    def loss(layer):
        return lambda w, b: tm.sum(tm.tanh(layer(x, w, b)) ** 2)

    fused = loss(tm.linear)
    unfused = loss(lambda x, w, b: tm.matmul(x, w) + tm.expand_dims(b, -2))
    for argnum in (0, 1):
        h_fused = tm.hessian(fused, argnum)(w, b)
        h_unfused = tm.hessian(unfused, argnum)(w, b)
        np.testing.assert_allclose(h_fused.data, h_unfused.data, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("shapes", [((3,), (3,)), ((2, 3), (3,)), ((2, 3), (3, 4)), ((), (3,)),
                                    ((2, 3), ())], ids=str)
def test_dot(shapes, rng):
    check_op(tm.dot, np.dot, [rng.standard_normal(s) for s in shapes])


@pytest.mark.parametrize("shape", [(3,), (2, 3)], ids=str)
def test_vdot(shape, rng):
    check_op(tm.vdot, lambda a, b: np.vdot(a, b), [rng.standard_normal(shape) for _ in "ab"],
             order=3)


# ---------------------------------------------------------------- reductions
def _logsumexp_ref(x, axis=None, keepdims=False):
    return np.log(np.sum(np.exp(x), axis=axis, keepdims=keepdims))


REDUCTIONS = {  # name: (numpy reference, input domain, order)
    "sum": (np.sum, "normal", SMOOTH),
    "mean": (np.mean, "normal", SMOOTH),
    "max": (np.max, "distinct", 2),
    "min": (np.min, "distinct", 2),
    "logsumexp": (_logsumexp_ref, "normal", SMOOTH),
}
AXES_3D = [None, 0, 1, 2, -1, -2, -3, (0, 1), (0, 2), (1, 2), (-1, 0), (2, -2), (0, 1, 2), ()]
REDUCTION_CASES = (
    [((2, 3, 4), axis) for axis in AXES_3D]
    + [((4,), axis) for axis in (None, 0, -1, (0,))]
    + [((2, 3), axis) for axis in (None, 0, 1, -1, (0, 1), (1, 0))]
    + [((), None), ((), ())]
)


@pytest.mark.parametrize("keepdims", [False, True], ids=["drop", "keep"])
@pytest.mark.parametrize("shape,axis", REDUCTION_CASES, ids=str)
@pytest.mark.parametrize("name", sorted(REDUCTIONS))
def test_reduction(name, shape, axis, keepdims, rng):
    ref, domain, order = REDUCTIONS[name]
    fn = getattr(tm, name)
    check_op(lambda x: fn(x, axis=axis, keepdims=keepdims),
             lambda x: ref(x, axis=axis, keepdims=keepdims),
             (draw(rng, domain, shape),), order=order)


@pytest.mark.parametrize("keepdims", [False, True], ids=["drop", "keep"])
@pytest.mark.parametrize("axis", [None, 1, -1, (0, 2)], ids=str)
@pytest.mark.parametrize("name", sorted(REDUCTIONS))
def test_reduction_float32(name, axis, keepdims, rng):
    ref, domain, _ = REDUCTIONS[name]
    fn = getattr(tm, name)
    check_op(lambda x: fn(x, axis=axis, keepdims=keepdims),
             lambda x: ref(x, axis=axis, keepdims=keepdims),
             (draw(rng, domain, (2, 3, 4)),), order=2, dtype=np.float32)


def test_max_and_min_split_the_gradient_between_ties():
    x = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])
    np.testing.assert_allclose(tm.grad(lambda v: tm.sum(tm.max(v, axis=1)))(x).data,
                               [[0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]])
    np.testing.assert_allclose(tm.grad(lambda v: tm.min(v))(x).data,
                               [[1, 0, 0], [0, 0, 0]])
    np.testing.assert_allclose(tm.grad(lambda a: tm.sum(tm.maximum(a, 2.0)))(x[1]).data,
                               [0.5, 0.5, 0.5])


def test_logsumexp_is_stable_for_large_inputs():
    x = np.array([1000.0, 1000.0, -1000.0])
    out = tm.logsumexp(x)
    np.testing.assert_allclose(out.data, 1000.0 + np.log(2.0))
    np.testing.assert_allclose(tm.grad(tm.logsumexp)(x).data, [0.5, 0.5, 0.0])
    np.testing.assert_allclose(tm.softmax(x).data, [0.5, 0.5, 0.0])


SOFTMAX_CASES = [((3,), -1), ((3,), 0), ((2, 3), -1), ((2, 3), 0), ((2, 3, 4), 1),
                 ((2, 3, 4), -3)]


def _softmax_ref(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("shape,axis", SOFTMAX_CASES, ids=str)
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax(name, shape, axis, dtype, rng):
    ref = _softmax_ref if name == "softmax" else (lambda x, axis: np.log(_softmax_ref(x, axis)))
    fn = getattr(tm, name)
    check_op(lambda x: fn(x, axis=axis), lambda x: ref(x, axis), (rng.standard_normal(shape),),
             order=SMOOTH if dtype == np.float64 else 2, dtype=dtype)


# ---------------------------------------------------------------- shape ops
def _sum_to_shape_ref(x, shape):
    lead = x.ndim - len(shape)
    x = x.sum(axis=tuple(range(lead))) if lead else x
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and x.shape[i] != 1)
    return x.sum(axis=axes, keepdims=True) if axes else x


def _scatter_add_ref(g, index, shape):
    out = np.zeros(shape, dtype=g.dtype)
    np.add.at(out, index, g)
    return out


INDICES = {  # id: index
    "int": 1,
    "negative int": -1,
    "slice": (slice(None), slice(1, None)),
    "reverse": slice(None, None, -1),
    "int array with repeats": np.array([0, 2, 0]),
    "advanced pair": (np.array([0, 1, 1]), np.array([2, 0, 2])),
    "bool mask": np.array([[True, False, True], [False, True, True]]),
    "ellipsis newaxis": (Ellipsis, None),
    "int and slice": (1, slice(0, 2)),
}

SHAPE_CASES = {  # id: (op name, tinymeta fn, numpy reference, argument shapes)
    "reshape (2,3)->(3,2)": ("reshape", lambda x: tm.reshape(x, (3, 2)),
                             lambda x: x.reshape(3, 2), [(2, 3)]),
    "reshape (6,)->(2,-1)": ("reshape", lambda x: tm.reshape(x, (2, -1)),
                             lambda x: x.reshape(2, -1), [(6,)]),
    "reshape ()->(1,1)": ("reshape", lambda x: tm.reshape(x, (1, 1)),
                          lambda x: x.reshape(1, 1), [()]),
    "reshape int shape": ("reshape", lambda x: tm.reshape(x, 6), lambda x: x.reshape(6),
                          [(2, 3)]),
    "transpose default": ("transpose", tm.transpose, np.transpose, [(2, 3, 4)]),
    "transpose axes": ("transpose", lambda x: tm.transpose(x, (1, 2, 0)),
                       lambda x: np.transpose(x, (1, 2, 0)), [(2, 3, 4)]),
    "transpose 1-d": ("transpose", tm.transpose, np.transpose, [(3,)]),
    "swapaxes": ("swapaxes", lambda x: tm.swapaxes(x, 0, 2),
                 lambda x: np.swapaxes(x, 0, 2), [(2, 3, 4)]),
    "swapaxes negative": ("swapaxes", lambda x: tm.swapaxes(x, -1, -2),
                          lambda x: np.swapaxes(x, -1, -2), [(2, 3, 4)]),
    "broadcast_to row": ("broadcast_to", lambda x: tm.broadcast_to(x, (2, 3)),
                         lambda x: np.broadcast_to(x, (2, 3)), [(3,)]),
    "broadcast_to column": ("broadcast_to", lambda x: tm.broadcast_to(x, (2, 3)),
                            lambda x: np.broadcast_to(x, (2, 3)), [(2, 1)]),
    "broadcast_to scalar": ("broadcast_to", lambda x: tm.broadcast_to(x, (2, 2)),
                            lambda x: np.broadcast_to(x, (2, 2)), [()]),
    "broadcast_to same shape": ("broadcast_to", lambda x: tm.broadcast_to(x, (2, 3)),
                                lambda x: x, [(2, 3)]),
    "broadcast_to new axes": ("broadcast_to", lambda x: tm.broadcast_to(x, (4, 2, 3)),
                              lambda x: np.broadcast_to(x, (4, 2, 3)), [(1, 3)]),
    "sum_to_shape leading": ("sum_to_shape", lambda x: tm.sum_to_shape(x, shape=(3,)),
                             lambda x: _sum_to_shape_ref(x, (3,)), [(2, 3)]),
    "sum_to_shape keep": ("sum_to_shape", lambda x: tm.sum_to_shape(x, shape=(2, 1)),
                          lambda x: _sum_to_shape_ref(x, (2, 1)), [(2, 3)]),
    "sum_to_shape mixed": ("sum_to_shape", lambda x: tm.sum_to_shape(x, shape=(1, 3)),
                           lambda x: _sum_to_shape_ref(x, (1, 3)), [(4, 2, 3)]),
    "sum_to_shape scalar": ("sum_to_shape", lambda x: tm.sum_to_shape(x, shape=()),
                            lambda x: _sum_to_shape_ref(x, ()), [(2, 3)]),
    "sum_to_shape same": ("sum_to_shape", lambda x: tm.sum_to_shape(x, shape=(2, 3)),
                          lambda x: x, [(2, 3)]),
    **{
        f"getitem {name}": ("getitem", (lambda i: lambda x: x[i])(index),
                            (lambda i: lambda x: x[i])(index), [(2, 3)])
        for name, index in INDICES.items() if name != "int array with repeats"
    },
    "getitem int array with repeats": ("getitem", lambda x: tm.getitem(x, np.array([0, 2, 0])),
                                       lambda x: x[np.array([0, 2, 0])], [(3, 2)]),
    "getitem list index": ("getitem", lambda x: x[[1, 1, 0]], lambda x: x[[1, 1, 0]], [(3,)]),
    "scatter_add slice": ("scatter_add",
                          lambda g: tm.scatter_add(g, index=(slice(None), slice(1, 3)),
                                                   shape=(2, 4)),
                          lambda g: _scatter_add_ref(g, (slice(None), slice(1, 3)), (2, 4)),
                          [(2, 2)]),
    "scatter_add repeats": ("scatter_add",
                            lambda g: tm.scatter_add(g, index=np.array([0, 2, 0]), shape=(3, 2)),
                            lambda g: _scatter_add_ref(g, np.array([0, 2, 0]), (3, 2)),
                            [(3, 2)]),
    "concatenate axis 0": ("concatenate", lambda a, b: tm.concatenate([a, b]),
                           lambda a, b: np.concatenate([a, b]), [(2, 3), (1, 3)]),
    "concatenate axis 1": ("concatenate", lambda a, b: tm.concatenate((a, b), axis=1),
                           lambda a, b: np.concatenate((a, b), axis=1), [(2, 3), (2, 2)]),
    "concatenate axis -1 three": ("concatenate",
                                  lambda a, b, c: tm.concatenate([a, b, c], axis=-1),
                                  lambda a, b, c: np.concatenate([a, b, c], axis=-1),
                                  [(2, 1), (2, 3), (2, 2)]),
    "stack axis 0": ("stack", lambda a, b: tm.stack([a, b]), lambda a, b: np.stack([a, b]),
                     [(3,), (3,)]),
    "stack axis 1": ("stack", lambda a, b, c: tm.stack([a, b, c], axis=1),
                     lambda a, b, c: np.stack([a, b, c], axis=1), [(2, 3)] * 3),
    "stack axis -1": ("stack", lambda a, b: tm.stack([a, b], axis=-1),
                      lambda a, b: np.stack([a, b], axis=-1), [(2, 3)] * 2),
    "stack scalars": ("stack", lambda a, b: tm.stack([a, b]), lambda a, b: np.stack([a, b]),
                      [(), ()]),
    "expand_dims 0": ("expand_dims", lambda x: tm.expand_dims(x, 0),
                      lambda x: np.expand_dims(x, 0), [(2, 3)]),
    "expand_dims 1": ("expand_dims", lambda x: tm.expand_dims(x, 1),
                      lambda x: np.expand_dims(x, 1), [(2, 3)]),
    "expand_dims -1": ("expand_dims", lambda x: tm.expand_dims(x, -1),
                       lambda x: np.expand_dims(x, -1), [(2, 3)]),
    "squeeze all": ("squeeze", tm.squeeze, np.squeeze, [(1, 3, 1)]),
    "squeeze 0": ("squeeze", lambda x: tm.squeeze(x, 0), lambda x: np.squeeze(x, 0),
                  [(1, 3, 1)]),
    "squeeze -1": ("squeeze", lambda x: tm.squeeze(x, -1), lambda x: np.squeeze(x, -1),
                   [(1, 3, 1)]),
    "squeeze tuple": ("squeeze", lambda x: tm.squeeze(x, (0, 2)),
                      lambda x: np.squeeze(x, (0, 2)), [(1, 3, 1)]),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("case", sorted(SHAPE_CASES))
def test_shape_op(case, dtype, rng):
    _, fn, ref, shapes = SHAPE_CASES[case]
    check_op(fn, ref, [rng.standard_normal(s) for s in shapes], order=SMOOTH, dtype=dtype)


def test_getitem_accepts_tensor_indices(rng):
    x = rng.standard_normal((3, 2))
    index = tm.tensor(np.array([2, 0]), dtype=np.int64)
    np.testing.assert_array_equal(tm.tensor(x)[index].data, x[[2, 0]])
    g = tm.grad(lambda v: tm.sum(v[index, 1]))(x)
    np.testing.assert_array_equal(g.data, [[0, 1], [0, 0], [0, 1]])


@pytest.mark.parametrize("source,target", [(np.float64, np.float32), (np.float32, np.float64)],
                         ids=["f64->f32", "f32->f64"])
def test_astype(source, target, rng):
    x = rng.standard_normal((2, 3)).astype(source)
    out = tm.astype(x, dtype=target)
    assert out.dtype == target
    np.testing.assert_array_equal(out.data, x.astype(target))
    g = tm.grad(lambda v: tm.sum(tm.astype(v, dtype=target) ** 2))(x)
    assert g.dtype == source  # the gradient has the argument's dtype, not the output's
    np.testing.assert_allclose(g.data, 2 * x, rtol=1e-6)
    # astype is linear, so a large step has no truncation error, only float32 rounding
    check_grads(lambda v: tm.astype(v, dtype=target), (x,), order=3, eps=1e-2, rtol=1e-4,
                atol=1e-5)


# ---------------------------------------------------------------- losses
@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("shape", [(5,), (5, 1), (3, 2)], ids=str)
def test_mse_loss(shape, dtype, rng):
    p, t = rng.standard_normal(shape), rng.standard_normal(shape)
    check_op(tm.mse_loss, lambda a, b: np.mean((a - b) ** 2), (p, t), order=SMOOTH, dtype=dtype)
    # by hand: value mean((p - t)²), gradient 2 (p - t) / n
    value, grads = tm.value_and_grad(tm.mse_loss, argnums=(0, 1))(p, t)
    np.testing.assert_allclose(value.data, np.mean((p - t) ** 2), rtol=1e-12)
    np.testing.assert_allclose(grads[0].data, 2 * (p - t) / p.size, rtol=1e-12)
    np.testing.assert_allclose(grads[1].data, -2 * (p - t) / p.size, rtol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
def test_cross_entropy_with_integer_labels(dtype, rng):
    logits, labels = rng.standard_normal((4, 3)), np.array([0, 2, 1, 2])
    p = _softmax_ref(logits, axis=1)
    onehot = np.eye(3)[labels]
    expected = -np.mean(np.log(p[np.arange(4), labels]))
    check_op(lambda z: tm.cross_entropy(z, labels), lambda z: expected, (logits,), order=SMOOTH,
             dtype=dtype)
    g = tm.grad(tm.cross_entropy)(logits.astype(dtype), labels)
    assert g.dtype == dtype
    np.testing.assert_allclose(g.data, (p - onehot) / 4, rtol=1e-5 if dtype == np.float32
                               else 1e-12, atol=1e-7)


def test_cross_entropy_with_probabilities(rng):
    logits = rng.standard_normal((4, 3))
    q = _softmax_ref(rng.standard_normal((4, 3)), axis=1)
    p = _softmax_ref(logits, axis=1)
    expected = -np.mean(np.sum(q * np.log(p), axis=1))
    check_op(tm.cross_entropy, lambda z, t: expected, (logits, q), order=SMOOTH)
    g_logits, g_q = tm.grad(tm.cross_entropy, argnums=(0, 1))(logits, q)
    np.testing.assert_allclose(g_logits.data, (p - q) / 4, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(g_q.data, -np.log(p) / 4, rtol=1e-12)
    # one-hot probabilities give the same loss as the integer labels
    labels = np.array([1, 0, 2, 2])
    np.testing.assert_allclose(tm.cross_entropy(logits, np.eye(3)[labels]).data,
                               tm.cross_entropy(logits, labels).data, rtol=1e-12)


# ---------------------------------------------------------------- property-based
SEEDS = st.integers(0, 2**32 - 1)


@pytest.mark.parametrize("name", sorted(BINARY))
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3,
                                                max_side=3),
       seed=SEEDS)
def test_binary_ops_over_random_broadcast_shapes(name, shapes, seed):
    rng = np.random.default_rng(seed)
    args = binary_inputs(rng, name, shapes.input_shapes)
    check_op(getattr(tm, name), BINARY[name][0], args)


@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=3,
                                                max_side=3),
       seed=SEEDS)
def test_where_over_random_broadcast_shapes(shapes, seed):
    rng = np.random.default_rng(seed)
    cs, xs, ys = shapes.input_shapes
    cond = rng.random(cs) > 0.5
    check_op(lambda a, b: tm.where(cond, a, b), lambda a, b: np.where(cond, a, b),
             (rng.standard_normal(xs), rng.standard_normal(ys)))


@given(shapes=hnp.mutually_broadcastable_shapes(signature=np.matmul.signature, max_dims=3,
                                                max_side=3),
       seed=SEEDS)
def test_matmul_over_random_shapes(shapes, seed):
    rng = np.random.default_rng(seed)
    check_op(tm.matmul, np.matmul, [rng.standard_normal(s) for s in shapes.input_shapes])


# ---------------------------------------------------------------- analytic checks
def test_hessian_of_logsumexp_is_diag_p_minus_ppT(rng):
    x = rng.standard_normal(5)
    p = np.exp(x) / np.exp(x).sum()
    H = tm.hessian(tm.logsumexp)(x)
    assert H.shape == (5, 5)
    np.testing.assert_allclose(H.data, np.diag(p) - np.outer(p, p), rtol=1e-12, atol=1e-15)


def test_jacobian_of_softmax_is_diag_s_minus_ssT(rng):
    x = rng.standard_normal(4)
    s = np.exp(x) / np.exp(x).sum()
    J = tm.jacobian(tm.softmax)(x)
    np.testing.assert_allclose(J.data, np.diag(s) - np.outer(s, s), rtol=1e-12, atol=1e-15)


def test_jacobian_of_log_softmax_is_identity_minus_softmax_rows(rng):
    x = rng.standard_normal(4)
    s = np.exp(x) / np.exp(x).sum()
    J = tm.jacobian(tm.log_softmax)(x)
    np.testing.assert_allclose(J.data, np.eye(4) - s[None, :], rtol=1e-12, atol=1e-15)


def _hvp_test_function(x):
    A = np.arange(12.0).reshape(3, 4) / 10 - 0.5
    return tm.logsumexp(A @ tm.reshape(x, (4,))) + tm.sum(tm.tanh(x) ** 3) + tm.sum(x * x) ** 2


@pytest.mark.parametrize("shape", [(4,), (2, 2)], ids=str)
def test_hvp_equals_hessian_times_v(shape, rng):
    x, v = rng.standard_normal(shape), rng.standard_normal(shape)
    H = tm.hessian(_hvp_test_function)(x)
    assert H.shape == shape + shape
    n = int(np.prod(shape))
    expected = (H.data.reshape(n, n) @ v.reshape(n)).reshape(shape)
    np.testing.assert_allclose(tm.hvp(_hvp_test_function, x, v).data, expected, rtol=1e-10)
    np.testing.assert_allclose(H.data.reshape(n, n), H.data.reshape(n, n).T, rtol=1e-10)


def test_hvp_on_a_tree(rng):
    def f(params):
        return tm.sum(tm.tanh(params["w"] @ params["b"])) + tm.sum(params["b"] ** 3)

    x = {"w": rng.standard_normal((2, 3)), "b": rng.standard_normal(3)}
    v = {"w": rng.standard_normal((2, 3)), "b": rng.standard_normal(3)}
    got = tm.hvp(f, x, v)
    assert set(got) == {"w", "b"}
    # the same product through a flat vector and a full Hessian
    def flat_f(z):
        return f({"w": tm.reshape(z[:6], (2, 3)), "b": z[6:]})

    z = np.concatenate([x["w"].ravel(), x["b"]])
    H = tm.hessian(flat_f)(z).data
    expected = H @ np.concatenate([v["w"].ravel(), v["b"]])
    np.testing.assert_allclose(got["w"].data.ravel(), expected[:6], rtol=1e-10)
    np.testing.assert_allclose(got["b"].data, expected[6:], rtol=1e-10)


def tanh_derivatives(x: np.ndarray) -> list[np.ndarray]:
    """tanh and its first four derivatives in closed form, with t = tanh x and s = 1 − t²:
    t' = s, t'' = −2ts, t''' = s(6t² − 2), t'''' = 8ts(2 − 3t²)."""
    t = np.tanh(x)
    s = 1 - t**2
    return [t, s, -2 * t * s, s * (6 * t**2 - 2), 8 * t * s * (2 - 3 * t**2)]


def test_tanh_closed_forms_agree_with_finite_differences():
    # before trusting the closed forms, check each is the derivative of the one before
    x = np.linspace(-2.0, 2.0, 17)
    h = 1e-5
    d = tanh_derivatives(x)
    plus, minus = tanh_derivatives(x + h), tanh_derivatives(x - h)
    for k in range(4):
        np.testing.assert_allclose((plus[k] - minus[k]) / (2 * h), d[k + 1], atol=1e-8)
    # and near 0, tanh x = x − x³/3 + 2x⁵/15, so d⁴tanh ≈ 16x (positive for x > 0)
    assert tanh_derivatives(np.array(1e-3))[4] == pytest.approx(16e-3, rel=1e-4)


@pytest.mark.parametrize("x", [-1.3, -0.4, 0.0, 0.25, 0.9, 2.0])
def test_fourth_derivative_of_tanh_matches_closed_form(x):
    f = tm.tanh
    got = []
    for _ in range(4):
        f = tm.grad(f)
        got.append(float(f(x)))
    np.testing.assert_allclose(got, [d.item() for d in tanh_derivatives(np.array(x))[1:]],
                               rtol=1e-12, atol=1e-14)


# ---------------------------------------------------------------- float32 end to end
def test_float32_stays_float32_through_transforms(rng):
    x = rng.standard_normal(4).astype(np.float32)
    v = rng.standard_normal(4).astype(np.float32)

    def f(z):
        return tm.sum(tm.tanh(z) ** 3) + tm.logsumexp(z * 2.0) + tm.mean(tm.sigmoid(z) / 3)

    assert f(tm.tensor(x)).dtype == np.float32
    assert tm.grad(f)(x).dtype == np.float32
    assert tm.grad(lambda z: tm.sum(tm.grad(f)(z)))(x).dtype == np.float32
    assert tm.hvp(f, x, v).dtype == np.float32
    assert tm.hessian(f)(x).dtype == np.float32
    assert tm.jacobian(tm.softmax)(x).dtype == np.float32
    t = tm.tensor(x, requires_grad=True)
    f(t).backward()
    assert t.grad.dtype == np.float32
    # and the float32 result agrees with float64 to float32 precision
    np.testing.assert_allclose(tm.hvp(f, x, v).data,
                               tm.hvp(f, x.astype(np.float64), v.astype(np.float64)).data,
                               rtol=1e-4, atol=1e-5)


def test_tensor_dtype_defaults_and_float32():
    assert tm.tensor([1, 2]).dtype == np.float64
    assert tm.tensor(3).dtype == np.float64
    assert tm.tensor(np.ones(2, np.float32)).dtype == np.float32
    assert tm.tensor([1.0], dtype=np.float32).dtype == np.float32
    assert tm.tensor([True]).dtype == np.float64


@pytest.mark.parametrize("transpose_a", [False, True])
@pytest.mark.parametrize("transpose_b", [False, True])
@pytest.mark.parametrize("batch_a, batch_b", [((), ()), ((3,), (3,)), ((2, 1), (4,))])
def test_matmul_transpose_flags(transpose_a, transpose_b, batch_a, batch_b):
    # the flagged matmul the VJP rules use: op(A) @ op(B), to third order
    rng = np.random.default_rng(0)
    a = rng.standard_normal(batch_a + ((4, 2) if transpose_a else (2, 4)))
    b = rng.standard_normal(batch_b + ((3, 4) if transpose_b else (4, 3)))

    def f(x, y):
        return tm.matmul(x, y, transpose_a=transpose_a, transpose_b=transpose_b)

    ta = np.swapaxes(a, -1, -2) if transpose_a else a
    tb = np.swapaxes(b, -1, -2) if transpose_b else b
    np.testing.assert_allclose(f(a, b).data, ta @ tb, rtol=1e-12)
    check_grads(f, (a, b), order=3)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matmul_outer_product_path_equals_numpy(dtype):
    # (…, m, 1) @ (…, 1, n) takes a broadcasting-multiply path: same values and dtype,
    # same broadcasting of batch axes, and the gradients still check to second order
    rng = np.random.default_rng(1)
    a = rng.standard_normal((3, 1, 5, 1)).astype(dtype)
    b = rng.standard_normal((4, 1, 2)).astype(dtype)
    out = tm.matmul(a, b)
    np.testing.assert_array_equal(out.data, np.matmul(a, b))
    assert out.dtype == dtype and out.shape == (3, 4, 5, 2)
    check_grads(lambda x, y: tm.matmul(x, y), (a, b), order=2)


# ---------------------------------------------------------------- every op, float32, order 3
def _pos(shape):
    return lambda rng: rng.uniform(0.5, 1.5, shape)


def _nonzero(shape):
    return lambda rng: draw(rng, "nonzero", shape)


def _distinct(shape):
    return lambda rng: draw(rng, "distinct", shape)


def _select_by(compare, x, y):
    return tm.where(compare(x, y), x, y)


# name: (function of the inputs, input makers). Every public op has a row (checked below),
# so adding an op is its declaration plus one row here.
EVERY_OP = {
    "abs": (tm.abs, [_nonzero((3,))]),
    "add": (tm.add, [_pos((2, 3)), _pos((3,))]),
    "cos": (tm.cos, [_pos((3,))]),
    "divide": (tm.divide, [_pos((2, 3)), _pos((3,))]),
    "exp": (tm.exp, [_pos((3,))]),
    "expm1": (tm.expm1, [_pos((3,))]),
    "log": (tm.log, [_pos((3,))]),
    "log1p": (tm.log1p, [_pos((3,))]),
    "maximum": (tm.maximum, [lambda r: np.array([0.1, 2.0]), lambda r: np.array([1.0, 0.5])]),
    "minimum": (tm.minimum, [lambda r: np.array([0.1, 2.0]), lambda r: np.array([1.0, 0.5])]),
    "multiply": (tm.multiply, [_pos((2, 3)), _pos((3,))]),
    "negative": (tm.negative, [_pos((3,))]),
    "power": (tm.power, [_pos((3,)), _pos((3,))]),
    "power-int": (lambda x: tm.power(x, 3), [_pos((3,))]),
    "relu": (tm.relu, [_nonzero((3,))]),
    "sigmoid": (tm.sigmoid, [_pos((3,))]),
    "sign": (tm.sign, [_nonzero((3,))]),
    "sin": (tm.sin, [_pos((3,))]),
    "sqrt": (tm.sqrt, [_pos((3,))]),
    "square": (tm.square, [_pos((3,))]),
    "subtract": (tm.subtract, [_pos((2, 3)), _pos((3,))]),
    "tanh": (tm.tanh, [_pos((3,))]),
    "where": (lambda x, y: tm.where(np.array([True, False, True]), x, y),
              [_pos((3,)), _pos((3,))]),
    "dot": (tm.dot, [_pos((2, 3)), _pos((3, 2))]),
    "linear": (tm.linear, [_pos((2, 3)), _pos((3, 4)), _pos((4,))]),
    "matmul": (tm.matmul, [_pos((2, 2, 3)), _pos((3, 2))]),
    "vdot": (tm.vdot, [_pos((3,)), _pos((3,))]),
    "cross_entropy": (lambda z: tm.cross_entropy(z, np.array([0, 2])), [_pos((2, 3))]),
    "mse_loss": (tm.mse_loss, [_pos((2, 3)), _pos((2, 3))]),
    "log_softmax": (tm.log_softmax, [_pos((2, 3))]),
    "logsumexp": (lambda x: tm.logsumexp(x, axis=1), [_pos((2, 3))]),
    "max": (lambda x: tm.max(x, axis=0), [_distinct((2, 3))]),
    "mean": (lambda x: tm.mean(x, axis=(0, 2)), [_pos((2, 3, 2))]),
    "min": (lambda x: tm.min(x, axis=1), [_distinct((2, 3))]),
    "softmax": (tm.softmax, [_pos((2, 3))]),
    "sum": (lambda x: tm.sum(x, axis=1, keepdims=True), [_pos((2, 3))]),
    "astype": (lambda x: tm.astype(x, dtype=x.dtype), [_pos((3,))]),
    "broadcast_to": (lambda x: tm.broadcast_to(x, (2, 3)), [_pos((3,))]),
    "concatenate": (lambda x, y: tm.concatenate([x, y], axis=1), [_pos((2, 1)), _pos((2, 2))]),
    "expand_dims": (lambda x: tm.expand_dims(x, 1), [_pos((3,))]),
    "getitem": (lambda x: x[np.array([0, 0, 2])] * x[::-1], [_pos((3,))]),
    "reshape": (lambda x: tm.reshape(x, (3, 2)), [_pos((2, 3))]),
    "scatter_add": (lambda x: tm.scatter_add(x, index=np.array([0, 0]), shape=(3,)),
                    [_pos((2,))]),
    "squeeze": (tm.squeeze, [_pos((1, 3))]),
    "stack": (lambda x, y: tm.stack([x, y], axis=1), [_pos((3,)), _pos((3,))]),
    "sum_to_shape": (lambda x: tm.sum_to_shape(x, shape=(3,)), [_pos((2, 3))]),
    "swapaxes": (lambda x: tm.swapaxes(x, 0, 1), [_pos((2, 3))]),
    "transpose": (tm.transpose, [_pos((2, 3))]),
    # comparisons: constant masks (no derivative), here selecting between x and y
    **{name: (functools.partial(_select_by, getattr(tm, name)),
              [lambda r: np.array([0.1, 2.0, 0.7]), lambda r: np.array([1.0, 0.5, 0.3])])
       for name in ("greater", "greater_equal", "less", "less_equal", "equal", "not_equal")},
    # transcendental.py
    "sinh": (tm.sinh, [_pos((3,))]),
    "cosh": (tm.cosh, [_pos((3,))]),
    "arcsin": (tm.arcsin, [lambda r: r.uniform(-0.8, 0.8, 3)]),
    "arccos": (tm.arccos, [lambda r: r.uniform(-0.8, 0.8, 3)]),
    "arctan": (tm.arctan, [_pos((3,))]),
    "arctan2": (tm.arctan2, [_pos((2, 3)), _pos((3,))]),
    "arcsinh": (tm.arcsinh, [_pos((3,))]),
    "arccosh": (tm.arccosh, [lambda r: r.uniform(1.5, 3.0, 3)]),
    "arctanh": (tm.arctanh, [lambda r: r.uniform(-0.8, 0.8, 3)]),
    "log2": (tm.log2, [_pos((3,))]),
    "log10": (tm.log10, [_pos((3,))]),
    "exp2": (tm.exp2, [_pos((3,))]),
    "logaddexp": (tm.logaddexp, [_pos((2, 3)), _pos((3,))]),
    "hypot": (tm.hypot, [_pos((2, 3)), _pos((3,))]),
    # rounding.py: away from jumps (x / y in (0.2, 0.6))
    "mod": (tm.mod, [_pos((3,)), lambda r: r.uniform(2.5, 3.0, 3)]),
    "remainder": (tm.remainder, [_pos((3,)), lambda r: r.uniform(2.5, 3.0, 3)]),
    "fmod": (tm.fmod, [_pos((3,)), lambda r: r.uniform(2.5, 3.0, 3)]),
    "floor": (lambda x: tm.floor(x) + x, [lambda r: r.uniform(0.2, 0.8, 3)]),
    "ceil": (lambda x: tm.ceil(x) + x, [lambda r: r.uniform(0.2, 0.8, 3)]),
    "round": (lambda x: tm.round(x) + x, [lambda r: r.uniform(0.1, 0.4, 3)]),
    "rint": (lambda x: tm.rint(x) + x, [lambda r: r.uniform(0.1, 0.4, 3)]),
    "clip": (lambda x: tm.clip(x, 0.5, 1.5), [lambda r: np.array([0.2, 0.9, 1.7])]),
    "nan_to_num": (tm.nan_to_num, [_pos((3,))]),
    # rearrange.py
    "ravel": (tm.ravel, [_pos((2, 3))]),
    "flatten": (tm.flatten, [_pos((2, 3))]),
    "moveaxis": (lambda x: tm.moveaxis(x, 0, -1), [_pos((2, 3, 2))]),
    "repeat": (lambda x: tm.repeat(x, 2, axis=1), [_pos((2, 3))]),
    "tile": (lambda x: tm.tile(x, (2, 1)), [_pos((2, 3))]),
    "roll": (lambda x: tm.roll(x, 1, axis=1), [_pos((2, 3))]),
    "flip": (lambda x: tm.flip(x, axis=0), [_pos((2, 3))]),
    "split": (lambda x: tm.split(x, 2)[0] * tm.split(x, 2)[1], [_pos((4,))]),
    "array_split": (lambda x: tm.array_split(x, 2)[1], [_pos((5,))]),
    "vstack": (lambda x, y: tm.vstack([x, y]), [_pos((3,)), _pos((2, 3))]),
    "hstack": (lambda x, y: tm.hstack([x, y]), [_pos((3,)), _pos((2,))]),
    "dstack": (lambda x, y: tm.dstack([x, y]), [_pos((2, 3)), _pos((2, 3))]),
    "column_stack": (lambda x, y: tm.column_stack([x, y]), [_pos((3,)), _pos((3, 2))]),
    "append": (lambda x, y: tm.append(x, y), [_pos((2, 2)), _pos((3,))]),
    "pad": (lambda x: tm.pad(x, ((1, 0), (0, 2)), constant_values=0.5), [_pos((2, 3))]),
    "diag": (lambda x: tm.diag(x, k=1), [_pos((3,))]),
    "diagonal": (lambda x: tm.diagonal(x, 1), [_pos((3, 4))]),
    "tril": (tm.tril, [_pos((3, 3))]),
    "triu": (lambda x: tm.triu(x, 1), [_pos((3, 4))]),
    "sort": (lambda x: tm.sort(x, axis=1), [_distinct((2, 3))]),
    "argsort": (lambda x: x[tm.argsort(x).data], [_distinct((4,))]),
    # contractions.py
    "einsum": (lambda x, y: tm.einsum("ij,jk->ik", x, y), [_pos((2, 3)), _pos((3, 2))]),
    "einsum-diagonal": (lambda x: tm.einsum("ii->i", x), [_pos((3, 3))]),
    "tensordot": (lambda x, y: tm.tensordot(x, y, axes=([1], [0])), [_pos((2, 3)), _pos((3, 2))]),
    "dot-nd": (tm.dot, [_pos((2, 2, 3)), _pos((2, 3, 2))]),
    "inner": (tm.inner, [_pos((2, 3)), _pos((3,))]),
    "outer": (tm.outer, [_pos((2,)), _pos((3,))]),
    "kron": (tm.kron, [_pos((2, 2)), _pos((2, 1))]),
    # statistics.py
    "prod": (lambda x: tm.prod(x, axis=1), [_pos((2, 3))]),
    "cumsum": (lambda x: tm.cumsum(x, axis=1), [_pos((2, 3))]),
    "cumprod": (lambda x: tm.cumprod(x, axis=0), [_pos((3, 2))]),
    "var": (lambda x: tm.var(x, axis=0, ddof=1), [_pos((3, 2))]),
    "std": (lambda x: tm.std(x, axis=1), [_pos((2, 3))]),
    "trace": (tm.trace, [_pos((3, 3))]),
    "average": (lambda x, w: tm.average(x, axis=0, weights=w), [_pos((3, 2)), _pos((3,))]),
    "ptp": (lambda x: tm.ptp(x, axis=1), [_distinct((2, 3))]),
    "median": (lambda x: tm.median(x, axis=1), [_distinct((2, 3))]),
    # tinymeta.linalg (symmetric inputs for cholesky and eigh: see _spd)
    "linalg.inv": (tm.linalg.inv, [lambda r: _spd(r)]),
    "linalg.det": (tm.linalg.det, [lambda r: _spd(r)]),
    "linalg.slogdet": (lambda a: tm.linalg.slogdet(a)[1], [lambda r: _spd(r)]),
    "linalg.solve": (tm.linalg.solve, [lambda r: _spd(r), _pos((3, 2))]),
    "linalg.cholesky": (lambda a: tm.linalg.cholesky((a + tm.swapaxes(a, -1, -2)) / 2),
                        [lambda r: _spd(r)]),
    "linalg.norm": (lambda a: tm.linalg.norm(a, axis=1), [_pos((2, 3))]),
    "linalg.eigh": (lambda a: tm.linalg.eigh((a + tm.swapaxes(a, -1, -2)) / 2)[0],
                    [lambda r: _spd(r)]),
}


def _spd(rng, n=3):
    """A well-conditioned symmetric positive definite matrix with distinct eigenvalues."""
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    return (q * np.arange(1.0, n + 1.0)) @ q.T


def test_every_public_op_has_a_row():
    rows = {name.split("-")[0] for name in EVERY_OP}
    public = set(ops.__all__) | {f"linalg.{name}" for name in tm.linalg.__all__}
    assert sorted(public - rows) == []


def test_every_exported_op_is_public():
    assert list(ops.EXPORTED) == ops.__all__
    for name, op in ops.EXPORTED.items():
        assert name in tm.__all__
        assert getattr(tm, name) is op


# the arguments after the tensor that a method needs (the rest take none)
_METHOD_ARGS = {"swapaxes": (0, 1), "astype": ("float32",), "repeat": (2,), "clip": (0.2, 0.8),
                "reshape": ((9,),)}


def test_exported_ops_named_like_ndarray_methods_are_tensor_methods(rng):
    x = tm.tensor(rng.uniform(0.1, 1.0, (3, 3)))
    names = [n for n in ops.EXPORTED if hasattr(np.ndarray, n) and n not in ops.IN_PLACE]
    assert {"sum", "mean", "max", "prod", "clip", "round", "cumsum", "dot"} <= set(names)
    for name in names:
        args = _METHOD_ARGS.get(name, (x,) if name == "dot" else ())
        method = getattr(tm.Tensor, name)
        np.testing.assert_array_equal(method(x, *args).data, getattr(tm, name)(x, *args).data,
                                      err_msg=name)
    np.testing.assert_array_equal(x.reshape(9, 1).data, tm.reshape(x, (9, 1)).data)  # numpy's form
    # in place in numpy (ndarray.sort returns None): no method that quietly returns a copy
    assert not hasattr(x, "sort")
    # numpy's arrays have no exp method, so neither do tensors: tm.exp(x)
    assert not any(hasattr(x, n) for n in ("exp", "log", "tanh"))


def test_export_records_a_new_op_in_declaration_order(monkeypatch):
    from tinymeta.ops import _export
    from tinymeta.primitive import primitive

    monkeypatch.setattr(_export, "EXPORTED", dict(_export.EXPORTED))  # restored afterwards
    monkeypatch.setattr(_export, "DECLARED_IN", dict(_export.DECLARED_IN))

    @_export.export
    @primitive(lambda g, ans, x: tm.multiply(g, 3.0), saves=[()])
    def triple(x):
        return np.multiply(x, 3.0)

    @_export.export
    def triple_sum(x):
        return tm.sum(triple(x))

    assert list(_export.EXPORTED)[-2:] == ["triple", "triple_sum"]
    assert _export.EXPORTED["triple"] is triple  # returned unchanged
    assert _export.exported_by(__import__(__name__)) == ["triple", "triple_sum"]
    assert tm.grad(triple_sum)(np.ones(2)).data.tolist() == [3.0, 3.0]


def test_every_op_is_declared_in_one_statement():
    """No ops module declares a primitive and then adds to it in a later statement
    (``add.defvjp(...)``, ``_stack.variadic = True``): the rules are in the declaration."""
    import ast
    from pathlib import Path

    for path in sorted(Path(ops.__file__).parent.glob("*.py")):
        for statement in ast.parse(path.read_text()).body:
            later = (isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call)
                     and isinstance(statement.value.func, ast.Attribute)
                     and statement.value.func.attr == "defvjp")
            later |= path.name != "__init__.py" and isinstance(statement, ast.Assign) and any(
                isinstance(t, ast.Attribute) for t in statement.targets)
            assert not later, f"{path.name}:{statement.lineno}: {ast.unparse(statement)[:60]}"


def _smooth_scalar(fn):
    """x, y, ... ↦ a scalar whose derivatives of every order involve fn's rules."""
    return lambda *xs: tm.sum(tm.sin(fn(*xs)))


@pytest.mark.parametrize("name", sorted(EVERY_OP))
def test_every_op_keeps_float32_to_third_order_without_casts(name, rng, monkeypatch):
    fn, makers = EVERY_OP[name]
    args = [np.asarray(m(rng), dtype=np.float32) for m in makers]
    casts = []
    astype_forward = ops.astype.forward

    def counting(x, dtype):
        if np.result_type(x) != np.dtype(dtype):
            casts.append((np.result_type(x), np.dtype(dtype)))
        return astype_forward(x, dtype)

    monkeypatch.setattr(ops.astype, "forward", counting)
    f = _smooth_scalar(fn)
    assert fn(*args).dtype == np.float32
    # derivatives of order 1..3 of a random directional slice, all in float32
    direction = [rng.standard_normal(a.shape).astype(np.float32) for a in args]

    def along(t):
        return f(*(a + t * d for a, d in zip(args, direction, strict=True)))

    g = along
    for order in (1, 2, 3):
        g = tm.grad(g)
        value = g(np.float32(0.1))
        assert value.dtype == np.float32, f"order {order} of {name}: {value.dtype}"
    assert casts == [], f"{name} cast: {casts}"


@pytest.mark.parametrize("name", sorted(EVERY_OP))
def test_every_op_is_right_to_third_order(name, rng):
    fn, makers = EVERY_OP[name]
    check_grads(_smooth_scalar(fn), tuple(m(rng) for m in makers), order=3)
