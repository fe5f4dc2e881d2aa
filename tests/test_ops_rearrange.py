"""tinymeta.ops.rearrange against numpy: values, derivatives to third order, float32, errors.

Every case in ``CASES`` runs through ``check_op`` (forward == numpy, dtype kept,
finite differences to third order). The functions are linear, so their own
second derivative is zero; the higher orders are exercised on ``sin(f(x))``,
where the cotangent reaching f's rules depends on x and the recorded rules are
differentiated again. The same composition checks float32: the value and the
first, second and third derivatives stay float32 and nothing is cast.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from test_ops import DTYPES, check_op, draw

import tinymeta as tm
import tinymeta.autodiff
import tinymeta.ops.shape
from tinymeta.ops import rearrange as R
from tinymeta.testing import check_grads
from tinymeta.tree import flatten, unflatten

ORDER = 3


def ids(dtype):
    return np.dtype(dtype).name


# ---------------------------------------------------------------- the table
# id: (tinymeta function, numpy reference, argument shapes, input domain)
CASES = {
    # ravel, flatten
    "ravel 0-d": (R.ravel, np.ravel, [()], "normal"),
    "ravel 3-d": (R.ravel, np.ravel, [(2, 3, 2)], "normal"),
    "flatten 2-d": (R.flatten, lambda a: a.flatten(), [(2, 3)], "normal"),
    "flatten 0-d": (R.flatten, lambda a: a.flatten(), [()], "normal"),
    # moveaxis
    "moveaxis 0->-1": (lambda a: R.moveaxis(a, 0, -1), lambda a: np.moveaxis(a, 0, -1),
                       [(2, 3, 4)], "normal"),
    "moveaxis tuples": (lambda a: R.moveaxis(a, (0, 1), (2, 0)),
                        lambda a: np.moveaxis(a, (0, 1), (2, 0)), [(2, 3, 4)], "normal"),
    "moveaxis 1-d": (lambda a: R.moveaxis(a, 0, 0), lambda a: np.moveaxis(a, 0, 0), [(3,)],
                     "normal"),
    # repeat
    "repeat int axis None": (lambda a: R.repeat(a, 2), lambda a: np.repeat(a, 2), [(2, 3)],
                             "normal"),
    "repeat 0-d": (lambda a: R.repeat(a, 3), lambda a: np.repeat(a, 3), [()], "normal"),
    "repeat int axis 1": (lambda a: R.repeat(a, 3, axis=1), lambda a: np.repeat(a, 3, axis=1),
                          [(2, 2, 2)], "normal"),
    "repeat int axis -1": (lambda a: R.repeat(a, 2, axis=-1),
                           lambda a: np.repeat(a, 2, axis=-1), [(2, 3)], "normal"),
    "repeat zero": (lambda a: R.repeat(a, 0, axis=0), lambda a: np.repeat(a, 0, axis=0),
                    [(2, 3)], "normal"),
    "repeat array": (lambda a: R.repeat(a, [2, 0, 1], axis=1),
                     lambda a: np.repeat(a, [2, 0, 1], axis=1), [(2, 3)], "normal"),
    "repeat array of one": (lambda a: R.repeat(a, np.array([2]), axis=0),
                            lambda a: np.repeat(a, np.array([2]), axis=0), [(2, 3)], "normal"),
    "repeat array axis None": (lambda a: R.repeat(a, [1, 2, 0, 1, 3, 1]),
                               lambda a: np.repeat(a, [1, 2, 0, 1, 3, 1]), [(2, 3)], "normal"),
    # tile
    "tile int": (lambda a: R.tile(a, 2), lambda a: np.tile(a, 2), [(2, 3)], "normal"),
    "tile more reps": (lambda a: R.tile(a, (2, 1, 2)), lambda a: np.tile(a, (2, 1, 2)),
                       [(2, 3)], "normal"),
    "tile fewer reps": (lambda a: R.tile(a, (3,)), lambda a: np.tile(a, (3,)), [(2, 1, 2)],
                        "normal"),
    "tile 0-d": (lambda a: R.tile(a, (2, 3)), lambda a: np.tile(a, (2, 3)), [()], "normal"),
    "tile ones": (lambda a: R.tile(a, (1, 1)), lambda a: np.tile(a, (1, 1)), [(3,)], "normal"),
    # roll
    "roll axis None": (lambda a: R.roll(a, 2), lambda a: np.roll(a, 2), [(2, 3)], "normal"),
    "roll 0-d": (lambda a: R.roll(a, 1), lambda a: np.roll(a, 1), [()], "normal"),
    "roll axis -1 negative": (lambda a: R.roll(a, -1, axis=-1),
                              lambda a: np.roll(a, -1, axis=-1), [(2, 3)], "normal"),
    "roll tuples": (lambda a: R.roll(a, (1, -2), (0, 2)),
                    lambda a: np.roll(a, (1, -2), (0, 2)), [(2, 3, 4)], "normal"),
    "roll one shift many axes": (lambda a: R.roll(a, 1, (0, 1)),
                                 lambda a: np.roll(a, 1, (0, 1)), [(2, 3)], "normal"),
    "roll repeated axis": (lambda a: R.roll(a, (1, 1), (1, 1)),
                           lambda a: np.roll(a, (1, 1), (1, 1)), [(2, 3)], "normal"),
    # flip
    "flip None": (R.flip, np.flip, [(2, 3)], "normal"),
    "flip 0-d": (R.flip, np.flip, [()], "normal"),
    "flip axis 1": (lambda a: R.flip(a, 1), lambda a: np.flip(a, 1), [(2, 3)], "normal"),
    "flip tuple": (lambda a: R.flip(a, (0, -1)), lambda a: np.flip(a, (0, -1)), [(2, 3, 2)],
                   "normal"),
    # vstack, hstack, dstack, column_stack (numbers join as 0-d arrays do)
    "vstack rows and matrix": (lambda a, b: R.vstack([a, b]), lambda a, b: np.vstack([a, b]),
                               [(3,), (2, 3)], "normal"),
    "vstack scalars": (lambda a, b: R.vstack((a, b)), lambda a, b: np.vstack((a, b)),
                       [(), ()], "normal"),
    "vstack 3-d": (lambda a, b: R.vstack([a, b]), lambda a, b: np.vstack([a, b]),
                   [(1, 2, 2), (2, 2, 2)], "normal"),
    "hstack 1-d": (lambda a, b, c: R.hstack([a, b, c]), lambda a, b, c: np.hstack([a, b, c]),
                   [(2,), (3,), ()], "normal"),
    "hstack 2-d": (lambda a, b: R.hstack([a, b]), lambda a, b: np.hstack([a, b]),
                   [(2, 1), (2, 3)], "normal"),
    "dstack 1-d": (lambda a, b: R.dstack([a, b]), lambda a, b: np.dstack([a, b]),
                   [(3,), (3,)], "normal"),
    "dstack 2-d and 3-d": (lambda a, b: R.dstack([a, b]), lambda a, b: np.dstack([a, b]),
                           [(2, 3), (2, 3, 2)], "normal"),
    "dstack scalars": (lambda a, b: R.dstack([a, b]), lambda a, b: np.dstack([a, b]),
                       [(), ()], "normal"),
    "column_stack 1-d": (lambda a, b: R.column_stack([a, b]),
                         lambda a, b: np.column_stack([a, b]), [(3,), (3,)], "normal"),
    "column_stack mixed": (lambda a, b: R.column_stack([a, b]),
                           lambda a, b: np.column_stack([a, b]), [(3,), (3, 2)], "normal"),
    # append
    "append None": (R.append, np.append, [(2, 3), (2,)], "normal"),
    "append None 0-d": (R.append, np.append, [(), ()], "normal"),
    "append axis 0": (lambda a, b: R.append(a, b, axis=0),
                      lambda a, b: np.append(a, b, axis=0), [(2, 3), (1, 3)], "normal"),
    "append axis -1": (lambda a, b: R.append(a, b, axis=-1),
                       lambda a, b: np.append(a, b, axis=-1), [(2, 3), (2, 2)], "normal"),
    # pad
    "pad int": (lambda a: R.pad(a, 1), lambda a: np.pad(a, 1), [(2, 3)], "normal"),
    "pad 0-d": (lambda a: R.pad(a, 2), lambda a: np.pad(a, 2), [()], "normal"),
    "pad pair": (lambda a: R.pad(a, (1, 2)), lambda a: np.pad(a, (1, 2)), [(2, 3)], "normal"),
    "pad per axis": (lambda a: R.pad(a, ((0, 1), (2, 0), (1, 1))),
                     lambda a: np.pad(a, ((0, 1), (2, 0), (1, 1))), [(2, 2, 2)], "normal"),
    "pad constant": (lambda a: R.pad(a, 1, constant_values=-1.5),
                     lambda a: np.pad(a, 1, constant_values=-1.5), [(3,)], "normal"),
    "pad constants per axis": (
        lambda a: R.pad(a, ((1, 0), (1, 2)), constant_values=((1, 2), (3, 4))),
        lambda a: np.pad(a, ((1, 0), (1, 2)), constant_values=((1, 2), (3, 4))), [(2, 3)],
        "normal"),
    "pad mode given": (lambda a: R.pad(a, [(1, 1)], mode="constant"),
                       lambda a: np.pad(a, [(1, 1)], mode="constant"), [(2, 3)], "normal"),
    "pad zero width": (lambda a: R.pad(a, 0), lambda a: np.pad(a, 0), [(2, 3)], "normal"),
    # diag, diagonal
    "diag 1-d": (R.diag, np.diag, [(3,)], "normal"),
    "diag 1-d k=2": (lambda a: R.diag(a, 2), lambda a: np.diag(a, 2), [(3,)], "normal"),
    "diag 1-d k=-1": (lambda a: R.diag(a, k=-1), lambda a: np.diag(a, k=-1), [(2,)], "normal"),
    "diag 2-d": (R.diag, np.diag, [(3, 3)], "normal"),
    "diag 2-d k=1 wide": (lambda a: R.diag(a, 1), lambda a: np.diag(a, 1), [(2, 4)], "normal"),
    "diag 2-d k=-1 tall": (lambda a: R.diag(a, -1), lambda a: np.diag(a, -1), [(4, 2)],
                           "normal"),
    "diag 2-d k off": (lambda a: R.diag(a, 5), lambda a: np.diag(a, 5), [(2, 3)], "normal"),
    "diagonal 2-d": (R.diagonal, np.diagonal, [(3, 4)], "normal"),
    "diagonal offset": (lambda a: R.diagonal(a, 1), lambda a: np.diagonal(a, 1), [(3, 3)],
                        "normal"),
    "diagonal batched": (lambda a: R.diagonal(a, -1, axis1=1, axis2=2),
                         lambda a: np.diagonal(a, -1, axis1=1, axis2=2), [(2, 3, 3)], "normal"),
    "diagonal axes swapped": (lambda a: R.diagonal(a, 1, 2, 0),
                              lambda a: np.diagonal(a, 1, 2, 0), [(3, 2, 4)], "normal"),
    "diagonal negative axes": (lambda a: R.diagonal(a, 0, -1, -3),
                               lambda a: np.diagonal(a, 0, -1, -3), [(2, 3, 2)], "normal"),
    # tril, triu
    "tril": (R.tril, np.tril, [(3, 3)], "normal"),
    "tril k=1 wide": (lambda a: R.tril(a, 1), lambda a: np.tril(a, 1), [(2, 4)], "normal"),
    "tril k=-1 batched": (lambda a: R.tril(a, k=-1), lambda a: np.tril(a, k=-1), [(2, 3, 3)],
                          "normal"),
    "tril 1-d": (R.tril, np.tril, [(3,)], "normal"),
    "triu": (R.triu, np.triu, [(3, 3)], "normal"),
    "triu k=-1 tall": (lambda a: R.triu(a, -1), lambda a: np.triu(a, -1), [(4, 2)], "normal"),
    "triu k=2 batched": (lambda a: R.triu(a, 2), lambda a: np.triu(a, 2), [(2, 2, 4)],
                         "normal"),
    "triu 1-d": (R.triu, np.triu, [(3,)], "normal"),
    # sort (distinct values: no ties, so finite differences are valid)
    "sort 1-d": (R.sort, np.sort, [(5,)], "distinct"),
    "sort axis 0": (lambda a: R.sort(a, axis=0), lambda a: np.sort(a, axis=0), [(3, 2)],
                    "distinct"),
    "sort axis -1": (R.sort, np.sort, [(2, 3, 4)], "distinct"),
    "sort axis 1 of 3": (lambda a: R.sort(a, 1), lambda a: np.sort(a, 1), [(2, 3, 2)],
                         "distinct"),
    "sort axis None": (lambda a: R.sort(a, axis=None), lambda a: np.sort(a, axis=None),
                       [(2, 3)], "distinct"),
    "sort 0-d axis None": (lambda a: R.sort(a, axis=None), lambda a: np.sort(a, axis=None),
                           [()], "distinct"),
    "sort kind": (lambda a: R.sort(a, kind="mergesort"), lambda a: np.sort(a, kind="mergesort"),
                  [(4,)], "distinct"),
}


def _inputs(rng, shapes, domain):
    return [draw(rng, domain, s) for s in shapes]


@pytest.mark.parametrize("dtype", DTYPES, ids=ids)
@pytest.mark.parametrize("case", sorted(CASES))
def test_against_numpy_with_derivatives(case, dtype, rng):
    fn, ref, shapes, domain = CASES[case]
    check_op(fn, ref, _inputs(rng, shapes, domain), order=ORDER, dtype=dtype)


@pytest.mark.parametrize("case", sorted(CASES))
def test_rules_are_differentiable_again(case, rng):
    # sin(f(x)): the cotangent reaching f's rules depends on x, so orders 2 and 3
    # differentiate f's recorded rules (for f alone they would be zero)
    fn, _, shapes, domain = CASES[case]
    check_grads(lambda *xs: tm.sin(fn(*xs)), tuple(_inputs(rng, shapes, domain)), order=ORDER)


# ---------------------------------------------------------------- split, array_split
SPLITS = {  # id: (function name, args after the array, shape)
    "split sections": ("split", (3,), (6, 2)),
    "split sections axis 1": ("split", (2, 1), (2, 4)),
    "split indices": ("split", ([1, 3],), (5,)),
    "split indices unsorted and beyond": ("split", ([3, 1, 9],), (4, 2)),
    "split negative index axis -1": ("split", ([-1], -1), (2, 3)),
    "split empty indices": ("split", ([],), (3,)),
    "split numpy indices": ("split", (np.array([2]),), (3, 2)),
    "array_split uneven": ("array_split", (3,), (7,)),
    "array_split more sections than entries": ("array_split", (4, 1), (2, 3)),
    "array_split indices": ("array_split", ([1, 2], 2), (2, 2, 3)),
}


def _split_case(case):
    name, extra, shape = SPLITS[case]
    tm_fn, np_fn = getattr(R, name), getattr(np, name)
    return (lambda a: tm_fn(a, *extra)), (lambda a: np_fn(a, *extra)), shape


@pytest.mark.parametrize("dtype", DTYPES, ids=ids)
@pytest.mark.parametrize("case", sorted(SPLITS))
def test_split(case, dtype, rng):
    fn, ref, shape = _split_case(case)
    x = rng.standard_normal(shape).astype(dtype)
    pieces, expected = fn(tm.tensor(x)), ref(x)
    assert isinstance(pieces, list) and len(pieces) == len(expected)
    for p, e in zip(pieces, expected, strict=True):
        assert isinstance(p, tm.Tensor) and p.dtype == dtype and p.shape == e.shape
        np.testing.assert_array_equal(p.data, e)
    # every piece's cotangent lands in its own place
    cotangents = [rng.standard_normal(e.shape).astype(dtype) for e in expected]
    (g,) = tm.vjp(fn, x)[1](cotangents)
    assert g.dtype == dtype
    expected_g = np.zeros(x.size, dtype)  # pieces may overlap (unsorted indices): add up
    for where, c in zip(ref(np.arange(x.size).reshape(shape)), cotangents, strict=True):
        np.add.at(expected_g, where, c)
    np.testing.assert_array_equal(g.data, expected_g.reshape(shape))
    if dtype == np.float64:
        check_grads(fn, (x,), order=ORDER)
        check_grads(lambda a: [tm.sin(p) for p in fn(a)], (x,), order=ORDER)


# ---------------------------------------------------------------- float32 at every order
def _derivatives(fn, args, order):
    """[f(x), D f(x)[u0], D(D f[u0])(x)[u1], ...]: the value and derivatives 1..order, each
    taken with a fixed random cotangent of the previous one's shape."""
    rng = np.random.default_rng(2)
    results, f = [], fn
    for k in range(order + 1):
        out = tm.vjp(f, *args)[0]
        results.append(out)
        if k == order:
            break
        leaves, treedef = flatten(out)
        u = unflatten(treedef, [rng.standard_normal(o.shape).astype(o.dtype) for o in leaves])
        f = _pulled_back(f, u)
    return results


def _pulled_back(f, u):
    """x -> the VJP of f at x applied to the fixed cotangent u."""
    return lambda *xs: tm.vjp(f, *xs)[1](u)


@pytest.fixture
def casts(monkeypatch):
    """Count dtype changes: every cast, in a recorded backward pass or of a cotangent
    reaching its variable, is an astype op."""
    seen = []
    forward = tinymeta.ops.shape.astype.forward

    def counting_astype(x, dtype):
        if np.dtype(dtype) != np.asarray(x).dtype:
            seen.append(f"astype {np.asarray(x).dtype}->{np.dtype(dtype)}")
        return forward(x, dtype=dtype)

    monkeypatch.setattr(tinymeta.ops.shape.astype, "forward", counting_astype)
    return seen


FLOAT32_CASES = {**{case: (fn, shapes, domain) for case, (fn, _, shapes, domain) in CASES.items()},
                 **{case: (_split_case(case)[0], [_split_case(case)[2]], "normal")
                    for case in SPLITS}}


@pytest.mark.parametrize("case", sorted(FLOAT32_CASES))
def test_float32_kept_at_every_order_without_casts(case, casts, rng):
    fn, shapes, domain = FLOAT32_CASES[case]
    args = tuple(a.astype(np.float32) for a in _inputs(rng, shapes, domain))

    def smooth(*xs):
        out = fn(*xs)
        return [tm.sin(p) for p in out] if isinstance(out, list) else tm.sin(out)

    for k, result in enumerate(_derivatives(smooth, args, ORDER)):
        for leaf in flatten(result)[0]:
            assert leaf.dtype == np.float32, f"order {k}: {leaf.dtype}"
    tm.grad(lambda *xs: tm.sum(tm.stack([tm.sum(p) for p in flatten(smooth(*xs))[0]])))(*args)
    assert casts == []


# ---------------------------------------------------------------- property: numpy's routing
# Every function here only moves entries, so numpy run on the flat positions 1..size
# (0 stands for a constant) says where each input entry goes; the gradient of
# sum(w * f(x)) must then be w added up at those positions.
def _axes_subset(data, ndim):
    return tuple(data.draw(st.permutations(range(ndim)))[:data.draw(st.integers(0, ndim))])


def _draw_route(data, name, shape):
    """Random valid arguments for ``name`` on an array of ``shape``: (tm call, numpy call)."""
    ndim, ints = len(shape), st.integers(-4, 4)
    if name == "roll":
        axes = None if ndim == 0 or data.draw(st.booleans()) else _axes_subset(data, ndim) or 0
        shift = data.draw(ints) if axes is None or isinstance(axes, int) else tuple(
            data.draw(ints) for _ in axes)
        args = (shift, axes)
    elif name == "tile":
        args = (tuple(data.draw(st.lists(st.integers(0, 2), max_size=3))),)
    elif name == "repeat":
        axis = None if ndim == 0 or data.draw(st.booleans()) else data.draw(
            st.integers(-ndim, ndim - 1))
        n = int(np.prod(shape)) if axis is None else shape[axis]
        repeats = data.draw(st.integers(0, 3) | st.lists(st.integers(0, 3), min_size=n,
                                                         max_size=n))
        args = (repeats, axis)
    elif name == "pad":
        args = (tuple((data.draw(st.integers(0, 2)), data.draw(st.integers(0, 2)))
                      for _ in shape) or 1,)  # numpy refuses () for a 0-d array
    elif name == "flip":
        args = (None if data.draw(st.booleans()) else _axes_subset(data, ndim),)
    elif name == "moveaxis":
        source = _axes_subset(data, ndim)
        args = (source, tuple(data.draw(st.permutations(range(ndim)))[:len(source)]))
    elif name == "diagonal":
        axis1, axis2 = data.draw(st.permutations(range(ndim)))[:2]
        args = (data.draw(ints), axis1, axis2)
    elif name in ("tril", "triu"):
        args = (data.draw(ints),)
    elif name == "array_split":
        axis = data.draw(st.integers(0, ndim - 1))
        sections = data.draw(st.integers(1, 4) | st.lists(st.integers(-1, 4), max_size=3))
        args = (sections, axis)
    else:
        raise ValueError(name)
    return (lambda x: getattr(R, name)(x, *args)), (lambda x: getattr(np, name)(x, *args))


ROUTES = {  # name: minimum number of dimensions
    "roll": 0, "tile": 0, "repeat": 0, "pad": 0, "flip": 0, "moveaxis": 0, "diagonal": 2,
    "tril": 1, "triu": 1, "array_split": 1,
}


@pytest.mark.parametrize("name", sorted(ROUTES))
@given(data=st.data())
def test_cotangents_go_where_numpy_puts_the_entries(name, data):
    shape = data.draw(hnp.array_shapes(min_dims=ROUTES[name], max_dims=3, min_side=0,
                                       max_side=3))
    fn, ref = _draw_route(data, name, shape)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal(shape)
    out, expected = fn(x), ref(x)
    out_leaves, expected_leaves = flatten(out)[0], flatten(list(expected) if isinstance(
        expected, list) else expected)[0]
    for o, e in zip(out_leaves, expected_leaves, strict=True):
        assert o.shape == np.shape(e)
        np.testing.assert_array_equal(o.data, e)
    w = [rng.standard_normal(np.shape(e)) for e in expected_leaves]
    (g,) = tm.vjp(fn, x)[1](w if isinstance(out, list) else w[0])
    positions = ref(np.arange(1.0, x.size + 1).reshape(shape))
    routes = np.concatenate([np.ravel(p) for p in flatten(
        list(positions) if isinstance(positions, list) else positions)[0]] + [[]])
    expected_g = np.bincount(routes.astype(int), np.concatenate([np.ravel(u) for u in w] + [[]]),
                             minlength=x.size + 1)[1:]
    np.testing.assert_allclose(g.data, expected_g.reshape(shape), rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- numbers and arrays
def test_python_numbers_and_lists_are_accepted(rng):
    x = rng.standard_normal(3)
    np.testing.assert_array_equal(R.hstack([1.0, x, 2.0]).data, np.hstack([1.0, x, 2.0]))
    np.testing.assert_array_equal(R.vstack([[1.0, 2.0, 3.0], x]).data,
                                  np.vstack([[1.0, 2.0, 3.0], x]))
    np.testing.assert_array_equal(R.append(x, 4.0).data, np.append(x, 4.0))
    np.testing.assert_array_equal(R.pad([1.0, 2.0], 1).data, np.pad([1.0, 2.0], 1))
    np.testing.assert_array_equal(R.ravel(2.0).data, np.ravel(2.0))
    np.testing.assert_array_equal(R.diag([1.0, 2.0]).data, np.diag([1.0, 2.0]))
    np.testing.assert_array_equal(R.sort([3.0, 1.0, 2.0]).data, [1.0, 2.0, 3.0])
    # the gradient reaches the tensor among numbers
    g = tm.grad(lambda v: tm.sum(R.hstack([1.0, v, 2.0]) * np.arange(5.0)))(x)
    np.testing.assert_array_equal(g.data, [1.0, 2.0, 3.0])


def test_module_exports_exactly_its_public_functions():
    public = {name for name, value in vars(R).items()
              if callable(value) and not name.startswith("_") and value.__module__ == R.__name__}
    assert set(tinymeta.ops.exported_by(R)) == public
    for name in tinymeta.ops.exported_by(R):
        assert getattr(R, name).__doc__, f"{name} has no docstring"


# ---------------------------------------------------------------- derivative conventions
def test_repeat_and_tile_add_the_cotangents_of_copies():
    x = np.array([1.0, 2.0, 3.0])
    g = tm.grad(lambda v: tm.sum(R.repeat(v, [2, 0, 3]) * np.arange(1.0, 6.0)))(x)
    np.testing.assert_array_equal(g.data, [1 + 2, 0, 3 + 4 + 5])
    g = tm.grad(lambda v: tm.sum(R.tile(v, (2, 2)) * np.arange(12.0).reshape(2, 6)))(x)
    np.testing.assert_array_equal(g.data, [0 + 3 + 6 + 9, 1 + 4 + 7 + 10, 2 + 5 + 8 + 11])


def test_sort_routes_ties_by_a_stable_permutation_if_asked():
    x = np.array([1.0, 0.0, 1.0, 1.0])
    w = np.array([10.0, 20.0, 30.0, 40.0])  # sorted: [0 (x1), 1 (x0), 1 (x2), 1 (x3)]
    for stable in ({"kind": "stable"}, {"stable": True}):
        g = tm.grad(lambda v, stable=stable: tm.sum(R.sort(v, **stable) * w))(x)
        np.testing.assert_array_equal(g.data, [20.0, 10.0, 30.0, 40.0])


@pytest.mark.parametrize("kind", [None, "quicksort", "heapsort"])
def test_sort_gives_each_tied_entry_one_place(kind):
    # whatever order a kind picks among ties, the gradient is a permutation of w
    x = np.array([1.0, 0.0, 1.0, 1.0, 0.0, 1.0] * 3)
    w = np.arange(1.0, 19.0)
    g = tm.grad(lambda v: tm.sum(R.sort(v, kind=kind) * w))(x)
    np.testing.assert_array_equal(np.sort(g.data), w)
    np.testing.assert_array_equal(g.data, w[np.argsort(np.argsort(x, kind=kind))])


def test_sort_moves_nans_to_the_end_like_numpy():
    x = np.array([2.0, np.nan, 1.0])
    np.testing.assert_array_equal(R.sort(x).data, np.sort(x))
    g = tm.grad(lambda v: tm.sum(R.sort(v)[:2] * np.array([1.0, 2.0])))(x)
    np.testing.assert_array_equal(g.data, [2.0, 0.0, 1.0])


def test_sort_gradient_is_the_inverse_permutation_at_second_order(rng):
    # d/dx sum(sort(x)**3) = 3 x**2 at every entry, whatever the order
    x = draw(rng, "distinct", (2, 4))
    h = tm.grad(lambda v: tm.sum(tm.grad(lambda u: tm.sum(R.sort(u, axis=1) ** 3))(v)))(x)
    np.testing.assert_allclose(h.data, 6 * x, rtol=1e-12)


@pytest.mark.parametrize("axis", [-1, 0, None])
@pytest.mark.parametrize("kind", [None, "stable", "heapsort"])
def test_argsort_is_a_constant_integer_tensor(axis, kind, rng):
    x = draw(rng, "distinct", (3, 4))
    t = tm.tensor(x, requires_grad=True)
    idx = R.argsort(t, axis=axis, kind=kind)
    assert isinstance(idx, tm.Tensor) and not idx.requires_grad
    assert idx.dtype.kind == "i"
    np.testing.assert_array_equal(idx.data, np.argsort(x, axis=axis, kind=kind))
    # indexing with it is differentiable and agrees with sort
    flat = R.argsort(x[0])
    np.testing.assert_array_equal(t[0][flat].data, R.sort(t[0]).data)
    g1 = tm.grad(lambda v: tm.sum(v[0][R.argsort(v[0])] * np.arange(4.0)))(x)
    g2 = tm.grad(lambda v: tm.sum(R.sort(v[0]) * np.arange(4.0)))(x)
    np.testing.assert_array_equal(g1.data, g2.data)


def test_argsort_of_a_traced_value_records_nothing(rng):
    x = draw(rng, "distinct", (4,))
    calls = []

    def f(v):
        idx = R.argsort(v)
        calls.append(idx.requires_grad)
        return tm.sum(v * v)

    tm.grad(f)(x)
    assert calls == [False]


def test_pad_with_a_differentiable_constant():
    x = np.array([[1.0, 2.0]])
    c = 0.5
    out = R.pad(tm.tensor(x), 1, constant_values=tm.tensor(c))
    np.testing.assert_array_equal(out.data, np.pad(x, 1, constant_values=c))
    dx, dc = tm.grad(lambda a, b: tm.sum(R.pad(a, 1, constant_values=b) ** 2), (0, 1))(x, c)
    np.testing.assert_allclose(dx.data, 2 * x)
    np.testing.assert_allclose(dc.data, 2 * c * (12 - 2))  # 10 border entries
    check_grads(lambda a, b: tm.sin(R.pad(a, (1, 0), constant_values=b)), (x, c), order=ORDER)


def test_pad_keeps_the_array_dtype_with_float_constants():
    x = np.ones((2,), np.float32)
    assert R.pad(x, 1, constant_values=2.5).dtype == np.float32
    assert R.pad(x, 1, constant_values=np.float64(2.5)).dtype == np.float32


def test_tril_gives_zero_where_the_input_is_inf():
    x = np.array([[1.0, np.inf], [2.0, 3.0]])
    np.testing.assert_array_equal(R.tril(x).data, np.tril(x))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64], ids=ids)
@pytest.mark.parametrize("name", ["tril", "triu", "pad", "diag", "roll", "sort"])
def test_values_keep_the_input_dtype(name, dtype):
    x = np.arange(6).reshape(2, 3).astype(dtype)
    out = getattr(R, name)(x, *((1,) if name in ("pad", "roll") else ()))
    assert out.dtype == dtype


def test_roll_backward_is_one_roll_per_order(rng):
    # a recorded backward pass runs the rule on tensors: it is one roll, back
    x, u = rng.standard_normal((2, 3)), tm.tensor(rng.standard_normal((2, 3)), requires_grad=True)
    back = R._roll.vjps[0](u, None, x, shift=1, axis=1)
    assert back.op == "roll" and back.node.params == {"shift": -1, "axis": 1}
    np.testing.assert_array_equal(back.data, np.roll(u.data, -1, axis=1))
    back = R._roll.vjps[0](u, None, x, shift=(1, 2), axis=(0, 1))
    assert back.node.params == {"shift": (-1, -2), "axis": (0, 1)}


# ---------------------------------------------------------------- clear errors
M = np.zeros((2, 3))
ERRORS = {  # id: (call, exception, message pattern)
    "ravel order": (lambda: R.ravel(M, order="F"), ValueError, "ravel: only order='C'"),
    "flatten order": (lambda: R.flatten(M, "K"), ValueError, "flatten: only order='C'"),
    "moveaxis lengths": (lambda: R.moveaxis(M, (0, 1), 0), ValueError,
                         "moveaxis: .* same number"),
    "moveaxis range": (lambda: R.moveaxis(M, 2, 0), ValueError, "moveaxis: source axis 2 is out"),
    "moveaxis repeated": (lambda: R.moveaxis(M, (0, 0), (0, 1)), ValueError,
                          "moveaxis: repeated axis in source"),
    "moveaxis float": (lambda: R.moveaxis(M, 0.0, 1), TypeError, "moveaxis: source axis must"),
    "repeat negative": (lambda: R.repeat(M, -1), ValueError, "repeat: repeats must be >= 0"),
    "repeat float": (lambda: R.repeat(M, 1.5), TypeError, "repeat: repeats must be an int"),
    "repeat 2-d repeats": (lambda: R.repeat(M, np.ones((2, 2), int)), TypeError,
                           "repeat: repeats must be"),
    "repeat wrong count": (lambda: R.repeat(M, [1, 2], axis=1), ValueError,
                           r"repeat: 2 repeats for axis 1 of length 3"),
    "repeat axis": (lambda: R.repeat(M, 2, axis=2), ValueError, "repeat: axis 2 is out of range"),
    "repeat axis tuple": (lambda: R.repeat(M, 2, axis=(0,)), TypeError, "repeat: axis must be"),
    "tile negative": (lambda: R.tile(M, (-1, 2)), ValueError, "tile: reps must be >= 0"),
    "tile float": (lambda: R.tile(M, 2.0), TypeError, "tile: reps must be an int"),
    "roll lengths": (lambda: R.roll(M, (1, 2, 3), (0, 1)), ValueError,
                     "roll: shift .* same length"),
    "roll tuple shift no axis": (lambda: R.roll(M, (1, 2)), ValueError,
                                 "roll: with axis=None, shift must be one int"),
    "roll float shift": (lambda: R.roll(M, 0.5), TypeError, "roll: shift must be an int"),
    "roll axis range": (lambda: R.roll(M, 1, 3), ValueError, "roll: axis 3 is out of range"),
    "roll 0-d axis": (lambda: R.roll(1.0, 1, 0), ValueError, "roll: axis 0 is out of range"),
    "flip axis": (lambda: R.flip(M, 2), ValueError, "flip: axis 2 is out of range"),
    "split unequal": (lambda: R.split(M, 2, axis=1), ValueError,
                      "split: axis 1 of shape .* length 3, which 2 sections cannot divide"),
    "split zero sections": (lambda: R.split(M, 0), ValueError,
                            "split: the number of sections must be > 0"),
    "array_split negative sections": (lambda: R.array_split(M, -1), ValueError,
                                      "array_split: the number of sections"),
    "split float sections": (lambda: R.split(M, 1.5), TypeError,
                             "split: indices_or_sections"),
    "split float index": (lambda: R.split(M, [0.5]), TypeError, "split: an index"),
    "split 0-d": (lambda: R.split(1.0, 1), ValueError, "split: axis 0 is out of range"),
    "split axis None": (lambda: R.split(M, 1, axis=None), TypeError, "split: axis must be an int"),
    "vstack mismatch": (lambda: R.vstack([M, np.zeros(2)]), ValueError,
                        r"vstack: cannot join shapes \(2, 3\), \(1, 2\)"),
    "vstack empty": (lambda: R.vstack([]), ValueError, "vstack: need at least one array"),
    "vstack not a list": (lambda: R.vstack(M), TypeError, "vstack: expected a list"),
    "hstack mismatch": (lambda: R.hstack([M, np.zeros(2)]), ValueError, "hstack: cannot join"),
    "dstack mismatch": (lambda: R.dstack([M, np.zeros((3, 2))]), ValueError,
                        "dstack: cannot join"),
    "column_stack mismatch": (lambda: R.column_stack([np.zeros(2), np.zeros(3)]), ValueError,
                              "column_stack: cannot join"),
    "append ndim": (lambda: R.append(M, np.zeros(3), axis=0), ValueError,
                    r"append: cannot join shapes \(2, 3\), \(3,\)"),
    "append axis": (lambda: R.append(M, M, axis=2), ValueError, "append: axis 2 is out of range"),
    "pad mode": (lambda: R.pad(M, 1, mode="reflect"), ValueError,
                 "pad: mode 'reflect' is not supported"),
    "pad negative": (lambda: R.pad(M, -1), ValueError, "pad: pad_width must be >= 0"),
    "pad float width": (lambda: R.pad(M, 1.5), TypeError, "pad: pad_width must be"),
    "pad width shape": (lambda: R.pad(M, [(1, 1)] * 3), ValueError,
                        r"pad: pad_width of shape \(3, 2\) does not fit"),
    "pad constants shape": (lambda: R.pad(M, 1, constant_values=[[1, 2]] * 3), ValueError,
                            "pad: constant_values of shape"),
    "pad complex constant": (lambda: R.pad(M, 1, constant_values=1j), TypeError,
                             "pad: constant_values must be real"),
    "pad tensor constant shape": (
        lambda: R.pad(M, 1, constant_values=tm.tensor([1.0, 2.0], requires_grad=True)),
        TypeError, "pad: a differentiable constant_values must be a 0-d tensor"),
    "pad tensor constant dtype": (
        lambda: R.pad(M.astype(np.float32), 1, constant_values=tm.tensor(1.0, requires_grad=True)),
        TypeError, "pad: .* float32"),
    "diag 3-d": (lambda: R.diag(np.zeros((2, 2, 2))), ValueError, "diag: input must be 1-d"),
    "diag 0-d": (lambda: R.diag(1.0), ValueError, "diag: input must be 1-d"),
    "diag float k": (lambda: R.diag(M, 0.5), TypeError, "diag: k must be an int"),
    "diagonal 1-d": (lambda: R.diagonal(np.zeros(3)), ValueError,
                     "diagonal: needs an array of at least 2"),
    "diagonal same axes": (lambda: R.diagonal(M, 0, 1, -1), ValueError,
                           "diagonal: axis1 and axis2 must be different"),
    "diagonal axis range": (lambda: R.diagonal(M, 0, 0, 2), ValueError,
                            "diagonal: axis 2 is out of range"),
    "tril 0-d": (lambda: R.tril(1.0), ValueError, "tril: needs an array of at least 1"),
    "triu float k": (lambda: R.triu(M, 1.0), TypeError, "triu: k must be an int"),
    "sort kind": (lambda: R.sort(M, kind="bubble"), ValueError, "sort: kind must be one of"),
    "sort kind and stable": (lambda: R.sort(M, kind="stable", stable=True), ValueError,
                             "sort: give kind or stable, not both"),
    "sort 0-d": (lambda: R.sort(1.0), ValueError, "sort: axis -1 is out of range for a 0-d"),
    "sort axis": (lambda: R.sort(M, axis=2), ValueError, "sort: axis 2 is out of range"),
    "argsort axis": (lambda: R.argsort(M, axis=-3), ValueError, "argsort: axis -3 is out"),
    "argsort complex": (lambda: R.argsort(np.array([1j])), TypeError,
                        "argsort: needs real numbers"),
}


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_clear_errors(case):
    call, error, pattern = ERRORS[case]
    with pytest.raises(error, match=pattern):
        call()
