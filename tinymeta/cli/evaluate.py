"""``tinymeta evaluate``: few-shot MSE of a trained run on new tasks, ± 95% CI.

    tinymeta evaluate runs/maml --shots 5 --steps 1,5,10 --plot runs/maml/fit.png

The numbers come from ``tinymeta.meta.evaluate.evaluate``; this module reads
the run directory (``tinymeta.meta.checkpoint.load_run``) and prints a table,
JSON or a Figure-2-style plot.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tinymeta.cli.argtypes import non_negative_int, positive_float, positive_int, positive_int_list
from tinymeta.cli.checks import UsageError
from tinymeta.nn import ACTIVATIONS

__all__ = ["arguments", "run", "HELP"]

HELP = "few-shot MSE of a trained run on new tasks, ± 95% CI"


def arguments(p: argparse.ArgumentParser) -> None:
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


def run(args: argparse.Namespace) -> int:
    """Evaluate (see the module docstring); return the exit status."""
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
