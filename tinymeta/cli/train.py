"""``tinymeta train``: meta-train an MLP on sinusoid tasks, with a progress bar.

    tinymeta train --algo maml --iterations 2000 --out runs/maml

The loop itself is ``tinymeta.meta.training.meta_train``; this module turns
arguments into a ``TrainConfig``, shows progress and writes the run directory
with ``tinymeta.meta.checkpoint``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from tinymeta.cli.argtypes import (
    directory,
    non_negative_int,
    positive_float,
    positive_int,
    positive_int_list,
)
from tinymeta.cli.checks import UsageError
from tinymeta.nn import ACTIVATIONS

__all__ = ["arguments", "run", "HELP"]

HELP = "meta-train an MLP on sinusoid regression tasks"


def arguments(p: argparse.ArgumentParser) -> None:
    from tinymeta.meta.algorithms import ALGORITHMS
    from tinymeta.meta.training import DTYPES

    p.add_argument("--algo", choices=ALGORITHMS, default="maml", help="meta-learning algorithm")
    p.add_argument("--shots", type=positive_int, default=10, help="K points per task (10)")
    p.add_argument("--inner-steps", type=positive_int, default=1,
                   help="k inner SGD steps (1; Reptile wants a few, e.g. 5)")
    p.add_argument("--inner-lr", type=positive_float, default=0.01,
                   help="inner step size α (0.01; Meta-SGD: initial rates)")
    p.add_argument("--meta-batch", type=positive_int, default=25, help="tasks per meta-step (25)")
    p.add_argument("--meta-lr", type=positive_float, default=1e-3, help="Adam step size (0.001)")
    p.add_argument("--iterations", type=positive_int, default=70_000,
                   help="meta-iterations (70000, the paper's)")
    p.add_argument("--seed", type=non_negative_int, default=0,
                   help="seed for initialisation and tasks (0)")
    p.add_argument("--hidden", type=positive_int_list, default=[40, 40],
                   help="hidden layer widths (40,40)")
    p.add_argument("--activation", choices=sorted(ACTIVATIONS), default="relu")
    p.add_argument("--dtype", choices=DTYPES, default="float64")
    p.add_argument("--out", type=directory, default=None,
                   help="output directory (default: runs/<algo>-seed<seed>)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the run already in --out (otherwise an error)")


def _progress(total: int, desc: str, enabled: bool) -> tuple[Callable[[int, float], None],
                                                             Callable[[], None]]:
    """A (callback, close) pair showing a tqdm bar with it/s and the running query loss."""
    if not enabled:
        return (lambda it, loss: None), (lambda: None)
    try:
        from tqdm import tqdm
    except ImportError:
        print("tinymeta: tqdm is not installed, so there is no progress bar "
              "(pip install 'tinymeta[cli]')", file=sys.stderr)
        return (lambda it, loss: None), (lambda: None)
    bar = tqdm(total=total, desc=desc, unit="it", mininterval=0.25, dynamic_ncols=True)
    running = None

    def update(it: int, loss: float) -> None:
        nonlocal running  # an exponential moving average: one meta-batch is noisy
        running = loss if running is None else 0.99 * running + 0.01 * loss
        bar.set_postfix_str(f"query loss {running:.3f}", refresh=False)
        bar.update(1)

    return update, bar.close


def run(args: argparse.Namespace) -> int:
    """Train (see the module docstring); return the exit status."""
    from tinymeta.meta import checkpoint
    from tinymeta.meta.training import TrainConfig, meta_train

    try:
        config = TrainConfig(
            algo=args.algo, shots=args.shots, inner_steps=args.inner_steps,
            inner_lr=args.inner_lr, meta_batch=args.meta_batch, meta_lr=args.meta_lr,
            iterations=args.iterations, seed=args.seed, hidden=tuple(args.hidden),
            activation=args.activation, dtype=args.dtype)
    except ValueError as error:
        raise UsageError(f"tinymeta train: error: {error}") from None
    out = args.out if args.out is not None else Path("runs") / f"{config.algo}-seed{config.seed}"
    if (out / checkpoint.PARAMS_FILE).exists() and not args.overwrite:
        raise UsageError(f"tinymeta train: error: {out} already holds a run; choose another "
                         f"--out or pass --overwrite")
    try:  # before training, so that a bad --out does not cost a training run
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"tinymeta train: error: cannot use --out {out}: {error}") from None

    from tinymeta.cli import malloc_tuning

    malloc_tuning.tune()  # this process is ours: keep numpy's buffers in the heap (~20% faster)
    callback, close = _progress(config.iterations, config.algo, not args.no_progress)
    try:
        result = meta_train(config, callback)
    finally:
        close()

    recent = result.losses[-min(100, len(result.losses)):]
    if not np.all(np.isfinite(recent)) or recent.mean() > 100 * max(result.losses[0], 1e-12):
        print(f"tinymeta train: warning: the meta-loss diverged (last value {recent[-1]:.3g}, "
              f"first {result.losses[0]:.3g}); try a smaller --meta-lr or --inner-lr",
              file=sys.stderr)
    metrics = checkpoint.save_run(out, result)
    written = [checkpoint.PARAMS_FILE, checkpoint.METRICS_FILE]
    try:
        from tinymeta.meta.plots import learning_curve_figure

        curve = metrics["loss_curve"]
        learning_curve_figure({config.algo: (curve["iteration"], curve["loss"])},
                              out / "learning_curve.png", f"{config.algo}: meta-training loss")
        written.append("learning_curve.png")
    except ImportError as error:
        print(f"tinymeta train: note: no learning-curve plot ({error})", file=sys.stderr)
    print(f"{config.algo}: {config.iterations} iterations in {result.seconds:.1f} s "
          f"({1e3 * metrics['seconds_per_iteration']:.2f} ms/it); query loss over the last "
          f"{min(100, config.iterations)} iterations {metrics['final_query_loss']:.3f}")
    print(f"wrote {', '.join(str(out / name) for name in written)}")
    print(f"next: tinymeta evaluate {out}")
    return 0
