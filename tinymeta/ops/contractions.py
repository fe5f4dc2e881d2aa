"""Tensor contractions: einsum, and tensordot, dot, inner, outer, kron built on matmul.

One primitive does the work here, ``einsum``, and its derivative is the
nicest rule in the library: the VJP of an einsum is another einsum. Take

    C[i,k] = Σ_j A[i,j] B[j,k]          einsum("ij,jk->ik", A, B)

Every product term that contains A[i,j] is multiplied by B[j,k] and lands in
C[i,k], so the cotangent of A collects G[i,k] B[j,k] over k:

    dA[i,j] = Σ_k G[i,k] B[j,k]         einsum("ik,jk->ij", G, B)

In general the rule for operand i swaps roles: the cotangent G (labelled with
the output subscripts) joins the other operands as inputs, and operand i's
subscripts become the output. Three details make that exact:

* a label that only operand i carries (``"ij->i"`` sums j away) cannot be an
  output of the new einsum, which has nothing to read it from; the result is
  computed without it and broadcast along it (a sum's VJP is a broadcast);
* a label repeated within operand i (``"ii->i"`` reads the diagonal) cannot
  be repeated in an output either: only the diagonal entries were read, so the
  cotangent is G placed on the diagonal and zero elsewhere. The rule writes
  that as an einsum with a constant identity matrix, ``"i,ij->ij"``, whose
  own VJP (``"ij,ij->i"``) needs no special case;
* numpy lets a size-1 axis meet a larger one under the same label (it
  broadcasts); the cotangent is then summed back down (``unbroadcast``).

Because the rule is made of einsum, reshape and broadcast primitives, it is
differentiable again, to any order.

The other contractions compose existing primitives. ``tensordot`` moves the
contracted axes together (``transpose``), flattens each operand to a matrix
(``reshape``) and calls ``matmul``, which reaches BLAS and whose rules are
matrix products too; ``dot``, ``inner`` are tensordots with numpy's choice of
axes; ``outer`` and ``kron`` are a broadcasting multiply between reshaped
operands.
"""

from __future__ import annotations

import functools
import math
import string
from typing import Any

import numpy as np

from tinymeta.checks import describe
from tinymeta.ops._export import export
from tinymeta.ops._util import normalize_axis, shape_of, variadic
from tinymeta.ops.elementwise import _data, multiply
from tinymeta.ops.linalg import matmul
from tinymeta.ops.shape import _broadcast_to, _reshape, _transpose, unbroadcast
from tinymeta.primitive import Primitive
from tinymeta.tensor import Tensor

_LABELS = string.ascii_letters  # the subscript letters numpy's einsum accepts


# ---------------------------------------------------------------- operands
def _weak_numbers(operands: tuple) -> tuple:
    """Python numbers among ``operands`` become arrays of the dtype numpy's promotion
    would give the whole call (a float32 tensor times 2.0 stays float32): numpy's
    contraction functions would otherwise turn 2.0 into a float64 array first."""
    numbers = [o for o in operands if type(o) in (bool, int, float)]
    if not numbers:
        return operands
    dtype = np.result_type(*(o if type(o) in (bool, int, float) else _dtype(o)
                             for o in operands))
    return tuple(np.asarray(o, dtype=dtype) if type(o) in (bool, int, float) else o
                 for o in operands)


def _dtype(x: Any) -> np.dtype:
    """x's dtype, read without its values (under tm.jit they may not be read)."""
    return x.dtype if isinstance(x, (Tensor, np.ndarray)) else _data(x).dtype


@functools.lru_cache(maxsize=64)
def _eye(n: int, dtype: np.dtype) -> np.ndarray:
    eye = np.eye(n, dtype=dtype)
    eye.flags.writeable = False  # shared by every rule that asks: nobody may change it
    return eye


# ---------------------------------------------------------------- einsum: parsing
def _bad(subscripts: str, why: str) -> ValueError:
    return ValueError(f"einsum: invalid subscripts {subscripts!r}: {why}")


def _split_term(term: str, subscripts: str) -> tuple[str, str, bool]:
    """'ab...c' -> ('ab', 'c', True): the letters before and after the ellipsis."""
    if term.count("...") > 1:
        raise _bad(subscripts, f"'...' may appear at most once per operand ({term!r})")
    head, dots, tail = term.partition("...")
    for c in head + tail:
        if c not in _LABELS:
            raise _bad(subscripts, f"{c!r} is not a subscript: use the letters a-z and A-Z, "
                                   f"',' between operands, '->' before the output and '...'")
    return head, tail, bool(dots)


def _canonical(subscripts: str, shapes: list[tuple[int, ...]]) -> tuple[list[str], str]:
    """Expand ``subscripts`` for operands of ``shapes`` into explicit letters only:
    '...' becomes fresh letters (right-aligned, as numpy broadcasts), an implicit
    output becomes numpy's (the ellipsis axes, then the letters used once, sorted)."""
    text = subscripts.replace(" ", "")
    inputs, arrow, output = text.partition("->")
    if arrow and ("-" in output or ">" in output):
        raise _bad(subscripts, "'->' may appear only once")
    terms = inputs.split(",")
    if len(terms) != len(shapes):
        raise ValueError(
            f"einsum: subscripts {subscripts!r} name {len(terms)} operand(s) but "
            f"{len(shapes)} were given (shapes {', '.join(str(s) for s in shapes)})")
    parts = [_split_term(t, subscripts) for t in terms]
    if arrow:
        out_parts = _split_term(output, subscripts)
    ellipsis_ndim = 0
    for (head, tail, dots), shape in zip(parts, shapes, strict=True):
        covered = len(shape) - len(head) - len(tail)
        if covered < 0 or (covered and not dots):
            raise ValueError(
                f"einsum: operand {head + ('...' if dots else '') + tail!r} of {subscripts!r} has "
                f"{len(head) + len(tail)} subscript(s) for an array of shape {shape}, "
                f"{len(shape)}-d: give one letter per axis, or '...' for the rest")
        ellipsis_ndim = max(ellipsis_ndim, covered)
    fresh = [c for c in _LABELS if c not in text]
    if ellipsis_ndim > len(fresh):
        raise _bad(subscripts, "too many axes: einsum has only 52 letters")
    ellipsis = "".join(fresh[:ellipsis_ndim])
    expanded = []
    for (head, tail, _), shape in zip(parts, shapes, strict=True):
        covered = len(shape) - len(head) - len(tail)
        expanded.append(head + ellipsis[ellipsis_ndim - covered:] + tail)
    if arrow:
        head, tail, dots = out_parts
        if ellipsis_ndim and not dots:
            raise _bad(subscripts, "the operands' '...' covers axes the output does not name: "
                                   "add '...' to the output (or sum them away first)")
        out = head + (ellipsis if dots else "") + tail
        labels = set("".join(head + tail for head, tail, _ in parts))
        for c in head + tail:
            if c not in labels:
                raise _bad(subscripts, f"the output letter {c!r} names no input axis")
        if len(set(out)) != len(out):
            raise _bad(subscripts, "a letter appears twice in the output (to take a "
                                   "diagonal, repeat it in an input: 'ii->i')")
    else:
        letters = "".join(head + tail for head, tail, _ in parts)
        out = ellipsis + "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    return expanded, out


def _label_sizes(terms: list[str], shapes: list[tuple[int, ...]], subscripts: str
                 ) -> dict[str, int]:
    """The size of every letter; sizes 1 and n under one letter broadcast to n, as in numpy."""
    sizes: dict[str, int] = {}
    for term, shape in zip(terms, shapes, strict=True):
        own: dict[str, int] = {}
        for c, n in zip(term, shape, strict=True):
            if own.setdefault(c, n) != n:
                raise ValueError(
                    f"einsum: {c!r} is repeated in one operand of {subscripts!r} (shape {shape}) "
                    f"over axes of sizes {own[c]} and {n}: a diagonal needs equal sizes")
            known = sizes.get(c, 1)
            if known != 1 and n != 1 and known != n:
                raise ValueError(
                    f"einsum: {c!r} in {subscripts!r} has size {known} in one operand and {n} "
                    f"in another (shapes {', '.join(str(s) for s in shapes)}); sizes under one "
                    f"letter must be equal (or 1, which broadcasts)")
            sizes[c] = n if known == 1 else known
    return sizes


def _sublists(args: tuple) -> tuple[str, tuple]:
    """numpy's other form, einsum(a, [0, 1], b, [1, 2], [0, 2]), as a subscript string."""
    def letters(sub: Any) -> str:
        out = []
        for s in sub:
            if s is Ellipsis:
                out.append("...")
            elif isinstance(s, (int, np.integer)) and 0 <= s < len(_LABELS):
                out.append(_LABELS[s])
            else:
                raise ValueError(f"einsum: sublist entries must be ints in 0..51 or Ellipsis, "
                                 f"got {s!r}")
        return "".join(out)

    operands = args[0::2]
    terms = [letters(s) for s in args[1::2]]
    if len(args) % 2:  # an odd count: the last list is the output
        operands = operands[:-1]
        return ",".join(terms) + "->" + letters(args[-1]), operands
    return ",".join(terms), operands


# ---------------------------------------------------------------- einsum: the primitive
def _plan(optimize: Any, operands: tuple) -> Any:
    """numpy's contraction order search: worth its ~10 us for three or more operands
    (it avoids huge intermediates) and for large ones (pairs then go to BLAS)."""
    if optimize is not None:
        return optimize
    return len(operands) > 2 or any(np.size(o) >= 4096 for o in operands)


def _einsum_forward(*operands: Any, subscripts: str, optimize: Any) -> np.ndarray:
    return np.einsum(subscripts, *operands, optimize=_plan(optimize, operands))


def _explain_einsum(name, error, args, params):
    shown = ", ".join(describe(a) for a in args)
    return ValueError(f"einsum: cannot evaluate {params['subscripts']!r} on ({shown}): {error}")


def _contract(arrays: list, terms: list[str], out: str, optimize: Any) -> Any:
    """einsum(terms -> out), with no node when it is a no-op or a transpose."""
    if len(arrays) == 1 and len(set(terms[0])) == len(terms[0]):
        term = terms[0]
        if term == out:
            return arrays[0]
        if sorted(term) == sorted(out):
            return _transpose(arrays[0], axes=tuple(term.index(c) for c in out))
    return _einsum(*arrays, subscripts=",".join(terms) + "->" + out, optimize=optimize)


def _einsum_vjp(i, g, ans, *operands, subscripts, optimize):
    inputs, out = subscripts.split("->")
    terms = inputs.split(",")
    target = terms[i]
    sizes = _label_sizes(terms, [shape_of(o) for o in operands], subscripts)
    others = [t for j, t in enumerate(terms) if j != i]
    arrays = [g] + [o for j, o in enumerate(operands) if j != i]
    # a letter repeated in operand i: each repeat gets a fresh letter, tied to the first
    # by an identity matrix, so the cotangent lands on the diagonal only
    fresh = iter(c for c in _LABELS if c not in subscripts)
    dtype = _dtype(g)
    seen: set[str] = set()
    spread, eye_terms = [], []
    for c in target:
        if c in seen:
            f = next(fresh)
            eye_terms.append(c + f)
            arrays.append(_eye(sizes[c], dtype))
            sizes[f] = sizes[c]
            spread.append(f)
        else:
            seen.add(c)
            spread.append(c)
    present = set(out).union(*others, *eye_terms)
    made = _contract(arrays, [out, *others, *eye_terms],
                     "".join(c for c in spread if c in present), optimize)
    # letters no other input carries (summed away by operand i alone), and size-1 axes
    # that broadcast in the forward pass: spread the cotangent over them
    full = tuple(sizes[c] for c in spread)
    if shape_of(made) != full:
        made_shape = iter(shape_of(made))
        with_ones = tuple(next(made_shape) if c in present else 1 for c in spread)
        if with_ones != shape_of(made):
            made = _reshape(made, shape=with_ones)
        made = _broadcast_to(made, shape=full)
    return unbroadcast(made, shape_of(operands[i]))


_einsum = variadic(Primitive(
    "einsum", _einsum_forward, _explain_einsum,
    doc="numpy.einsum with explicit subscripts only (letters, '->' and an output): "
        "the form ``einsum`` reduces every call to.",
).defvjp(_einsum_vjp))


@export
def einsum(subscripts: Any, *operands: Any, optimize: Any = None) -> Tensor:
    """numpy.einsum: explicit ('ij,jk->ik'), implicit ('ij,jk') and '...' subscripts, any
    number of operands, numpy's sublist form, and repeated letters in one operand
    ('ii->i' takes a diagonal, 'ii' a trace).

    The VJP for each operand is an einsum of the cotangent with the other operands
    (see the module docstring), so every order of derivative is exact. Python numbers
    as operands are weak, as in ``multiply``: a float32 tensor stays float32 (numpy's
    einsum would make 2.0 a float64 array first). ``optimize`` is numpy's; by default
    tinymeta searches a contraction order for three or more operands or large ones.
    """
    if not isinstance(subscripts, str):
        subscripts, operands = _sublists((subscripts, *operands))
    if not operands:
        raise ValueError(f"einsum: {subscripts!r} got no operands")
    operands = _weak_numbers(operands)
    shapes = [shape_of(o) for o in operands]
    terms, out = _canonical(subscripts, shapes)
    _label_sizes(terms, shapes, subscripts)  # raises on sizes that do not match
    return _einsum(*operands, subscripts=",".join(terms) + "->" + out, optimize=optimize)


# ---------------------------------------------------------------- matmul-based contractions
def _tensordot_axes(axes: Any, na: int, nb: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    if isinstance(axes, (int, np.integer)) and not isinstance(axes, bool):
        n = int(axes)
        if not 0 <= n <= min(na, nb):
            raise ValueError(
                f"tensordot: axes={n} contracts the last {n} axes of a ({na}-D) with the first "
                f"{n} of b ({nb}-D); it must be between 0 and {min(na, nb)}")
        return tuple(range(na - n, na)), tuple(range(n))
    try:
        axes_a, axes_b = axes
    except (TypeError, ValueError):
        raise TypeError(f"tensordot: axes must be an int or a pair of axis sequences "
                        f"(axes_a, axes_b), got {axes!r}") from None
    axes_a = (axes_a,) if isinstance(axes_a, (int, np.integer)) else tuple(axes_a)
    axes_b = (axes_b,) if isinstance(axes_b, (int, np.integer)) else tuple(axes_b)
    if len(axes_a) != len(axes_b):
        raise ValueError(f"tensordot: axes {axes!r} pair {len(axes_a)} axes of a with "
                         f"{len(axes_b)} of b; they must pair one to one")
    # normalize_axis sorts, and the pairing must keep the caller's order
    norm_a = tuple(normalize_axis(x, na, "tensordot")[0] for x in axes_a)
    norm_b = tuple(normalize_axis(x, nb, "tensordot")[0] for x in axes_b)
    for name, norm in (("a", norm_a), ("b", norm_b)):
        if len(set(norm)) != len(norm):
            raise ValueError(f"tensordot: axes {axes!r} repeat an axis of {name}")
    return norm_a, norm_b


def _tensordot(a: Any, b: Any, axes_a: tuple[int, ...], axes_b: tuple[int, ...],
               opname: str) -> Tensor:
    """Contract axes_a of a with axes_b of b: permute, flatten to matrices, matmul, reshape."""
    sa, sb = shape_of(a), shape_of(b)
    for x, y in zip(axes_a, axes_b, strict=True):
        if sa[x] != sb[y]:
            raise ValueError(
                f"{opname}: shapes {sa} and {sb} do not align: axis {x} of a has size {sa[x]} "
                f"but axis {y} of b, summed against it, has size {sb[y]}")
    free_a = tuple(k for k in range(len(sa)) if k not in axes_a)
    free_b = tuple(k for k in range(len(sb)) if k not in axes_b)
    k = math.prod(sa[x] for x in axes_a)
    out_shape = tuple(sa[x] for x in free_a) + tuple(sb[x] for x in free_b)
    perm_a, perm_b = free_a + axes_a, axes_b + free_b
    if perm_a != tuple(range(len(sa))):
        a = _transpose(a, axes=perm_a)
    if perm_b != tuple(range(len(sb))):
        b = _transpose(b, axes=perm_b)
    m = (math.prod(sa[x] for x in free_a), k)
    n = (k, math.prod(sb[x] for x in free_b))
    c = matmul(_reshape(a, shape=m) if shape_of(a) != m else a,
               _reshape(b, shape=n) if shape_of(b) != n else b)
    return _reshape(c, shape=out_shape) if shape_of(c) != out_shape else c


@export
def tensordot(a: Any, b: Any, axes: Any = 2) -> Tensor:
    """numpy.tensordot: sum over axes of a paired with axes of b. ``axes`` is an int N (the
    last N axes of a with the first N of b) or a pair of axis sequences.

    Built from transpose, reshape and matmul, so its derivatives are theirs."""
    a, b = _weak_numbers((a, b))
    axes_a, axes_b = _tensordot_axes(axes, len(shape_of(a)), len(shape_of(b)))
    return _tensordot(a, b, axes_a, axes_b, "tensordot")


@export
def dot(a: Any, b: Any) -> Tensor:
    """numpy.dot for operands of any number of axes: a scalar operand multiplies; 1-D and
    2-D operands, and any ``a`` with a 1-D ``b``, are matmul; otherwise the last axis of
    a is summed against the second-to-last of b, giving shape
    ``a.shape[:-1] + b.shape[:-2] + b.shape[-1:]`` (unlike matmul, the leading axes do
    not broadcast against each other).

    Replaces ``tinymeta.ops.linalg.dot``, which stopped at 2-D. Derivatives are those
    of multiply, matmul, transpose and reshape."""
    a, b = _weak_numbers((a, b))
    na, nb = len(shape_of(a)), len(shape_of(b))
    if na == 0 or nb == 0:
        return multiply(a, b)
    sa, sb = shape_of(a), shape_of(b)
    k_b = sb[0] if nb == 1 else sb[-2]
    if sa[-1] != k_b:
        raise ValueError(
            f"dot: shapes {sa} and {sb} are not aligned: the last axis of a ({sa[-1]}) must "
            f"equal the {'only' if nb == 1 else 'second-to-last'} axis of b ({k_b})")
    if nb == 1 or (na <= 2 and nb <= 2) or na == 1:
        return matmul(a, b)  # numpy.dot and numpy.matmul agree on these
    return _tensordot(a, b, (na - 1,), (nb - 2,), "dot")


@export
def inner(a: Any, b: Any) -> Tensor:
    """numpy.inner: sum over the last axes of a and b (shape ``a.shape[:-1] +
    b.shape[:-1]``); a scalar operand multiplies."""
    a, b = _weak_numbers((a, b))
    sa, sb = shape_of(a), shape_of(b)
    if not sa or not sb:
        return multiply(a, b)
    if sa[-1] != sb[-1]:
        raise ValueError(f"inner: shapes {sa} and {sb} do not align: their last axes "
                         f"({sa[-1]} and {sb[-1]}) must have the same size")
    return _tensordot(a, b, (len(sa) - 1,), (len(sb) - 1,), "inner")


@export
def outer(a: Any, b: Any) -> Tensor:
    """numpy.outer: both operands are flattened, ``out[i, j] = a[i] * b[j]``."""
    a, b = _weak_numbers((a, b))
    column = _reshape(a, shape=(math.prod(shape_of(a)), 1))
    row = _reshape(b, shape=(1, math.prod(shape_of(b))))
    return multiply(column, row)


@export
def kron(a: Any, b: Any) -> Tensor:
    """numpy.kron: the Kronecker product, the blocks ``a[i, j] * b`` laid side by side
    (the shorter shape gets leading 1s). A broadcasting multiply of ``a`` reshaped to
    (a0, 1, a1, 1, ...) with ``b`` reshaped to (1, b0, 1, b1, ...), then a reshape."""
    a, b = _weak_numbers((a, b))
    sa, sb = shape_of(a), shape_of(b)
    nd = max(len(sa), len(sb))
    sa, sb = (1,) * (nd - len(sa)) + sa, (1,) * (nd - len(sb)) + sb
    spread_a = tuple(n for s in sa for n in (s, 1))
    spread_b = tuple(n for s in sb for n in (1, s))
    product = multiply(_reshape(a, shape=spread_a), _reshape(b, shape=spread_b))
    return _reshape(product, shape=tuple(x * y for x, y in zip(sa, sb, strict=True)))
