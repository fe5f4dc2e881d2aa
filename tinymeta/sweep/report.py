"""A sweep's results as one table (CSV and markdown) and one plot, from the runs' files.

A *configuration* is a point on every axis but the seed; its runs are the seeds.
For each configuration and each number of adaptation steps k:

- **mean**: the mean query MSE over the evaluation tasks, averaged over the seeds;
- **± 95%**: the half-width of the 95% confidence interval over tasks
  (1.96 · standard error), averaged over the seeds, as in ``docs/results.md``;
- **median**: the median over the tasks of all seeds together (from each run's
  ``evaluation.npz``): a few diverging tasks move a mean, not a median.

In the markdown, a mean above 1000 (``DIVERGED``, as in ``docs/results.md``) is
shown as "diverged", with its median; ``results.csv`` keeps every number.

Files written in the sweep directory:

    results.csv     one row per (configuration, k): full precision, for scripts
    results.md      one row per configuration; the failed runs with their error lines
    runs.csv        one row per run: status, attempts, seconds, error
    mse_vs_steps.png  MSE against adaptation steps, one line per configuration

``results.csv`` and ``results.md`` hold no timings, so the same sweep gives the
same bytes on any executor; the seconds are in ``runs.csv``.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import numpy as np

from tinymeta.meta.checkpoint import atomic_write
from tinymeta.sweep.spec import Run, Sweep
from tinymeta.sweep.worker import DIVERGED, EVALUATION_ARRAYS

__all__ = ["Cell", "cells", "write_report", "RESULTS_CSV", "RESULTS_MD", "RUNS_CSV", "PLOT"]

RESULTS_CSV, RESULTS_MD, RUNS_CSV, PLOT = ("results.csv", "results.md", "runs.csv",
                                           "mse_vs_steps.png")


class Cell:
    """One configuration: its runs' outcomes, and the statistics over them."""

    def __init__(self, axes: dict[str, Any], runs: list[Run], outcomes: list[dict[str, Any]],
                 out: Path) -> None:
        self.axes, self.runs = axes, runs
        self.done = [o for o in outcomes if o.get("status") == "done"]
        self.failed = [o for o in outcomes if o.get("status") != "done"]
        self.steps: list[int] = self.done[0]["steps"] if self.done else []
        per_task = []
        for outcome in self.done:
            with np.load(out / outcome["name"] / EVALUATION_ARRAYS, allow_pickle=False) as f:
                per_task.append(f["per_task_mse"])
        self.per_task = np.concatenate(per_task, axis=1) if per_task else None

    def stats(self, step: int) -> tuple[float, float, float]:
        """(mean, ± 95% half-width, median) after ``step`` steps; inf if a run diverged."""
        i = self.steps.index(step)
        means = [o["mean"][i] for o in self.done]
        cis = [o["ci95"][i] for o in self.done]
        if any(m is None for m in means):
            mean = ci = float("inf")
        else:
            mean, ci = float(np.mean(means)), float(np.mean([c or 0.0 for c in cis]))
        with np.errstate(invalid="ignore"):
            median = float(np.median(self.per_task[i]))
        return mean, ci, median

    def label(self) -> str:
        return " ".join(f"{v}" if k == "algo" else f"{k}={_shown(v)}" for k, v in
                        self.axes.items())


def _shown(value: Any) -> str:
    return ",".join(map(str, value)) if isinstance(value, list) else f"{value}"


def cells(sweep: Sweep, runs: list[Run], outcomes: dict[str, dict[str, Any]],
          out: Path) -> list[Cell]:
    names = sweep.configurations()
    groups: dict[str, tuple[dict[str, Any], list[Run]]] = {}
    for run in runs:
        axes = {n: run.axes[n] for n in names}
        groups.setdefault(repr(axes), (axes, []))[1].append(run)
    return [Cell(axes, members, [outcomes[r.name] for r in members if r.name in outcomes], out)
            for axes, members in groups.values()]


def _number(x: float) -> str:
    return repr(float(x)) if np.isfinite(x) else ("diverged" if x == float("inf") else "nan")


def _csv(rows: list[list[Any]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue().encode()


def results_csv(sweep: Sweep, table: list[Cell]) -> bytes:
    names = sweep.configurations()
    rows: list[list[Any]] = [[*names, "steps", "runs", "failed", "mse_mean", "mse_ci95",
                              "mse_median"]]
    for cell in table:
        axes = [_shown(cell.axes[n]) for n in names]
        if not cell.done:
            rows.append([*axes, "", 0, len(cell.failed), "", "", ""])
        for step in cell.steps:
            mean, ci, median = cell.stats(step)
            rows.append([*axes, step, len(cell.done), len(cell.failed), _number(mean),
                         _number(ci) if np.isfinite(mean) else "", _number(median)])
    return _csv(rows)


def report_steps(steps: list[int]) -> list[int]:
    """The step counts shown in the markdown table: all of them if few, else 0, 1, 5, 10
    (those evaluated) and the last."""
    if len(steps) <= 4:
        return steps
    return sorted({s for s in steps if s in (0, 1, 5, 10)} | {steps[-1]})


def _md_cell(mean: float, ci: float, median: float) -> str:
    # as docs/results.md: a mean past DIVERGED is a few diverged tasks, not a typical MSE
    if not mean < DIVERGED:
        return f"diverged (median {median:.3f})" if median < DIVERGED else "diverged"
    return f"{mean:.3f} ± {ci:.3f} (median {median:.3f})"


def results_markdown(sweep: Sweep, runs: list[Run], table: list[Cell],
                     outcomes: dict[str, dict[str, Any]]) -> str:
    names = sweep.configurations()
    ev = sweep.evaluation
    seeds = sweep.axes.get("seed", [runs[0].config.seed] if runs else [])
    steps = report_steps(next((c.steps for c in table if c.steps), [0, *ev.steps]))
    fixed = {k: _shown(v) for k, v in sweep.train.items()}
    lines = [
        "# Sweep results", "",
        f"{len(runs)} runs: {len(table)} configurations × seeds {_shown(seeds)}"
        + (f"; fixed: {', '.join(f'{k}={v}' for k, v in fixed.items())}" if fixed else "")
        + ".", "",
        f"Evaluation: the same {ev.tasks} new tasks for every run (seed {ev.seed}), {ev.shots} "
        f"support points each, MSE on {ev.query} query points after k SGD steps. Cells: the "
        "mean MSE over tasks, averaged over seeds ± the 95% confidence half-width over tasks "
        "(1.96 · standard error, averaged over seeds); in brackets the median over the tasks "
        "of all seeds.", "",
        "| " + " | ".join([*names, "runs", *(f"{k} step{'s' if k != 1 else ''}"
                                           for k in steps)]) + " |",
        "|" + "---|" * (len(names) + 1 + len(steps)),
    ]
    for cell in table:
        count = f"{len(cell.done)}" + (f" ({len(cell.failed)} failed)" if cell.failed else "")
        stats = [_md_cell(*cell.stats(k)) if cell.done else "—" for k in steps]
        lines.append("| " + " | ".join([*(_shown(cell.axes[n]) for n in names), count, *stats])
                     + " |")
    failed = [outcomes[r.name] for r in runs if outcomes.get(r.name, {}).get("status") == "failed"]
    if failed:
        lines += ["", "## Failed runs", ""]
        lines += [f"- `{o['name']}`: {o.get('error', 'unknown error')}" for o in failed]
    missing = [r.name for r in runs if r.name not in outcomes]
    if missing:
        lines += ["", f"Not run (the sweep was stopped): {', '.join(missing)}."]
    return "\n".join(lines) + "\n"


def runs_csv(runs: list[Run], outcomes: dict[str, dict[str, Any]]) -> bytes:
    axes = list(runs[0].axes) if runs else []
    rows: list[list[Any]] = [["name", "key", *axes, "status", "attempts", "train_seconds",
                              "eval_seconds", "error"]]
    for run in runs:
        o = outcomes.get(run.name, {"status": "not run"})
        seconds = [f"{o[k]:.3f}" if isinstance(o.get(k), float) else "" for k in
                   ("train_seconds", "eval_seconds")]
        rows.append([run.name, run.key, *(_shown(run.axes[a]) for a in axes), o["status"],
                     o.get("attempts", o.get("retries", "")), *seconds, o.get("error", "")])
    return _csv(rows)


def plot(table: list[Cell], path: Path) -> Path:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("the plot needs matplotlib: pip install 'tinymeta[cli]'") from None
    from tinymeta.meta.plots import log_scale

    fig = Figure(figsize=(6.4, 4.0), layout="constrained")
    ax = fig.add_subplot()
    for i, cell in enumerate(c for c in table if c.done):
        stats = np.array([cell.stats(k) for k in cell.steps])
        mean, ci = stats[:, 0], stats[:, 1]
        mean[~np.isfinite(mean)] = np.nan  # diverged: not drawn
        ax.errorbar(cell.steps, mean, yerr=ci, marker="o", ms=3, capsize=2, color=f"C{i % 10}",
                    ls="-" if i < 10 else "--", label=cell.label() or "all runs")
    ax.set_xlabel("adaptation steps at test time")
    ax.set_ylabel("query MSE")
    log_scale(ax)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, ncol=2 if len(table) > 6 else 1)
    ax.set_title("MSE after k steps (mean over seeds, 95% CI)")
    fig.savefig(path, dpi=110)
    return path


def write_report(sweep: Sweep, runs: list[Run], outcomes: dict[str, dict[str, Any]],
                 out: Path, draw: bool = True, stem: str = "results") -> list[Path]:
    """Write the tables (and the plot, if ``draw`` and matplotlib is there); return the paths.

    ``stem`` names the results table (``results.csv``, ``results.md``): a script
    that writes a page of its own beside them can choose another."""
    table = cells(sweep, runs, outcomes, out)
    written = []
    for name, data in ((f"{stem}.csv", results_csv(sweep, table)),
                       (f"{stem}.md", results_markdown(sweep, runs, table, outcomes).encode()),
                       (RUNS_CSV, runs_csv(runs, outcomes))):
        written.append(atomic_write(out / name, data))
    if draw and any(c.done for c in table):
        try:
            written.append(plot(table, out / PLOT))
        except ImportError:
            pass
    return written
