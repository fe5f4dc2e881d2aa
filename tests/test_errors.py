"""Every user error has a clear message: the op, the shapes/dtypes involved and the rule.

Messages are matched on their content (op name, both shapes, the rule that
was broken), and errors must surface at the user's call rather than from
deep inside numpy.
"""

from __future__ import annotations

import os
import re
import warnings

import numpy as np
import pytest

import tinymeta as tm

BINARY_OPS = ["add", "subtract", "multiply", "divide", "power", "maximum", "minimum"]
OPERATORS = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
             "/": lambda a, b: a / b, "**": lambda a, b: a ** b}
OPERATOR_OPS = {"+": "add", "-": "subtract", "*": "multiply", "/": "divide", "**": "power"}
NUMPY_DIR = os.path.dirname(np.__file__)


def assert_raised_here(excinfo: pytest.ExceptionInfo) -> None:
    """The error is not a numpy traceback: no numpy frame, no chained numpy error."""
    frames = [entry.path for entry in excinfo.traceback]
    assert not any(str(path).startswith(NUMPY_DIR) for path in frames), frames
    error = excinfo.value
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)


def contains_all(message: str, *parts: str) -> None:
    for part in parts:
        assert part in message, f"{part!r} not in {message!r}"


# ---------------------------------------------------------------- broadcasting
SHAPE_PAIRS = [((2, 3), (4,)), ((3,), (2, 2)), ((2, 3, 4), (3, 1, 5))]


@pytest.mark.parametrize("a,b", SHAPE_PAIRS, ids=str)
@pytest.mark.parametrize("name", BINARY_OPS)
def test_binary_shape_mismatch_names_op_shapes_and_rule(name, a, b):
    x, y = tm.tensor(np.ones(a)), tm.tensor(np.ones(b))
    with pytest.raises(ValueError) as excinfo:
        getattr(tm, name)(x, y)
    contains_all(str(excinfo.value), name, str(a), str(b), "broadcast", "equal or 1")
    assert_raised_here(excinfo)


@pytest.mark.parametrize("symbol", sorted(OPERATORS))
def test_operator_shape_mismatch_names_the_op(symbol):
    x, y = tm.tensor(np.ones((2, 3)), requires_grad=True), np.ones(4)
    with pytest.raises(ValueError) as excinfo:
        OPERATORS[symbol](x, y)
    contains_all(str(excinfo.value), OPERATOR_OPS[symbol], "(2, 3)", "(4,)", "equal or 1")
    assert_raised_here(excinfo)


def test_where_shape_mismatch_names_all_three_shapes():
    with pytest.raises(ValueError) as excinfo:
        tm.where(np.ones((2, 3), dtype=bool), np.ones((2, 3)), np.ones(4))
    contains_all(str(excinfo.value), "where", "(2, 3)", "(4,)", "equal or 1")
    assert_raised_here(excinfo)


def test_where_needs_a_bool_condition():
    with pytest.raises(TypeError, match=r"where: condition must be a bool array.*float64"):
        tm.where(np.ones(3), 1.0, 0.0)


def test_shape_mismatch_inside_a_gradient_is_raised_at_the_op():
    with pytest.raises(ValueError, match=r"multiply: shapes \(3,\) and \(2,\)"):
        tm.grad(lambda x: tm.sum(x * np.ones(2)))(np.ones(3))


# ---------------------------------------------------------------- matmul
@pytest.mark.parametrize(
    "a,b,parts",
    [
        ((2, 3), (4, 5), ["(3)", "(4)", "last axis of the first", "second-to-last"]),
        ((3,), (4,), ["(3)", "(4)", "only axis of the second"]),
        ((2, 3), (2,), ["(3)", "(2)"]),
        ((5, 2, 3), (4, 3, 2), ["batch axes", "(5,)", "(4,)", "equal or 1"]),
        ((3,), (), ["scalar", "multiply"]),
    ],
    ids=str,
)
def test_matmul_shape_errors(a, b, parts):
    with pytest.raises(ValueError) as excinfo:
        tm.matmul(tm.tensor(np.ones(a)), tm.tensor(np.ones(b)))
    contains_all(str(excinfo.value), "matmul", str(a), str(b), *parts)
    assert_raised_here(excinfo)


@pytest.mark.parametrize("x, w, b, parts", [
    ((3,), (3, 4), (4,), ["at least 2", "(1, in)"]),
    ((5, 3), (3, 4), (3,), ["ending in w's out size 4"]),
    ((5, 3), (4,), (4,), ["w (..., in, out)"]),
    ((5, 3), (2, 4), (4,), ["is not defined", "(..., N, in)"]),
    ((2, 5, 3), (3, 3, 4), (4,), ["is not defined", "broadcast"]),
])
def test_linear_shape_errors(x, w, b, parts):
    with pytest.raises(ValueError) as excinfo:
        tm.linear(np.ones(x), np.ones(w), np.ones(b))
    contains_all(str(excinfo.value), "linear", str(x), str(w), str(b), *parts)


def test_matmul_operator_error():
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3\) and \(2, 3\) do not align"):
        tm.tensor(np.ones((2, 3))) @ np.ones((2, 3))


def test_dot_and_vdot_errors():
    with pytest.raises(ValueError, match=r"vdot: shapes \(2, 3\) and \(3,\) must be equal"):
        tm.vdot(np.ones((2, 3)), np.ones(3))
    with pytest.raises(ValueError, match=r"dot: .*\(2, 2, 2\).*\(3,\)"):
        tm.dot(np.ones((2, 2, 2)), np.ones(3))


# ---------------------------------------------------------------- gradient of a non-scalar
def test_grad_of_non_scalar_output_points_to_jacobian_and_vjp():
    with pytest.raises(TypeError) as excinfo:
        tm.grad(lambda x: x * 2.0)(np.ones(3))
    contains_all(str(excinfo.value), "grad", "scalar", "(3,)", "jacobian", "vjp")


def test_value_and_grad_of_non_scalar_output():
    with pytest.raises(TypeError, match=r"value_and_grad.*scalar.*\(2, 2\).*jacobian"):
        tm.value_and_grad(lambda x: x)(np.ones((2, 2)))


def test_grad_of_a_tuple_output_mentions_has_aux():
    with pytest.raises(TypeError, match="has_aux=True"):
        tm.grad(lambda x: (x, x))(1.0)
    with pytest.raises(TypeError, match=r"has_aux=True the function must return a pair"):
        tm.grad(lambda x: x, has_aux=True)(1.0)


def test_backward_of_non_scalar_needs_a_seed():
    y = tm.tensor(np.ones(3), requires_grad=True) * 2.0
    with pytest.raises(TypeError, match=r"backward: the output has shape \(3,\); pass gradient="):
        y.backward()
    with pytest.raises(ValueError, match=r"backward: the cotangent has shape \(2,\).*\(3,\)"):
        y.backward(gradient=np.ones(2))


def test_vjp_cotangent_shape_and_structure_errors():
    _, pullback = tm.vjp(lambda x: x * 2.0, np.ones(3))
    with pytest.raises(ValueError, match=r"vjp: the cotangent has shape \(2,\).*\(3,\)"):
        pullback(np.ones(2))
    with pytest.raises(ValueError, match="vjp: the cotangent must have the same tree structure"):
        pullback([np.ones(3)])
    with pytest.raises(TypeError, match="vjp: pass the arguments"):
        tm.vjp(lambda x: x)


# ---------------------------------------------------------------- what can be differentiated
@pytest.mark.parametrize(
    "value,parts",
    [
        (3, ["int", "3", "write 3.0 rather than 3"]),
        (True, ["bool", "True"]),
        ("abc", ["str", "'abc'"]),
        (None, ["NoneType", "None"]),
        (np.array([1, 2]), ["numpy array of dtype int64"]),
        (np.array([True]), ["numpy array of dtype bool"]),
        (tm.tensor(np.array([1, 2]), dtype=np.int64), ["tensor of dtype int64"]),
    ],
    ids=["int", "bool", "str", "None", "int array", "bool array", "int tensor"],
)
def test_differentiating_with_respect_to_a_non_float_names_the_type(value, parts):
    with pytest.raises(TypeError) as excinfo:
        tm.grad(lambda x: x)(value)
    contains_all(str(excinfo.value), "grad", "cannot differentiate", "argument 0", *parts)


def test_non_float_leaf_of_a_tree_is_named_by_its_path():
    with pytest.raises(TypeError, match=r"argument 1\['b'\], which is int 2"):
        tm.grad(lambda a, p: a * p["a"], argnums=1)(1.0, {"a": 1.0, "b": 2})


@pytest.mark.parametrize("transform", ["value_and_grad", "jacobian", "hessian"])
def test_other_transforms_reject_non_floats_naming_themselves(transform):
    # the caller's transform and argument number, not those of an internal helper
    with pytest.raises(TypeError, match=rf"^{transform}: cannot differentiate with respect to "
                                        r"argument 1, which is int 3"):
        getattr(tm, transform)(lambda a, b: a * b, argnums=1)(1.0, 3)


def test_vjp_rejects_non_tensor_outputs():
    with pytest.raises(TypeError, match="vjp: the function must return tensors, got str"):
        tm.vjp(lambda x: "no", 1.0)
    with pytest.raises(TypeError, match="jacobian: the function must return tensors"):
        tm.jacobian(lambda x: [x, 3.0])(1.0)


def test_requires_grad_needs_a_float_dtype():
    with pytest.raises(TypeError, match="requires_grad=True needs a floating dtype, got int64"):
        tm.tensor(np.array([1, 2]), requires_grad=True, dtype=np.int64)


def test_tensor_from_unsupported_data():
    for bad in ("abc", None, [1, "x"], {"a": 1}):
        with pytest.raises(TypeError, match="tensor: "):
            tm.tensor(bad)


def test_grad_of_a_non_function():
    with pytest.raises(TypeError, match="grad: expected a function to differentiate, got int"):
        tm.grad(3)


# ---------------------------------------------------------------- independent outputs
def test_output_independent_of_input_gives_zeros_and_a_warning():
    with pytest.warns(tm.IndependentOutputWarning,
                      match="does not depend on differentiated argument 0") as record:
        g = tm.grad(lambda x: tm.tensor(5.0) * 2.0)(np.ones((2, 3)))
    assert isinstance(g, tm.Tensor)
    assert g.shape == (2, 3) and g.dtype == np.float64
    np.testing.assert_array_equal(g.data, 0.0)
    assert record[0].filename == __file__  # points at the user's call, not the engine


def test_value_and_grad_warning_points_at_the_caller():
    with pytest.warns(tm.IndependentOutputWarning) as record:
        value, g = tm.value_and_grad(lambda x: 7.0)(np.float32(1.0))
    assert float(value) == 7.0
    assert g.dtype == np.float32 and float(g) == 0.0
    assert record[0].filename == __file__


def test_only_the_independent_argument_warns():
    with pytest.warns(tm.IndependentOutputWarning, match="argument 1") as record:
        ga, gb = tm.grad(lambda a, b: a * 3.0, argnums=(0, 1))(2.0, np.ones(2))
    assert len(record) == 1
    assert float(ga) == 3.0
    np.testing.assert_array_equal(gb.data, [0.0, 0.0])


def test_dependence_through_stop_gradient_only_counts_as_independent():
    with pytest.warns(tm.IndependentOutputWarning):
        g = tm.grad(lambda x: tm.stop_gradient(x) * 2.0)(1.5)
    assert float(g) == 0.0


def test_a_dependent_output_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tm.grad(lambda x: x * 0.0)(1.0)  # depends on x, even though the slope is 0


# ---------------------------------------------------------------- read-only data
def test_writing_into_tensor_data_raises():
    t = tm.tensor([1.0, 2.0])
    with pytest.raises(ValueError, match="read-only"):
        t.data[0] = 5.0
    with pytest.raises(ValueError, match="read-only"):
        t.data[...] = 0.0
    with pytest.raises(ValueError, match="read-only"):
        np.add(t.data, 1.0, out=t.data)
    np.testing.assert_array_equal(t.data, [1.0, 2.0])


@pytest.mark.parametrize("make", [
    lambda x: tm.sin(x),
    lambda x: x * 2.0,
    lambda x: tm.reshape(x, (3, 1)),
    lambda x: x[1:],
    lambda x: tm.stop_gradient(tm.sin(x)),
    lambda x: tm.grad(lambda v: tm.sum(v ** 2))(x),
    lambda x: tm.grad(lambda v: tm.sum(v))(x),
], ids=["op", "operator", "reshape view", "slice view", "stop_gradient", "gradient",
        "gradient of sum"])
def test_op_outputs_and_gradients_are_read_only(make):
    out = make(tm.tensor([1.0, 2.0, 3.0], requires_grad=True))
    for array in (out.data, np.asarray(tm.stop_gradient(out))):
        with pytest.raises(ValueError, match="read-only"):
            array[0] = 99.0


def test_recorded_graph_cannot_be_corrupted_through_data():
    x = tm.tensor([1.0, 2.0], requires_grad=True)
    y = x * x
    with pytest.raises(ValueError):
        x.data[0] = 100.0
    tm.sum(y).backward()
    np.testing.assert_array_equal(x.grad.data, [2.0, 4.0])


def test_tensor_copies_its_input_and_numpy_returns_a_writable_copy():
    a = np.array([1.0, 2.0])
    t = tm.tensor(a)
    a[0] = 50.0
    assert a.flags.writeable  # the caller's array is untouched
    np.testing.assert_array_equal(t.data, [1.0, 2.0])
    c = t.numpy()
    c[0] = 7.0
    np.testing.assert_array_equal(t.data, [1.0, 2.0])


def test_gradient_does_not_alias_the_callers_cotangent():
    _, pullback = tm.vjp(lambda x: x + 1.0, np.ones(3))
    u = np.ones(3)
    (g,) = pullback(u)
    np.testing.assert_array_equal(g.data, 1.0)
    u[0] = 5.0  # the caller's cotangent stays writable, and the gradient does not change
    np.testing.assert_array_equal(g.data, 1.0)
    x = tm.tensor(np.ones(2), requires_grad=True)
    seed = np.array([2.0, 3.0])
    x.backward(gradient=seed)
    seed[0] = -1.0
    np.testing.assert_array_equal(x.grad.data, [2.0, 3.0])


# ---------------------------------------------------------------- argnums
@pytest.mark.parametrize("argnums", [2, -3, (0, 2), (5,)], ids=str)
@pytest.mark.parametrize("transform", ["grad", "value_and_grad", "jacobian"])
def test_argnums_out_of_range(transform, argnums):
    with pytest.raises(ValueError) as excinfo:
        getattr(tm, transform)(lambda a, b: a * b, argnums=argnums)(1.0, 2.0)
    contains_all(str(excinfo.value), transform, f"argnums={argnums!r}", "out of range",
                 "2 positional arguments", "valid: 0..1")


def test_argnums_with_no_arguments():
    with pytest.raises(ValueError, match="called with no arguments"):
        tm.grad(lambda: 1.0)()


@pytest.mark.parametrize("argnums", [[0], "0", 1.0, True, (), (0, "1"), None], ids=repr)
def test_argnums_of_the_wrong_type(argnums):
    pattern = r"grad: argnums must be an int or a non-empty tuple of ints, got "
    with pytest.raises(TypeError, match=pattern + re.escape(repr(argnums))):
        tm.grad(lambda x: x, argnums=argnums)(1.0)


# ---------------------------------------------------------------- other shape errors
def test_mse_loss_shape_mismatch():
    with pytest.raises(ValueError) as excinfo:
        tm.mse_loss(np.ones((10, 1)), np.ones(10))
    contains_all(str(excinfo.value), "mse_loss", "(10, 1)", "(10,)", "must match exactly")


@pytest.mark.parametrize(
    "logits,labels,pattern",
    [
        (np.ones(3), np.array([0]), r"logits must have shape \(N, C\), got \(3,\)"),
        (np.ones((2, 3)), np.array([0, 3]), r"labels must lie in \[0, 2\], got range \[0, 3\]"),
        (np.ones((2, 3)), np.array([-1, 0]), r"labels must lie in \[0, 2\]"),
        (np.ones((2, 3)), np.array([0, 1, 1]), r"integer labels must have shape \(2,\), got \(3,"),
        (np.ones((2, 3)), np.ones((2, 2)),
         r"labels must be integer class indices of shape \(2,\) or probabilities of shape "
         r"\(2, 3\), got \(2, 2\)"),
    ],
    ids=["1-d logits", "label too big", "negative label", "label count", "probability shape"],
)
def test_cross_entropy_errors(logits, labels, pattern):
    with pytest.raises(ValueError, match="cross_entropy: " + pattern):
        tm.cross_entropy(logits, labels)


def test_reshape_size_mismatch():
    with pytest.raises(ValueError) as excinfo:
        tm.reshape(tm.tensor(np.ones((2, 3))), (4, 2))
    contains_all(str(excinfo.value), "reshape", "(2, 3)", "size 6", "(4, 2)", "sizes must match")
    assert_raised_here(excinfo)
    with pytest.raises(TypeError, match="reshape: shape must be an int or a tuple of ints"):
        tm.reshape(np.ones(3), "abc")


@pytest.mark.parametrize("name", ["sum", "mean", "max", "min", "logsumexp"])
def test_reduction_axis_out_of_range(name):
    fn = getattr(tm, name)
    x = tm.tensor(np.ones((2, 3)))
    with pytest.raises(ValueError, match=rf"{name}: axis 2 is out of range for an array with 2 "
                                         r"dimensions \(valid: -2..1\)"):
        fn(x, axis=2)
    with pytest.raises(ValueError, match=rf"{name}: axis -3 is out of range"):
        fn(x, axis=(0, -3))
    with pytest.raises(ValueError, match=rf"{name}: repeated axis in \(1, -1\)"):
        fn(x, axis=(1, -1))
    with pytest.raises(ValueError, match=rf"{name}: axis 0 is out of range for a 0-d array"):
        fn(tm.tensor(1.0), axis=0)


@pytest.mark.parametrize("axis", [1.0, True, "1", (1.0,), (True,), (0, None)], ids=repr)
def test_reduction_axis_of_the_wrong_type(axis):
    x = tm.tensor(np.ones((2, 3)))
    tm.sum(x, axis=1)  # a valid call first: a cached int axis must not let 1.0 or True through
    with pytest.raises(TypeError, match="sum: axis must be None, an int or a tuple of ints"):
        tm.sum(x, axis=axis)


def test_softmax_axis_out_of_range():
    with pytest.raises(ValueError, match="logsumexp: axis 1 is out of range"):
        tm.softmax(np.ones(3), axis=1)


def test_reduction_of_an_empty_axis():
    with pytest.raises(ValueError, match=r"max: cannot reduce shape \(0, 3\) over axes \(0,\)"):
        tm.max(np.ones((0, 3)), axis=0)


@pytest.mark.parametrize(
    "call,error,pattern",
    [
        (lambda: tm.broadcast_to(np.ones(3), (2, 4)), ValueError,
         r"broadcast_to: cannot broadcast shape \(3,\).*to shape \(2, 4\).*equal or 1"),
        (lambda: tm.transpose(np.ones((2, 3)), (0, 0)), ValueError,
         r"transpose: axes \(0, 0\) are not a permutation of the 2 axes"),
        (lambda: tm.swapaxes(np.ones((2, 3)), 0, 2), ValueError,
         "swapaxes: axis 2 is out of range"),
        (lambda: tm.getitem(np.ones((2, 3)), 5), IndexError,
         r"getitem: index 5 is invalid for shape \(2, 3\)"),
        (lambda: tm.tensor(np.ones((2, 3)))[0, 0, 0], IndexError, "getitem: index"),
        (lambda: tm.concatenate([np.ones((2, 3)), np.ones((2, 2))]), ValueError,
         r"concatenate: cannot join shapes \(2, 3\), \(2, 2\) along axis 0"),
        (lambda: tm.stack([np.ones((2, 3)), np.ones((2, 2))]), ValueError,
         r"stack: cannot join shapes \(2, 3\), \(2, 2\).*same shape"),
        (lambda: tm.concatenate([]), ValueError, "concatenate: need at least one array"),
        (lambda: tm.stack(np.ones((2, 3))), TypeError, "stack: expected a list or tuple"),
        (lambda: tm.expand_dims(np.ones((2, 3)), 5), ValueError,
         r"expand_dims: axis 5 out of range for shape \(2, 3\)"),
        (lambda: tm.squeeze(np.ones((2, 3)), 0), ValueError,
         r"squeeze: axis 0 of shape \(2, 3\) has size 2, not 1"),
        (lambda: tm.sum_to_shape(np.ones((2, 3)), shape=(4,)), ValueError,
         r"sum_to_shape: cannot sum shape \(2, 3\).*down to shape \(4,\)"),
        (lambda: tm.hvp(lambda x: tm.sum(x), np.ones(3), np.ones(2)), ValueError,
         r"hvp: v must have the structure and shapes of x"),
        (lambda: tm.tensor(np.ones(3)).item(), ValueError,
         r"item: only a tensor with one element.*\(3,\)"),
        (lambda: bool(tm.tensor(np.ones(3))), ValueError, r"truth value of a tensor of shape"),
        (lambda: len(tm.tensor(1.0)), TypeError, "len\\(\\) of a 0-d tensor"),
    ],
    ids=["broadcast_to", "transpose", "swapaxes", "getitem", "too many indices", "concatenate",
         "stack", "empty concatenate", "stack of an array", "expand_dims", "squeeze",
         "sum_to_shape", "hvp", "item", "bool", "len"],
)
def test_shape_op_errors(call, error, pattern):
    with pytest.raises(error, match=pattern) as excinfo:
        call()
    assert_raised_here(excinfo)


def test_name_scope_needs_a_name():
    with pytest.raises(TypeError, match="name_scope: name must be a non-empty str"):
        with tm.name_scope(""):
            pass


# ---------------------------------------------------------------- debug_nans
def test_debug_nans_names_the_op_in_the_forward_pass():
    with np.errstate(invalid="ignore"), tm.debug_nans():
        with pytest.raises(FloatingPointError) as excinfo:
            tm.log(tm.tensor(-1.0))
    contains_all(str(excinfo.value), "log", "nan", "forward pass", "debug_nans")


def test_debug_nans_catches_inf_in_a_backward_pass():
    with np.errstate(divide="ignore", invalid="ignore"), tm.debug_nans():
        with pytest.raises(FloatingPointError, match="inf in a backward pass"):
            tm.grad(tm.sqrt)(0.0)  # d sqrt(x)/dx = 1 / (2 sqrt x) = inf at 0
        with pytest.raises(FloatingPointError, match="(nan|inf) in a backward pass"):
            tm.grad(tm.grad(lambda x: tm.sqrt(x) * x))(0.0)  # recorded: inf · 0


def test_debug_nans_is_off_by_default_and_restored():
    with np.errstate(invalid="ignore", divide="ignore"):
        assert np.isnan(float(tm.log(tm.tensor(-1.0))))
        with pytest.raises(FloatingPointError), tm.debug_nans():
            tm.sqrt(tm.tensor(-1.0))
        assert np.isnan(float(tm.sqrt(tm.tensor(-1.0))))
        assert float(tm.grad(tm.sqrt)(0.0)) == np.inf


def test_tensor_data_cannot_be_made_writable_again():
    t = tm.tensor([1.0, 2.0])
    with pytest.raises(ValueError):
        t.data.flags.writeable = True
    with pytest.raises(ValueError):
        t.data[0] = 3.0
