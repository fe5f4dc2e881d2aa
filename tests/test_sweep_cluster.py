"""`tinymeta sweep` on a real Dask cluster, and with a worker process killed mid-run.

- The tiny sweep on a ``distributed.LocalCluster`` (2 worker processes, one thread
  each, the scheduler in this process, loopback only) writes the same results.csv
  and results.md, byte for byte, as on the local pool, and the same runs.csv apart
  from the timings.
- Ctrl-C (SIGINT to the process group) stops a sweep with status 130 and one line; the
  same command then finishes it, resuming from the checkpoints.
- A worker process is killed (SIGKILL) while it trains a run, on the local pool and
  on the cluster: the sweep still ends with every run done exactly once (one
  attempt each, two for the killed run, the second resumed from its checkpoint)
  and the killed run's params.npz is byte-identical to the uninterrupted one.

A test hook (``TINYMETA_TEST_SWEEP_SLOW_CHECKPOINT``) makes each run pause after
every checkpoint, so that there is a run in progress to kill. The tests that need
``distributed`` skip, saying so, where it is not installed.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from pathlib import Path

import pytest
from sweep_helpers import attempts, runs_table, write_spec

from tinymeta.cli import main
from tinymeta.sweep.worker import SLOW_ENV

PAUSE = "0.4"  # seconds after each checkpoint (every 10 of 40 iterations)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The tiny sweep on the local pool, uninterrupted: its directory."""
    base = tmp_path_factory.mktemp("reference")
    out = base / "sweep"
    assert main(["sweep", str(write_spec(base)), "--out", str(out), "--workers", "2",
                 "--no-progress"]) == 0
    return out


@pytest.fixture(scope="module")
def cluster():
    """A 2-worker LocalCluster on 127.0.0.1 whose workers have the slow-checkpoint hook."""
    distributed = pytest.importorskip(
        "distributed", reason="distributed is not installed (pip install 'tinymeta[dask]'), "
                              "so the Dask executor is not tested here")
    previous = os.environ.get(SLOW_ENV)
    os.environ[SLOW_ENV] = PAUSE  # the worker processes inherit it
    try:
        local = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                         host="127.0.0.1", dashboard_address=None,
                                         silence_logs=logging.ERROR)
    finally:
        if previous is None:
            del os.environ[SLOW_ENV]
        else:
            os.environ[SLOW_ENV] = previous
    yield local
    local.close()


def test_a_dask_cluster_gives_the_same_tables(reference, cluster, tmp_path):
    out = tmp_path / "sweep"
    assert main(["sweep", str(write_spec(tmp_path)), "--out", str(out), "--dask",
                 cluster.scheduler_address, "--no-progress"]) == 0
    for name in ("results.csv", "results.md"):
        assert (out / name).read_bytes() == (reference / name).read_bytes(), name
    assert runs_table(out) == runs_table(reference)
    for row in runs_table(reference):
        assert (out / row["name"] / "params.npz").read_bytes() == \
            (reference / row["name"] / "params.npz").read_bytes()
    # the runs ran in the cluster's worker processes, not here
    pids = {attempts(out / row["name"])[0]["pid"] for row in runs_table(out)}
    assert os.getpid() not in pids and 1 <= len(pids) <= 2


def _sweep_and_kill(argv: list[str], out: Path) -> tuple[int, str]:
    """Run ``tinymeta sweep argv`` in a thread; SIGKILL the process training the first run
    that has a checkpoint; return (exit status, name of the run whose worker was killed)."""
    status: list[int] = []
    thread = threading.Thread(target=lambda: status.append(main(argv)))
    thread.start()
    victim, deadline = None, time.monotonic() + 60
    while victim is None and time.monotonic() < deadline and thread.is_alive():
        for run in sorted(out.glob("*/checkpoint.npz")):
            pid = attempts(run.parent)[-1]["pid"]
            assert pid != os.getpid()
            os.kill(pid, signal.SIGKILL)
            victim = run.parent.name
            break
        time.sleep(0.02)
    thread.join(120)
    assert victim is not None, "no run was caught in progress"
    assert not thread.is_alive() and status, "the sweep did not finish"
    return status[0], victim


def _every_run_done_once(out: Path, reference: Path, victim: str) -> None:
    rows = runs_table(out, drop=())
    assert {r["status"] for r in rows} == {"done"}
    for row in rows:
        tries = attempts(out / row["name"])
        if row["name"] == victim:
            assert len(tries) == 2 and tries[1]["started_at_iteration"] > 0, tries
            assert tries[0]["pid"] != tries[1]["pid"]
        else:
            assert len(tries) == 1, (row["name"], tries)
        assert not (out / row["name"] / "checkpoint.npz").exists()
        assert (out / row["name"] / "params.npz").read_bytes() == \
            (reference / row["name"] / "params.npz").read_bytes()
    assert (out / "results.csv").read_bytes() == (reference / "results.csv").read_bytes()


def test_a_killed_local_worker_has_its_run_retried(reference, tmp_path, monkeypatch):
    monkeypatch.setenv(SLOW_ENV, PAUSE)
    out = tmp_path / "sweep"
    status, victim = _sweep_and_kill(["sweep", str(write_spec(tmp_path)), "--out", str(out),
                                      "--workers", "2", "--checkpoint-every", "10",
                                      "--no-progress"], out)
    assert status == 0
    _every_run_done_once(out, reference, victim)


def test_a_killed_dask_worker_has_its_run_retried(reference, cluster, tmp_path):
    out = tmp_path / "sweep"
    status, victim = _sweep_and_kill(["sweep", str(write_spec(tmp_path)), "--out", str(out),
                                      "--dask", cluster.scheduler_address,
                                      "--checkpoint-every", "10", "--no-progress"], out)
    assert status == 0
    _every_run_done_once(out, reference, victim)


def test_ctrl_c_stops_the_sweep_and_a_restart_finishes_it(reference, tmp_path):
    """SIGINT to the sweep's process group (Ctrl-C in a terminal): status 130, one line,
    no traceback, the checkpoints stay; the same command then finishes every run."""
    import subprocess
    import sys

    out = tmp_path / "sweep"
    argv = [sys.executable, "-m", "tinymeta.cli", "sweep", str(write_spec(tmp_path)), "--out",
            str(out), "--workers", "2", "--checkpoint-every", "10", "--no-progress"]
    proc = subprocess.Popen(argv, env={**os.environ, SLOW_ENV: PAUSE}, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True,  # a process group of its own, as a shell's
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 60
    while not list(out.glob("*/checkpoint.npz")) and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert err.strip().splitlines()[-1] == "tinymeta: interrupted" and "Traceback" not in err
    assert list(out.glob("*/checkpoint.npz"))
    finished = subprocess.run(argv, text=True, capture_output=True, timeout=120)
    assert finished.returncode == 0, finished.stderr
    assert "resumed from its checkpoint" in finished.stdout
    assert (out / "results.csv").read_bytes() == (reference / "results.csv").read_bytes()
