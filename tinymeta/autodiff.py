"""The backward pass, and the transforms built on it.

How gradients become differentiable
-----------------------------------
``grad(f)(x)`` does three things:

1. It makes a fresh *variable* for x: a new leaf if x is a constant, or an
   ``identity`` node on top of x if x itself requires grad (x is an outer
   traced value, as in ``grad(grad(f))`` or MAML's inner loop).
2. It runs ``f`` on the variable, recording the forward graph.
3. It walks the graph back from the output *to that variable only* and
   applies each node's VJP rules.

Step 3 is where higher order comes from. The rules are written with tinymeta
ops, so if the backward pass runs with recording on, every multiplication it
performs is itself a node, and the gradient it returns has a graph that an
outer ``grad`` can walk again.

Should a backward pass record? Only if somebody could differentiate its
result: exactly when the ops it runs touch a value that requires grad *from
outside this differentiation*: the variable is an identity over an outer
value, or a node on the path from the variable to the output also reads an
outer value (a closure, like ``x`` in ``grad(lambda y: x * y)``). The walk in
step 3 finds out, so a plain first-order gradient records nothing and runs on
bare numpy, while MAML's inner gradient is recorded because it depends on the
outer θ. (An observer, ``tm.observe``, also wants to see backward passes.)

Why there is no perturbation confusion
--------------------------------------
Gradients are taken with respect to specific nodes, never "whatever requires
grad". In ``grad(lambda x: grad(lambda y: x + y)(x))(2.0)`` the inner ``y``
is an identity node over ``x``: the inner walk stops at ``y``, so it sees
d(x + y)/dy = 1 and never the path through ``x``; the outer gradient of the
constant 1 is 0. The walk also ignores every node older than the variable (a
node only depends on older nodes), so an inner gradient never wanders into
the outer graph. The walk is an explicit stack: 10,000-deep graphs need no
recursion.
"""

from __future__ import annotations

import operator
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tinymeta import ops
from tinymeta.primitive import Primitive
from tinymeta.tensor import Node, Tensor, recording
from tinymeta.tree import flatten, tree_map, treedef_paths, unflatten

__all__ = [
    "grad", "value_and_grad", "vjp", "jvp", "jacobian", "hessian", "hvp", "stop_gradient",
    "observe", "debug_nans", "IndependentOutputWarning", "backward_node_count", "backward_flow",
]


class IndependentOutputWarning(UserWarning):
    """The differentiated output does not depend on an argument: its gradient is zero."""


def backward_node_count() -> int:
    """How many nodes backward passes have recorded so far (for tests and teaching)."""
    return recording.backward_nodes


def debug_nans():
    """Raise FloatingPointError at the first op (forward or backward) that makes nan/inf."""
    return recording.set(check_nans=True)


def observe(callback: Callable[..., None]):
    """Call ``callback(op, args, params, out)`` for every op run inside the block.

    The extension point for tools that watch the engine (``tinymeta.viz`` draws
    graphs with it): ``out.node`` has the scope and derivative order, and every
    backward pass inside the block is recorded so that it can be seen.
    """
    return recording.set(observers=[*recording.observers, callback])


# ---------------------------------------------------------------- the backward pass
def _toposort(roots: Sequence[Node], targets: set[Node] | None):
    """The nodes between ``roots`` and ``targets`` (every leaf, for None), oldest first.

    Returns (order, touches_outer): ``order`` pairs each node on a path from a target
    to a root with the inputs a cotangent flows to (None for targets and leaves, where
    cotangents are collected); ``touches_outer`` says whether such a node also reads a
    value that requires grad from outside (then the backward pass must be recorded).
    """
    oldest = min((t.seq for t in targets), default=-1) if targets else -1
    seen: set[Node] = set()
    stack = list(roots)
    while stack:  # every node reachable from the roots, down to the targets
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        if targets is None or node not in targets:
            for p in node.inputs:
                if p is not None and p.seq >= oldest:
                    stack.append(p)
    on_path: set[Node] = set()
    order: list[tuple[Node, tuple[int, ...] | None]] = []
    touches_outer = False
    for node in sorted(seen, key=_by_seq):  # a node is newer than its inputs
        if (node.primitive is None and targets is None) or (targets and node in targets):
            on_path.add(node)
            order.append((node, None))
            touches_outer |= node.primitive is not None  # an identity over an outer value
            continue
        edges, outer = [], False
        for i, p in enumerate(node.inputs):
            if p in on_path:
                edges.append(i)
            elif p is not None:
                outer = True  # reads a traced value that does not depend on the targets
        if edges:
            on_path.add(node)
            order.append((node, tuple(edges)))
            touches_outer |= outer
    return order, touches_outer and targets is not None


_by_seq = operator.attrgetter("seq")


def _rule_inputs(node: Node, recorded: bool) -> tuple[Any, list]:
    """(ans, args) as the node's rules see them: tensors carrying their nodes when the
    backward pass is recorded, bare numpy otherwise; ``Unsaved`` where nothing was kept."""
    if not recorded:
        return node.ans, list(node.saved)
    args = [v if p is None or not isinstance(v, np.ndarray) else Tensor._make(v, p)
            for v, p in zip(node.saved, node.inputs, strict=True)]
    ans = node.ans if not isinstance(node.ans, np.ndarray) else Tensor._make(node.ans, node)
    return ans, args


def backward(order: list, seeds: dict[Node, Any], record: bool,
             on_edge: Callable[[Node, int, Any], None] | None = None) -> dict[Node, Any]:
    """Propagate cotangents from ``seeds`` down ``order`` (from ``_toposort``); return
    those reaching its targets and leaves. ``on_edge(node, i, cotangent)`` is told of
    every cotangent a rule computes (how the flow overlay of ``tinymeta.viz`` is drawn).
    """
    cot = {node: (g if record else _value(g)) for node, g in seeds.items()}
    reached: dict[Node, Any] = {}
    add = ops.add if record or recording.check_nans else np.add  # numpy: nobody differentiates
    with recording.set(enabled=record, numpy_only=not record, order=recording.order,
                       rule_of=recording.rule_of):
        for node, edges in reversed(order):
            g = cot.pop(node, None)
            if g is None:
                continue
            if edges is None:  # a target or a leaf: collect, do not pass on
                reached[node] = g
                continue
            ans, args = _rule_inputs(node, record)
            recording.order, recording.rule_of = node.order + 1, node
            for i in edges:
                rule = node.primitive.rule(i)
                if rule is None:
                    raise NotImplementedError(
                        f"the primitive {node.op!r} has no VJP rule for its argument {i}, "
                        f"which the gradient needs (it depends on a differentiated value); "
                        f"give the primitive a rule for every argument")
                try:
                    c = rule(g, ans, *args, **node.params)
                except (TypeError, ValueError, AttributeError) as error:
                    _explain_unsaved(node, i, ans, args, error)
                    raise
                if on_edge is not None:
                    on_edge(node, i, c)
                p = node.inputs[i]
                cot[p] = c if p not in cot else add(cot[p], c)
    return reached


def _value(x: Any) -> Any:
    return x._value if type(x) is Tensor else x


def _explain_unsaved(node: Node, i: int, ans: Any, args: list, error: Exception) -> None:
    missing = [f"argument {j}" for j, a in enumerate(args) if type(a).__name__ == "Unsaved"]
    missing += ["its output (ans)"] if type(ans).__name__ == "Unsaved" else []
    if missing:
        raise RuntimeError(
            f"the VJP rule of {node.op!r} for argument {i} failed ({type(error).__name__}: "
            f"{error}) while {', '.join(missing)} had not been saved: a rule that reads "
            f"those values must name them in its primitive's 'saves'") from error


def _as_gradient(g: Any, like: Node) -> Tensor:
    """The cotangent reaching a variable as a tensor of its dtype and shape."""
    t = g if isinstance(g, Tensor) else Tensor._make(np.asarray(g), None)
    if t.dtype != like.dtype:  # a rule promoted the dtype: put it back
        t = ops.astype(t, dtype=like.dtype)
    if t.shape != like.shape:  # a rule broke its contract: say which
        raise RuntimeError(f"internal error: cotangent of shape {t.shape} for a value of "
                           f"shape {like.shape}")
    return t


def _seed(out: Tensor, seed: Any, opname: str) -> Any:
    s = seed if isinstance(seed, Tensor) else np.array(seed, dtype=out.dtype)  # a copy
    if s.shape != out.shape:
        raise ValueError(f"{opname}: the cotangent has shape {s.shape} but the output has shape "
                         f"{out.shape}; they must match")
    return s


def _backward_into_leaves(out: Tensor, gradient: Any = None, create_graph: bool = False):
    """``Tensor.backward``: accumulate d(self)/d(leaf) into ``leaf.grad`` for every leaf.

    PyTorch-style convenience over the same backward pass as ``tm.grad``. ``gradient`` is
    the seed (may be omitted for a one-element tensor); with ``create_graph=True`` the
    gradients are themselves recorded tensors.
    """
    if out.node is None:
        raise RuntimeError("backward: this tensor does not require grad (no input had "
                           "requires_grad=True, or it was computed under no_grad)")
    if gradient is None and out.size != 1:
        raise TypeError(f"backward: the output has shape {out.shape}; pass gradient= (a "
                        f"cotangent of that shape), or reduce it to a scalar first")
    seed = _seed(out, np.ones(out.shape) if gradient is None else gradient, "backward")
    order, _ = _toposort([out.node], None)
    record = create_graph and recording.enabled
    reached = backward(order, {out.node: seed}, record)
    for leaf, g in reached.items():
        g = _as_gradient(g, leaf)
        leaf.grad = g if leaf.grad is None else ops.add(leaf.grad, g)


Tensor.backward = _backward_into_leaves


def backward_flow(out: Tensor, on_edge: Callable[[Node, int, Any], None], seed: Any) -> None:
    """One unrecorded backward pass from ``out`` to every leaf, telling ``on_edge(node, i,
    cotangent)`` what every rule computes: how tools watch a gradient flow (the flow
    overlay of ``tinymeta.viz``)."""
    order, _ = _toposort([out.node], None)
    backward(order, {out.node: _seed(out, seed, "backward_flow")}, False, on_edge)


# ---------------------------------------------------------------- variables
_identity = Primitive("identity", lambda x: x, doc="y = x; marks a value as a variable.")
_identity.defvjp(lambda g, ans, x: g, saves=[()])


def _variable(leaf: Any, opname: str, argnum: int, path: str) -> Tensor:
    """A fresh tensor to differentiate with respect to (see the module docstring)."""
    if isinstance(leaf, Tensor) and leaf.dtype.kind == "f":
        t = _identity(leaf) if leaf.node is not None and recording.enabled else \
            Tensor(leaf._value, requires_grad=True)
    elif isinstance(leaf, (float, np.floating)) or (
            isinstance(leaf, np.ndarray) and leaf.dtype.kind == "f"):
        t = Tensor(np.asarray(leaf, dtype=np.result_type(leaf)), requires_grad=True)  # a copy
    else:
        kind = (f"a tensor of dtype {leaf.dtype}" if isinstance(leaf, Tensor) else
                f"a numpy array of dtype {leaf.dtype}" if isinstance(leaf, np.ndarray)
                else f"{type(leaf).__name__} {leaf!r}")
        hint = " (write 3.0 rather than 3)" if isinstance(leaf, (int, np.integer)) else ""
        if "complex" in kind:
            hint = " (tinymeta is real-valued: complex numbers have no gradient here)"
        raise TypeError(f"{opname}: cannot differentiate with respect to argument {argnum}"
                        f"{path}, which is {kind}; only float tensors, float numpy arrays and "
                        f"Python floats have gradients{hint}")
    t.node.order = max(t.node.order, recording.order)
    t.name = f"arg{argnum}{path}"
    return t


def _argnums(argnums: Any, nargs: int, opname: str) -> tuple[int, ...]:
    nums = (argnums,) if isinstance(argnums, (int, np.integer)) else argnums
    if not isinstance(nums, tuple) or not nums or not all(
            isinstance(n, (int, np.integer)) and not isinstance(n, bool) for n in nums):
        raise TypeError(f"{opname}: argnums must be an int or a non-empty tuple of ints, "
                        f"got {argnums!r}")
    for n in nums:
        if not -nargs <= n < nargs:
            valid = f"0..{nargs - 1}" if nargs else "none: f was called with no arguments"
            raise ValueError(f"{opname}: argnums={argnums!r} is out of range: the function was "
                             f"called with {nargs} positional argument{'s' * (nargs != 1)} "
                             f"(valid: {valid})")
    nums = tuple(int(n) % nargs for n in nums)
    if len(set(nums)) != len(nums):
        raise ValueError(f"{opname}: argnums={argnums!r} names an argument twice; each argument "
                         f"can be differentiated once (use a tuple of distinct positions)")
    return nums


def _check_callable(f: Any, opname: str) -> None:
    if not callable(f):
        raise TypeError(f"{opname}: expected a function to differentiate, got {type(f).__name__}")


def _prepare(args: tuple, nums: tuple[int, ...], opname: str):
    """Replace the differentiated arguments with variables; remember their trees."""
    args = list(args)
    variables, treedefs = [], []
    for n in nums:
        leaves, treedef = flatten(args[n])  # an empty container: an empty gradient
        vs = [_variable(leaf, opname, n, p)
              for leaf, p in zip(leaves, treedef_paths(treedef), strict=True)]
        variables.append(vs)
        treedefs.append(treedef)
        args[n] = unflatten(treedef, vs)
    return args, variables, treedefs


def _gradients(outs: list[Tensor], seeds: list[Any], variables: list[list[Tensor]],
               opname: str, warn: bool = True, stacklevel: int = 4):
    """One backward pass from ``outs`` to every variable (zeros where no path); also
    whether it was recorded (then the results can be differentiated further)."""
    targets = {v.node for vs in variables for v in vs}
    seed_of: dict[Node, Any] = {}
    for o, s in zip(outs, seeds, strict=True):
        if isinstance(o, Tensor) and o.node is not None:  # an output twice: add its seeds
            seed_of[o.node] = s if o.node not in seed_of else ops.add(seed_of[o.node], s)
    order, touches_outer = _toposort(list(seed_of), targets)
    seeded = any(isinstance(s, Tensor) and s.node is not None for s in seeds)  # double VJP
    record = recording.enabled and (touches_outer or seeded or bool(recording.observers))
    reached = backward(order, seed_of, record) if seed_of else {}
    result = []
    for n, vs in enumerate(variables):
        if warn and vs and not any(v.node in reached for v in vs):
            warnings.warn(f"{opname}: the output does not depend on differentiated argument "
                          f"{n}; its gradient is zero", IndependentOutputWarning,
                          stacklevel=stacklevel)
        result.append([_as_gradient(reached[v.node], v.node) if v.node in reached else
                       Tensor._make(np.zeros(v.shape, v.dtype), None) for v in vs])
    return result, record


def _scalar_output(out: Any, opname: str) -> Tensor:
    if not isinstance(out, Tensor):
        if isinstance(out, (float, np.floating)) or (
                isinstance(out, np.ndarray) and out.size == 1 and out.dtype.kind == "f"):
            return Tensor(np.asarray(out, dtype=float))  # a constant: gradient zero
        if isinstance(out, (bool, int, complex, np.number, np.bool_, np.ndarray)):
            kind = out.dtype if isinstance(out, np.ndarray) else type(out).__name__
            raise TypeError(f"{opname}: the function returned {kind} {out!r}; a gradient needs "
                            f"a real floating-point scalar output (return a float, or a float "
                            f"tensor)")
        raise TypeError(f"{opname}: the function must return a scalar tensor, got "
                        f"{type(out).__name__}" + ("; with has_aux=True return (scalar, aux)"
                                                   if isinstance(out, tuple) else ""))
    if out.size != 1:
        raise TypeError(f"{opname}: the function must return a scalar, but it returned shape "
                        f"{out.shape}. grad is only defined for scalar outputs: use "
                        f"tm.jacobian(f) for the full Jacobian, or tm.vjp(f, x) with a cotangent "
                        f"of shape {out.shape}")
    if out.dtype.kind != "f":
        raise TypeError(f"{opname}: the function returned dtype {out.dtype}; a gradient needs a "
                        f"real floating-point output")
    return out


def _named(wrapper: Callable, f: Callable, opname: str) -> Callable:
    wrapper.__name__ = f"{opname}({getattr(f, '__name__', 'f')})"
    wrapper.__doc__, wrapper.__wrapped__ = getattr(f, "__doc__", None), f
    return wrapper


# ---------------------------------------------------------------- transforms
def value_and_grad(f: Callable, argnums: int | tuple[int, ...] = 0, has_aux: bool = False):
    """Return a function computing ``(f(*args), gradient)``; with ``has_aux`` f returns
    ``(value, aux)`` and the result is ``((value, aux), gradient)``.

    The gradient has the structure of the differentiated argument (a tuple of them when
    ``argnums`` is a tuple). It is recorded, and so can be differentiated again, exactly
    when it depends on a value an outer transform is differentiating.
    """
    return _value_and_grad(f, argnums, has_aux, "value_and_grad")


def _value_and_grad(f: Callable, argnums: Any, has_aux: bool, opname: str):
    _check_callable(f, opname)

    def value_and_grad_f(*args: Any, **kwargs: Any):
        nums = _argnums(argnums, len(args), opname)
        with recording.set(enabled=True):  # transforms record their own forward pass
            new_args, variables, treedefs = _prepare(args, nums, opname)
            result = f(*new_args, **kwargs)
        if has_aux and (not isinstance(result, tuple) or len(result) != 2):
            raise TypeError(f"{opname}: with has_aux=True the function must return a pair "
                            f"(scalar, aux), got {type(result).__name__}")
        out, aux = result if has_aux else (result, None)
        out = _scalar_output(out, opname)
        grads, recorded = _gradients([out], [np.ones(out.shape, out.dtype)], variables, opname,
                                     stacklevel=4 if opname == "grad" else 3)  # the caller
        if not recorded and out.node is not None:
            out = out.detach()  # nobody can differentiate it further: free its graph
        trees = [unflatten(d, g) for d, g in zip(treedefs, grads, strict=True)]
        g = trees[0] if isinstance(argnums, (int, np.integer)) else tuple(trees)
        return ((out, aux), g) if has_aux else (out, g)

    return _named(value_and_grad_f, f, opname)


def grad(f: Callable, argnums: int | tuple[int, ...] = 0, has_aux: bool = False):
    """Return a function computing the gradient of scalar ``f`` with respect to ``argnums``.
    ``tm.grad(tm.grad(f))`` is the second derivative, to any depth."""
    vg = _value_and_grad(f, argnums, has_aux, "grad")

    def grad_f(*args: Any, **kwargs: Any):
        value, g = vg(*args, **kwargs)
        return (g, value[1]) if has_aux else g

    return _named(grad_f, f, "grad")


def vjp(f: Callable, *args: Any) -> tuple[Any, Callable]:
    """Evaluate ``f(*args)`` and return ``(out, vjp_fn)``; ``vjp_fn(cotangent)`` returns a
    tuple with one cotangent per argument. ``out`` may be a tree of tensors; the cotangent
    must have the same structure and shapes."""
    _check_callable(f, "vjp")
    if not args:
        raise TypeError("vjp: pass the arguments to evaluate f at, e.g. tm.vjp(f, x)")
    return _vjp(f, args, tuple(range(len(args))), "vjp")


def _vjp(f: Callable, args: tuple, nums: tuple[int, ...], opname: str) -> tuple[Any, Callable]:
    with recording.set(enabled=True):
        new_args, variables, treedefs = _prepare(args, nums, opname)
        out = f(*new_args)
    out_leaves, out_def = flatten(out)
    for leaf in out_leaves:
        if not isinstance(leaf, Tensor):
            raise TypeError(f"{opname}: the function must return tensors, got "
                            f"{type(leaf).__name__}")

    def vjp_fn(cotangent: Any) -> tuple:
        c_leaves, c_def = flatten(cotangent)
        if c_def != out_def:
            raise ValueError(f"{opname}: the cotangent must have the same tree structure as "
                             f"the output")
        seeds = [_seed(o, c, opname) for o, c in zip(out_leaves, c_leaves, strict=True)]
        grads, _ = _gradients(out_leaves, seeds, variables, opname, warn=False)
        return tuple(unflatten(d, g) for d, g in zip(treedefs, grads, strict=True))

    return out, vjp_fn


def jvp(f: Callable, primals: Sequence[Any], tangents: Sequence[Any]) -> tuple[Any, Any]:
    """Forward-mode product: ``(f(*primals), J·tangents)`` without forming the Jacobian J.

    One tangent per primal, each with its primal's structure and shapes. Built from two
    reverse passes (the "double-VJP trick"): u ↦ Jᵀu is linear in u, so its VJP applied
    to the tangents is J·tangents. Composes with ``grad`` to any order.
    """
    _check_callable(f, "jvp")
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
    out, pullback = _vjp(f, tuple(primals), tuple(range(len(primals))), "jvp")
    out_leaves, out_def = flatten(out)
    zeros = unflatten(out_def, [np.zeros(o.shape, dtype=o.dtype) for o in out_leaves])
    _, pullback_of_pullback = _vjp(pullback, (zeros,), (0,), "jvp")
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
    _check_callable(f, _opname)

    def jacobian_f(*args: Any):
        nums = _argnums(argnums, len(args), _opname)
        out, pullback = _vjp(f, args, nums, _opname)
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

    return _named(jacobian_f, f, _opname)


def hessian(f: Callable, argnums: int = 0):
    """The Hessian of scalar ``f``: ``jacobian(grad(f))``, shape A + A for an argument of
    shape A."""
    _check_callable(f, "hessian")
    return jacobian(grad(f, argnums), argnums, _opname="hessian")


def hvp(f: Callable, x: Any, v: Any) -> Any:
    """The Hessian-vector product ∇²f(x) v without forming the Hessian (reverse-over-reverse).
    ``v`` has the structure and shapes of ``x``; so does the result."""
    _check_callable(f, "hvp")
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


# ---------------------------------------------------------------- stop_gradient
def _stop(x: Any) -> Any:
    if not isinstance(x, Tensor) or x.node is None:
        return x
    out = x.detach()  # a constant: no backward pass at any level passes through it
    for observer in recording.observers:
        observer("stop_gradient", (x,), {}, out)
    return out


def stop_gradient(x: Any) -> Any:
    """Identity on values, zero derivative at every order; accepts a tree.

    The result is a constant, so no backward pass at any nesting level passes through
    it (a "stop" that only stopped one level would be a bug: see the tests). It does not
    keep its input alive.
    """
    leaves, treedef = flatten(x)
    return unflatten(treedef, [_stop(leaf) for leaf in leaves])
