"""Plain numpy-style user code: never a silently dropped graph, the dtype kept at every order.

Each test here is a way a user who ports a numpy program could lose a
gradient without noticing: a list of tensors handed to an op, ``np.asarray``
or a numpy function on a traced tensor, ``x ** 2`` drifting float32 into
float64, a complex constant. Each must give the right derivative at every
order, or a clear error; never a wrong number.
"""

from __future__ import annotations

import numpy as np
import pytest

import tinymeta as tm
from tinymeta.primitive import Primitive
from tinymeta.testing import check_grads


# ---------------------------------------------------------------- lists of tensors
@pytest.mark.parametrize("f, x, expected", [
    (lambda x: tm.mean([x, x + 2.0]) + x, 0.0, 2.0),
    (lambda x: tm.sum(tm.exp([x, x])), 0.0, 2.0),
    (lambda x: tm.sum(tm.concatenate([[x, x], [x]])), 1.0, 3.0),
    (lambda x: tm.sum(tm.tensor([x, 2.0 * x])), 1.0, 3.0),
    (lambda x: tm.sum(tm.tensor([[x, 1.0], [x * x, 3.0]])), 2.0, 5.0),
    (lambda x: tm.sum(tm.multiply([x, 2.0], [3.0, x])), 1.0, 5.0),
    (lambda x: tm.sum((x, x * x)), 3.0, 7.0),
], ids=["mean", "exp", "nested-concatenate", "tensor", "tensor-nested", "binary", "tuple"])
def test_a_list_of_traced_tensors_keeps_its_gradient(f, x, expected):
    assert float(tm.grad(f)(x)) == pytest.approx(expected, abs=1e-12)


def test_a_list_of_tensors_is_right_at_every_order():
    check_grads(lambda x: tm.sum(tm.sin([x, x * x])), np.array(0.7), order=3)
    # d³/dx³ of mean([x³, x]) = 6 / 2
    f = tm.grad(tm.grad(tm.grad(lambda x: tm.mean([x ** 3, x]))))
    assert float(f(0.4)) == pytest.approx(3.0)


def test_a_list_keeps_float32():
    x = np.float32(1.5)
    g = tm.grad(lambda x: tm.sum(tm.tensor([x, 2.0, x * x])))(x)
    assert g.dtype == np.float32 and float(g) == pytest.approx(4.0)


# ---------------------------------------------------------------- leaving the graph
@pytest.mark.parametrize("convert", [
    np.asarray, np.array, lambda t: t.__array__(), lambda t: np.float64(t) + 0.0,
], ids=["asarray", "array", "__array__", "float64"])
def test_converting_a_traced_tensor_to_numpy_raises(convert):
    with pytest.raises(TypeError, match=r"traced tensor.*\.numpy\(\).*stop_gradient"):
        tm.grad(lambda x: tm.sum(convert(x)))(np.array([1.0, 2.0]))


def test_the_explicit_ways_out_still_work():
    def f(x):
        assert isinstance(x.numpy(), np.ndarray)  # .numpy(): an explicit copy
        return tm.sum(x * np.asarray(tm.stop_gradient(x)))

    np.testing.assert_allclose(tm.grad(f)(np.array([1.0, 2.0])).data, [1.0, 2.0])
    # a constant tensor converts freely: there is no gradient to lose
    np.testing.assert_array_equal(np.asarray(tm.tensor([1.0, 2.0])), [1.0, 2.0])


# ---------------------------------------------------------------- numpy functions on tensors
@pytest.mark.parametrize("np_fn, tm_fn", [
    (np.tanh, tm.tanh), (np.exp, tm.exp), (np.sin, tm.sin), (np.abs, tm.abs),
    (lambda x: np.sum(x * x), lambda x: tm.sum(x * x)),
    (lambda x: np.mean(x, axis=0), lambda x: tm.mean(x, axis=0)),
    (lambda x: np.max(x, axis=1, keepdims=True), lambda x: tm.max(x, axis=1, keepdims=True)),
    (lambda x: np.reshape(x, (3, 2)), lambda x: tm.reshape(x, (3, 2))),
    (lambda x: np.transpose(x), tm.transpose),
    (lambda x: np.concatenate([x, x]), lambda x: tm.concatenate([x, x])),
    (lambda x: np.ones((2, 3)) * x + x, lambda x: x * 1.0 + x),  # ndarray * Tensor
    (lambda x: np.ones((4, 2)) @ x, lambda x: tm.matmul(np.ones((4, 2)), x)),
    (lambda x: np.maximum(x, 0.1), lambda x: tm.maximum(x, 0.1)),
], ids=["tanh", "exp", "sin", "abs", "sum", "mean-axis", "max-keepdims", "reshape",
        "transpose", "concatenate", "ndarray-mul", "ndarray-matmul", "maximum"])
def test_numpy_functions_dispatch_to_recorded_ops(np_fn, tm_fn, rng):
    x = rng.uniform(0.2, 1.0, (2, 3))
    out = np_fn(tm.tensor(x))
    assert isinstance(out, tm.Tensor)
    np.testing.assert_allclose(out.data, tm_fn(tm.tensor(x)).data)
    check_grads(lambda t: tm.sum(np_fn(t) ** 2), x, order=2)


def test_numpy_comparisons_give_constant_masks():
    x = tm.tensor([-1.0, 2.0], requires_grad=True)
    mask = np.greater(x, 0.0)
    assert isinstance(mask, tm.Tensor) and mask.dtype == bool and not mask.requires_grad
    assert np.isfinite(x).data.all()


@pytest.mark.parametrize("call, match", [
    (lambda x: np.sum(x, out=np.empty(())), "immutable"),
    (lambda x: np.sum(x, dtype=np.float32), "does not take dtype"),
    (lambda x: np.fft.fft(x), "numpy.fft.*not supported"),
    (lambda x: np.cbrt(x), "numpy.cbrt is not supported"),
    (lambda x: np.add.accumulate(x), "numpy.add.accumulate is not supported"),
], ids=["out", "dtype", "fft", "unknown-ufunc", "ufunc-method"])
def test_numpy_functions_tinymeta_cannot_record_are_refused(call, match):
    with pytest.raises(TypeError, match=match):
        tm.grad(lambda x: tm.sum(call(x)))(np.array([1.0, 2.0]))


def test_numpy_queries_and_constant_tensors_still_work():
    t = tm.tensor(np.ones((2, 3)), requires_grad=True)
    assert np.shape(t) == (2, 3) and np.ndim(t) == 2 and np.size(t) == 6
    c = tm.tensor([1.0, 4.0])
    np.testing.assert_allclose(np.cbrt(c).data, [1.0, 4.0 ** (1 / 3)])  # no gradient to lose


# ---------------------------------------------------------------- dtype at every order
def _count_casts(monkeypatch) -> list:
    casts: list = []
    astype = tm.ops.shape.astype
    forward = astype.forward

    def counting(x, dtype):
        if np.result_type(x) != np.dtype(dtype):
            casts.append((np.result_type(x), dtype))
        return forward(x, dtype)

    monkeypatch.setattr(astype, "forward", counting)
    return casts


@pytest.mark.parametrize("f", [
    lambda x: x ** 2, lambda x: x ** 3, lambda x: x ** 0.5, lambda x: 2.0 ** x,
    lambda x: x ** 2.5 + x ** -1, lambda x: (x - 0.25) ** 2,
], ids=["square", "cube", "sqrt", "exp2", "mixed", "offset"])
def test_power_keeps_float32_at_every_order(f, monkeypatch):
    casts = _count_casts(monkeypatch)
    x = np.array([0.5, 1.5], dtype=np.float32)
    fs = [lambda t: tm.sum(f(t))]
    for _ in range(3):
        fs.append(tm.grad(fs[-1]) if fs[-1] is fs[0] else _grad_sum(fs[-1]))
    for order, g in enumerate(fs):
        out = g(x)
        assert out.dtype == np.float32, f"order {order}: {out.dtype}"
    assert casts == []


def _grad_sum(f):
    return tm.grad(lambda t: tm.sum(f(t)))


def test_x_squared_records_what_x_times_x_records():
    def meta_gradient_nodes(square):
        start = tm.backward_node_count()
        tm.grad(lambda w: tm.sum(tm.grad(lambda v: tm.sum(square(v * w)))(w)))(
            np.ones(3, np.float32))
        return tm.backward_node_count() - start

    assert meta_gradient_nodes(lambda a: a ** 2) <= meta_gradient_nodes(lambda a: a * a)


# ---------------------------------------------------------------- power at 0
@pytest.mark.parametrize("f, order, expected", [
    (lambda x: x ** 0, 1, 0.0), (lambda x: x ** 0, 2, 0.0),
    (lambda x: x ** 1.0, 1, 1.0), (lambda x: x ** 1.0, 2, 0.0),
    (lambda x: x ** 2, 1, 0.0), (lambda x: x ** 2, 2, 2.0), (lambda x: x ** 2, 3, 0.0),
    (lambda x: x ** 3, 3, 6.0), (lambda x: x ** 3, 4, 0.0),
    (lambda x: x ** np.array(0.0), 1, 0.0),
], ids=["x0-d1", "x0-d2", "x1-d1", "x1-d2", "x2-d1", "x2-d2", "x2-d3", "x3-d3", "x3-d4",
        "array-exponent-0"])
def test_power_at_zero_is_exact(f, order, expected):
    g = f
    for _ in range(order):
        g = tm.grad(g)
    assert float(g(0.0)) == expected


# ---------------------------------------------------------------- clear errors
def test_grad_of_a_bool_or_int_output_raises():
    for value in (True, np.bool_(False), 3):
        with pytest.raises(TypeError, match="real floating-point scalar"):
            tm.grad(lambda x, v=value: v)(1.0)


def test_a_missing_vjp_rule_names_the_primitive_and_argument():
    short = Primitive("short_mul", np.multiply)
    short.defvjp(lambda g, ans, x, y: g * y)  # no rule for y
    none = Primitive("none_mul", np.multiply)
    none.defvjp(lambda g, ans, x, y: g * y, None)
    assert float(tm.grad(lambda x: short(x, 2.0))(1.0)) == 2.0  # x alone is fine
    for prim in (short, none):
        with pytest.raises(NotImplementedError, match=f"'{prim.name}'.*argument 1"):
            tm.grad(lambda y, p=prim: p(3.0, y))(1.0)
        with pytest.raises(NotImplementedError, match=f"'{prim.name}'.*argument 1"):
            tm.grad(lambda y, p=prim: p(y, y))(1.0)  # never a silently halved gradient


@pytest.mark.parametrize("empty", [[], (), {}], ids=["list", "tuple", "dict"])
def test_grad_with_respect_to_an_empty_container_is_empty(empty):
    g = tm.grad(lambda x, y: y * 2.0, argnums=(0, 1))(empty, 1.0)
    assert g[0] == empty and type(g[0]) is type(empty)
    assert float(g[1]) == 2.0


@pytest.mark.parametrize("call", [
    lambda: tm.grad(lambda a: tm.sum(a * a))(np.array([1 + 1j])),
    lambda: tm.grad(lambda a: a * a)(1 + 1j),
    lambda: tm.grad(lambda x: tm.sum(x * (1 + 0.2j)))(1.0),
    lambda: tm.grad(lambda x: tm.sum(x * np.array([1 + 0.2j])))(1.0),
    lambda: tm.tensor([1 + 2j]),
], ids=["complex-array-arg", "complex-scalar-arg", "complex-constant", "complex-array",
        "tensor"])
def test_complex_values_are_refused(call):
    with pytest.raises(TypeError, match="real"):
        call()


def test_hvp_with_different_keys_names_them():
    with pytest.raises(ValueError, match=r"\['a'\].*\['b'\]"):
        tm.hvp(lambda d: tm.sum(d["a"]), {"a": np.ones(3)}, {"b": np.ones(3)})


def test_debug_nans_names_the_op_and_the_rule_it_ran_in():
    with tm.debug_nans(), pytest.raises(FloatingPointError, match="divide.*rule of 'sqrt'"):
        tm.grad(lambda x: tm.sum(tm.sqrt(x)))(np.array([1.0, 0.0]))


# ---------------------------------------------------------------- jvp
def test_jvp_is_the_jacobian_times_the_tangent(rng):
    def f(x, w):
        return tm.tanh(x @ w) * x[:, :1]

    x, w = rng.standard_normal((3, 2)), rng.standard_normal((2, 4))
    tx, tw = rng.standard_normal((3, 2)), rng.standard_normal((2, 4))
    out, tangent = tm.jvp(f, (x, w), (tx, tw))
    jx, jw = tm.jacobian(f, argnums=(0, 1))(x, w)
    expected = np.tensordot(jx.data, tx, axes=2) + np.tensordot(jw.data, tw, axes=2)
    np.testing.assert_allclose(tangent.data, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(out.data, f(tm.tensor(x), tm.tensor(w)).data)
    assert not tangent.requires_grad  # nobody differentiates it: no graph kept


def test_jvp_composes_with_grad_and_keeps_float32():
    # d/dx of the directional derivative of sin(x)·x along t: (2cos x − x sin x)·t
    x, t = np.array([0.3, 0.5]), np.array([1.0, 2.0])
    g = tm.grad(lambda a: tm.sum(tm.jvp(lambda y: tm.sin(y) * y, (a,), (t,))[1]))(x)
    np.testing.assert_allclose(g.data, (2 * np.cos(x) - x * np.sin(x)) * t, rtol=1e-12)
    out = tm.jvp(lambda y: y ** 2, (np.float32(2.0),), (np.float32(1.0),))[1]
    assert out.dtype == np.float32 and float(out) == 4.0


def test_jvp_of_trees_and_bad_tangents():
    out, tangent = tm.jvp(lambda d: d["a"] * d["b"], ({"a": 2.0, "b": 3.0},),
                          ({"a": 1.0, "b": 0.5},))
    assert float(tangent) == 3.0 + 1.0
    with pytest.raises(ValueError, match="tangent 0"):
        tm.jvp(lambda x: x, (np.ones(3),), (np.ones(2),))
    with pytest.raises(TypeError, match="tuples"):
        tm.jvp(lambda x: x, np.ones(3), np.ones(3))
