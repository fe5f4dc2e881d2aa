"""Few-shot evaluation: adapt to new tasks with k SGD steps, report the query MSE.

All tasks run as one batched computation (parameters broadcast along a task
axis), so 600 tasks × 10 steps costs about as much as a few meta-gradients.
Reported as the mean over tasks ± the half-width of a 95% normal confidence
interval (1.96 · standard error), as in the MAML paper.

``estimate_memory`` sizes an evaluation before it runs (the command line
refuses one that cannot fit).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

import tinymeta as tm
from tinymeta.meta.algorithms import task_loss
from tinymeta.meta.tasks import Sinusoid
from tinymeta.nn import mlp_apply, sgd
from tinymeta.tree import tree_map

__all__ = ["Evaluation", "evaluate", "adapted_predictions", "estimate_memory"]


@dataclass
class Evaluation:
    """Query MSE after each number of adaptation steps (0 = before adaptation)."""

    shots: int
    tasks: int
    steps: list[int]
    mean: list[float]
    ci95: list[float]
    per_task: np.ndarray = field(repr=False)  # (len(steps), tasks)

    def table(self, title: str = "") -> str:
        lines = [title] if title else []
        lines.append(f"{'steps':>5}  {'MSE':>8}  {'±95% CI':>8}   ({self.tasks} tasks, "
                     f"{self.shots}-shot)")
        for s, m, c in zip(self.steps, self.mean, self.ci95, strict=True):
            if not np.isfinite(m):
                lines.append(f"{s:>5}  {'diverged':>8}")
            elif self.tasks < 2:  # one task: no spread to build an interval from
                lines.append(f"{s:>5}  {m:8.3f}  {'n/a':>8}")
            else:  # a few diverging tasks can make the mean astronomically large
                lines.append(f"{s:>5}  {m:8.3f}  {c:8.3f}" if m < 1e4 else
                             f"{s:>5}  {m:8.1e}  {c:8.1e}")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: a diverged (inf/nan) value becomes None, as JSON has no inf or nan."""
        def finite(values: list[float]) -> list[float | None]:
            return [v if np.isfinite(v) else None for v in values]

        return {"shots": self.shots, "tasks": self.tasks, "steps": self.steps,
                "mean": finite(self.mean), "ci95": finite(self.ci95)}


def _per_task_mse(theta: Any, x: np.ndarray, y: np.ndarray, activation: str) -> np.ndarray:
    with tm.no_grad():
        pred = mlp_apply(theta, x, activation).data
    return np.mean((pred - y) ** 2, axis=(1, 2))


def evaluate(
    params: Any, inner_lr: Any = 0.01, shots: int = 5, steps: Any = (1, 5, 10),
    tasks: int = 600, seed: int = 0, query: int = 100, activation: str = "relu",
    distribution: Sinusoid | None = None,
) -> Evaluation:
    """Adapt ``params`` to ``tasks`` new sinusoids from ``shots`` points each and measure the
    MSE on ``query`` fresh points per task after each count in ``steps`` (and before)."""
    steps = sorted({0, *(int(s) for s in steps)})
    if steps[0] < 0:
        raise ValueError(f"evaluate: step counts must be >= 0, got {steps}")
    batch = (distribution or Sinusoid()).sample(tasks, shots, query, rng=seed)
    xs, ys, xq, yq = (batch[k] for k in ("x_support", "y_support", "x_query", "y_query"))
    dtype = np.asarray(tm.tree_leaves(params)[0]).dtype
    xs, ys, xq, yq = (a.astype(dtype) for a in (xs, ys, xq, yq))
    theta = tree_map(lambda p: np.broadcast_to(np.asarray(p), (tasks, *np.shape(p))), params)
    results = []
    # a step size that makes adaptation diverge (Meta-SGD's learned rates applied more often
    # than they were trained for) is a result, inf/nan MSE, not a flood of warnings
    with np.errstate(over="ignore", invalid="ignore"):
        for i in range(steps[-1] + 1):
            if i in steps:
                results.append(_per_task_mse(theta, xq, yq, activation))
            if i < steps[-1]:
                g = tm.grad(task_loss)(theta, xs, ys, activation)
                theta = sgd(theta, g, inner_lr)
        per_task = np.array(results)
        mean = per_task.mean(axis=1)
        ci = 1.96 * per_task.std(axis=1, ddof=1) / np.sqrt(tasks) if tasks > 1 else 0 * mean
    return Evaluation(shots, tasks, steps, [float(m) for m in mean], [float(c) for c in ci],
                      per_task)


def adapted_predictions(
    params: Any, x_support: np.ndarray, y_support: np.ndarray, x_plot: np.ndarray,
    inner_lr: Any = 0.01, steps: Any = (0, 1, 10), activation: str = "relu",
) -> dict[int, np.ndarray]:
    """Predictions on ``x_plot`` (N, 1) for one task after each step count (for figures)."""
    out = {}
    theta = tree_map(np.asarray, params)
    last = max(steps)
    for i in range(last + 1):
        if i in steps:
            with tm.no_grad():
                out[i] = mlp_apply(theta, x_plot, activation).data.copy()
        if i < last:
            g = tm.grad(task_loss)(theta, x_support, y_support, activation)
            theta = sgd(theta, g, inner_lr)
    return out


def estimate_memory(params: Any, tasks: int, shots: int, query: int, steps: Any) -> dict[str, int]:
    """Rough bytes ``evaluate`` needs, by what needs them (keys name the options); within a
    small factor, like ``tinymeta.meta.training.estimate_memory``."""
    leaves = [np.asarray(p) for p in tm.tree_leaves(params)]
    item = max((p.dtype.itemsize for p in leaves), default=8)
    n_params = sum(p.size for p in leaves)
    widths = sum(p.shape[-1] for p in leaves if p.ndim == 2) + 1  # every layer's outputs + x
    points = shots + query
    return {
        # every task's adapted copy of θ, its gradient and the update's temporaries
        "--tasks: each task's adapted parameters": 4 * tasks * n_params * item,
        # the activations of every layer for every point, forward and backward
        "--tasks × (--shots + --query): activations": 6 * tasks * points * widths * item,
        "--tasks × (--shots + --query): the task points": 4 * 8 * tasks * points,
        "--tasks × --steps: the results": 8 * tasks * (len(list(steps)) + 1),
    }
