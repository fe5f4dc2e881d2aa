"""``tinymeta sweep``: a grid of train + evaluate runs, on this machine's cores or a Dask cluster.

    tinymeta sweep grid.toml --out runs/grid
    tinymeta sweep --algo maml,fomaml --seeds 0-2 --inner-lr 0.01,0.001 --inner-steps 1,5 \\
        --iterations 2000 --out runs/grid
    tinymeta sweep grid.toml --out runs/grid --dask tcp://scheduler:8786

The work is done by ``tinymeta.sweep`` (the spec, the executors, the driver,
the report); this module reads the arguments, shows progress (one line per
finished run and an overall bar with the elapsed and the estimated remaining
time) and reports failures. Axes given as flags replace the spec's axis or
fixed setting of the same name, so a spec can be narrowed from the command line.

Started again with the same spec and ``--out``, a sweep skips the runs that
are complete and resumes the interrupted ones from their checkpoints. The exit
status is 0 when every run is done, 1 when some failed (each is listed, with
its error line, in the output and in ``results.md``), 2 for bad input.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from tinymeta.cli.argtypes import (
    directory,
    layer_widths,
    non_negative_int,
    positive_float,
    positive_int,
    positive_int_list,
)
from tinymeta.cli.checks import UsageError, check_fits

__all__ = ["arguments", "run", "HELP"]

HELP = "a grid of train + evaluate runs on a local process pool or a Dask cluster"


def _list_of(kind: Any, what: str):
    def parse(text: str) -> list[Any]:
        try:
            return [kind(part) for part in text.split(",")]
        except argparse.ArgumentTypeError as error:
            raise argparse.ArgumentTypeError(f"expected comma-separated {what}, got {text!r} "
                                             f"({error})") from None
    return parse


def _seeds(text: str) -> list[int]:
    from tinymeta.sweep.spec import parse_range

    try:
        return parse_range(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _words(choices: tuple[str, ...] | list[str], what: str):
    def parse(text: str) -> list[str]:
        values = text.split(",")
        bad = [v for v in values if v not in choices]
        if bad:
            raise argparse.ArgumentTypeError(f"unknown {what} {', '.join(bad)}; choose from "
                                             f"{', '.join(choices)}")
        return values
    return parse


# (flag, TrainConfig field, parser, help): each gives an axis, comma-separated values
def _axis_options() -> list[tuple[str, str, Any, str]]:
    from tinymeta.meta.algorithms import ALGORITHMS
    from tinymeta.meta.training import DTYPES
    from tinymeta.nn import ACTIVATIONS

    return [
        ("--algo", "algo", _words(ALGORITHMS, "algorithm"), "algorithms, e.g. maml,fomaml"),
        ("--seeds", "seed", _seeds, "training seeds, e.g. 0-2 or 0,3,7"),
        ("--inner-lr", "inner_lr", _list_of(positive_float, "positive numbers"),
         "inner step sizes α, e.g. 0.01,0.001"),
        ("--inner-steps", "inner_steps", positive_int_list, "inner steps k, e.g. 1,5"),
        ("--meta-lr", "meta_lr", _list_of(positive_float, "positive numbers"),
         "Adam step sizes"),
        ("--meta-batch", "meta_batch", positive_int_list, "tasks per meta-step"),
        ("--shots", "shots", positive_int_list, "K: support points per training task"),
        ("--iterations", "iterations", positive_int_list, "meta-iterations"),
        ("--activation", "activation", _words(sorted(ACTIVATIONS), "activation"),
         "nonlinearities"),
        ("--dtype", "dtype", _words(DTYPES, "dtype"), "float32 and/or float64"),
    ]


def arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", type=Path, nargs="?", default=None,
                   help="a .toml or .json sweep spec: [axes], [train], [evaluate], [[override]] "
                        "(see docs/sweeps.md); optional when the axes are given as flags")
    p.add_argument("--out", type=directory, required=True, metavar="DIR",
                   help="the sweep directory: one subdirectory per run, and the results "
                        "(required: there is no default)")
    axes = p.add_argument_group("axes (each a comma-separated list; replaces the spec's)")
    for flag, field, kind, text in _axis_options():
        axes.add_argument(flag, type=kind, default=None, dest=f"axis_{field}", metavar="LIST",
                          help=f"{text} (default: the spec's, else TrainConfig's)")
    axes.add_argument("--hidden", type=layer_widths, default=None, metavar="WIDTHS",
                      help="hidden layer widths of every run, e.g. 40,40 (default: the "
                           "spec's, else 40,40)")
    ev = p.add_argument_group("evaluation of every run (default: the spec's)")
    ev.add_argument("--eval-shots", type=positive_int, default=None,
                    help="support points (default: the spec's, else 5)")
    ev.add_argument("--eval-steps", type=positive_int_list, default=None,
                    help="adaptation step counts (default: the spec's, else 1,5,10)")
    ev.add_argument("--eval-tasks", type=positive_int, default=None,
                    help="new tasks (default: the spec's, else 600)")
    ev.add_argument("--eval-seed", type=non_negative_int, default=None,
                    help="seed of the evaluation tasks, the same for every run (default: the "
                         "spec's, else 1000)")
    where = p.add_argument_group("where the runs execute")
    where.add_argument("--workers", type=positive_int, default=None, metavar="N",
                       help="runs at once on the local pool (default: this machine's cores)")
    where.add_argument("--dask", default=None, metavar="ADDRESS",
                       help="run on the Dask scheduler at ADDRESS, e.g. tcp://host:8786, or "
                            "the one a scheduler file (.json) names (needs pip install "
                            "'tinymeta[dask]'; default: the local pool)")
    p.add_argument("--checkpoint-every", type=positive_int, default=1000, metavar="N",
                   help="each run writes a checkpoint every N iterations")
    p.add_argument("--checkpoint-seconds", type=positive_float, default=60.0, metavar="S",
                   help="... and at least every S seconds")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--no-plot", action="store_true", help="do not draw mse_vs_steps.png")


def _sweep(args: argparse.Namespace) -> Any:
    from dataclasses import replace

    from tinymeta.sweep.spec import SpecError, Sweep, load_spec

    flags = {field: getattr(args, f"axis_{field}") for _, field, _, _ in _axis_options()
             if getattr(args, f"axis_{field}") is not None}
    if args.spec is None and not flags:
        raise UsageError("tinymeta sweep: error: give a SPEC file, or the axes as flags "
                         "(--algo maml,fomaml --seeds 0-2 ...)")
    try:
        sweep = load_spec(args.spec) if args.spec is not None else Sweep({})
        axes = {**sweep.axes, **flags}
        train = {k: v for k, v in sweep.train.items() if k not in flags}
        if args.hidden is not None:
            axes.pop("hidden", None)
            train["hidden"] = list(args.hidden)
        evaluation = sweep.evaluation
        changes = {k: getattr(args, f"eval_{k}") for k in ("shots", "tasks", "seed")
                   if getattr(args, f"eval_{k}") is not None}
        if args.eval_steps is not None:
            changes["steps"] = tuple(sorted(set(args.eval_steps)))
        evaluation = replace(evaluation, **changes) if changes else evaluation
        return Sweep(axes, train, evaluation, sweep.overrides)
    except SpecError as error:
        raise UsageError(f"tinymeta sweep: error: {error}") from None


def _executor(args: argparse.Namespace) -> Any:
    from tinymeta.sweep.executors import DaskCluster, ExecutorError, LocalPool

    if args.dask is not None:
        try:
            return DaskCluster(args.dask)
        except ExecutorError as error:
            raise UsageError(f"tinymeta sweep: error: {error}") from None
    return LocalPool(args.workers)


def _mse_line(outcome: dict[str, Any]) -> str:
    steps, mean = outcome["steps"], outcome["mean"]
    shown = [k for k in steps if k in (1, 5, 10)] or steps[-3:]
    values = "/".join("diverged" if mean[steps.index(k)] is None
                      else f"{mean[steps.index(k)]:.3f}" for k in shown)
    return f"MSE after {'/'.join(map(str, shown))} steps {values}"


def run(args: argparse.Namespace) -> int:
    """Run the sweep (see the module docstring); return the exit status."""
    from tinymeta.meta.training import estimate_memory
    from tinymeta.sweep.driver import SweepConflict, plan, run_sweep
    from tinymeta.sweep.report import RESULTS_MD, write_report

    sweep = _sweep(args)
    if args.dask is not None and args.workers is not None:
        raise UsageError("tinymeta sweep: error: --workers sizes the local pool; with --dask "
                         "the cluster's workers run the sweep (leave out one)")
    out: Path = args.out
    if out.exists() and not out.is_dir():
        raise UsageError(f"tinymeta sweep: error: --out {out} is a file, not a directory")
    try:
        runs, finished = plan(sweep, out)
    except SweepConflict as error:
        raise UsageError(f"tinymeta sweep: error: {error}") from None
    if not runs:
        raise UsageError("tinymeta sweep: error: the spec makes no runs")
    todo = [r for r in runs if r.name not in finished]
    if todo and args.dask is None:  # the local pool's runs share this machine's memory
        from tinymeta.sweep.executors import local_workers

        biggest = max(todo, key=lambda r: sum(estimate_memory(r.config).values()))
        at_once = min(args.workers or local_workers(), len(todo))
        check_fits("sweep", {f"{k} (× {at_once} runs at once)": v * at_once
                             for k, v in estimate_memory(biggest.config).items()})
    executor = _executor(args) if todo else None
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        if executor is not None:
            executor.close()
        raise UsageError(f"tinymeta sweep: error: cannot use --out {out}: "
                         f"{error.strerror or error}") from None
    where = executor.description if executor is not None else "nothing to run"
    print(f"tinymeta sweep: {len(runs)} runs, {len(finished)} already complete (skipped); "
          f"{len(todo)} to run on {where}; files in {out}", file=sys.stderr, flush=True)

    bar, write = _progress(len(runs), len(finished), not args.no_progress)
    counter = [len(finished)]
    start = time.perf_counter()

    def on_done(outcome: dict[str, Any]) -> None:
        counter[0] += 1
        head = f"[{counter[0]}/{len(runs)}] {outcome['name']}:"
        if outcome["status"] == "done":
            retried = outcome.get("attempts", 1)
            note = f" (attempt {retried}, resumed from its checkpoint)" if retried > 1 else ""
            write(f"{head} done, trained in {outcome['train_seconds']:.1f} s{note}; "
                  f"{_mse_line(outcome)}")
        else:
            write(f"{head} FAILED: {outcome.get('error')}")
        if bar is not None:
            bar.update(1)

    try:
        _, outcomes = run_sweep(sweep, out, executor, on_done, args.checkpoint_every,
                                args.checkpoint_seconds) if executor is not None else \
            (runs, finished)
    finally:
        if bar is not None:
            bar.close()
        if executor is not None:
            executor.close()
    written = write_report(sweep, runs, outcomes, out.resolve(), draw=not args.no_plot)
    failed = [o for o in outcomes.values() if o.get("status") != "done"]
    print(f"sweep: {len(runs) - len(failed)} of {len(runs)} runs done in "
          f"{time.perf_counter() - start:.1f} s; wrote "
          f"{', '.join(str(out / p.name) for p in written)}")
    if failed:
        print(f"tinymeta sweep: error: {len(failed)} of {len(runs)} runs failed (listed in "
              f"{out / RESULTS_MD}); run the same command again to retry them",
              file=sys.stderr)
        return 1
    return 0


def _progress(total: int, initial: int, enabled: bool) -> tuple[Any, Any]:
    """(tqdm bar or None, a function that prints a line above it)."""
    def plain(line: str) -> None:
        print(line, flush=True)

    if not enabled:
        return None, plain
    try:
        from tqdm import tqdm
    except ImportError:
        print("tinymeta sweep: note: tqdm is not installed, so there is no progress bar "
              "(pip install 'tinymeta[cli]')", file=sys.stderr)
        return None, plain
    bar = tqdm(total=total, initial=initial, desc="sweep", unit="run", dynamic_ncols=True,
               bar_format="{desc}: {n}/{total} runs |{bar}| {elapsed} elapsed, "
                          "{remaining} remaining")

    def write(line: str) -> None:
        bar.write(line, file=sys.stdout)

    return bar, write
