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
result: when the ops it runs touch a value that requires grad *from outside
this differentiation*: the variable is an identity over an outer value, or a
node on the path from the variable to the output also reads a traced value
off that path (a closure, like ``x`` in ``grad(lambda y: x * y)``; to stay
simple, also one that turns out to depend on nothing outer, such as a leaf
made inside ``f``: then it records in vain, never wrongly). The walk in step 3
finds out, so a plain first-order gradient records nothing and runs on bare
numpy, while MAML's inner gradient is recorded: it depends on the outer θ.

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
from tinymeta.checks import (
    IndependentOutputWarning,
    check_argnums,
    check_callable,
    explain_unsaved,
    missing_rule,
    not_differentiable,
    readonly,
    scalar_output,
)
from tinymeta.primitive import Primitive
from tinymeta.tensor import Node, Tensor, leaf_of, recording
from tinymeta.tree import flatten, treedef_paths, unflatten

__all__ = [
    "grad", "value_and_grad", "vjp", "stop_gradient", "observe", "debug_nans",
    "IndependentOutputWarning", "backward_node_count", "backward_flow",
]


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
    backward pass a transform (``grad``, ``vjp``, ...) runs inside the block is recorded
    so that it can be seen.
    """
    return recording.set(observers=(*recording.observers, callback))


# ---------------------------------------------------------------- the backward pass
def _toposort(roots: Sequence[Node], targets: set[Node] | None):
    """The nodes between ``roots`` and ``targets`` (every leaf, for None), oldest first.

    Returns (schedule, off_path, older). ``schedule`` pairs each node on a path from a
    target to a root with the inputs a cotangent flows to (None for targets and leaves,
    where cotangents are collected); ``off_path``: such a node also reads a traced value
    off the paths, or a target is an identity over an outer value (then the backward
    pass must be recorded: that value may depend on an outer variable); ``older``: the
    roots depend on a traced value older than every target (they must keep their graphs).
    """
    oldest = min((t.seq for t in targets), default=-1) if targets else -1
    older = False  # do the roots depend on a traced value older than every target?
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
                elif p is not None:
                    older = True
    on_path: set[Node] = set()
    schedule: list[tuple[Node, tuple[int, ...] | None]] = []
    off_path = False
    for node in sorted(seen, key=_by_seq):  # a node is newer than its inputs
        if (node.primitive is None and targets is None) or (targets and node in targets):
            on_path.add(node)
            schedule.append((node, None))
            off_path |= node.primitive is not None  # an identity over an outer value
            continue
        edges, reads_off_path = [], False
        for i, p in enumerate(node.inputs):
            if p in on_path:
                edges.append(i)
            elif p is not None:
                reads_off_path = True  # a traced value that does not depend on the targets
        if edges:
            on_path.add(node)
            schedule.append((node, tuple(edges)))
            off_path |= reads_off_path
    off_path = off_path and targets is not None
    return schedule, off_path, older or off_path


_by_seq = operator.attrgetter("seq")


def _rule_inputs(node: Node, recorded: bool) -> tuple[Any, list]:
    """(ans, args) as the node's rules see them: tensors carrying their nodes when the
    backward pass is recorded, bare numpy otherwise; where a value was not kept, its
    ``Unsaved`` (the node that made it: an input's, or for ``ans`` this one)."""
    if not recorded:
        return (node if node.ans is None else node.ans), node.saved
    make = Tensor._make
    args = [v if p is None or type(v) is not np.ndarray else make(v, p)
            for v, p in zip(node.saved, node.inputs, strict=True)]
    return (node if node.ans is None else make(node.ans, node)), args


def backward(schedule: list, seeds: dict[Node, Any], record: bool,
             on_edge: Callable[[Node, int, Any], None] | None = None) -> dict[Node, Any]:
    """Propagate cotangents from ``seeds`` down ``schedule`` (from ``_toposort``); return
    those reaching its targets and leaves. ``on_edge(node, i, cotangent)`` is told of
    every cotangent a rule computes (how the flow overlay of ``tinymeta.viz`` is drawn).
    """
    cot = {node: g._value if type(g) is Tensor and not record else g for node, g in seeds.items()}
    reached: dict[Node, Any] = {}
    add = ops.add if record or recording.check_nans or recording.jit else np.add
    # order and rule_of are set per node below: the block restores them afterwards
    with recording.set(enabled=record, numpy_only=not record, order=recording.order,
                       rule_of=recording.rule_of):
        for node, edges in reversed(schedule):
            g = cot.pop(node, None)
            if g is None:
                continue
            if edges is None:  # a target or a leaf: collect, do not pass on
                reached[node] = g
                continue
            ans, args = _rule_inputs(node, record)
            recording.order, recording.rule_of = node.order + 1, node
            recording.jit and recording.jit.rule(node.primitive)  # may tm.jit record it?
            for i in edges:
                rule = node.primitive.rule(i)
                if rule is None:
                    raise missing_rule(node.op, i)
                try:
                    c = rule(g, ans, *args, **node.params)
                except (TypeError, ValueError, AttributeError) as error:
                    explain_unsaved(node, i, ans, args, error)
                    raise
                if on_edge is not None:
                    on_edge(node, i, c)
                p = node.inputs[i]
                cot[p] = c if p not in cot else add(cot[p], c)
    return reached


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
    schedule, _, _ = _toposort([out.node], None)
    record = create_graph and recording.enabled
    reached = backward(schedule, {out.node: seed}, record)
    for leaf, g in reached.items():
        g = _as_gradient(g, leaf)
        leaf.grad = g if leaf.grad is None else ops.add(leaf.grad, g)


Tensor.backward = _backward_into_leaves


def backward_flow(out: Tensor, on_edge: Callable[[Node, int, Any], None], seed: Any) -> None:
    """One unrecorded backward pass from ``out`` to every leaf, telling ``on_edge(node, i,
    cotangent)`` what every rule computes: how tools watch a gradient flow (the flow
    overlay of ``tinymeta.viz``)."""
    schedule, _, _ = _toposort([out.node], None)
    backward(schedule, {out.node: _seed(out, seed, "backward_flow")}, False, on_edge)


# ---------------------------------------------------------------- variables
identity = Primitive("identity", lambda x: x, doc="y = x; marks a value as a variable."
                      ).defvjp(lambda g, ans, x: g, saves=[()])


def _variable(leaf: Any, opname: str, argnum: int, path: str) -> Tensor:
    """A fresh tensor to differentiate with respect to (see the module docstring)."""
    if isinstance(leaf, Tensor) and leaf.dtype.kind == "f":
        t = identity(leaf) if leaf.node is not None else leaf_of(leaf._value)
    elif isinstance(leaf, (float, np.floating)) or (
            isinstance(leaf, np.ndarray) and leaf.dtype.kind == "f"):
        t = leaf_of(readonly(np.array(leaf)))  # a copy: ours
    else:
        raise not_differentiable(leaf, opname, argnum, path)
    t.name = f"arg{argnum}{path}"
    return t


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
    whether someone above can differentiate the results (then the outputs keep graphs)."""
    targets = {v.node for vs in variables for v in vs}
    seed_of: dict[Node, Any] = {}
    for o, s in zip(outs, seeds, strict=True):
        if isinstance(o, Tensor) and o.node is not None:  # an output twice: add its seeds
            seed_of[o.node] = s if o.node not in seed_of else ops.add(seed_of[o.node], s)
    schedule, off_path, older = _toposort(list(seed_of), targets)
    seeded = any(isinstance(s, Tensor) and s.node is not None for s in seeds)  # double VJP
    record = recording.enabled and (off_path or seeded or bool(recording.observers))
    reached = backward(schedule, seed_of, record) if seed_of else {}
    result = []
    for n, vs in enumerate(variables):
        if warn and vs and not any(v.node in reached for v in vs):
            warnings.warn(f"{opname}: the output does not depend on differentiated argument "
                          f"{n}; its gradient is zero", IndependentOutputWarning,
                          stacklevel=stacklevel)
        result.append([_as_gradient(reached[v.node], v.node) if v.node in reached else
                       Tensor._make(np.zeros(v.shape, v.dtype), None) for v in vs])
    return result, record or older  # can the results be differentiated further?


def named(wrapper: Callable, f: Callable, opname: str) -> Callable:
    wrapper.__name__ = f"{opname}({getattr(f, '__name__', 'f')})"
    wrapper.__doc__, wrapper.__wrapped__ = getattr(f, "__doc__", None), f
    return wrapper


# ---------------------------------------------------------------- transforms
def value_and_grad(f: Callable, argnums: int | tuple[int, ...] = 0, has_aux: bool = False,
                   *, opname: str = "value_and_grad"):
    """Return a function computing ``(f(*args), gradient)``; with ``has_aux`` f returns
    ``(value, aux)`` and the result is ``((value, aux), gradient)``.

    The gradient has the structure of the differentiated argument (a tuple of them when
    ``argnums`` is a tuple). It is recorded, and so can be differentiated again, when it
    depends on a traced value from outside (see the module docstring).
    """
    check_callable(f, opname)

    def value_and_grad_f(*args: Any, **kwargs: Any):
        nums = check_argnums(argnums, len(args), opname)
        with recording.set(enabled=True, numpy_only=False):  # transforms record their forward
            new_args, variables, treedefs = _prepare(args, nums, opname)
            result = f(*new_args, **kwargs)
        out, aux = scalar_output(result, opname, Tensor, has_aux)
        grads, differentiable = _gradients([out], [np.ones(out.shape, out.dtype)], variables,
                                           opname, stacklevel=4 if opname == "grad" else 3)
        if not differentiable and out.node is not None:
            out = out.detach()  # nobody can differentiate it further: free its graph
        trees = [unflatten(d, g) for d, g in zip(treedefs, grads, strict=True)]
        g = trees[0] if isinstance(argnums, (int, np.integer)) else tuple(trees)
        return ((out, aux), g) if has_aux else (out, g)

    return named(value_and_grad_f, f, opname)


def grad(f: Callable, argnums: int | tuple[int, ...] = 0, has_aux: bool = False):
    """Return a function computing the gradient of scalar ``f`` with respect to ``argnums``.
    ``tm.grad(tm.grad(f))`` is the second derivative, to any depth."""
    vg = value_and_grad(f, argnums, has_aux, opname="grad")

    def grad_f(*args: Any, **kwargs: Any):
        value, g = vg(*args, **kwargs)
        return (g, value[1]) if has_aux else g

    return named(grad_f, f, "grad")


def vjp(f: Callable, *args: Any) -> tuple[Any, Callable]:
    """Evaluate ``f(*args)`` and return ``(out, vjp_fn)``; ``vjp_fn(cotangent)`` returns a
    tuple with one cotangent per argument. ``out`` may be a tree of tensors; the cotangent
    must have the same structure and shapes."""
    check_callable(f, "vjp")
    if not args:
        raise TypeError("vjp: pass the arguments to evaluate f at, e.g. tm.vjp(f, x)")
    return vjp_at(f, args, tuple(range(len(args))), "vjp")


def vjp_at(f: Callable, args: tuple, nums: tuple[int, ...], opname: str) -> tuple[Any, Callable]:
    with recording.set(enabled=True, numpy_only=False):
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
