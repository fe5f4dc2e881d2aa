"""Primitive: a numpy function plus one vector-Jacobian-product rule per argument.

Every differentiable operation in tinymeta is a ``Primitive``. Calling one

1. unwraps tensor arguments to their numpy arrays and runs the numpy forward;
2. if some argument requires grad (and recording is on) returns a tensor that
   remembers the op, its arguments and its VJP rules; otherwise a constant.

A VJP rule answers: given the cotangent ``g`` of the output, what is the
cotangent of argument i? Its signature is ``rule(g, ans, *args, **params)``
where ``ans`` is the output tensor and ``args`` are the arguments exactly as
the op received them (tensors stay tensors). A backward pass that nobody
will differentiate runs the same rules on bare numpy arrays instead
(``_state.raw``): every primitive then just calls its numpy forward, so a
first-order gradient costs little more than hand-written numpy. Rules are written with tinymeta
ops, never raw numpy on tensors, so that when a backward pass is recorded its
ops become graph nodes like any other and can be differentiated again. That
single rule is what makes gradients differentiable to any order.

Rules are filled in right after each primitive is defined (``defvjp``), so a
primitive and its derivative sit side by side, as in HIPS autograd.

What a graph keeps alive
------------------------
A recorded node needs the values its VJP rules read, and nothing else:
``multiply``'s rule for x reads y, ``add``'s rules read only shapes,
``tanh``'s reads its own output. ``defreads`` declares that per rule, and a
recorded op whose rules never read its output (of 4 kB or more: smaller ones
stay in their node) hands the caller a *handle*: a tensor with the value and
the node's metadata, whose graph node is a twin holding only the shape
(``ShapeOnly``) until some later op's rule needs the value. When the caller
drops the handle, a value nobody reads is freed, as PyTorch frees tensors
its autograd did not save. This is what bounds the
memory of MAML's inner loop: the inner gradient and ``α·g`` of every step are
not kept. Under ``keep_graph()`` (drawing) every node keeps its value.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from tinymeta.tensor import (
    ShapeOnly,
    Tensor,
    _changeable,
    _constant,
    _graph_node,
    _seq,
    _state,
    holds_traced,
)

__all__ = ["Primitive", "describe"]

VJPRule = Callable[..., Any]


def describe(x: Any) -> str:
    """A short description of an argument for error messages: 'shape (3, 4) float32'."""
    if isinstance(x, Tensor):
        return f"shape {x.shape} {x.dtype}"
    if isinstance(x, np.ndarray):
        return f"shape {x.shape} {x.dtype} (numpy)"
    if isinstance(x, (bool, int, float, complex, np.number)):
        return f"{type(x).__name__} {x!r}"
    return type(x).__name__


def _default_explain(name: str, error: Exception, args: tuple, params: dict) -> Exception:
    shown = ", ".join(describe(a) for a in args)
    extra = "".join(f", {k}={v!r}" for k, v in params.items())
    return type(error)(f"{name}: invalid arguments ({shown}{extra}): {error}")


class Primitive:
    """A named numpy function with VJP rules; calling it records a graph node."""

    def __init__(
        self,
        name: str,
        forward: Callable[..., Any],
        explain: Callable[[str, Exception, tuple, dict], Exception] | None = None,
        doc: str | None = None,
    ) -> None:
        self.name = name
        self.forward = forward
        self.vjps: tuple[VJPRule | None, ...] = ()
        # reads[i]: the argument positions (and "ans", the output) rule i reads the values
        # of; None: unknown, so a node keeps everything (custom primitives, variadic ops)
        self.reads: tuple[frozenset, ...] | None = None
        self.reads_values = True  # False: every rule reads shapes only (add, sum, reshape)
        # variadic ops (concatenate, stack) have one rule called as rule(i, g, ans, *args)
        self.vjp_takes_argnum = False
        # optional: slim(args, out) -> the inputs worth keeping in the graph (see add)
        self.slim: Callable[[tuple, np.ndarray], tuple] | None = None
        self.explain = explain or _default_explain
        self.__doc__ = doc or f"tinymeta primitive {name!r} (numpy: {forward!r})."
        self.__name__ = self.__qualname__ = name

    def defvjp(self, *rules: VJPRule | None) -> None:
        """Set the VJP rule of each positional argument (None: not differentiable)."""
        self.vjps = rules
        self.reads, self.reads_values = None, True  # new rules: declare their reads again

    def defreads(self, *reads: Any) -> None:
        """Declare, per rule, which values it reads: argument positions and/or "ans".

        ``multiply.defreads({1}, {0})``: the rule for x reads y and vice versa. A
        rule may always read shapes and dtypes. Leaving this undeclared is safe
        (every value is kept); declaring too little makes a rule meet a
        ``ShapeOnly`` where it expected numbers.
        """
        if self.vjp_takes_argnum:
            raise ValueError(f"{self.name}: a variadic primitive (one rule for every "
                             f"argument) cannot declare reads; leave it undeclared")
        if len(reads) != len(self.vjps):
            raise ValueError(f"{self.name}: {len(reads)} read sets for {len(self.vjps)} rules "
                             f"(call defreads after defvjp, one set per rule)")
        self.reads = tuple(frozenset(r) for r in reads)
        self.reads_values = any(self.reads)

    def __repr__(self) -> str:
        return f"<tinymeta primitive {self.name}>"

    def __call__(self, *args: Any, **params: Any) -> Tensor:
        if _state.raw:
            # inside a backward pass that nobody will differentiate: numpy in, numpy out
            out = self.forward(*args, **params)
            if _state.debug_nans:
                _check_finite(self.name, np.asarray(out), args)
            return out
        needs_grad = False
        arrays = False  # numpy arguments the caller can still change: copied if recorded
        # (read-only arrays that own their data, such as a sampled batch, are kept as they are)
        values = []
        nodes = []  # what the graph links to: a handle's node, else the argument itself
        for a in args:
            if type(a) is Tensor:
                if type(a._data) is ShapeOnly:
                    a._value()  # raises: a graph node that did not keep its value
                values.append(a._data)
                nodes.append(a if a._node is None else a._node)  # _graph_node, inlined
                if a.requires_grad:
                    needs_grad = True
            else:
                kind = type(a)
                if kind is list or kind is tuple:
                    if holds_traced(a):  # numpy would drop the graph: stack it, recorded
                        return self(*_packed(args), **params)
                elif kind is complex or (kind is np.ndarray and a.dtype.kind == "c"):
                    raise TypeError(f"{self.name}: got a complex value ({describe(a)}); "
                                    f"tinymeta is real-valued")
                values.append(a)
                nodes.append(a)
                if kind is np.ndarray and _changeable(a):
                    arrays = True
        try:
            out = self.forward(*values, **params)
        except (ValueError, TypeError, IndexError) as error:
            raise self.explain(self.name, error, args, params) from None
        if type(out) is not np.ndarray:
            out = np.asarray(out)
        if _state.debug_nans:
            _check_finite(self.name, out, args)

        if not (needs_grad and _state.recording):
            t = _constant(out)
            if _state.keep_cut_edges and _state.recording and _below_a_cut(args):
                _remember_for_drawing(t, self.name, args, params)
            return t
        if _state.keep_cut_edges:  # keep_graph(): every node keeps every value
            for a in args:
                if type(a) is Tensor and a._node is not None:
                    a._node._data = a._data  # a twin made outside keep_graph
            return self._node(out, _frozen(nodes) if arrays else tuple(nodes), params)
        if self.slim is not None:
            slimmed = self.slim(args, out)
            if slimmed is not args:
                args = slimmed
                nodes = [_graph_node(a) if type(a) is Tensor else a for a in args]
        if arrays:
            nodes = _frozen(nodes)  # the caller may change its array after we recorded
        if self.reads_values and _keep_read_values(self, args) or out.nbytes < _SMALL:
            # a rule reads the output, or it is too small to be worth a second object
            return self._node(out, tuple(nodes), params)
        node = self._node(_shape_only(out), tuple(nodes), params)
        return _handle(node, out)  # the caller's tensor; the graph holds only the node

    def _node(self, data: Any, inputs: tuple, params: dict) -> Tensor:
        t = Tensor.__new__(Tensor)
        t._data = data  # an array is made read-only when a user first looks at it (.data)
        t.grad = None
        t._name = None
        t._node = None
        t._seq = next(_seq)
        t.scope = _state.scope
        t._inputs = inputs
        t._vjps = self.vjps if not self.vjp_takes_argnum else tuple(
            functools.partial(self.vjps[0], i) for i in range(len(inputs))
        )
        t._params = params
        t.op = self.name
        t.requires_grad = True
        t.order = _state.backward_order
        t.backward_of = _state.backward_of
        if t.order:
            _state.backward_nodes += 1
        return t


def _packed(args: tuple) -> tuple:
    """``args`` with every (nested) list or tuple that holds a traced tensor stacked into
    one tensor by the recorded ``stack`` op, so its derivative is right at every order."""
    from tinymeta.ops.shape import pack  # ops are built on this module

    return tuple(pack(a) if type(a) in (list, tuple) and holds_traced(a) else a for a in args)


def _keep_read_values(prim: Primitive, args: tuple) -> bool:
    """Make the graph keep every argument value that prim's live rules read; return
    whether they read the output (then the node keeps that too)."""
    reads = prim.reads
    keep_out = reads is None  # undeclared: keep everything
    for i, a in enumerate(args):
        if type(a) is not Tensor or not a.requires_grad:
            continue  # rule i will never run
        for j in range(len(args)) if reads is None else reads[i]:
            if j == "ans":
                keep_out = True
                continue
            b = args[j]
            if type(b) is Tensor:
                node = b._node
                if node is not None and type(node._data) is ShapeOnly:
                    node._data = b._data  # a later rule reads it after all: keep it
    return keep_out


# Outputs below this many bytes stay in their node: a handle costs a second object per
# op (about 1 us), which is all a handle could save for a 512-float value.
_SMALL = 4096

_SHAPES: dict[tuple, ShapeOnly] = {}


def _shape_only(out: np.ndarray) -> ShapeOnly:
    """The (shared, immutable) stand-in for a value of out's shape and dtype."""
    key = (out.shape, out.dtype)
    placeholder = _SHAPES.get(key)
    if placeholder is None:
        placeholder = ShapeOnly(out.shape, out.dtype)
        if len(_SHAPES) < 4096:
            _SHAPES[key] = placeholder
    return placeholder


def _handle(node: Tensor, out: np.ndarray) -> Tensor:
    """The tensor an op returns when its node need not keep the value: same metadata,
    the value, and a link to the node that stands for it in the graph."""
    t = Tensor.__new__(Tensor)
    t._data = out
    t.grad = None
    t._name = None
    t._node = node
    t._seq = node._seq
    t.scope = node.scope
    t._inputs = node._inputs
    t._vjps = node._vjps
    t._params = node._params
    t.op = node.op
    t.requires_grad = True
    t.order = node.order
    t.backward_of = node.backward_of
    return t


def _frozen(args: tuple) -> tuple:
    """Read-only copies of the numpy arrays among ``args`` that someone could still change
    (a graph must not change)."""
    out = []
    for a in args:
        if type(a) is np.ndarray and _changeable(a):
            a = a.copy()
            a.flags.writeable = False
        out.append(a)
    return tuple(out)


def _below_a_cut(args: tuple) -> bool:
    """keep_graph(): is an argument a stop_gradient kept for drawing (or computed from one)?"""
    return any(type(a) is Tensor and not a.requires_grad and a._inputs is not None for a in args)


def _remember_for_drawing(t: Tensor, name: str, args: tuple, params: dict) -> None:
    # FOMAML's ``α * stop_gradient(g)`` is a constant, so it would record nothing and the
    # cut would vanish from the picture. Under keep_graph() it remembers its inputs,
    # like the stop_gradient itself, so the renderer can draw the path from the cut to
    # the output. requires_grad stays False and there are no VJP rules: no gradient flows.
    t._inputs = args
    t._vjps = (None,) * len(args)
    t._params = params
    t.op = name
    t.order = _state.backward_order
    t.backward_of = _state.backward_of


def _check_finite(name: str, out: np.ndarray, args: tuple) -> None:
    if out.dtype.kind in "fc" and not np.isfinite(out).all():
        backward = _state.backward_order or _state.raw
        where = "the forward pass"
        if backward:
            rule_of = _state.backward_of
            where = ("a backward pass" if rule_of is None else
                     f"a backward pass, in the VJP rule of {rule_of.op!r}")
        bad = "nan" if np.isnan(out).any() else "inf"
        shown = ", ".join(describe(a) for a in args)
        raise FloatingPointError(
            f"{name}: produced {bad} in {where} (inputs: {shown}); "
            f"raised because tm.debug_nans() is on"
        )
