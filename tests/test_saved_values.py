"""Handles and their graph nodes (saved values): one graph object per value.

An op whose rules never read its output returns a handle whose graph node keeps
only the shape. These are regressions found by review: mixing graphs built
inside and outside keep_graph(), names set on handles, reading a value a node did
not keep, and three older holes (a tensor twice in vjp's outputs, .data of a
view, a getitem index the caller mutates).
"""

import warnings

import numpy as np
import pytest

import tinymeta as tm
from tinymeta import viz

pytestmark = pytest.mark.usefixtures("split_every_value")  # tiny arrays get handles too


# ------------------------------------------------------------ handles and twins
def test_grad_of_requires_grad_tensor_through_ops_recorded_under_keep_graph():
    # grad's variable for a tensor that requires grad is an identity *handle* (made
    # outside keep_graph); ops under keep_graph link to the handle, while the backward
    # pass targets the handle's twin node, so the gradient never arrives.
    x = tm.tensor(3.0, requires_grad=True)

    def f(v):
        with tm.keep_graph():
            return v * v

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # was: IndependentOutputWarning, 0.0
        g = tm.grad(f)(x)
    assert g.item() == 6.0


def test_grad_silently_wrong_when_keep_graph_is_entered_midway():
    x = tm.tensor([0.5, 1.5], requires_grad=True)

    def f(v):
        a = tm.sin(v)  # links v's twin node
        with tm.keep_graph():
            b = v * v  # links the handle v itself
        return tm.sum(a + b)

    g = tm.grad(f)(x)  # was: cos(x) only, no warning
    np.testing.assert_allclose(g.data, np.cos(x.data) + 2 * x.data, rtol=1e-12)


def test_second_order_with_inner_function_under_keep_graph():
    def g(x):
        def inner(y):  # y: identity handle made outside keep_graph
            with tm.keep_graph():
                return tm.sin(x * y)
        return tm.grad(inner)(x)  # x cos(x²)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        d2 = tm.grad(g)(1.0)
    np.testing.assert_allclose(d2.item(), np.cos(1.0) - 2 * np.sin(1.0), rtol=1e-12)


def test_viz_graph_with_a_value_used_inside_and_outside_keep_graph():
    # h's handle (used under keep_graph) and its twin (used outside) are two graph
    # objects with one seq: walk() gives both the id n{seq}, keeps both edge sets, and
    # gradient_flow counts the shared input edge twice.
    x = tm.tensor([1.0, 2.0], requires_grad=True)
    h = x * 3.0
    a = h + 1.0
    with tm.keep_graph():
        b = tm.sum(h * a)
    graph = viz.graph_of(b)
    assert len(graph.edges) == 5, [(e.src, e.dst, e.argnum) for e in graph.edges]
    flow = viz.gradient_flow(graph)
    (grad_x,) = flow.gradient(graph).values()  # the one parameter leaf
    np.testing.assert_allclose(grad_x, 18 * x.data + 3)  # was: twice that


def test_a_name_set_on_a_handle_reaches_its_graph_node():
    x = tm.tensor([1.0, 2.0], requires_grad=True)
    h = x * 3.0
    h.name = "hidden"  # set on the handle; the graph holds the twin
    out = tm.sum(h + 1.0)
    names = [n.name for n in viz.graph_of(out).nodes.values()]
    assert "hidden" in names


def test_grad_variable_name_reaches_the_recorded_graph():
    y = tm.tensor([1.0, 2.0], requires_grad=True)
    g = tm.grad(lambda v: tm.sum(v * v * y))(y)  # recorded: depends on the outer y
    ops_names = [(n.op, n.name) for n in viz.graph_of(g).nodes.values()]
    assert ("identity", "arg0") in ops_names, ops_names


@pytest.mark.parametrize("read", [
    lambda n: n.numpy(),
    lambda n: n.detach(),
    lambda n: tm.stop_gradient(n),
])
def test_reading_an_unkept_node_value_is_never_silent(read):
    # .data raises a clear ValueError; these return object-dtype arrays of ShapeOnly
    x = tm.tensor(np.ones(3), requires_grad=True)
    node = ((x * 3.0) + 1.0).inputs[0]
    try:
        result = read(node)
    except ValueError as error:
        assert "was not kept" in str(error)
        return
    value = result if isinstance(result, np.ndarray) else result.data
    np.testing.assert_array_equal(value, np.full(3, 3.0))  # was: dtype=object


# ------------------------------------------------------------ older holes
def test_vjp_with_one_tensor_twice_in_the_output_tree():
    # _gradients builds seed_map = {node: seed}: a repeated output keeps only the last seed
    x = np.array([1.0, 2.0])

    def f(v):
        h = v * 2.0
        return (h, h)

    _, pullback = tm.vjp(f, x)
    np.testing.assert_allclose(pullback((np.ones(2), np.ones(2)))[0].data, [4.0, 4.0])
    jac = tm.jacobian(f)(x)
    np.testing.assert_allclose(jac[0].data, 2 * np.eye(2))


def test_data_of_a_view_cannot_be_made_writable():
    # DESIGN: mutating .data must raise. A reshape's value is a view of a writable
    # intermediate array; .data makes only the view read-only, so the flag can be reset.
    x = tm.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    h = x * 2.0
    r = tm.reshape(h, (2, 2))
    d = r.data
    with pytest.raises(ValueError):
        d.flags.writeable = True


def test_getitem_index_array_mutated_after_recording():
    x = tm.tensor([1.0, 2.0, 3.0], requires_grad=True)
    idx = np.array([0, 1])
    y = tm.sum(x[idx] * 1.0)
    idx[:] = [2, 2]  # the caller reuses its array; the graph must not change
    y.backward()
    np.testing.assert_allclose(x.grad.data, [1.0, 1.0, 0.0])


def test_an_under_declared_custom_primitive_names_its_declaration():
    # cube's rule reads x, but the primitive claims it reads nothing: the backward pass
    # must say so instead of letting numpy fail on a ShapeOnly
    from tinymeta.primitive import Primitive

    cube = Primitive("cube", lambda x: x ** 3)
    cube.defvjp(lambda g, ans, x: g * 3 * x ** 2)
    cube.defreads(())  # wrong: the rule reads x
    x = tm.tensor(np.linspace(0.1, 1.0, 8), requires_grad=True)
    with pytest.raises(RuntimeError, match=r"'cube' for argument 0 failed.*argument 0.*had "
                                           r"not been kept.*defreads"):
        tm.grad(lambda v: tm.sum(cube(v * 2.0)))(x)
    cube.defreads({0})  # right: the same call works
    g = tm.grad(lambda v: tm.sum(cube(v * 2.0)))(x)
    np.testing.assert_allclose(g.data, 24 * x.data ** 2, rtol=1e-12)
