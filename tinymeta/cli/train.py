"""``tinymeta train``: meta-train an MLP on sinusoid tasks, with checkpoints and resume.

    tinymeta train --algo maml --iterations 2000 --out runs/maml
    tinymeta train --resume runs/maml          # after Ctrl-C, a kill, or a crash

The loop itself is ``tinymeta.meta.training.advance``; this module turns
arguments into a ``TrainConfig``, shows progress, and keeps the work safe:

- Every ``--checkpoint-every`` iterations, or ``--checkpoint-seconds`` of wall
  time, whichever comes first, it writes ``OUT/checkpoint.npz`` (atomically:
  a kill mid-write leaves the previous checkpoint whole).
- SIGINT (Ctrl-C) or SIGTERM does not stop the loop mid-iteration: the handler
  only raises a flag, the loop finishes the iteration it is in, a checkpoint is
  written, and the command exits with the usual status (130 or 143) and a line
  saying how to resume. A second Ctrl-C stops at once (the last checkpoint stays).
- ``--resume OUT`` restores everything the loop carries (parameters, Adam's
  moments, the task generator, the losses so far), so the final ``params.npz``
  is byte-identical to that of a run that was never interrupted.

The configuration options default to None here, so that ``--resume`` can tell
a flag the user typed (which must agree with the checkpoint) from one left out;
their real defaults come from ``TrainConfig`` and are shown by ``--help``.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np

from tinymeta.cli.argtypes import (
    directory,
    layer_widths,
    non_negative_int,
    positive_float,
    positive_int,
)
from tinymeta.cli.checks import UsageError, check_fits
from tinymeta.nn import ACTIVATIONS

__all__ = ["arguments", "run", "HELP"]

HELP = "meta-train an MLP on sinusoid regression tasks (checkpointed, resumable)"

# (flag, TrainConfig field, type, help); the default is TrainConfig's
_CONFIG_OPTIONS: list[tuple[str, str, Any, str]] = [
    ("--shots", "shots", positive_int, "K: support (and query) points per task"),
    ("--inner-steps", "inner_steps", positive_int,
     "k: inner SGD steps (Reptile wants a few, e.g. 5)"),
    ("--inner-lr", "inner_lr", positive_float,
     "α: inner step size (Meta-SGD: the initial learned rates)"),
    ("--meta-batch", "meta_batch", positive_int, "tasks per meta-step"),
    ("--meta-lr", "meta_lr", positive_float, "Adam's step size"),
    ("--iterations", "iterations", positive_int, "meta-iterations (the paper's 70000)"),
    ("--seed", "seed", non_negative_int, "seed for the initialisation and the tasks"),
    ("--hidden", "hidden", layer_widths, "hidden layer widths, comma-separated"),
]
_CHECKPOINT_EVERY = 1000
_CHECKPOINT_SECONDS = 60.0


def _shown(value: Any) -> str:
    return ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def arguments(p: argparse.ArgumentParser) -> None:
    from tinymeta.meta.algorithms import ALGORITHMS
    from tinymeta.meta.training import DTYPES, TrainConfig

    defaults = TrainConfig()
    p.add_argument("--algo", choices=ALGORITHMS, default=None,
                   help=f"meta-learning algorithm (default: {defaults.algo})")
    for flag, field, kind, text in _CONFIG_OPTIONS:
        p.add_argument(flag, type=kind, default=None, dest=field,
                       help=f"{text} (default: {_shown(getattr(defaults, field))})")
    p.add_argument("--activation", choices=sorted(ACTIVATIONS), default=None,
                   help=f"the hidden layers' nonlinearity (default: {defaults.activation})")
    p.add_argument("--no-jit", action="store_true",
                   help="compute each meta-gradient with the eager engine instead of the "
                        "program tm.jit records (the same numbers, about half as fast; for "
                        "comparison and debugging)")
    p.add_argument("--dtype", choices=DTYPES, default=None,
                   help=f"floating-point type of the parameters and tasks; float32 is about "
                        f"1.5x faster (default: {defaults.dtype})")
    p.add_argument("--out", type=directory, default=None, metavar="DIR",
                   help="run directory for params.npz, metrics.json, learning_curve.png and "
                        "the checkpoint (default: runs/<algo>-seed<seed>)")
    p.add_argument("--resume", type=directory, default=None, metavar="DIR",
                   help="continue the interrupted run in DIR from its checkpoint, with the "
                        "configuration saved there (default: start a new run)")
    p.add_argument("--checkpoint-every", type=positive_int, default=_CHECKPOINT_EVERY,
                   metavar="N", help="write a checkpoint every N iterations")
    p.add_argument("--checkpoint-seconds", type=positive_float, default=_CHECKPOINT_SECONDS,
                   metavar="S", help="... and at least every S seconds")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the run or checkpoint already in --out (otherwise an error)")


def _progress(total: int, initial: int, desc: str, enabled: bool
              ) -> tuple[Callable[[int, float], None], Callable[[], None]]:
    """A (callback, close) pair showing a tqdm bar with it/s and the running query loss."""
    if not enabled:
        return (lambda it, loss: None), (lambda: None)
    try:
        from tqdm import tqdm
    except ImportError:
        print("tinymeta train: note: tqdm is not installed, so there is no progress bar "
              "(pip install 'tinymeta[cli]')", file=sys.stderr)
        return (lambda it, loss: None), (lambda: None)
    bar = tqdm(total=total, initial=initial, desc=desc, unit="it", mininterval=0.25,
               dynamic_ncols=True)
    running = None

    def update(it: int, loss: float) -> None:
        nonlocal running  # an exponential moving average: one meta-batch is noisy
        running = loss if running is None else 0.99 * running + 0.01 * loss
        bar.set_postfix_str(f"query loss {running:.3f}", refresh=False)
        bar.update(1)

    return update, bar.close


class _StopOnSignal:
    """While active, SIGINT and SIGTERM ask the loop to stop after the current iteration.

    The handler only records the signal (so nothing is interrupted half-done) and puts
    the previous handlers back, so a second Ctrl-C interrupts at once.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _StopOnSignal:
        try:
            self._previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
        except ValueError:  # not the main thread (main() called from a thread): no handlers
            self._previous = {}
        return self

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.signum = signum
        self._restore()

    def _restore(self) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)
        self._previous = {}

    def __exit__(self, *exc: object) -> None:
        self._restore()

    def requested(self) -> bool:
        return self.signum is not None


def _config(args: argparse.Namespace) -> Any:
    from tinymeta.meta.training import TrainConfig

    given = {field: getattr(args, field) for field in _given_fields(args)}
    if "hidden" in given:
        given["hidden"] = tuple(given["hidden"])
    try:
        return TrainConfig(**given)
    except ValueError as error:
        raise UsageError(f"tinymeta train: error: {error}") from None


def _given_fields(args: argparse.Namespace) -> list[str]:
    """The TrainConfig fields set on the command line (their defaults are None here)."""
    fields = ["algo", *(field for _, field, _, _ in _CONFIG_OPTIONS), "activation", "dtype"]
    return [field for field in fields if getattr(args, field) is not None]


def _flag(field: str) -> str:
    return "--" + field.replace("_", "-")


def run(args: argparse.Namespace) -> int:
    """Train, or resume training (see the module docstring); return the exit status."""
    from tinymeta.meta import checkpoint
    from tinymeta.meta.training import TrainState, estimate_memory

    if args.resume is not None:
        return _resume(args)
    config = _config(args)
    check_fits("train", estimate_memory(config))  # before anything is created
    out = args.out if args.out is not None else Path("runs") / f"{config.algo}-seed{config.seed}"
    held = [name for name in (checkpoint.PARAMS_FILE, checkpoint.CHECKPOINT_FILE)
            if (out / name).exists()]
    if held and not args.overwrite:
        if checkpoint.PARAMS_FILE in held:
            raise UsageError(f"tinymeta train: error: {out} already holds a run; choose another "
                             f"--out or pass --overwrite")
        raise UsageError(f"tinymeta train: error: {out} holds an interrupted run; continue it "
                         f"with `tinymeta train --resume {out}`, or pass --overwrite to start "
                         f"again")
    created = not out.exists()
    try:  # before training, so that a bad --out does not cost a training run
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"tinymeta train: error: cannot use --out {out}: "
                         f"{error.strerror or error}") from None
    if args.overwrite:  # an old params.npz must not outlive an interrupted new run
        for name in (checkpoint.PARAMS_FILE, checkpoint.METRICS_FILE,
                     checkpoint.CHECKPOINT_FILE, "learning_curve.png"):
            (out / name).unlink(missing_ok=True)
    try:
        return _train(out, TrainState.start(config), args)
    except BaseException:
        if created and out.is_dir() and not any(out.iterdir()):
            out.rmdir()  # a failure leaves no empty run directory behind
        raise


def _resume(args: argparse.Namespace) -> int:
    from tinymeta.meta import checkpoint
    from tinymeta.meta.training import estimate_memory

    out = args.resume
    if args.out is not None and args.out.resolve() != out.resolve():
        raise UsageError(f"tinymeta train: error: --out {args.out} contradicts --resume {out}: "
                         f"a resumed run stays in its directory; leave out --out")
    if args.overwrite:
        raise UsageError("tinymeta train: error: --overwrite contradicts --resume (resume keeps "
                         "the run; to start again, leave out --resume)")
    try:
        saved = checkpoint.read_checkpoint(out)
    except checkpoint.CheckpointError as error:
        raise UsageError(f"tinymeta train: error: --resume: {error}") from None
    for field in _given_fields(args):
        given, kept = getattr(args, field), getattr(saved.config, field)
        if (tuple(given) if field == "hidden" else given) != kept:
            raise UsageError(
                f"tinymeta train: error: {_flag(field)} {_shown(given)} contradicts the "
                f"checkpoint in {out}, which was trained with {_flag(field)} {_shown(kept)}; "
                f"leave out {_flag(field)} to resume it")
    check_fits("train", estimate_memory(saved.config))
    try:
        state = saved.restore()
    except checkpoint.CheckpointError as error:
        raise UsageError(f"tinymeta train: error: --resume: {error}") from None
    return _train(out, state, args)


def _train(out: Path, state: Any, args: argparse.Namespace) -> int:
    from tinymeta.cli import malloc_tuning
    from tinymeta.meta import checkpoint
    from tinymeta.meta.training import advance

    config = state.config
    malloc_tuning.tune()  # this process is ours: keep numpy's buffers in the heap (~20% faster)
    saver = checkpoint.Checkpointer(out, args.checkpoint_every, args.checkpoint_seconds)
    start = (f"resuming {config.algo} at iteration {state.iteration} of {config.iterations}"
             if state.iteration else f"training {config.algo} for {config.iterations} iterations")
    print(f"tinymeta train: {start} in {out}; a checkpoint every {args.checkpoint_every} "
          f"iterations or {args.checkpoint_seconds:g} s, and on Ctrl-C", file=sys.stderr,
          flush=True)
    with _StopOnSignal() as stop:
        callback, close = _progress(config.iterations, state.iteration, config.algo,
                                    not args.no_progress)
        try:
            finished = advance(state, callback, saver, stop.requested, jit=not args.no_jit)
        finally:
            close()
        if not finished:
            path = saver.save(state)
            name = signal.Signals(stop.signum).name if stop.signum else "stopped"
            print(f"tinymeta train: {name} at iteration {state.iteration} of "
                  f"{config.iterations}; saved {path}; resume with: tinymeta train --resume "
                  f"{out}", file=sys.stderr)
            return 128 + (stop.signum or 0)
        # a signal from here on changes nothing: the run is complete, its files come next
        _write_run(out, state.result())
        (out / checkpoint.CHECKPOINT_FILE).unlink(missing_ok=True)
    return 0


def _write_run(out: Path, result: Any) -> None:
    from tinymeta.meta import checkpoint

    config = result.config
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
