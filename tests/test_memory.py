"""First-order MAML's memory is flat in the number of inner steps; MAML's grows.

Measured with tracemalloc (allocations, not time), so the test is deterministic.
"""

import tracemalloc

import numpy as np
import pytest

import tinymeta as tm
from tinymeta.meta import Sinusoid, maml_objective
from tinymeta.nn import mlp_init


def _peak_bytes(first_order: bool, steps: int) -> int:
    params = mlp_init([1, 40, 40, 1], seed=0)
    batch = Sinusoid().sample(5, 10, rng=1)
    tracemalloc.start()
    try:
        tm.value_and_grad(maml_objective)(params, batch, 0.01, steps, first_order, True)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_fomaml_peak_memory_is_flat_in_inner_steps():
    small, large = _peak_bytes(True, 4), _peak_bytes(True, 16)
    assert large < 1.1 * small, f"FOMAML peak grew from {small} to {large} bytes (k 4 -> 16)"


def test_maml_peak_memory_grows_with_inner_steps():
    small, large = _peak_bytes(False, 4), _peak_bytes(False, 16)
    assert large > 2 * small  # every inner step's second-order graph is kept


@pytest.mark.parametrize("op", ["add", "subtract"])
def test_offset_chains_keep_the_right_gradient(op):
    # x ± c₁ ± c₂ … records (x, shape of c): the gradient is still exact at any order
    sign = 1.0 if op == "add" else -1.0

    def f(x):
        y = x
        for c in (np.full(3, 0.5), 2.0, np.arange(3.0)):
            y = getattr(tm, op)(y, c)
        return tm.sum(tm.sin(y) * x)

    x = np.array([0.1, 0.2, 0.3])
    shift = sign * (0.5 + 2.0 + np.arange(3.0))
    np.testing.assert_allclose(tm.grad(f)(x).data,
                               np.sin(x + shift) + x * np.cos(x + shift), rtol=1e-12)
    from tinymeta.testing import check_grads
    check_grads(f, (x,), order=3)
