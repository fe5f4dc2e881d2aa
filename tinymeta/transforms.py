"""Transforms composed from ``vjp`` and ``grad``: Jacobians, Hessians and their products.

Nothing here touches the graph: each is a few lines over the engine's ``vjp``
and ``grad`` (``autodiff.py``), and works at any order because they do.

- ``jacobian(f)``: one VJP per output element, stacked.
- ``hessian(f)``: ``jacobian(grad(f))``.
- ``hvp(f, x, v)``: ∇²f(x)·v as the gradient of ⟨∇f(x), v⟩ (reverse over reverse),
  without forming the Hessian.
- ``jvp(f, primals, tangents)``: J·v from two reverse passes (the double-VJP trick).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tinymeta import ops
from tinymeta.autodiff import grad, named, vjp_at
from tinymeta.checks import check_argnums, check_callable
from tinymeta.tensor import Tensor
from tinymeta.tree import flatten, tree_map, treedef_paths, unflatten

__all__ = ["jvp", "jacobian", "hessian", "hvp"]


def jvp(f: Callable, primals: Sequence[Any], tangents: Sequence[Any]) -> tuple[Any, Any]:
    """Forward-mode product: ``(f(*primals), J·tangents)`` without forming the Jacobian J.

    One tangent per primal, each with its primal's structure and shapes. Built from two
    reverse passes (the "double-VJP trick"): u ↦ Jᵀu is linear in u, so its VJP applied
    to the tangents is J·tangents. Composes with ``grad`` to any order.
    """
    check_callable(f, "jvp")
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise TypeError(f"jvp: primals and tangents must be tuples (one entry per argument "
                        f"of f), got {type(primals).__name__} and {type(tangents).__name__}")
    if len(primals) != len(tangents) or not primals:
        raise ValueError(f"jvp: need one tangent per primal and at least one primal, got "
                         f"{len(primals)} primals and {len(tangents)} tangents")
    for n, (p, t) in enumerate(zip(primals, tangents, strict=True)):
        ps, ts = [[np.shape(a) for a in flatten(x)[0]] for x in (p, t)]
        if flatten(p)[1] != flatten(t)[1] or ps != ts:
            raise ValueError(f"jvp: tangent {n} must have the structure and shapes of primal "
                             f"{n}: {ps} vs {ts}")
    out, pullback = vjp_at(f, tuple(primals), tuple(range(len(primals))), "jvp")
    out_leaves, out_def = flatten(out)
    zeros = unflatten(out_def, [np.zeros(o.shape, dtype=o.dtype) for o in out_leaves])
    _, pullback_of_pullback = vjp_at(pullback, (zeros,), (0,), "jvp")
    (tangent_out,) = pullback_of_pullback(tuple(tangents))
    if not any(isinstance(x, Tensor) and x.node is not None
               for x in flatten((primals, tangents))[0]):
        out, tangent_out = tree_map(lambda t: t.detach() if isinstance(t, Tensor) else t,
                                    (out, tangent_out))  # nobody differentiates them further
    return out, tangent_out


def jacobian(f: Callable, argnums: int | tuple[int, ...] = 0, *, _opname: str = "jacobian"):
    """Return a function computing the Jacobian of ``f`` by one VJP per output element.

    For a tensor output of shape S and an argument leaf of shape A the result has shape
    S + A; trees give trees of such blocks (the output's structure outside).
    """
    check_callable(f, _opname)

    def jacobian_f(*args: Any):
        nums = check_argnums(argnums, len(args), _opname)
        out, pullback = vjp_at(f, args, nums, _opname)
        out_leaves, out_def = flatten(out)
        per_out = []
        for j, o in enumerate(out_leaves):
            rows = []  # one VJP per element of output leaf j
            for k in range(o.size):
                seeds = [np.zeros(x.shape, dtype=x.dtype) for x in out_leaves]
                seeds[j].flat[k] = 1
                rows.append(pullback(unflatten(out_def, seeds)))
            per_arg = []
            for a in range(len(nums)):
                leaves, treedef = flatten(rows[0][a] if rows else args[nums[a]])
                blocks = [ops.reshape(ops.stack([flatten(r[a])[0][i] for r in rows]),
                                      o.shape + np.shape(leaf)) if rows else
                          Tensor(np.zeros(o.shape + np.shape(leaf)))
                          for i, leaf in enumerate(leaves)]
                per_arg.append(unflatten(treedef, blocks))
            single = isinstance(argnums, (int, np.integer))
            per_out.append(per_arg[0] if single else tuple(per_arg))
        return unflatten(out_def, per_out)

    return named(jacobian_f, f, _opname)


def hessian(f: Callable, argnums: int = 0):
    """The Hessian of scalar ``f``: ``jacobian(grad(f))``, shape A + A for an argument of
    shape A."""
    check_callable(f, "hessian")
    return jacobian(grad(f, argnums), argnums, _opname="hessian")


def hvp(f: Callable, x: Any, v: Any) -> Any:
    """The Hessian-vector product ∇²f(x) v without forming the Hessian (reverse-over-reverse).
    ``v`` has the structure and shapes of ``x``; so does the result."""
    check_callable(f, "hvp")
    (x_leaves, x_def), (v_leaves, v_def) = flatten(x), flatten(v)
    if x_def != v_def or [np.shape(a) for a in x_leaves] != [np.shape(b) for b in v_leaves]:
        def shapes(leaves: list, treedef: Any) -> str:
            paths = treedef_paths(treedef) if leaves else []
            return ", ".join(f"{p or 'x'}: {np.shape(a)}" for p, a in zip(paths, leaves,
                                                                        strict=True))
        raise ValueError(f"hvp: v must have the structure and shapes of x: x has "
                         f"{{{shapes(x_leaves, x_def)}}}, v has {{{shapes(v_leaves, v_def)}}}")

    def g_dot_v(y: Any) -> Any:
        terms = [ops.vdot(g, w) for g, w in zip(flatten(grad(f)(y))[0], v_leaves, strict=True)]
        return ops.sum(ops.stack(terms))

    return grad(g_dot_v)(x)
