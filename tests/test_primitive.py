"""Primitives: one declaration per op, saved values, and user-defined ops.

A node keeps the values its VJP rules read and nothing else (``saves``); a rule
that reads more than it declared gets a clear error naming the declaration,
never a wrong number. The same declaration is the public way for a user to add
an op, and it works at every order when its rules use tinymeta ops.
"""

import gc
import weakref

import numpy as np
import pytest

import tinymeta as tm
from tinymeta.primitive import Primitive, primitive
from tinymeta.tensor import Unsaved
from tinymeta.testing import check_grads


# ---------------------------------------------------------------- one declaration
@primitive(lambda g, ans, x: g * 3.0 * x * x, saves=[{0}])
def cube(x):
    """x ** 3, elementwise."""
    return x ** 3


def test_a_user_defined_primitive_works_at_every_order():
    assert isinstance(cube, Primitive) and cube.name == "cube"
    assert cube.__doc__.startswith("x ** 3")
    x = np.linspace(0.2, 1.0, 4)
    np.testing.assert_allclose(tm.grad(lambda v: tm.sum(cube(v)))(x).data, 3 * x ** 2)
    d3 = tm.grad(tm.grad(tm.grad(lambda v: cube(v))))(0.7)
    assert float(d3) == pytest.approx(6.0)
    check_grads(lambda v: tm.sum(tm.sin(cube(v))), x, order=3)


def test_static_parameters_reach_every_rule():
    @primitive(lambda g, ans, x, *, k: g * k, saves=[()])
    def scale(x, *, k):
        return x * k

    assert float(tm.grad(lambda v: scale(v, k=2.5))(1.0)) == 2.5


def test_a_rule_that_reads_an_unsaved_value_names_the_declaration():
    @primitive(lambda g, ans, x: g * 3.0 * x * x, saves=[()])  # wrong: reads x
    def bad_cube(x):
        return x ** 3

    x = tm.tensor(np.linspace(0.1, 1.0, 8), requires_grad=True)
    with pytest.raises(RuntimeError, match=r"'bad_cube' for argument 0 failed.*did not save "
                                           r"argument 0.*'saves'"):
        tm.grad(lambda v: tm.sum(bad_cube(v * 2.0)))(x)


def test_saves_must_have_one_set_per_rule():
    with pytest.raises(ValueError, match="2 'saves' sets for 1 rules"):
        Primitive("p", np.exp).defvjp(lambda g, ans, x: g, saves=[(), ()])


# ---------------------------------------------------------------- saved values
def test_a_value_no_rule_reads_is_freed_when_the_caller_drops_it():
    x = tm.tensor(np.linspace(0.1, 1.0, 1000), requires_grad=True)
    a = x * 3.0  # multiply's rule for x reads the 3.0, not a
    b = a + 1.0  # add's rules read shapes only
    value_of_a = weakref.ref(a._value)
    del a
    gc.collect()
    assert value_of_a() is None, "the graph kept a value that no VJP rule reads"
    g = tm.grad(lambda v: tm.sum(b * v))(x)  # b's graph is intact
    np.testing.assert_allclose(g.data, 3 * x.data + 1.0)


def test_a_value_a_rule_reads_is_kept_after_the_caller_drops_it():
    x = tm.tensor(np.linspace(0.1, 1.0, 1000), requires_grad=True)
    e = tm.exp(x)  # exp's rule reads its own output
    h = x * 2.0
    s = tm.sin(h)  # sin's rule reads its input h
    out = tm.sum(e + s)
    kept_e, kept_h = weakref.ref(e._value), weakref.ref(h._value)
    del e, h, s
    gc.collect()
    assert kept_e() is not None and kept_h() is not None
    out.backward()
    np.testing.assert_allclose(x.grad.data, np.exp(x.data) + 2 * np.cos(2 * x.data),
                               rtol=1e-12)


def test_a_node_keeps_only_what_its_live_rules_read():
    w = tm.tensor(np.ones((3, 2)), requires_grad=True)
    data = np.ones((4, 3))
    out = data @ w  # only w requires grad: matmul's rule for w reads the data, not w
    saved_a, saved_b = out.node.saved
    assert isinstance(saved_a, np.ndarray)
    assert saved_b is w.node and isinstance(saved_b, Unsaved)  # w's node stands in for w
    assert out.node.ans is None  # nor is the output kept: the node itself knows its shape


def test_a_changed_numpy_argument_does_not_change_the_graph():
    x = tm.tensor([1.0, 2.0], requires_grad=True)
    c = np.array([3.0, 4.0])
    y = tm.sum(x * c)
    c[:] = 100.0  # the caller reuses its array; the recorded graph must not see it
    y.backward()
    np.testing.assert_allclose(x.grad.data, [3.0, 4.0])


def test_getitem_index_array_mutated_after_recording():
    x = tm.tensor([1.0, 2.0, 3.0], requires_grad=True)
    idx = np.array([0, 1])
    y = tm.sum(x[idx] * 1.0)
    idx[:] = [2, 2]
    y.backward()
    np.testing.assert_allclose(x.grad.data, [1.0, 1.0, 0.0])


def test_vjp_with_one_tensor_twice_in_the_output_tree():
    def f(v):
        h = v * 2.0
        return (h, h)

    _, pullback = tm.vjp(f, np.array([1.0, 2.0]))
    np.testing.assert_allclose(pullback((np.ones(2), np.ones(2)))[0].data, [4.0, 4.0])
    np.testing.assert_allclose(tm.jacobian(f)(np.array([1.0, 2.0]))[0].data, 2 * np.eye(2))


# ---------------------------------------------------------------- observers
def test_an_observer_sees_every_op_and_changes_nothing():
    seen = []

    def f(x):
        return tm.sum(tm.sin(x) * tm.stop_gradient(x))

    x = np.array([0.3, 0.6])
    plain = tm.grad(f)(x)
    with tm.observe(lambda op, args, params, out: seen.append((op, out.node is not None))):
        watched = tm.grad(f)(x)
    np.testing.assert_array_equal(plain.data, watched.data)
    ops = [op for op, _ in seen]
    assert "stop_gradient" in ops and "sin" in ops and "cos" in ops  # backward seen too
    assert ("stop_gradient", False) in seen  # its output is a constant


def test_a_view_of_a_callers_array_is_not_changed_by_the_caller():
    a = np.arange(3.0)
    y = tm.reshape(a, (3,))  # a view of a, which the caller may still write
    x = tm.tensor([1.0, 1.0, 1.0], requires_grad=True)
    z = tm.sum(x * y)
    a[:] = 100.0
    z.backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 1.0, 2.0])
    np.testing.assert_array_equal(y.data, [0.0, 1.0, 2.0])


def test_a_rule_may_run_a_transform_at_every_order():
    # the rule of x³ computes 3x² with tm.grad: at order 1 it runs in an unrecorded
    # (numpy) backward pass and gets a tensor back, at higher orders a recorded one
    @primitive(lambda g, ans, x: g * tm.grad(lambda y: y ** 3)(x))
    def cube(x):
        return np.asarray(x) ** 3

    assert tm.grad(cube)(2.0).item() == 12.0  # 3x²
    assert tm.grad(tm.grad(cube))(2.0).item() == 12.0  # 6x
    assert tm.grad(tm.grad(tm.grad(cube)))(2.0).item() == 6.0


def test_a_primitive_without_rules_records_and_says_so_at_the_gradient():
    twice = Primitive("twice", lambda x: 2 * np.asarray(x))  # no defvjp yet
    y = twice(tm.tensor(1.0, requires_grad=True))
    assert y.op == "twice" and y.item() == 2.0
    with pytest.raises(NotImplementedError, match="'twice' has no VJP rule for its argument 0"):
        tm.grad(twice)(1.0)
