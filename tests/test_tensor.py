"""Tensor and Node: a read-only value, and what the graph keeps of the op that made it."""

import numpy as np
import pytest

import tinymeta as tm
from tinymeta.tensor import Node, Unsaved, recording


def test_a_constant_has_no_node_and_a_leaf_has_one_without_inputs():
    c = tm.tensor([1, 2])
    assert c.node is None and not c.requires_grad and c.dtype == np.float64
    leaf = tm.tensor([1.0, 2.0], requires_grad=True)
    assert isinstance(leaf.node, Node) and leaf.node.inputs == () and leaf.op == "leaf"
    assert tm.tensor(np.ones(2, np.float32)).dtype == np.float32


def test_an_op_records_its_primitive_inputs_scope_and_order():
    x = tm.tensor([1.0, 2.0], requires_grad=True)
    with tm.name_scope("outer"), tm.name_scope("inner"):
        y = tm.sin(x) * 2.0
    node = y.node
    assert node.op == "multiply" and node.inputs[1] is None  # 2.0 is a constant
    assert node.inputs[0].op == "sin" and node.inputs[0].inputs == (x.node,)
    assert node.scope == "outer/inner" and node.order == 0 and node.rule_of is None
    assert recording.scope == ""  # restored


def test_a_later_node_has_a_larger_creation_number():
    x = tm.tensor(1.0, requires_grad=True)
    a = tm.sin(x)
    b = tm.cos(a)
    assert x.node.seq < a.node.seq < b.node.seq


def test_data_is_read_only_even_through_a_view():
    t = tm.tensor([1.0, 2.0])
    with pytest.raises(ValueError, match="read-only"):
        t.data[0] = 5.0
    d = t.data
    with pytest.raises(ValueError):
        d.flags.writeable = True
    n = t.numpy()
    n[0] = 5.0  # a writable copy
    assert t.data[0] == 1.0


def test_the_graph_does_not_see_a_writable_base_change():
    base = np.array([1.0, 2.0])
    view = base[:]
    t = tm.tensor(view)
    base[:] = 9.0
    np.testing.assert_array_equal(t.data, [1.0, 2.0])


def test_only_a_leaf_has_a_gradient_slot():
    with pytest.raises(AttributeError, match="only a tensor that requires grad"):
        tm.tensor(1.0).grad = tm.tensor(0.0)
    x = tm.tensor(1.0, requires_grad=True)
    assert x.grad is None
    (x * x).backward()
    assert float(x.grad) == 2.0


def test_names_live_on_the_node():
    x = tm.Tensor(1.0, requires_grad=True, name="theta")
    assert x.name == "theta" and x.node.name == "theta"
    assert tm.Tensor(1.0, name="ignored").name is None  # a constant has no node to label


def test_comparisons_give_constant_bool_tensors():
    x = tm.tensor([1.0, -1.0], requires_grad=True)
    mask = x > 0
    assert mask.dtype == bool and mask.node is None
    np.testing.assert_array_equal(mask.data, [True, False])
    np.testing.assert_array_equal((x == np.array([1.0, 0.0])).data, [True, False])


def test_python_conversions():
    assert float(tm.tensor(2.5)) == 2.5 and int(tm.tensor(3.0)) == 3
    assert bool(tm.tensor(1.0)) and len(tm.tensor([1.0, 2.0])) == 2
    with pytest.raises(ValueError, match="ambiguous"):
        bool(tm.tensor([1.0, 2.0]))
    with pytest.raises(TypeError, match="0-d"):
        len(tm.tensor(1.0))
    with pytest.raises(ValueError, match="one element"):
        tm.tensor([1.0, 2.0]).item()


@pytest.mark.parametrize("data, match", [
    ("abc", "cannot make a tensor from str"), (None, "cannot make a tensor from NoneType"),
    ([1 + 2j], "complex"), ([[1.0], [2.0, 3.0]], "cannot make a numeric array"),
])
def test_bad_data_is_refused(data, match):
    with pytest.raises(TypeError, match=match):
        tm.tensor(data)


def test_an_unsaved_value_knows_only_its_shape_and_dtype():
    u = Unsaved((2, 3), np.float32)
    assert u.shape == (2, 3) and u.ndim == 2 and u.size == 6 and u.dtype == np.float32
    assert "Unsaved((2, 3)" in repr(u)


def test_repr():
    assert repr(tm.tensor(1.5)) == "tensor(1.5)"
    assert repr(tm.tensor(1.5, requires_grad=True)) == "tensor(1.5, requires_grad=True)"
    assert "op='sin'" in repr(tm.sin(tm.tensor(0.5, requires_grad=True)))
    assert "dtype=float32" in repr(tm.tensor(np.float32(1.0)))


def test_a_node_is_the_unsaved_of_its_own_value():
    x = tm.tensor(np.ones((2, 3), np.float32), requires_grad=True)
    node = (x + 1.0).node  # add's rules read shapes only: nothing is kept
    assert isinstance(node, Unsaved) and node.shape == (2, 3) and node.dtype == np.float32
    assert node.ans is None and node.saved[0] is x.node
    with pytest.raises(TypeError, match="did not save"):
        np.asarray(node)  # a rule reading its numbers fails, instead of a wrong number


def test_recording_switches_are_restored_after_a_block_an_error_and_a_decorated_call():
    with tm.no_grad():
        assert not recording.enabled
        with tm.no_grad():
            assert not recording.enabled
        assert not recording.enabled
    assert recording.enabled
    with pytest.raises(ZeroDivisionError), recording.set(scope="s", order=2):
        raise ZeroDivisionError
    assert recording.scope == "" and recording.order == 0

    @tm.no_grad()
    def f(depth):
        assert not recording.enabled
        return f(depth - 1) if depth else tm.tensor(1.0, requires_grad=True) * 2.0

    assert f(2).node is None and recording.enabled  # re-entered, then restored
    with pytest.raises(AttributeError):
        recording.enabeld = False  # a misspelt switch is an error, not a new switch


def test_a_name_scope_joins_the_scope_current_when_it_is_entered():
    @tm.name_scope("layer")
    def layer(x):
        return x * 2.0

    x = tm.tensor(1.0, requires_grad=True)
    with tm.name_scope("model"):
        assert layer(x).node.scope == "model/layer"
    assert layer(x).node.scope == "layer" and recording.scope == ""
