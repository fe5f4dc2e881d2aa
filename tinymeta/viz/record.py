"""What a picture is drawn from: every op a function runs, seen through ``tm.observe``.

The engine keeps only what gradients need: a node's inputs that require grad
and the values its rules read. A picture wants more: the data arrays an op
read, the constants (``α·stop_gradient(g)`` in first-order MAML is one), and
the edge a ``stop_gradient`` cut. So drawing does not ask the engine to keep
anything: it watches. ``Recorder`` is an observer (``tm.observe``) that turns
each op into an ``Op`` record holding its inputs as they were given, the
output tensor, its scope and derivative order; the walk in ``graph.py`` reads
those records. A recorder keeps every output it saw alive until it is
dropped, which is what a picture needs and the engine never pays for.

Inputs are matched to the records that made them: a tensor that requires
grad by its engine node (a recorded backward pass hands rules new tensors
over the same nodes), a constant by its value array.
"""

from __future__ import annotations

import functools
import itertools
import weakref
from typing import Any

import numpy as np

from tinymeta import Tensor, observe
from tinymeta.tensor import Node, recording
from tinymeta.tree import flatten

__all__ = ["Op", "Recorder", "records_of", "recording_of", "recorder_of"]

_seq = itertools.count()


class Op:
    """One op as drawn: name, inputs (``Op`` records, numpy arrays or Python numbers),
    static parameters, the output tensor, scope, derivative order and, for an op a
    backward pass made, the ``Op`` whose rule made it."""

    def __init__(self, op: str, inputs: list, params: dict, value: Tensor | None,
                 shape: tuple, dtype: Any, scope: str = "", order: int = 0,
                 backward_of: Op | None = None, node: Node | None = None) -> None:
        self.op, self.inputs, self.op_params, self.value = op, inputs, params, value
        self.shape, self.dtype, self.scope, self.order = shape, dtype, scope, order
        self.backward_of, self.node = backward_of, node
        self.below_cut = False  # a constant computed from a stop_gradient's output
        self.seq = next(_seq)

    @property
    def requires_grad(self) -> bool:
        return self.node is not None

    @property
    def name(self) -> str | None:
        return None if self.node is None else self.node.name

    def rules(self) -> frozenset:
        """The inputs the op has a VJP rule for (where a gradient can flow)."""
        prim = None if self.node is None else self.node.primitive
        if prim is None:
            return frozenset()
        return frozenset(i for i in range(len(self.inputs)) if prim.rule(i) is not None)

    def __repr__(self) -> str:
        return f"<Op {self.op} {self.shape} #{self.seq}>"


class Recorder:
    """An observer that records every op (use with ``tm.observe(recorder)``)."""

    def __init__(self) -> None:
        self._by_key: dict[tuple, Op] = {}

    @staticmethod
    def _key(x: Any) -> tuple | None:
        if type(x) is Tensor:
            return ("node", id(x.node)) if x.node is not None else ("value", id(x._value))
        if isinstance(x, Node):
            return ("node", id(x))
        if isinstance(x, np.ndarray):
            return ("value", id(x))
        return None

    def lookup(self, x: Any) -> Any:
        """The record of an input: the op that made it, a leaf or constant made outside,
        or the array or number itself."""
        key = self._key(x)
        if key is not None and key in self._by_key:
            return self._by_key[key]
        if type(x) is Tensor:  # a leaf, or a constant made before recording started
            op = "leaf" if x.node is not None and x.node.primitive is None else (
                "constant" if x.node is None else x.node.op)
            rec = Op(op, [], {}, x, x.shape, x.dtype, node=x.node,
                     scope=x.node.scope if x.node is not None else "",
                     order=x.node.order if x.node is not None else 0)
            self._by_key[key] = rec
            return rec
        return x

    def __call__(self, op: str, args: tuple, params: dict, out: Tensor) -> None:
        inputs = [self.lookup(a) for a in args]
        if out.node is None and op != "stop_gradient" and not any(
                isinstance(x, Op) and x.below_cut for x in inputs):
            # a constant no cut made (2/n in a rule): drawn as a constant, not as its op
            self._by_key[self._key(out)] = Op("constant", [], {}, out, out.shape, out.dtype,
                                              recording.scope)
            return
        rule_of = recording.rule_of if recording.order else None
        rec = Op(op, inputs, dict(params), out, out.shape, out.dtype, recording.scope,
                 recording.order, self._by_key.get(("node", id(rule_of))) if rule_of else None,
                 out.node)
        rec.below_cut = out.node is None  # behind a stop_gradient (FOMAML's α·g)
        self._by_key[self._key(out)] = rec

    def records(self, outputs: list[Tensor]) -> list[Op]:
        return [self.lookup(t) for t in outputs]


def records_of(outputs: list[Tensor]) -> list[Op]:
    """Records rebuilt from the engine's own nodes, for a tensor computed without a
    recorder: ops that require grad and their inputs that do (no constants or data)."""
    made: dict[int, Op] = {}
    stack = [t.node for t in outputs if t.node is not None]
    order: list[Node] = []
    while stack:
        node = stack.pop()
        if id(node) in made:
            continue
        made[id(node)] = None  # type: ignore[assignment]
        order.append(node)
        stack.extend(p for p in node.inputs if p is not None)
    for node in sorted(order, key=lambda n: n.seq):
        inputs = [made[id(p)] if p is not None else s for p, s in zip(
            node.inputs, node.saved, strict=True) if p is not None or _drawable(s)]
        made[id(node)] = Op(node.op, inputs, dict(node.params), None, node.shape, node.dtype,
                            node.scope, node.order, made.get(id(node.rule_of)), node)
    out = []
    for t in outputs:
        if t.node is None:
            out.append(Op("constant", [], {}, t, t.shape, t.dtype))
        else:
            made[id(t.node)].value = t
            out.append(made[id(t.node)])
    return out


def _drawable(value: Any) -> bool:
    return isinstance(value, (np.ndarray, int, float))


# output tensor id -> (a weak reference to it, the recorder that saw it made). Keyed by id:
# a tensor's == is elementwise, so it cannot be a dictionary key itself.
_RECORDERS: dict[int, tuple[weakref.ref, Recorder]] = {}


def recorder_of(output: Tensor) -> Recorder | None:
    """The recorder that saw ``output`` being made (by ``recording_of``), if any."""
    entry = _RECORDERS.get(id(output))
    return entry[1] if entry is not None and entry[0]() is output else None


def recording_of(f: Any, *args: Any, **kwargs: Any) -> Any:
    """Run ``f`` under a new ``Recorder``; its output tensors remember the recorder."""
    recorder = Recorder()
    for t in flatten((args, kwargs))[0]:  # the arguments' tensors first, in their order
        if isinstance(t, Tensor):
            recorder.lookup(t)
    with observe(recorder):
        out = f(*args, **kwargs)
    for t in flatten(out)[0]:
        if isinstance(t, Tensor):
            key = id(t)
            forget = functools.partial(_forget, _RECORDERS, key)  # holds the table itself
            _RECORDERS[key] = (weakref.ref(t, forget), recorder)
    return out


def _forget(table: dict, key: int, _ref: weakref.ref) -> None:
    table.pop(key, None)
