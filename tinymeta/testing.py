"""check_grads: compare reverse-mode derivatives with central finite differences.

For a function f and a point x, pick a random direction v (shaped like x) and
a random cotangent u (shaped like f(x)). Reverse mode gives ⟨vjp(u), v⟩; central
differences give ⟨u, (f(x + εv) − f(x − εv)) / 2ε⟩. They must agree.

Higher orders reuse the same test on a new function: the order-2 check runs
the order-1 check on x ↦ vjp_f(x)(u), which is itself computed by tinymeta and
so must be differentiable. Order n therefore checks the (n−1)-times recorded
backward pass of every op involved.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tinymeta.autodiff import vjp
from tinymeta.tensor import Tensor
from tinymeta.tree import flatten, unflatten

__all__ = ["check_grads", "GradientCheckError"]


class GradientCheckError(AssertionError):
    """Reverse-mode and finite-difference derivatives disagree."""


def _as_float_array(x: Any) -> np.ndarray:
    a = np.asarray(x._value if isinstance(x, Tensor) else x)
    return a if a.dtype.kind == "f" else a.astype(np.float64)


def _leaves_f(x: Any) -> list[np.ndarray]:
    return [_as_float_array(leaf) for leaf in flatten(x)[0]]


def _inner(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    return float(sum(np.vdot(np.asarray(x, np.float64), np.asarray(y, np.float64))
                     for x, y in zip(a, b, strict=True)))


def _defaults(dtype: np.dtype) -> tuple[float, float, float]:
    if dtype == np.float32:
        return 1e-2, 2e-2, 2e-2  # eps, rtol, atol
    return 1e-6, 1e-5, 1e-6


def check_grads(
    f: Callable,
    args: Any,
    order: int = 2,
    eps: float | None = None,
    rtol: float | None = None,
    atol: float | None = None,
    seed: int = 0,
) -> None:
    """Check f's VJPs against central finite differences up to ``order``.

    ``args`` is one argument or a tuple of arguments (each may be a tree);
    all are differentiated. Raises ``GradientCheckError`` naming the order,
    the direction and the two numbers on a mismatch. Tolerances default to
    float64 or float32 values according to the arguments' dtype.
    """
    if not isinstance(args, tuple):
        args = (args,)
    if order < 1:
        raise ValueError(f"check_grads: order must be >= 1, got {order}")
    dtypes = {a.dtype for a in (_leaves_f(args))}
    d_eps, d_rtol, d_atol = _defaults(np.float32 if np.dtype(np.float32) in dtypes
                                      else np.float64)
    eps = d_eps if eps is None else eps
    rtol = d_rtol if rtol is None else rtol
    atol = d_atol if atol is None else atol
    rng = np.random.default_rng(seed)
    _check(f, args, order, 1, eps, rtol, atol, rng)


def _check(f, args, order, current, eps, rtol, atol, rng) -> None:
    leaves, treedef = flatten(args)
    x = [_as_float_array(leaf) for leaf in leaves]
    v = [rng.standard_normal(a.shape).astype(a.dtype) for a in x]

    def at(step: float):
        moved = [Tensor(a + step * d, dtype=a.dtype) for a, d in zip(x, v, strict=True)]
        return f(*unflatten(treedef, moved))

    out, pullback = vjp(f, *unflatten(treedef, [Tensor(a, dtype=a.dtype) for a in x]))
    out_leaves, out_def = flatten(out)
    u = [rng.standard_normal(np.shape(o)).astype(_as_float_array(o).dtype) for o in out_leaves]

    grads = pullback(unflatten(out_def, u))
    reverse = _inner(_leaves_f(grads), v)
    plus, minus = _leaves_f(at(eps)), _leaves_f(at(-eps))
    numeric = _inner(u, [(p.astype(np.float64) - m.astype(np.float64)) / (2 * eps)
                         for p, m in zip(plus, minus, strict=True)])
    if not np.isclose(reverse, numeric, rtol=rtol, atol=atol):
        name = getattr(f, "__name__", repr(f))
        raise GradientCheckError(
            f"check_grads: order {current} derivative of {name} is wrong: along a random "
            f"direction (seed-driven, |v| = {np.sqrt(_inner(v, v)):.3g}) reverse mode gives "
            f"{reverse:.10g} but central differences (eps={eps:g}) give {numeric:.10g} "
            f"(difference {abs(reverse - numeric):.3g}; rtol={rtol:g}, atol={atol:g})"
        )
    if current < order:
        u_tree = unflatten(out_def, [np.asarray(a) for a in u])

        def vjp_of_f(*xs):
            return vjp(f, *xs)[1](u_tree)

        vjp_of_f.__name__ = f"vjp({getattr(f, '__name__', 'f')})"
        _check(vjp_of_f, args, order, current + 1, eps, rtol, atol, rng)
