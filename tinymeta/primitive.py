"""Primitive: a numpy function plus one vector-Jacobian-product rule per argument.

Every differentiable operation in tinymeta is a ``Primitive``. Calling one runs
the numpy forward on the arguments' values and, if some argument requires grad
(and recording is on), records a ``Node``: the primitive, its inputs' nodes and
the values its rules read. The result is a tensor with that node, else a constant.

A VJP rule answers: given the cotangent ``g`` of the output, what is the
cotangent of argument i? Its signature is ``rule(g, ans, *args, **params)``; in a
recorded backward pass ``ans`` and ``args`` are tensors that carry their nodes, so
that the ops a rule runs are recorded too. Rules are written with tinymeta ops,
never raw numpy on tensors: that single rule makes gradients differentiable to any
order, since a recorded backward pass is a graph like any other. A backward pass
nobody will differentiate runs the same rules on bare numpy (``recording.numpy_only``),
so a first-order gradient costs little more than hand-written numpy.

One declaration per op: ``Primitive(name, forward).defvjp(rule_0, ..., saves=...)``,
or the decorator ``@primitive(rule_0, ..., saves=...)`` over the forward:

    @primitive(lambda g, ans, x, y: unbroadcast(g * y, shape_of(x)),
               lambda g, ans, x, y: unbroadcast(g * x, shape_of(y)),
               saves=({1}, {0}))
    def multiply(x, y):
        return np.multiply(x, y)

Positional arguments are the differentiable ones (one rule each); keyword
arguments are static parameters, handed to every rule. ``saves`` says per rule
which values it reads (argument positions and "ans"): a node keeps what the rules
of its traced arguments read and hands a rule an ``Unsaved`` (shape and dtype)
for the rest; left out, every value is kept. ``defvjp()`` with no rules declares
no derivative at all (a comparison, a mask): such a primitive's results are
constants. Without ``defvjp`` a primitive records nodes but has no rules yet:
a gradient through it raises an error that says so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tinymeta.checks import changeable, check_finite, default_explain, describe
from tinymeta.tensor import Node, Tensor, Unsaved, holds_traced, recording

__all__ = ["Primitive", "primitive", "describe"]


class Primitive:
    """A named numpy function with VJP rules; calling it records a graph node."""

    def __init__(self, name: str, forward: Callable[..., Any],
                 explain: Callable[[str, Exception, tuple, dict], Exception] | None = None,
                 doc: str | None = None) -> None:
        self.name = name
        self.forward = forward
        self.vjps: tuple[Callable | None, ...] | None = None  # (): no derivative; None: none yet
        self.saves: tuple[frozenset, ...] | None = None  # per rule; None: keep everything
        self.variadic = False  # one rule for every argument, called as rule(i, g, ans, ...)
        self._plans: dict[int, tuple[int, tuple[int, ...], bool]] = {}  # see _record
        self.explain = explain or default_explain
        self.__doc__ = doc or f"tinymeta primitive {name!r}."
        self.__name__ = self.__qualname__ = name

    def defvjp(self, *rules: Callable | None, saves: Any = None) -> Primitive:
        """Set the VJP rule of each positional argument (None: not differentiable) and,
        optionally, the values each rule reads (see the module docstring)."""
        if saves is not None and len(saves) != len(rules):
            raise ValueError(f"{self.name}: {len(saves)} 'saves' sets for {len(rules)} rules")
        self.vjps = rules
        self.saves = None if saves is None else tuple(frozenset(s) for s in saves)
        self._plans.clear()
        return self

    def rule(self, i: int) -> Callable | None:
        if self.variadic:
            return lambda *a, **p: self.vjps[0](i, *a, **p)
        return self.vjps[i] if self.vjps and i < len(self.vjps) else None

    def __repr__(self) -> str:
        return f"<tinymeta primitive {self.name}>"

    def __call__(self, *args: Any, **params: Any) -> Any:
        if recording.numpy_only:  # a backward pass nobody differentiates: numpy in and out
            out = self.forward(*args, **params)
            out = out if type(out) is np.ndarray else np.asarray(out)  # not a numpy scalar
            if recording.check_nans:
                check_finite(self.name, out, args, recording)
            recording.jit and recording.jit.call(self, args, params, out)
            return out
        values, nodes, traced, caller_arrays = [], [], 0, False  # traced: a bit per traced arg
        for i, a in enumerate(args):
            kind = type(a)
            if kind is Tensor:
                values.append(a._value)
                nodes.append(a.node)
                if a.node is not None:
                    traced |= 1 << i
            elif (kind is list or kind is tuple) and holds_traced(a):
                return self(*_packed(args), **params)  # numpy would drop the graph
            elif kind is complex or (kind is np.ndarray and a.dtype.kind == "c"):
                raise TypeError(f"{self.name}: got a complex value ({describe(a)}); "
                                f"tinymeta is real-valued")
            else:
                values.append(a)
                nodes.append(None)
                caller_arrays = caller_arrays or kind is np.ndarray and changeable(a)
        try:
            out = self.forward(*values, **params)
        except (ValueError, TypeError, IndexError) as error:
            raise self.explain(self.name, error, args, params) from None
        out = out if type(out) is np.ndarray else np.asarray(out)
        if caller_arrays and (out.base is not None or any(v is out for v in values)):
            out = out.copy(order="K")  # not a view of an array its caller can still change
        if recording.check_nans:
            check_finite(self.name, out, args, recording)
        recording.jit and recording.jit.call(self, values, params, out)
        caller = args if caller_arrays else ()  # its arrays may change: saved as copies
        node = self._record(nodes, values, out, params, traced, caller) if traced and \
            recording.enabled and self.vjps != () else None  # vjps (): a mask
        result = Tensor._make(out, node)
        for observe in recording.observers:
            observe(self.name, args, params, result)
        return result

    def _record(self, nodes: list, values: list, out: np.ndarray, params: dict, traced: int,
                caller_args: tuple) -> Node:
        """The node of one call: the input nodes, and the values the live rules read."""
        plan = self._plans.get(traced)  # one plan per pattern of traced arguments
        if plan is None or plan[0] != len(values):
            plan = self._plan(traced, len(values))
        _, unread, keep_ans = plan
        saved = values  # the forward has run: its list of values becomes the saved ones
        for i in unread:  # a value no live rule reads: only its shape and dtype stay
            saved[i] = nodes[i] or _unsaved_of(saved[i])  # a node is its value's Unsaved
        for i, a in enumerate(caller_args):  # a caller's array it could still change
            if type(a) is not Tensor and i not in unread:
                saved[i] = _saved(a)
        node = Node(self, tuple(nodes), tuple(saved), out if keep_ans else None,
                    params or _NO_PARAMS, out.shape, out.dtype)
        if node.order:
            recording.backward_nodes += 1
        return node

    def _plan(self, traced: int, nargs: int) -> tuple[int, tuple[int, ...], bool]:
        """(nargs, the arguments whose values no rule reads, whether a rule reads the
        output) for a call with ``nargs`` arguments, those whose bit is set in ``traced``
        requiring grad."""
        if self.saves is None:
            reads = None
        elif self.variadic:
            reads = self.saves[0]
        else:
            reads = frozenset().union(*(s for i, s in enumerate(self.saves) if traced >> i & 1))
        plan = (nargs, tuple(i for i in range(nargs) if reads is not None and i not in reads),
                reads is None or "ans" in reads)
        self._plans[traced] = plan
        return plan


def primitive(*rules: Callable | None, saves: Any = None, name: str | None = None,
              explain: Callable | None = None) -> Callable[[Callable], Primitive]:
    """Declare a primitive in one statement: ``@primitive(rule_0, ..., saves=...)`` over
    its numpy forward (see the module docstring). Works for user-defined ops too."""
    def declare(forward: Callable) -> Primitive:
        prim = Primitive(name or forward.__name__, forward, explain, forward.__doc__)
        return prim.defvjp(*rules, saves=saves)

    return declare


_NO_PARAMS: dict = {}


def _unsaved_of(a: Any) -> Unsaved:
    """The stand-in for a constant argument's value (a traced one's node stands in)."""
    if type(a) is np.ndarray:
        return Unsaved(a.shape, a.dtype)
    return Unsaved(np.shape(a), np.result_type(a))


def _saved(a: Any) -> Any:
    """What a node keeps of a numpy argument a rule reads: a private copy if its caller
    could still change it (a recorded graph must not change)."""
    if type(a) is np.ndarray and changeable(a) and recording.jit is None:  # jit: same object
        a = a.copy()
        a.flags.writeable = False
    return a


def _packed(args: tuple) -> tuple:
    """``args`` with every (nested) list or tuple holding a traced tensor stacked into one
    tensor by the recorded ``stack`` op, so its derivative is right at every order."""
    from tinymeta.ops.shape import pack  # ops are built on this module

    return tuple(pack(a) if type(a) in (list, tuple) and holds_traced(a) else a for a in args)
