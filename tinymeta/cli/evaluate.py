"""``tinymeta evaluate``: few-shot MSE of a trained run on new tasks, ± 95% CI.

    tinymeta evaluate runs/maml --shots 5 --steps 1,5,10 --plot runs/maml/fit.png

The numbers come from ``tinymeta.meta.evaluate.evaluate``; this module reads
the run directory (``tinymeta.meta.checkpoint.load_run``) and prints a table,
JSON or a Figure-2-style plot.

Nothing is guessed: the step size and the nonlinearity come from the run's
``metrics.json`` (``--inner-lr`` and ``--activation`` override them), and a
bare ``params.npz`` without one needs both flags. The ``--plot`` path and
format are checked before the evaluation runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from tinymeta.cli.argtypes import (
    non_negative_int,
    output_file,
    positive_float,
    positive_int,
    positive_int_list,
)
from tinymeta.cli.checks import UsageError, check_fits
from tinymeta.nn import ACTIVATIONS

__all__ = ["arguments", "run", "HELP"]

HELP = "few-shot MSE of a trained run on new tasks, ± 95% CI"


def arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", type=Path,
                   help="a run directory from `tinymeta train`, or a params.npz file")
    p.add_argument("--shots", type=positive_int, default=5, help="K: points to adapt on")
    p.add_argument("--steps", type=positive_int_list, default=[1, 5, 10],
                   help="adaptation step counts to report, comma-separated")
    p.add_argument("--tasks", type=positive_int, default=600, help="new tasks to average")
    p.add_argument("--seed", type=non_negative_int, default=0,
                   help="seed for the evaluation tasks")
    p.add_argument("--inner-lr", type=positive_float, default=None,
                   help="adaptation step size α (default: the run's, from its metrics.json; "
                        "Meta-SGD: its learned rates)")
    p.add_argument("--activation", choices=sorted(ACTIVATIONS), default=None,
                   help="the network's nonlinearity (default: the run's, from its "
                        "metrics.json)")
    p.add_argument("--query", type=positive_int, default=100,
                   help="points per task to measure the MSE on")
    p.add_argument("--plot", type=output_file, default=None, metavar="FILE",
                   help="also draw one new task and the fit after 0, 1 and 10 steps, as the "
                        "paper's Figure 2; the suffix picks the format (.png, .pdf, .svg) "
                        "(default: no plot)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")


def _settings(args: argparse.Namespace, inner_lr: Any, config: dict[str, Any]
              ) -> tuple[Any, str]:
    """(inner_lr, activation): the command line's, else the run's; never a guess."""
    from tinymeta.meta.checkpoint import METRICS_FILE

    missing = []
    if args.inner_lr is not None:
        inner_lr = args.inner_lr
    elif inner_lr is None:
        missing.append("--inner-lr (the step size it was trained with, e.g. 0.01)")
    elif not isinstance(inner_lr, dict) and not (
        isinstance(inner_lr, (int, float)) and not isinstance(inner_lr, bool) and inner_lr > 0
    ):
        raise UsageError(f"tinymeta evaluate: error: the run's inner_lr {inner_lr!r} is not a "
                         f"positive number; pass --inner-lr")
    activation = args.activation or config.get("activation")
    if activation is None:
        missing.append(f"--activation ({' or '.join(sorted(ACTIVATIONS))})")
    elif activation not in ACTIVATIONS:
        raise UsageError(f"tinymeta evaluate: error: the run's activation {activation!r} is "
                         f"unknown; pass --activation ({' or '.join(sorted(ACTIVATIONS))})")
    if missing:
        source = args.run if args.run.is_dir() else args.run.parent
        raise UsageError(f"tinymeta evaluate: error: {source} has no {METRICS_FILE} saying how "
                         f"the network was trained, so pass {' and '.join(missing)}")
    return inner_lr, activation


def _check_plot(path: Path) -> None:
    """Before evaluating: matplotlib is there and knows the file's format."""
    try:
        from matplotlib.backend_bases import FigureCanvasBase
    except ImportError:
        raise UsageError("tinymeta evaluate: error: --plot needs matplotlib "
                         "(pip install 'tinymeta[cli]')") from None
    formats = FigureCanvasBase.get_supported_filetypes()
    suffix = path.suffix.lstrip(".").lower()
    if suffix not in formats:
        raise UsageError(f"tinymeta evaluate: error: --plot {path}: "
                         + (f"unknown suffix .{suffix}" if suffix else "no suffix")
                         + f"; use one of {', '.join('.' + f for f in sorted(formats))}")


def run(args: argparse.Namespace) -> int:
    """Evaluate (see the module docstring); return the exit status."""
    from tinymeta.meta.checkpoint import CheckpointError, load_run
    from tinymeta.meta.evaluate import estimate_memory
    from tinymeta.meta.evaluate import evaluate as evaluate_params

    if args.plot is not None:
        _check_plot(args.plot)
    try:
        params, inner_lr, config = load_run(args.run)
    except CheckpointError as error:
        raise UsageError(f"tinymeta evaluate: error: {error}") from None
    inner_lr, activation = _settings(args, inner_lr, config)
    check_fits("evaluate", estimate_memory(params, args.tasks, args.shots, args.query,
                                           args.steps))

    result = evaluate_params(params, inner_lr, args.shots, args.steps, args.tasks, args.seed,
                             args.query, activation)
    label = config.get("algo", "model")
    if args.json:
        print(json.dumps({"run": str(args.run), "algo": label, "inner_lr": "learned"
                          if isinstance(inner_lr, dict) else inner_lr,
                          "activation": activation, **result.as_dict()}))
    else:
        print(result.table(f"{label} ({args.run}, {activation}): {args.shots}-shot sinusoid "
                           f"regression, query MSE after k adaptation steps"))
    if args.plot is not None:
        from tinymeta.meta.plots import fit_figure

        try:
            fit_figure({label: (params, inner_lr)}, args.plot, shots=args.shots, seed=args.seed,
                       activation=activation)
        except (OSError, ValueError) as error:  # checked above; a race, a full disk
            raise UsageError(f"tinymeta evaluate: error: --plot {args.plot}: {error}") from None
        print(f"wrote {args.plot}", file=sys.stderr if args.json else sys.stdout)
    return 0
