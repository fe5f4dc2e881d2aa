"""tinymeta.nn: MLP init and apply, SGD over trees, Adam against hand-computed steps."""

from __future__ import annotations

import numpy as np
import pytest

import tinymeta as tm
from tinymeta import nn
from tinymeta.nn import Adam, mlp_apply, mlp_init, sgd

# Var(Z | |Z| <= 2) for a standard normal Z: 1 - 2·2·φ(2) / (Φ(2) − Φ(−2))
TRUNCATED_STD = float(np.sqrt(1 - 4 * np.exp(-2) / np.sqrt(2 * np.pi) / 0.9544997361036416))


def numpy_mlp(params: dict, x: np.ndarray, activation: str) -> np.ndarray:
    act = {"relu": lambda h: np.maximum(h, 0), "tanh": np.tanh}[activation]
    n = len(params) // 2
    h = x
    for i in range(n):
        h = h @ params[f"w{i}"] + params[f"b{i}"]
        if i < n - 1:
            h = act(h)
    return h


# ---------------------------------------------------------------- mlp_init
def test_mlp_init_shapes_keys_and_zero_biases():
    p = mlp_init([1, 40, 40, 1], seed=0)
    assert list(p) == ["w0", "b0", "w1", "b1", "w2", "b2"]
    assert {k: v.shape for k, v in p.items()} == {
        "w0": (1, 40), "b0": (40,), "w1": (40, 40), "b1": (40,), "w2": (40, 1), "b2": (1,)}
    assert all(v.dtype == np.float64 for v in p.values())
    assert all(not p[f"b{i}"].any() for i in range(3))


@pytest.mark.parametrize("std", [0.01, 1.0])
def test_mlp_init_is_a_normal_truncated_at_two_standard_deviations(std):
    w = mlp_init([400, 500], seed=1, std=std)["w0"]
    assert np.abs(w).max() <= 2 * std
    assert np.abs(w).max() > 1.95 * std  # the tails are cut at 2σ, not earlier
    assert abs(w.mean()) < 0.01 * std
    np.testing.assert_allclose(w.std(), TRUNCATED_STD * std, rtol=0.01)


def test_mlp_init_seeding():
    a, b, c = mlp_init([1, 8, 1], seed=3), mlp_init([1, 8, 1], seed=3), mlp_init([1, 8, 1], seed=4)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["w0"], c["w0"])
    rng = np.random.default_rng(3)  # a Generator is used as is, and advanced
    first, second = mlp_init([1, 8, 1], seed=rng), mlp_init([1, 8, 1], seed=rng)
    assert np.array_equal(first["w0"], a["w0"]) and not np.array_equal(second["w0"], a["w0"])


def test_mlp_init_float32():
    p = mlp_init([1, 8, 1], seed=0, dtype=np.float32)
    assert all(v.dtype == np.float32 for v in p.values())
    out = mlp_apply(p, np.ones((5, 1), np.float32))
    assert out.dtype == np.float32


@pytest.mark.parametrize("sizes", [[1], [], [1, 0, 1], [3, -1]])
def test_mlp_init_rejects_bad_sizes(sizes):
    with pytest.raises(ValueError, match="sizes"):
        mlp_init(sizes)


# ---------------------------------------------------------------- mlp_apply
@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_mlp_apply_matches_numpy(activation):
    p = mlp_init([2, 7, 5, 3], seed=0, std=1.0)
    x = np.random.default_rng(0).standard_normal((6, 2))
    out = mlp_apply(p, x, activation)
    assert out.shape == (6, 3)
    np.testing.assert_allclose(out.data, numpy_mlp(p, x, activation), rtol=1e-13, atol=1e-14)


def test_mlp_apply_task_batched_equals_per_task():
    rng = np.random.default_rng(0)
    per_task = [mlp_init([1, 6, 6, 1], seed=s, std=1.0) for s in range(4)]
    for i in range(len(per_task)):
        per_task[i]["b0"] = rng.standard_normal(6)  # non-zero biases: check their broadcast
    batched = {k: np.stack([p[k] for p in per_task]) for k in per_task[0]}
    x = rng.standard_normal((4, 9, 1))
    out = mlp_apply(batched, x, "tanh").data
    for t, p in enumerate(per_task):
        np.testing.assert_allclose(out[t], numpy_mlp(p, x[t], "tanh"), rtol=1e-13, atol=1e-15)


def test_mlp_apply_errors():
    p = mlp_init([1, 4, 1])
    with pytest.raises(ValueError, match="activation must be one of"):
        mlp_apply(p, np.ones((2, 1)), "gelu")
    with pytest.raises(KeyError, match="no b1"):
        mlp_apply({k: v for k, v in p.items() if k != "b1"}, np.ones((2, 1)))
    with pytest.raises(KeyError, match="expected keys w0, b0"):
        mlp_apply({"weights": p["w0"]}, np.ones((2, 1)))


def test_mse_loss():
    pred, target = np.array([[1.0], [2.0], [4.0]]), np.array([[0.0], [2.0], [1.0]])
    assert tm.mse_loss(pred, target).item() == pytest.approx(10 / 3)
    with pytest.raises(ValueError, match="must match exactly"):
        tm.mse_loss(pred, target.ravel())


# ---------------------------------------------------------------- sgd
def test_sgd_with_scalar_and_tree_learning_rates():
    params = {"w": np.array([1.0, 2.0]), "b": np.array(3.0)}
    grads = {"w": np.array([0.5, -1.0]), "b": np.array(2.0)}
    out = sgd(params, grads, 0.1)
    np.testing.assert_allclose(out["w"].data, [0.95, 2.1])
    np.testing.assert_allclose(out["b"].data, 2.8)
    rates = {"w": np.array([0.1, 0.01]), "b": np.array(1.0)}  # Meta-SGD: one rate per entry
    out = sgd(params, grads, rates)
    np.testing.assert_allclose(out["w"].data, [0.95, 2.01])
    np.testing.assert_allclose(out["b"].data, 1.0)
    assert params["w"][0] == 1.0  # inputs untouched


@pytest.mark.parametrize("lr", [0.1, np.float32(0.1), np.float64(0.1), np.array(0.1),
                                tm.tensor(0.1)], ids=["float", "np.float32", "np.float64",
                                                      "0-d array", "0-d tensor"])
def test_sgd_takes_any_scalar_learning_rate(lr):
    # a numpy scalar is a rate, not a one-leaf tree (it used to fail as "different structures")
    params = {"w": np.array([1.0, 2.0]), "b": np.array(3.0)}
    grads = {"w": np.array([0.5, -1.0]), "b": np.array(2.0)}
    out = sgd(params, grads, lr)
    np.testing.assert_allclose(out["w"].data, [0.95, 2.1], rtol=1e-6)
    np.testing.assert_allclose(out["b"].data, 2.8, rtol=1e-6)


@pytest.mark.parametrize("wrap", [np.asarray, tm.tensor], ids=["numpy", "constant"])
def test_sgd_on_an_untraced_tree_gives_what_the_ops_give(wrap):
    # the numpy shortcut for untraced trees must match p - lr * g through the ops exactly
    rng = np.random.default_rng(0)
    params = {"w": wrap(rng.standard_normal((3, 2)).astype(np.float32)),
              "b": wrap(rng.standard_normal(2).astype(np.float32))}
    grads = {"w": tm.tensor(rng.standard_normal((3, 2)).astype(np.float32)),
             "b": tm.tensor(rng.standard_normal(2).astype(np.float32))}
    out = sgd(params, grads, 0.01)
    for k in params:
        by_ops = tm.subtract(params[k], tm.multiply(0.01, grads[k]))
        assert isinstance(out[k], tm.Tensor) and not out[k].requires_grad
        assert out[k].dtype == np.float32
        np.testing.assert_array_equal(out[k].data, by_ops.data)


def test_sgd_with_a_tensor_rate_returns_tensors_as_the_ops_do():
    out = sgd({"w": np.array([1.0, 2.0])}, {"w": np.array([0.5, -1.0])}, tm.tensor(0.1))
    assert isinstance(out["w"], tm.Tensor)
    np.testing.assert_allclose(out["w"].data, [0.95, 2.1])


def test_sgd_on_an_untraced_tree_still_checks_for_nans():
    theta = {"w": tm.tensor(np.array([3e38], np.float32))}
    g = {"w": tm.tensor(np.array([-3e38], np.float32))}
    with tm.debug_nans(), pytest.raises(FloatingPointError, match="subtract: produced inf"):
        sgd(theta, g, 1.0)


def test_sgd_with_a_scalar_rate_is_differentiable_in_params():
    grads = {"w": np.array([0.5, -1.0])}
    g = tm.grad(lambda p: tm.sum(sgd(p, grads, 0.1)["w"] ** 2))({"w": np.array([1.0, 2.0])})
    np.testing.assert_allclose(g["w"].data, 2 * (np.array([1.0, 2.0]) - 0.1 * grads["w"]))
    # and through the gradient itself, as MAML's inner step is
    def inner(p):
        step = sgd(p, tm.grad(lambda q: tm.sum(q["w"] ** 3))(p), 0.1)
        return tm.sum(step["w"])
    w = np.array([1.0, 2.0])
    np.testing.assert_allclose(tm.grad(inner)({"w": w})["w"].data, 1 - 0.1 * 6 * w)


def test_sgd_is_differentiable_in_a_scalar_rate_with_untraced_params():
    # only the rate is traced: the untraced shortcut must not drop it
    params = {"w": np.array([1.0, 2.0])}
    grads = {"w": np.array([0.5, -1.0])}
    g = tm.grad(lambda a: tm.sum(sgd(params, grads, a)["w"] ** 2))(0.1)
    new_w = params["w"] - 0.1 * grads["w"]
    np.testing.assert_allclose(float(g), float(np.sum(2 * new_w * -grads["w"])))


def test_sgd_is_differentiable_in_params_and_rates():
    grads = {"w": np.array([0.5, -1.0]), "b": np.array(2.0)}

    def total(params, rates):
        step = sgd(params, grads, rates)
        return tm.sum(step["w"] * step["w"]) + step["b"]

    params = {"w": np.array([1.0, 2.0]), "b": np.array(3.0)}
    rates = {"w": np.array([0.1, 0.01]), "b": np.array(1.0)}
    g_params, g_rates = tm.grad(total, argnums=(0, 1))(params, rates)
    new_w = params["w"] - rates["w"] * grads["w"]
    np.testing.assert_allclose(g_params["w"].data, 2 * new_w)
    np.testing.assert_allclose(g_rates["w"].data, -2 * new_w * grads["w"])
    np.testing.assert_allclose(g_rates["b"].data, -grads["b"])


# ---------------------------------------------------------------- Adam
def test_adam_first_step_is_lr_times_sign():
    opt = Adam(lr=0.1)
    params = {"w": np.array([1.0, -1.0, 0.5])}
    out = opt.step(params, {"w": np.array([3.0, -0.02, 0.0])})
    # m̂ = g, v̂ = g², so the first step is lr · g / (|g| + eps)
    np.testing.assert_allclose(out["w"], [0.9, -0.9, 0.5], rtol=1e-7)
    assert params["w"][0] == 1.0  # the input is not modified


def test_adam_matches_hand_computed_steps():
    lr, b1, b2, eps = 0.01, 0.8, 0.9, 1e-6
    opt = Adam(lr, b1, b2, eps)
    p = np.array([0.3, -1.2])
    g1, g2 = np.array([1.0, 2.0]), np.array([-0.5, 4.0])
    p1 = opt.step(p, g1)
    p2 = opt.step(p1, g2)
    m1, v1 = (1 - b1) * g1, (1 - b2) * g1**2
    m2, v2 = b1 * m1 + (1 - b1) * g2, b2 * v1 + (1 - b2) * g2**2
    by_hand_1 = p - lr * (m1 / (1 - b1)) / (np.sqrt(v1 / (1 - b2)) + eps)
    by_hand_2 = by_hand_1 - lr * (m2 / (1 - b1**2)) / (np.sqrt(v2 / (1 - b2**2)) + eps)
    np.testing.assert_allclose(p1, by_hand_1, rtol=1e-14)
    np.testing.assert_allclose(p2, by_hand_2, rtol=1e-14)
    assert opt.state_dict()["t"] == 2


def test_adam_keeps_float32_and_accepts_tensors():
    opt = Adam(1e-3)
    out = opt.step({"w": np.ones(3, np.float32)}, {"w": tm.tensor(np.ones(3, np.float32))})
    assert out["w"].dtype == np.float32


@pytest.mark.parametrize("dtypes", [("float64",) * 4, ("float32",) * 4,
                                    ("float32", "float64", "float32", "float64")],
                         ids=["float64", "float32", "mixed"])
def test_adam_over_a_tree_updates_each_leaf_as_if_alone(dtypes, monkeypatch):
    # one flat vector for a same-dtype tree, a loop otherwise: each leaf must get exactly
    # the step, the dtype and the moments that an Adam of its own gives it
    joins = []
    monkeypatch.setattr(nn, "_joined", lambda leaves, f=nn._joined: joins.append(1) or f(leaves))
    rng = np.random.default_rng(3)
    shapes = {"w0": (2, 3), "b0": (3,), "w1": (3, 1), "b1": (1,)}
    params = {k: rng.standard_normal(s).astype(d)
              for (k, s), d in zip(shapes.items(), dtypes, strict=True)}
    together = Adam(0.05)
    alone = {k: Adam(0.05) for k in params}
    p_tree, p_leaf = params, dict(params)
    for _ in range(3):
        grads = {k: rng.standard_normal(np.shape(v)).astype(np.result_type(v))
                 for k, v in params.items()}
        p_tree = together.step(p_tree, grads)
        p_leaf = {k: alone[k].step(p_leaf[k], grads[k]) for k in params}
    for i, k in enumerate(params):
        assert np.shape(p_tree[k]) == shapes[k] and type(p_tree[k]) is type(p_leaf[k])
        assert np.result_type(p_tree[k]) == np.dtype(dtypes[i])
        np.testing.assert_array_equal(p_tree[k], p_leaf[k])
        np.testing.assert_array_equal(together.m[i], alone[k].m[0])
        np.testing.assert_array_equal(together.v[i], alone[k].v[0])
    assert bool(joins) == (len(set(dtypes)) == 1)  # the joined path ran exactly when it should


def test_adam_keeps_each_leafs_dtype_whatever_the_hyperparameters_types():
    # a numpy float64 rate promotes the arithmetic; the parameters must come back float32
    params = {"a": np.ones(2, np.float32), "b": np.ones(3, np.float32)}
    out = Adam(np.float64(0.05), b1=np.float64(0.9)).step(params, params)
    assert out["a"].dtype == np.float32 and out["b"].dtype == np.float32


def test_adam_accepts_moments_assigned_as_python_floats():
    params = {"a": np.ones(2), "b": np.array(1.0)}
    opt = Adam(0.1)
    opt.step(params, params)
    opt.m[1], opt.v[1] = 0.0, 0.0  # as the per-leaf version allowed
    m, v = 0.1 * 1.0, 0.001 * 1.0  # the second step from zero moments, by hand
    expected = 1.0 - 0.1 * (m / (1 - 0.9**2)) / (np.sqrt(v / (1 - 0.999**2)) + 1e-8)
    np.testing.assert_allclose(opt.step(params, params)["b"], expected, rtol=1e-12)


def test_adam_state_is_live_and_can_be_restored():
    params, grads = {"a": np.ones(2), "b": np.ones(3)}, {"a": np.ones(2), "b": np.ones(3)}
    opt = Adam(0.1)
    opt.step(params, grads)
    held = opt.state_dict()["m"]
    opt.step(params, grads)
    np.testing.assert_allclose(held[0], 0.19)  # the lists are updated in place
    restored = Adam(0.1)
    restored.t, restored.m, restored.v = opt.t, [m.copy() for m in opt.m], list(opt.v)
    np.testing.assert_array_equal(restored.step(params, grads)["a"], opt.step(params, grads)["a"])
    empty = Adam()
    assert empty.step({}, {}) == {} and empty.t == 1


def test_adam_errors():
    with pytest.raises(ValueError, match="lr must be positive"):
        Adam(lr=0.0)
    with pytest.raises(ValueError, match="does not match the parameter tree"):
        Adam().step({"w": np.ones(2)}, {"v": np.ones(2)})
    with pytest.raises(ValueError, match=r"gradient of \['w'\] has shape \(3,\) but the "
                                         r"parameter has shape \(2,\)"):
        Adam().step({"w": np.ones(2)}, {"w": np.ones(3)})
    opt = Adam()
    opt.step({"w": np.ones(2)}, {"w": np.ones(2)})
    with pytest.raises(ValueError, match="differ from those of the moments"):
        opt.step({"w": np.ones(4)}, {"w": np.ones(4)})
