"""The no-framework floor: MAML's meta-gradient written out by hand in numpy.

This is what an engine's meta-gradient costs with no engine at all: an
explicit forward pass, the backward pass written out, and the second-order
part from hand-derived Hessian-vector products. Every benchmark in
``benchmarks/run.py`` is reported as a ratio to it.

The model is an MLP with ReLU hidden layers (the MAML sinusoid regressor is
1→40→40→1), run on all T tasks of a meta-batch at once: every parameter has a
leading task axis (``w0`` of shape (T, 1, 40)) and every product is a batched
``np.matmul``. The losses are exactly those of
``tinymeta.meta.algorithms.maml_objective(batched=True)``:

- inner (support) loss: the *sum* over tasks of each task's mean squared
  error, so its gradient with respect to the task-batched θ is each task's own
  gradient;
- query (meta) loss: the *mean* over tasks of each task's query MSE at θ_k.

**The chain rule through the inner loop.** With θ_0 = θ (copied to every task)
and θ_i = θ_{i-1} − α g(θ_{i-1}), where g is the support gradient, the
meta-gradient is ∇L_query(θ_k) carried back through every step. Write v_i for
the adjoint of θ_i (the gradient of the meta-loss with respect to θ_i). Then

    v_k     = ∇L_query(θ_k)
    v_{i-1} = v_i − α H(θ_{i-1}) v_i        (∂θ_i/∂θ_{i-1} = I − α H, H symmetric)

and the meta-gradient is v_0 summed over the task axis (θ_0 is θ broadcast).
FOMAML keeps only the identity: v_0 = v_k, and needs no Hessian at all.

**The Hessian-vector product** H(θ)v is the directional derivative of the
gradient g(θ) in direction v: forward-mode differentiation (Pearlmutter's
R-operator, R{·} = d/dε ·(θ + εv) at ε = 0) applied to every line of the
backward pass. ReLU's derivative is a 0/1 mask whose own derivative is zero
almost everywhere, so the masks are constants under R{·}; products give two
terms (R{a b} = R{a} b + a R{b}). ``_gradient_hvp`` keeps the two passes side by
side, line by line.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["maml_meta_gradient", "reptile_direction", "task_gradient"]

Params = dict[str, np.ndarray]


def _unpack(params: Params) -> list[tuple[np.ndarray, np.ndarray]]:
    layers = []
    while f"w{len(layers)}" in params:
        i = len(layers)
        layers.append((params[f"w{i}"], params[f"b{i}"]))
    return layers


def _pack(layers: list[tuple[np.ndarray, np.ndarray]]) -> Params:
    out: Params = {}
    for i, (w, b) in enumerate(layers):
        out[f"w{i}"], out[f"b{i}"] = w, b
    return out


def _forward(layers, x):
    """Outputs and the tape the backward pass needs: each layer's input and ReLU mask."""
    inputs, masks = [], []
    h = x
    for i, (w, b) in enumerate(layers):
        inputs.append(h)
        z = np.matmul(h, w) + b[:, None, :]
        if i < len(layers) - 1:
            mask = z > 0
            masks.append(mask)
            h = z * mask
        else:
            h = z
    return h, inputs, masks


def _backward(layers, inputs, masks, d_out):
    """Gradients of every (w, b) given d loss / d output; also returns each layer's d z."""
    grads, d_zs = [None] * len(layers), [None] * len(layers)
    d_z = d_out
    for i in reversed(range(len(layers))):
        d_zs[i] = d_z
        grads[i] = (np.matmul(inputs[i].transpose(0, 2, 1), d_z), d_z.sum(axis=1))
        if i > 0:
            d_z = np.matmul(d_z, layers[i][0].transpose(0, 2, 1)) * masks[i - 1]
    return grads, d_zs


def _mse_grad_scale(y: np.ndarray, tasks_mean: bool) -> float:
    """d(mean over points)/d r = 2 r / (N·out); the query loss also averages over tasks."""
    scale = 2.0 / (y.shape[1] * y.shape[2])
    return scale / y.shape[0] if tasks_mean else scale


def task_gradient(layers, x, y, tasks_mean: bool = False):
    """Loss, per-task gradients and the tape, for task-batched ``layers``."""
    out, inputs, masks = _forward(layers, x)
    r = out - y
    loss = np.mean(r * r, axis=(1, 2)).sum()
    if tasks_mean:
        loss = loss / x.shape[0]
    d_out = r * _mse_grad_scale(y, tasks_mean)
    grads, d_zs = _backward(layers, inputs, masks, d_out)
    return loss, grads, (inputs, masks, d_zs)


def _gradient_hvp(layers, x, y, tape, vs):
    """H(θ) v for the summed support loss: the R-operator applied to forward and backward.

    ``tape`` is what ``task_gradient`` recorded at θ; ``vs`` is the direction v,
    a list of (V_w, V_b) per layer. Each R-line is the derivative of the line of
    the forward or backward pass it is named after.
    """
    inputs, masks, d_zs = tape
    n = len(layers)
    # R-forward: R{z_i} = R{h_{i-1}} W_i + h_{i-1} V_i + V_b ;  R{h_i} = R{z_i} * mask_i
    r_inputs = [np.zeros_like(x)]  # R{x} = 0: the data does not move with θ
    r_z = None
    for i, ((w, _), (vw, vb)) in enumerate(zip(layers, vs, strict=True)):
        r_z = np.matmul(inputs[i], vw) + vb[:, None, :]
        if i > 0:
            r_z += np.matmul(r_inputs[i], w)
        if i < n - 1:
            r_inputs.append(r_z * masks[i])
    # R{d_out} = c · R{out}   (d_out = c · (out − y))
    r_dz = r_z * _mse_grad_scale(y, tasks_mean=False)
    hv = [None] * n
    for i in reversed(range(n)):
        # gW_i = h_{i-1}ᵀ d_z_i  →  R{gW_i} = R{h_{i-1}}ᵀ d_z_i + h_{i-1}ᵀ R{d_z_i}
        r_gw = np.matmul(inputs[i].transpose(0, 2, 1), r_dz)
        if i > 0:
            r_gw += np.matmul(r_inputs[i].transpose(0, 2, 1), d_zs[i])
        hv[i] = (r_gw, r_dz.sum(axis=1))  # gb_i = Σ_n d_z_i  →  R{gb_i} = Σ_n R{d_z_i}
        if i > 0:
            # d_z_{i-1} = (d_z_i W_iᵀ) * mask  →  R = (R{d_z_i} W_iᵀ + d_z_i V_iᵀ) * mask
            w, vw = layers[i][0], vs[i][0]
            r_dz = (np.matmul(r_dz, w.transpose(0, 2, 1))
                    + np.matmul(d_zs[i], vw.transpose(0, 2, 1))) * masks[i - 1]
    return hv


def maml_meta_gradient(
    params: Params, batch: dict[str, np.ndarray], inner_lr: float = 0.01, steps: int = 1,
    first_order: bool = False,
) -> tuple[float, Params]:
    """(meta-loss, meta-gradient) of MAML (or FOMAML) over a task batch, by hand.

    Same value and gradient as
    ``tm.value_and_grad(maml_objective)(params, batch, inner_lr, steps, first_order, True)``.
    """
    xs, ys, xq, yq = (batch[k] for k in ("x_support", "y_support", "x_query", "y_query"))
    num_tasks = xs.shape[0]
    theta = [(np.broadcast_to(w, (num_tasks, *w.shape)), np.broadcast_to(b, (num_tasks, *b.shape)))
             for w, b in _unpack(params)]
    # inner loop: MAML keeps each step's θ and tape to reverse through them; FOMAML keeps nothing
    trajectory = []
    for _ in range(steps):
        _, grads, tape = task_gradient(theta, xs, ys)
        if not first_order:
            trajectory.append((theta, tape))
        theta = [(w - inner_lr * gw, b - inner_lr * gb)
                 for (w, b), (gw, gb) in zip(theta, grads, strict=True)]
    loss, adjoint, _ = task_gradient(theta, xq, yq, tasks_mean=True)
    if not first_order:
        for theta_prev, tape in reversed(trajectory):
            hv = _gradient_hvp(theta_prev, xs, ys, tape, adjoint)
            adjoint = [(vw - inner_lr * hw, vb - inner_lr * hb)
                       for (vw, vb), (hw, hb) in zip(adjoint, hv, strict=True)]
    return float(loss), _pack([(vw.sum(axis=0), vb.sum(axis=0)) for vw, vb in adjoint])


def reptile_direction(
    params: Params, batch: dict[str, np.ndarray], inner_lr: float = 0.01, steps: int = 5,
) -> tuple[float, Params]:
    """(query loss at θ_k, Reptile direction θ − mean_tasks(θ_k)), by hand.

    Same values as ``tinymeta.meta.algorithms.meta_gradient("reptile", ...)``
    with ``batched=True``: k plain SGD steps per task, nothing to reverse.
    """
    xs, ys, xq, yq = (batch[k] for k in ("x_support", "y_support", "x_query", "y_query"))
    num_tasks = xs.shape[0]
    theta = [(np.broadcast_to(w, (num_tasks, *w.shape)), np.broadcast_to(b, (num_tasks, *b.shape)))
             for w, b in _unpack(params)]
    for _ in range(steps):
        _, grads, _ = task_gradient(theta, xs, ys)
        theta = [(w - inner_lr * gw, b - inner_lr * gb)
                 for (w, b), (gw, gb) in zip(theta, grads, strict=True)]
    out, _, _ = _forward(theta, xq)
    r = out - yq
    loss = float(np.mean(r * r, axis=(1, 2)).sum() / num_tasks)
    return loss, _pack([(w0 - w.mean(axis=0), b0 - b.mean(axis=0))
                        for (w0, b0), (w, b) in zip(_unpack(params), theta, strict=True)])


def _check(steps: Any = (1, 2, 5)) -> float:
    """Largest difference from tinymeta's meta-gradient over k and MAML/FOMAML (float64)."""
    import tinymeta as tm
    from tinymeta.meta.algorithms import maml_objective
    from tinymeta.meta.tasks import Sinusoid
    from tinymeta.nn import mlp_init

    params = mlp_init([1, 40, 40, 1], seed=0, std=0.5)
    batch = Sinusoid().sample(5, 10, rng=1)
    worst = 0.0
    for k in steps:
        for first_order in (False, True):
            loss, ours = maml_meta_gradient(params, batch, 0.01, k, first_order)
            value, ref = tm.value_and_grad(maml_objective)(params, batch, 0.01, k, first_order,
                                                           True)
            worst = max(worst, abs(loss - float(value)),
                        *(float(np.max(np.abs(ours[n] - np.asarray(ref[n])))) for n in ours))
    return worst


if __name__ == "__main__":
    print(f"max |numpy floor − tinymeta| over k = 1, 2, 5, MAML and FOMAML: {_check():.1e}")
