"""Where the runs of a sweep execute: a local pool of processes, or a Dask cluster.

An executor has one job: ``submit(job)`` starts a run somewhere and returns a
``concurrent.futures.Future`` whose result is the run's outcome (the dict that
``tinymeta.sweep.worker.run_safely`` returns). The driver waits on those
futures and knows nothing else about where they run, so adding an engine (Ray:
``ray.remote(run_safely).remote(...).future()``) is one more small class here.

``LocalPool`` (the default) keeps ``workers`` runs going at once. Each slot is
a ``python -m tinymeta.sweep.worker`` process of its own that is handed runs as
JSON, one line each, and answers each with one line. Separate processes buy
isolation: a process that is killed (by a person, the OOM killer, a crash)
takes only its own run with it, and the pool starts a new process and gives it
that run again, up to ``retries`` times; the new attempt resumes from the run's
last checkpoint.

``DaskCluster`` submits the same function to an existing ``distributed``
scheduler (``dask-scheduler`` + ``dask-worker``, or any cluster a user already
has). The scheduler does the retrying there: when a worker dies, its tasks go to
another worker (up to ``distributed.scheduler.allowed-failures`` times). The
worker returns the bytes of the run's files, so a cluster without a shared file
system still brings the results home. ``distributed`` is an optional extra
(``pip install 'tinymeta[dask]'``), imported only here, only when asked for.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol

__all__ = ["Executor", "LocalPool", "DaskCluster", "ExecutorError", "local_workers"]


class ExecutorError(RuntimeError):
    """An executor that cannot start (no such scheduler, distributed not installed)."""


class Executor(Protocol):
    workers: int  # runs that can go at once
    description: str  # for the progress line: "a local pool of 2 processes"

    def submit(self, job: dict[str, Any]) -> Future: ...

    def close(self) -> None: ...


def local_workers() -> int:
    """The cores this process may use (a container's or taskset's limit included)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


class LocalPool:
    """``workers`` runs at once, each slot one worker process (see the module docstring)."""

    def __init__(self, workers: int | None = None, retries: int = 2) -> None:
        self.workers = workers or local_workers()
        self.retries = retries
        self.description = (f"a local pool of {self.workers} process"
                             f"{'es' if self.workers > 1 else ''}")
        self._threads = ThreadPoolExecutor(self.workers, thread_name_prefix="tinymeta-sweep")
        self._slot = threading.local()  # each thread's worker process
        self._processes: set[subprocess.Popen] = set()
        self._closed = False  # after close(), a process that dies is not started again
        # each run is one process; BLAS threads on top would oversubscribe the cores
        self._env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                     "MKL_NUM_THREADS": "1"}

    def submit(self, job: dict[str, Any]) -> Future:
        return self._threads.submit(self._run, {**job, "return_files": False})

    def _process(self) -> subprocess.Popen:
        """This thread's worker process, started if it has none or it has died."""
        proc = getattr(self._slot, "proc", None)
        if proc is None or proc.poll() is not None:
            stderr = tempfile.TemporaryFile(mode="w+")  # a pipe nobody reads could fill up
            proc = subprocess.Popen([sys.executable, "-m", "tinymeta.sweep.worker"],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=stderr, text=True, env=self._env)
            self._slot.proc, self._slot.stderr = proc, stderr
            self._processes.add(proc)
        return proc

    def _run(self, job: dict[str, Any]) -> dict[str, Any]:
        deaths = []
        for _ in range(self.retries + 1):
            if self._closed:
                break
            proc = self._process()
            try:  # one job is one line of JSON each way
                proc.stdin.write(json.dumps(job) + "\n")
                proc.stdin.flush()
                line = proc.stdout.readline()
            except (BrokenPipeError, OSError):
                line = ""
            if line.strip():
                return json.loads(line)
            proc.wait()  # it died (the line never came): retry in a new process
            self._processes.discard(proc)
            self._slot.stderr.seek(0)
            deaths.append(_death(proc.returncode, self._slot.stderr.read()))
            self._slot.stderr.close()
        if self._closed:
            return {"name": job["run"]["name"], "key": job["run"]["key"], "status": "failed",
                    "error": "stopped: the sweep was interrupted"}
        return {"name": job["run"]["name"], "key": job["run"]["key"], "status": "failed",
                "error": f"its worker process died {len(deaths)} times ({deaths[-1]})",
                "retries": len(deaths)}

    def close(self) -> None:
        """Stop the worker processes: idle ones end when their stdin closes, busy ones (an
        interrupted sweep) are killed; their runs keep their checkpoints."""
        self._closed = True
        for proc in list(self._processes):  # only our own worker processes
            try:
                proc.stdin.close()
            except OSError:
                pass
        for proc in list(self._processes):
            try:
                proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._threads.shutdown(wait=True, cancel_futures=True)


def _death(returncode: int, stderr: str) -> str:
    if returncode < 0:
        import signal

        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    last = [line for line in stderr.strip().splitlines() if line.strip()]
    return f"exit status {returncode}" + (f": {last[-1].strip()}" if last else "")


def _looks_like_address(address: str) -> bool:
    """``scheme://host:port`` or ``host:port`` (what ``dask-scheduler`` prints), or a
    scheduler file (``scheduler.json``)."""
    if address.endswith(".json"):
        return True
    rest = address.split("://", 1)[1] if "://" in address else address
    host, _, port = rest.rpartition(":")
    return bool(host) and port.isdigit() and " " not in rest


class DaskCluster:
    """Runs on the Dask ``distributed`` scheduler at ``address`` (see the module docstring)."""

    def __init__(self, address: Any, timeout: float = 10.0) -> None:
        try:
            from distributed import Client
        except ImportError:
            raise ExecutorError("--dask needs the distributed package: pip install "
                                "'tinymeta[dask]'") from None
        if isinstance(address, str) and not _looks_like_address(address):
            raise ExecutorError(f"--dask {address!r} is not a scheduler address; expected "
                                f"one like tcp://host:8786")
        if isinstance(address, str) and address.endswith(".json") \
                and not os.path.isfile(address):
            raise ExecutorError(f"--dask {address}: no such scheduler file")
        try:
            # a Client accepts an address or a LocalCluster object (the tests pass one)
            if isinstance(address, str) and address.endswith(".json"):
                self.client = Client(scheduler_file=address, timeout=timeout,
                                     set_as_default=False)
            else:
                self.client = Client(address, timeout=timeout, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as error:
            text = " ".join(str(error).split()) or type(error).__name__
            raise ExecutorError(f"cannot reach the Dask scheduler at {address}: {text}") \
                from None
        info = self.client.scheduler_info()
        self.workers = max(1, sum(w.get("nthreads", 1) for w in info["workers"].values()))
        where = getattr(address, "scheduler_address", address)
        self.description = (f"the Dask cluster at {where} ({len(info['workers'])} workers, "
                            f"{self.workers} threads)")

    def submit(self, job: dict[str, Any]) -> Future:
        from distributed import Future as DaskFuture  # noqa: F401 (distributed is there)

        from tinymeta.sweep.worker import run_safely

        dask_future = self.client.submit(
            run_safely, job["run"], job["directory"], job["checkpoint_every"],
            job["checkpoint_seconds"], True, key=f"tinymeta-run-{job['run']['name']}-"
            f"{job['run']['key']}", pure=False)
        future: Future = Future()
        future.set_running_or_notify_cancel()

        def done(f: Any) -> None:
            try:
                future.set_result(f.result())
            except BaseException as error:  # a run the scheduler gave up on (KilledWorker)
                future.set_exception(error)

        dask_future.add_done_callback(done)
        future._dask = dask_future  # type: ignore[attr-defined]  # kept alive with ours
        return future

    def close(self) -> None:
        self.client.close()
