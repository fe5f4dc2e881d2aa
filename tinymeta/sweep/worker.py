"""What a worker does with one run: train (or resume), evaluate, write the run's files.

A worker is given the run as plain JSON (``Run.as_dict()``: the configuration,
never pickled engine state) and the absolute path of the run's directory. In
that directory it

1. notes the attempt in ``attempts.json`` (process id, host, the iteration it
   started from), so that a retried run shows that it was retried, and where;
2. resumes from ``checkpoint.npz`` if an earlier attempt left one (a worker that
   was killed), else starts at iteration 0; checkpoints as ``tinymeta train`` does;
3. writes ``params.npz`` and ``metrics.json`` (as ``tinymeta train``), then
   ``evaluation.npz`` (the MSE of every evaluation task after every step count)
   and, last, ``evaluation.json`` (the summary, with the run's key). A run is
   complete exactly when ``evaluation.json`` carries its key.

``execute`` returns the bytes of those four files, so a cluster whose workers do
not share the sweep directory still brings the results home; on one machine or
a shared file system the files are already in place and the driver only checks
them. ``run_safely`` turns any exception into a one-line error, so that one
failing run is a result to report, not the end of the sweep.

``python -m tinymeta.sweep.worker`` reads runs as lines of JSON on stdin and
prints each outcome as a line of JSON: that is a local pool's worker process.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["execute", "run_safely", "read_outcome", "EVALUATION_FILE", "RESULT_FILES",
           "ATTEMPTS_FILE"]

EVALUATION_FILE = "evaluation.json"
EVALUATION_ARRAYS = "evaluation.npz"
ATTEMPTS_FILE = "attempts.json"
RESULT_FILES = ("params.npz", "metrics.json", EVALUATION_ARRAYS, EVALUATION_FILE)
DIVERGED = 1e3  # a task whose MSE is larger than this has diverged
# A test hook: seconds to sleep after each checkpoint, so that a test can kill a worker
# while a run is in progress (tests/test_sweep_faults.py). Unset in normal use.
SLOW_ENV = "TINYMETA_TEST_SWEEP_SLOW_CHECKPOINT"


def _note_attempt(directory: Path, iteration: int) -> int:
    from tinymeta.meta.checkpoint import atomic_write

    path = directory / ATTEMPTS_FILE
    try:
        attempts = json.loads(path.read_text())
    except (OSError, ValueError):
        attempts = []
    attempts.append({"pid": os.getpid(), "host": socket.gethostname(),
                     "started_at_iteration": iteration})
    atomic_write(path, (json.dumps(attempts, indent=1) + "\n").encode())
    return len(attempts)


def execute(run: dict[str, Any], directory: str, checkpoint_every: int = 1000,
            checkpoint_seconds: float = 60.0, return_files: bool = True) -> dict[str, Any]:
    """Train and evaluate ``run`` in ``directory``; return a summary (and the files' bytes)."""
    from tinymeta.meta import checkpoint
    from tinymeta.meta.evaluate import evaluate
    from tinymeta.meta.training import TrainState, advance
    from tinymeta.sweep.spec import Run

    spec = Run.from_dict(run)
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    state = None
    if (out / checkpoint.CHECKPOINT_FILE).exists():
        try:
            saved = checkpoint.read_checkpoint(out)
            if saved.config == spec.config:
                state = saved.restore()
        except checkpoint.CheckpointError:
            state = None  # a broken checkpoint: start again, it is only lost time
    if state is None:
        state = TrainState.start(spec.config)
    attempt = _note_attempt(out, state.iteration)
    saver = checkpoint.Checkpointer(out, checkpoint_every, checkpoint_seconds)
    pause = float(os.environ.get(SLOW_ENV, "0") or 0)

    def save(s: Any) -> None:
        before = saver.last_iteration
        saver(s)
        if pause and saver.last_iteration != before and s.iteration > 1:
            time.sleep(pause)

    advance(state, checkpoint=save)
    result = state.result()
    checkpoint.save_run(out, result)
    (out / checkpoint.CHECKPOINT_FILE).unlink(missing_ok=True)

    start = time.perf_counter()
    settings = spec.evaluation
    ev = evaluate(result.params, result.inner_lr, settings.shots, settings.steps,
                  settings.tasks, settings.seed, settings.query, spec.config.activation)
    eval_seconds = time.perf_counter() - start
    checkpoint.atomic_write(out / EVALUATION_ARRAYS,
                            checkpoint.npz_bytes({"steps": np.array(ev.steps),
                                                  "per_task_mse": ev.per_task}))
    with np.errstate(invalid="ignore"):
        summary = {
            "name": spec.name, "key": spec.key, "status": "done",
            "train": spec.config.as_dict(), "evaluate": settings.as_dict(), "axes": spec.axes,
            "steps": ev.steps, "mean": _finite(ev.mean), "ci95": _finite(ev.ci95),
            "median": _finite([float(np.median(m)) for m in ev.per_task]),
            "diverged_tasks": [int(np.sum(~(m < DIVERGED))) for m in ev.per_task],
            "train_seconds": result.seconds, "eval_seconds": eval_seconds,
            "attempts": attempt,
        }
    checkpoint.atomic_write(out / EVALUATION_FILE,
                            (json.dumps(summary, indent=1) + "\n").encode())
    if return_files:
        summary["files"] = {name: (out / name).read_bytes() for name in RESULT_FILES}
    return summary


def _finite(values: list[float]) -> list[float | None]:
    return [float(v) if np.isfinite(v) else None for v in values]


def _error_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def run_safely(run: dict[str, Any], directory: str, checkpoint_every: int = 1000,
               checkpoint_seconds: float = 60.0, return_files: bool = True) -> dict[str, Any]:
    """``execute``, with an exception turned into ``{"status": "failed", "error": line}``.

    Only a process that dies (killed, out of memory) escapes this: the executor
    retries its run, which resumes from its checkpoint.
    """
    try:
        return execute(run, directory, checkpoint_every, checkpoint_seconds, return_files)
    except Exception as error:
        if os.environ.get("TINYMETA_TRACEBACK"):
            traceback.print_exc()
        return {"name": run.get("name"), "key": run.get("key"), "status": "failed",
                "error": _error_line(error)}


def read_outcome(directory: str | Path, key: str) -> dict[str, Any] | None:
    """The summary of the complete run with ``key`` in ``directory``, or None."""
    directory = Path(directory)
    try:
        summary = json.loads((directory / EVALUATION_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(summary, dict) or summary.get("key") != key:
        return None
    if not all((directory / name).is_file() for name in RESULT_FILES):
        return None
    return summary


def main() -> int:
    """Runs until stdin closes: one job as a line of JSON in, its outcome as a line out."""
    from tinymeta.cli import malloc_tuning

    malloc_tuning.tune()  # this process is the pool's own: keep numpy's buffers in the heap
    try:
        for line in sys.stdin:
            job = json.loads(line)
            outcome = run_safely(job["run"], job["directory"], job["checkpoint_every"],
                                 job["checkpoint_seconds"], return_files=False)
            sys.stdout.write(json.dumps(outcome) + "\n")
            sys.stdout.flush()
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group; the checkpoint stays
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
