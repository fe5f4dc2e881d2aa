"""The benchmark suite: tinymeta against a hand-written numpy floor, PyTorch, JAX and autograd.

One command runs every workload in one process and writes the results page
``docs/benchmarks.md`` and its chart ``docs/figures/benchmarks.png``:

    python benchmarks/run.py                 # the full suite (several minutes)
    python benchmarks/run.py --runs 50       # more timed runs per implementation
    python benchmarks/run.py --peers torch   # only some peers (default: all installed)
    python benchmarks/run.py --quick         # tiny sizes, few runs: a smoke test

Workloads (the MAML sinusoid setting: 1→40→40→1 ReLU MLP, meta-batch 25,
K = 10 support and 10 query points, α = 0.01):

1. the MAML and FOMAML meta-gradient, k = 1 and 5 inner steps, float32 and
   float64, by tinymeta (one task at a time and batched over tasks), the numpy
   floor (``maml_floor.py``), PyTorch eager, JAX (jit + vmap; the first call,
   which traces and compiles, is reported apart) and HIPS autograd;
2. per-op overhead: a chain of small elementwise ops, forward + backward;
3. the first-order gradient of the MLP on 10 points (``mlp_grad.py``'s problem);
4. peak memory of one meta-gradient against k.

Every implementation is first checked against tinymeta's result (1e-10 in
float64, 1e-4 in float32, relative to the gradient's size); one that
disagrees is not timed and the command exits with status 1. Timings are the
median of ``--runs`` wall-clock runs after warm-up, all implementations of a
workload interleaved in one process (a round runs each once, in a new random
order each round), and are reported as ratios to the numpy floor.
The garbage collector stays on: it is part of what a Python engine costs.
"""

from __future__ import annotations

import argparse
import ctypes
import datetime
import gc
import os
import platform
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import maml_floor
import mlp_grad
import numpy as np
import peers
from plain_maml import maml_objective_plain

import tinymeta as tm
from tinymeta.cli import malloc_tuning
from tinymeta.meta.algorithms import maml_objective
from tinymeta.meta.tasks import Sinusoid
from tinymeta.nn import mlp_init

ROOT = Path(__file__).resolve().parent.parent
FLOOR = "numpy floor"
BATCHED, LOOP = "tinymeta batched", "tinymeta task loop"
PLAIN = "tinymeta plain user code"  # batched, written with @, **, relu and mean
JIT, JIT_LOOP = "tinymeta jit", "tinymeta jit task loop"  # tm.jit of the batched / loop forms
TOLERANCE = {np.float64: 1e-10, np.float32: 1e-4}


@dataclass(frozen=True)
class Setup:
    """Sizes of one suite run (the full one, or ``--quick``)."""

    sizes: tuple[int, ...] = (1, 40, 40, 1)
    tasks: int = 25
    shots: int = 10
    inner_lr: float = 0.01
    steps: tuple[int, ...] = (1, 5)
    memory_steps: tuple[int, ...] = (1, 2, 5, 10)
    memory_repeats: int = 3  # RSS calls per point (median)
    chain: int = 100
    runs: int = 30
    warmup: int = 3


QUICK = Setup(sizes=(1, 8, 8, 1), tasks=2, shots=3, steps=(1, 2), memory_steps=(1, 2),
              chain=8, runs=3, warmup=1, memory_repeats=1)


# ---------------------------------------------------------------- measuring
def interleaved_times(fns: dict[Any, Callable[[], Any]], runs: int, warmup: int) -> dict:
    """Wall times of each function (a list per key): warm-up rounds, then ``runs`` rounds
    that each run every function once, in a new random order."""
    names = list(fns)
    order = random.Random(0)
    for _ in range(warmup):
        for name in names:
            fns[name]()
    gc.collect()
    times: dict[Any, list[float]] = {name: [] for name in names}
    clock = time.perf_counter
    for _ in range(runs):
        # shuffled, not rotated: a rotation gives each function the same predecessor in
        # every round, whose caches it inherits (eager_vs_before.py measured that bias)
        order.shuffle(names)
        for name in names:
            start = clock()
            fns[name]()
            times[name].append(clock() - start)
    return times


def time_interleaved(fns: dict[str, Callable[[], Any]], runs: int, warmup: int) -> dict:
    """Median wall time of each function over ``interleaved_times``' rounds."""
    return {name: statistics.median(t)
            for name, t in interleaved_times(fns, runs, warmup).items()}


def _libc_trim() -> Callable[[], None]:
    try:
        trim = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return lambda: None
    return lambda: trim(0)


_malloc_trim = _libc_trim()


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def rss_supported() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        _status_kb("VmHWM")
        return True
    except OSError:
        return False


def peak_rss(fn: Callable[[], Any], repeats: int = 3) -> int:
    """Bytes the resident set grows by, at its peak, during ``fn()`` (median of repeats).

    Linux only: free what malloc holds (``malloc_trim``), reset the high-water
    mark (``echo 5 > /proc/self/clear_refs``), run, read ``VmHWM − VmRSS before``.
    Sees every allocator (numpy's, PyTorch's, XLA's), at page granularity.
    """
    deltas = []
    for _ in range(repeats):
        gc.collect()
        _malloc_trim()
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        before = _status_kb("VmRSS")
        fn()
        deltas.append(_status_kb("VmHWM") - before)
    return int(statistics.median(deltas)) * 1024


def peak_traced(fn: Callable[[], Any]) -> int:
    """Peak bytes allocated through Python's allocator and numpy (``tracemalloc``)."""
    gc.collect()
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _max_error(loss: float, grads: dict, ref_loss: float, ref: dict) -> tuple[float, float]:
    """(largest difference, scale): loss and every gradient entry, against the reference."""
    err = abs(loss - ref_loss)
    scale = max(1.0, abs(ref_loss))
    for name, r in ref.items():
        r = np.asarray(r, dtype=np.float64)
        if name not in grads or np.shape(grads[name]) != r.shape:
            return float("inf"), scale
        err = max(err, float(np.max(np.abs(np.asarray(grads[name], np.float64) - r))))
        scale = max(scale, float(np.max(np.abs(r))))
    return err, scale


# ---------------------------------------------------------------- the workloads
class Suite:
    """Runs the workloads and collects the results that ``markdown`` and ``figure`` show."""

    def __init__(self, setup: Setup, peer_names: list[str], log: Callable[[str], None]):
        self.setup, self.peers, self.log = setup, peer_names, log
        self.failures: list[str] = []
        self.maml: dict[tuple, dict[str, float]] = {}  # (algo, k, dtype) -> name -> seconds
        self.compile: dict[tuple, float] = {}  # (algo, k, dtype) -> JAX first call, seconds
        self.jit_compile: dict[tuple, float] = {}  # (algo, k, dtype) -> tm.jit first call
        self.chain: dict[str, float] = {}
        self.mlp: dict[str, float] = {}
        self.memory: dict[tuple, int] = {}  # (method, name, algo, k) -> bytes
        self.memory_names: dict[str, list[str]] = {}

    def problem(self, dtype: Any) -> tuple[dict, dict]:
        # std 0.5 (not the paper's 0.01) makes the second-order terms large, so the
        # checks below would catch a wrong Hessian path; timings don't depend on values.
        params = mlp_init(list(self.setup.sizes), seed=0, std=0.5, dtype=dtype)
        batch = Sinusoid().sample(self.setup.tasks, self.setup.shots, rng=0, dtype=dtype)
        return params, batch

    def verified(self, label: str, name: str, out: tuple[float, dict], reference: tuple,
                 tolerance: float) -> bool:
        err, scale = _max_error(*out, *reference)
        ok = err <= tolerance * scale
        if not ok:
            self.failures.append(f"{label}: {name} differs from tinymeta by {err:.2e} "
                                 f"(allowed {tolerance * scale:.1e})")
            self.log(f"  FAILED check: {self.failures[-1]}")
        return ok

    def run_maml(self) -> None:
        s = self.setup
        value_and_grad = tm.value_and_grad(maml_objective)
        plain_value_and_grad = tm.value_and_grad(maml_objective_plain)
        for dtype in (np.float32, np.float64):
            params, batch = self.problem(dtype)
            for algo in ("maml", "fomaml"):
                fo = algo == "fomaml"
                for k in s.steps:
                    label = f"{algo} k={k} {np.dtype(dtype).name}"
                    value, ref = value_and_grad(params, batch, s.inner_lr, k, fo, True)
                    reference = (float(value), {n: np.asarray(g) for n, g in ref.items()})
                    fns: dict[str, Callable[[], Any]] = {
                        FLOOR: lambda p=params, b=batch, k=k, fo=fo: maml_floor.maml_meta_gradient(
                            p, b, s.inner_lr, k, fo),
                        BATCHED: lambda p=params, b=batch, k=k, fo=fo: value_and_grad(
                            p, b, s.inner_lr, k, fo, True),
                        LOOP: lambda p=params, b=batch, k=k, fo=fo: value_and_grad(
                            p, b, s.inner_lr, k, fo, False),
                        PLAIN: lambda p=params, b=batch, k=k, fo=fo: plain_value_and_grad(
                            p, b, s.inner_lr, k, fo),
                    }
                    outs = {FLOOR: lambda o: o, BATCHED: _tm_out, LOOP: _tm_out, PLAIN: _tm_out,
                            JIT: _tm_out, JIT_LOOP: _tm_out}
                    for name, batched in ((JIT, True), (JIT_LOOP, False)):
                        jitted = tm.jit(value_and_grad, static_argnums=(2, 3, 4, 5))
                        start = time.perf_counter()
                        jitted(params, batch, s.inner_lr, k, fo, batched)  # record + generate
                        if batched:
                            self.jit_compile[algo, k, dtype] = time.perf_counter() - start
                        fns[name] = lambda p=params, b=batch, k=k, fo=fo, j=jitted, bt=batched: j(
                            p, b, s.inner_lr, k, fo, bt)
                    for name in self.peers:
                        if name in peers.MAML_BUILDERS:
                            start = time.perf_counter()
                            fns[name], outs[name] = peers.MAML_BUILDERS[name](
                                params, batch, s.inner_lr, k, fo)
                            fns[name]()  # JAX: trace + compile + run
                            if name == "jax":
                                self.compile[algo, k, dtype] = time.perf_counter() - start
                    for name in list(fns):
                        if not self.verified(label, name, outs[name](fns[name]()), reference,
                                             TOLERANCE[dtype]):
                            del fns[name]
                    self.maml[algo, k, dtype] = time_interleaved(fns, s.runs, s.warmup)
                    self.log(f"  {label}: " + ", ".join(
                        f"{n} {1e3 * t:.2f} ms" for n, t in self.maml[algo, k, dtype].items()))

    def run_chain(self) -> None:
        n = self.setup.chain
        x = np.linspace(-1.0, 1.0, 10)
        fns = {FLOOR: lambda: numpy_chain(x, n), "tinymeta": lambda: _tm_chain(x, n)}
        outs = {FLOOR: lambda o: o, "tinymeta": lambda o: (float(o[0]), {"x": o[1].numpy()})}
        for name in self.peers:
            if name in peers.CHAIN_BUILDERS:
                fns[name], outs[name] = peers.CHAIN_BUILDERS[name](x, n)
        reference = outs["tinymeta"](fns["tinymeta"]())
        for name in list(fns):
            if not self.verified(f"op chain of {n}", name, outs[name](fns[name]()), reference,
                                 1e-12):
                del fns[name]
        self.chain = time_interleaved(fns, self.setup.runs * 2, self.setup.warmup)
        self.log("  op chain: " + ", ".join(f"{k} {1e6 * t / n:.1f} µs/op"
                                            for k, t in self.chain.items()))

    def run_mlp_grad(self) -> None:
        params, x, y = mlp_grad.make_problem()
        fns = {FLOOR: lambda: mlp_grad.numpy_gradient(params, x, y),
               "tinymeta": lambda: mlp_grad.tinymeta_grad(params, x, y)}
        reference = (0.0, mlp_grad.numpy_gradient(params, x, y))
        outs = {FLOOR: lambda g: (0.0, g),
                "tinymeta": lambda g: (0.0, {k: v.numpy() for k, v in g.items()})}
        for name in self.peers:
            if name in peers.MLP_GRAD_BUILDERS:
                fns[name], convert = peers.MLP_GRAD_BUILDERS[name](params, x, y)
                outs[name] = lambda o, c=convert: (0.0, c(o)[1])  # compare gradients only
        for name in list(fns):
            if not self.verified("first-order MLP gradient", name, outs[name](fns[name]()),
                                 reference, 1e-12):
                del fns[name]
        self.mlp = time_interleaved(fns, self.setup.runs * 2, self.setup.warmup)
        self.log("  MLP gradient: " + ", ".join(f"{k} {1e6 * t:.1f} µs"
                                                for k, t in self.mlp.items()))

    def run_memory(self) -> None:
        s = self.setup
        params, batch = self.problem(np.float64)
        value_and_grad = tm.value_and_grad(maml_objective)
        use_rss = rss_supported()
        traced = [FLOOR, BATCHED] + [p for p in self.peers if p == "autograd"]
        resident = ([FLOOR, BATCHED] + [p for p in self.peers if p in ("torch", "autograd")]
                    if use_rss else [])
        compiled = [p for p in self.peers if p == "jax"]
        self.memory_names = {"tracemalloc": traced, "rss": resident, "xla": compiled}
        for algo in ("maml", "fomaml"):
            fo = algo == "fomaml"
            for k in s.memory_steps:
                fns = {FLOOR: lambda k=k, fo=fo: maml_floor.maml_meta_gradient(
                           params, batch, s.inner_lr, k, fo),
                       BATCHED: lambda k=k, fo=fo: value_and_grad(
                           params, batch, s.inner_lr, k, fo, True)}
                for name in set(traced + resident) - set(fns):
                    fns[name] = peers.MAML_BUILDERS[name](params, batch, s.inner_lr, k, fo)[0]
                for fn in fns.values():
                    fn()  # warm-up: lazy initialisation, first-call caches
                for name in traced:
                    self.memory["tracemalloc", name, algo, k] = peak_traced(fns[name])
                for name in resident:
                    self.memory["rss", name, algo, k] = peak_rss(fns[name], s.memory_repeats)
                for name in compiled:
                    self.memory["xla", name, algo, k] = peers.jax_maml_memory(
                        params, batch, s.inner_lr, k, fo)
                self.log(f"  memory {algo} k={k}: " + ", ".join(
                    f"{m} {n} {b / 1e6:.2f} MB" for (m, n, a, kk), b in self.memory.items()
                    if a == algo and kk == k))


def _tm_out(out: tuple) -> tuple[float, dict]:
    value, grads = out
    return float(value), {n: g.numpy() for n, g in grads.items()}


# the op chain: sin, ·1.1, +0.1, tanh, repeated (each framework's version is in peers.py)
def _tm_chain_f(x, n):
    y = x
    for i in range(n):
        r = i % 4
        y = tm.sin(y) if r == 0 else y * 1.1 if r == 1 else y + 0.1 if r == 2 else tm.tanh(y)
    return tm.sum(y)


_tm_chain_vg = tm.value_and_grad(_tm_chain_f)


def _tm_chain(x, n):
    return _tm_chain_vg(x, n)


def numpy_chain(x: np.ndarray, n: int) -> tuple[float, dict]:
    """The op chain by hand: forward keeping what each derivative needs, backward by hand."""
    saved = []
    y = x
    for i in range(n):
        r = i % 4
        if r == 0:
            saved.append(np.cos(y))
            y = np.sin(y)
        elif r == 1:
            y = y * 1.1
        elif r == 2:
            y = y + 0.1
        else:
            y = np.tanh(y)
            saved.append(1.0 - y * y)
    g = np.ones_like(y)
    for i in reversed(range(n)):
        r = i % 4
        if r in (0, 3):
            g = g * saved.pop()
        elif r == 1:
            g = g * 1.1
    return float(np.sum(y)), {"x": g}


# ---------------------------------------------------------------- the report
def machine() -> dict[str, str]:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu = platform.processor() or cpu
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        blas = f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception:  # numpy < 1.25 has no dict mode
        blas = "?"
    try:
        rev = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
                             capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        rev = ""
    info = {
        "CPU": f"{cpu}, {os.cpu_count()} logical cores",
        "OS": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "numpy": f"{np.__version__} (BLAS: {blas})",
        "tinymeta": f"{tm.__version__}" + (f" (git {rev})" if rev else ""),
    }
    for name in peers.NAMES:
        if name in peers.VERSIONS:
            info[name] = peers.VERSIONS[name]
    if peers.torch is not None:
        threads = peers.torch.get_num_threads()
        info["torch"] += f" ({threads} intra-op thread{'s' if threads > 1 else ''})"
    env = {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_NUM_THREADS",
                                      "OMP_NUM_THREADS", "MKL_NUM_THREADS") if k in os.environ}
    if env:
        info["environment"] = ", ".join(f"{k}={v}" for k, v in env.items())
    return info


def _ms(t: float) -> str:
    return f"{1e3 * t:.3g} ms" if t >= 1e-3 else f"{1e6 * t:.3g} µs"


def _cell(t: float | None, floor: float) -> str:
    return "—" if t is None else f"{_ms(t)} · **{t / floor:.2g}×**"


def markdown(suite: Suite, setup: Setup, info: dict, load: tuple, command: str,
             elapsed: float) -> str:
    names = [FLOOR, JIT, BATCHED, PLAIN, JIT_LOOP, LOOP,
             *(p for p in suite.peers if p in peers.MAML_BUILDERS)]
    arch = "→".join(map(str, setup.sizes))
    date = datetime.date.today().isoformat()
    lines = [
        "# Benchmarks",
        "",
        f"Written by `{command}` on {date} in {elapsed / 60:.1f} minutes. Regenerate it (and "
        "`docs/figures/benchmarks.png`) with the same command from the repository root, after "
        "`pip install -e '.[bench]'` for the peers; see `benchmarks/README.md`.",
        "",
        f"Every number is the **median of {setup.runs} wall-clock runs** (after "
        f"{setup.warmup} untimed warm-up rounds) of one call; "
        "all implementations of a workload run interleaved in one process, in a new "
        "random order each run, and **bold ratios are to the hand-written numpy floor** "
        "(below 1 is faster than the floor). Before timing, every implementation's result "
        "was checked against tinymeta's (float64: 1e-10, float32: 1e-4, relative to the "
        "largest gradient entry).",
        "",
        "The eager engine against itself before the readable-core redesign (issue 11) is "
        "on its own page, [eager-vs-before.md](eager-vs-before.md), written by "
        "`benchmarks/eager_vs_before.py`.",
        "",
        "## Machine",
        "",
        *(f"- {k}: {v}" for k, v in info.items()),
        f"- load average (1 min) at the start / end of the run: {load[0]:.2f} / {load[1]:.2f}"
        " — the machine is shared, so treat differences under ~20% as noise",
        "",
    ]
    if suite.failures:
        lines += ["## Failed checks (not timed)", "", *(f"- {f}" for f in suite.failures), ""]
    skipped = {n: why for n, why in peers.SKIPPED.items()}
    for name in peers.NAMES:
        if name not in suite.peers and name not in skipped:
            skipped[name] = "not requested (`--peers`)"
    if skipped:
        lines += ["## Skipped peers", "", *(f"- {n}: {why}" for n, why in skipped.items()), ""]

    lines += [
        "## MAML sinusoid meta-gradient",
        "",
        f"One meta-gradient (loss and gradient with respect to θ) of a {arch} ReLU MLP over "
        f"a meta-batch of {setup.tasks} tasks, K = {setup.shots} support and "
        f"{setup.shots} query points, α = {setup.inner_lr}, k inner SGD steps. "
        "FOMAML's floor is its own (no Hessian-vector products).",
        "",
        "- numpy floor: `benchmarks/maml_floor.py`, forward, backward and HVPs by hand, "
        "batched over tasks;",
        "- tinymeta batched / task loop: `tm.value_and_grad(maml_objective)` with "
        "`batched=True` / `False`, on the eager engine;",
        "- tinymeta jit (task loop): the same function under `tm.jit`, after its first call "
        "(which records and generates the program: times below, next to JAX's compile);",
        "- torch: eager, `torch.autograd.grad(create_graph=True)`, batched with `bmm`, one "
        "intra-op thread by default (`--torch-threads`): the tensors are too small to gain "
        "from threads, and with 2 threads on this busy 2-core machine torch ran 3–30× slower, "
        "erratically, its OpenMP workers waiting for a core;",
        "- jax: `jit(value_and_grad)` of a `vmap` over tasks, after its first call "
        "(compile times below);",
        "- autograd: HIPS autograd, batched with `np.matmul`.",
        "",
        f"The task loop runs the same arithmetic as {setup.tasks} times as many small ops, so it "
        "measures per-op overhead; jax can beat the floor because XLA compiles the whole "
        "meta-gradient into one fused program, while the floor pays numpy's per-call cost "
        "on every small array operation.",
        "",
        "| algorithm | k | dtype | " + " | ".join(names) + " |",
        "|---|---|---|" + "---|" * len(names),
    ]
    for (algo, k, dtype), times in suite.maml.items():
        floor = times.get(FLOOR, float("nan"))
        cells = [_cell(times.get(n), floor) for n in names]
        lines.append(f"| {algo.upper()} | {k} | {np.dtype(dtype).name} | " + " | ".join(cells)
                     + " |")
    if suite.jit_compile:
        lines += [
            "",
            "The first call, paid once per shape, dtype, memory layout and k: tinymeta "
            "jit's records the function, generates the program and checks it against the "
            "eager engine on "
            "other arguments; JAX's traces, compiles with XLA and runs:",
            "",
            "| algorithm | k | dtype | tinymeta jit | jax |",
            "|---|---|---|---|---|",
            *(f"| {a.upper()} | {k} | {np.dtype(d).name} | {1e3 * t:.0f} ms | "
              + (f"{suite.compile[a, k, d]:.2f} s |" if (a, k, d) in suite.compile else "— |")
              for (a, k, d), t in suite.jit_compile.items()),
        ]

    n = setup.chain
    lines += [
        "",
        "## Per-op overhead",
        "",
        f"A chain of {n} elementwise ops on a 10-element float64 vector (sin, ×1.1, +0.1, tanh, "
        "repeated), then a sum; value and gradient. Time per op = median time / "
        f"{n}, forward and backward together. The numpy floor is the same chain with its "
        "derivative written out by hand.",
        "",
        "| implementation | per op | ratio to numpy |",
        "|---|---|---|",
    ]
    floor = suite.chain.get(FLOOR, float("nan"))
    lines += [f"| {name} | {1e6 * t / n:.2f} µs | **{t / floor:.2g}×** |"
              for name, t in suite.chain.items()]
    floor = suite.mlp.get(FLOOR, float("nan"))
    lines += [
        "",
        "## First-order MLP gradient",
        "",
        "The gradient of the mean squared error of a 1→40→40→1 ReLU MLP on 10 points with "
        "respect to its six parameter arrays, float64 (`benchmarks/mlp_grad.py`'s problem; "
        "tinymeta and the numpy floor are that script's functions).",
        "",
        "| implementation | median | ratio to numpy |",
        "|---|---|---|",
        *(f"| {name} | {_ms(t)} | **{t / floor:.2g}×** |" for name, t in suite.mlp.items()),
    ]
    lines += _memory_lines(suite, setup)
    lines += _target_lines(suite, setup)
    lines += ["", "![benchmark ratios](figures/benchmarks.png)", ""]
    return "\n".join(lines)


def _slope(suite: Suite, method: str, name: str, algo: str, ks: tuple[int, ...]) -> float:
    peaks = [suite.memory[method, name, algo, k] for k in ks]
    return float(np.polyfit(ks, peaks, 1)[0]) if len(ks) > 1 else float("nan")


def _memory_lines(suite: Suite, setup: Setup) -> list[str]:
    ks = setup.memory_steps
    lines = [
        "",
        "## Peak memory against k",
        "",
        f"One float64 meta-gradient, {setup.tasks} tasks, K = {setup.shots}, measured after a "
        "warm-up call, three ways:",
        "",
        "- **tracemalloc**: the peak of what was allocated through Python and numpy during "
        "the call (exact, but blind to PyTorch's and XLA's allocators, so numpy-based "
        "implementations only);",
        "- **RSS**: how far the process's resident set rose above its level before the call "
        "(Linux: `malloc_trim(0)`, reset the high-water mark with `/proc/self/clear_refs`, "
        "read `VmHWM`); sees every allocator at 4 kB page granularity, but also the "
        f"allocator's own slack; median of {setup.memory_repeats} calls. The measure for torch, "
        "whose CPU allocator keeps no memory statistics (torch runs with the same "
        "intra-op threads as in the timings);",
        "- **XLA** (jax only): the bytes XLA's compiler assigns to one compiled call's "
        "temporaries and outputs (`jit(...).lower(...).compile().memory_analysis()`). XLA "
        "plans every buffer at compile time; the resident set barely moves when a compiled "
        "jax function runs (under 0.5 MB at every k in our runs, presumably memory its runtime "
        "already holds), so RSS cannot measure it.",
        "",
        "Growth per step is the least-squares slope over k.",
        "",
    ]
    for method, title in (("tracemalloc", "tracemalloc"), ("rss", "RSS"), ("xla", "XLA")):
        names = suite.memory_names.get(method, [])
        if not names:
            if method == "rss":
                lines += ["(RSS: `/proc/self/clear_refs` is not writable here; not measured.)",
                          ""]
            continue
        cols = [(n, a) for a in ("maml", "fomaml") for n in names]
        lines += [
            f"**{title}** (MB)",
            "",
            "| k | " + " | ".join(f"{a.upper()} {n}" for n, a in cols) + " |",
            "|---|" + "---|" * len(cols),
        ]
        for k in ks:
            lines.append(f"| {k} | " + " | ".join(
                f"{suite.memory[method, n, a, k] / 1e6:.2f}" for n, a in cols) + " |")
        lines.append("| growth per step | " + " | ".join(
            f"{_slope(suite, method, n, a, ks) / 1e6:.3f}" for n, a in cols) + " |")
        lines.append("")
    return lines


def _target_lines(suite: Suite, setup: Setup) -> list[str]:
    """The speed and memory targets of issues 10-12, measured."""
    lines = ["## Targets", "", "| target | measured | met |", "|---|---|---|"]

    def row(target: str, value: float | None, fmt: str, ok: bool | None) -> None:
        shown = "—" if value is None or np.isnan(value) else fmt.format(value)
        lines.append(f"| {target} | {shown} | {'—' if ok is None else 'yes' if ok else 'NO'} |")

    def ratio(algo: str, k: int, name: str, to: str = FLOOR) -> float | None:
        times = suite.maml.get((algo, k, np.float32), {})
        return times[name] / times[to] if name in times and to in times else None

    k1, k_most = min(setup.steps), max(setup.steps)
    for algo, k, limit in (("maml", k1, 0.7), ("maml", k_most, 0.9), ("fomaml", k1, 0.7)):
        value = ratio(algo, k, JIT)
        row(f"{algo.upper()} k={k} float32, tinymeta jit / numpy floor ≤ {limit} (issue 12)",
            value, "{:.2f}×", None if value is None else value <= limit)
    value = ratio("maml", k1, JIT_LOOP)
    row(f"MAML k={k1} float32, jit task loop / numpy floor ≤ 5 (issue 12)", value, "{:.2f}×",
        None if value is None else value <= 5)
    for algo in ("maml", "fomaml"):
        value = ratio(algo, k1, PLAIN, "torch")
        row(f"{algo.upper()} k={k1} float32, eager plain user code / torch eager < 1 "
            f"(issues 10, 11)", value, "{:.2f}×", None if value is None else value < 1)
    lib, plain = ratio("maml", k1, BATCHED), ratio("maml", k1, PLAIN)
    gap = None if lib is None or plain is None else plain - lib
    row(f"MAML k={k1} float32, plain user code − library path ≤ 0.1 of the floor (issue 10)",
        gap, "{:.2f}", None if gap is None else gap <= 0.1)
    first = suite.jit_compile.get(("maml", k1, np.float32))
    row(f"MAML k={k1} float32, tinymeta jit's first call ≤ 50 ms (issue 12)",
        None if first is None else 1e3 * first, "{:.0f} ms",
        None if first is None else first <= 0.05)
    if suite.chain.get("tinymeta"):
        row("per-op overhead (tinymeta, forward + backward)",
            1e6 * suite.chain["tinymeta"] / setup.chain, "{:.2f} µs/op", None)
    ks = setup.memory_steps
    for method in ("tracemalloc", "rss"):
        if BATCHED not in suite.memory_names.get(method, []):
            continue
        fo = _slope(suite, method, BATCHED, "fomaml", ks)
        maml = _slope(suite, method, BATCHED, "maml", ks)
        row(f"FOMAML memory flat in k ({method}: growth per step, MB; peak at k={ks[-1]} is "
            f"{suite.memory[method, BATCHED, 'fomaml', ks[-1]] / 1e6:.2f} MB)",
            fo / 1e6, "{:.3f} MB", None)
        row(f"MAML memory per inner step ({method}, MB)", maml / 1e6, "{:.3f} MB", None)
        if method == "rss" and "torch" in suite.memory_names["rss"]:
            torch_slope = _slope(suite, "rss", "torch", "maml", ks)
            lines.append(f"| MAML memory per inner step, tinymeta ≤ torch (RSS) | "
                         f"{maml / 1e6:.3f} MB vs {torch_slope / 1e6:.3f} MB | "
                         f"{'yes' if maml <= torch_slope else 'NO'} |")
    return lines


def _kept_sections(path: Path) -> str:
    """The sections other scripts write into the page between ``<!-- BEGIN name -->`` and
    ``<!-- END name -->`` (the sweep speed-up): kept when this script rewrites it."""
    if not path.exists():
        return ""
    kept = re.findall(r"<!-- BEGIN [\w-]+ -->.*?<!-- END [\w-]+ -->\n?", path.read_text(),
                      flags=re.S)
    return "".join(f"\n{section}" for section in kept)


def figure(suite: Suite, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [BATCHED, LOOP, *(p for p in suite.peers if p in peers.MAML_BUILDERS)]
    configs = list(suite.maml)
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(13, 4.8), width_ratios=[3, 1],
                                  constrained_layout=True)
    width = 0.8 / len(names)
    colours = plt.get_cmap("tab10")
    for j, name in enumerate(names):
        xs = [i + (j - (len(names) - 1) / 2) * width for i in range(len(configs))]
        ratios = [suite.maml[c].get(name, np.nan) / suite.maml[c].get(FLOOR, np.nan)
                  for c in configs]
        # bars grow from 1 (the floor): up is slower than numpy by hand, down is faster
        ax.bar(xs, np.subtract(ratios, 1.0), width, bottom=1.0, label=name,
               color=colours(j))
    ax.axhline(1.0, color="black", lw=0.8, ls="--")
    ax.set_yscale("log")
    ax.set_xticks(range(len(configs)),
                  [f"{a.upper()}\nk={k} {np.dtype(d).name}" for a, k, d in configs], fontsize=8)
    ax.set_ylabel("median time / numpy floor (log)")
    ax.set_title("MAML sinusoid meta-gradient (dashed: hand-written numpy)")
    ax.legend(fontsize=8, ncols=3)
    groups = [("per-op chain", suite.chain), ("MLP gradient", suite.mlp)]
    others = sorted({n for _, d in groups for n in d if n != FLOOR},
                    key=lambda n: (n != "tinymeta", n))
    width = 0.8 / max(1, len(others))
    for j, name in enumerate(others):
        xs = [i + (j - (len(others) - 1) / 2) * width for i in range(len(groups))]
        ratios = [d.get(name, np.nan) / d.get(FLOOR, np.nan) for _, d in groups]
        colour = colours(0) if name == "tinymeta" else colours(names.index(name))
        ax2.bar(xs, np.subtract(ratios, 1.0), width, bottom=1.0, label=name, color=colour)
    ax2.axhline(1.0, color="black", lw=0.8, ls="--")
    ax2.set_yscale("log")
    ax2.set_xticks(range(len(groups)), [g for g, _ in groups], fontsize=8)
    ax2.set_title("first-order workloads")
    ax2.legend(fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ---------------------------------------------------------------- command line
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes, 3 runs, peers torch and autograd only: a smoke test "
                             "(writes to a temporary directory unless --out is given)")
    parser.add_argument("--runs", type=int, help="timed runs per implementation (default 30)")
    parser.add_argument("--peers", default=None,
                        help="comma-separated peers to load, or 'none' "
                             f"(default: all of {','.join(peers.NAMES)}; --quick: torch,autograd)")
    parser.add_argument("--torch-threads", type=int, default=1,
                        help="torch intra-op threads (default 1: the tensors are tiny, and "
                             "extra threads stall on a busy machine)")
    parser.add_argument("--no-malloc-tuning", action="store_true",
                        help="leave glibc's allocator at its defaults (by default the suite "
                             "raises its mmap/trim thresholds for every implementation alike, "
                             "as `tinymeta train` does: see tinymeta/cli/malloc_tuning.py)")
    parser.add_argument("--out", type=Path, default=None,
                        help="results page (default docs/benchmarks.md)")
    parser.add_argument("--figure", type=Path, default=None,
                        help="chart (default: figures/benchmarks.png next to the results page)")
    args = parser.parse_args(argv)

    setup = QUICK if args.quick else Setup()
    if args.runs is not None:
        if args.runs < 1:
            parser.error("--runs must be at least 1")
        setup = Setup(**{**setup.__dict__, "runs": args.runs})
    requested = args.peers if args.peers is not None else (
        "torch,autograd" if args.quick else ",".join(peers.NAMES))
    wanted = tuple(p for p in requested.split(",") if p and p != "none")
    try:
        loaded = peers.load(wanted, args.torch_threads)
    except ValueError as exc:
        parser.error(str(exc))
    out = args.out
    if out is None:
        out = (Path(tempfile.mkdtemp(prefix="tinymeta-bench-")) / "benchmarks.md" if args.quick
               else ROOT / "docs" / "benchmarks.md")
    fig_path = args.figure or out.parent / "figures" / "benchmarks.png"

    def log(msg: str) -> None:
        print(msg, flush=True)

    for name, why in peers.SKIPPED.items():
        log(f"skipping {name}: {why}")
    tuned = not args.no_malloc_tuning and malloc_tuning.tune()
    info = machine()  # before the run: the engine code measured is the code imported now
    info["allocator"] = ("glibc mmap and trim thresholds raised for the whole process, so for "
                         "every implementation (`tinymeta.cli.malloc_tuning.tune`, as "
                         "`tinymeta train` does)" if tuned else "the C library's defaults")
    start, load_start = time.perf_counter(), os.getloadavg()[0]
    suite = Suite(setup, loaded, log)
    log("MAML meta-gradient ...")
    suite.run_maml()
    log("per-op overhead ...")
    suite.run_chain()
    log("first-order MLP gradient ...")
    suite.run_mlp_grad()
    log("peak memory against k ...")
    suite.run_memory()
    command = "python benchmarks/run.py" + (" --quick" if args.quick else "")
    if args.runs is not None:
        command += f" --runs {args.runs}"
    if args.peers is not None:
        command += f" --peers {args.peers}"
    if args.torch_threads != 1:
        command += f" --torch-threads {args.torch_threads}"
    if args.no_malloc_tuning:
        command += " --no-malloc-tuning"
    page = markdown(suite, setup, info, (load_start, os.getloadavg()[0]), command,
                    time.perf_counter() - start)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page + "\n" + _kept_sections(out))
    figure(suite, fig_path)
    log(f"wrote {out} and {fig_path}")
    if suite.failures:
        log("FAILED checks:\n  " + "\n  ".join(suite.failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
