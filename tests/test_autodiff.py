"""The transforms (grad, value_and_grad, vjp, jacobian, hessian, hvp), stop_gradient,
name_scope and Tensor.backward, and the four recording properties of DESIGN.md:

1. gradients are differentiable to any order, also through closures over an
   outer traced value (the MAML shape);
2. no perturbation confusion (three exact equalities);
3. a plain first-order gradient records no backward graph;
4. a whole MAML computation is one walkable graph whose nodes know whether a
   backward pass made them.
"""

from __future__ import annotations

import gc
import math
import sys
import warnings
import weakref
from collections import OrderedDict, namedtuple

import numpy as np
import pytest

import tinymeta as tm
from tinymeta.testing import check_grads


def walk(root: tm.Tensor) -> list:
    """Every node reachable from ``root``'s node (iterative, over ``Node.inputs``)."""
    seen, out, stack = set(), [], [root.node]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        out.append(node)
        stack.extend(p for p in node.inputs if p is not None)
    return out


# ---------------------------------------------------------------- grad and value_and_grad
@pytest.mark.parametrize("x", [0.3, np.float64(0.3), np.array(0.3), np.array([0.1, -0.7]),
                               tm.tensor([0.1, 2.0])], ids=["float", "np.float64", "0-d array",
                                                           "array", "tensor"])
def test_grad_of_elementwise_function(x):
    g = tm.grad(lambda v: tm.sum(tm.sin(v)))(x)
    assert isinstance(g, tm.Tensor)
    assert g.shape == np.shape(np.asarray(x))
    np.testing.assert_allclose(g.data, np.cos(np.asarray(x)), rtol=1e-14)
    assert not g.requires_grad  # a first-order gradient is a constant


def test_grad_of_grad_to_fifth_order():
    f = tm.sin
    for k in range(1, 6):
        f = tm.grad(f)
        expected = [np.cos, lambda v: -np.sin(v), lambda v: -np.cos(v), np.sin, np.cos][k - 1]
        assert float(f(0.7)) == pytest.approx(expected(0.7), rel=1e-13)


def test_value_and_grad():
    value, g = tm.value_and_grad(lambda x: tm.sum(x ** 3))(np.array([1.0, 2.0]))
    assert float(value) == 9.0
    np.testing.assert_array_equal(g.data, [3.0, 12.0])


def test_value_and_grad_with_aux():
    def f(x):
        y = x * x
        return tm.sum(y), {"y": y, "note": "anything"}

    (value, aux), g = tm.value_and_grad(f, has_aux=True)(np.array([1.0, 3.0]))
    assert float(value) == 10.0
    np.testing.assert_array_equal(aux["y"].data, [1.0, 9.0])
    assert aux["note"] == "anything"
    np.testing.assert_array_equal(g.data, [2.0, 6.0])
    g2, aux2 = tm.grad(f, has_aux=True)(np.array([1.0, 3.0]))
    np.testing.assert_array_equal(g2.data, [2.0, 6.0])
    np.testing.assert_array_equal(aux2["y"].data, [1.0, 9.0])


def test_grad_passes_keyword_arguments_through():
    g = tm.grad(lambda x, scale=1.0: x * scale)(2.0, scale=5.0)
    assert float(g) == 5.0


def test_grad_of_python_number_output_is_zero_with_warning():
    with pytest.warns(tm.IndependentOutputWarning):
        g = tm.grad(lambda x: 3.0)(1.5)
    assert float(g) == 0.0


# ---------------------------------------------------------------- argnums
def f3(a, b, c):
    return a * b ** 2 + tm.sin(c) * a


@pytest.mark.parametrize(
    "argnums,expected",
    [
        (0, 2.0**2 + math.sin(0.5)),
        (1, 2 * 1.5 * 2.0),
        (2, math.cos(0.5) * 1.5),
        (-1, math.cos(0.5) * 1.5),
        ((0,), (2.0**2 + math.sin(0.5),)),
        ((2, 0), (math.cos(0.5) * 1.5, 2.0**2 + math.sin(0.5))),
    ],
    ids=str,
)
def test_argnums_int_and_tuple(argnums, expected):
    g = tm.grad(f3, argnums=argnums)(1.5, 2.0, 0.5)
    if isinstance(argnums, tuple):
        assert isinstance(g, tuple) and len(g) == len(expected)
        for gi, ei in zip(g, expected, strict=True):
            assert float(gi) == pytest.approx(ei, rel=1e-14)
    else:
        assert isinstance(g, tm.Tensor)
        assert float(g) == pytest.approx(expected, rel=1e-14)


def test_undifferentiated_arguments_may_be_anything():
    def f(x, n, name, table):
        assert isinstance(n, int) and name == "ok" and table is None
        return x ** n

    assert float(tm.grad(f)(2.0, 3, "ok", None)) == 12.0


# ---------------------------------------------------------------- trees
Params = namedtuple("Params", ["w", "b"])


def _tree_cases(rng):
    w, b = rng.standard_normal((2, 3)), rng.standard_normal(2)
    return [
        ("list", [w, b], lambda p: (p[0], p[1])),
        ("tuple", (w, b), lambda p: (p[0], p[1])),
        ("dict", {"w": w, "b": b}, lambda p: (p["w"], p["b"])),
        ("nested", {"layer": [w, {"b": b}]}, lambda p: (p["layer"][0], p["layer"][1]["b"])),
        ("namedtuple", Params(w, b), lambda p: (p.w, p.b)),
        ("OrderedDict", OrderedDict(w=w, b=b), lambda p: (p["w"], p["b"])),
    ]


@pytest.mark.parametrize("case", range(6))
def test_gradient_has_the_structure_of_a_tree_argument(case, rng):
    name, params, get = _tree_cases(rng)[case]
    x = rng.standard_normal(3)

    def loss(p):
        w, b = get(p)
        return tm.sum(tm.tanh(w @ x + b) ** 2)

    g = tm.grad(loss)(params)
    assert type(g) is type(params), name
    gw, gb = get(g)
    # by hand: z = w x + b, loss = Σ tanh(z)², dz = 2 tanh(z)(1 − tanh²z)
    w, b = get(params)
    t = np.tanh(w @ x + b)
    dz = 2 * t * (1 - t**2)
    np.testing.assert_allclose(gw.data, np.outer(dz, x), rtol=1e-12)
    np.testing.assert_allclose(gb.data, dz, rtol=1e-12)
    check_grads(loss, (params,), order=2)  # a 1-tuple: check_grads reads tuples as args


def test_tree_of_mixed_leaves_floats_arrays_tensors():
    params = {"a": 2.0, "b": np.array([1.0, 2.0]), "c": tm.tensor(3.0)}
    g = tm.grad(lambda p: p["a"] * tm.sum(p["b"]) * p["c"])(params)
    assert set(g) == {"a", "b", "c"}
    assert float(g["a"]) == 9.0
    np.testing.assert_array_equal(g["b"].data, [6.0, 6.0])
    assert float(g["c"]) == 6.0


def test_argnums_tuple_of_trees():
    g = tm.grad(lambda p, q: p[0] * q["x"], argnums=(0, 1))([2.0], {"x": 5.0})
    assert isinstance(g, tuple) and isinstance(g[0], list) and isinstance(g[1], dict)
    assert float(g[0][0]) == 5.0 and float(g[1]["x"]) == 2.0


# ---------------------------------------------------------------- vjp, jacobian, hessian, hvp
def test_vjp_is_transposed_jacobian_times_cotangent(rng):
    A = rng.standard_normal((2, 3))
    x = rng.standard_normal(3)
    out, pullback = tm.vjp(lambda v: A @ tm.tanh(v), x)
    np.testing.assert_allclose(out.data, A @ np.tanh(x), rtol=1e-14)
    u = rng.standard_normal(2)
    (g,) = pullback(u)
    np.testing.assert_allclose(g.data, (1 - np.tanh(x) ** 2) * (A.T @ u), rtol=1e-13)
    # the pullback can be called again with another cotangent
    (g2,) = pullback(2 * u)
    np.testing.assert_allclose(g2.data, 2 * g.data, rtol=1e-14)


def test_vjp_with_several_arguments_and_a_tree_output():
    out, pullback = tm.vjp(lambda a, b: {"p": a * b, "s": a + b}, np.array([1.0, 2.0]), 3.0)
    np.testing.assert_array_equal(out["p"].data, [3.0, 6.0])
    ga, gb = pullback({"p": np.array([1.0, 1.0]), "s": np.array([1.0, 0.0])})
    np.testing.assert_array_equal(ga.data, [4.0, 3.0])  # b + [1, 0]
    assert float(gb) == 4.0  # sum(a) + 1


def test_jacobian(rng):
    A = rng.standard_normal((2, 3))
    x = rng.standard_normal(3)
    J = tm.jacobian(lambda v: A @ tm.tanh(v))(x)
    assert J.shape == (2, 3)
    np.testing.assert_allclose(J.data, A * (1 - np.tanh(x) ** 2), rtol=1e-13)


def test_jacobian_shapes_and_argnums_tuple(rng):
    x, y = rng.standard_normal((2, 2)), rng.standard_normal(3)
    Jx, Jy = tm.jacobian(lambda a, b: tm.sum(a) * b, argnums=(0, 1))(x, y)
    assert Jx.shape == (3, 2, 2) and Jy.shape == (3, 3)
    np.testing.assert_allclose(Jx.data, np.broadcast_to(y[:, None, None], (3, 2, 2)))
    np.testing.assert_allclose(Jy.data, np.eye(3) * x.sum(), rtol=1e-14)


def test_hessian_of_quadratic_form(rng):
    A = rng.standard_normal((3, 3))
    H = tm.hessian(lambda x: x @ (A @ x))(rng.standard_normal(3))
    np.testing.assert_allclose(H.data, A + A.T, rtol=1e-13)


def test_hessian_of_matrix_argument(rng):
    X = rng.standard_normal((2, 2))
    H = tm.hessian(lambda m: tm.sum(m ** 3))(X)
    assert H.shape == (2, 2, 2, 2)
    np.testing.assert_allclose(H.data.reshape(4, 4), np.diag(6 * X.ravel()), rtol=1e-13)


def test_hvp_matches_hand_derivation(rng):
    x, v = rng.standard_normal(3), rng.standard_normal(3)
    # f = Σ x⁴ / 4  ⇒  ∇²f = diag(3x²)
    np.testing.assert_allclose(tm.hvp(lambda z: tm.sum(z**4) / 4, x, v).data, 3 * x**2 * v,
                               rtol=1e-13)


def test_third_order_by_composition():
    # d/dx of the Hessian-vector product of x ↦ x⁴ along v = 1: 24 x
    assert float(tm.grad(lambda x: tm.hvp(lambda z: z**4, x, 1.0))(0.5)) == pytest.approx(12.0)


# ---------------------------------------------------------------- stop_gradient
def test_stop_gradient_is_identity_with_zero_derivative():
    assert float(tm.grad(lambda x: x * tm.stop_gradient(x))(3.0)) == 3.0
    assert float(tm.stop_gradient(tm.tensor(2.5, requires_grad=True))) == 2.5
    assert not tm.stop_gradient(tm.tensor(2.5, requires_grad=True)).requires_grad


def test_stop_gradient_of_a_tree():
    def f(p):
        q = tm.stop_gradient(p)
        return p["a"] * q["a"] + q["b"] * p["b"]

    g = tm.grad(f)({"a": 2.0, "b": 3.0})
    assert float(g["a"]) == 2.0 and float(g["b"]) == 3.0
    assert tm.stop_gradient([1.0, None]) == [1.0, None]  # non-tensors pass through
    untraced = [np.ones(2)]
    assert tm.stop_gradient(untraced) is not untraced  # a new tree, as for a traced one


def test_stop_gradient_stops_at_two_nesting_levels():
    def f(y):  # f'(y) = 2y·sg(y); the next derivative must treat sg(y) as a constant again
        return y**2 * tm.stop_gradient(y)

    x = 3.0
    assert float(f(tm.tensor(x))) == 27.0
    assert float(tm.grad(f)(x)) == 2 * x * x  # 18, not 3x² = 27
    assert float(tm.grad(tm.grad(f))(x)) == 2 * x  # 6, not 4x = 12 (one-level stop) or 6x
    with warnings.catch_warnings():  # 2·sg(y) may or may not still be wired to y
        warnings.simplefilter("ignore", tm.IndependentOutputWarning)
        third = tm.grad(tm.grad(tm.grad(f)))(x)
    assert float(third) == 0.0


def test_stop_gradient_on_an_inner_gradient_is_first_order_maml():
    alpha, theta = 0.1, 0.8

    def adapted(t, first_order):
        g = tm.grad(tm.sin)(t)
        return t - alpha * (tm.stop_gradient(g) if first_order else g)

    def query(t, first_order):
        return adapted(t, first_order) ** 2

    t1 = theta - alpha * math.cos(theta)
    assert float(tm.grad(query)(theta, True)) == pytest.approx(2 * t1, rel=1e-14)
    assert float(tm.grad(query)(theta, False)) == pytest.approx(
        2 * t1 * (1 + alpha * math.sin(theta)), rel=1e-14)


def test_stop_gradient_does_not_keep_its_input_alive():
    x = tm.tensor(np.ones(1000), requires_grad=True)
    y = tm.sin(x)
    node = weakref.ref(y.node)
    s = tm.stop_gradient(y)
    del x, y
    gc.collect()
    assert node() is None  # the graph behind the cut is gone
    np.testing.assert_allclose(s.data, np.sin(1.0))
    assert not s.requires_grad and s.node is None


def test_an_observer_sees_the_cut_stop_gradient_makes():
    seen = []
    y = tm.sin(tm.tensor(1.0, requires_grad=True))
    with tm.observe(lambda op, args, params, out: seen.append((op, args, out))):
        s = tm.stop_gradient(y)
    assert seen == [("stop_gradient", (y,), s)]
    assert float(tm.grad(lambda v: v * tm.stop_gradient(v))(2.0)) == 2.0


# ---------------------------------------------------------------- name_scope
def test_name_scope_tags_nodes_and_nests():
    x = tm.tensor(1.0, requires_grad=True)
    outside = tm.sin(x)
    with tm.name_scope("inner step 1"):
        a = tm.sin(x)
        with tm.name_scope("loss"):
            b = a * 2.0
        c = b + 1.0
    assert outside.node.scope == ""
    assert a.node.scope == "inner step 1"
    assert b.node.scope == "inner step 1/loss"
    assert c.node.scope == "inner step 1"
    assert tm.sin(x).node.scope == ""


def test_name_scope_is_restored_after_an_exception():
    with pytest.raises(RuntimeError), tm.name_scope("broken"):
        raise RuntimeError("boom")
    assert tm.sin(tm.tensor(1.0, requires_grad=True)).node.scope == ""


# ---------------------------------------------------------------- Tensor.backward
def test_backward_fills_and_accumulates_grad():
    x = tm.tensor([0.5, -1.0], requires_grad=True)
    w = tm.tensor(2.0, requires_grad=True)
    c = tm.tensor([1.0, 1.0])  # a constant: no .grad
    loss = tm.sum(tm.sin(x) * w + c)
    loss.backward()
    np.testing.assert_allclose(x.grad.data, 2.0 * np.cos([0.5, -1.0]), rtol=1e-14)
    assert float(w.grad) == pytest.approx(np.sin(0.5) + np.sin(-1.0), rel=1e-14)
    assert c.grad is None
    assert not x.grad.requires_grad
    loss.backward()  # a second pass adds to .grad (PyTorch semantics)
    np.testing.assert_allclose(x.grad.data, 4.0 * np.cos([0.5, -1.0]), rtol=1e-14)


def test_backward_with_a_seed_and_create_graph():
    x = tm.tensor([1.0, 2.0], requires_grad=True)
    y = x ** 3
    y.backward(gradient=np.array([1.0, 10.0]), create_graph=True)
    np.testing.assert_allclose(x.grad.data, [3.0, 120.0])
    assert x.grad.requires_grad  # differentiable: d/dx Σ x.grad = 6x·seed
    g = tm.sum(x.grad)
    x.grad = None
    g.backward()
    np.testing.assert_allclose(x.grad.data, [6.0, 120.0])


def test_backward_of_a_constant_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        tm.tensor(1.0).backward()


# ---------------------------------------------------------------- property 2: no confusion
def test_perturbation_confusion_product():
    assert tm.grad(lambda x: x * tm.grad(lambda y: x * y)(3.0))(2.0).item() == 4.0


def test_perturbation_confusion_inner_over_outer_value():
    with pytest.warns(tm.IndependentOutputWarning):  # d/dy (x + y) = 1 does not depend on x
        assert tm.grad(lambda x: tm.grad(lambda y: x + y)(x))(2.0).item() == 0.0


def test_perturbation_confusion_sum():
    assert tm.grad(lambda x: x * tm.grad(lambda y: x + y)(1.0))(5.0).item() == 1.0


def test_grad_of_a_tensor_that_requires_grad_is_taken_with_respect_to_it_only():
    x = tm.tensor(2.0, requires_grad=True)
    w = tm.tensor(3.0, requires_grad=True)
    assert float(tm.grad(lambda v: v * w)(x)) == 3.0  # w is a closure, not a target
    assert float(tm.grad(lambda v: v * v)(x)) == 4.0


# ---------------------------------------------------------------- property 1: closures (MAML)
def test_maml_shaped_closure_over_outer_traced_value():
    # inner loss sin(θ), one SGD step θ' = θ − α cos θ, query loss θ'²:
    # d/dθ θ'² = 2θ'(1 + α sin θ); first-order MAML would give 2θ'
    alpha, theta = 0.3, 0.7

    def meta_loss(t):
        inner_grad = tm.grad(lambda p: tm.sin(p) * t / t)(t)  # closes over the outer t
        adapted = t - alpha * inner_grad
        return adapted ** 2

    t1 = theta - alpha * math.cos(theta)
    got = float(tm.grad(meta_loss)(theta))
    assert got == pytest.approx(2 * t1 * (1 + alpha * math.sin(theta)), rel=1e-13)
    check_grads(meta_loss, np.array(theta), order=2)


def test_maml_two_inner_steps_on_a_vector_against_hand_derivation(rng):
    # L_s(θ) = ½ θᵀAθ − bᵀθ (gradient Aθ − b, Hessian A); two steps:
    # θ_k = (I − αA)^k θ + affine, so d L_q(θ_2)/dθ = ((I − αA)²)ᵀ ∇L_q(θ_2)
    A = rng.standard_normal((3, 3))
    A = A @ A.T + np.eye(3)
    b, target = rng.standard_normal(3), rng.standard_normal(3)
    alpha = 0.05

    def support(th):
        return 0.5 * th @ (A @ th) - b @ th

    def meta_loss(th):
        for step in range(2):
            with tm.name_scope(f"inner step {step + 1}"):
                th = th - alpha * tm.grad(support)(th)
        with tm.name_scope("query"):
            return tm.sum((th - target) ** 2)

    theta = rng.standard_normal(3)
    t2 = theta
    for _ in range(2):
        t2 = t2 - alpha * (A @ t2 - b)
    M = np.eye(3) - alpha * A
    expected = (M @ M).T @ (2 * (t2 - target))
    np.testing.assert_allclose(tm.grad(meta_loss)(theta).data, expected, rtol=1e-12)


# ---------------------------------------------------------------- property 3: no bookkeeping
def test_first_order_grad_records_no_backward_nodes(rng):
    x = rng.standard_normal(5)
    before = tm.backward_node_count()
    g = tm.grad(lambda v: tm.sum(tm.tanh(v) * tm.exp(v)) + tm.logsumexp(v))(x)
    assert tm.backward_node_count() == before
    assert not g.requires_grad and g.op == "constant"
    # not even with a closure over a constant or over an input that requires no grad
    w = tm.tensor(rng.standard_normal(5))
    tm.grad(lambda v: tm.sum(v * w))(x)
    tm.value_and_grad(lambda v: tm.sum(v**2))(x)
    assert tm.backward_node_count() == before


def test_nested_grad_records_backward_nodes():
    before = tm.backward_node_count()
    tm.grad(tm.grad(lambda v: tm.sin(v) * v))(0.4)
    assert tm.backward_node_count() > before


def test_first_order_backward_records_nothing_and_create_graph_does():
    x = tm.tensor([0.3, 0.6], requires_grad=True)
    before = tm.backward_node_count()
    tm.sum(tm.sin(x) ** 2).backward()
    assert tm.backward_node_count() == before and not x.grad.requires_grad
    tm.sum(tm.sin(x) ** 2).backward(create_graph=True)
    assert tm.backward_node_count() > before


# ---------------------------------------------------------------- property 4: walkable graph
def test_nodes_know_order_backward_of_and_scope():
    x = tm.tensor(0.5, requires_grad=True)
    forward = tm.sin(x)
    assert forward.node.order == 0 and forward.node.rule_of is None and forward.op == "sin"

    seen = {}

    def outer(t):
        with tm.name_scope("inner"):
            g = tm.grad(lambda y: tm.sin(y) * t)(t)
        seen["g"] = g
        return g * t

    # d/dt [t² cos t] = 2t cos t − t² sin t
    got = float(tm.grad(outer)(1.0))
    assert got == pytest.approx(2 * math.cos(1.0) - math.sin(1.0), rel=1e-14)
    g = seen["g"].node
    assert g.order >= 1
    # the last VJP applied on the way back to y was sin's: cos(y)·(g·t)
    assert g.rule_of is not None and g.rule_of.op == "sin"
    assert g.scope == "inner"
    for node in walk(seen["g"]):
        if node.order >= 1:
            assert node.rule_of is not None
        else:
            assert node.rule_of is None


def test_whole_maml_graph_is_walkable_with_forward_and_backward_nodes():
    theta = tm.tensor([0.3, -0.2], requires_grad=True)
    alpha = 0.1

    def support(p):
        return tm.sum(tm.tanh(p) ** 2)

    p = theta
    for step in range(2):
        with tm.name_scope(f"inner step {step + 1}"):
            p = p - alpha * tm.grad(support)(p)
    with tm.name_scope("query"):
        loss = tm.sum(p ** 2)

    nodes = walk(loss)
    assert any(n is theta.node for n in nodes)
    forward = [n for n in nodes if n.order == 0 and n.op != "leaf"]
    backward = [n for n in nodes if n.order >= 1]
    assert forward and backward
    assert all(n.rule_of is not None for n in backward)
    assert {n.scope for n in backward} == {"inner step 1", "inner step 2"}
    assert {"inner step 1", "inner step 2", "query"} <= {n.scope for n in nodes}
    # and the same graph gives the MAML gradient through loss.backward()
    loss.backward()

    def meta(t):
        for _ in range(2):
            t = t - alpha * tm.grad(support)(t)
        return tm.sum(t ** 2)

    np.testing.assert_allclose(theta.grad.data, tm.grad(meta)(np.array([0.3, -0.2])).data,
                               rtol=1e-14)


def test_second_order_nodes_have_order_two():
    seen = []

    def f(x):
        def g(y):
            h = tm.grad(lambda z: z**3 * x)(y)
            seen.append(h)
            return h * x

        d = tm.grad(g)(x)
        seen.append(d)
        return d

    tm.grad(f)(0.7)
    assert max(n.order for h in seen for n in walk(h)) >= 2


# ---------------------------------------------------------------- deep graphs
DEPTH = 10_000


def _sin_chain(x, depth=DEPTH):
    for _ in range(depth):
        x = tm.sin(x)
    return x


def _sin_chain_derivatives(x, depth=DEPTH):
    """Value, first and second derivative of sin∘…∘sin by forward-mode in a loop."""
    v, d1, d2 = x, 1.0, 0.0
    for _ in range(depth):
        v, d1, d2 = math.sin(v), math.cos(v) * d1, -math.sin(v) * d1**2 + math.cos(v) * d2
    return v, d1, d2


def test_deep_chain_first_and_second_derivative_without_recursion():
    limit = sys.getrecursionlimit()
    x0 = 1.2
    v, d1, d2 = _sin_chain_derivatives(x0)
    assert float(_sin_chain(tm.tensor(x0))) == pytest.approx(v, rel=1e-12)
    assert float(tm.grad(_sin_chain)(x0)) == pytest.approx(d1, rel=1e-9)
    assert float(tm.grad(tm.grad(_sin_chain))(x0)) == pytest.approx(d2, rel=1e-9)
    assert sys.getrecursionlimit() == limit  # nothing raised the limit to get there


def test_deep_chain_backward_and_closed_form():
    # y = x·c^N by N multiplications: dy/dx = c^N, and the graph is N nodes deep
    c, n = 1.0001, DEPTH
    x = tm.tensor(2.0, requires_grad=True)
    y = x
    for _ in range(n):
        y = y * c
    y.backward()
    assert float(x.grad) == pytest.approx(c**n, rel=1e-10)
    # the second derivative of x² c^N through the same depth: 2 c^N
    def f(v):
        out = v * v
        for _ in range(n):
            out = out * c
        return out

    assert float(tm.grad(tm.grad(f))(2.0)) == pytest.approx(2 * c**n, rel=1e-10)


def test_cotangent_traced_by_an_outer_grad_is_differentiated():
    # the double-VJP trick: d/du <vjp(sin)(u), 1> = cos(x0), a forward-mode derivative
    x0 = np.array([0.5, 1.0])

    def pulled_back(u):
        _, pullback = tm.vjp(tm.sin, x0)
        return tm.sum(pullback(u)[0])

    np.testing.assert_allclose(tm.grad(pulled_back)(np.array([1.0, 2.0])).data, np.cos(x0))


def test_duplicate_argnums_are_rejected():
    with pytest.raises(ValueError, match="names an argument twice"):
        tm.grad(lambda x, y: x * y, argnums=(0, 0))(3.0, 2.0)


def test_grad_works_inside_no_grad():
    with tm.no_grad():
        g = tm.grad(lambda x: x * x)(3.0)
        assert float(g) == 6.0
        assert not g.requires_grad  # and the result is a constant there
        assert not (tm.tensor(2.0, requires_grad=True) * 2.0).requires_grad


def test_recorded_graph_does_not_see_later_changes_to_the_callers_array():
    w = tm.tensor(np.ones(3), requires_grad=True)
    c = np.ones(3)
    y = tm.sum(w * c)
    c[:] = 5.0
    y.backward()
    np.testing.assert_array_equal(w.grad.data, np.ones(3))
    assert c.flags.writeable  # the caller's array is left alone


def test_recorded_graph_does_not_see_changes_through_a_read_only_views_base():
    # read-only is not enough: the caller can still write through the view's base
    w = tm.tensor(np.ones(2), requires_grad=True)
    base = np.array([1.0, 2.0])
    view = base.view()
    view.flags.writeable = False
    y = tm.sum(w * view)
    base[:] = 100.0
    y.backward()
    np.testing.assert_array_equal(w.grad.data, [1.0, 2.0])


@pytest.mark.parametrize("base", ["bytearray", "memmap"])
def test_recorded_graph_does_not_see_changes_through_a_writable_buffer(base, tmp_path):
    w = tm.tensor(np.ones(2), requires_grad=True)
    if base == "bytearray":
        buffer = bytearray(np.array([1.0, 2.0]).tobytes())
        view = np.frombuffer(buffer)
    else:
        buffer = np.memmap(tmp_path / "m.dat", dtype=np.float64, mode="w+", shape=(2,))
        buffer[:] = [1.0, 2.0]
        view = buffer.view(np.ndarray)  # its base is the memmap itself
    view.flags.writeable = False
    y = tm.sum(w * view)
    if base == "bytearray":
        buffer[:] = np.array([100.0, 100.0]).tobytes()
    else:
        buffer[:] = 100.0
    y.backward()
    np.testing.assert_array_equal(w.grad.data, [1.0, 2.0])


def test_a_read_only_array_that_owns_its_data_is_kept_without_a_copy():
    # a sampled meta-batch is read-only and owns its data: nobody can change it without
    # making it writable again, so the graph may hold it as it is (no copy per recorded op)
    w = tm.tensor(np.ones(2), requires_grad=True)
    c = np.array([1.0, 2.0])
    c.flags.writeable = False
    y = w * c
    assert y.node.saved[1] is c


def test_jacobian_accepts_numpy_integer_argnums():
    j = tm.jacobian(lambda x: tm.sin(x), argnums=np.int64(0))(np.array([0.0, 1.0]))
    np.testing.assert_allclose(j.data, np.diag(np.cos([0.0, 1.0])))


def test_an_inner_value_that_depends_only_on_an_outer_value_keeps_its_graph():
    # value_and_grad's output does not depend on y but does on the outer x: d(x²)/dx = 4
    with pytest.warns(tm.IndependentOutputWarning):
        g = tm.grad(lambda x: tm.value_and_grad(lambda y: x * x)(3.0)[0])(2.0)
    assert float(g) == 4.0
