"""Benchmark: a first-order gradient through tinymeta vs the same gradient by hand in numpy.

The model is MAML's sinusoid regressor, a 1→40→40→1 ReLU MLP, and the loss is
the mean squared error on 10 points (one inner step's worth of work). Both
sides compute the gradient of the loss with respect to all six parameter
arrays:

- tinymeta: ``tm.grad(loss)(params, x, y)`` with ``params`` a dict of arrays;
- numpy: an explicit forward pass that keeps its intermediates and the
  backward pass written out by hand.

The script first checks that the two gradients agree to 1e-12, then times
them in the same process, interleaved (a tinymeta call, a numpy call, a
tinymeta call, ...) after a warm-up, and prints the median of each and the
ratio of the medians. Times are per gradient, wall clock, with the garbage
collector left on (it is part of what a Python engine costs).

    python benchmarks/mlp_grad.py              # 200 runs each
    python benchmarks/mlp_grad.py --runs 1000
    python benchmarks/mlp_grad.py --quick      # a few runs: a smoke test
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time

import numpy as np

import tinymeta as tm

SIZES = (1, 40, 40, 1)
POINTS = 10
TOLERANCE = 1e-12


def make_problem(seed: int = 0) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Parameters (He-initialised so that the ReLUs are a mix of on and off) and data."""
    rng = np.random.default_rng(seed)
    params = {}
    for i, (n_in, n_out) in enumerate(itertools.pairwise(SIZES)):
        params[f"w{i}"] = rng.standard_normal((n_in, n_out)) * np.sqrt(2.0 / n_in)
        params[f"b{i}"] = rng.standard_normal(n_out) * 0.1
    x = rng.uniform(-5.0, 5.0, size=(POINTS, 1))
    y = 2.0 * np.sin(x + 0.5)
    return params, x, y


# ---------------------------------------------------------------- tinymeta
def loss(params, x, y):
    h = tm.relu(x @ params["w0"] + params["b0"])
    h = tm.relu(h @ params["w1"] + params["b1"])
    prediction = h @ params["w2"] + params["b2"]
    return tm.mean(tm.square(prediction - y))


tinymeta_grad = tm.grad(loss)


def tinymeta_gradient(params, x, y) -> dict[str, np.ndarray]:
    return {k: v.numpy() for k, v in tinymeta_grad(params, x, y).items()}


# ---------------------------------------------------------------- numpy by hand
def numpy_gradient(params, x, y) -> dict[str, np.ndarray]:
    w0, b0, w1, b1, w2, b2 = (params[k] for k in ("w0", "b0", "w1", "b1", "w2", "b2"))
    # forward, keeping what the backward pass needs
    z0 = x @ w0 + b0
    h0 = np.maximum(z0, 0.0)
    z1 = h0 @ w1 + b1
    h1 = np.maximum(z1, 0.0)
    residual = h1 @ w2 + b2 - y
    # backward: d mean(r²) / dr = 2r / n, then the chain rule layer by layer
    d_out = residual * (2.0 / residual.size)
    d_z1 = (d_out @ w2.T) * (z1 > 0)
    d_z0 = (d_z1 @ w1.T) * (z0 > 0)
    return {
        "w0": x.T @ d_z0, "b0": d_z0.sum(axis=0),
        "w1": h0.T @ d_z1, "b1": d_z1.sum(axis=0),
        "w2": h1.T @ d_out, "b2": d_out.sum(axis=0),
    }


# ---------------------------------------------------------------- timing
def check_agreement(params, x, y) -> float:
    ours, theirs = tinymeta_gradient(params, x, y), numpy_gradient(params, x, y)
    worst = 0.0
    for k in params:
        if ours[k].shape != theirs[k].shape:
            raise SystemExit(f"shape mismatch for {k}: {ours[k].shape} vs {theirs[k].shape}")
        worst = max(worst, float(np.max(np.abs(ours[k] - theirs[k]))))
    return worst


def time_interleaved(params, x, y, runs: int, warmup: int) -> tuple[list[float], list[float]]:
    clock = time.perf_counter
    for _ in range(warmup):
        tinymeta_grad(params, x, y)
        numpy_gradient(params, x, y)
    ours, theirs = [], []
    for i in range(runs):
        # alternate which goes first so neither always runs on a warmer cache
        for which in ((0, 1) if i % 2 == 0 else (1, 0)):
            start = clock()
            if which == 0:
                tinymeta_grad(params, x, y)
            else:
                numpy_gradient(params, x, y)
            (ours if which == 0 else theirs).append(clock() - start)
    return ours, theirs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=200, help="timed runs of each (default 200)")
    parser.add_argument("--warmup", type=int, default=20, help="untimed runs first (default 20)")
    parser.add_argument("--quick", action="store_true", help="5 runs, 1 warm-up: a smoke test")
    args = parser.parse_args(argv)
    runs, warmup = (5, 1) if args.quick else (args.runs, args.warmup)
    if runs < 1:
        parser.error("--runs must be at least 1")

    params, x, y = make_problem()
    print(f"gradient of the MSE of a {'→'.join(map(str, SIZES))} ReLU MLP on {POINTS} points")
    worst = check_agreement(params, x, y)
    print(f"tinymeta and hand-written numpy agree: max |difference| = {worst:.1e}")
    if not worst <= TOLERANCE:
        print(f"FAILED: the gradients differ by more than {TOLERANCE:g}", file=sys.stderr)
        return 1

    ours, theirs = time_interleaved(params, x, y, runs, warmup)
    t_ours, t_theirs = statistics.median(ours), statistics.median(theirs)
    note = "" if runs >= 50 else "  (fewer than 50: a smoke test, not a measurement)"
    print(f"{runs} runs each, interleaved, after {warmup} warm-up runs{note}")
    print(f"  numpy, by hand   median {t_theirs * 1e6:8.1f} µs")
    print(f"  tinymeta         median {t_ours * 1e6:8.1f} µs")
    print(f"  ratio of medians        {t_ours / t_theirs:8.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
