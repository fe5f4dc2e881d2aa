"""Piecewise functions: rounding, remainders, clipping, replacing non-finite values.

These are flat or linear between jumps and kinks, so their rules are constants
read off the values, the way ``relu``'s mask is:

- ``floor``, ``ceil``, ``rint`` and ``round`` are flat between their jumps: their
  derivative is 0 wherever it exists, and tinymeta uses 0 at the jumps as well
  (the rule is ``g * 0``). Nothing flows back through them.
- ``mod(x, y) = x - floor(x / y) * y`` is x minus a piecewise-constant multiple of y,
  so its derivatives are 1 for x and ``-floor(x / y)`` for y. The quotient is a
  constant computed from the numbers by ``np.floor_divide``, the function that numpy
  pairs with ``np.mod`` (``x == floor_divide(x, y) * y + mod(x, y)``), so the rule
  always agrees with the value. ``fmod`` is the same with the quotient truncated
  toward 0. Being constants, the quotients make every second derivative 0, which is
  exact between the jumps. They are computed by primitives without rules, as
  comparisons are, so that ``tm.jit`` records them: a program computes them afresh
  from each call's numbers instead of keeping the first call's.
- ``clip`` is ``minimum(maximum(x, a_min), a_max)``, exactly as numpy defines it, so
  it is written as that composition and inherits their rules: x gets the cotangent
  where it lies strictly inside the bounds, a bound gets it where it binds, and a
  tie (x equal to a bound) splits it evenly, as ``maximum`` does.
- ``nan_to_num`` is the identity where x is finite and a constant elsewhere; its rule
  multiplies by the (recorded) mask ``isfinite(x)``.

Binary rules end with ``unbroadcast``: an argument that was broadcast up to the
output's shape gets its cotangent summed back down to its shape.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from tinymeta.checks import describe
from tinymeta.ops._export import export
from tinymeta.ops._util import BROADCAST_RULE, dtype_of, explain_broadcast, shape_of
from tinymeta.ops.elementwise import maximum, minimum, multiply, negative
from tinymeta.ops.shape import _reshape, astype, unbroadcast
from tinymeta.ops.transcendental import _unary
from tinymeta.primitive import Primitive
from tinymeta.tensor import Tensor


# ---------------------------------------------------------------- flat: derivative 0
def _zero_rule(g, ans, x, **params):
    return multiply(g, 0.0)


floor = export(_unary("floor", "0 (also at the integers, where floor jumps)", _zero_rule))
ceil = export(_unary("ceil", "0 (also at the integers, where ceil jumps)", _zero_rule))
rint = export(_unary("rint", "0 (also at the halves, where rint jumps)", _zero_rule,
                     what=" (halves to even)"))


def _explain_round(name, error, args, params):
    return TypeError(f"round: cannot round {describe(args[0])} to {params['decimals']!r} "
                     f"decimals: {error}")


_round = Primitive("round", lambda x, decimals: np.round(x, decimals),
                   _explain_round).defvjp(_zero_rule)


@export
def round(x: Any, decimals: int = 0) -> Tensor:  # noqa: A001  (numpy's name)
    """numpy.round(x, decimals=0): halves to even, ``decimals`` may be negative.

    Derivative 0 (also at the points where the result jumps).
    """
    if not isinstance(decimals, (int, np.integer)) or isinstance(decimals, (bool, np.bool_)):
        raise TypeError(f"round: decimals must be an int (the number of decimal places, "
                        f"negative for tens, hundreds...), got {decimals!r}")
    return _round(x, decimals=int(decimals))


# ---------------------------------------------------------------- remainders
# the quotients: constants (no rules) that tm.jit records
_floor_quotient = Primitive("floor_divide", np.floor_divide).defvjp()  # np.mod's partner
# x1 - fmod(x1, x2) is an exact multiple of x2: rounding the ratio recovers the
# truncated quotient that fmod used, where trunc(x1 / x2) could be off by one
_trunc_quotient = Primitive("trunc_quotient",
                            lambda x1, x2, ans: np.rint((x1 - ans) / x2)).defvjp()


def _divisor_cotangent(g: Any, quotient: Any, x2: Any) -> Any:
    """The divisor's cotangent ``-g * quotient``, with the quotient in g's floating dtype
    (a cast only if it differs: float32 stays float32 without one)."""
    dtype = dtype_of(g) if dtype_of(g) is not None and dtype_of(g).kind == "f" else np.float64
    if quotient.dtype != dtype:
        quotient = astype(quotient, dtype=dtype)
    return unbroadcast(negative(multiply(g, quotient)), shape_of(x2))


mod = export(Primitive(
    "mod", np.mod, explain_broadcast,
    doc="numpy.mod(x1, x2) (also numpy.remainder, Python's %): the remainder with the sign "
        "of x2, broadcasting like numpy. Derivatives 1 for x1 and -floor(x1 / x2) for x2 "
        "(the quotient numpy.floor_divide gives, also at the jumps, where x1 is a multiple "
        "of x2 and the quotient is x1 / x2 itself).",
).defvjp(lambda g, ans, x1, x2: unbroadcast(g, shape_of(x1)),
         lambda g, ans, x1, x2: _divisor_cotangent(g, _floor_quotient(x1, x2), x2)))
remainder = export(mod, "remainder")  # numpy's np.remainder is np.mod itself

fmod = export(Primitive(
    "fmod", np.fmod, explain_broadcast,
    doc="numpy.fmod(x1, x2): the remainder with the sign of x1 (C's fmod), broadcasting "
        "like numpy. Derivatives 1 for x1 and -trunc(x1 / x2) for x2 (also at the jumps, "
        "where x1 is a multiple of x2 and the quotient is x1 / x2 itself).",
).defvjp(lambda g, ans, x1, x2: unbroadcast(g, shape_of(x1)),
         lambda g, ans, x1, x2: _divisor_cotangent(g, _trunc_quotient(x1, x2, ans), x2)))


# ---------------------------------------------------------------- clip
_UNSET: Any = object()


@export
def clip(
    x: Any,
    a_min: Any = None,
    a_max: Any = None,
    *,
    min: Any = _UNSET,  # noqa: A002  (numpy's keyword names, as in ndarray.clip)
    max: Any = _UNSET,  # noqa: A002
) -> Tensor:
    """numpy.clip(x, a_min, a_max): ``minimum(maximum(x, a_min), a_max)``, broadcasting like
    numpy; either bound may be None (no bound) and may be given as ``min=``/``max=``.

    Derivative 1 for x strictly inside the bounds and 0 outside; a bound gets the
    cotangent where it binds (x beyond it); where x equals a bound, x and the bound
    share it evenly (``maximum``'s convention). If a_min > a_max the result is a_max,
    as in numpy.
    """
    if min is not _UNSET:
        if a_min is not None:
            raise TypeError("clip: got both a_min and min; pass the lower bound once")
        a_min = min
    if max is not _UNSET:
        if a_max is not None:
            raise TypeError("clip: got both a_max and max; pass the upper bound once")
        a_max = max
    bounds = [b for b in (a_min, a_max) if b is not None]
    try:
        np.broadcast_shapes(shape_of(x), *(shape_of(b) for b in bounds))
    except ValueError:
        shown = " and ".join(str(shape_of(a)) for a in (x, *bounds))
        raise ValueError(f"clip: shapes {shown} (x and its bounds) are not "
                         f"broadcast-compatible: {BROADCAST_RULE}") from None
    try:
        out = x
        if a_min is not None:
            out = maximum(out, a_min)
        if a_max is not None:
            out = minimum(out, a_max)
    except (TypeError, ValueError) as error:
        raise type(error)(f"clip: invalid arguments (x: {describe(x)}, a_min: "
                          f"{describe(a_min)}, a_max: {describe(a_max)}): {error}") from None
    if out is x:  # no bound at all: numpy 2 returns x unchanged (as a new array)
        out = _reshape(x, shape=shape_of(x))
    return out


# ---------------------------------------------------------------- nan_to_num
def _nan_to_num_forward(x, nan, posinf, neginf):
    return np.nan_to_num(x, nan=nan, posinf=posinf, neginf=neginf)


# a bool mask from a primitive without rules (a constant tm.jit records); g * mask is g
# or 0 in g's own dtype, as relu's g * (ans > 0) is
_finite = Primitive("isfinite", np.isfinite).defvjp()
_nan_to_num = Primitive("nan_to_num", _nan_to_num_forward).defvjp(
    lambda g, ans, x, nan, posinf, neginf: multiply(g, _finite(x)))


def _replacement(value: Any, name: str) -> float | None:
    if value is None and name != "nan":
        return None
    if isinstance(value, Tensor) or not isinstance(value, numbers.Real) or isinstance(
            value, (bool, np.bool_)):
        raise TypeError(f"nan_to_num: {name} must be a real number"
                        f"{'' if name == 'nan' else ' or None'}, got {describe(value)}")
    return float(value)  # a Python float: weak, so float32 stays float32


@export
def nan_to_num(
    x: Any, copy: bool = True, nan: float = 0.0, posinf: float | None = None,
    neginf: float | None = None,
) -> Tensor:
    """numpy.nan_to_num: nan -> ``nan``, +inf -> ``posinf``, -inf -> ``neginf`` (None: the
    largest / most negative finite value of x's dtype).

    Derivative 1 where x is finite and 0 where a value was replaced. ``copy=False``
    (replace in place) is refused: a tensor cannot change, use the returned value.
    """
    if not copy:
        raise ValueError("nan_to_num: copy=False (replace in place) is not supported; "
                         "tinymeta never changes its inputs: use the returned value")
    return _nan_to_num(x, nan=_replacement(nan, "nan"), posinf=_replacement(posinf, "posinf"),
                       neginf=_replacement(neginf, "neginf"))
