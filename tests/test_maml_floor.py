"""The hand-written numpy MAML floor (benchmarks/maml_floor.py) equals tinymeta's meta-gradient.

The benchmarks report every implementation as a ratio to this floor, so it
must compute the same thing: the same loss and the same meta-gradient, MAML
(through the hand-derived Hessian-vector products) and FOMAML, for several
numbers of inner steps. Weights are drawn with std 0.5 (not the paper's 0.01)
so that the second-order terms are large and a wrong HVP cannot hide.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import tinymeta as tm
from tinymeta.meta.algorithms import maml_objective, meta_gradient
from tinymeta.meta.tasks import Sinusoid
from tinymeta.nn import mlp_init

_PATH = Path(__file__).resolve().parent.parent / "benchmarks" / "maml_floor.py"
_spec = importlib.util.spec_from_file_location("maml_floor", _PATH)
maml_floor = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(maml_floor)


@pytest.fixture(scope="module")
def problem():
    return mlp_init([1, 40, 40, 1], seed=0, std=0.5), Sinusoid().sample(5, 10, rng=1)


@pytest.mark.parametrize("first_order", [False, True], ids=["maml", "fomaml"])
@pytest.mark.parametrize("steps", [1, 2, 5])
def test_floor_equals_tinymeta_float64(problem, steps, first_order):
    params, batch = problem
    loss, grads = maml_floor.maml_meta_gradient(params, batch, 0.01, steps, first_order)
    value, ref = tm.value_and_grad(maml_objective)(params, batch, 0.01, steps, first_order, True)
    assert abs(loss - float(value)) <= 1e-10
    assert set(grads) == set(ref)
    for name in grads:
        assert grads[name].shape == np.shape(ref[name])
        np.testing.assert_allclose(grads[name], np.asarray(ref[name]), rtol=0, atol=1e-10)


@pytest.mark.parametrize("steps", [1, 5])
def test_reptile_floor_equals_tinymeta_float64(problem, steps):
    params, batch = problem
    loss, direction = maml_floor.reptile_direction(params, batch, 0.01, steps)
    value, ref = meta_gradient("reptile", params, batch, 0.01, steps, batched=True)
    assert abs(loss - value) <= 1e-10
    assert set(direction) == set(ref)
    for name in direction:
        assert direction[name].shape == ref[name].shape
        np.testing.assert_allclose(direction[name], ref[name], rtol=0, atol=1e-10)
    # not trivially zero: the inner steps moved the weights
    assert max(float(np.max(np.abs(d))) for d in direction.values()) > 1e-3


def test_second_order_term_is_not_negligible(problem):
    """Guards the test above: MAML and FOMAML must differ by much more than 1e-10."""
    params, batch = problem
    _, maml = maml_floor.maml_meta_gradient(params, batch, 0.01, 2, False)
    _, fomaml = maml_floor.maml_meta_gradient(params, batch, 0.01, 2, True)
    assert max(float(np.max(np.abs(maml[n] - fomaml[n]))) for n in maml) > 1e-2


def test_floor_keeps_float32(problem):
    params, _ = problem
    params32 = {k: v.astype(np.float32) for k, v in params.items()}
    batch32 = Sinusoid().sample(5, 10, rng=1, dtype=np.float32)
    loss, grads = maml_floor.maml_meta_gradient(params32, batch32, 0.01, 2, False)
    _, ref = tm.value_and_grad(maml_objective)(params32, batch32, 0.01, 2, False, True)
    for name in grads:
        assert grads[name].dtype == np.float32
        np.testing.assert_allclose(grads[name], np.asarray(ref[name]), rtol=1e-3, atol=1e-4)
