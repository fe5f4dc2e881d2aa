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

__all__ = ["TrainConfig", "TrainResult", "meta_train", "init_meta_params"]

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

    def __post_init__(self) -> None:
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


def meta_train(
    config: TrainConfig, callback: Callable[[int, float], None] | None = None,
) -> TrainResult:
    """Run ``config.iterations`` meta-updates; ``callback(iteration, loss)`` after each one.

    Tasks are drawn from a generator seeded with ``config.seed + 1`` (the
    initialisation uses ``config.seed``), so a run is reproducible.
    """
    meta_params = init_meta_params(config)
    optimizer = Adam(config.meta_lr)
    rng = np.random.default_rng(config.seed + 1)
    tasks = Sinusoid()
    dtype = np.dtype(config.dtype)
    losses = np.empty(config.iterations)
    start = time.perf_counter()
    for it in range(config.iterations):
        batch = tasks.sample(config.meta_batch, config.shots, rng=rng, dtype=dtype)
        loss, g = meta_gradient(config.algo, meta_params, batch, config.inner_lr,
                                config.inner_steps, config.batched, config.activation)
        meta_params = optimizer.step(meta_params, g)
        losses[it] = loss
        if callback is not None:
            callback(it, loss)
    seconds = time.perf_counter() - start
    if config.algo == "metasgd":
        params, inner_lr = meta_params["params"], meta_params["lr"]
    else:
        params, inner_lr = meta_params, config.inner_lr
    return TrainResult(config, params, inner_lr, losses, seconds)
