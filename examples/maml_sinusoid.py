"""MAML on sinusoid regression, written out as user code (Finn et al., 2017, Algorithm 2).

    python examples/maml_sinusoid.py            # 300 meta-iterations, about 15 s
    python examples/maml_sinusoid.py 5000       # longer: the loss keeps falling

Everything MAML needs is here: the inner step is ``tm.grad`` of the support
loss, the meta-objective is the query loss at the adapted parameters, and the
meta-gradient is ``tm.grad`` of that, straight through the inner step (its
Hessian term included). First-order MAML would wrap the inner gradient in
``tm.stop_gradient``. The library's version of this loop, batched over tasks, is
``tinymeta.meta.meta_gradient``; ``tinymeta train`` runs it with a progress bar.
"""

import sys

import numpy as np

import tinymeta as tm
from tinymeta.meta import Sinusoid, evaluate
from tinymeta.nn import Adam, mlp_apply, mlp_init

alpha, shots, meta_batch = 0.01, 10, 25  # the paper's α, K and tasks per meta-batch
iterations = int(sys.argv[1]) if len(sys.argv) > 1 else 300


def loss(params, x, y):  # L_T(f_θ): mean squared error on one task's points
    return tm.mean(tm.square(mlp_apply(params, x) - y))


def inner_step(params, x, y):  # θ'_i = θ − α ∇_θ L_Ti(f_θ)   (Algorithm 2, line 7)
    g = tm.grad(loss)(params, x, y)
    return {k: params[k] - alpha * g[k] for k in params}


def meta_objective(params, tasks):  # mean over tasks of L_Ti(f_θ'_i) on the query points
    total = 0.0
    for xs, ys, xq, yq in zip(tasks["x_support"], tasks["y_support"], tasks["x_query"],
                              tasks["y_query"], strict=True):
        total = total + loss(inner_step(params, xs, ys), xq, yq)
    return total / len(tasks["x_support"])


task_distribution, rng = Sinusoid(), np.random.default_rng(0)
params = mlp_init([1, 40, 40, 1], seed=0)  # line 1: randomly initialise θ
adam = Adam(lr=1e-3)  # β, the meta step size
recent = []
for it in range(1, iterations + 1):  # line 2: while not done
    tasks = task_distribution.sample(meta_batch, shots, rng=rng)  # line 3: T_i ~ p(T)
    value, meta_grad = tm.value_and_grad(meta_objective)(params, tasks)  # lines 4-8
    params = adam.step(params, meta_grad)  # line 10: θ ← θ − β ∇_θ Σ L_Ti(f_θ'_i)
    recent = [*recent[-49:], value.item()]
    if it % 50 == 0 or it == iterations:
        print(f"iteration {it:5d}   query loss after one inner step (last 50) "
              f"{np.mean(recent):.3f}")

print(evaluate(params, alpha, shots=5, steps=(1, 10), tasks=200, seed=1).table(
    f"\nafter {iterations} iterations: 5-shot MSE on 200 new sinusoids"))
