"""The meta-training loop: sample a meta-batch, take its meta-gradient, step Adam.

This is the outer loop of the MAML paper's Algorithm 2, shared by the
``tinymeta train`` command and the reproduction benchmark:

    for it in range(iterations):
        batch = tasks.sample(meta_batch, shots)            # T tasks, K support + K query
        loss, g = meta_gradient(algo, θ, batch, α, k)      # through the tape
        θ = adam.step(θ, g)

For Meta-SGD the meta-parameters are ``{"params": θ, "lr": α}`` with α a tree
of per-parameter rates initialised to the scalar ``inner_lr``; for the other
algorithms they are just θ.

Everything the loop carries from one iteration to the next lives in one
``TrainState``: the meta-parameters, Adam's moments and step count, the task
generator (its PCG64 state), the iteration and the losses so far. Save those
(``tinymeta.meta.checkpoint.save_checkpoint``), restore them in another
process, and the rest of the run is the same, bit for bit: that is how
``tinymeta train --resume`` continues an interrupted run. ``meta_train`` runs
a whole configuration; ``advance`` runs an existing state onwards, with a
``checkpoint`` callback after every iteration and a ``stop`` question that
lets a signal handler end the loop between two iterations, never inside one.

``estimate_memory`` says, before anything is allocated, roughly how much
memory a configuration needs, so that the command line can refuse a size
that cannot fit instead of failing deep inside numpy.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from tinymeta.meta.algorithms import ALGORITHMS, meta_gradient
from tinymeta.meta.tasks import Sinusoid
from tinymeta.nn import ACTIVATIONS, Adam, mlp_init
from tinymeta.tree import tree_map

__all__ = [
    "TrainConfig", "TrainResult", "TrainState", "meta_train", "advance", "init_meta_params",
    "estimate_memory",
]

DTYPES = ("float32", "float64")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run (the MAML paper's sinusoid setup by default)."""

    algo: str = "maml"
    shots: int = 10  # K support (and K query) points per task
    inner_steps: int = 1  # k
    inner_lr: float = 0.01  # α (Meta-SGD: the initial value of every learned rate)
    meta_batch: int = 25  # tasks per meta-gradient
    meta_lr: float = 1e-3  # Adam's step size
    iterations: int = 70_000
    seed: int = 0
    hidden: tuple[int, ...] = (40, 40)
    activation: str = "relu"
    dtype: str = "float64"
    batched: bool = True  # one batched computation per meta-batch (False: a loop over tasks)

    def __post_init__(self) -> None:  # a bad value is a ValueError that names the field
        if self.algo not in ALGORITHMS:
            raise ValueError(f"unknown algorithm {self.algo!r}; choose one of "
                             f"{', '.join(ALGORITHMS)}")
        for name in ("shots", "inner_steps", "meta_batch", "iterations"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) \
                or self.seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {self.seed!r}")
        for name in ("inner_lr", "meta_lr"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and np.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number, got {value!r}")
        if not self.hidden or any(int(h) < 1 for h in self.hidden):
            raise ValueError(f"hidden must list positive layer widths, got {self.hidden!r}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, "
                             f"got {self.activation!r}")
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))

    @property
    def sizes(self) -> list[int]:
        return [1, *self.hidden, 1]

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["hidden"] = list(self.hidden)
        return d


@dataclass
class TrainResult:
    """The trained parameters, the inner rate(s) to adapt them with, and the loss curve."""

    config: TrainConfig
    params: dict[str, np.ndarray]
    inner_lr: float | dict[str, np.ndarray]  # a tree of learned rates for Meta-SGD
    losses: np.ndarray = field(repr=False)  # the meta-loss of every iteration
    seconds: float = 0.0


def init_meta_params(config: TrainConfig) -> Any:
    """θ from ``mlp_init`` (seeded by ``config.seed``); for Meta-SGD also the rates α."""
    params = mlp_init(config.sizes, seed=config.seed, dtype=np.dtype(config.dtype))
    if config.algo == "metasgd":
        rates = tree_map(lambda p: np.full_like(p, config.inner_lr), params)
        return {"params": params, "lr": rates}
    return params


@dataclass
class TrainState:
    """Everything the training loop carries between iterations (see the module docstring)."""

    config: TrainConfig
    meta_params: Any
    optimizer: Adam
    rng: np.random.Generator  # draws the tasks
    losses: np.ndarray = field(repr=False)  # (iterations,): entries [0, iteration) are filled
    iteration: int = 0  # meta-updates done
    seconds: float = 0.0  # wall time spent training so far, over every process

    @classmethod
    def start(cls, config: TrainConfig) -> TrainState:
        """Iteration 0: θ from ``mlp_init`` seeded by ``config.seed``, tasks drawn from a
        generator seeded with ``config.seed + 1``, so that a run is reproducible."""
        return cls(config, init_meta_params(config), Adam(config.meta_lr),
                   np.random.default_rng(config.seed + 1), np.empty(config.iterations))

    @property
    def done(self) -> bool:
        return self.iteration >= self.config.iterations

    def result(self) -> TrainResult:
        if self.config.algo == "metasgd":
            params, inner_lr = self.meta_params["params"], self.meta_params["lr"]
        else:
            params, inner_lr = self.meta_params, self.config.inner_lr
        return TrainResult(self.config, params, inner_lr, self.losses[:self.iteration],
                           self.seconds)


def advance(
    state: TrainState, callback: Callable[[int, float], None] | None = None,
    checkpoint: Callable[[TrainState], None] | None = None,
    stop: Callable[[], bool] | None = None, jit: bool = True,
) -> bool:
    """Run ``state`` on to ``state.config.iterations``; return whether it got there.

    ``jit``: compute each meta-gradient with ``tm.jit`` (the same numbers, faster).

    After each iteration: ``callback(iteration, loss)``, then ``checkpoint(state)``,
    then, if ``stop()`` is true, return early (``state`` is then consistent and
    can be saved and resumed).
    """
    config = state.config
    tasks = Sinusoid()
    dtype = np.dtype(config.dtype)
    start, seconds = time.perf_counter(), state.seconds
    for it in range(state.iteration, config.iterations):
        batch = tasks.sample(config.meta_batch, config.shots, rng=state.rng, dtype=dtype)
        loss, g = meta_gradient(config.algo, state.meta_params, batch, config.inner_lr,
                                config.inner_steps, config.batched, config.activation, jit)
        state.meta_params = state.optimizer.step(state.meta_params, g)
        state.losses[it] = loss
        state.iteration = it + 1
        state.seconds = seconds + (time.perf_counter() - start)
        if callback is not None:
            callback(it, loss)
        if checkpoint is not None:
            checkpoint(state)
        if stop is not None and stop():
            break
    return state.done


def meta_train(
    config: TrainConfig, callback: Callable[[int, float], None] | None = None,
    state: TrainState | None = None,
) -> TrainResult:
    """Run ``config.iterations`` meta-updates; ``callback(iteration, loss)`` after each one.

    ``state`` continues a run (from ``tinymeta.meta.checkpoint``) instead of
    starting one; its configuration must be ``config``.
    """
    if state is None:
        state = TrainState.start(config)
    elif state.config != config:
        raise ValueError("meta_train: the state was made with another configuration")
    advance(state, callback)
    return state.result()


def estimate_memory(config: TrainConfig) -> dict[str, int]:
    """Rough bytes a run of ``config`` needs, by what needs them (keys name the options).

    Within a small factor: the tape keeps a few arrays per op, and the exact
    count depends on the algorithm. Good enough to refuse a size that cannot fit.
    """
    item = np.dtype(config.dtype).itemsize
    sizes = config.sizes
    n_params = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:], strict=False))
    steps = config.inner_steps + 2  # θ_0 … θ_k and the query pass
    return {
        # θ, the meta-gradient, Adam's two moments, Meta-SGD's rates, the update's temporaries
        "--hidden: the parameters and Adam's moments": 8 * n_params * item,
        # each task's copy of θ at every inner step, with its gradient, kept for backward
        "--meta-batch × --inner-steps × --hidden: each task's adapted parameters":
            4 * config.meta_batch * steps * n_params * item,
        # every layer's activations for the support and query points, forward and backward
        "--meta-batch × --shots × --hidden: activations":
            6 * config.meta_batch * 2 * config.shots * steps * sum(sizes) * item,
        "--iterations: the loss of every iteration": 8 * config.iterations,
    }
