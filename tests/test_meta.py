"""tinymeta.meta: the meta-gradients of MAML, FOMAML, Meta-SGD and Reptile are what the maths says.

Finite-difference checks run through the *whole* inner loop with a tanh MLP, so
no perturbation crosses a ReLU kink. The quadratic-loss tests check the closed
form (I − αA)^k ∇L_query(θ_k) exactly; the k = 1 test checks the second-order
term against an explicit Hessian.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import tinymeta as tm
from tinymeta.meta import (
    ALGORITHMS,
    Sinusoid,
    adapt,
    adapted_predictions,
    evaluate,
    maml_objective,
    meta_gradient,
    metasgd_objective,
    reptile_direction,
    task_loss,
)
from tinymeta.meta.checkpoint import CheckpointError, load_run, save_run, subsample_curve
from tinymeta.meta.training import TrainConfig, meta_train
from tinymeta.nn import mlp_apply, mlp_init
from tinymeta.tree import flatten, tree_map, unflatten

SIZES = [1, 8, 8, 1]  # small enough for coordinate-wise finite differences


def small_mlp(seed: int = 0) -> dict[str, np.ndarray]:
    # std 0.7 (not the paper's 0.01) so the network is far from linear and the
    # second-order terms are large enough to matter
    return mlp_init(SIZES, seed=seed, std=0.7)


def batch(num_tasks: int = 3, shots: int = 5, seed: int = 0) -> dict[str, np.ndarray]:
    return Sinusoid().sample(num_tasks, shots, rng=seed)


# ---------------------------------------------------------------- flat-vector helpers
def ravel(tree) -> np.ndarray:
    return np.concatenate([np.ravel(np.asarray(leaf)) for leaf in flatten(tree)[0]])


def unravel(vector, like):
    """The tree shaped like ``like`` whose leaves are slices of ``vector`` (through tm ops,
    so a function of the tree is differentiable as a function of the vector)."""
    leaves, treedef = flatten(like)
    out, start = [], 0
    for leaf in leaves:
        n = int(np.size(leaf))
        out.append(tm.reshape(tm.getitem(vector, slice(start, start + n)), np.shape(leaf)))
        start += n
    return unflatten(treedef, out)


def central_differences(f, x: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    g = np.zeros_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = eps
        g[i] = (float(f(x + e)) - float(f(x - e))) / (2 * eps)
    return g


def assert_close(actual, expected, rtol: float) -> None:
    """Entrywise agreement, relative to the largest entry."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * np.abs(expected).max())


# ---------------------------------------------------------------- tasks
def test_sinusoid_shapes_ranges_and_function():
    b = Sinusoid().sample(500, 10, 20, rng=0)
    assert b["x_support"].shape == b["y_support"].shape == (500, 10, 1)
    assert b["x_query"].shape == b["y_query"].shape == (500, 20, 1)
    assert b["amplitude"].shape == b["phase"].shape == (500,)
    amp, phase = b["amplitude"], b["phase"]
    assert 0.1 <= amp.min() < 0.2 and 4.9 < amp.max() <= 5.0
    assert 0.0 <= phase.min() < 0.05 and np.pi - 0.05 < phase.max() <= np.pi
    for x in (b["x_support"], b["x_query"]):
        assert -5.0 <= x.min() < -4.9 and 4.9 < x.max() <= 5.0
    for x, y in (("x_support", "y_support"), ("x_query", "y_query")):
        expected = amp[:, None, None] * np.sin(b[x] - phase[:, None, None])
        np.testing.assert_array_equal(b[y], expected)


def test_sinusoid_seeding():
    a, b, c = (Sinusoid().sample(4, 5, rng=s) for s in (7, 7, 8))
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["x_support"], c["x_support"])
    rng = np.random.default_rng(7)  # a Generator is advanced, so successive batches differ
    first, second = Sinusoid().sample(4, 5, rng=rng), Sinusoid().sample(4, 5, rng=rng)
    assert np.array_equal(first["x_support"], a["x_support"])
    assert not np.array_equal(second["x_support"], a["x_support"])


def test_sinusoid_defaults_and_dtype():
    b = Sinusoid().sample(2, 3, rng=0, dtype=np.float32)
    assert b["x_query"].shape == (2, 3, 1)  # query defaults to shots
    assert all(b[k].dtype == np.float32 for k in ("x_support", "y_support", "x_query", "y_query"))
    with pytest.raises(ValueError, match="must be >= 1"):
        Sinusoid().sample(0, 5)
    with pytest.raises(ValueError, match="must be >= 1"):
        Sinusoid().sample(2, 5, query=0)


# ---------------------------------------------------------------- finite differences
@pytest.mark.parametrize("first_order", [False, True], ids=["maml", "fomaml"])
@pytest.mark.parametrize("steps", [1, 2, 3])
def test_meta_gradient_matches_finite_differences_of_the_whole_inner_loop(steps, first_order):
    params, b, alpha = small_mlp(), batch(), 0.05

    def objective_of_vector(v):
        return maml_objective(unravel(v, params), b, alpha, steps, activation="tanh")

    numeric = central_differences(objective_of_vector, ravel(params))
    _, g = meta_gradient("fomaml" if first_order else "maml", params, b, alpha, steps,
                         activation="tanh")
    if first_order:
        # FOMAML drops the Hessian terms: a test that could not tell the two apart is no test
        gap = np.abs(ravel(g) - numeric).max() / np.abs(numeric).max()
        assert gap > 1e-3
    else:
        assert_close(ravel(g), numeric, rtol=1e-7)


@pytest.mark.parametrize("steps", [1, 2, 3])
def test_metasgd_gradient_matches_finite_differences_including_learned_rates(steps):
    params, b = small_mlp(seed=1), batch(seed=1)
    rates = tree_map(lambda p: np.random.default_rng(2).uniform(0.01, 0.08, np.shape(p)), params)
    meta = {"params": params, "lr": rates}

    def objective_of_vector(v):
        return metasgd_objective(unravel(v, meta), b, steps, activation="tanh")

    numeric = central_differences(objective_of_vector, ravel(meta))
    value, g = meta_gradient("metasgd", meta, b, steps=steps, activation="tanh")
    assert value == pytest.approx(float(objective_of_vector(ravel(meta))), rel=1e-14)
    assert_close(ravel(g), numeric, rtol=1e-7)
    assert np.abs(ravel(g["lr"])).max() > 1e-3  # the rates really receive a gradient


# ---------------------------------------------------------------- quadratic loss: closed form
def quadratic(theta, A, b, activation=None):
    """½ θᵀAθ − bᵀθ, written as an ``adapt`` loss (A and b take the places of x and y)."""
    return 0.5 * tm.sum(theta * tm.matmul(A, theta)) - tm.sum(b * theta)


def random_spd(rng, n):
    m = rng.standard_normal((n, n))
    return m @ m.T / n + 0.5 * np.eye(n)


@pytest.mark.parametrize("steps", [1, 2, 3, 5])
def test_quadratic_loss_meta_gradients_have_the_closed_form(steps):
    rng = np.random.default_rng(steps)
    n, alpha = 6, 0.1
    A_s, A_q = random_spd(rng, n), random_spd(rng, n)
    b_s, b_q = rng.standard_normal(n), rng.standard_normal(n)
    theta = rng.standard_normal(n)

    def meta_objective(t, first_order):
        adapted = adapt(t, A_s, b_s, alpha, steps, first_order, loss=quadratic)
        return quadratic(adapted, A_q, b_q)

    theta_k = theta.copy()
    for _ in range(steps):
        theta_k = theta_k - alpha * (A_s @ theta_k - b_s)
    query_grad = A_q @ theta_k - b_q
    jacobian = np.linalg.matrix_power(np.eye(n) - alpha * A_s, steps)  # ∂θ_k/∂θ

    maml = tm.grad(meta_objective)(theta, False).data
    fomaml = tm.grad(meta_objective)(theta, True).data
    np.testing.assert_allclose(maml, jacobian @ query_grad, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(fomaml, query_grad, rtol=1e-12, atol=1e-14)


# ---------------------------------------------------------------- k = 1: the dropped term
def test_maml_minus_fomaml_is_minus_alpha_hessian_times_query_gradient():
    params, b, alpha = small_mlp(seed=3), batch(num_tasks=2, seed=3), 0.05
    theta = ravel(params)
    _, maml = meta_gradient("maml", params, b, alpha, 1, activation="tanh")
    _, fomaml = meta_gradient("fomaml", params, b, alpha, 1, activation="tanh")

    expected = np.zeros_like(theta)
    for t in range(2):
        xs, ys, xq, yq = (b[k][t] for k in ("x_support", "y_support", "x_query", "y_query"))

        def support(v, xs=xs, ys=ys):
            return task_loss(unravel(v, params), xs, ys, "tanh")

        def query(v, xq=xq, yq=yq):
            return task_loss(unravel(v, params), xq, yq, "tanh")

        hessian = tm.hessian(support)(theta).data
        np.testing.assert_allclose(hessian, hessian.T, atol=1e-12)
        theta_1 = theta - alpha * tm.grad(support)(theta).data
        expected += -alpha * hessian @ tm.grad(query)(theta_1).data / 2  # mean over 2 tasks

    assert_close(ravel(maml) - ravel(fomaml), expected, rtol=1e-9)


def test_fomaml_tends_to_maml_linearly_as_alpha_goes_to_zero():
    params, b = small_mlp(seed=4), batch(seed=4)
    gaps = []
    for alpha in (1e-4, 1e-5, 1e-6, 1e-7):
        _, maml = meta_gradient("maml", params, b, alpha, 2, activation="tanh")
        _, fomaml = meta_gradient("fomaml", params, b, alpha, 2, activation="tanh")
        gaps.append(np.linalg.norm(ravel(maml) - ravel(fomaml)))
    assert gaps[-1] < 1e-4 * np.linalg.norm(ravel(maml))
    ratios = np.array(gaps[1:]) / np.array(gaps[:-1])  # gap ∝ α: each tenfold cut divides by ~10
    np.testing.assert_allclose(ratios, 0.1, rtol=0.03)


# ---------------------------------------------------------------- Reptile
def numpy_mse_grad(params: dict, x: np.ndarray, y: np.ndarray) -> dict:
    """Backpropagation for a ReLU MLP's mean squared error, by hand in numpy."""
    n = len(params) // 2
    hs, zs = [x], []
    for i in range(n):
        zs.append(hs[-1] @ params[f"w{i}"] + params[f"b{i}"])
        hs.append(np.maximum(zs[-1], 0))
    delta = 2 * (zs[-1] - y) / y.size
    grads = {}
    for i in reversed(range(n)):
        grads[f"w{i}"] = hs[i].T @ delta
        grads[f"b{i}"] = delta.sum(axis=0)
        if i:
            delta = (delta @ params[f"w{i}"].T) * (zs[i - 1] > 0)
    return grads


@pytest.mark.parametrize("batched", [True, False])
def test_reptile_direction_is_theta_minus_the_mean_adapted_weights(batched):
    params = mlp_init([1, 20, 20, 1], seed=5, std=0.5)
    b, alpha, steps = batch(num_tasks=4, shots=10, seed=5), 0.02, 4
    adapted = []
    for t in range(4):
        theta = dict(params)
        for _ in range(steps):
            g = numpy_mse_grad(theta, b["x_support"][t], b["y_support"][t])
            theta = {k: theta[k] - alpha * g[k] for k in theta}
        adapted.append(theta)
    direction = reptile_direction(params, b, alpha, steps, batched=batched)
    for k in params:
        expected = params[k] - np.mean([a[k] for a in adapted], axis=0)
        assert_close(direction[k], expected, rtol=1e-12)


@pytest.mark.parametrize("batched", [True, False])
def test_reptile_reports_the_query_loss_after_adaptation(batched):
    params, b = small_mlp(), batch()
    value, _ = meta_gradient("reptile", params, b, 0.02, 3, batched=batched)
    expected = maml_objective(params, b, 0.02, 3, first_order=True, batched=batched)
    assert value == pytest.approx(float(expected), rel=1e-14)


# ---------------------------------------------------------------- batched == task loop
@pytest.mark.parametrize("steps", [1, 2])
@pytest.mark.parametrize("algo", ALGORITHMS)
def test_batched_and_task_loop_meta_gradients_agree(algo, steps):
    params = mlp_init([1, 40, 40, 1], seed=6, std=0.3)
    meta = params
    if algo == "metasgd":
        meta = {"params": params, "lr": tree_map(
            lambda p: np.random.default_rng(0).uniform(0.005, 0.02, np.shape(p)), params)}
    b = Sinusoid().sample(5, 10, rng=6)
    v_batched, g_batched = meta_gradient(algo, meta, b, 0.01, steps, batched=True)
    v_loop, g_loop = meta_gradient(algo, meta, b, 0.01, steps, batched=False)
    assert isinstance(v_batched, float)
    assert v_batched == pytest.approx(v_loop, rel=1e-12)
    for gb, gl in zip(flatten(g_batched)[0], flatten(g_loop)[0], strict=True):
        assert isinstance(gb, np.ndarray) and gb.shape == gl.shape
        np.testing.assert_allclose(gb, gl, rtol=1e-12, atol=1e-12)


def test_meta_gradient_unknown_algorithm():
    with pytest.raises(ValueError, match="unknown algorithm 'mamal'; choose one of maml"):
        meta_gradient("mamal", small_mlp(), batch())


def test_first_order_adaptation_records_no_second_order_graph():
    """FOMAML's meta-gradient must not differentiate through the inner backward pass."""
    params, b = small_mlp(), batch()

    def query_after_adaptation(p):
        adapted = adapt(p, b["x_support"][0], b["y_support"][0], 0.1, 1, first_order=True)
        return task_loss(adapted, b["x_query"][0], b["y_query"][0])

    g = tm.grad(query_after_adaptation)(params)
    g_support = numpy_mse_grad(params, b["x_support"][0], b["y_support"][0])
    theta_1 = {k: params[k] - 0.1 * g_support[k] for k in params}
    expected = numpy_mse_grad(theta_1, b["x_query"][0], b["y_query"][0])
    for k in params:
        assert_close(g[k].data, expected[k], rtol=1e-12)


# ---------------------------------------------------------------- evaluation
def test_evaluate_equals_adapting_each_task_by_hand():
    params = mlp_init([1, 40, 40, 1], seed=7, std=0.3)
    ev = evaluate(params, inner_lr=0.02, shots=5, steps=(1, 3), tasks=6, seed=11, query=30)
    assert ev.steps == [0, 1, 3] and ev.per_task.shape == (3, 6)
    b = Sinusoid().sample(6, 5, 30, rng=11)
    for t in range(6):
        theta = dict(params)
        for i in range(4):
            if i in ev.steps:
                pred = mlp_apply(theta, b["x_query"][t]).data
                mse = np.mean((pred - b["y_query"][t]) ** 2)
                assert ev.per_task[ev.steps.index(i), t] == pytest.approx(mse, rel=1e-12)
            g = numpy_mse_grad(theta, b["x_support"][t], b["y_support"][t])
            theta = {k: theta[k] - 0.02 * g[k] for k in theta}
    np.testing.assert_allclose(ev.mean, ev.per_task.mean(axis=1))
    np.testing.assert_allclose(ev.ci95, 1.96 * ev.per_task.std(axis=1, ddof=1) / np.sqrt(6))
    assert "steps" in ev.table() and ev.as_dict()["tasks"] == 6


def test_evaluate_reports_divergence_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ev = evaluate(mlp_init([1, 40, 40, 1], seed=0, std=0.3), inner_lr=50.0, steps=(1, 10),
                      tasks=5)
    assert np.isfinite(ev.mean[0]) and not np.isfinite(ev.mean[-1])
    assert ev.table().splitlines()[-1].split() == ["10", "diverged"]
    assert ev.as_dict()["mean"][-1] is None  # JSON has no inf/nan


def test_evaluate_rejects_negative_steps():
    with pytest.raises(ValueError, match="step counts must be >= 0"):
        evaluate(small_mlp(), steps=(-1, 2), tasks=2)


def test_adapted_predictions():
    params = mlp_init([1, 40, 40, 1], seed=8, std=0.3)
    b = batch(num_tasks=1, shots=5, seed=8)
    xs, ys = b["x_support"][0], b["y_support"][0]
    x_plot = np.linspace(-5, 5, 50)[:, None]
    preds = adapted_predictions(params, xs, ys, x_plot, inner_lr=0.01, steps=(0, 1, 10))
    assert sorted(preds) == [0, 1, 10] and all(p.shape == (50, 1) for p in preds.values())
    np.testing.assert_allclose(preds[0], mlp_apply(params, x_plot).data)
    g = numpy_mse_grad(params, xs, ys)
    theta_1 = {k: params[k] - 0.01 * g[k] for k in params}
    np.testing.assert_allclose(preds[1], mlp_apply(theta_1, x_plot).data, rtol=1e-12)


def test_meta_gradient_emits_no_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for algo in ("maml", "fomaml", "reptile", "pretrain"):
            meta_gradient(algo, small_mlp(), batch(), steps=2)


# ---------------------------------------------------------------- training and checkpoints
@pytest.mark.parametrize("change, message", [
    ({"algo": "mamal"}, "unknown algorithm 'mamal'"),
    ({"iterations": 0}, "iterations must be a positive integer"),
    ({"inner_steps": 1.5}, "inner_steps must be a positive integer"),
    ({"inner_lr": -0.01}, "inner_lr must be a positive number"),
    ({"meta_lr": float("nan")}, "meta_lr must be a positive number"),
    ({"seed": -1}, "seed must be an integer >= 0"),
    ({"hidden": (40, 0)}, "hidden must list positive layer widths"),
    ({"activation": "gelu"}, "activation must be one of"),
    ({"dtype": "float16"}, "dtype must be one of float32, float64"),
])
def test_train_config_rejects_bad_settings(change, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**change)


def test_meta_train_learns_and_is_reproducible():
    config = TrainConfig(algo="pretrain", iterations=300, seed=0)
    before = evaluate(mlp_init(config.sizes, seed=0), steps=(), tasks=200, seed=9).mean[0]
    result = meta_train(config)
    after = evaluate(result.params, result.inner_lr, steps=(), tasks=200, seed=9).mean[0]
    assert after < 0.9 * before
    assert result.losses.shape == (300,) and result.seconds > 0 and result.inner_lr == 0.01
    again = meta_train(config)
    assert all(np.array_equal(result.params[k], again.params[k]) for k in result.params)


def test_meta_train_metasgd_float32_and_callback():
    seen = []
    config = TrainConfig(algo="metasgd", iterations=3, meta_batch=2, hidden=(8,), dtype="float32")
    result = meta_train(config, callback=lambda it, loss: seen.append((it, loss)))
    assert [it for it, _ in seen] == [0, 1, 2] and all(isinstance(v, float) for _, v in seen)
    assert set(result.inner_lr) == set(result.params)
    for k, p in result.params.items():
        assert p.dtype == np.float32 and result.inner_lr[k].dtype == np.float32
        assert result.inner_lr[k].shape == p.shape
        assert not np.all(result.inner_lr[k] == 0.01)  # the rates were trained


def test_save_run_and_load_run_round_trip(tmp_path):
    result = meta_train(TrainConfig(algo="metasgd", iterations=2, meta_batch=2, hidden=(4, 4)))
    metrics = save_run(tmp_path / "run", result)
    params, rates, config = load_run(tmp_path / "run")
    assert config == result.config.as_dict() == metrics["config"]
    for k in result.params:
        np.testing.assert_array_equal(params[k], result.params[k])
        np.testing.assert_array_equal(rates[k], result.inner_lr[k])
    assert load_run(tmp_path / "run" / "params.npz")[0].keys() == params.keys()
    with pytest.raises(CheckpointError, match="no such run"):
        load_run(tmp_path / "elsewhere")


def test_subsample_curve_takes_window_means():
    losses = np.arange(1234, dtype=float)
    curve = subsample_curve(losses, points=500)
    assert len(curve["iteration"]) <= 500 and curve["iteration"][-1] == 1234
    window = curve["iteration"][0]
    assert curve["loss"][0] == pytest.approx(np.mean(losses[:window]))
    assert subsample_curve(losses[:3]) == {"iteration": [1, 2, 3], "loss": [0.0, 1.0, 2.0]}
