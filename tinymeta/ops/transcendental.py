"""More smooth elementwise functions: hyperbolic, inverse trigonometric, other bases, and
the two-argument ``arctan2``, ``hypot`` and ``logaddexp``.

Each rule is the textbook derivative written with tinymeta ops, so that its own
derivative is recorded when a backward pass is: ``sinh``'s rule is ``g * cosh(x)``
and ``cosh``'s is ``g * sinh(x)``, so every order of either comes from the two rules
calling each other. ``exp2``'s rule ``g * ans * ln 2`` reuses the recorded output,
as ``exp``'s does. Constants such as ln 2 are Python floats, which numpy treats as
"weak": float32 stays float32 at every order.

The inverse functions divide by a root that vanishes at the edge of their domain:
``arcsin'(x) = 1 / sqrt((1 - x)(1 + x))``, written as a product rather than
``1 - x**2``, which loses its digits to cancellation near ±1 (in float32 at once).
At the edge itself the derivative is infinite, and so is the rule's value.

Binary rules end with ``unbroadcast``, as in ``elementwise``: an argument that was
broadcast up to the output's shape gets its cotangent summed back down to its shape.
``logaddexp``'s partial derivatives are ``exp(x - ans)``, which is ``sigmoid(x - y)``:
written that way they stay in [0, 1] for any inputs, however large.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from tinymeta.ops._export import export
from tinymeta.ops._util import explain_broadcast, shape_of
from tinymeta.ops.elementwise import (
    add,
    divide,
    equal,
    multiply,
    negative,
    sigmoid,
    sqrt,
    square,
    subtract,
    where,
)
from tinymeta.ops.shape import unbroadcast
from tinymeta.primitive import Primitive

_LN2 = math.log(2.0)  # Python floats: weak in numpy's promotion, so float32 stays float32
_LN10 = math.log(10.0)


def _unary(name: str, derivative: str, rule: Callable, what: str = "") -> Primitive:
    """``numpy.<name>`` as a primitive with one VJP ``rule``, its doc "numpy.<name><what>;
    derivative <derivative>." (``rounding`` declares floor, ceil and rint with it too)."""
    doc = f"numpy.{name}{what}; derivative {derivative}."
    return Primitive(name, getattr(np, name), doc=doc).defvjp(rule)


# ---------------------------------------------------------------- hyperbolic
sinh = export(_unary("sinh", "cosh(x)", lambda g, ans, x: multiply(g, cosh(x))))
cosh = export(_unary("cosh", "sinh(x)", lambda g, ans, x: multiply(g, sinh(x))))


# ---------------------------------------------------------------- inverse trigonometric
def _one_minus_square(x: Any) -> Any:
    """1 - x² as (1 - x)(1 + x): no cancellation near ±1."""
    return multiply(subtract(1.0, x), add(1.0, x))


_EDGES = "(infinite at ±1, nan outside [-1, 1])"
arcsin = export(_unary("arcsin", f"1/sqrt(1 - x²) {_EDGES}",
                       lambda g, ans, x: divide(g, sqrt(_one_minus_square(x)))))
arccos = export(_unary("arccos", f"-1/sqrt(1 - x²) {_EDGES}",
                       lambda g, ans, x: negative(divide(g, sqrt(_one_minus_square(x))))))
arctan = export(_unary("arctan", "1/(1 + x²)", lambda g, ans, x: divide(g, add(1.0, square(x)))))


# ---------------------------------------------------------------- inverse hyperbolic
# hypot(x, 1) is sqrt(x² + 1) without overflowing x² for |x| > 1e154
arcsinh = export(_unary("arcsinh", "1/sqrt(1 + x²)", lambda g, ans, x: divide(g, hypot(x, 1.0))))
# x² - 1 as (x - 1)(x + 1): no cancellation near 1
arccosh = export(_unary("arccosh", "1/sqrt(x² - 1) (infinite at 1, nan below 1)",
                        lambda g, ans, x: divide(g, sqrt(multiply(subtract(x, 1.0), add(x, 1.0))))))
arctanh = export(_unary("arctanh", f"1/(1 - x²) {_EDGES}",
                        lambda g, ans, x: divide(g, _one_minus_square(x))))


# ---------------------------------------------------------------- other bases
log2 = export(_unary("log2", "1/(x ln 2)", lambda g, ans, x: divide(g, multiply(x, _LN2))))
log10 = export(_unary("log10", "1/(x ln 10)", lambda g, ans, x: divide(g, multiply(x, _LN10))))
exp2 = export(_unary("exp2", "2**x ln 2", lambda g, ans, x: multiply(g, multiply(ans, _LN2)),
                     what=" (2**x)"))


# ---------------------------------------------------------------- binary
def _binary(name: str, doc: str, *rules: Callable) -> Primitive:
    """``numpy.<name>`` of two arguments, broadcasting, as a primitive with the ``rules``."""
    return Primitive(name, getattr(np, name), explain_broadcast, doc=doc).defvjp(*rules)


def _squared(x: Any) -> Any:
    # a Python number is squared by Python: square(1.7) would be a 0-d float64 array, which
    # (unlike the number) is not weak and would turn a float32 sum into float64
    return x * x if isinstance(x, (int, float)) else square(x)


def _radius_squared(x1: Any, x2: Any) -> Any:
    return add(_squared(x1), _squared(x2))


arctan2 = export(_binary(
    "arctan2",
    "numpy.arctan2(x1, x2): the angle of the point (x2, x1), broadcasting like numpy. "
    "Derivatives x2/(x1² + x2²) and -x1/(x1² + x2²); arctan2 is discontinuous across "
    "x1 = 0, x2 < 0, and its derivative is undefined (nan) at the origin.",
    lambda g, ans, x1, x2: unbroadcast(
        divide(multiply(g, x2), _radius_squared(x1, x2)), shape_of(x1)),
    lambda g, ans, x1, x2: unbroadcast(
        negative(divide(multiply(g, x1), _radius_squared(x1, x2))), shape_of(x2)),
))


def _hypot_rule(argnum: int):
    def rule(g, ans, x1, x2):
        part = x1 if argnum == 0 else x2
        # the origin (x1 = x2 = 0 exactly): divide by 1 instead of 0, then take 0, so that
        # this and every higher derivative is 0 there, not nan. The mask is a recorded
        # primitive (equal), not a test on the values: tm.jit's program is right anywhere
        at_origin = equal(ans, 0.0)
        d = where(at_origin, 0.0, divide(part, where(at_origin, 1.0, ans)))
        return unbroadcast(multiply(g, d), shape_of(part))

    return rule


hypot = export(_binary(
    "hypot",
    "numpy.hypot(x1, x2) = sqrt(x1² + x2²) without overflow, broadcasting like numpy. "
    "Derivatives x1/hypot and x2/hypot; at the origin, a kink like abs's at 0, the "
    "derivative is 0 (a subgradient, as abs's is) at every order.",
    _hypot_rule(0), _hypot_rule(1)))

logaddexp = export(_binary(
    "logaddexp",
    "numpy.logaddexp(x1, x2) = log(exp(x1) + exp(x2)), computed stably, broadcasting "
    "like numpy. Derivatives sigmoid(x1 - x2) and sigmoid(x2 - x1): finite for any "
    "finite inputs.",
    lambda g, ans, x1, x2: unbroadcast(multiply(g, sigmoid(subtract(x1, x2))), shape_of(x1)),
    lambda g, ans, x1, x2: unbroadcast(multiply(g, sigmoid(subtract(x2, x1))), shape_of(x2)),
))
