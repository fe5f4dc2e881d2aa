"""``tm.jit`` (tinymeta.compiler): a recorded program is the eager engine, bit for bit.

Every test compiles on one set of arguments and then calls the program on a *new*
set of the same shapes: a program that froze a value of the first call would give
the first call's answer and fail. Results are compared with ``np.array_equal``
(the program replays the very numpy calls eager makes, so nothing may differ in
the last bit), for float32 and float64.

Then what ``jit`` must refuse: reading a traced value into Python
(``ConcretizationError``), and a rule that computes on raw values outside the ops
(``JitError``); what must happen once (side effects); what must never run (a
scope name holding code); and the readable program (``.lower(...).source``).

Every op of the op table compiles at orders 0-2: every primitive tinymeta declares is
trusted as traceable (``tinymeta.compiler.traceable``), and these tests hold the ops to
it: whatever their rules read off the values (a mask, a
sort order, a quotient) is a recorded primitive. Ops that read values are also
compiled in one region of their inputs and run in another. A rule that computes on
raw values with numpy would be frozen into the program: such a primitive (a user's)
is refused, never compiled silently wrong.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from test_ops import EVERY_OP, _distinct

import tinymeta as tm
from tinymeta.compiler import ConcretizationError, JitError
from tinymeta.meta.algorithms import (
    _reptile,
    maml_objective,
    meta_gradient,
    metasgd_objective,
    reptile_direction,
)
from tinymeta.meta.tasks import Sinusoid
from tinymeta.nn import mlp_init
from tinymeta.primitive import Primitive
from tinymeta.tree import flatten, tree_map

DTYPES = [np.float32, np.float64]


# ---------------------------------------------------------------- helpers
def _plain(x: Any) -> Any:
    return x.data if isinstance(x, tm.Tensor) else x


def assert_bitwise(got: Any, expected: Any) -> None:
    """Same tree, and every leaf the same kind, dtype, shape and bits."""
    got_leaves, got_tree = flatten(got)
    exp_leaves, exp_tree = flatten(expected)
    assert got_tree == exp_tree
    for g, e in zip(got_leaves, exp_leaves, strict=True):
        assert isinstance(g, tm.Tensor) == isinstance(e, tm.Tensor), (type(g), type(e))
        g, e = _plain(g), _plain(e)
        if not isinstance(e, np.ndarray):
            assert type(g) is type(e) and g == e, (g, e)
            continue
        assert g.dtype == e.dtype and g.shape == e.shape, (g.dtype, g.shape, e.dtype, e.shape)
        assert np.array_equal(g, e, equal_nan=True), f"\n{g}\n!=\n{e}"


def compiled_on_new_inputs(f, first: tuple, second: tuple, **jit_kwargs: Any):
    """Compile f on ``first``, then return (jit result, eager result) on ``second``."""
    jitted = tm.jit(f, **jit_kwargs)
    jitted(*first)
    assert len(jitted.programs) == 1
    got = jitted(*second)
    assert len(jitted.programs) == 1, "the same shapes must reuse the program"
    return got, f(*second)


# ---------------------------------------------------------------- every op, orders 0-2
# Rows that read a value with ``.data`` by design (argsort's indices): jit must refuse
# them with ConcretizationError, or compile them right.
READS_VALUES = {"argsort"}
OPS = {**EVERY_OP,
       # argsort as a user would use it under jit: indices as a tensor, no .data
       "argsort-gather": (lambda x: x[tm.argsort(x)], [_distinct((4,))])}

# Every tinymeta primitive is trusted as traceable (tinymeta.compiler.traceable): every row must
# compile, bitwise equal to eager; only the rows in READS_VALUES may be refused instead.


def compiled_or_refused(f, first, second) -> bool:
    """Compile on ``first``, run on ``second``: bitwise eager's answer (True), or a clear
    refusal (False). Never a program frozen on the first call's values."""
    try:
        got, expected = compiled_on_new_inputs(f, first, second)
    except (JitError, ConcretizationError) as error:
        assert "jit" in str(error) or "static_argnums" in str(error)
        return False
    assert_bitwise(got, expected)
    return True


def _inputs(makers: list, seed: int, dtype: Any, unlike: list | None = None) -> list:
    rng = np.random.default_rng(seed)
    xs = [np.asarray(m(rng), dtype=dtype) for m in makers]
    if unlike is not None:  # rows with fixed inputs (maximum, clip): move them a little
        xs = [x + rng.uniform(0.01, 0.05, x.shape).astype(dtype) if np.array_equal(x, u) else x
              for x, u in zip(xs, unlike, strict=True)]
    return xs


def _scalar(fn):
    """xs ↦ Σ w·sin(fn(xs)) with position-dependent weights: a permutation shows."""
    def f(*xs):
        out = fn(*xs)
        w = np.linspace(0.5, 1.5, out.size, dtype=out.dtype).reshape(out.shape)
        return tm.sum(tm.sin(out) * w)
    return f


def _of_order(fn, n: int, order: int):
    f = _scalar(fn)
    if order == 0:
        return f
    every = tuple(range(n))
    g = tm.grad(f, argnums=every)
    if order == 1:
        return g
    return tm.grad(lambda *xs: sum(tm.sum(gi * gi) for gi in g(*xs)), argnums=every)


def _op_cases():
    for name in sorted(OPS):
        for dtype in DTYPES:
            for order in (0, 1, 2):
                yield pytest.param(name, dtype, order,
                                   id=f"{name}-{np.dtype(dtype).name}-order{order}")


@pytest.mark.parametrize(("name", "dtype", "order"), list(_op_cases()))
def test_every_op_compiles_bitwise_equal_to_eager_on_new_inputs(name, dtype, order):
    fn, makers = OPS[name]
    f = _of_order(fn, len(makers), order)
    first = _inputs(makers, 1, dtype)
    second = _inputs(makers, 2, dtype, unlike=first)
    compiled = compiled_or_refused(f, first, second)
    assert compiled or name in READS_VALUES, f"{name} must compile"


# Ops whose rules look at the values (a mask, a quotient, a special case at 0): compiled
# in one region of their inputs, called in another. Each pair has the same shapes.
_SIGNS = ([[0.5, 3.5, 1.4], [2.6, 2.8, 2.9]], [[-0.5, -3.5, 1.4], [2.6, -2.8, -2.9]])
REGIONS = {  # name: (function, first inputs, second inputs)
    "relu": (tm.relu, [[0.5, -1.0]], [[-0.5, 1.0]]),
    "abs": (tm.abs, [[0.5, -1.0]], [[-0.5, 1.0]]),
    "maximum": (tm.maximum, [[0.1, 2.0], [1.0, 0.5]], [[2.0, 0.1], [0.5, 1.0]]),
    "minimum": (tm.minimum, [[0.1, 2.0], [1.0, 0.5]], [[2.0, 0.1], [0.5, 1.0]]),
    "max": (lambda x: tm.max(x, axis=0), [[[0.5, -1.0], [0.1, 0.3]]],
            [[[0.1, 0.3], [0.5, -1.0]]]),
    "clip": (lambda x: tm.clip(x, 0.5, 1.5), [[0.2, 0.9, 1.7]], [[1.7, 0.2, 0.9]]),
    "fmod": (tm.fmod, [[0.5, 1.0, 1.4], [2.6, 2.8, 2.9]], [[3.1, 3.5, 4.2], [2.6, 2.8, 2.7]]),
    "mod": (tm.mod, [[0.5, 1.0, 1.4], [2.6, 2.8, 2.9]], [[3.1, 3.5, 4.2], [2.6, 2.8, 2.7]]),
    "remainder": (tm.remainder, [[0.5, 1.0, 1.4], [2.6, 2.8, 2.9]],
                  [[3.1, 3.5, 4.2], [2.6, 2.8, 2.7]]),
    "cumprod": (tm.cumprod, [[0.5, 1.0, 1.4]], [[0.5, 0.0, 1.4]]),
    "std": (lambda x: tm.std(x, axis=1), [[[0.5, 1.0], [1.5, 2.0]]], [[[0.5, 0.5], [1.5, 2.0]]]),
    "hypot": (tm.hypot, [[0.5, 1.0], [0.3, 0.2]], [[0.0, 1.0], [0.0, 0.2]]),
    "hypot-from-origin": (tm.hypot, [[0.0, 1.0], [0.0, 0.2]], [[0.5, 1.0], [0.3, 0.2]]),
    "fmod-signs": (tm.fmod, *_SIGNS),  # fmod truncates toward 0, mod floors
    "mod-signs": (tm.mod, *_SIGNS),
    "nan_to_num": (tm.nan_to_num, [[0.5, -1.0, 2.0]], [[np.inf, -1.0, np.nan]]),
    "nan_to_num-from-non-finite": (lambda x: tm.nan_to_num(x, nan=1.0, posinf=2.0, neginf=-2.0),
                                   [[-np.inf, np.nan, 2.0, np.inf]], [[0.5, -1.0, 2.0, 0.3]]),
    "linalg.norm": (lambda a: tm.linalg.norm(a, axis=1), [[[0.5, 1.0], [1.5, 2.0]]],
                    [[[0.0, 0.0], [1.5, 2.0]]]),
    # the winners move and tie, the order changes, a factor becomes zero
    "min": (lambda x: tm.min(x, axis=1), [[[0.5, -1.0, 0.2], [0.1, 0.3, 0.4]]],
            [[[0.2, 0.5, -1.0], [0.1, 0.1, 0.4]]]),
    "ptp": (lambda x: tm.ptp(x, axis=1), [[[0.5, -1.0, 0.2], [0.1, 0.3, 0.4]]],
            [[[0.2, 0.5, 0.5], [-1.0, 0.3, -1.0]]]),
    "median": (lambda x: tm.median(x, axis=1), [[[3.0, 1.0, 2.0, 0.5], [0.1, 0.4, 0.3, 0.2]]],
               [[[1.0, 3.0, 2.0, 2.0], [0.4, 0.1, 0.1, 0.1]]]),
    "prod": (lambda x: tm.prod(x, axis=(0, 2)),  # slices with no zero, one, and two
             [[[[0.5, 1.0], [1.5, 2.0], [0.3, 0.7]], [[1.0, 2.5], [3.0, 0.5], [1.0, 2.0]]]],
             [[[[0.5, 0.0], [1.5, 2.0], [0.0, 0.0]], [[1.0, 2.5], [3.0, 0.5], [1.0, 2.0]]]]),
}
REGIONS.update({  # the order of the entries, their ties, the sign of a determinant
    "sort": (lambda x: tm.sort(x, axis=1), [[[0.5, -1.0, 2.0], [0.1, 0.3, 0.2]]],
             [[[2.0, 0.5, -1.0], [0.3, 0.2, 0.1]]]),
    "sort-ties": (lambda x: tm.sort(x, axis=None, kind="stable"), [[0.5, -1.0, 2.0, 0.1]],
                  [[1.0, -1.0, 1.0, -1.0]]),
    "argsort-gather": (lambda x: x[tm.argsort(x)], [[0.5, -1.0, 2.0, 0.1]],
                       [[0.1, 2.0, -1.0, 0.5]]),
    "linalg.slogdet": (lambda a: tm.linalg.slogdet(a)[1], [[[2.0, 0.5], [0.5, 1.0]]],
                       [[[0.5, 2.0], [1.0, 0.5]]]),
    # distinct eigenvalues, then a repeated one: an exact first derivative, nan beyond
    "linalg.eigh-ties": (lambda a: tm.linalg.eigh(a)[0], [[[2.0, 0.5], [0.5, 1.0]]],
                         [[[1.0, 0.0], [0.0, 1.0]]]),
    "linalg.eigh-vectors": (lambda a: tm.linalg.eigh(a)[1], [[[2.0, 0.5], [0.5, 1.0]]],
                            [[[1.0, 0.0], [0.0, 1.0]]]),
    # singular values: all apart and non-zero, then one zero (rank 1) or a tie (2 I)
    "linalg.norm-nuc": (lambda a: tm.linalg.norm(a, "nuc"), [[[2.0, 0.5], [0.3, 1.0]]],
                        [[[1.0, 2.0], [2.0, 4.0]]]),
    "linalg.norm-2": (lambda a: tm.linalg.norm(a, 2, axis=(1, 2)),
                      [[[[2.0, 0.5, 0.1], [0.3, 1.0, 0.2]]]],
                      [[[[2.0, 0.0, 0.0], [0.0, 2.0, 0.0]]]]),
})


def _region_cases():
    for name in sorted(REGIONS):
        for order in (0, 1, 2):
            yield pytest.param(name, order, id=f"{name}-order{order}")


@pytest.mark.parametrize(("name", "order"), list(_region_cases()))
def test_an_op_that_looks_at_values_is_right_in_another_region_of_its_inputs(name, order):
    fn, first, second = REGIONS[name]
    f = _of_order(fn, len(first), order)
    with np.errstate(all="ignore"):
        compiled = compiled_or_refused(f, [np.array(a) for a in first],
                                       [np.array(b) for b in second])
    assert compiled, f"{name} must compile"


def test_a_program_refuses_weights_that_sum_to_zero_as_eager_average_does():
    def f(a, w):
        return tm.average(a, axis=0, weights=w)

    jitted, a = tm.jit(f), np.ones((3, 2))
    jitted(a, np.array([1.0, 2.0, 3.0]))
    for run in (f, jitted):
        with pytest.raises(ZeroDivisionError, match="weights sum to zero over axis 0"):
            run(a, np.array([1.0, -1.0, 0.0]))
    assert len(jitted.programs) == 1  # the program raised, no eager fallback


def test_std_of_a_slice_holding_a_nan_is_nan_compiled_and_eager():
    def f(x):
        return tm.std(x, axis=1)

    x = np.array([[np.nan, 1.0], [0.5, 0.5], [1.5, 2.0]])  # nan, zero and nonzero variance
    got, expected = compiled_on_new_inputs(f, (np.ones((3, 2)),), (x,))
    assert_bitwise(got, expected)
    assert np.array_equal(expected.data, [np.nan, 0.0, 0.25], equal_nan=True)


# ---------------------------------------------------------------- MAML, FOMAML, Meta-SGD
def _params(dtype):
    return mlp_init([1, 8, 8, 1], seed=0, std=0.5, dtype=dtype)


def _batch(tasks, shots, seed, dtype):
    return Sinusoid().sample(tasks, shots, rng=seed, dtype=dtype)


def _maml_cases():
    for algo in ("maml", "fomaml"):
        for batched in (True, False):
            for activation in ("relu", "tanh"):
                for k in (1, 2):
                    for dtype in DTYPES:
                        yield pytest.param(algo, batched, activation, k, dtype,
                                           id=f"{algo}-{'batched' if batched else 'loop'}-"
                                              f"{activation}-k{k}-{np.dtype(dtype).name}")


@pytest.mark.parametrize(("algo", "batched", "activation", "k", "dtype"), list(_maml_cases()))
def test_maml_meta_gradient_is_bitwise_eager_on_new_batches_and_after_a_retrace(
        algo, batched, activation, k, dtype):
    vg = tm.value_and_grad(maml_objective)
    jitted = tm.jit(vg, static_argnums=(2, 3, 4, 5), static_argnames=("activation",))
    params = _params(dtype)
    fo = algo == "fomaml"

    def both(batch):
        return (jitted(params, batch, 0.01, k, fo, batched, activation=activation),
                vg(params, batch, 0.01, k, fo, batched, activation=activation))

    jitted(params, _batch(3, 4, 1, dtype), 0.01, k, fo, batched, activation=activation)
    got, expected = both(_batch(3, 4, 2, dtype))
    assert_bitwise(got, expected)
    assert got[0].dtype == dtype and all(g.dtype == dtype for g in tm.tree_leaves(got[1]))
    assert len(jitted.programs) == 1
    # other shapes: a new program, right on its own new batch
    jitted(params, _batch(2, 5, 3, dtype), 0.01, k, fo, batched, activation=activation)
    assert len(jitted.programs) == 2
    got, expected = both(_batch(2, 5, 4, dtype))
    assert_bitwise(got, expected)
    # and the first program is still there and still right
    got, expected = both(_batch(3, 4, 5, dtype))
    assert_bitwise(got, expected)
    assert len(jitted.programs) == 2


def test_maml_and_fomaml_programs_differ_and_fomaml_is_shorter():
    params, batch = _params(np.float64), _batch(3, 4, 1, np.float64)
    jitted = tm.jit(tm.value_and_grad(maml_objective), static_argnums=(2, 3, 4, 5))
    maml = jitted.lower(params, batch, 0.01, 1, False, True).source
    fomaml = jitted.lower(params, batch, 0.01, 1, True, True).source
    assert len(jitted.programs) == 2
    assert len(fomaml.splitlines()) < len(maml.splitlines())  # no Hessian-vector products


@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("dtype", DTYPES)
def test_metasgd_meta_gradient_is_bitwise_eager_on_new_batches_and_after_a_retrace(
        batched, dtype):
    vg = tm.value_and_grad(metasgd_objective)
    jitted = tm.jit(vg, static_argnums=(2, 3, 4))
    params = _params(dtype)
    meta = {"params": params, "lr": tree_map(lambda p: np.full_like(p, 0.01), params)}
    for shape, seeds in (((3, 4), (1, 2)), ((2, 5), (3, 4))):
        jitted(meta, _batch(*shape, seeds[0], dtype), 2, batched, "tanh")
        batch = _batch(*shape, seeds[1], dtype)
        assert_bitwise(jitted(meta, batch, 2, batched, "tanh"), vg(meta, batch, 2, batched, "tanh"))
    assert len(jitted.programs) == 2


@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("dtype", DTYPES)
def test_reptile_compiles_bitwise_equal_to_eager(batched, dtype):
    params = _params(dtype)
    got, expected = compiled_on_new_inputs(
        _reptile, (params, _batch(3, 4, 1, dtype), 0.01, 2, batched, "relu"),
        (params, _batch(3, 4, 2, dtype), 0.01, 2, batched, "relu"),
        static_argnums=(2, 3, 4, 5))
    assert_bitwise(got, expected)
    # what training runs: meta_gradient's compiled Reptile gives eager's numbers
    batch = _batch(3, 4, 3, dtype)
    (v1, g1), (v2, g2) = (meta_gradient("reptile", params, batch, 0.01, 2, batched, jit=j)
                          for j in (True, False))
    assert v1 == v2 and all(np.array_equal(g1[n], g2[n]) and g1[n].dtype == g2[n].dtype
                            for n in g2)
    assert_bitwise(reptile_direction(params, batch, 0.01, 2, batched), g2)


# ---------------------------------------------------------------- concretization
READS = {  # a way of reading a tensor's value into Python or numpy
    "float": lambda t: float(t),
    "int": lambda t: int(t),
    "bool": lambda t: 1.0 if bool(t) else 2.0,
    "if t > 0": lambda t: 1.0 if t > 0 else 2.0,
    "item": lambda t: t.item(),
    "numpy": lambda t: t.numpy(),
    "np.asarray": lambda t: np.asarray(t),
    "data": lambda t: t.data,
}


@pytest.mark.parametrize("read", sorted(READS))
def test_reading_a_value_derived_from_an_argument_raises_concretization_error(read):
    def f(x):
        t = tm.sum(x * x)
        return x * READS[read](t)

    with pytest.raises(ConcretizationError, match="static_argnums"):
        tm.jit(f)(np.array([0.5, -1.0, 2.0]))


@pytest.mark.parametrize("read", sorted(READS))
def test_reading_the_argument_itself_raises_concretization_error(read):
    with pytest.raises(ConcretizationError, match="static_argnums"):
        tm.jit(lambda x: x * READS[read](x))(np.array(0.5))


def test_concretization_error_names_the_line():
    def f(x):
        return x * float(tm.sum(x))

    with pytest.raises(ConcretizationError, match="test_compiler"):
        tm.jit(f)(np.array([0.5, 1.0]))


@pytest.mark.parametrize("read", sorted(READS))
def test_reading_a_value_of_a_static_argument_works(read):
    def f(x, c):
        t = tm.sum(tm.tensor(c) * 2.0)
        return x * READS[read](t)

    jitted = tm.jit(f, static_argnums=(1,))
    jitted(np.array([0.5, -1.0, 2.0]), 1.5)
    x = np.array([3.0, 0.25, -2.0])
    assert_bitwise(jitted(x, 1.5), tm.tensor(f(x, 1.5)))
    assert_bitwise(jitted(x, -0.5), tm.tensor(f(x, -0.5)))  # another value: a retrace
    assert len(jitted.programs) == 2


def test_a_branch_on_a_static_argument_compiles_one_program_per_value():
    def f(x, mode):
        return tm.sin(x) if mode > 0 else tm.cos(x)

    jitted = tm.jit(f, static_argnums=1)
    x = np.array([0.5, 1.0])
    assert_bitwise(jitted(x, 1), f(x, 1))
    assert_bitwise(jitted(x, -1), f(x, -1))
    assert len(jitted.programs) == 2


def test_a_branch_on_a_derived_value_raises_concretization_error():
    def f(x):
        if tm.sum(x) > 0:
            return tm.sin(x)
        return tm.cos(x)

    with pytest.raises(ConcretizationError, match="static_argnums"):
        tm.jit(f)(np.array([0.5, 1.0]))


def test_a_data_dependent_constant_from_numpy_raises_concretization_error():
    def f(x):
        centre = x.numpy().mean()  # computed on the first call's data
        return tm.sum((x - centre) ** 2)

    with pytest.raises(ConcretizationError, match="static_argnums"):
        tm.jit(f)(np.array([0.5, 1.0, 4.0]))


def _myabs_gradient():
    myabs = Primitive("myabs", np.abs).defvjp(lambda g, ans, x: g * np.sign(x))
    return tm.grad(lambda x: tm.sum(myabs(x) * np.array([1.0, 2.0, 3.0, 4.0])))


@pytest.mark.parametrize("x", [
    [0.1, -0.1, 0.2, -0.2],
    [-1.0, 0.5, 2.0, -0.3],  # a draw that keeps every sign: the traceable check refuses it
])
def test_a_rule_computing_a_mask_with_raw_numpy_is_refused_not_frozen(x):
    # in a backward pass nobody differentiates, the rule sees bare numpy: np.sign(x) and the
    # product are not recorded, so the gradient would be a constant of the first call
    with pytest.raises(JitError) as error:
        tm.jit(_myabs_gradient())(np.array(x))
    message = str(error.value)
    assert "myabs" in message and "numpy" in message and "without jit" in message


def test_a_user_rule_is_refused_until_declared_traceable():
    # written with operators, the rule's '*' is numpy's in a first-order backward pass (g
    # and tm.cos(x) are bare arrays) and would not be recorded: refused
    mysin = Primitive("mysin", np.sin).defvjp(lambda g, ans, x: g * tm.cos(x))
    f = tm.grad(lambda x: tm.sum(mysin(x) * x))
    with pytest.raises(JitError, match="mysin"):
        tm.jit(f)(np.array([0.5, 1.0]))
    # written with tinymeta ops only, the author may declare it traceable
    good = Primitive("goodsin", np.sin).defvjp(lambda g, ans, x: tm.multiply(g, tm.cos(x)))
    good.traceable = True
    f = tm.grad(lambda x: tm.sum(good(x) * x))
    got, expected = compiled_on_new_inputs(f, (np.array([0.5, 1.0]),), (np.array([2.0, -1.0]),))
    assert_bitwise(got, expected)


# ---------------------------------------------------------------- numpy on arguments
NUMPY_ON_ARGUMENTS = {
    "index": lambda xs: xs[1] * xs[0],
    "negative index": lambda xs: xs[-1],
    "slice": lambda xs: xs[1:, ::-1],
    "np.sum": lambda xs: np.sum(xs),
    "np.sum axis": lambda xs: np.sum(xs, axis=0),
    "np.tanh": lambda xs: np.tanh(xs),
    "np.mean": lambda xs: np.mean(xs, axis=1),
    "np.concatenate": lambda xs: np.concatenate([xs, xs * 2.0]),
    "transpose": lambda xs: xs.T @ xs,
    "operators": lambda xs: 2.0 * xs - xs / 3.0,
    "np.copy": lambda xs: np.copy(xs) * 2.0,
    "tm.tensor": lambda xs: tm.sin(tm.tensor(xs)),
}
NUMPY_BROKEN = {
    "np.copy": "np.copy(x) of an argument is refused (no tinymeta op copies), not recorded",
    "tm.tensor": "tm.tensor(x) of an argument is refused (ConcretizationError), not recorded",
}


@pytest.mark.parametrize("case", [
    pytest.param(case, marks=[pytest.mark.xfail(strict=True, reason=NUMPY_BROKEN[case])]
                 if case in NUMPY_BROKEN else []) for case in sorted(NUMPY_ON_ARGUMENTS)])
@pytest.mark.parametrize("dtype", DTYPES)
def test_numpy_run_on_an_argument_is_recorded(case, dtype):
    f = NUMPY_ON_ARGUMENTS[case]
    rng = np.random.default_rng(3)
    first, second = (rng.standard_normal((3, 2)).astype(dtype) for _ in range(2))
    jitted = tm.jit(f)
    jitted(first)
    got = jitted(second)
    expected = _plain(f(second))  # plain numpy on a plain array
    assert np.array_equal(_plain(got), expected)
    assert _plain(got).dtype == expected.dtype
    assert not np.array_equal(_plain(got), _plain(f(first)))


# ---------------------------------------------------------------- side effects
def test_a_side_effect_does_not_happen_on_later_calls():
    calls = []

    def f(x):
        calls.append(x.shape)
        return tm.sin(x)

    jitted = tm.jit(f)
    jitted(np.ones(3))
    before = len(calls)
    assert before >= 1
    for seed in range(3):
        jitted(np.random.default_rng(seed).standard_normal(3))
    assert len(calls) == before


def test_a_side_effect_happens_twice_on_the_first_call_as_documented():
    calls = []

    def f(x):
        calls.append(1)
        return tm.sin(x)

    tm.jit(f)(np.ones(3))
    assert len(calls) == 2  # recording, and the check on other arguments


# ---------------------------------------------------------------- names in the source
def _clean(source: str) -> None:
    for line in source.splitlines():
        assert line.startswith(("def program", "    ")) or line == "", repr(line)
        assert not line.startswith("    import") and "os.system" not in line, repr(line)


def test_a_scope_name_holding_code_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    name = f'x"\nimport os; os.system("touch {marker}")\n#\'\'\'\\ """'

    def f(x):
        with tm.name_scope(name):
            return tm.sum(tm.sin(x) * x)

    g = tm.grad(f)
    jitted = tm.jit(g)
    x = np.array([0.5, 1.0, 2.0])
    source = jitted.lower(x).source
    _clean(source)
    y = np.array([1.5, -1.0, 0.25])
    assert_bitwise(jitted(y), g(y))
    assert not marker.exists()


def test_a_dict_key_and_a_primitive_name_holding_code_run_nothing(tmp_path):
    marker = tmp_path / "pwned"
    code = f'x"\nimport os; os.system("touch {marker}")\n#'
    evil = Primitive(code, np.sin).defvjp(lambda g, ans, x: tm.multiply(g, tm.cos(x)))
    evil.traceable = True  # its rule uses tinymeta ops only

    def f(tree):
        return {code: tm.sum(evil(tree[code]) * tree[code])}

    jitted = tm.jit(tm.grad(lambda t: f(t)[code]))
    _clean(jitted.lower({code: np.array([0.5, 1.0])}).source)
    out = tm.jit(f)({code: np.array([0.5, 1.0])})
    assert list(out) == [code]
    assert not marker.exists()


@pytest.mark.parametrize("name", [
    "lambda",
    "del",
    "arg0",
    "sin_1",
])
def test_a_primitive_named_like_python_syntax_or_a_program_name_compiles(name):
    prim = Primitive(name, np.negative).defvjp(lambda g, ans, x: -g)

    def f(x):
        return tm.sum(prim(tm.sin(x)) * x)

    x, y = np.array([0.5, 1.0]), np.array([2.0, -1.0])
    jitted = tm.jit(f)
    jitted(x)
    assert_bitwise(jitted(y), f(y))


def test_the_source_reads_like_hand_written_numpy():
    params, batch = _params(np.float64), _batch(3, 4, 1, np.float64)
    jitted = tm.jit(tm.value_and_grad(maml_objective), static_argnums=(2, 3, 4, 5))
    program = jitted.lower(params, batch, 0.01, 1, False, True)
    source = program.source
    assert source.startswith("def program(")
    assert "inner_step_1_" in source and "query_loss_" in source
    assert "# order 0" in source and "# order 1" in source and "# order 2" in source
    assert "\n    del " in source
    assert "\n    return (" in source
    _clean(source)
    assert jitted.lower(params, batch, 0.01, 1, False, True) is program  # cached
    assert len(jitted.programs) == 1


# ---------------------------------------------------------------- nesting
def test_jit_inside_a_jitted_function_is_recorded_into_the_outer_program():
    inner = tm.jit(lambda x: tm.sin(x) * x)
    outer_f = tm.grad(lambda x: tm.sum(inner(x) ** 2))
    outer = tm.jit(outer_f)
    outer(np.array([0.5, 1.0]))
    assert len(inner.programs) == 0  # ran eagerly, inside the outer recording
    y = np.array([-0.3, 2.0])
    assert_bitwise(outer(y), outer_f(y))


def test_grad_of_a_jitted_function_falls_back_to_eager():
    def f(x):
        return tm.sum(tm.tanh(x) * x)

    jitted = tm.jit(f)
    x = np.array([0.5, -1.0, 2.0])
    assert_bitwise(tm.grad(jitted)(x), tm.grad(f)(x))
    assert_bitwise(tm.grad(lambda v: tm.sum(tm.grad(jitted)(v) ** 2))(x),
                   tm.grad(lambda v: tm.sum(tm.grad(f)(v) ** 2))(x))
    assert len(jitted.programs) == 0


@pytest.mark.parametrize("dtype", DTYPES)
def test_jit_of_hessian_hvp_and_stop_gradient(dtype):
    def f(x):
        return tm.sum(tm.sin(x) * x ** 2) + tm.sum(x[:-1] * x[1:])

    def stopped(x):
        return tm.sum(x * tm.stop_gradient(x) ** 2)

    functions = {
        "hessian": tm.hessian(f),
        "hvp": lambda x, v: tm.hvp(f, x, v),
        "stop_gradient": tm.grad(stopped),
        # the stop holds at the second level too: d/dx Σ stop(x)² x = stop(x)²
        "stop_gradient, second order": tm.grad(lambda x: tm.sum(tm.grad(stopped)(x) * x)),
    }
    rng = np.random.default_rng(4)
    for name, fn in functions.items():
        nargs = 2 if name == "hvp" else 1
        first = [rng.standard_normal(3).astype(dtype) for _ in range(nargs)]
        second = [rng.standard_normal(3).astype(dtype) for _ in range(nargs)]
        got, expected = compiled_on_new_inputs(fn, first, second)
        assert_bitwise(got, expected)


# ---------------------------------------------------------------- arguments and results
def test_static_argnames_kwargs_and_trees_in_and_out():
    def f(tree, scale, *, y, mode="sin", count=2):
        a, (b, c) = tree["a"], tree["pair"]
        act = tm.sin if mode == "sin" else tm.cos
        out = {"list": [act(a) * scale, (tm.matmul(b, c),)], "y": tm.multiply(y, 2.0),
               "n": count, "half": 0.5}
        return out, tm.sum(a) + tm.sum(y)

    jitted = tm.jit(f, static_argnums=(1,), static_argnames=("mode",))
    rng = np.random.default_rng(5)

    def tree():
        return {"a": rng.standard_normal(3), "pair": [rng.standard_normal((2, 3)),
                                                      rng.standard_normal((3, 1))]}

    jitted(tree(), 2.0, y=rng.standard_normal(2), mode="sin", count=2)
    t, y = tree(), rng.standard_normal(2)
    assert_bitwise(jitted(t, 2.0, y=y, mode="sin", count=2), f(t, 2.0, y=y, mode="sin", count=2))
    assert len(jitted.programs) == 1
    assert_bitwise(jitted(t, 2.0, y=y, mode="cos", count=2), f(t, 2.0, y=y, mode="cos", count=2))
    assert_bitwise(jitted(t, 3.0, y=y, mode="cos", count=3), f(t, 3.0, y=y, mode="cos", count=3))
    assert len(jitted.programs) == 3
    out, _ = jitted(t, 3.0, y=y, mode="cos", count=3)
    assert type(out["n"]) is int and out["n"] == 3 and type(out["half"]) is float


def test_new_dtypes_and_shapes_retrace_and_the_same_ones_do_not():
    f = tm.grad(lambda x: tm.sum(tm.exp(x) * x))
    jitted = tm.jit(f)
    for dtype in DTYPES:
        for shape in ((3,), (2, 2)):
            for seed in (1, 2):
                x = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
                assert_bitwise(jitted(x), f(x))
    assert len(jitted.programs) == 4


def test_a_returned_traced_tensor_is_refused():
    with pytest.raises(JitError, match="differentiated"):
        tm.jit(lambda x: tm.tensor(np.ones(2), requires_grad=True) * x)(np.ones(2))


def test_a_result_does_not_alias_the_callers_array():
    jitted = tm.jit(lambda x: tm.reshape(x, (3, 2)))
    jitted(np.ones((2, 3)))
    x = np.ones((2, 3))
    y = jitted(x)
    x[0, 0] = 5.0
    assert _plain(y)[0, 0] == 1.0


def test_a_static_array_that_differs_only_in_the_middle_gets_its_own_program():
    def f(x, c):
        return x * tm.sum(tm.tensor(c))

    jitted = tm.jit(f, static_argnums=1)
    c1 = np.zeros(2000)
    c2 = c1.copy()
    c2[1000] = 1.0
    x = np.ones(2)
    jitted(x, c1)
    assert_bitwise(jitted(x, c2), f(x, c2))


def test_jit_needs_a_function():
    with pytest.raises(TypeError, match="expected a function"):
        tm.jit(3)


def test_a_program_is_keyed_on_the_layout_of_its_arguments():
    # out= rewrites follow the recorded layout; a Fortran-order argument of the same shape
    # must not reuse a program recorded on C-order ones (the reduction order changes)
    def f(x, y):
        return tm.sum(tm.sin(x) * tm.cos(y), axis=1)

    r = np.random.default_rng(0)
    x, y = r.standard_normal((64, 200)), r.standard_normal((64, 200))
    jf = tm.jit(f)
    jf(x, y)
    xf = np.asfortranarray(x)
    assert_bitwise(jf(xf, y), f(xf, y))
    assert len(jf.programs) == 2
    # and recording on a transposed view is not refused by the check on other arguments
    def g(x, y):
        return tm.sum(tm.sin(tm.transpose(x)) * tm.cos(y), axis=1)

    xt = np.asfortranarray(r.standard_normal((200, 64)))
    assert_bitwise(tm.jit(g)(xt, y), g(xt, y))


def test_a_broadcast_view_argument_runs_eagerly():
    # tm.grad copies a differentiated argument, and a broadcast view's copy has another
    # layout than the view the program would read: not bit for bit, so no program
    g = tm.grad(lambda x: tm.sum(x * 3.0) ** 2)
    a = np.random.default_rng(0).standard_normal((6, 5))
    b = np.broadcast_to(a[:1], (6, 5))
    jitted = tm.jit(g)
    assert_bitwise(jitted(b), g(b))
    assert not jitted.programs


def test_the_negation_is_not_moved_into_an_int_zero():
    # -0 is 0: x * 0 is +0 where (-x) * 0 is -0, so (-x) * 0 must stay as it is
    f = lambda x: (-x) * 0  # noqa: E731
    x = np.array([1.0, -2.0, 0.5])
    got, want = tm.jit(f)(x)._value, f(tm.Tensor(x))._value
    assert got.tobytes() == want.tobytes()


@pytest.mark.parametrize("algo", ["maml", "fomaml", "reptile", "metasgd", "pretrain"])
def test_training_with_jit_ends_on_the_parameters_of_eager_training(algo):
    # what `tinymeta train` does with and without --no-jit: 20 Adam steps on new
    # meta-batches, each meta-gradient compiled once per shape and then replayed
    from tinymeta.meta.training import TrainConfig, TrainState, advance

    config = TrainConfig(algo=algo, iterations=20, hidden=(8, 8), meta_batch=4, shots=5,
                         inner_steps=2, dtype="float32")
    states = [TrainState.start(config) for _ in range(2)]
    for state, jit in zip(states, (True, False), strict=True):
        assert advance(state, jit=jit)
    compiled, eager = states
    assert np.array_equal(compiled.losses, eager.losses)
    assert_bitwise(compiled.meta_params, eager.meta_params)
