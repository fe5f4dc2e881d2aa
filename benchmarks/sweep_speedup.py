"""How much faster a sweep gets on more processes: the 15-run reproduction, three ways.

The sweep is ``benchmarks/sinusoid.toml`` (5 algorithms × 3 seeds) at reduced
iterations, run from scratch, each way ``--repeats`` times (medians reported):

- one process: ``LocalPool(1)``, the runs one after another;
- the local pool: ``LocalPool(2)`` (the default on a 2-core machine);
- a Dask ``LocalCluster`` of 2 worker processes with one thread each, the
  scheduler in this process, loopback only (started once, before the timing:
  a user's cluster is already running). Its workers get the same glibc malloc
  tuning as the pool's processes (``tinymeta.cli.malloc_tuning``; about 20%
  on a meta-gradient), since this script owns them.

    python benchmarks/sweep_speedup.py                    # 1000 iterations, 3 repeats
    python benchmarks/sweep_speedup.py --iterations 300 --repeats 1
    python benchmarks/sweep_speedup.py --quick            # seconds; a smoke test
    python benchmarks/sweep_speedup.py --write-docs       # also into docs/benchmarks.md

It prints a markdown section; ``--write-docs`` puts it between the
``<!-- BEGIN sweep-speedup -->`` and ``<!-- END sweep-speedup -->`` lines of
docs/benchmarks.md ("Sweeps: speed-up"). Every sweep's tables are also
compared: the three ways must give the same results.csv.
"""

from __future__ import annotations

import os

# parallelism comes from processes; BLAS threads on top would oversubscribe the cores
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import logging  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import replace  # noqa: E402
from pathlib import Path  # noqa: E402

from tinymeta.cli import malloc_tuning  # noqa: E402
from tinymeta.sweep import DaskCluster, LocalPool, Sweep, load_spec, run_sweep  # noqa: E402
from tinymeta.sweep.report import write_report  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SPEC = Path(__file__).resolve().with_name("sinusoid.toml")
SECTION = "sweep-speedup"


def replace_section(path: Path, body: str) -> None:
    """Put ``body`` between this script's BEGIN/END lines in ``path`` (appended if absent)."""
    begin, end = f"<!-- BEGIN {SECTION} -->", f"<!-- END {SECTION} -->"
    block = f"{begin}\n{body.strip()}\n{end}"
    text = path.read_text()
    if begin in text and end in text:
        text = text[:text.index(begin)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text)


def timed(sweep: Sweep, make_executor, scratch: Path) -> tuple[float, bytes]:
    """Wall seconds of the whole sweep from scratch, and its results.csv."""
    out = Path(tempfile.mkdtemp(dir=scratch))
    executor = make_executor()
    start = time.perf_counter()
    try:
        runs, outcomes = run_sweep(sweep, out, executor)
    finally:
        executor.close()
    seconds = time.perf_counter() - start
    failed = [o for o in outcomes.values() if o["status"] != "done"]
    if failed:
        sys.exit(f"sweep_speedup.py: a run failed: {failed[0]['name']}: {failed[0]['error']}")
    write_report(sweep, runs, outcomes, out, draw=False)
    return seconds, (out / "results.csv").read_bytes()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--iterations", type=int, default=1000, help="per run (1000)")
    p.add_argument("--repeats", type=int, default=3, help="sweeps per way; medians (3)")
    p.add_argument("--eval-tasks", type=int, default=600, help="evaluation tasks (600)")
    p.add_argument("--quick", action="store_true",
                   help="10 iterations, 2 algorithms, 1 seed, 1 repeat: a smoke test")
    p.add_argument("--write-docs", action="store_true",
                   help="replace the sweep speed-up section of docs/benchmarks.md")
    args = p.parse_args(argv)
    if args.quick and args.write_docs:
        p.error("--write-docs would put a smoke run into docs/; drop one of them")
    spec = load_spec(SPEC)
    axes = dict(spec.axes)
    if args.quick:
        args.iterations, args.repeats, args.eval_tasks = 10, 1, 20
        axes = {"algo": ["maml", "fomaml"], "seed": [0]}
    sweep = Sweep(axes, {**spec.train, "iterations": args.iterations},
                  replace(spec.evaluation, tasks=args.eval_tasks), spec.overrides)
    n_runs = len(sweep.runs())

    ways = {"one process": lambda: LocalPool(1), "local pool, 2 processes": lambda: LocalPool(2)}
    cluster = None
    try:
        from distributed import Client, LocalCluster

        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                               host="127.0.0.1", dashboard_address=None,
                               silence_logs=logging.ERROR)
        with Client(cluster) as client:  # these workers are ours: tune them like the pool's
            client.run(malloc_tuning.tune)
        ways["Dask LocalCluster, 2 workers"] = lambda: DaskCluster(cluster)
    except ImportError:
        print("distributed is not installed: no Dask measurement "
              "(pip install 'tinymeta[dask]')", file=sys.stderr)

    seconds: dict[str, list[float]] = {name: [] for name in ways}
    tables = set()
    with tempfile.TemporaryDirectory(prefix="tinymeta-sweep-speedup-") as scratch:
        for repeat in range(args.repeats):
            for name, make in ways.items():
                wall, table = timed(sweep, make, Path(scratch))
                seconds[name].append(wall)
                tables.add(table)
                print(f"repeat {repeat + 1}: {name}: {wall:.1f} s", flush=True)
    if cluster is not None:
        cluster.close()
    if len(tables) != 1:
        sys.exit("sweep_speedup.py: the ways gave different results tables")

    base = statistics.median(seconds["one process"])
    command = "python benchmarks/sweep_speedup.py" + "".join(
        f" {flag} {value}" for flag, value, default in (
            ("--iterations", args.iterations, 1000), ("--repeats", args.repeats, 3),
            ("--eval-tasks", args.eval_tasks, 600)) if value != default)
    lines = [
        "## Sweeps: speed-up", "",
        f"Written by `{command} --write-docs` on {time.strftime('%Y-%m-%d')}. The "
        f"reproduction sweep (`benchmarks/sinusoid.toml`) at reduced iterations, run from "
        "scratch by `tinymeta.sweep` in one process (`LocalPool(1)`: the runs one after "
        "another), on the local pool (`LocalPool(2)`, the default here) and on a Dask "
        "`LocalCluster` of 2 worker processes with one thread each (scheduler in the same "
        "process, loopback; started before the timing, as a user's cluster would be; its "
        "workers get the same malloc tuning as the pool's processes).", "",
        f"{n_runs} runs ({', '.join(sweep.axes['algo'])} × seeds "
        f"{','.join(map(str, sweep.axes['seed']))}), {args.iterations} iterations each, "
        f"{args.eval_tasks} evaluation tasks; {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; median of {args.repeats} sweep"
        f"{'s' if args.repeats > 1 else ''} from scratch per row; identical results.csv "
        "from every row.", "",
        "| executor | wall time (median) | all times | speed-up over one process |",
        "|---|---|---|---|",
    ]
    for name, values in seconds.items():
        median = statistics.median(values)
        lines.append(f"| {name} | {median:.1f} s | "
                     f"{', '.join(f'{v:.1f}' for v in values)} s | {base / median:.2f}× |")
    print("\n" + "\n".join(lines))
    if args.write_docs:
        replace_section(ROOT / "docs" / "benchmarks.md", "\n".join(lines))
        print(f"wrote {ROOT / 'docs' / 'benchmarks.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
