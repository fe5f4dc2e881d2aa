"""The backward pass, and the transforms built on it.

How gradients become differentiable
-----------------------------------
tinymeta records one define-by-run graph (see ``tensor.py``): ops on tensors
that require grad remember their inputs. ``grad(f)(x)`` does three things:

1. It makes a fresh *variable* for x: a new leaf if x is a constant, or an
   ``identity`` node on top of x if x itself requires grad (x is an outer
   traced value, as in ``grad(grad(f))`` or MAML's inner loop).
2. It runs ``f`` on the variable, recording the forward graph.
3. It walks the graph back from the output *to that variable only* and
   applies each node's VJP rule.

Step 3 is where higher order comes from. The VJP rules are written with
tinymeta ops, so if the backward pass runs with recording switched on, every
multiplication it performs is itself a node, and the gradient it returns is a
tensor with a graph that an outer ``grad`` can walk again.

Should a backward pass record? Only if somebody could differentiate its
result. That is the case exactly when the ops it will run touch a value that
requires grad *from outside this differentiation*: the variable is an
identity node over an outer value, or some node on the path from the
variable to the output also takes an outer value as input (a closure, like
``x`` in ``grad(lambda y: x * y)``). The walk in step 3 finds out, so a
plain first-order gradient records nothing and runs on bare numpy, while the
inner gradient of MAML is recorded because it depends on the outer θ.

Why there is no perturbation confusion
--------------------------------------
Gradients are taken with respect to specific tensors, never "whatever
requires grad". In ``grad(lambda x: grad(lambda y: x + y)(x))(2.0)`` the
inner ``y`` is an identity node over ``x``: the inner walk stops at ``y``, so
it sees d(x + y)/dy = 1 and never the path through ``x``; the outer gradient
of the constant 1 is 0. The walk also ignores every node older than the
variable (a tensor can only depend on tensors made before it), so an inner
gradient never wanders into the outer graph.

Deep graphs
-----------
The topological sort is an explicit-stack walk plus a sort by creation
number, so a chain of 10,000 ops (hundreds of MAML inner steps) needs no
recursion at all.
"""

from __future__ import annotations

import operator
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tinymeta import ops
from tinymeta.primitive import Primitive, _remember_for_drawing
from tinymeta.tensor import (
    ShapeOnly,
    Tensor,
    _constant,
    _graph_node,
    _readonly,
    _state,
    switched,
)
from tinymeta.tree import flatten, tree_map, treedef_paths, unflatten

__all__ = [
    "grad", "value_and_grad", "vjp", "jvp", "jacobian", "hessian", "hvp", "stop_gradient",
    "keep_graph", "debug_nans", "IndependentOutputWarning", "backward_node_count",
]


class IndependentOutputWarning(UserWarning):
    """The differentiated output does not depend on an argument: its gradient is zero."""


def backward_node_count() -> int:
    """How many nodes backward passes have recorded so far (for tests and teaching)."""
    return _state.backward_nodes


def keep_graph():
    """Record everything a renderer needs to draw a whole computation.

    Inside the block every backward pass is recorded (as if an outer ``grad``
    were waiting for it, so even a first-order gradient's backward graph can be
    drawn), values returned by ``value_and_grad`` keep their graphs, and
    ``stop_gradient`` keeps a reference to its input so the cut edge can be
    drawn. Outside it, ``stop_gradient`` forgets its input, which is what keeps
    first-order MAML's memory flat in the number of inner steps.
    """
    return switched("keep_cut_edges", True)


def debug_nans():
    """Raise FloatingPointError at the first op (forward or backward) that makes nan/inf."""
    return switched("debug_nans", True)


# ---------------------------------------------------------------- the backward pass
def _walk(
    roots: Sequence[Tensor], targets: dict[Tensor, Any] | None
) -> tuple[list[tuple[Tensor, tuple[int, ...] | None]], bool, bool]:
    """Topologically sort the nodes between ``roots`` and ``targets``.

    Returns (order, touches_outer, reaches_outer). ``order`` lists the nodes
    that lie on a path from a target to a root (``relevant``), parents first,
    each paired with the positions of its inputs that a cotangent must flow
    to (relevant inputs with a VJP rule), or None for a target or leaf, where
    cotangents are collected rather than passed on. ``touches_outer`` says
    whether some relevant node reads a requires-grad value from outside the
    targets' subgraph (then the backward pass must be recorded);
    ``reaches_outer`` whether the roots depend on such a value at all (then the
    value must keep its graph). With ``targets=None`` every leaf that requires
    grad is a target.

    No postorder bookkeeping is needed: a tensor is always created after its
    inputs, so sorting the reachable nodes by creation number ``_seq`` is a
    topological order. Sets and dicts are keyed by the tensors themselves:
    their hash is their identity, and no two live tensors share one.
    """
    min_seq = min(t._seq for t in targets) if targets else -1
    stop = targets if targets is not None else {}
    seen: set[Tensor] = set()
    see = seen.add
    stack: list[Tensor] = [r for r in roots if r.requires_grad]
    push = stack.append
    reaches_outer = False
    while stack:  # explicit stack: no recursion, however deep the graph
        node = stack.pop()
        if node in seen:
            continue
        see(node)
        if node._vjps is None or node in stop:
            continue  # leaves and targets are where the walk ends
        for p in node._inputs:
            if type(p) is Tensor and p.requires_grad:
                if p._seq >= min_seq:
                    push(p)
                else:
                    reaches_outer = True  # older than every target: an outer value
    reachable = sorted(seen, key=_creation_order)

    relevant: set[Tensor] = set()
    mark = relevant.add
    order: list[tuple[Tensor, tuple[int, ...] | None]] = []
    touches_outer = False
    for node in reachable:
        vjps = node._vjps
        if vjps is None:
            if targets is None or node in targets:  # a leaf, where cotangents collect
                mark(node)
                order.append((node, None))
            continue
        if node in stop:  # an identity over an outer traced value
            mark(node)
            order.append((node, None))
            touches_outer = reaches_outer = True
            continue
        edges = []
        is_relevant = False
        reads_outer = False
        for i, p in enumerate(node._inputs):
            if type(p) is Tensor and p.requires_grad:
                if p in relevant:
                    is_relevant = True
                    if i >= len(vjps) or vjps[i] is None:
                        raise NotImplementedError(
                            f"the primitive {node.op!r} has no VJP rule for its argument {i}, "
                            f"which the gradient needs (it depends on a differentiated "
                            f"value); give the primitive a rule for every argument "
                            f"(defvjp(rule_0, rule_1, ...))")
                    edges.append(i)
                else:
                    reads_outer = True
        if is_relevant:
            mark(node)
            order.append((node, tuple(edges)))
            if reads_outer and targets is not None:
                touches_outer = True
        elif reads_outer:
            reaches_outer = True  # a node created inside f that reads an outer value
    return order, touches_outer, reaches_outer


_creation_order = operator.attrgetter("_seq")


def _run_backward(
    order: list[tuple[Tensor, tuple[int, ...] | None]],
    seeds: dict[Tensor, Any],
    create_graph: bool,
) -> dict[Tensor, Any]:
    """Propagate cotangents from the seeds down ``order`` (from ``_walk``); return those
    reaching its targets and leaves.

    With ``create_graph`` the VJP rules run on tensors and record themselves;
    otherwise they run on bare numpy arrays (``_state.raw``) and the
    cotangents returned are arrays.
    """
    raw = not create_graph
    cot: dict[Tensor, Any] = {k: (v._data if raw else v) for k, v in seeds.items()}
    reached: dict[Tensor, Any] = {}
    # summing two cotangents: plain numpy when unrecorded (unless checking for nans)
    accumulate = np.add if raw and not _state.debug_nans else ops.add
    previous = (_state.recording, _state.backward_order, _state.backward_of, _state.raw)
    _state.recording = create_graph
    _state.raw = raw
    try:
        for node, edges in reversed(order):
            g = cot.pop(node, None)
            if g is None:
                continue
            if edges is None:  # a target or a leaf: collect, do not pass on
                reached[node] = g
                continue
            inputs = node._inputs
            if raw:
                ans = node._data
                args = [p._data if type(p) is Tensor else p for p in inputs]
                _state.backward_of = node  # for debug_nans' message only
            else:
                _state.backward_order = node.order + 1
                _state.backward_of = node
                ans, args = node, inputs
            vjps, params = node._vjps, node._params
            for i in edges:
                p = inputs[i]
                try:
                    c = vjps[i](g, ans, *args, **params)
                except (TypeError, ValueError, AttributeError) as error:
                    _explain_unkept(node, i, ans, args, error)
                    raise
                prev = cot.get(p)
                cot[p] = c if prev is None else accumulate(prev, c)
    finally:
        (_state.recording, _state.backward_order, _state.backward_of,
         _state.raw) = previous
    return reached


def _explain_unkept(node: Tensor, i: int, ans: Any, args: Any, error: Exception) -> None:
    """A rule that failed while a value it was handed was not kept: say which declaration
    to fix (raises), rather than let numpy complain about a ShapeOnly."""
    def unkept(v: Any) -> bool:
        return type(v) is ShapeOnly or (type(v) is Tensor and type(v._data) is ShapeOnly)

    missing = [f"argument {j}" for j, a in enumerate(args) if unkept(a)]
    if unkept(ans):
        missing.append("its output (ans)")
    if missing:
        raise RuntimeError(
            f"the VJP rule of {node.op!r} for argument {i} failed ({type(error).__name__}: "
            f"{error}) while {', '.join(missing)} had not been kept: if the rule reads those "
            f"values, its primitive's defreads declaration must name them"
        ) from error


def _seed_for(out: Tensor, seed: Any, opname: str) -> Tensor:
    if isinstance(seed, Tensor):
        s = seed
    else:
        # a copy: an unrecorded backward pass may hand the seed array back as a gradient
        # (add's rule is the identity), which must not alias the caller's array
        s = _constant(np.array(seed, dtype=out.dtype))
    if s.shape != out.shape:
        raise ValueError(
            f"{opname}: the cotangent has shape {s.shape} but the output has shape {out.shape}; "
            f"they must match"
        )
    return s


def _cast_like(g: Any, target: Tensor) -> Tensor:
    """The cotangent reaching ``target`` as a tensor of its dtype (and its shape, checked)."""
    if type(g) is np.ndarray and g.dtype == target._data.dtype and g.shape == target.shape:
        return _constant(g)  # the usual unrecorded result: nothing to cast or check
    recorded = isinstance(g, Tensor)
    if not recorded:  # an unrecorded backward pass returns numpy
        g = np.asarray(g)
    if g.dtype != target.dtype:
        g = ops.astype(g, dtype=target.dtype) if recorded else g.astype(target.dtype)
    if g.shape != target.shape:  # a rule broke its contract: say which
        raise RuntimeError(
            f"internal error: cotangent of shape {g.shape} for a tensor of shape {target.shape}"
        )
    return g if recorded else _constant(g)


def backward_into_leaves(out: Tensor, gradient: Any, create_graph: bool) -> None:
    """``Tensor.backward``: accumulate into ``.grad`` of every leaf that requires grad."""
    if not out.requires_grad:
        raise RuntimeError(
            "backward: this tensor does not require grad (no input had requires_grad=True, "
            "or it was computed under no_grad)"
        )
    if gradient is None:
        if out.size != 1:
            raise TypeError(
                f"backward: the output has shape {out.shape}; pass gradient= (a cotangent of "
                f"that shape), or reduce it to a scalar first"
            )
        gradient = np.ones(out.shape, dtype=out.dtype)
    seed = _seed_for(out, gradient, "backward")
    order, _, _ = _walk([_graph_node(out)], None)
    reached = _run_backward(order, {_graph_node(out): seed}, create_graph and _state.recording)
    for leaf, _ in order:
        g = reached.get(leaf)
        if g is None:
            continue
        g = _cast_like(g, leaf)
        leaf.grad = g if leaf.grad is None else ops.add(leaf.grad, g)


# ---------------------------------------------------------------- variables
_identity = Primitive("identity", lambda x: x, doc="y = x; marks a value as a variable.")
_identity.defvjp(lambda g, ans, x: g)
_identity.defreads(())


def _variable(leaf: Any, opname: str, argnum: int, path: str) -> Tensor:
    """A fresh tensor to differentiate with respect to (see the module docstring)."""
    if isinstance(leaf, Tensor):
        if leaf.dtype.kind != "f":
            raise TypeError(
                f"{opname}: cannot differentiate with respect to argument {argnum}{path}, "
                f"a tensor of dtype "
                f"{leaf.dtype}; only floating-point values have gradients (cast with dtype=float)"
            )
        if leaf.requires_grad and _state.recording:
            t = _identity(leaf)
            t.name = f"arg{argnum}{path}"
            return t
        data = leaf._data
    elif isinstance(leaf, (float, np.floating)) and not isinstance(leaf, bool):
        data = np.asarray(leaf, dtype=np.result_type(leaf))
    elif isinstance(leaf, np.ndarray) and leaf.dtype.kind == "f":
        data = np.array(leaf)  # copy: the graph must not change if the caller's array does
    else:
        kind = (f"a numpy array of dtype {leaf.dtype}" if isinstance(leaf, np.ndarray)
                else f"{type(leaf).__name__} {leaf!r}")
        hint = (" (write 3.0 rather than 3)"
                if isinstance(leaf, (int, np.integer)) and not isinstance(leaf, bool) else "")
        if isinstance(leaf, (complex, np.complexfloating)) or (
                isinstance(leaf, np.ndarray) and leaf.dtype.kind == "c"):
            hint = " (tinymeta is real-valued: complex numbers have no gradient here)"
        raise TypeError(
            f"{opname}: cannot differentiate with respect to argument {argnum}{path}, "
            f"which is {kind}; "
            f"only float tensors, float numpy arrays and Python floats have gradients{hint}"
        )
    t = _constant(_readonly(data))
    t.op = "leaf"
    t.requires_grad = True
    t.order = _state.backward_order
    t._name = f"arg{argnum}{path}"  # a fresh tensor, not a handle: no node to rename
    return t


def _named(wrapper: Callable, f: Callable, opname: str) -> Callable:
    """A light functools.wraps (transforms are often rebuilt inside loops)."""
    wrapper.__name__ = f"{opname}({getattr(f, '__name__', 'f')})"
    wrapper.__doc__ = getattr(f, "__doc__", None)
    wrapper.__wrapped__ = f
    return wrapper


def _check_callable(f: Any, opname: str) -> None:
    if not callable(f):
        raise TypeError(f"{opname}: expected a function to differentiate, got {type(f).__name__}")


def _argnums(argnums: Any, nargs: int, opname: str) -> tuple[int, ...]:
    if type(argnums) is int and 0 <= argnums < nargs:
        return (argnums,)  # the common case, checked in one line
    single = isinstance(argnums, (int, np.integer)) and not isinstance(argnums, bool)
    nums = (argnums,) if single else argnums
    if not isinstance(nums, tuple) or not all(
        isinstance(n, (int, np.integer)) and not isinstance(n, bool) for n in nums
    ) or not nums:
        raise TypeError(f"{opname}: argnums must be an int or a non-empty tuple of ints, "
                        f"got {argnums!r}")
    for n in nums:
        if not -nargs <= n < nargs:
            valid = f"0..{nargs - 1}" if nargs else "none: f was called with no arguments"
            raise ValueError(
                f"{opname}: argnums={argnums!r} is out of range: the function was called with "
                f"{nargs} positional argument{'s' * (nargs != 1)} (valid: {valid})"
            )
    nums = tuple(int(n) % nargs for n in nums)
    if len(set(nums)) != len(nums):
        raise ValueError(f"{opname}: argnums={argnums!r} names an argument twice; each argument "
                         f"can be differentiated once (use a tuple of distinct positions)")
    return nums


def _recording_on():
    """Transforms record their own forward pass, even inside ``no_grad()``."""
    return switched("recording", True)


def _prepare(args: tuple, nums: tuple[int, ...], opname: str):
    """Replace the differentiated arguments with variables; remember their trees."""
    args = list(args)
    variables: list[list[Tensor]] = []
    treedefs = []
    for n in nums:
        leaves, treedef = flatten(args[n])  # an empty container: an empty gradient
        paths = treedef_paths(treedef)
        vs = [_variable(leaf, opname, n, p) for leaf, p in zip(leaves, paths, strict=True)]
        variables.append(vs)
        treedefs.append(treedef)
        args[n] = unflatten(treedef, vs)
    return args, variables, treedefs


def _gradients(
    outs: list[Tensor], seeds: list[Tensor], variables: list[list[Tensor]], opname: str,
    warn: bool = True, stacklevel: int = 4,
) -> tuple[list[list[Tensor]], bool]:
    """Run one backward pass from ``outs`` to every variable; zeros where no path.

    Also returns whether the outputs depend on values from outside this
    differentiation (if not, nobody can differentiate them further).
    """
    nodes = [[_graph_node(v) for v in vs] for vs in variables]
    targets = {n: None for ns in nodes for n in ns}
    roots = [_graph_node(o) for o in outs if isinstance(o, Tensor) and o.requires_grad]
    reached: dict[Tensor, Any] = {}
    reaches_outer = False
    if roots:
        order, touches_outer, reaches_outer = _walk(roots, targets)
        # a seed that requires grad (the double-VJP trick) makes the result differentiable too
        seeded = any(type(sd) is Tensor and sd.requires_grad for sd in seeds)
        create_graph = _state.recording and (touches_outer or seeded or _state.keep_cut_edges)
        seed_map: dict[Tensor, Any] = {}
        for o, sd in zip(outs, seeds, strict=True):
            if isinstance(o, Tensor) and o.requires_grad:
                node = _graph_node(o)  # one output may appear twice in a tree: add seeds
                seed_map[node] = sd if node not in seed_map else ops.add(seed_map[node], sd)
        reached = _run_backward(order, seed_map, create_graph)
    result = []
    for n, (vs, ns) in enumerate(zip(variables, nodes, strict=True)):
        if warn and ns and not any(node in reached for node in ns):
            warnings.warn(
                f"{opname}: the output does not depend on differentiated argument {n}; "
                f"its gradient is zero",
                IndependentOutputWarning,
                stacklevel=stacklevel,  # the user's call of grad / value_and_grad
            )
        result.append([
            _cast_like(reached[node], v) if node in reached
            else _constant(np.zeros(v.shape, dtype=v.dtype))
            for v, node in zip(vs, ns, strict=True)
        ])
    return result, reaches_outer


def _scalar_output(out: Any, opname: str) -> Tensor:
    if not isinstance(out, Tensor):
        if isinstance(out, (float, np.floating)) or (
            isinstance(out, np.ndarray) and out.size == 1 and out.dtype.kind == "f"
        ):
            return _constant(np.asarray(out, dtype=float))  # a constant: gradient zero
        if isinstance(out, (bool, int, complex, np.number, np.bool_, np.ndarray)):
            kind = out.dtype if isinstance(out, np.ndarray) else type(out).__name__
            raise TypeError(
                f"{opname}: the function returned {kind} {out!r}; a gradient needs a real "
                f"floating-point scalar output (return a float, or a float tensor)")
        raise TypeError(
            f"{opname}: the function must return a scalar tensor, got {type(out).__name__}"
            + ("; with has_aux=True return (scalar, aux)" if isinstance(out, tuple) else "")
        )
    if out.size != 1:
        raise TypeError(
            f"{opname}: the function must return a scalar, but it returned shape {out.shape}. "
            f"grad is only defined for scalar outputs: use tm.jacobian(f) for the full "
            f"Jacobian, or tm.vjp(f, x) with a cotangent of shape {out.shape}"
        )
    if out.dtype.kind != "f":
        raise TypeError(f"{opname}: the function returned dtype {out.dtype}; a gradient needs a "
                        f"real floating-point output")
    return out


# ---------------------------------------------------------------- transforms
def value_and_grad(
    f: Callable, argnums: int | tuple[int, ...] = 0, has_aux: bool = False,
    *, _opname: str = "value_and_grad",
):
    """Return a function computing ``(f(*args), gradient)``; with ``has_aux`` f returns
    ``(value, aux)`` and the result is ``((value, aux), gradient)``.

    The gradient has the structure of the differentiated argument (a tuple of
    them when ``argnums`` is a tuple). Gradients are recorded, and so can be
    differentiated again, exactly when they depend on a value an outer
    transform is differentiating.
    """
    opname = _opname
    _check_callable(f, opname)

    def value_and_grad_f(*args: Any, **kwargs: Any):
        nums = _argnums(argnums, len(args), opname)
        recording = _state.recording  # _recording_on(), inlined: an inner loop calls this
        _state.recording = True
        try:
            new_args, variables, treedefs = _prepare(args, nums, opname)
            result = f(*new_args, **kwargs)
        finally:
            _state.recording = recording
        if has_aux:
            if not isinstance(result, tuple) or len(result) != 2:
                raise TypeError(f"{opname}: with has_aux=True the function must return a pair "
                                f"(scalar, aux), got {type(result).__name__}")
            out, aux = result
        else:
            out = result
        out = _scalar_output(out, opname)
        seed = _constant(np.array(1, dtype=out.dtype) if out.shape == () else
                         np.ones(out.shape, dtype=out.dtype))  # np.ones: ~2 us for a scalar
        # grad wraps this function, so its caller is one frame further out
        grads, reaches_outer = _gradients(
            [out], [seed], variables, opname, stacklevel=4 if _opname == "grad" else 3)
        if not reaches_outer and not _state.keep_cut_edges and out.requires_grad:
            out = out.detach()  # nobody can differentiate it further: free its graph
        trees = [unflatten(d, g) for d, g in zip(treedefs, grads, strict=True)]
        g = trees[0] if isinstance(argnums, (int, np.integer)) else tuple(trees)
        return ((out, aux), g) if has_aux else (out, g)

    return _named(value_and_grad_f, f, opname)


def grad(f: Callable, argnums: int | tuple[int, ...] = 0, has_aux: bool = False):
    """Return a function computing the gradient of scalar ``f`` with respect to ``argnums``.

    ``tm.grad(tm.grad(f))`` is the second derivative, to any depth.
    """
    _check_callable(f, "grad")
    vg = value_and_grad(f, argnums, has_aux, _opname="grad")

    def grad_f(*args: Any, **kwargs: Any):
        value, g = vg(*args, **kwargs)
        return (g, value[1]) if has_aux else g

    return _named(grad_f, f, "grad")


def vjp(f: Callable, *args: Any) -> tuple[Any, Callable]:
    """Evaluate ``f(*args)`` and return ``(out, vjp_fn)``; ``vjp_fn(cotangent)`` returns a
    tuple with one cotangent per argument. ``out`` may be a tree of tensors; the
    cotangent must have the same structure and shapes."""
    _check_callable(f, "vjp")
    if not args:
        raise TypeError("vjp: pass the arguments to evaluate f at, e.g. tm.vjp(f, x)")
    return _vjp(f, args, tuple(range(len(args))), "vjp")


def _vjp(f: Callable, args: tuple, nums: tuple[int, ...], opname: str) -> tuple[Any, Callable]:
    """vjp with respect to ``args[n] for n in nums``; errors name ``opname`` and the
    caller's own argument numbers (jacobian and hessian use this too)."""
    with _recording_on():
        new_args, variables, treedefs = _prepare(args, nums, opname)
        out = f(*new_args)
    out_leaves, out_def = flatten(out)
    for leaf in out_leaves:
        if not isinstance(leaf, Tensor):
            raise TypeError(f"{opname}: the function must return tensors, "
                            f"got {type(leaf).__name__}")

    def vjp_fn(cotangent: Any) -> tuple:
        c_leaves, c_def = flatten(cotangent)
        if c_def != out_def or len(c_leaves) != len(out_leaves):
            raise ValueError(f"{opname}: the cotangent must have the same tree structure as "
                             f"the output")
        seeds = [_seed_for(o, c, opname) for o, c in zip(out_leaves, c_leaves, strict=True)]
        grads, _ = _gradients(out_leaves, seeds, variables, opname, warn=False)
        return tuple(unflatten(d, g) for d, g in zip(treedefs, grads, strict=True))

    return out, vjp_fn


def jvp(f: Callable, primals: Sequence[Any], tangents: Sequence[Any]) -> tuple[Any, Any]:
    """Forward-mode product: ``(f(*primals), J·tangents)`` without forming the Jacobian J.

    ``primals`` and ``tangents`` are sequences with one entry per argument of ``f``;
    each tangent has the structure and shapes of its primal. Built from two reverse
    passes (the "double-VJP trick"): u ↦ Jᵀu is linear in u, so the VJP of that map
    at any u, applied to the tangents, is J·tangents. Both passes are recorded when
    an outer transform differentiates, so ``jvp`` composes with ``grad`` to any order.
    """
    _check_callable(f, "jvp")
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise TypeError(f"jvp: primals and tangents must be tuples (one entry per argument "
                        f"of f), got {type(primals).__name__} and {type(tangents).__name__}")
    if len(primals) != len(tangents) or not primals:
        raise ValueError(f"jvp: need one tangent per primal and at least one primal, got "
                         f"{len(primals)} primals and {len(tangents)} tangents")
    for n, (p, t) in enumerate(zip(primals, tangents, strict=True)):
        p_leaves, p_def = flatten(p)
        t_leaves, t_def = flatten(t)
        if p_def != t_def or [np.shape(a) for a in p_leaves] != [np.shape(b) for b in t_leaves]:
            raise ValueError(f"jvp: tangent {n} must have the structure and shapes of primal "
                             f"{n}: {[np.shape(a) for a in p_leaves]} vs "
                             f"{[np.shape(b) for b in t_leaves]}")
    primals = tuple(primals)
    out, pullback = _vjp(f, primals, tuple(range(len(primals))), "jvp")
    out_leaves, out_def = flatten(out)
    zeros = unflatten(out_def, [np.zeros(o.shape, dtype=o.dtype) for o in out_leaves])
    _, pullback_of_pullback = _vjp(pullback, (zeros,), (0,), "jvp")
    (tangent_out,) = pullback_of_pullback(tuple(tangents))
    if not any(type(leaf) is Tensor and leaf.requires_grad
               for leaf in flatten((primals, tangents))[0]):
        # nobody can differentiate the results further: free their graphs
        out, tangent_out = tree_map(
            lambda t: t.detach() if isinstance(t, Tensor) else t, (out, tangent_out))
    return out, tangent_out


def jacobian(f: Callable, argnums: int | tuple[int, ...] = 0, *, _opname: str = "jacobian"):
    """Return a function computing the Jacobian of ``f`` by one VJP per output element.

    For a tensor output of shape S and an argument leaf of shape A the result
    has shape S + A; trees of outputs and arguments give trees of such blocks
    (the output's structure outside, the argument's inside).
    """
    _check_callable(f, _opname)

    def jacobian_f(*args: Any):
        nums = _argnums(argnums, len(args), _opname)
        out, pullback = _vjp(f, args, nums, _opname)
        out_leaves, out_def = flatten(out)
        blocks_per_out = []
        for j, o in enumerate(out_leaves):
            rows = []  # one VJP per element of output leaf j
            for k in range(o.size):
                seeds = [np.zeros(x.shape, dtype=x.dtype) for x in out_leaves]
                seeds[j] = np.zeros(o.size, dtype=o.dtype)
                seeds[j][k] = 1
                seeds[j] = seeds[j].reshape(o.shape)
                rows.append(pullback(unflatten(out_def, seeds)))
            per_arg = []
            for a in range(len(nums)):
                arg_leaves, arg_def = flatten(rows[0][a]) if rows else flatten(args[nums[a]])
                blocks = []
                for i, leaf in enumerate(arg_leaves):
                    shape = np.shape(leaf)
                    if rows:
                        col = ops.stack([flatten(r[a])[0][i] for r in rows])
                        blocks.append(ops.reshape(col, o.shape + shape))
                    else:
                        blocks.append(_constant(np.zeros(o.shape + shape)))
                per_arg.append(unflatten(arg_def, blocks))
            single = isinstance(argnums, (int, np.integer))
            blocks_per_out.append(per_arg[0] if single else tuple(per_arg))
        return unflatten(out_def, blocks_per_out)

    return _named(jacobian_f, f, _opname)


def hessian(f: Callable, argnums: int = 0):
    """The Hessian of scalar ``f``: ``jacobian(grad(f))``, shape A + A for an argument of
    shape A."""
    _check_callable(f, "hessian")
    return jacobian(grad(f, argnums), argnums, _opname="hessian")


def hvp(f: Callable, x: Any, v: Any) -> Any:
    """The Hessian-vector product ∇²f(x) v without forming the Hessian (reverse-over-reverse).

    ``v`` has the structure and shapes of ``x``; so does the result.
    """
    _check_callable(f, "hvp")
    x_leaves, x_def = flatten(x)
    v_leaves, v_def = flatten(v)
    if x_def != v_def or [np.shape(a) for a in x_leaves] != [np.shape(b) for b in v_leaves]:
        def shapes(leaves, treedef):
            paths = treedef_paths(treedef) if leaves else []
            return ", ".join(f"{p or 'x'}: {np.shape(a)}" for p, a in zip(paths, leaves,
                                                                        strict=True))
        raise ValueError(
            f"hvp: v must have the structure and shapes of x: x has {{{shapes(x_leaves, x_def)}}}"
            f", v has {{{shapes(v_leaves, v_def)}}}"
        )

    def g_dot_v(y):
        g_leaves = flatten(grad(f)(y))[0]
        total = None
        for g, w in zip(g_leaves, v_leaves, strict=True):
            term = ops.vdot(g, w)
            total = term if total is None else ops.add(total, term)
        return total

    return grad(g_dot_v)(x)


# ---------------------------------------------------------------- stop_gradient
def _stop(x: Any) -> Any:
    if not isinstance(x, Tensor):
        return x
    if not x.requires_grad:
        return x
    t = _constant(x._value())
    if _state.keep_cut_edges and _state.recording:
        _remember_for_drawing(t, "stop_gradient", (x,), {})  # for drawing the cut only
    return t


def stop_gradient(x: Any) -> Any:
    """Identity on values, zero derivative at every order; accepts a tree.

    The result is a constant, so no backward pass at any nesting level passes
    through it (a "stop" that only stopped one level would be a bug: see the
    tests). It does not keep its input alive, unless ``keep_graph()`` is on.
    """
    leaves, treedef = flatten(x)
    if not _state.keep_cut_edges and not any(
            type(leaf) is Tensor and leaf.requires_grad for leaf in leaves):
        return unflatten(treedef, leaves)  # nothing to stop: a new tree of the same leaves
    return unflatten(treedef, [_stop(leaf) for leaf in leaves])
