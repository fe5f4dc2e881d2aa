"""Tensor: a read-only numpy array, and the graph node of the op that made it.

tinymeta records one define-by-run graph, as micrograd and PyTorch do. A
tensor is a value plus, if it is being differentiated, a ``Node``:

    Tensor   the value (a read-only numpy array) the user holds
    Node     what the graph remembers of the op that made it: the primitive,
             the nodes of its inputs, its static parameters, and the *saved
             values*: only the input values (and output) that its VJP rules
             will read

A tensor with a node "requires grad"; one without is a constant, which
records nothing and keeps nothing alive. Leaves (the values ``grad``
differentiates with respect to) have a node with no inputs.

Saved values are the engine's one memory rule, as PyTorch's saved tensors:
``multiply``'s rules read both inputs, ``add``'s read only their shapes, so an
``add`` node keeps no values at all, and a value that no rule reads dies
with the last tensor the user holds of it. A rule is handed an ``Unsaved``
(shape and dtype only; a node is one) for what its node did not save. That is
what keeps first-order MAML's memory flat in the number of inner steps: the
chain θ₀ → θ₁ → … of updates θᵢ = θᵢ₋₁ − α·stop_gradient(g) keeps only shapes.

Every node also knows what a reader of the graph wants: its name scope
(``with tm.name_scope("inner step 1")``), its creation number ``seq`` (a node
only depends on older nodes), and its derivative ``order``: 0 for the forward
pass, 1 + the order of the node whose VJP rule made it for nodes a recorded
backward pass creates (MAML's inner gradient has order 1).

The switches that decide what is recorded live in ``recording`` below. This
module knows no ops: operators (``+``, ``@``) and methods (``.sum()``) are
attached by ``tinymeta.ops``, ``backward`` by ``tinymeta.autodiff``.
"""

from __future__ import annotations

import itertools
from contextlib import ContextDecorator
from dataclasses import dataclass
from typing import Any

import numpy as np

from tinymeta.checks import as_array, readonly

__all__ = ["Tensor", "Node", "Unsaved", "constant", "name_scope", "no_grad", "is_tensor",
           "recording", "holds_traced", "leaf_of"]


@dataclass(slots=True)  # slots: these are read on every op, and a slot reads fastest
class Recording:
    """The recording switches, in one place (tinymeta is single-threaded by design)."""

    enabled: bool = True  # ops whose inputs require grad record nodes (off: ``no_grad``)
    numpy_only: bool = False  # a backward pass nobody differentiates: numpy in, numpy out
    order: int = 0  # while a recorded backward pass runs a VJP rule: the order of what it makes,
    rule_of: Node | None = None  # ... and the node whose rule it is
    scope: str = ""  # the current ``name_scope`` path ("inner step 1/query")
    observers: tuple = ()  # callbacks told of every op (``tm.observe``: how pictures are made)
    check_nans: bool = False  # raise at the first nan or inf (``tm.debug_nans``)
    backward_nodes: int = 0  # how many nodes recorded backward passes have made (for teaching)
    jit: Any = None  # the ``tm.jit`` recorder while a function is being compiled

    def set(self, **values: Any) -> Switched:
        """Set switches for the duration of a block: ``with recording.set(enabled=False):``."""
        return Switched(values)


class Switched(ContextDecorator):
    """Switches set inside a ``with`` block (or a decorated function), restored after it."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.values, self.previous = values, []  # a stack: the block may be re-entered

    def __enter__(self) -> None:
        self.previous.append({name: getattr(recording, name) for name in self.values})
        for name, value in self.values.items():
            setattr(recording, name, value)

    def __exit__(self, *exc: Any) -> None:
        for name, value in self.previous.pop().items():
            setattr(recording, name, value)


recording = Recording()
_seq = itertools.count()


class name_scope(Switched):  # noqa: N801 (used like a function: ``with tm.name_scope(..)``)
    """Tag every node made inside the block with ``name`` (nested scopes join with "/")."""

    def __init__(self, name: str) -> None:
        if not isinstance(name, str) or not name:
            raise TypeError(f"name_scope: name must be a non-empty str, got {name!r}")
        super().__init__({})
        self.name = name

    def __enter__(self) -> None:  # joined here, not above: right as a decorator too
        self.values = {"scope": f"{recording.scope}/{self.name}" if recording.scope else self.name}
        super().__enter__()


def no_grad():
    """Run ops without recording: results are constants (like ``torch.no_grad``).
    The transforms (``grad`` and friends) still record their own forward pass inside it."""
    return recording.set(enabled=False)


class Unsaved:
    """What a VJP rule is handed for a value its node did not save: shape and dtype."""

    __slots__ = ("shape", "dtype")

    def __init__(self, shape: tuple[int, ...], dtype: Any) -> None:
        self.shape, self.dtype = shape, dtype

    ndim = property(lambda self: len(self.shape))
    size = property(lambda self: int(np.prod(self.shape)))

    def __repr__(self) -> str:
        return f"Unsaved({self.shape}, {self.dtype})"

    def __array__(self, *args: Any, **kwargs: Any) -> np.ndarray:
        raise TypeError(f"a VJP rule read a value its node did not save ({self})")


class Node(Unsaved):
    """One recorded op: its primitive, the nodes of its inputs (None for constants), the
    values its rules read (``saved``, one per input; ``ans``, None if not kept), and
    labels. A node knows its value's shape and dtype: it is that value's ``Unsaved``."""

    __slots__ = ("primitive", "inputs", "saved", "ans", "params", "scope", "order", "rule_of",
                 "seq", "name", "grad", "__weakref__")

    def __init__(self, primitive: Any, inputs: tuple, saved: tuple, ans: Any, params: dict,
                 shape: tuple[int, ...], dtype: Any) -> None:
        self.primitive, self.inputs, self.saved, self.ans = primitive, inputs, saved, ans
        self.params, self.shape, self.dtype = params, shape, dtype
        self.scope, self.order, self.rule_of = recording.scope, recording.order, recording.rule_of
        self.seq = next(_seq)
        self.name: str | None = None
        self.grad: Tensor | None = None  # a leaf's accumulated gradient (Tensor.backward)

    @property
    def op(self) -> str:
        return "leaf" if self.primitive is None else self.primitive.name

    def __repr__(self) -> str:
        return f"<node {self.op} {self.shape} #{self.seq}>"


class Tensor:
    """A read-only numpy array, and (if it requires grad) the node that made it.

    Build one with ``tm.tensor(data, requires_grad=False, dtype=None)``.
    """

    __slots__ = ("_value", "node", "__weakref__")
    __array_ufunc__ = None  # numpy hands operators back to us (tinymeta installs dispatch)

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None,
                 name: str | None = None) -> None:
        array = as_array(data._value if isinstance(data, Tensor) else data, dtype, "tensor")
        if requires_grad and array.dtype.kind != "f":
            raise TypeError(f"tensor: requires_grad=True needs a floating dtype, got "
                            f"{array.dtype}; pass dtype=np.float64 (or float32)")
        self._value = readonly(array)
        self.node = leaf_of(self._value).node if requires_grad else None
        self.name = name

    @staticmethod
    def _make(value: np.ndarray, node: Node | None) -> Tensor:
        """A tensor of a value the engine just computed (no checks, no copy)."""
        t = object.__new__(Tensor)
        t._value, t.node = value, node
        return t

    requires_grad = property(lambda self: self.node is not None)
    shape = property(lambda self: self._value.shape)
    dtype = property(lambda self: self._value.dtype)
    ndim = property(lambda self: self._value.ndim)
    size = property(lambda self: self._value.size)
    op = property(lambda self: "constant" if self.node is None else self.node.op)

    @property
    def grad(self) -> Tensor | None:
        """The gradient ``backward()`` accumulated into this leaf (None before)."""
        return None if self.node is None else self.node.grad

    @grad.setter
    def grad(self, value: Tensor | None) -> None:
        if self.node is None:
            raise AttributeError("grad: only a tensor that requires grad has a gradient")
        self.node.grad = value

    @property
    def name(self) -> str | None:
        """A label for pictures (``tm.grad`` names its variables ``arg0['w1']``)."""
        return None if self.node is None else self.node.name

    @name.setter
    def name(self, value: str | None) -> None:
        if self.node is not None:
            self.node.name = value

    @property
    def data(self) -> np.ndarray:
        """The value as a read-only numpy array (writing into it raises ValueError)."""
        recording.jit and recording.jit.concrete(self, ".data")
        if self._value.flags.writeable:
            self._value = readonly(self._value)
        return self._value.view()

    def numpy(self) -> np.ndarray:
        """A writable copy of the value: the explicit way out of the graph."""
        recording.jit and recording.jit.concrete(self, ".numpy()")
        return np.array(self._value)

    def item(self) -> float:
        recording.jit and recording.jit.concrete(self, ".item()")
        if self.size != 1:
            raise ValueError(f"item: only a tensor with one element converts to a Python "
                             f"scalar, got shape {self.shape}")
        return self._value.item()

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        if self.node is not None:
            # numpy would compute on the bare value and the gradient would silently vanish
            raise TypeError(
                f"cannot convert a traced tensor (shape {self.shape}, made by {self.op}) to a "
                f"numpy array: the result would not be differentiated. Use tinymeta's function "
                f"of the same name (tm.sum, tm.stack, ...) to stay in the graph, or leave it "
                f"explicitly with .numpy() or tm.stop_gradient(x)")
        recording.jit and recording.jit.concrete(self, "np.asarray()")
        return self.data if dtype is None or dtype == self.dtype else self._value.astype(dtype)

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __bool__(self) -> bool:
        recording.jit and recording.jit.concrete(self, "bool()")
        if self.size != 1:
            raise ValueError(f"the truth value of a tensor of shape {self.shape} is ambiguous; "
                             f"use .data.any() or .data.all()")
        return bool(self._value)

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    __hash__ = object.__hash__  # identity: a tensor is one value, not its contents

    def detach(self) -> Tensor:
        """The same value as a constant (no graph, no gradient)."""
        return Tensor._make(self._value, None)

    def __repr__(self) -> str:
        body = np.array2string(self._value, precision=6, separator=", ", threshold=20,
                               prefix="tensor(")
        extra = ""
        if self.node is not None:
            extra = ", requires_grad=True" if self.node.primitive is None else f", op={self.op!r}"
        if self.dtype != np.float64:
            extra += f", dtype={self.dtype}"
        return f"tensor({body}{extra})"


def constant(value: Any) -> Tensor:
    """A constant tensor of a value the engine computed (no copy, no checks)."""
    return Tensor._make(value if type(value) is np.ndarray else np.asarray(value), None)


def leaf_of(value: np.ndarray) -> Tensor:
    """A new leaf (a node without inputs) over a value the engine owns: no copy."""
    return Tensor._make(value, Node(None, (), (), None, {}, value.shape, value.dtype))


def is_tensor(x: Any) -> bool:
    return isinstance(x, Tensor)


def holds_traced(seq: Any) -> bool:
    """Does a (nested) list or tuple hold a tensor that requires grad?"""
    for item in seq:
        if type(item) is Tensor:
            if item.node is not None:
                return True
        elif isinstance(item, (list, tuple)) and holds_traced(item):
            return True
    return False
