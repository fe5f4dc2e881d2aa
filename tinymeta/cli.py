"""The ``tinymeta`` command: meta-train on sinusoid tasks, evaluate, and (with tinymeta.viz) draw.

    tinymeta train --algo maml --iterations 2000 --out runs/maml
    tinymeta evaluate runs/maml --shots 5 --steps 1,5,10 --plot fit.png

This module only parses arguments and prints; the work is done by
``tinymeta.meta`` (training, evaluation, checkpoints, figures), so everything
the command does is also a few lines of Python. ``graph`` and ``explain`` live
in ``cli_graph.py``, which imports ``tinymeta.viz`` (and graphviz) only when
one of them runs, so the other commands start without the renderer.

Subcommands are registered in ``COMMANDS`` with the ``@command`` decorator: a
subcommand is a function ``run(args) -> exit code`` plus a function that adds
its arguments to an ``argparse`` parser. To add one, write those two
functions next to the others and decorate ``run``; nothing else changes.

Bad input never shows a traceback: argument errors, unusable parameter files
and invalid settings print one line, ``tinymeta <command>: error: ...``, on
stderr and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinymeta import cli_graph
from tinymeta.argtypes import (
    directory,
    non_negative_int,
    positive_float,
    positive_int,
    positive_int_list,
)
from tinymeta.nn import ACTIVATIONS

__all__ = ["main", "command", "COMMANDS", "UsageError"]


class UsageError(Exception):
    """A bad argument or input file: reported as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, but errors raise UsageError instead of printing usage and exiting."""

    def error(self, message: str):  # type: ignore[override]
        raise UsageError(f"{self.prog}: error: {message}")


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


COMMANDS: dict[str, Command] = {}


def command(name: str, help: str, arguments: Callable[[argparse.ArgumentParser], None]):
    """Register the decorated ``run(args) -> int`` as subcommand ``name``."""

    def register(run: Callable[[argparse.Namespace], int]):
        COMMANDS[name] = Command(name, help, arguments, run)
        return run

    return register


# ---------------------------------------------------------------- train
def _train_arguments(p: argparse.ArgumentParser) -> None:
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


@command("train", "meta-train an MLP on sinusoid regression tasks", _train_arguments)
def train(args: argparse.Namespace) -> int:
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

    from tinymeta import allocator

    allocator.tune()  # this process is ours: keep numpy's buffers in the heap (~20% faster)
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


# ---------------------------------------------------------------- evaluate
def _evaluate_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", type=Path, help="a run directory from `tinymeta train`, or a params.npz")
    p.add_argument("--shots", type=positive_int, default=5, help="K points to adapt on (5)")
    p.add_argument("--steps", type=positive_int_list, default=[1, 5, 10],
                   help="adaptation step counts to report, comma-separated (1,5,10)")
    p.add_argument("--tasks", type=positive_int, default=600, help="new tasks to average (600)")
    p.add_argument("--seed", type=non_negative_int, default=0,
                   help="seed for the evaluation tasks (0)")
    p.add_argument("--inner-lr", type=positive_float, default=None,
                   help="adaptation step size (default: the run's; Meta-SGD: its learned rates)")
    p.add_argument("--query", type=positive_int, default=100,
                   help="points per task to measure the MSE on (100)")
    p.add_argument("--plot", type=Path, default=None, metavar="FILE",
                   help="write a Figure-2-style PNG: one new task, the fit after 0, 1, 10 steps")
    p.add_argument("--json", action="store_true", help="print the results as JSON")


@command("evaluate", "few-shot MSE of a trained run on new tasks, ± 95% CI", _evaluate_arguments)
def evaluate(args: argparse.Namespace) -> int:
    from tinymeta.meta.checkpoint import CheckpointError, load_run
    from tinymeta.meta.evaluate import evaluate as evaluate_params

    try:
        params, inner_lr, config = load_run(args.run)
    except CheckpointError as error:
        raise UsageError(f"tinymeta evaluate: error: {error}") from None
    if args.inner_lr is not None:
        inner_lr = args.inner_lr
    elif inner_lr is None:
        inner_lr = 0.01
    elif not isinstance(inner_lr, dict) and not (
        isinstance(inner_lr, (int, float)) and not isinstance(inner_lr, bool) and inner_lr > 0
    ):
        raise UsageError(f"tinymeta evaluate: error: the run's inner_lr {inner_lr!r} is not a "
                         f"positive number; pass --inner-lr")
    activation = config.get("activation", "relu")
    if activation not in ACTIVATIONS:
        raise UsageError(f"tinymeta evaluate: error: the run's activation {activation!r} is "
                         f"unknown (expected {' or '.join(sorted(ACTIVATIONS))})")

    result = evaluate_params(params, inner_lr, args.shots, args.steps, args.tasks, args.seed,
                             args.query, activation)
    label = config.get("algo", "model")
    if args.json:
        print(json.dumps({"run": str(args.run), "algo": label, "inner_lr": "learned"
                          if isinstance(inner_lr, dict) else inner_lr, **result.as_dict()}))
    else:
        print(result.table(f"{label} ({args.run}): {args.shots}-shot sinusoid regression, "
                           f"query MSE after k adaptation steps"))
    if args.plot is not None:
        try:
            from tinymeta.meta.plots import fit_figure

            fit_figure({label: (params, inner_lr)}, args.plot, shots=args.shots, seed=args.seed,
                       activation=activation)
        except (ImportError, OSError, ValueError) as error:  # no matplotlib, bad path or format
            raise UsageError(f"tinymeta evaluate: error: --plot {args.plot}: {error}") from None
        print(f"wrote {args.plot}", file=sys.stderr if args.json else sys.stdout)
    return 0


# ---------------------------------------------------------------- graph, explain
# The renderer and the Jacobian report, in cli_graph.py (tinymeta.viz is imported on use).
command("graph", "draw the graph of one meta-gradient (MAML, FOMAML, Reptile, Meta-SGD)",
        cli_graph.graph_arguments)(cli_graph.graph)
command("explain", "every Jacobian of MAML's chain rule, and what first-order MAML drops",
        cli_graph.explain_arguments)(cli_graph.explain)


# ---------------------------------------------------------------- entry point
def build_parser() -> argparse.ArgumentParser:
    from tinymeta import __version__

    parser = _Parser(prog="tinymeta", description="Meta-learning through a tiny autodiff tape.")
    parser.add_argument("--version", action="version", version=f"tinymeta {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for cmd in COMMANDS.values():
        # argparse %-formats help strings (not descriptions)
        cmd.add_arguments(sub.add_parser(cmd.name, help=cmd.help.replace("%", "%%"),
                                         description=cmd.help))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help(sys.stderr)
            return 2
        return COMMANDS[args.command].run(args)
    except UsageError as error:
        print(error, file=sys.stderr)
        return 2
    except SystemExit as exit_:  # --help and --version
        return exit_.code if isinstance(exit_.code, int) else 0
    except KeyboardInterrupt:
        print("tinymeta: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `tinymeta explain | head`: the reader left, which is fine
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
