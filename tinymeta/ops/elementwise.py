"""Elementwise primitives, each declared with its VJP rules in one statement
(``export`` in it makes the op public: ``tm.exp``).

Read a rule as "the cotangent of x is g times the local derivative", written
with tinymeta ops so it can be differentiated again: ``exp``'s rule
``g * ans`` uses the recorded output tensor, so d²exp = exp falls out. Masks
such as ``ans > 0`` in ``relu`` (its output is positive exactly where its
input is) are constants (their derivative is zero almost everywhere),
computed by rule-less primitives (``positive_mask``, the comparisons), so
that ``tm.jit`` records them too.

Binary rules end with ``unbroadcast``: if x was broadcast up to the output's
shape, its cotangent is summed back down to x's shape.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tinymeta.ops._export import export
from tinymeta.ops._util import dtype_of, explain_broadcast, shape_of, values
from tinymeta.ops.shape import unbroadcast
from tinymeta.primitive import Primitive
from tinymeta.tensor import Tensor


def _data(x: Any) -> Any:
    return np.asarray(values(x))


def _mask(condition: np.ndarray, like: Any) -> np.ndarray:
    """A constant 0/1 array in the dtype of ``like`` (keeps float32 float32)."""
    dtype = dtype_of(like)
    mask = np.asarray(condition).astype(
        dtype if dtype is not None and dtype.kind == "f" else np.float64)
    mask.flags.writeable = False  # ours alone: a recorded graph need not copy it
    return mask


# ---------------------------------------------------------------- comparisons
# Masks are constants (their derivative is zero almost everywhere), but computing them
# with a primitive rather than raw numpy keeps them part of the program tm.jit records.
greater = export(Primitive("greater", np.greater).defvjp())
greater_equal = export(Primitive("greater_equal", np.greater_equal).defvjp())
less = export(Primitive("less", np.less).defvjp())
less_equal = export(Primitive("less_equal", np.less_equal).defvjp())
equal = export(Primitive("equal", np.equal).defvjp())
not_equal = export(Primitive("not_equal", np.not_equal).defvjp())
positive = Primitive("positive_mask", lambda x: np.greater(x, 0),
                     doc="x > 0, as a constant bool mask (relu's derivative).").defvjp()

# ---------------------------------------------------------------- binary arithmetic
# which values each rule reads (argument positions, "ans"): the graph keeps only those
add = export(Primitive("add", np.add, explain_broadcast).defvjp(
    lambda g, ans, x, y: unbroadcast(g, shape_of(x)),
    lambda g, ans, x, y: unbroadcast(g, shape_of(y)),
    saves=[(), ()],
))
subtract = export(Primitive("subtract", np.subtract, explain_broadcast).defvjp(
    lambda g, ans, x, y: unbroadcast(g, shape_of(x)),
    lambda g, ans, x, y: unbroadcast(negative(g), shape_of(y)),
    saves=[(), ()],
))
multiply = export(Primitive("multiply", np.multiply, explain_broadcast).defvjp(
    lambda g, ans, x, y: unbroadcast(multiply(g, y), shape_of(x)),
    lambda g, ans, x, y: unbroadcast(multiply(g, x), shape_of(y)),
    saves=[{1}, {0}],
))
divide = export(Primitive("divide", np.divide, explain_broadcast).defvjp(
    lambda g, ans, x, y: unbroadcast(divide(g, y), shape_of(x)),
    lambda g, ans, x, y: unbroadcast(negative(multiply(g, divide(ans, y))), shape_of(y)),
    saves=[{1}, {1, "ans"}],
))
negative = export(Primitive("negative", np.negative).defvjp(lambda g, ans, x: negative(g),
                                                            saves=[()]))


def _power_vjp_base(g, ans, x, y):
    # d x**y / dx = y x**(y-1). For a Python exponent c it is computed in Python, so the
    # rule adds no array that would change numpy's type promotion (float32 ** int64 is
    # float64), and the exact cases are taken exactly: x**0 has derivative 0 (not
    # 0 * 0**-1 = nan at x = 0), x**1 has derivative 1 and x**2 has 2x, as x * x does.
    if isinstance(y, (int, float)) and not isinstance(y, bool):
        if y == 0:
            return unbroadcast(multiply(g, 0.0), shape_of(x))
        if y == 1:
            return unbroadcast(g, shape_of(x))
        local = multiply(x, 2.0) if y == 2 else multiply(power(x, y - 1), y)
        return unbroadcast(multiply(g, local), shape_of(x))
    # where y = 0 the exact derivative is 0, not 0 * x**-1 (nan at x = 0); a recorded
    # mask (equal), not a test on the values, so tm.jit's program is right for any y
    local = where(equal(y, 0), 0.0, multiply(y, power(x, subtract(y, 1.0))))
    return unbroadcast(multiply(g, local), shape_of(x))


def _power_vjp_exponent(g, ans, x, y):
    # d x**y / dy = log(x) x**y; where x <= 0 the log is undefined: use log(1) = 0 there
    if isinstance(x, (int, float)) and not isinstance(x, bool):  # a Python base: stay weak
        return unbroadcast(multiply(g, multiply(ans, math.log(x) if x > 0 else 0.0)),
                           shape_of(y))
    safe_x = where(greater(x, 0), x, 1.0)  # a recorded mask: right under tm.jit too
    return unbroadcast(multiply(g, multiply(log(safe_x), ans)), shape_of(y))


power = export(Primitive("power", np.power, explain_broadcast).defvjp(
    _power_vjp_base, _power_vjp_exponent, saves=[{0, 1}, {0, "ans"}]))


# ---------------------------------------------------------------- selection


def _selector(pick_first: Any, other: bool):
    """VJP of max/min: the winner gets g, a tie splits it evenly (keeps symmetry)."""

    def rule(g, ans, x, y):
        wins = pick_first(x, y) if not other else pick_first(y, x)  # recorded masks
        share = where(wins, g, where(equal(x, y), multiply(g, 0.5), 0.0))
        return unbroadcast(share, shape_of(y if other else x))

    return rule


maximum = export(Primitive("maximum", np.maximum, explain_broadcast).defvjp(
    _selector(greater, False), _selector(greater, True), saves=[{0, 1}, {0, 1}]))
minimum = export(Primitive("minimum", np.minimum, explain_broadcast).defvjp(
    _selector(less, False), _selector(less, True), saves=[{0, 1}, {0, 1}]))


def _explain_where(name, error, args, params):
    return explain_broadcast(name, error, args, params)


_where = Primitive("where", lambda c, x, y: np.where(c, x, y), _explain_where).defvjp(
    None,
    lambda g, ans, c, x, y: unbroadcast(_where(c, g, 0.0), shape_of(x)),
    lambda g, ans, c, x, y: unbroadcast(_where(c, 0.0, g), shape_of(y)),
    saves=[(), {0}, {0}],
)


@export
def where(condition: Any, x: Any, y: Any) -> Tensor:
    """numpy.where(condition, x, y); ``condition`` is a (non-differentiable) bool array."""
    c = condition if isinstance(condition, Tensor) else np.asarray(condition)
    if c.dtype != bool:
        raise TypeError(f"where: condition must be a bool array, got dtype {c.dtype}; "
                        f"compare first, e.g. tm.where(x > 0, x, 0.0)")
    return _where(c, x, y)  # a tensor condition stays one: tm.jit follows it


# ---------------------------------------------------------------- unary
def _sigmoid_forward(x):
    x = np.asarray(x)
    return 0.5 * (np.tanh(0.5 * x) + 1.0)  # stable for large |x|, keeps float32


def _relu_forward(x):
    x = np.asarray(x)
    return np.maximum(x, x.dtype.type(0) if x.dtype.kind == "f" else 0.0)


exp = export(Primitive("exp", np.exp).defvjp(lambda g, ans, x: multiply(g, ans), saves=[{"ans"}]))
log = export(Primitive("log", np.log).defvjp(lambda g, ans, x: divide(g, x), saves=[{0}]))
log1p = export(Primitive("log1p", np.log1p).defvjp(lambda g, ans, x: divide(g, add(x, 1.0)),
                                                   saves=[{0}]))
expm1 = export(Primitive("expm1", np.expm1).defvjp(
    lambda g, ans, x: multiply(g, add(ans, 1.0)), saves=[{"ans"}]))
sin = export(Primitive("sin", np.sin).defvjp(lambda g, ans, x: multiply(g, cos(x)), saves=[{0}]))
cos = export(Primitive("cos", np.cos).defvjp(lambda g, ans, x: negative(multiply(g, sin(x))),
                                             saves=[{0}]))
tanh = export(Primitive("tanh", np.tanh).defvjp(
    lambda g, ans, x: multiply(g, subtract(1.0, square(ans))), saves=[{"ans"}]))
sigmoid = export(Primitive(
    "sigmoid", _sigmoid_forward,
    doc="1 / (1 + exp(-x)), computed stably; derivative ans * (1 - ans).",
).defvjp(lambda g, ans, x: multiply(g, multiply(ans, subtract(1.0, ans))), saves=[{"ans"}]))
# relu's output is positive exactly where its input is, so the rule reads the output:
# the next layer keeps that value anyway, and the layer's input need not be kept
relu = export(Primitive(
    "relu", _relu_forward,
    doc="max(x, 0) elementwise; derivative 1 where x > 0, else 0 (also at 0).",
).defvjp(lambda g, ans, x: multiply(g, positive(ans)), saves=[{"ans"}]))
sqrt = export(Primitive("sqrt", np.sqrt).defvjp(lambda g, ans, x: divide(multiply(g, 0.5), ans),
                                                saves=[{"ans"}]))
square = export(Primitive("square", np.square).defvjp(
    lambda g, ans, x: multiply(g, multiply(2.0, x)), saves=[{0}]))
abs = export(Primitive("abs", np.abs).defvjp(  # noqa: A001  (numpy's name)
    lambda g, ans, x: multiply(g, sign(x)), saves=[{0}]))
sign = export(Primitive("sign", np.sign).defvjp(lambda g, ans, x: multiply(g, 0.0), saves=[()]))
