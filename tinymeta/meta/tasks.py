"""Task distributions. The sinusoid family is exactly the MAML paper's (Finn et al., 2017, §5.1):

    y = A · sin(x − φ),   A ~ U[0.1, 5.0],   φ ~ U[0, π],   x ~ U[−5, 5].

A *batch* of tasks is a dict of arrays with the task axis first, so that the
same batch feeds the one-task-at-a-time loop (index it) and the batched
computation (use it whole):

    x_support, y_support   (T, K, 1)
    x_query, y_query       (T, Q, 1)
    amplitude, phase       (T,)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Sinusoid"]


@dataclass(frozen=True)
class Sinusoid:
    """The sinusoid regression task distribution of the MAML paper."""

    amplitude: tuple[float, float] = (0.1, 5.0)
    phase: tuple[float, float] = (0.0, float(np.pi))
    x_range: tuple[float, float] = (-5.0, 5.0)

    def sample(
        self, num_tasks: int, shots: int, query: int | None = None,
        rng: np.random.Generator | int = 0, dtype: type = np.float64,
    ) -> dict[str, np.ndarray]:
        """``num_tasks`` tasks with ``shots`` support and ``query`` (default ``shots``)
        query points each, drawn from ``rng`` (a Generator or a seed)."""
        if num_tasks < 1 or shots < 1 or (query is not None and query < 1):
            raise ValueError(f"Sinusoid.sample: num_tasks, shots and query must be >= 1, "
                             f"got {num_tasks}, {shots}, {query}")
        rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        query = shots if query is None else query
        amp = rng.uniform(*self.amplitude, size=num_tasks)
        phase = rng.uniform(*self.phase, size=num_tasks)
        xs = rng.uniform(*self.x_range, size=(num_tasks, shots, 1))
        xq = rng.uniform(*self.x_range, size=(num_tasks, query, 1))
        batch = {
            "x_support": xs.astype(dtype),
            "y_support": self.function(xs, amp, phase).astype(dtype),
            "x_query": xq.astype(dtype),
            "y_query": self.function(xq, amp, phase).astype(dtype),
            "amplitude": amp,
            "phase": phase,
        }
        for array in batch.values():
            # read-only: a recorded graph can hold them as they are instead of copying
            array.flags.writeable = False
        return batch

    @staticmethod
    def function(x: np.ndarray, amplitude: np.ndarray, phase: np.ndarray) -> np.ndarray:
        """y = A sin(x − φ) for x of shape (T, N, 1) and A, φ of shape (T,)."""
        a = np.asarray(amplitude).reshape(-1, 1, 1)
        p = np.asarray(phase).reshape(-1, 1, 1)
        return a * np.sin(x - p)
