"""Time per meta-training iteration, as ``tinymeta train`` runs it, against a numpy floor.

The reproduction reports the wall clock of whole 70,000-iteration runs, with
two runs sharing the machine. This script measures the same loop in one
process, in rounds that interleave the algorithms, so that a busy moment on a
shared machine slows every algorithm of a round alike:

    python benchmarks/training_time.py            # 7 rounds of 300; rewrites docs/results.md
    python benchmarks/training_time.py --rounds 15 --iterations 500
    python benchmarks/training_time.py --quick    # a smoke test, prints only

An iteration is what ``tinymeta.meta.training.meta_train`` does: sample a
meta-batch, take its meta-gradient, step Adam. The settings are the
reproduction's: K = 10, α = 0.01, meta-batch 25, one inner step (Reptile: 5),
1→40→40→1 ReLU MLP, batched over tasks, float32.

The floor is the same iteration with the meta-gradient written by hand in
numpy (``maml_floor.py``: MAML, FOMAML and Reptile; the sampling and Adam
are the same code), so the ratio is what the engine costs on a whole
iteration. Sampling and Adam (0.1-0.3 ms) are in both, which pulls the ratio
below that of the meta-gradient alone (``benchmarks/run.py``). Reported:
the median time per iteration over rounds, the minutes that makes for 70,000
iterations, and the ratio to the floor.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import maml_floor
import numpy as np
from reproduce_sinusoid import DTYPE, NAMES, REPTILE_INNER_STEPS, replace_section

from tinymeta.cli import malloc_tuning
from tinymeta.meta.algorithms import ALGORITHMS
from tinymeta.meta.tasks import Sinusoid
from tinymeta.meta.training import TrainConfig, init_meta_params, meta_train
from tinymeta.nn import Adam

ROOT = Path(__file__).resolve().parent.parent
FULL_RUN = 70_000  # the paper's number of meta-iterations
TARGET_MINUTES = 5.0  # a full run per algorithm in under 5 minutes
FLOORS = ("maml", "fomaml", "reptile")  # the algorithms maml_floor.py writes out by hand


def config(algo: str, iterations: int, seed: int) -> TrainConfig:
    """The reproduction's settings (``reproduce_sinusoid.py``) for ``algo``."""
    return TrainConfig(algo=algo, iterations=iterations, seed=seed, dtype=DTYPE,
                       inner_steps=REPTILE_INNER_STEPS if algo == "reptile" else 1)


def tinymeta_seconds(algo: str, iterations: int, seed: int) -> float:
    """Seconds per iteration of ``meta_train`` (its own clock: the loop, not the setup)."""
    return meta_train(config(algo, iterations, seed)).seconds / iterations


def floor_seconds(algo: str, iterations: int, seed: int) -> float:
    """Seconds per iteration of the same loop with the hand-written meta-gradient."""
    cfg = config(algo, iterations, seed)
    params = init_meta_params(cfg)
    optimizer, tasks = Adam(cfg.meta_lr), Sinusoid()
    rng = np.random.default_rng(seed + 1)
    start = time.perf_counter()
    for _ in range(iterations):
        batch = tasks.sample(cfg.meta_batch, cfg.shots, rng=rng, dtype=np.dtype(cfg.dtype))
        if algo == "reptile":
            _, g = maml_floor.reptile_direction(params, batch, cfg.inner_lr, cfg.inner_steps)
        else:
            _, g = maml_floor.maml_meta_gradient(params, batch, cfg.inner_lr, cfg.inner_steps,
                                                 first_order=algo == "fomaml")
        params = optimizer.step(params, g)
    return (time.perf_counter() - start) / iterations


def measure(algos: list[str], iterations: int, rounds: int,
            log: Callable[[str], None]) -> dict[str, list[float]]:
    """Seconds per iteration, one entry per round, for every algorithm and floor."""
    jobs: dict[str, Callable[[int, int], float]] = {}
    for algo in algos:
        jobs[algo] = lambda n, seed, a=algo: tinymeta_seconds(a, n, seed)
        if algo in FLOORS:
            jobs[f"{algo} floor"] = lambda n, seed, a=algo: floor_seconds(a, n, seed)
    names = list(jobs)
    for name in names:
        jobs[name](min(iterations, 20), 0)  # warm-up: first-call caches, the allocator's pools
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]  # rotate the order
        for name in order:
            times[name].append(jobs[name](iterations, r))
        log(f"round {r + 1}/{rounds}: " + ", ".join(
            f"{n} {1e3 * times[n][-1]:.2f} ms" for n in names))
    return times


def markdown(times: dict[str, list[float]], algos: list[str], iterations: int, rounds: int,
             command: str) -> str:
    med = {name: statistics.median(v) for name, v in times.items()}
    lines = [
        "## Training time per iteration",
        "",
        f"Written by `{command}` on {time.strftime('%Y-%m-%d')} ({platform.machine()}, "
        f"Python {platform.python_version()}, numpy {np.__version__}; glibc malloc tuned by "
        f"`tinymeta.cli.malloc_tuning`). One process, {rounds} rounds of {iterations} "
        f"iterations of "
        f"every algorithm, interleaved; medians over rounds. An iteration samples a meta-batch, "
        f"takes its meta-gradient and steps Adam, as `meta_train` does (K = 10, α = 0.01, "
        f"meta-batch 25, 1 inner step, Reptile {REPTILE_INNER_STEPS}; {DTYPE}, batched). The floor "
        f"runs the same loop with the meta-gradient written by hand in numpy "
        f"(`benchmarks/maml_floor.py`).",
        "",
        f"| algorithm | ms per iteration | {FULL_RUN:,} iterations | numpy floor | "
        f"floor, {FULL_RUN:,} iterations | tinymeta / floor | rounds (ms) |",
        "|---|---|---|---|---|---|---|",
    ]
    for algo in algos:
        t = med[algo]
        floor = med.get(f"{algo} floor")
        cells = [f"{1e3 * floor:.2f}", minutes(floor), f"{t / floor:.2f}×"] if floor else \
            ["—", "—", "—"]
        spread = f"{1e3 * min(times[algo]):.2f}–{1e3 * max(times[algo]):.2f}"
        name = (f"Reptile ({REPTILE_INNER_STEPS} inner steps)" if algo == "reptile"
                else NAMES[algo])
        lines.append(f"| {name} | {1e3 * t:.2f} | {minutes(t)} | " + " | ".join(cells)
                     + f" | {spread} |")
    over = [NAMES[a] for a in algos if med[a] * FULL_RUN / 60 > TARGET_MINUTES]
    lines += ["", f"Target: a {FULL_RUN:,}-iteration run in under {TARGET_MINUTES:.0f} minutes. "
              + (f"Medians over it here: {', '.join(over)}." if over
                 else "Every algorithm's median is under it here.")
              + " The machine is shared: rounds spread as the last column shows, and the "
                "reproduction's wall clock, with two runs side by side, is higher."]
    return "\n".join(lines)


def minutes(seconds_per_iteration: float) -> str:
    return f"{seconds_per_iteration * FULL_RUN / 60:.1f} min"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--iterations", type=int, default=300, help="iterations per round (300)")
    p.add_argument("--rounds", type=int, default=7, help="interleaved rounds (7)")
    p.add_argument("--algos", default=",".join(ALGORITHMS),
                   help=f"comma-separated subset of {','.join(ALGORITHMS)}")
    p.add_argument("--quick", action="store_true", help="2 rounds of 5 iterations; print only")
    p.add_argument("--results", type=Path, default=None,
                   help="markdown file whose training-time section is rewritten "
                        "(docs/results.md)")
    p.add_argument("--no-malloc-tuning", action="store_true",
                   help="leave glibc malloc at its defaults (see tinymeta.cli.malloc_tuning)")
    args = p.parse_args(argv)
    algos = args.algos.split(",")
    unknown = [a for a in algos if a not in ALGORITHMS]
    if unknown:
        p.error(f"unknown algorithm(s) {', '.join(unknown)}; choose from {', '.join(ALGORITHMS)}")
    if min(args.iterations, args.rounds) < 1:
        p.error("--iterations and --rounds must be positive")
    if args.quick:
        args.iterations, args.rounds = 5, 2
    if not args.no_malloc_tuning:
        malloc_tuning.tune()
    times = measure(algos, args.iterations, args.rounds, lambda s: print(s, flush=True))
    command = "python benchmarks/training_time.py" + (" --quick" if args.quick else "")
    body = markdown(times, algos, args.iterations, args.rounds, command)
    print()
    print(body)
    results = args.results or (None if args.quick else ROOT / "docs" / "results.md")
    if results is not None:
        replace_section(results, "training-time", body)
        print(f"\nwrote {results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
