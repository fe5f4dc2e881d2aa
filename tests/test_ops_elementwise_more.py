"""The elementwise functions of ``tinymeta.ops.transcendental`` and ``tinymeta.ops.rounding``.

Tables say which function, which numpy reference and where to draw inputs;
``check_op`` (from test_ops.py) compares the value with numpy, checks dtypes and
runs ``check_grads``: to third order in float64, to first order in float32 (whose
finite differences are too coarse for more), and a separate test checks that
float32 stays float32 up to the third derivative without a single cast.

Inputs stay away from the points where a function is not smooth, since central
differences are only valid there: ±1 for arcsin/arctanh, the cut of arctan2,
integers (and halves) for the rounding functions, integer quotients for the
remainders, the bounds for clip.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_ops import BROADCAST_PAIRS, DTYPES, check_op, draw

import tinymeta as tm
import tinymeta.ops.shape
from tinymeta.ops import rounding, transcendental

ORDER = {np.float64: 3, np.float32: 1}
SHAPES = [(), (3,), (2, 3), (2, 1, 3)]


def sample(rng: np.random.Generator, domain: str, shape: tuple[int, ...]) -> np.ndarray:
    """Inputs of ``shape`` where the function is smooth (float32 finite differences step
    by up to ~0.03, so every margin is wider than that)."""
    if domain == "unit":  # arcsin, arccos, arctanh: inside (-1, 1), off the poles at ±1
        return rng.uniform(-0.8, 0.8, shape)
    if domain == "above_one":  # arccosh
        return rng.uniform(1.2, 3.0, shape)
    if domain == "off_integers":  # floor, ceil, rint, round: >= 0.1 from integers and halves
        sign = rng.choice([-1.0, 1.0], shape)
        return rng.integers(-3, 4, shape) + sign * rng.uniform(0.1, 0.4, shape)
    return draw(rng, domain, shape)


def off_integer_quotients(rng: np.random.Generator, shapes) -> list[np.ndarray]:
    """x1, x2 for mod/fmod: |x2| in [1, 2] and every x1/x2 at least 0.2 from an integer
    (where the remainders jump)."""
    while True:
        x1 = rng.uniform(-2.5, 2.5, shapes[0])
        x2 = rng.uniform(1.0, 2.0, shapes[1]) * rng.choice([-1.0, 1.0], shapes[1])
        q = np.divide(*np.broadcast_arrays(x1, x2))
        if q.size == 0 or np.min(np.abs(q - np.round(q))) >= 0.2:
            return [x1, x2]


# ---------------------------------------------------------------- unary
T, R = transcendental, rounding
UNARY = {  # name: (tinymeta function, numpy reference, input domain)
    "sinh": (T.sinh, np.sinh, "normal"),
    "cosh": (T.cosh, np.cosh, "normal"),
    "arcsin": (T.arcsin, np.arcsin, "unit"),
    "arccos": (T.arccos, np.arccos, "unit"),
    "arctan": (T.arctan, np.arctan, "normal"),
    "arcsinh": (T.arcsinh, np.arcsinh, "normal"),
    "arccosh": (T.arccosh, np.arccosh, "above_one"),
    "arctanh": (T.arctanh, np.arctanh, "unit"),
    "log2": (T.log2, np.log2, "positive"),
    "log10": (T.log10, np.log10, "positive"),
    "exp2": (T.exp2, np.exp2, "normal"),
    "floor": (R.floor, np.floor, "off_integers"),
    "ceil": (R.ceil, np.ceil, "off_integers"),
    "rint": (R.rint, np.rint, "off_integers"),
    "round": (R.round, np.round, "off_integers"),
    "round decimals=1": (lambda x: R.round(x, 1), lambda x: np.round(x, 1), "off_integers"),
    "round decimals=-1": (lambda x: R.round(x, decimals=-1), lambda x: np.round(x, -1),
                          "off_integers"),
    "nan_to_num": (R.nan_to_num, np.nan_to_num, "normal"),
}
SCALE = {"round decimals=1": 0.1, "round decimals=-1": 10.0}  # off multiples of 0.1 / 10


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary(name, shape, dtype, rng):
    fn, ref, domain = UNARY[name]
    x = sample(rng, domain, shape) * SCALE.get(name, 1.0)
    check_op(fn, ref, (x,), order=ORDER[dtype], dtype=dtype)


# ---------------------------------------------------------------- binary
BINARY = {  # name: (tinymeta function, numpy reference, input domains or a sampler)
    "arctan2": (T.arctan2, np.arctan2, ("nonzero", "normal")),  # x1 off the cut at x1 = 0
    "hypot": (T.hypot, np.hypot, ("nonzero", "normal")),  # off the origin
    "logaddexp": (T.logaddexp, np.logaddexp, ("normal", "normal")),
    "mod": (R.mod, np.mod, off_integer_quotients),
    "remainder": (R.remainder, np.remainder, off_integer_quotients),
    "fmod": (R.fmod, np.fmod, off_integer_quotients),
}


def binary_inputs(rng, name, shapes):
    domains = BINARY[name][2]
    if callable(domains):
        return domains(rng, shapes)
    return [sample(rng, d, s) for d, s in zip(domains, shapes, strict=True)]


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("shapes", BROADCAST_PAIRS, ids=str)
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary(name, shapes, dtype, rng):
    fn, ref, _ = BINARY[name]
    check_op(fn, ref, binary_inputs(rng, name, shapes), order=ORDER[dtype], dtype=dtype)


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_accepts_numbers_arrays_and_tensors(name, rng):
    fn, ref, _ = BINARY[name]
    x1, x2 = binary_inputs(rng, name, ((3,), (3,)))
    c = float(x2[0])
    for a, b in [(x1, c), (c, x2), (x1, x2), (tm.tensor(x1), x2), (x1, tm.tensor(x2))]:
        out = fn(a, b)
        assert isinstance(out, tm.Tensor)
        np.testing.assert_allclose(out.data, ref(np.asarray(a), np.asarray(b)), rtol=1e-12)


# ---------------------------------------------------------------- clip
def clip_inputs(rng, shapes):
    """x, a_min, a_max with a_min < a_max and x at least 0.2 from both bounds."""
    x_shape, lo_shape, hi_shape = shapes
    while True:
        x = rng.uniform(-1.5, 1.5, x_shape)
        lo = rng.uniform(-0.9, -0.1, lo_shape)
        hi = rng.uniform(0.1, 0.9, hi_shape)
        a, l, h = np.broadcast_arrays(x, lo, hi)
        if a.size == 0 or min(np.min(np.abs(a - l)), np.min(np.abs(a - h))) >= 0.2:
            return [x, lo, hi]


CLIP_SHAPES = [  # x, a_min, a_max: every bound a differentiated argument
    ((), (), ()),
    ((5,), (), ()),
    ((2, 3), (3,), ()),
    ((2, 3), (2, 1), (3,)),
    ((3,), (2, 1), ()),  # the bounds broadcast x up
    ((2, 1, 3), (4, 3), (1, 1)),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("shapes", CLIP_SHAPES, ids=str)
def test_clip_with_tensor_bounds(shapes, dtype, rng):
    check_op(R.clip, np.clip, clip_inputs(rng, shapes), order=ORDER[dtype], dtype=dtype)


CLIP_CONSTANT_BOUNDS = {  # name: (tinymeta call, numpy call)
    "both": (lambda x: R.clip(x, -0.5, 0.5), lambda x: np.clip(x, -0.5, 0.5)),
    "lower only": (lambda x: R.clip(x, -0.5, None), lambda x: np.clip(x, -0.5, None)),
    "upper only": (lambda x: R.clip(x, None, 0.5), lambda x: np.clip(x, None, 0.5)),
    "min= keyword": (lambda x: R.clip(x, min=-0.5), lambda x: np.maximum(x, -0.5)),
    "max= keyword": (lambda x: R.clip(x, max=0.5), lambda x: np.minimum(x, 0.5)),
    "both keywords": (lambda x: R.clip(x, min=-0.5, max=0.5), lambda x: np.clip(x, -0.5, 0.5)),
    "no bound": (lambda x: R.clip(x), lambda x: x),
    "array bound": (lambda x: R.clip(x, np.array([-0.5, -0.4, -0.3], x.dtype), 0.5),
                    lambda x: np.clip(x, np.array([-0.5, -0.4, -0.3], x.dtype), 0.5)),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("name", sorted(CLIP_CONSTANT_BOUNDS))
def test_clip_with_constant_bounds(name, dtype, rng):
    fn, ref = CLIP_CONSTANT_BOUNDS[name]
    x = rng.choice([-1.0, 1.0], (2, 3)) * rng.uniform(0.0, 1.5, (2, 3))
    x[np.abs(np.abs(x) - 0.4) < 0.25] = 1.2  # away from every bound used above
    check_op(fn, ref, (x,), order=ORDER[dtype], dtype=dtype)


def test_clip_derivatives_by_hand():
    x = np.array([-2.0, -0.5, 0.0, 0.5, 2.0])
    lo, hi = np.array([-1.0, -1.0, 0.0, -1.0, -1.0]), 1.0
    gx, glo, ghi = tm.grad(lambda a, b, c: tm.sum(R.clip(a, b, c)), argnums=(0, 1, 2))(x, lo, hi)
    # inside: x gets 1; below: a_min gets it; above: a_max; a tie (x = a_min = 0) splits it
    np.testing.assert_array_equal(gx.data, [0.0, 1.0, 0.5, 1.0, 0.0])
    np.testing.assert_array_equal(glo.data, [1.0, 0.0, 0.5, 0.0, 0.0])
    assert ghi.item() == 1.0  # a_max was broadcast: its cotangent is summed back


def test_clip_with_crossed_bounds_gives_a_max_like_numpy():
    x = np.array([-1.0, 0.5, 3.0])
    np.testing.assert_array_equal(R.clip(x, 2.0, 1.0).data, np.clip(x, 2.0, 1.0))
    g_lo, g_hi = tm.grad(lambda b, c: tm.sum(R.clip(x, b, c)), argnums=(0, 1))(2.0, 1.0)
    assert (g_lo.item(), g_hi.item()) == (0.0, 3.0)


# ---------------------------------------------------------------- derivatives by hand
def test_mod_and_fmod_derivatives_are_one_and_minus_the_quotient():
    x1 = np.array([3.1, -3.1, 3.1, -3.1, 0.4])
    x2 = np.array([1.3, 1.3, -1.3, -1.3, 2.0])
    for fn, quotient in [(R.mod, np.floor(x1 / x2)), (R.fmod, np.trunc(x1 / x2))]:
        g1, g2 = tm.grad(lambda a, b, fn=fn: tm.sum(fn(a, b)), argnums=(0, 1))(x1, x2)
        np.testing.assert_array_equal(g1.data, np.ones(5))
        np.testing.assert_array_equal(g2.data, -quotient)
        # the quotients are constants: nothing is left for a second derivative
        h = tm.hessian(lambda b, fn=fn: tm.sum(fn(x1, b)))(x2)
        np.testing.assert_array_equal(h.data, np.zeros((5, 5)))


def test_remainder_is_mod_and_matches_python_modulo():
    assert R.remainder is R.mod
    for a, b in [(7.5, 2.0), (-7.5, 2.0), (7.5, -2.0), (-7.5, -2.0)]:
        assert R.mod(a, b).item() == a % b
    ints = np.array([7, -7, 8])
    out = R.mod(ints, 3)
    assert out.dtype == np.mod(ints, 3).dtype
    np.testing.assert_array_equal(out.data, np.mod(ints, 3))


def test_mod_quotient_agrees_with_the_value_at_a_jump():
    # 0.3 / 0.1 rounds to 3.0 in floating point, but numpy's mod(0.3, 0.1) = 0.1 - tiny:
    # the quotient is 2, and the rule must use that one, as x1 = 2 * x2 + mod(x1, x2)
    value = R.mod(0.3, 0.1).item()
    g = tm.grad(lambda b: R.mod(0.3, b))(0.1).item()
    assert 0.3 == pytest.approx(-g * 0.1 + value)
    value = R.fmod(0.3, 0.1).item()
    g = tm.grad(lambda b: R.fmod(0.3, b))(0.1).item()
    assert 0.3 == pytest.approx(-g * 0.1 + value)


@pytest.mark.parametrize("fn", [R.floor, R.ceil, R.rint, R.round], ids=lambda f: f.__name__)
def test_rounding_has_derivative_zero_also_at_the_jumps(fn):
    x = np.array([-1.5, -1.0, 0.0, 0.5, 2.0, 2.5])
    np.testing.assert_array_equal(fn(x).data, getattr(np, fn.__name__)(x))
    g = tm.grad(lambda a: tm.sum(fn(a)))(x)
    np.testing.assert_array_equal(g.data, np.zeros(6))
    np.testing.assert_array_equal(tm.hessian(lambda a: tm.sum(fn(a)))(x).data, np.zeros((6, 6)))


def test_round_matches_numpy_halves_to_even_and_negative_decimals():
    x = np.array([0.5, 1.5, 2.5, -2.5, 1.25, 1234.5678])
    for decimals in (0, 1, 2, -1, -2):
        np.testing.assert_array_equal(R.round(x, decimals).data, np.round(x, decimals))
    assert R.round(np.float32(2.5)).dtype == np.float32
    np.testing.assert_array_equal(R.round(np.int64(1234), -2).data, 1200)


def test_nan_to_num_replaces_like_numpy_and_passes_gradient_only_where_finite():
    x = np.array([np.nan, np.inf, -np.inf, 1.5, -2.0])
    for dtype in DTYPES:
        xd = x.astype(dtype)
        for kw in [{}, dict(nan=1.0, posinf=9.0, neginf=-9.0), dict(posinf=5)]:
            out = R.nan_to_num(xd, **kw)
            assert out.dtype == dtype
            np.testing.assert_array_equal(out.data, np.nan_to_num(xd, **kw))
        g = tm.grad(lambda a: tm.sum(R.nan_to_num(a, posinf=1.0, neginf=-1.0) * 3.0))(xd)
        assert g.dtype == dtype
        np.testing.assert_array_equal(g.data, [0.0, 0.0, 0.0, 3.0, 3.0])


def test_hypot_at_the_origin_has_derivative_zero_at_every_order():
    x = np.array([0.0, 3.0])
    y = np.array([0.0, 4.0])
    gx, gy = tm.grad(lambda a, b: tm.sum(T.hypot(a, b)), argnums=(0, 1))(x, y)
    np.testing.assert_allclose(gx.data, [0.0, 0.6])
    np.testing.assert_allclose(gy.data, [0.0, 0.8])
    h = tm.hessian(lambda a: tm.sum(T.hypot(a, y)))(x)
    assert np.all(np.isfinite(h.data)) and h.data[0, 0] == 0.0
    np.testing.assert_allclose(h.data[1, 1], 16 / 125)  # y² / r³


def test_hypot_and_arcsinh_do_not_overflow():
    big = np.array([1e200, -3e300])
    np.testing.assert_array_equal(T.hypot(big, 1.0).data, np.hypot(big, 1.0))
    np.testing.assert_allclose(tm.grad(lambda a: tm.sum(T.hypot(a, 1.0)))(big).data, [1, -1])
    g = tm.grad(lambda a: tm.sum(T.arcsinh(a)))(big)  # 1 / sqrt(1 + x²), with x² overflowing
    np.testing.assert_allclose(g.data, 1 / np.abs(big), rtol=1e-12)


def test_logaddexp_is_stable_for_large_inputs():
    for dtype in DTYPES:
        a = np.array([1000.0, 1000.0, -1000.0, 80.0], dtype)
        b = np.array([1000.0, -1000.0, -1000.0, -80.0], dtype)
        out = T.logaddexp(a, b)
        assert out.dtype == dtype and np.all(np.isfinite(out.data))
        ga, gb = tm.grad(lambda x, y: tm.sum(T.logaddexp(x, y)), argnums=(0, 1))(a, b)
        np.testing.assert_allclose(ga.data, [0.5, 1.0, 0.5, 1.0])
        np.testing.assert_allclose(gb.data, [0.5, 0.0, 0.5, 0.0], atol=1e-30)


def test_logaddexp_with_minus_infinity_is_the_identity_at_every_order():
    # log-space accumulations start from -inf: logaddexp(x, -inf) = x, derivatives 1 and 0
    x = np.array([0.0, -3.0, 2.5])
    f = lambda a: tm.sum(T.logaddexp(a, -np.inf))  # noqa: E731
    np.testing.assert_array_equal(T.logaddexp(x, -np.inf).data, x)
    np.testing.assert_array_equal(tm.grad(f)(x).data, np.ones(3))
    np.testing.assert_array_equal(tm.hessian(f)(x).data, np.zeros((3, 3)))
    g = tm.grad(lambda b: tm.sum(T.logaddexp(x, b)))(np.full(3, -np.inf))
    np.testing.assert_array_equal(g.data, np.zeros(3))


def test_inverse_functions_are_infinite_at_the_edge_not_nan():
    with np.errstate(divide="ignore"):
        for fn, edge in [(T.arcsin, 1.0), (T.arccos, -1.0), (T.arctanh, 1.0), (T.arccosh, 1.0)]:
            assert np.isinf(tm.grad(fn)(edge).item())


# ---------------------------------------------------------------- float32 at every order
def _float32_cases():
    """name -> (function, float32 arguments): every function, constants as Python numbers
    (weak in numpy's promotion) and broadcasting included."""
    rng = np.random.default_rng(3)

    def f32(*xs):
        return tuple(np.asarray(x, np.float32) for x in xs)

    cases = {}
    for name, (fn, _, domain) in UNARY.items():
        cases[name] = (fn, f32(sample(rng, domain, (3,)) * SCALE.get(name, 1.0)))
    for name in BINARY:
        fn = BINARY[name][0]
        cases[name] = (fn, f32(*binary_inputs(rng, name, ((2, 3), (3,)))))
        x1 = f32(binary_inputs(rng, name, ((3,), ()))[0])[0]
        cases[name + " with a Python number"] = (lambda a, fn=fn: fn(a, 1.7), (x1,))
    cases["hypot at the origin"] = (T.hypot, f32([0.0, 1.0, 0.0], [0.0, 2.0, -1.0]))
    cases["clip"] = (R.clip, f32(*clip_inputs(rng, ((2, 3), (3,), ()))))
    cases["clip with Python bounds"] = (lambda a: R.clip(a, -0.5, 0.5),
                                        f32(rng.uniform(-1.5, 1.5, 4)))
    return cases


FLOAT32_CASES = _float32_cases()


# piecewise-linear functions have a constant derivative: higher ones do not depend on x
@pytest.mark.filterwarnings("ignore::tinymeta.IndependentOutputWarning")
@pytest.mark.parametrize("name", sorted(FLOAT32_CASES))
def test_float32_stays_float32_to_third_order_without_casts(name, monkeypatch):
    fn, args = FLOAT32_CASES[name]
    casts = []
    forward = tinymeta.ops.shape.astype.forward

    def counting_astype(x, dtype):
        if np.asarray(x).dtype != np.dtype(dtype):
            casts.append((np.asarray(x).dtype, np.dtype(dtype)))
        return forward(x, dtype)

    monkeypatch.setattr(tinymeta.ops.shape.astype, "forward", counting_astype)
    assert fn(*args).dtype == np.float32
    for argnum in range(len(args)):
        f = lambda *a: tm.sum(fn(*a))  # noqa: E731
        for order in (1, 2, 3):
            d = tm.grad(f, argnums=argnum)
            value = d(*args)
            assert value.dtype == np.float32, f"derivative of order {order}: {value.dtype}"
            f = lambda *a, d=d: tm.sum(d(*a))  # noqa: E731
    assert not casts, f"astype ran in a backward pass: {casts}"


# ---------------------------------------------------------------- errors
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_shape_mismatch_names_the_op(name):
    op_name = "mod" if name == "remainder" else name  # remainder is mod itself
    with pytest.raises(ValueError, match=rf"{op_name}: shapes \(2, 3\) and \(4,\)"):
        BINARY[name][0](np.ones((2, 3)), np.ones(4))


@pytest.mark.parametrize("name", ["sinh", "arctan", "log2", "floor", "rint"])
def test_unary_bad_argument_names_the_op(name):
    with pytest.raises(TypeError, match=name):
        UNARY[name][0]("not a number")


@pytest.mark.parametrize("call, error, message", [
    (lambda: R.clip(np.ones((2, 3)), np.zeros(4), 1.0), ValueError,
     r"clip: shapes \(2, 3\) and \(4,\) and \(\)"),
    (lambda: R.clip(np.ones(3), 0.0, 1.0, min=0.0), TypeError, "clip: got both a_min and min"),
    (lambda: R.clip(np.ones(3), 0.0, 1.0, max=1.0), TypeError, "clip: got both a_max and max"),
    (lambda: R.clip(np.ones(3), "low", 1.0), TypeError, "clip: invalid arguments"),
    (lambda: R.round(np.ones(3), 1.5), TypeError, "round: decimals must be an int"),
    (lambda: R.round(np.ones(3), True), TypeError, "round: decimals must be an int"),
    (lambda: R.round("x"), TypeError, "round: cannot round"),
    (lambda: R.nan_to_num(np.ones(3), copy=False), ValueError, "nan_to_num: copy=False"),
    (lambda: R.nan_to_num(np.ones(3), nan="zero"), TypeError, "nan_to_num: nan must be"),
    (lambda: R.nan_to_num(np.ones(3), posinf=[1.0]), TypeError, "nan_to_num: posinf must be"),
], ids=["clip shapes", "clip a_min twice", "clip a_max twice", "clip bad bound",
        "round float decimals", "round bool decimals", "round bad x", "nan_to_num in place",
        "nan_to_num bad nan", "nan_to_num bad posinf"])
def test_clear_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()


# ---------------------------------------------------------------- every function is covered
def test_every_public_function_is_tested():
    tested = {fn for fn, _, _ in UNARY.values()} | {fn for fn, _, _ in BINARY.values()}
    tested |= {R.round, R.clip}
    for module in (transcendental, rounding):
        for name in tinymeta.ops.exported_by(module):
            assert getattr(module, name) in tested, f"{module.__name__}.{name} has no test"
