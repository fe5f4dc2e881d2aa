"""The same computations in PyTorch, JAX and HIPS autograd, for side-by-side timing.

Each peer implements what tinymeta computes, the way a user of that framework
would write it:

- **MAML / FOMAML meta-gradient** of the sinusoid MLP over a meta-batch, with
  the losses of ``tinymeta.meta.algorithms.maml_objective``: per-task MSE,
  inner loss summed over tasks (each task gets its own gradient), query loss
  averaged over tasks.
  * PyTorch eager: θ expanded to a leading task axis, ``torch.bmm``, inner
    gradients from ``torch.autograd.grad(..., create_graph=True)``; FOMAML
    leaves ``create_graph`` off, so the inner gradient is a constant.
  * JAX: one task's inner loop with ``jax.grad`` (``lax.stop_gradient`` for
    FOMAML), ``jax.vmap`` over tasks, ``jax.jit`` of the whole
    ``value_and_grad``. The first call (trace + compile) is timed apart.
  * HIPS autograd: the batched form with ``np.matmul``; FOMAML strips the
    inner gradient of its box (``autograd.tracer.getval``).
- **first-order MLP gradient** (``benchmarks/mlp_grad.py``'s problem: one
  task, 10 points, no task axis).
- **per-op overhead**: a chain of small elementwise ops, forward + backward.

Every ``build_*`` function returns ``(run, to_numpy)``: ``run()`` does the
timed work and returns the framework's own outputs (JAX's already blocked
until ready), and ``to_numpy`` turns them into ``(loss, {name: array})`` for
checking against tinymeta. ``load(names)`` imports the peers asked for; one whose
package is not installed is listed in ``SKIPPED`` with the reason and left
out of ``PEERS`` and the builder tables.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib import metadata
from typing import Any

import numpy as np

Params = dict[str, np.ndarray]
Build = tuple[Callable[[], Any], Callable[[Any], tuple[float, Params]]]

NAMES = ("torch", "jax", "autograd")
PEERS: list[str] = []  # loaded by ``load``, in NAMES order
SKIPPED: dict[str, str] = {}  # peer -> why it is not there
VERSIONS: dict[str, str] = {}
MAML_BUILDERS: dict[str, Callable[..., Build]] = {}
MLP_GRAD_BUILDERS: dict[str, Callable[..., Build]] = {}
CHAIN_BUILDERS: dict[str, Callable[..., Build]] = {}

torch = jax = jnp = autograd = anp = getval = None  # imported by ``load`` (torch/jax are slow)


def load(names: tuple[str, ...] = NAMES, torch_threads: int = 1) -> list[str]:
    """Import the requested peers that are installed; the others go to ``SKIPPED``."""
    global torch, jax, jnp, autograd, anp, getval
    for name in names:
        if name not in NAMES:
            raise ValueError(f"unknown peer {name!r}; choose from {', '.join(NAMES)}")
        if name in PEERS or name in SKIPPED:
            continue
        try:
            mod = importlib.import_module(name)
        except Exception as exc:  # ImportError, or a broken install failing on import
            SKIPPED[name] = (f"not installed ({type(exc).__name__}: {exc}); "
                             "`pip install -e '.[bench]'` installs it")
            continue
        try:
            VERSIONS[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            VERSIONS[name] = getattr(mod, "__version__", "?")
        PEERS.append(name)
        if name == "torch":
            torch = mod
            # One intra-op thread: these tensors are far too small to gain from threads, and on
            # a busy 2-core machine torch's OpenMP workers stall waiting for a core (2 threads
            # measured 3-30x slower, erratically). ``run.py --torch-threads`` overrides it.
            torch.set_num_threads(torch_threads)
            MAML_BUILDERS[name] = build_torch_maml
            MLP_GRAD_BUILDERS[name] = build_torch_mlp_grad
            CHAIN_BUILDERS[name] = build_torch_chain
        elif name == "jax":
            jax = mod
            jax.config.update("jax_enable_x64", True)  # float64 runs; float32 inputs stay f32
            jnp = importlib.import_module("jax.numpy")
            MAML_BUILDERS[name] = build_jax_maml
            MLP_GRAD_BUILDERS[name] = build_jax_mlp_grad
        else:
            autograd = mod
            anp = importlib.import_module("autograd.numpy")
            getval = importlib.import_module("autograd.tracer").getval
            MAML_BUILDERS[name] = build_autograd_maml
            MLP_GRAD_BUILDERS[name] = build_autograd_mlp_grad
            CHAIN_BUILDERS[name] = build_autograd_chain
    PEERS.sort(key=NAMES.index)
    return list(PEERS)


_KEYS = ("x_support", "y_support", "x_query", "y_query")


def _layers(params: Params) -> int:
    n = 0
    while f"w{n}" in params:
        n += 1
    return n


# ---------------------------------------------------------------- PyTorch eager
def _torch_mlp(p, x, n):
    h = x
    for i in range(n):
        w, b = p[f"w{i}"], p[f"b{i}"]
        if w.dim() == 3:
            h = torch.bmm(h, w) + b.unsqueeze(1)
        else:
            h = h @ w + b
        if i < n - 1:
            h = torch.relu(h)
    return h


def _torch_out(out) -> tuple[float, Params]:
    loss, names, grads = out
    return float(loss), {k: g.numpy() for k, g in zip(names, grads, strict=True)}


def build_torch_maml(params: Params, batch: dict, inner_lr: float, steps: int,
                     first_order: bool) -> Build:
    n = _layers(params)
    names = list(params)
    leaves = [torch.from_numpy(np.array(params[k])).requires_grad_() for k in names]
    xs, ys, xq, yq = (torch.from_numpy(np.ascontiguousarray(batch[k])) for k in _KEYS)
    num_tasks = xs.shape[0]

    def task_losses(theta, x, y):  # (T,): each task's mean squared error
        return ((_torch_mlp(theta, x, n) - y) ** 2).mean(dim=(1, 2))

    def run():
        theta = {k: p.expand(num_tasks, *p.shape) for k, p in zip(names, leaves, strict=True)}
        for _ in range(steps):
            inner = task_losses(theta, xs, ys).sum()
            g = torch.autograd.grad(inner, list(theta.values()), create_graph=not first_order)
            theta = {k: t - inner_lr * gi for (k, t), gi in zip(theta.items(), g, strict=True)}
        loss = task_losses(theta, xq, yq).mean()
        grads = torch.autograd.grad(loss, leaves)
        return loss.detach(), names, grads

    return run, _torch_out


def build_torch_mlp_grad(params: Params, x: np.ndarray, y: np.ndarray) -> Build:
    n = _layers(params)
    names = list(params)
    leaves = [torch.from_numpy(np.array(params[k])).requires_grad_() for k in names]
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)

    def run():
        loss = ((_torch_mlp(dict(zip(names, leaves, strict=True)), tx, n) - ty) ** 2).mean()
        return loss.detach(), names, torch.autograd.grad(loss, leaves)

    return run, _torch_out


def build_torch_chain(x: np.ndarray, length: int) -> Build:
    tx = torch.from_numpy(np.array(x)).requires_grad_()

    ops = (torch.sin, lambda y: y * 1.1, lambda y: y + 0.1, torch.tanh)

    def run():
        y = tx
        for i in range(length):
            y = ops[i % 4](y)
        s = y.sum()
        return s.detach(), ["x"], torch.autograd.grad(s, [tx])

    return run, _torch_out


# ---------------------------------------------------------------- JAX: jit + vmap
def _jax_mlp(p, x, n):
    h = x
    for i in range(n):
        h = h @ p[f"w{i}"] + p[f"b{i}"]
        if i < n - 1:
            h = jax.nn.relu(h)
    return h


def _jax_out(out) -> tuple[float, Params]:
    loss, grads = out
    return float(loss), {k: np.asarray(g) for k, g in grads.items()}


def _jax_maml_step(n: int, inner_lr: float, steps: int, first_order: bool) -> Callable:
    def loss(p, x, y):
        return jnp.mean((_jax_mlp(p, x, n) - y) ** 2)

    def one_task(p, x_s, y_s, x_q, y_q):
        theta = p
        for _ in range(steps):
            g = jax.grad(loss)(theta, x_s, y_s)
            if first_order:
                g = jax.lax.stop_gradient(g)
            theta = jax.tree_util.tree_map(lambda t, gi: t - inner_lr * gi, theta, g)
        return loss(theta, x_q, y_q)

    def objective(p, x_s, y_s, x_q, y_q):
        return jnp.mean(jax.vmap(one_task, in_axes=(None, 0, 0, 0, 0))(p, x_s, y_s, x_q, y_q))

    return jax.jit(jax.value_and_grad(objective))


def build_jax_maml(params: Params, batch: dict, inner_lr: float, steps: int,
                   first_order: bool) -> Build:
    """A fresh ``jit`` each build, so the first ``run()`` pays tracing and compilation."""
    step = _jax_maml_step(_layers(params), inner_lr, steps, first_order)
    p = {k: jnp.asarray(v) for k, v in params.items()}
    data = [jnp.asarray(batch[k]) for k in _KEYS]

    def run():
        return jax.block_until_ready(step(p, *data))

    return run, _jax_out


def jax_maml_memory(params: Params, batch: dict, inner_lr: float, steps: int,
                    first_order: bool) -> int:
    """Bytes XLA plans for one compiled meta-gradient beyond its inputs: temporaries + outputs.

    XLA assigns every buffer at compile time, and the process's resident set
    barely moves when the compiled function runs, so the compiler's own
    accounting is the measure that means something.
    """
    step = _jax_maml_step(_layers(params), inner_lr, steps, first_order)
    args = ({k: jnp.asarray(v) for k, v in params.items()}, *(jnp.asarray(batch[k]) for k in _KEYS))
    stats = step.lower(*args).compile().memory_analysis()
    return int(stats.temp_size_in_bytes + stats.output_size_in_bytes)


def build_jax_mlp_grad(params: Params, x: np.ndarray, y: np.ndarray) -> Build:
    n = _layers(params)
    step = jax.jit(jax.value_and_grad(lambda p, x, y: jnp.mean((_jax_mlp(p, x, n) - y) ** 2)))
    p = {k: jnp.asarray(v) for k, v in params.items()}
    jx, jy = jnp.asarray(x), jnp.asarray(y)

    def run():
        return jax.block_until_ready(step(p, jx, jy))

    return run, _jax_out


# ---------------------------------------------------------------- HIPS autograd
def _autograd_mlp(p, x, n):
    h = x
    for i in range(n):
        w, b = p[f"w{i}"], p[f"b{i}"]
        if anp.ndim(w) == 3:
            b = anp.expand_dims(b, 1)
        h = anp.matmul(h, w) + b
        if i < n - 1:
            h = anp.maximum(h, 0.0)
    return h


def _autograd_out(out) -> tuple[float, Params]:
    loss, grads = out
    return float(loss), {k: np.asarray(g) for k, g in grads.items()}


def build_autograd_maml(params: Params, batch: dict, inner_lr: float, steps: int,
                        first_order: bool) -> Build:
    n = _layers(params)
    xs, ys, xq, yq = (batch[k] for k in _KEYS)
    num_tasks = xs.shape[0]

    def task_losses(theta, x, y):
        return anp.mean((_autograd_mlp(theta, x, n) - y) ** 2, axis=(1, 2))

    inner_grad = autograd.grad(lambda theta: anp.sum(task_losses(theta, xs, ys)))

    def objective(p):
        # autograd's broadcast_to VJP can't add leading axes; an add's unbroadcast can
        theta = {k: anp.zeros((num_tasks, *np.shape(v)), v.dtype) + v for k, v in p.items()}
        for _ in range(steps):
            g = inner_grad(theta)
            if first_order:
                g = {k: getval(v) for k, v in g.items()}
            theta = {k: theta[k] - inner_lr * g[k] for k in theta}
        return anp.mean(task_losses(theta, xq, yq))

    step = autograd.value_and_grad(objective)
    p = {k: np.array(v) for k, v in params.items()}
    return (lambda: step(p)), _autograd_out


def build_autograd_mlp_grad(params: Params, x: np.ndarray, y: np.ndarray) -> Build:
    n = _layers(params)
    step = autograd.value_and_grad(lambda p: anp.mean((_autograd_mlp(p, x, n) - y) ** 2))
    p = {k: np.array(v) for k, v in params.items()}
    return (lambda: step(p)), _autograd_out


def build_autograd_chain(x: np.ndarray, length: int) -> Build:
    ops = (anp.sin, lambda y: y * 1.1, lambda y: y + 0.1, anp.tanh)

    def f(x):
        y = x
        for i in range(length):
            y = ops[i % 4](y)
        return anp.sum(y)

    step = autograd.value_and_grad(f)
    x = np.array(x)
    return (lambda: step(x)), (lambda out: (float(out[0]), {"x": np.asarray(out[1])}))
