"""Run every run of a sweep once: skip the finished ones, submit the rest, collect outcomes.

    outcomes = run_sweep(sweep, Path("runs/grid"), LocalPool())

For each run, in the order of the spec:

- ``DIR/<run name>/evaluation.json`` carries the run's key: the run is complete,
  skip it (a restarted sweep does only what is missing);
- the directory holds the files or the checkpoint of *another* configuration
  (the spec changed but the names did not): refuse before anything starts, rather
  than mix two sweeps in one table;
- otherwise submit it; a checkpoint left by an interrupted attempt is resumed.

When an outcome arrives, the files the worker sent (a cluster without a shared
file system) are written into the run's directory, atomically; ``on_done`` is
called with the outcome, so that the command line can print one line per run and
move its progress bar. A run that failed is an outcome with its error line; the
other runs go on. ``write_manifest`` records the spec and every run's name and
key in ``DIR/sweep.json``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, wait
from pathlib import Path
from typing import Any

from tinymeta.meta import checkpoint
from tinymeta.sweep.executors import Executor
from tinymeta.sweep.spec import Run, Sweep
from tinymeta.sweep.worker import EVALUATION_FILE, read_outcome

__all__ = ["run_sweep", "plan", "SweepConflict", "MANIFEST_FILE"]

MANIFEST_FILE = "sweep.json"


class SweepConflict(ValueError):
    """The sweep directory holds something this sweep must not overwrite."""


def plan(sweep: Sweep, out: Path) -> tuple[list[Run], dict[str, dict[str, Any]]]:
    """(every run, the outcomes of those already complete, by name); raise
    ``SweepConflict`` if a run directory belongs to another configuration."""
    runs = sweep.runs()
    finished = {}
    for run in runs:
        directory = out / run.name
        if directory.exists() and not directory.is_dir():
            continue  # not ours to judge: the run will fail to write there and say so
        outcome = read_outcome(directory, run.key)
        if outcome is not None:
            finished[run.name] = outcome
            continue
        _check_foreign(directory, run)
    return runs, finished


def _check_foreign(directory: Path, run: Run) -> None:
    other = None
    try:
        summary = json.loads((directory / EVALUATION_FILE).read_text())
        if summary.get("key") != run.key:
            other = "the results"
    except (OSError, ValueError, AttributeError):
        pass
    if other is None and (directory / checkpoint.CHECKPOINT_FILE).is_file():
        try:
            if checkpoint.read_checkpoint(directory).config != run.config:
                other = "a checkpoint"
        except checkpoint.CheckpointError:
            pass  # a broken checkpoint is restarted by the worker
    if other is not None:
        raise SweepConflict(f"{directory} holds {other} of another configuration (the spec "
                            f"changed since that run); choose another --out or remove it")


def write_manifest(sweep: Sweep, runs: list[Run], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    manifest = {"spec": sweep.as_dict(),
                "runs": [{"name": r.name, "key": r.key, "axes": r.axes} for r in runs]}
    checkpoint.atomic_write(out / MANIFEST_FILE, (json.dumps(manifest, indent=1) + "\n").encode())


def run_sweep(
    sweep: Sweep, out: Path, executor: Executor,
    on_done: Callable[[dict[str, Any]], None] | None = None,
    checkpoint_every: int = 1000, checkpoint_seconds: float = 60.0,
) -> tuple[list[Run], dict[str, dict[str, Any]]]:
    """Run what is missing of ``sweep`` under ``out``; return (runs, outcome by name).

    Outcomes of runs skipped as complete carry ``"skipped": True``.
    """
    out = out.resolve()  # workers elsewhere need the whole path
    runs, outcomes = plan(sweep, out)
    for outcome in outcomes.values():
        outcome["skipped"] = True
    write_manifest(sweep, runs, out)
    pending = {}
    for run in runs:
        if run.name in outcomes:
            continue
        job = {"run": run.as_dict(), "directory": str(out / run.name),
               "checkpoint_every": checkpoint_every, "checkpoint_seconds": checkpoint_seconds}
        pending[executor.submit(job)] = run
    while pending:
        done, _ = wait(list(pending), return_when=FIRST_COMPLETED)
        for future in done:
            run = pending.pop(future)
            try:
                outcome = future.result()
            except Exception as error:  # the executor gave up on it (a cluster's KilledWorker)
                text = " ".join(str(error).split())
                outcome = {"name": run.name, "key": run.key, "status": "failed",
                           "error": f"{type(error).__name__}: {text}".rstrip(": ")}
            files = outcome.pop("files", None)
            if files:
                _bring_home(out / run.name, files)
            outcomes[run.name] = outcome
            if on_done is not None:
                on_done(outcome)
    return runs, outcomes


def _bring_home(directory: Path, files: dict[str, bytes]) -> None:
    """Write the files a worker sent, unless the same bytes are already there (one machine,
    or a shared file system); the summary last, so that it marks a complete run."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in sorted(files, key=lambda n: n == EVALUATION_FILE):
        path = directory / name
        try:
            if path.read_bytes() == files[name]:
                continue
        except OSError:
            pass
        checkpoint.atomic_write(path, files[name])
