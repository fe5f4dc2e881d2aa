"""check_grads must catch wrong derivatives, at the order where they go wrong.

Two deliberately broken primitives:

- ``wrong_sin``: sin with the rule g·sin(x) — wrong already at order 1;
- ``frozen_sin``: sin with the rule g·cos(x) computed on the raw numpy value,
  so the rule itself is a constant to the recorder. The first derivative is
  right, but the second comes out as 0 instead of −sin(x).

A failure must name the order and give both numbers (reverse mode and finite
differences); the tests read the numbers back out of the message.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import tinymeta as tm
from tinymeta.primitive import Primitive
from tinymeta.testing import GradientCheckError, check_grads

wrong_sin = Primitive("wrong_sin", np.sin)
wrong_sin.defvjp(lambda g, ans, x: tm.multiply(g, tm.sin(x)))

frozen_sin = Primitive("frozen_sin", np.sin)
# stop_gradient drops the graph: right value, but invisible to a recorded backward pass
frozen_sin.defvjp(lambda g, ans, x: g * np.cos(tm.stop_gradient(x)))

NUMBERS = re.compile(r"reverse mode gives (\S+) but central differences .* give (\S+?) \(")


def reported_numbers(error: GradientCheckError) -> tuple[float, float]:
    match = NUMBERS.search(str(error))
    assert match, f"no numbers in {error}"
    return float(match.group(1)), float(match.group(2))


def test_a_wrong_first_derivative_is_caught_at_order_1():
    x = 0.7
    with pytest.raises(GradientCheckError) as excinfo:
        check_grads(wrong_sin, np.array(x), order=1)
    message = str(excinfo.value)
    assert "order 1" in message and "wrong_sin" in message
    reverse, numeric = reported_numbers(excinfo.value)
    # for a scalar, reverse = u·sin(x)·v and numeric = u·cos(x)·v: their ratio is tan x
    assert reverse / numeric == pytest.approx(np.tan(x), rel=1e-4)


def test_a_wrong_first_derivative_is_caught_on_arrays_too(rng):
    with pytest.raises(GradientCheckError, match="order 1"):
        check_grads(lambda v: tm.sum(wrong_sin(v) ** 2), rng.standard_normal((2, 3)), order=1)


def test_a_rule_that_is_not_differentiable_passes_order_1_and_fails_order_2():
    x = 0.7
    # the first derivative is right ...
    assert float(tm.grad(frozen_sin)(x)) == pytest.approx(np.cos(x), rel=1e-14)
    check_grads(frozen_sin, np.array(x), order=1)
    # ... and the second is not
    with pytest.raises(GradientCheckError) as excinfo:
        check_grads(frozen_sin, np.array(x), order=2)
    message = str(excinfo.value)
    assert "order 2" in message and "frozen_sin" in message
    reverse, numeric = reported_numbers(excinfo.value)
    assert reverse == 0.0  # the frozen rule has no derivative
    assert abs(numeric) > 1e-3  # while finite differences see −u·sin(x)·v


def test_the_same_primitives_with_correct_rules_pass_to_order_3():
    good_sin = Primitive("good_sin", np.sin)
    good_sin.defvjp(lambda g, ans, x: tm.multiply(g, tm.cos(x)))
    check_grads(good_sin, np.array(0.7), order=3)
    check_grads(lambda v: tm.sum(good_sin(v) * v), np.linspace(-1, 1, 5), order=3)


def test_a_wrong_rule_for_one_argument_of_several_is_caught():
    bad_mul = Primitive("bad_mul", np.multiply)
    bad_mul.defvjp(lambda g, ans, x, y: tm.multiply(g, y), lambda g, ans, x, y: g)  # dy wrong
    check_grads(lambda a: bad_mul(a, 3.0), np.array(2.0), order=2)  # only x: fine
    with pytest.raises(GradientCheckError, match="order 1"):
        check_grads(bad_mul, (np.array(2.0), np.array(3.0)), order=1)


def test_check_grads_accepts_trees_and_several_arguments(rng):
    params = {"w": rng.standard_normal((2, 3)), "b": [rng.standard_normal(2)]}
    x = rng.standard_normal(3)
    check_grads(lambda p, v: tm.sum(tm.tanh(p["w"] @ v + p["b"][0])), (params, x), order=2)
    check_grads(lambda v: {"a": tm.sin(v), "b": [v * v]}, rng.standard_normal(3), order=2)


def test_tolerances_are_looser_for_float32(rng):
    x = rng.standard_normal(4).astype(np.float32)
    check_grads(lambda v: tm.sum(tm.tanh(v) ** 3), x, order=2)
    with pytest.raises(GradientCheckError):  # float32 tolerances do not hide a wrong rule
        check_grads(wrong_sin, x, order=1)


def test_order_must_be_positive():
    with pytest.raises(ValueError, match="order must be >= 1"):
        check_grads(tm.sin, np.array(1.0), order=0)


def test_gradient_check_error_is_an_assertion_error():
    assert issubclass(GradientCheckError, AssertionError)


def test_the_direction_is_seeded():
    messages = []
    for _ in range(2):
        with pytest.raises(GradientCheckError) as excinfo:
            check_grads(wrong_sin, np.linspace(0.1, 1.0, 4), order=1, seed=3)
        messages.append(str(excinfo.value))
    assert messages[0] == messages[1]
