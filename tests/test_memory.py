"""What a graph keeps alive: first-order MAML's memory is flat in the number of inner
steps; MAML's grows, by no more than the values its VJP rules read.

Measured with tracemalloc (allocations, not time) and weak references, so the tests are
deterministic.
"""

import gc
import tracemalloc
import weakref

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


def _maml_bytes_per_step() -> float:
    """MAML's peak memory growth per inner step, the benchmark problem (25 tasks, float64)."""
    params = mlp_init([1, 40, 40, 1], seed=0)
    batch = Sinusoid().sample(25, 10, rng=1)
    peaks = []
    for steps in (2, 6):
        tracemalloc.start()
        try:
            tm.value_and_grad(maml_objective)(params, batch, 0.01, steps, False, True)
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
    return (peaks[1] - peaks[0]) / 4


def test_maml_keeps_only_what_its_rules_read_per_inner_step():
    # Per step the outer backward pass needs θ_i (w1 alone is 25·40·40 floats: 320 kB),
    # the two hidden layers' relu outputs (2 × 80 kB; relu's rule reads its output, so
    # the pre-activations go), one (25, 10, 40) cotangent and two bool masks: about
    # 0.6 MB. Keeping every node's value, as before saved values, cost 1.87 MB per step
    # (the inner gradient and α·g of w1 alone are another 640 kB); PyTorch needs
    # 0.75-0.98 MB on the same problem (RSS, docs/benchmarks.md).
    per_step = _maml_bytes_per_step()
    assert 0.45e6 < per_step < 0.7e6, f"{per_step / 1e6:.2f} MB per inner step"


def _alive(array: np.ndarray) -> weakref.ref:
    return weakref.ref(array)


def test_a_value_no_rule_reads_is_freed_when_the_caller_drops_it(split_every_value):
    x = tm.tensor(np.linspace(0.1, 1.0, 1000), requires_grad=True)
    a = x * 3.0  # multiply's rule for x reads the 3.0, not a
    b = a + 1.0  # add's rules read shapes only
    value_of_a = _alive(a._data)
    del a
    gc.collect()
    assert value_of_a() is None, "the graph kept a value that no VJP rule reads"
    # ... and b's graph still differentiates, to second order
    g = tm.grad(lambda v: tm.sum(tm.sin(v * 3.0 + 1.0)))(x)
    np.testing.assert_allclose(g.data, 3 * np.cos(3 * x.data + 1), rtol=1e-12)
    grads = tm.grad(lambda v: tm.sum(b * 0 + tm.sin(v * 3.0 + 1.0)))(x)
    np.testing.assert_allclose(grads.data, 3 * np.cos(3 * x.data + 1), rtol=1e-12)


def test_a_value_a_rule_reads_is_kept_after_the_caller_drops_it(split_every_value):
    x = tm.tensor(np.linspace(0.1, 1.0, 1000), requires_grad=True)
    e = tm.exp(x)  # exp's rule reads its own output
    h = x * 2.0
    s = tm.sin(h)  # sin's rule reads its input h
    out = tm.sum(e + s)
    kept_e, kept_h = _alive(e._data), _alive(h._data)
    del e, h, s
    gc.collect()
    assert kept_e() is not None and kept_h() is not None
    out.backward()
    np.testing.assert_allclose(x.grad.data, np.exp(x.data) + 2 * np.cos(2 * x.data),
                               rtol=1e-12)


def test_small_values_stay_in_their_node():
    # under 4 kB a handle would cost more than it could free: the node is the tensor
    x = tm.tensor(np.ones(3), requires_grad=True)
    a = x * 3.0
    assert a._node is None and (a + 1.0).inputs[0] is a
    big = tm.tensor(np.ones(1000), requires_grad=True) * 3.0  # 8 kB
    assert big._node is not None and (big + 1.0).inputs[0] is big._node


def test_keep_graph_keeps_every_value(split_every_value):
    x = tm.tensor(np.ones(100), requires_grad=True)
    with tm.keep_graph():
        a = x * 3.0
        b = a + 1.0
    value_of_a = _alive(a._data)
    del a
    gc.collect()
    assert value_of_a() is not None  # a renderer may show any node's value
    assert b.inputs[0].data.shape == (100,)


def test_reading_a_value_that_was_not_kept_says_why(split_every_value):
    x = tm.tensor(np.ones(3), requires_grad=True)
    b = (x * 3.0) + 1.0
    node = b.inputs[0]  # the graph's node for x * 3.0, whose value nobody reads
    assert node.shape == (3,) and "value not kept" in repr(node)
    with pytest.raises(ValueError, match="was not kept: no VJP rule reads it.*keep_graph"):
        _ = node.data


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
