"""Tensor: a read-only numpy array plus the node that made it.

tinymeta records one define-by-run graph. Every primitive op whose inputs
include a tensor that *requires grad* returns a tensor that remembers

    op         the primitive's name ("multiply", "matmul", ...)
    _inputs    the arguments it was called with (tensors, arrays, numbers; for
               a handle, below, its node stands in its place)
    _vjps      one vector-Jacobian-product rule per argument
    _params    static keyword arguments (axis, shape, ...)

so the graph is nothing more than each tensor's inputs, as in micrograd. A
tensor that requires no grad is a constant: it records nothing and keeps
nothing alive.

Each recorded tensor also carries what a reader of the graph wants to know:

    _seq         creation order; a tensor can only depend on older tensors
    scope        the ``name_scope`` it was made in ("inner step 1")
    order        0 for forward ops; 1 + the order of the node whose VJP made
                 it for tensors made by a backward pass (an inner gradient of
                 MAML has order 1, a Hessian-vector product order 2)
    backward_of  for a backward-made tensor, the tensor whose VJP made it

A recorded op whose VJP rules never read its output (of 4 kB or more)
returns a *handle*: a tensor like any other, whose ``_node`` is a twin that
stands for it in the graph and keeps only its shape (``ShapeOnly``) unless a
later rule needs the value. So values no rule reads die with the handles
that hold them (``primitive.py`` explains the bookkeeping).

Whether anything is recorded at all is decided by a small global state kept
in this module (``_state``): ops record only while ``_state.recording`` is
true, and the backward pass switches it off unless someone above will
differentiate what it computes. ``autodiff.py`` explains that decision.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

__all__ = ["Tensor", "tensor", "name_scope", "no_grad", "is_tensor"]


class _State:
    """Process-wide recording switches (tinymeta is single-threaded by design)."""

    __slots__ = (
        "recording",
        "scope",
        "scopes",
        "backward_order",
        "backward_of",
        "keep_cut_edges",
        "debug_nans",
        "backward_nodes",
        "raw",
    )

    def __init__(self) -> None:
        self.recording = True  # ops record nodes for inputs that require grad
        self.scopes: list[str] = []
        self.scope = ""  # "/".join(scopes), cached because every node reads it
        self.backward_order = 0  # >0 while a recorded backward pass runs a VJP
        self.backward_of: Tensor | None = None
        self.keep_cut_edges = False  # stop_gradient remembers its input (rendering)
        self.debug_nans = False
        self.backward_nodes = 0  # how many nodes backward passes have recorded
        self.raw = False  # primitives take and return bare numpy (unrecorded backward)


_state = _State()
_seq = itertools.count()


@contextmanager
def name_scope(name: str) -> Iterator[None]:
    """Tag every node made inside the block with ``name`` (nested scopes join with "/")."""
    if not isinstance(name, str) or not name:
        raise TypeError(f"name_scope: name must be a non-empty str, got {name!r}")
    _state.scopes.append(name)
    _state.scope = "/".join(_state.scopes)
    try:
        yield
    finally:
        _state.scopes.pop()
        _state.scope = "/".join(_state.scopes)


@contextmanager
def switched(flag: str, value: bool) -> Iterator[None]:
    """Set one of the recording switches in ``_state`` for the duration of a block."""
    previous = getattr(_state, flag)
    setattr(_state, flag, value)
    try:
        yield
    finally:
        setattr(_state, flag, previous)


def no_grad():
    """Run ops without recording: results are constants (like ``torch.no_grad``).

    The transforms (``grad`` and friends) still record their own forward pass inside it.
    """
    return switched("recording", False)


class ShapeOnly:
    """Stands in a recorded graph for a value that no VJP rule will read: its shape and
    dtype only, so that rules can still unbroadcast to it."""

    __slots__ = ("shape", "dtype")

    def __init__(self, shape: tuple[int, ...], dtype: Any) -> None:
        self.shape, self.dtype = shape, dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    def __repr__(self) -> str:
        return f"ShapeOnly({self.shape}, {self.dtype})"


def _immutable(array: np.ndarray) -> np.ndarray:
    """``array`` read-only for good: a view of memory someone can still change (the
    reshape of a writable intermediate, a bytearray) is copied first."""
    if _base_changeable(array):
        array = array.copy()
    return _readonly(array)


def _changeable(array: np.ndarray) -> bool:
    """Can someone still change ``array``'s values without making it writable again: it
    is writable, or a view of memory that is (a writable array, a bytearray, a memory
    map), changed through its base?"""
    return array.flags.writeable or _base_changeable(array)


def _base_changeable(array: np.ndarray) -> bool:
    base = array.base
    if base is None or isinstance(base, bytes):
        return False
    if isinstance(base, np.ndarray):
        return _changeable(base)
    return True  # a buffer we cannot vouch for


def _readonly(array: np.ndarray) -> np.ndarray:
    if array.flags.writeable:
        array.flags.writeable = False
    return array


_FLOAT_KINDS = "f"  # tinymeta is real-valued: complex numbers are refused


class Tensor:
    """A read-only numpy array, and (if it requires grad) the op that made it.

    Build one with ``tm.tensor(data, requires_grad=False, dtype=None)``.
    """

    __slots__ = (
        "_data",
        "_inputs",
        "_vjps",
        "_params",
        "op",
        "requires_grad",
        "grad",
        "_seq",
        "scope",
        "order",
        "backward_of",
        "_name",
        "_node",
        "__weakref__",
    )
    # numpy must hand binary operators back to us (ndarray + Tensor -> Tensor.__radd__)
    __array_ufunc__ = None

    def __init__(
        self, data: Any, requires_grad: bool = False, dtype: Any = None, name: str | None = None
    ) -> None:
        array = _as_array(data, dtype, "tensor")
        if requires_grad and array.dtype.kind not in _FLOAT_KINDS:
            raise TypeError(
                f"tensor: requires_grad=True needs a floating dtype, got {array.dtype}; "
                f"pass dtype=np.float64 (or float32)"
            )
        _init_constant(self, _readonly(array))
        if requires_grad:
            self.op = "leaf"
            self.requires_grad = True
        self.name = name

    @property
    def name(self) -> str | None:
        """A label for pictures (``tm.grad`` names its variables ``arg0['w1']``)."""
        return self._name

    @name.setter
    def name(self, value: str | None) -> None:
        self._name = value
        if self._node is not None:  # a handle: the graph shows its node
            self._node._name = value

    def _value(self) -> np.ndarray:
        """The numpy value; a clear error for a graph node that did not keep it."""
        if type(self._data) is ShapeOnly:
            raise ValueError(
                f"this graph node's value ({self._data.shape}, {self._data.dtype}, made by "
                f"{self.op}) was not kept: no VJP rule reads it. Values you hold are kept; "
                f"to inspect every node of a graph, build it under tm.keep_graph()"
            )
        return self._data

    # -- numpy-like read-only views -------------------------------------------------
    @property
    def data(self) -> np.ndarray:
        """The value as a read-only numpy array (writing into it raises ValueError).

        A view of a read-only array: even ``data.flags.writeable = True`` is refused.
        """
        return _immutable(self._value()).view()

    @property
    def shape(self) -> tuple[int, ...]:
        return self._data.shape

    @property
    def dtype(self) -> np.dtype:
        return self._data.dtype

    @property
    def ndim(self) -> int:
        return self._data.ndim

    @property
    def size(self) -> int:
        return self._data.size

    def __len__(self) -> int:
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def numpy(self) -> np.ndarray:
        """A writable copy of the value."""
        return np.array(self._value())

    def item(self) -> float:
        if self._data.size != 1:
            raise ValueError(
                f"item: only a tensor with one element converts to a Python scalar, "
                f"got shape {self.shape}"
            )
        return self._value().item()

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        if self.requires_grad:
            # numpy would compute on the bare values and the gradient would silently vanish
            raise TypeError(
                f"cannot convert a traced tensor (shape {self.shape}, made by {self.op}) to a "
                f"numpy array: the result would not be differentiated. Use tinymeta's function "
                f"of the same name (tm.sum, tm.stack, ...) to stay in the graph, or leave it "
                f"explicitly with .numpy() or tm.stop_gradient(x)"
            )
        value = self._value()
        if dtype is not None and dtype != value.dtype:
            return value.astype(dtype)
        return _immutable(value)

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __bool__(self) -> bool:
        if self._data.size != 1:
            raise ValueError(
                f"the truth value of a tensor of shape {self.shape} is ambiguous; "
                f"use .data.any() or .data.all()"
            )
        return bool(self._value())

    __hash__ = object.__hash__  # identity: tensors are graph nodes

    @property
    def is_leaf(self) -> bool:
        return self._vjps is None

    # -- the node, read-only, for renderers and the curious ------------------------
    @property
    def inputs(self) -> tuple:
        """The arguments of the op that made this tensor (tensors, arrays, numbers); () for
        leaves and constants."""
        return self._inputs or ()

    @property
    def op_params(self) -> dict:
        """The op's static keyword arguments (axis, shape, ...)."""
        return dict(self._params or {})

    @property
    def seq(self) -> int:
        """Creation number: a tensor depends only on tensors with smaller numbers."""
        return self._seq

    @property
    def vjp_rules(self) -> tuple:
        """One VJP rule per input (None where no gradient flows); () for leaves."""
        return self._vjps or ()

    def detach(self) -> Tensor:
        """The same value as a constant (no graph, no gradient)."""
        return _constant(self._value())

    def __repr__(self) -> str:
        if type(self._data) is ShapeOnly:
            return f"tensor(<value not kept>, shape={self.shape}, op={self.op!r})"
        body = np.array2string(self._data, precision=6, separator=", ", threshold=20,
                               prefix="tensor(")
        extra = ""
        if self.requires_grad:
            extra = f", op={self.op!r}" if self._vjps is not None else ", requires_grad=True"
        if self._data.dtype != np.float64:
            extra += f", dtype={self._data.dtype}"
        return f"tensor({body}{extra})"

    # -- operators: thin aliases of the primitives in tinymeta.ops ------------------
    def __add__(self, other):
        return ops.add(self, other)

    def __radd__(self, other):
        return ops.add(other, self)

    def __sub__(self, other):
        return ops.subtract(self, other)

    def __rsub__(self, other):
        return ops.subtract(other, self)

    def __mul__(self, other):
        return ops.multiply(self, other)

    def __rmul__(self, other):
        return ops.multiply(other, self)

    def __truediv__(self, other):
        return ops.divide(self, other)

    def __rtruediv__(self, other):
        return ops.divide(other, self)

    def __pow__(self, other):
        return ops.power(self, other)

    def __rpow__(self, other):
        return ops.power(other, self)

    def __matmul__(self, other):
        return ops.matmul(self, other)

    def __rmatmul__(self, other):
        return ops.matmul(other, self)

    def __neg__(self):
        return ops.negative(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return ops.abs(self)

    def __getitem__(self, index):
        return ops.getitem(self, index)

    # comparisons give constant bool tensors (no derivative)
    def __lt__(self, other):
        return _constant(self._value() < _raw(other))

    def __le__(self, other):
        return _constant(self._value() <= _raw(other))

    def __gt__(self, other):
        return _constant(self._value() > _raw(other))

    def __ge__(self, other):
        return _constant(self._value() >= _raw(other))

    def __eq__(self, other):  # type: ignore[override]
        return _constant(self._value() == _raw(other))

    def __ne__(self, other):  # type: ignore[override]
        return _constant(self._value() != _raw(other))

    @property
    def T(self) -> Tensor:
        return ops.transpose(self)

    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return ops.reshape(self, shape)

    def transpose(self, *axes):
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return ops.transpose(self, axes or None)

    def backward(self, gradient: Any = None, create_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into ``leaf.grad`` for every leaf that requires grad.

        PyTorch-style convenience over the same backward pass as ``tm.grad``.
        ``gradient`` is the seed; it may be omitted only for a one-element tensor.
        With ``create_graph=True`` the gradients are themselves recorded tensors.
        """
        from tinymeta.autodiff import backward_into_leaves

        backward_into_leaves(self, gradient, create_graph)


def _graph_node(t: Tensor) -> Tensor:
    """The node that stands for ``t`` in the graph (itself, unless ``t`` is a handle)."""
    return t if t._node is None else t._node


def _raw(x: Any) -> Any:
    return x._value() if type(x) is Tensor else x


def is_tensor(x: Any) -> bool:
    return isinstance(x, Tensor)


def _constant(array: Any) -> Tensor:
    """Fast path: wrap a fresh numpy result as a constant tensor (no validation)."""
    t = Tensor.__new__(Tensor)
    _init_constant(t, array if type(array) is np.ndarray else np.asarray(array))
    return t


def _init_constant(t: Tensor, array: np.ndarray) -> None:
    """Every field of a tensor that records nothing (the shared part of all constructors)."""
    t._data = array
    t._inputs = None
    t._vjps = None
    t._params = None
    t.op = "constant"
    t.requires_grad = False
    t.grad = None
    t._seq = next(_seq)
    t.scope = _state.scope
    t.order = 0
    t.backward_of = None
    t._name = None
    t._node = None  # None: this tensor is its own graph node (see _graph_node)


def _as_array(data: Any, dtype: Any, opname: str) -> np.ndarray:
    if isinstance(data, Tensor):
        data = data._data
    if isinstance(data, (str, bytes)) or data is None:
        raise TypeError(
            f"{opname}: cannot make a tensor from {type(data).__name__} {data!r}; "
            f"pass a number, a (nested) list of numbers or a numpy array"
        )
    try:
        array = np.array(data, dtype=dtype)  # always a copy: the tensor owns its data
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"{opname}: cannot make a numeric array from {type(data).__name__}: {error}"
        ) from None
    if dtype is None and array.dtype.kind not in _FLOAT_KINDS:
        if array.dtype.kind in "biu":
            array = array.astype(np.float64)  # float64 by default, as documented
        else:
            raise TypeError(
                f"{opname}: unsupported dtype {array.dtype} from {type(data).__name__}; "
                f"expected real numbers (tinymeta does not differentiate complex values)"
            )
    elif array.dtype.kind == "c":
        raise TypeError(f"{opname}: complex dtype {array.dtype}: tinymeta is real-valued")
    return array


def tensor(data: Any, requires_grad: bool = False, dtype: Any = None) -> Tensor:
    """Make a tensor. Integer/bool data become float64 unless ``dtype`` says otherwise;
    float32 data stays float32.

    A (nested) list of tensors that are being differentiated is stacked by a recorded op,
    as ``tm.stack`` would: ``tm.tensor([x, 2 * x])`` keeps its gradient.
    """
    if isinstance(data, (list, tuple)) and holds_traced(data):
        out = ops.shape.pack(data)
        if dtype is not None and np.dtype(dtype) != out.dtype:
            out = ops.astype(out, dtype=np.dtype(dtype))
        return out
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def holds_traced(seq: Any) -> bool:
    """Does a (nested) list or tuple hold a tensor that requires grad?"""
    for item in seq:
        if type(item) is Tensor:
            if item.requires_grad:
                return True
        elif isinstance(item, (list, tuple)) and holds_traced(item):
            return True
    return False


from tinymeta import ops  # noqa: E402  (ops needs Tensor; Tensor's operators need ops)
