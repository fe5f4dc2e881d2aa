"""The Jacobian report (tinymeta.meta.report): each factor of MAML's chain rule, checked.

The report computes the factors with the engine (``tm.jacobian``, ``tm.hessian``,
``tm.grad``); these tests check them against the identities of the derivation and,
for J₁, against central finite differences of one inner step run in plain numpy
arithmetic on first-order gradients (so an engine bug cannot hide in both).
"""

from __future__ import annotations

import json
from functools import cache

import numpy as np
import pytest

import tinymeta as tm
from tinymeta.meta.algorithms import task_loss
from tinymeta.meta.report import FlatModel, jacobian_report, reptile_view, small_problem


@cache
def _report(k: int):
    return jacobian_report(inner_steps=k, with_reptile=False)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_report_identities(k):
    r = _report(k)
    n = len(r.names)
    assert n == 10  # 1→3→1: w0 (1, 3), b0 (3,), w1 (3, 1), b1 (1,)
    np.testing.assert_array_equal(r.d_theta0_d_theta, np.eye(n))  # θ₀ is θ
    assert len(r.jacobians) == len(r.hessians) == k and len(r.thetas) == k + 1
    assert r.max_jacobian_error <= 1e-10  # Jᵢ = I − α∇²L(θᵢ₋₁)
    for h in r.hessians:
        np.testing.assert_allclose(h, h.T, atol=1e-12)
    assert r.product_error <= 1e-10  # J_k ··· J₁ = ∂θ_k/∂θ
    assert r.chain_rule_error <= 1e-10  # MAML = productᵀ∇L_q(θ_k), FOMAML = ∇L_q(θ_k)
    np.testing.assert_allclose(r.dropped, r.maml_gradient - r.fomaml_gradient)
    expect = (r.product.T - np.eye(n)) @ r.query_gradient
    np.testing.assert_allclose(r.dropped, expect, atol=1e-12)
    assert r.dropped_norm_ratio == pytest.approx(
        np.linalg.norm(r.dropped) / np.linalg.norm(r.maml_gradient))
    assert 0.5 < r.cosine <= 1.0 and r.dropped_norm_ratio > 1e-3  # small but not nothing


def test_one_step_drops_exactly_alpha_hessian_times_query_gradient():
    r = _report(1)
    np.testing.assert_allclose(r.dropped, -r.inner_lr * r.hessians[0] @ r.query_gradient,
                               atol=1e-12)


def test_first_jacobian_against_finite_differences():
    """J₁ by central differences of θ ↦ θ − α∇L(θ), with first-order gradients only."""
    r = _report(1)
    params, batch = small_problem((1, 3, 1), 0, 10, 1.0)
    model = FlatModel.like(params)
    x, y = batch["x_support"][0], batch["y_support"][0]

    def step(v):
        g = tm.grad(task_loss)(model.unflatten(tm.tensor(v)), x, y, "tanh")
        return v - r.inner_lr * np.concatenate([np.asarray(g[k]).ravel() for k in model.shapes])

    theta, eps = r.thetas[0], 1e-5
    fd = np.stack([(step(theta + eps * e) - step(theta - eps * e)) / (2 * eps)
                   for e in np.eye(len(theta))], axis=1)
    np.testing.assert_allclose(r.jacobians[0], fd, atol=1e-8)


def test_json_has_the_documented_keys():
    r = jacobian_report(inner_steps=2, with_reptile=True)
    data = json.loads(r.to_json())
    for key in ("max_jacobian_error", "dropped_norm_ratio", "cosine", "inner_steps",
                "maml_gradient", "fomaml_gradient", "dropped", "jacobians", "reptile_view"):
        assert key in data
    assert data["max_jacobian_error"] <= 1e-10
    assert data["dropped_norm_ratio"] == pytest.approx(r.dropped_norm_ratio)
    assert len(data["jacobians"]) == 2 and np.shape(data["jacobians"][0]) == (10, 10)


def test_text_report_shows_every_factor():
    text = _report(2).text()
    for piece in ("∂θ₀/∂θ", "J₁ = ∂θ₁/∂θ₀", "J₂ = ∂θ₂/∂θ₁", "I − αH₂", "J₂ J₁",
                  "‖dropped‖ / ‖MAML‖", "cosine(MAML, FOMAML)", "w0[0,0]"):
        assert piece in text


def test_fomaml_keeps_half_of_avg_grad_inner():
    """Nichol et al. 2018: MAML ≈ AvgGrad − 2α·AvgGradInner, FOMAML ≈ AvgGrad − α·AvgGradInner."""
    v = reptile_view(alphas=(1e-2, 1e-3, 1e-4))
    assert v.maml_coefficient[-1] == pytest.approx(-2.0, abs=2e-3)
    assert v.fomaml_coefficient[-1] == pytest.approx(-1.0, abs=2e-3)
    assert v.fomaml_share[-1] == pytest.approx(0.5, abs=2e-3)
    # the error is O(α): ten times smaller α, about ten times smaller residual
    for big, small in zip(v.maml_residual, v.maml_residual[1:], strict=False):
        assert small < big / 5
    assert abs(v.fomaml_share[0] - 0.5) > abs(v.fomaml_share[-1] - 0.5)


def test_report_rejects_zero_steps():
    with pytest.raises(ValueError, match="inner_steps must be >= 1"):
        jacobian_report(inner_steps=0)


def test_report_moved_to_meta_but_old_imports_still_work():
    import tinymeta.meta.report as moved
    import tinymeta.viz as viz
    import tinymeta.viz.report as old

    for name in ("jacobian_report", "JacobianReport", "reptile_view", "ReptileView"):
        assert getattr(viz, name) is getattr(moved, name) is getattr(old, name)
