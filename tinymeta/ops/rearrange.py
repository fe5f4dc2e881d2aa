"""Rearranging functions: numpy's ways to move, copy, cut and join the entries of an array.

None of these functions computes anything new from a value: every entry of the
result is an entry of the input (or a constant, such as pad's fill or tril's
zeros). Their derivatives are therefore *routings*: the cotangent of an input
entry is the sum of the cotangents of the output entries it was copied to.
That is why almost all of them need no VJP rule of their own. Each is a
composition of the shape primitives in ``ops/shape.py``, whose rules already
route cotangents back and are differentiable again:

- ``reshape``/``transpose``: ravel, flatten, moveaxis;
- ``broadcast_to`` then ``reshape``: repeat by an int, tile (a copy made by
  broadcasting is undone by ``sum_to_shape``, which adds the copies);
- ``getitem`` with slices: flip, split, array_split (undone by ``scatter_add``);
- ``getitem`` with a *constant index array*: diag, diagonal, repeat by an
  array. The trick is to ask numpy where each entry goes by running the
  function on the flat positions ``arange(size)``: ``np.diagonal`` of
  ``arange(12).reshape(3, 4)`` is ``[0, 5, 10]``, the flat positions of the
  diagonal. Gathering ``ravel(x)[positions]`` is then numpy's result, with
  numpy's own conventions, and its VJP scatters (adds) the cotangent back to
  those positions;
- ``scatter_add``: pad (the input placed inside zeros, by slices) and diag of
  a vector (placed on the flat positions of a diagonal); its VJP is getitem;
- ``concatenate``: vstack, hstack, dstack, column_stack, append;
- ``where`` with a constant mask: tril, triu.

``roll`` is the one new primitive: its VJP is ``roll`` by the opposite shift,
which is itself a primitive, so every order stays one cheap node (a gather by
an index array would cost a scatter with repeated-index handling instead).

``sort`` is differentiable as the gather by its own permutation: the
permutation is a constant (it changes only where entries tie, a set of
measure zero), so d sort(x) routes each output position's cotangent to the
input entry ``argsort`` put there: ``sort(x) == x[argsort(x)]``, derivatives
included. ``argsort`` is an integer result with no derivative; it returns a
constant tensor. Both look at the values, so the permutation is computed by a
primitive with no rule (as the masks of ``greater``): its result is a constant
for the derivative, yet a recorded value for ``tm.jit``, whose program sorts each
new input again instead of reusing the first call's order. The gather by it is
``take``, whose index is an argument (``ops/shape.py``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinymeta.checks import describe
from tinymeta.ops._export import export
from tinymeta.ops._util import normalize_axis, shape_of, values
from tinymeta.ops.elementwise import _data, add, multiply, where
from tinymeta.ops.shape import (
    _broadcast_to,
    _concatenate,
    _getitem,
    _reshape,
    _sequence,
    _take,
    _transpose,
    scatter_add,
)
from tinymeta.primitive import Primitive
from tinymeta.tensor import Tensor


# ---------------------------------------------------------------- argument helpers
def _int(value: Any, what: str, opname: str) -> int:
    """A Python int from an int-like argument (never a float, never a bool)."""
    if isinstance(value, Tensor):
        value = values(value, "an index argument")
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{opname}: {what} must be an int, got {value!r}")
    return int(value)


def _ints(value: Any, what: str, opname: str) -> tuple[int, ...]:
    """A tuple of Python ints from an int or a sequence (or 1-d array) of ints."""
    if isinstance(value, Tensor):
        value = values(value, "an index argument")
    if isinstance(value, np.ndarray) and value.ndim == 1:
        value = value.tolist() if value.dtype.kind in "iu" else list(value)
    if isinstance(value, (list, tuple)):
        return tuple(_int(v, what, opname) for v in value)
    return (_int(value, what, opname),)


def _axes_in_order(axis: Any, ndim: int, what: str, opname: str) -> tuple[int, ...]:
    """Axes as non-negative ints, in the caller's order (normalize_axis sorts them)."""
    out = []
    for a in _ints(axis, what, opname):
        if not -ndim <= a < ndim:
            valid = f"{-ndim}..{ndim - 1}" if ndim else "none: the array is 0-d"
            raise ValueError(f"{opname}: {what} {a} is out of range for an array with {ndim} "
                             f"dimensions (valid: {valid})")
        out.append(a % ndim)
    return tuple(out)


def _one_axis(axis: Any, ndim: int, opname: str) -> int:
    if axis is None or isinstance(axis, (tuple, list)):
        raise TypeError(f"{opname}: axis must be an int, got {axis!r}")
    return normalize_axis(axis, ndim, opname)[0]


def _size(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def _positions(shape: tuple[int, ...]) -> np.ndarray:
    """The flat position of every entry of an array of ``shape``: numpy's functions run on
    this give the index array that gathers their result from ``ravel(x)``."""
    return np.arange(_size(shape)).reshape(shape)


def _gather(x: Any, positions: np.ndarray) -> Tensor:
    """ravel(x)[positions]: a result of positions' shape; the VJP adds back (scatter_add)."""
    positions = np.array(positions)  # its own copy: a view would keep arange's base alive
    positions.flags.writeable = False
    return _getitem(_ravel(x), index=positions)


def _array(x: Any) -> Any:
    """A list or tuple as an array (by a reshape to its own shape, so the conversion is an
    op), for the functions whose primitive needs a dtype from its argument (scatter_add)."""
    if isinstance(x, (list, tuple)):
        return _reshape(x, shape=shape_of(x))
    return x


def _ravel(x: Any) -> Tensor:
    return _reshape(x, shape=(_size(shape_of(x)),))


# ---------------------------------------------------------------- ravel, flatten, moveaxis
def _check_order(order: Any, opname: str) -> None:
    if order != "C":
        raise ValueError(f"{opname}: only order='C' (row-major) is supported, got {order!r}")


@export
def ravel(a: Any, order: str = "C") -> Tensor:
    """numpy.ravel: the entries as a 1-d array, in row-major order (a reshape)."""
    _check_order(order, "ravel")
    return _ravel(a)


@export
def flatten(a: Any, order: str = "C") -> Tensor:
    """numpy.ndarray.flatten as a function: the same as ravel (tensors are never written
    to, so numpy's copy-versus-view difference does not arise)."""
    _check_order(order, "flatten")
    return _ravel(a)


@export
def moveaxis(a: Any, source: Any, destination: Any) -> Tensor:
    """numpy.moveaxis: move axes to new positions, the others keep their order (a transpose)."""
    ndim = len(shape_of(a))
    src = _axes_in_order(source, ndim, "source axis", "moveaxis")
    dst = _axes_in_order(destination, ndim, "destination axis", "moveaxis")
    if len(src) != len(dst):
        raise ValueError(f"moveaxis: source {source!r} and destination {destination!r} must "
                         f"have the same number of elements")
    for name, axes, given in (("source", src, source), ("destination", dst, destination)):
        if len(set(axes)) != len(axes):
            raise ValueError(f"moveaxis: repeated axis in {name} {given!r}")
    perm = [n for n in range(ndim) if n not in src]
    for d, s in sorted(zip(dst, src, strict=True)):
        perm.insert(d, s)
    return _transpose(a, axes=tuple(perm))


# ---------------------------------------------------------------- repeat, tile
@export
def repeat(a: Any, repeats: Any, axis: Any = None) -> Tensor:
    """numpy.repeat: each entry ``repeats`` times along ``axis`` (None: of the flattened
    array). ``repeats`` is an int or one int per entry along the axis.

    Its derivative adds the cotangents of an entry's copies.
    """
    r = _data(repeats)
    if r.size == 0 and r.ndim == 1:
        r = r.astype(np.intp)  # [] reads as float64; numpy takes it (for a 0-length axis)
    if r.dtype.kind not in "iu" or r.ndim > 1:
        raise TypeError(f"repeat: repeats must be an int or a 1-d array of ints, got "
                        f"{r.dtype} values of shape {r.shape}")
    if (r < 0).any():
        raise ValueError(f"repeat: repeats must be >= 0, got {r.tolist()}")
    if axis is None:
        a, ax = _ravel(a), 0
    else:
        ax = _one_axis(axis, len(shape_of(a)), "repeat")
    shape = shape_of(a)
    if r.size == 1:  # one count for all: copy by broadcasting a new axis after ``ax``
        n = int(r.reshape(()))
        wide = _reshape(a, shape=shape[:ax + 1] + (1,) + shape[ax + 1:])
        wide = _broadcast_to(wide, shape=shape[:ax + 1] + (n,) + shape[ax + 1:])
        return _reshape(wide, shape=shape[:ax] + (shape[ax] * n,) + shape[ax + 1:])
    if r.size != shape[ax]:
        raise ValueError(f"repeat: {r.size} repeats for axis {ax} of length {shape[ax]} "
                         f"(shape {shape}); give one int, or one per entry along the axis")
    return _gather(a, np.repeat(_positions(shape), r, axis=ax))


@export
def tile(A: Any, reps: Any) -> Tensor:  # noqa: N803  (numpy's name)
    """numpy.tile: ``A`` repeated ``reps`` times along each axis (A and reps are padded
    with leading 1s to the same length). A broadcast and a reshape: the derivative adds
    the cotangents of the copies."""
    reps_t = _ints(reps, "reps", "tile")
    if any(r < 0 for r in reps_t):
        raise ValueError(f"tile: reps must be >= 0, got {reps!r}")
    shape = shape_of(A)
    d = max(len(shape), len(reps_t))
    shape = (1,) * (d - len(shape)) + tuple(shape)
    reps_t = (1,) * (d - len(reps_t)) + reps_t
    # interleave: (s0, s1) -> (1, s0, 1, s1) -> broadcast (r0, s0, r1, s1) -> (r0 s0, r1 s1)
    x = _reshape(A, shape=tuple(n for s in shape for n in (1, s)))
    if any(r != 1 for r in reps_t):
        x = _broadcast_to(x, shape=tuple(n for r, s in zip(reps_t, shape, strict=True)
                                         for n in (r, s)))
    return _reshape(x, shape=tuple(r * s for r, s in zip(reps_t, shape, strict=True)))


# ---------------------------------------------------------------- roll (a primitive)
def _explain_roll(name, error, args, params):
    return ValueError(f"roll: cannot roll {describe(args[0])} by shift {params['shift']} along "
                      f"axis {params['axis']}: {error}")


# rolling is a permutation; its inverse (the transpose) rolls back
_roll = Primitive(
    "roll", lambda x, shift, axis: np.roll(x, shift, axis), _explain_roll,
    doc="numpy.roll(x, shift, axis); its VJP is roll by the opposite shift.",
).defvjp(lambda g, ans, x, shift, axis: _roll(g, shift=_negated(shift), axis=axis), saves=[()])


def _negated(shift: int | tuple[int, ...]) -> int | tuple[int, ...]:
    return -shift if isinstance(shift, int) else tuple(-s for s in shift)


@export
def roll(a: Any, shift: Any, axis: Any = None) -> Tensor:
    """numpy.roll: entries shifted cyclically by ``shift`` along ``axis`` (None: the
    flattened array, reshaped back). ``shift`` and ``axis`` may be tuples (broadcast
    against each other, as numpy does). Its VJP rolls the cotangent back."""
    ndim = len(shape_of(a))
    shifts = _ints(shift, "shift", "roll")
    if axis is None:
        if len(shifts) != 1:
            raise ValueError(f"roll: with axis=None, shift must be one int, got {shift!r}")
        return _roll(a, shift=shifts[0], axis=None)
    axes = _axes_in_order(axis, ndim, "axis", "roll")
    if len(shifts) != len(axes) and 1 not in (len(shifts), len(axes)):
        raise ValueError(f"roll: shift {shift!r} and axis {axis!r} must have the same length "
                         f"(or one of them be a single int)")
    if len(axes) == 1 and len(shifts) == 1:
        return _roll(a, shift=shifts[0], axis=axes[0])
    n = max(len(shifts), len(axes))
    shifts, axes = shifts * (n // len(shifts)), axes * (n // len(axes))
    return _roll(a, shift=shifts, axis=axes)


# ---------------------------------------------------------------- flip
@export
def flip(m: Any, axis: Any = None) -> Tensor:
    """numpy.flip: reverse the order of entries along ``axis`` (None: every axis), as
    the slice ``::-1``; the VJP flips the cotangent back into place."""
    ndim = len(shape_of(m))
    axes = normalize_axis(axis, ndim, "flip")
    index = tuple(slice(None, None, -1) if i in axes else slice(None) for i in range(ndim))
    return _getitem(m, index=index)


# ---------------------------------------------------------------- split, array_split
def _split(ary: Any, indices_or_sections: Any, axis: Any, opname: str) -> list[Tensor]:
    shape = shape_of(ary)
    ax = _one_axis(axis, len(shape), opname)
    n = shape[ax]
    sections = indices_or_sections
    if isinstance(sections, Tensor):
        sections = values(sections, "split")
    if isinstance(sections, (list, tuple)) or (
            isinstance(sections, np.ndarray) and sections.ndim > 0):
        cuts = _ints(sections, "an index in indices_or_sections", opname)
        bounds = [0, *cuts, n]
    else:
        k = _int(sections, "indices_or_sections (a number of sections, or a list of indices)",
                 opname)
        if k <= 0:
            raise ValueError(f"{opname}: the number of sections must be > 0, got {k}")
        if opname == "split" and n % k:
            raise ValueError(f"split: axis {ax} of shape {shape} has length {n}, which {k} "
                             f"sections cannot divide equally; use array_split for unequal "
                             f"sections, or give the split indices")
        # numpy's array_split: the first n % k sections get one entry more
        size, extra = divmod(n, k)
        bounds = [0]
        for i in range(k):
            bounds.append(bounds[-1] + size + (i < extra))
    # Python slice semantics for the bounds (negative counts from the end, beyond n
    # clamps, start > stop gives an empty piece), exactly numpy's
    lead = (slice(None),) * ax
    return [_getitem(ary, index=lead + (slice(start, stop),))
            for start, stop in zip(bounds[:-1], bounds[1:], strict=True)]


@export
def split(ary: Any, indices_or_sections: Any, axis: int = 0) -> list[Tensor]:
    """numpy.split: a list of sub-arrays along ``axis``, either ``indices_or_sections``
    equal sections (an error if they are not equal) or cut at the given indices. Each
    piece is a slice; its VJP puts the cotangent back in place."""
    return _split(ary, indices_or_sections, axis, "split")


@export
def array_split(ary: Any, indices_or_sections: Any, axis: int = 0) -> list[Tensor]:
    """numpy.array_split: like split, but a number of sections need not divide the axis
    (the first ``length % sections`` pieces are one longer)."""
    return _split(ary, indices_or_sections, axis, "array_split")


# ---------------------------------------------------------------- joining
def _at_least(x: Any, ndim: int, where_new: str) -> Any:
    """numpy's atleast_2d / atleast_3d shapes (and column_stack's columns) by a reshape."""
    s = tuple(shape_of(x))
    if len(s) >= ndim:
        return x
    if where_new == "column":  # column_stack: 0-d -> (1, 1), (n,) -> (n, 1)
        new = (s[0] if s else 1, 1)
    elif ndim <= 2:  # atleast_1d: () -> (1,); atleast_2d: () -> (1, 1), (n,) -> (1, n)
        new = (1,) * (ndim - len(s)) + s
    else:  # atleast_3d: (n,) -> (1, n, 1), (m, n) -> (m, n, 1)
        new = {0: (1, 1, 1), 1: (1, *s, 1), 2: (*s, 1)}[len(s)]
    return _reshape(x, shape=new)


def _join(opname: str, arrays: tuple, axis: int, made_by: str) -> Tensor:
    """concatenate along ``axis``, with an error that names the numpy function called."""
    shapes = [tuple(shape_of(a)) for a in arrays]
    ndim = len(shapes[0])
    ok = all(len(s) == ndim for s in shapes) and all(
        s[:axis] + s[axis + 1:] == shapes[0][:axis] + shapes[0][axis + 1:] for s in shapes)
    if not ok:
        shown = ", ".join(str(s) for s in shapes)
        raise ValueError(f"{opname}: cannot join shapes {shown} ({made_by}) along axis {axis}: "
                         f"they must have the same number of dimensions and equal sizes on "
                         f"every other axis")
    return _concatenate(*arrays, axis=axis)


@export
def vstack(tup: Any) -> Tensor:
    """numpy.vstack: concatenate along the first axis, 1-d arrays as rows (1, n)."""
    arrays = tuple(_at_least(a, 2, "rows") for a in _sequence(tup, "vstack"))
    return _join("vstack", arrays, 0, "as at least 2-d")


@export
def hstack(tup: Any) -> Tensor:
    """numpy.hstack: concatenate along the second axis (along the first for 1-d arrays)."""
    arrays = tuple(_at_least(a, 1, "rows") for a in _sequence(tup, "hstack"))
    return _join("hstack", arrays, 0 if len(shape_of(arrays[0])) == 1 else 1, "as at least 1-d")


@export
def dstack(tup: Any) -> Tensor:
    """numpy.dstack: concatenate along the third axis; (n,) becomes (1, n, 1) and (m, n)
    becomes (m, n, 1)."""
    arrays = tuple(_at_least(a, 3, "depth") for a in _sequence(tup, "dstack"))
    return _join("dstack", arrays, 2, "as at least 3-d")


@export
def column_stack(tup: Any) -> Tensor:
    """numpy.column_stack: 1-d arrays become columns (n, 1), then concatenate along the
    second axis."""
    arrays = tuple(_at_least(a, 2, "column") for a in _sequence(tup, "column_stack"))
    return _join("column_stack", arrays, 1, "1-d arrays as columns")


@export
def append(arr: Any, values: Any, axis: Any = None) -> Tensor:
    """numpy.append: ``values`` after ``arr``; with axis=None both are flattened first,
    else they must have the same number of dimensions (a concatenate)."""
    if axis is None:
        return _join("append", (_ravel(arr), _ravel(values)), 0, "flattened")
    ax = _one_axis(axis, len(shape_of(arr)), "append")
    return _join("append", (arr, values), ax, f"axis={axis}")


# ---------------------------------------------------------------- pad
def _pad_pairs(pad_width: Any, ndim: int) -> tuple[tuple[int, int], ...]:
    """numpy's reading of pad_width: n, (before, after), or one pair per axis."""
    try:
        w = np.asarray(_data(pad_width))
    except (TypeError, ValueError):
        w = None
    if w is None or w.dtype.kind not in "iu" or w.ndim > 2:
        raise TypeError(f"pad: pad_width must be an int, a (before, after) pair or one pair "
                        f"per axis, of non-negative ints; got {pad_width!r}")
    if (w < 0).any():
        raise ValueError(f"pad: pad_width must be >= 0, got {w.tolist()}")
    if w.size == 1:
        pairs = [(int(w.reshape(())),) * 2] * ndim
    elif w.size == 2 and w.shape != (2, 1):
        pairs = [tuple(int(v) for v in w.ravel())] * ndim
    else:
        try:
            pairs = np.broadcast_to(w, (ndim, 2)).tolist()
        except ValueError:
            raise ValueError(f"pad: pad_width of shape {w.shape} does not fit an array with "
                             f"{ndim} dimensions: give one (before, after) pair per axis, "
                             f"shape ({ndim}, 2)") from None
    return tuple((int(b), int(a)) for b, a in pairs)


@export
def pad(array: Any, pad_width: Any, mode: str = "constant", constant_values: Any = 0) -> Tensor:
    """numpy.pad in mode 'constant': ``array`` inside a border of ``constant_values`` (a
    number, (before, after), or one pair per axis; a 0-d tensor requiring grad is
    differentiated too). The array is placed by scatter_add, whose VJP cuts the
    cotangent's interior back out; the border is a constant added on top.
    """
    if mode != "constant":
        raise ValueError(f"pad: mode {mode!r} is not supported; tinymeta's pad has only "
                         f"mode='constant' (with constant_values=...)")
    array = _array(array)
    shape = tuple(shape_of(array))
    widths = _pad_pairs(pad_width, len(shape))
    out_shape = tuple(b + n + a for (b, a), n in zip(widths, shape, strict=True))
    inside = tuple(slice(b, b + n) for (b, _), n in zip(widths, shape, strict=True))
    out = scatter_add(array, index=inside, shape=out_shape)
    dtype = out.dtype
    if isinstance(constant_values, Tensor) and constant_values.requires_grad:
        if constant_values.shape != () or constant_values.dtype != dtype:
            raise TypeError(f"pad: a differentiable constant_values must be a 0-d tensor of "
                            f"the array's dtype {dtype}, got {describe(constant_values)}")
        border = _border(shape, widths, dtype, 1)
        return add(out, multiply(constant_values, border))
    values = _data(constant_values)
    if values.dtype.kind not in "biuf":
        raise TypeError(f"pad: constant_values must be real numbers, got "
                        f"{describe(constant_values)}")
    if values.size == 1 and not values.any():
        return out  # the default border of zeros: scatter_add made it already
    try:
        border = _border(shape, widths, dtype, values)
    except ValueError:
        raise ValueError(f"pad: constant_values of shape {values.shape} does not fit an array "
                         f"with {len(shape)} dimensions: give a number, a (before, after) "
                         f"pair or one pair per axis") from None
    return add(out, border) if border.any() else out


def _border(shape, widths, dtype, values) -> np.ndarray:
    """Zeros of the array's shape padded with ``values``, by numpy's rules (later axes
    fill the corners)."""
    if not shape:  # a 0-d array has no border (and numpy's pad would read no widths)
        np.broadcast_to(values, (0, 2))  # but the values must still make sense
        border = np.zeros((), dtype)
    else:
        border = np.pad(np.zeros(shape, dtype), widths, mode="constant",
                        constant_values=values)
    border.flags.writeable = False  # ours alone: a recorded graph need not copy it
    return border


# ---------------------------------------------------------------- diag, diagonal, tril, triu
@export
def diag(v: Any, k: int = 0) -> Tensor:
    """numpy.diag: a 1-d ``v`` becomes a square matrix with v on diagonal ``k``; a 2-d ``v``
    gives its diagonal ``k`` (a copy; empty if k is off the matrix)."""
    k = _int(k, "k", "diag")
    v = _array(v)
    shape = tuple(shape_of(v))
    if len(shape) == 1:
        n = shape[0] + abs(k)
        positions = np.diag(_positions((n, n)), k)  # the flat places of diagonal k
        placed = scatter_add(v, index=np.array(positions), shape=(n * n,))
        return _reshape(placed, shape=(n, n))
    if len(shape) == 2:
        return _gather(v, np.diag(_positions(shape), k))
    raise ValueError(f"diag: input must be 1-d (to build a matrix) or 2-d (to take a "
                     f"diagonal), got {describe(v)}")


@export
def diagonal(a: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Tensor:
    """numpy.diagonal: the diagonal ``offset`` of the 2-d slices on ``axis1``, ``axis2``;
    those axes are removed and the diagonal becomes the last axis."""
    offset = _int(offset, "offset", "diagonal")
    shape = tuple(shape_of(a))
    if len(shape) < 2:
        raise ValueError(f"diagonal: needs an array of at least 2 dimensions, got "
                         f"{describe(a)}")
    ax1 = _one_axis(axis1, len(shape), "diagonal")
    ax2 = _one_axis(axis2, len(shape), "diagonal")
    if ax1 == ax2:
        raise ValueError(f"diagonal: axis1 and axis2 must be different axes, both are {ax1}")
    return _gather(a, np.diagonal(_positions(shape), offset, ax1, ax2))


def _triangle(m: Any, k: Any, opname: str, lower: bool) -> Tensor:
    k = _int(k, "k", opname)
    shape = tuple(shape_of(m))
    if not shape:
        raise ValueError(f"{opname}: needs an array of at least 1 dimension (a 1-d array is "
                         f"broadcast to a square matrix, as numpy does), got {describe(m)}")
    rows, cols = shape[-2:] if len(shape) >= 2 else (shape[0], shape[0])
    keep = np.tri(rows, cols, k if lower else k - 1, dtype=bool)
    keep = keep if lower else ~keep
    keep.flags.writeable = False  # ours alone: a recorded graph need not copy it
    # where, not multiply: an inf in the dropped part gives 0, as numpy does (inf * 0 = nan);
    # a Python 0 keeps the array's dtype (float32 stays float32, ints stay ints)
    return where(keep, m, 0)


@export
def tril(m: Any, k: int = 0) -> Tensor:
    """numpy.tril: zeros above diagonal ``k`` of the last two axes; the derivative is
    the same mask applied to the cotangent."""
    return _triangle(m, k, "tril", lower=True)


@export
def triu(m: Any, k: int = 0) -> Tensor:
    """numpy.triu: zeros below diagonal ``k`` of the last two axes; the derivative is
    the same mask applied to the cotangent."""
    return _triangle(m, k, "triu", lower=False)


# ---------------------------------------------------------------- sort, argsort
_KINDS = (None, "quicksort", "mergesort", "heapsort", "stable")


def _sortable(a: Any, kind: Any, stable: Any, opname: str) -> tuple[Any, Any]:
    """The array to sort and the kind of sort (numpy 2's ``stable=True`` is kind='stable').
    Only its dtype and shape are read here: the values are sorted by a primitive."""
    if kind not in _KINDS:
        raise ValueError(f"{opname}: kind must be one of {_KINDS}, got {kind!r}")
    if stable is not None:
        if kind is not None:
            raise ValueError(f"{opname}: give kind or stable, not both (stable=True means "
                             f"kind='stable')")
        kind = "stable" if stable else None
    x = a if isinstance(a, (Tensor, np.ndarray)) else _data(a)
    if x.dtype.kind not in "biuf":
        raise TypeError(f"{opname}: needs real numbers, got {describe(a)}")
    return x, kind


def _sort_positions_forward(x: Any, axis: int | None, kind: Any) -> np.ndarray:
    """The flat position in x of each entry of sort(x, axis): what ravel(x) is gathered by."""
    perm = np.argsort(x, axis=axis, kind=kind)
    if axis is None:
        return perm
    return np.take_along_axis(_positions(np.shape(x)), perm, axis=axis)


# no rules: integer results, constants for the derivative but recorded values for tm.jit
_sort_positions = Primitive("sort_positions", _sort_positions_forward,
                            doc="argsort as flat positions into ravel(x).").defvjp()
_argsort = Primitive("argsort", lambda x, axis, kind: np.argsort(x, axis=axis, kind=kind),
                     doc="numpy.argsort, as a constant integer tensor.").defvjp()


@export
def sort(a: Any, axis: Any = -1, kind: str | None = None, *,
         stable: bool | None = None) -> Tensor:
    """numpy.sort along ``axis`` (None: of the flattened array).

    Differentiable as the gather by its permutation, ``x[argsort(x, axis, kind)]``:
    each output position's cotangent goes to the input entry that argsort put
    there. Between tied entries (where the derivative does not exist) that is a
    choice: ``kind="stable"`` (or ``stable=True``) keeps tied entries in their
    order, so the first of them gets the first place's cotangent; the default
    kind is quicker (a stable sort of floats is ~5x slower) and picks some
    order. NaNs sort to the end, as in numpy.
    """
    x, kind = _sortable(a, kind, stable, "sort")
    ax = None if axis is None else _one_axis(axis, len(shape_of(x)), "sort")
    return _take(_ravel(a), _sort_positions(x, axis=ax, kind=kind))


@export
def argsort(a: Any, axis: Any = -1, kind: str | None = None, *,
            stable: bool | None = None) -> Tensor:
    """numpy.argsort: the indices that sort ``a`` along ``axis`` (None: flattened), as a
    constant integer tensor. Not differentiable (integers have no derivative); use it
    to index, e.g. ``x[tm.argsort(x)]``, which is."""
    x, kind = _sortable(a, kind, stable, "argsort")
    if axis is not None:
        axis = _one_axis(axis, len(shape_of(x)), "argsort")
    return _argsort(x, axis=axis, kind=kind)
