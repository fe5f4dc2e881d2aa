"""What a graph keeps alive: first-order MAML's memory is flat in the number of inner
steps; MAML's grows, by no more than the values its VJP rules read.

Measured with tracemalloc (allocations, not time) and weak references, so the tests are
deterministic.
"""

import gc
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
    # each step leaves one small node per parameter (θᵢ = θᵢ₋₁ − c keeps no values: its
    # rules read only shapes): about 5 kB a step, against MAML's 0.6 MB
    fomaml, maml = _bytes_per_step(True), _bytes_per_step(False)
    assert fomaml < 0.02 * maml, f"FOMAML {fomaml:.0f} B per step, MAML {maml:.0f} B"


def test_maml_peak_memory_grows_with_inner_steps():
    small, large = _peak_bytes(False, 4), _peak_bytes(False, 16)
    assert large > 2 * small  # every inner step's second-order graph is kept


def _bytes_per_step(first_order: bool) -> float:
    """Peak memory growth per inner step, the benchmark problem (25 tasks, float64)."""
    params = mlp_init([1, 40, 40, 1], seed=0)
    batch = Sinusoid().sample(25, 10, rng=1)
    peaks = []
    for steps in (2, 6):
        gc.collect()
        tracemalloc.start()
        try:
            tm.value_and_grad(maml_objective)(params, batch, 0.01, steps, first_order, True)
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
    return (peaks[1] - peaks[0]) / 4


def test_maml_keeps_only_what_its_rules_read_per_inner_step():
    # Per step the outer backward pass needs θ_i (w1 alone is 25·40·40 floats: 320 kB),
    # the two hidden layers' relu outputs (2 × 80 kB; relu's rule reads its output, so
    # the pre-activations go), one (25, 10, 40) cotangent and two bool masks: about
    # 0.6 MB. Keeping every node's value (no saved values) cost 1.87 MB per step
    # (the inner gradient and α·g of w1 alone are another 640 kB); PyTorch needs
    # 0.75-0.98 MB on the same problem (RSS, docs/benchmarks.md).
    per_step = _bytes_per_step(False)
    assert 0.45e6 < per_step < 0.7e6, f"{per_step / 1e6:.2f} MB per inner step"


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


def test_a_compiled_meta_gradient_needs_no_more_memory_than_eager():
    # the program deletes every array after its last use: its peak is at most eager's
    params = mlp_init([1, 40, 40, 1], seed=0)
    batch, other = Sinusoid().sample(25, 10, rng=1), Sinusoid().sample(25, 10, rng=2)
    value_and_grad = tm.value_and_grad(maml_objective)
    jitted = tm.jit(value_and_grad, static_argnums=(2, 3, 4, 5))
    jitted(params, batch, 0.01, 4, False, True)  # record the program first

    def peak(f):
        gc.collect()
        tracemalloc.start()
        try:
            f(params, other, 0.01, 4, False, True)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    assert peak(jitted) <= peak(value_and_grad)
