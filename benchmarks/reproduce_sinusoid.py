"""Reproduce the sinusoid regression result of the MAML paper (Finn et al., 2017, §5.1).

Training follows the paper: K = 10 points per task, α = 0.01, one inner step,
25 tasks per meta-batch, Adam with step size 1e-3, 70,000 meta-iterations, a
1→40→40→1 ReLU network (tinymeta.nn.mlp_init), all tasks of a meta-batch as one
batched computation, float32. Evaluation: 600 new tasks (the same tasks for
every run), 5 support points each, query MSE on 100 points after 1 to 10 SGD
steps with α = 0.01 (Meta-SGD adapts with its learned rates), mean ± 95% CI.

Algorithms: MAML, first-order MAML, Reptile, Meta-SGD and the pretrained
baseline (one network regressed on all tasks, then fine-tuned like the rest).
Reptile takes 5 inner SGD steps with α = 0.01 per task: with one step its
update direction θ − θ_1 = α ∇L(θ) is just the gradient of the pretraining loss
on the support points, so it needs several steps to be more than the
baseline (Nichol et al., 2018, use 5–10 inner steps on this problem).

    python benchmarks/reproduce_sinusoid.py --write-docs        # the full run, 3 seeds -> docs/
    python benchmarks/reproduce_sinusoid.py --iterations 2000 --seeds 0   # -> runs/reproduce/
    python benchmarks/reproduce_sinusoid.py --algos maml,pretrain --jobs 1
    python benchmarks/reproduce_sinusoid.py --dask tcp://scheduler:8786 --write-docs
    python benchmarks/reproduce_sinusoid.py --quick             # seconds; a smoke test
    python benchmarks/reproduce_sinusoid.py --replot            # redo table and figures only

The runs are a sweep: ``benchmarks/sinusoid.toml`` is the spec (the same as
``tinymeta sweep benchmarks/sinusoid.toml --out DIR``), narrowed by the flags
above; this script runs it with ``tinymeta.sweep`` and writes the page. Runs go
to a local pool of ``--jobs`` processes (default 2), or with ``--dask ADDRESS``
to a Dask cluster. Started again with the same settings, it skips the runs that
are complete and resumes interrupted ones from their checkpoints. Each run is
saved under ``--out`` (default ``runs/reproduce``), with the sweep's own table
(``sweep-results.md``, ``sweep-results.csv``, ``runs.csv``), and can be
inspected with ``tinymeta evaluate runs/reproduce/maml-seed0 --plot runs/reproduce/fit.png``.
The results table and the figures go to ``<out>/results.md`` and
``<out>/figures/``, so trying a shorter run never touches the committed
results; ``--write-docs`` (used only to regenerate them) replaces the
sinusoid section of ``docs/results.md`` and the figures in ``docs/figures/``
instead. ``--quick`` writes everything to a temporary directory unless
``--results`` is given.
"""

from __future__ import annotations

import os

# parallelism comes from --jobs processes; BLAS threads on top would oversubscribe the cores
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import replace  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from tinymeta.meta.algorithms import ALGORITHMS  # noqa: E402
from tinymeta.meta.checkpoint import load_run  # noqa: E402
from tinymeta.sweep import (  # noqa: E402
    DaskCluster,
    ExecutorError,
    LocalPool,
    Sweep,
    SweepConflict,
    load_spec,
    run_sweep,
    write_report,
)
from tinymeta.sweep.worker import DIVERGED  # noqa: E402  (the worker counts diverged tasks by it)

ROOT = Path(__file__).resolve().parent.parent
SPEC = Path(__file__).resolve().with_name("sinusoid.toml")
NAMES = {"maml": "MAML", "fomaml": "FOMAML", "reptile": "Reptile", "metasgd": "Meta-SGD",
         "pretrain": "pretrained"}
# the papers' reference numbers: 5-shot query MSE after 1, 5 and 10 steps
PAPER = {"maml": (0.67, 0.38, 0.35), "pretrain": (2.41, 2.23, 2.19)}
META_SGD_PAPER = {"maml": 1.13, "metasgd": 0.90}  # Li et al. (2017): 5-shot, one step
REPORTED_STEPS = (1, 5, 10)
REPTILE_INNER_STEPS = 5
EVAL_SEED = 1000  # the evaluation tasks: the same for every algorithm and seed
SHOTS_EVAL = 5
DTYPE = "float32"  # as the reference TensorFlow code; about 1.5x faster than float64 here


def sweep_for(args: argparse.Namespace) -> Sweep:
    """benchmarks/sinusoid.toml, narrowed to the algorithms, seeds and sizes asked for."""
    spec = load_spec(SPEC)
    train = {**spec.train, "iterations": args.iterations, "inner_lr": args.inner_lr}
    return Sweep({"algo": list(args.algos), "seed": list(args.seeds)}, train,
                 replace(spec.evaluation, tasks=args.eval_tasks), spec.overrides)


def summary(outcome: dict, out: Path) -> dict:
    """A finished run's outcome as the JSON-able summary the table and figures use."""
    metrics = json.loads((out / outcome["name"] / "metrics.json").read_text())
    config = outcome["train"]

    def numbers(values: list) -> list[float]:
        return [float("inf") if v is None else v for v in values]  # None: diverged

    return {"algo": config["algo"], "seed": config["seed"], "iterations": config["iterations"],
            "inner_steps": config["inner_steps"], "train_seconds": outcome["train_seconds"],
            "eval_seconds": outcome["eval_seconds"], "steps": outcome["steps"],
            "mean": numbers(outcome["mean"]), "ci95": numbers(outcome["ci95"]),
            "median": numbers(outcome["median"]), "diverged": outcome["diverged_tasks"],
            "curve": metrics["loss_curve"]}


def run_all(args: argparse.Namespace) -> list[dict]:
    """Run the sweep (skipping complete runs), write its own table; return the summaries."""
    sweep = sweep_for(args)
    executor = DaskCluster(args.dask) if args.dask else LocalPool(args.jobs)
    args.where = executor.description

    def report(outcome: dict) -> None:
        if outcome["status"] != "done":
            print(f"  {outcome['name']}: FAILED: {outcome.get('error')}", flush=True)
            return
        r = summary(outcome, args.out)
        picked = "/".join(f"{r['mean'][r['steps'].index(k)]:.3f}" for k in REPORTED_STEPS)
        print(f"  {r['algo']:>8} seed {r['seed']}: {r['iterations']} iterations in "
              f"{r['train_seconds']:.1f} s ({1e3 * r['train_seconds'] / r['iterations']:.2f} "
              f"ms/it); 5-shot MSE after 1/5/10 steps {picked}", flush=True)

    try:
        runs, outcomes = run_sweep(sweep, args.out, executor, report)
    finally:
        executor.close()
    write_report(sweep, runs, outcomes, args.out.resolve(), draw=False, stem="sweep-results")
    failed = [o for o in outcomes.values() if o["status"] != "done"]
    if failed:
        sys.exit(f"reproduce_sinusoid.py: {len(failed)} of {len(runs)} runs failed (see "
                 f"{args.out / 'sweep-results.md'}); run the same command again to retry them")
    results = [summary(outcomes[r.name], args.out) for r in runs]
    return sorted(results, key=lambda r: (args.algos.index(r["algo"]), r["seed"]))


# ---------------------------------------------------------------- figures
def draw_figures(results: list[dict], out: Path, figures: Path) -> list[Path]:
    from matplotlib.figure import Figure

    from tinymeta.meta.plots import fit_figure, learning_curve_figure, log_scale

    algos = list(dict.fromkeys(r["algo"] for r in results))
    seed = min(r["seed"] for r in results)
    first = {r["algo"]: r for r in results if r["seed"] == seed}
    paths = []

    models = {}
    for algo in algos:
        params, inner_lr, _ = load_run(out / f"{algo}-seed{seed}")
        models[NAMES[algo]] = (params, inner_lr)
    # task seed 4: a large amplitude (4.7) and points spread over the interval
    paths.append(fit_figure(models, figures / "sinusoid_fit.png", shots=SHOTS_EVAL, seed=4))

    paths.append(learning_curve_figure(
        {NAMES[a]: (first[a]["curve"]["iteration"], first[a]["curve"]["loss"]) for a in algos},
        figures / "sinusoid_learning_curves.png",
        f"meta-training loss, seed {seed} (pretrained: its plain MSE)"))

    fig = Figure(figsize=(6, 3.8), layout="constrained")
    ax = fig.add_subplot()
    for i, algo in enumerate(algos):
        runs = [r for r in results if r["algo"] == algo]
        mean = np.mean([r["mean"] for r in runs], axis=0)
        ci = np.mean([r["ci95"] for r in runs], axis=0)
        ci[~(mean < DIVERGED)] = mean[~(mean < DIVERGED)] = np.nan  # diverged: not drawn
        colour = f"C{i}"
        ax.errorbar(runs[0]["steps"], mean, yerr=ci, color=colour, marker="o", ms=3,
                    capsize=2, label=NAMES[algo])
        if algo in PAPER:
            ax.plot(REPORTED_STEPS, PAPER[algo], color=colour, ls="none", marker="x", ms=8,
                    label=f"{NAMES[algo]} (paper)")
    ax.set_xlabel("gradient steps at test time")
    ax.set_ylabel(f"{SHOTS_EVAL}-shot query MSE")
    log_scale(ax)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, ncol=2)
    ax.set_title("adapting to new sinusoids (mean over seeds, 95% CI)")
    figures.mkdir(parents=True, exist_ok=True)
    fig.savefig(figures / "sinusoid_steps.png", dpi=120)
    paths.append(figures / "sinusoid_steps.png")
    return paths


# ---------------------------------------------------------------- docs/results.md
def replace_section(path: Path, name: str, body: str) -> None:
    """Put ``body`` between ``<!-- BEGIN name -->`` and ``<!-- END name -->`` in ``path``,
    leaving every other section (other benchmarks write theirs) as it is."""
    begin, end = f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"
    block = f"{begin}\n{body.strip()}\n{end}"
    text = path.read_text() if path.exists() else (
        "# Results\n\nMeasured numbers, regenerated by the scripts in `benchmarks/`. Each "
        "section says the command that wrote it.\n")
    if begin in text and end in text:
        text = text[:text.index(begin)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def cell(runs: list[dict], step: int) -> str:
    i = runs[0]["steps"].index(step)
    means = np.array([r["mean"][i] for r in runs])
    if not np.all(means < DIVERGED):
        bad = int(np.sum(~(means < DIVERGED)))
        return "diverged" + (f" ({bad} of {len(runs)} seeds)" if len(runs) > 1 else "")
    return f"{means.mean():.3f} ± {np.mean([r['ci95'][i] for r in runs]):.3f}"


def results_markdown(results: list[dict], args: argparse.Namespace, wall: float,
                     figures: list[Path], results_path: Path) -> str:
    algos = list(dict.fromkeys(r["algo"] for r in results))
    seeds = sorted({r["seed"] for r in results})
    iterations = results[0]["iterations"]
    command = "python benchmarks/reproduce_sinusoid.py" + "".join(
        f" {flag} {value}" for flag, value, default in (
            ("--iterations", iterations, 70_000),
            ("--seeds", ",".join(map(str, seeds)), "0,1,2"),
            ("--algos", ",".join(algos), ",".join(ALGORITHMS)),
            ("--jobs", args.jobs, 2), ("--inner-lr", args.inner_lr, 0.01),
            ("--dask", args.dask and "ADDRESS", None))
        if str(value) != str(default)) + (" --write-docs" if args.write_docs else "")
    full = iterations == 70_000
    lines = [
        "## Sinusoid regression: the MAML paper's table",
        "",
        f"Written by `{command}` on {time.strftime('%Y-%m-%d')}"
        f" ({platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"numpy {np.__version__}; runs on {args.where}; whole script "
        f"{duration(wall)}).",
        "",
    ]
    if not full:
        lines += [
            f"**This is a shortened run ({iterations:,} meta-iterations instead of the paper's "
            f"70,000), so it is not yet the reproduction.** The full run is "
            "`python benchmarks/reproduce_sinusoid.py` (3 seeds, 5 algorithms).", "",
        ]
    alpha = f"{args.inner_lr:g}"
    lines += [
        f"Training: K = 10, α = {alpha}, 1 inner step (Reptile: {REPTILE_INNER_STEPS}), "
        f"meta-batch 25, Adam 1e-3, {iterations:,} iterations, 1→40→40→1 ReLU MLP, batched "
        f"over tasks, {DTYPE}. Evaluation: the same {args.eval_tasks} new tasks for every run, "
        f"{SHOTS_EVAL} support points each, MSE on 100 query points after k SGD steps with "
        f"α = {alpha} (Meta-SGD: its learned per-parameter rates). Cells: mean over seeds "
        f"{', '.join(map(str, seeds))} of the mean MSE ± the 95% confidence half-width over "
        "tasks (1.96 · standard error), averaged over seeds.",
        "",
        "| algorithm | before adapting | 1 step | 5 steps | 10 steps | paper: 1 / 5 / 10 steps "
        "| training time per run |",
        "|---|---|---|---|---|---|---|",
    ]
    for algo in algos:
        runs = [r for r in results if r["algo"] == algo]
        paper = " / ".join(f"{v:.2f}" for v in PAPER[algo]) if algo in PAPER else ""
        if algo in META_SGD_PAPER:
            paper += ("; " if paper else "") + f"Meta-SGD paper, 1 step: {META_SGD_PAPER[algo]:.2f}"
        seconds = np.mean([r["train_seconds"] for r in runs])
        per_it = 1e3 * seconds / iterations
        lines.append(f"| {NAMES[algo]} | {cell(runs, 0)} | {cell(runs, 1)} | {cell(runs, 5)} | "
                     f"{cell(runs, 10)} | {paper or '—'} | {duration(seconds)} "
                     f"({per_it:.2f} ms/it) |")
    lines += [
        "",
        "The paper's numbers are from the MAML paper (Finn, Abbeel and Levine 2017, §5.1: MAML "
        "and the pretrained baseline after 1, 5, 10 steps) and the Meta-SGD paper (Li et al. "
        "2017, Table 1: 5-shot MSE after one step for MAML and Meta-SGD). Training time is "
        "wall clock per (algorithm, seed) with the runs sharing the machine as above.",
        "",
        "Each run after 1 / 5 / 10 steps: the mean and the median over tasks, and how many "
        "tasks diverged (MSE > 1000):",
        "",
        "| algorithm | seed | mean | median | diverged tasks |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        idx = [r["steps"].index(k) for k in REPORTED_STEPS]
        mean = " / ".join(f"{r['mean'][i]:.3f}" if r["mean"][i] < DIVERGED else "diverged"
                          for i in idx)
        median = " / ".join(f"{r['median'][i]:.3f}" if r["median"][i] < DIVERGED else
                            "diverged" for i in idx)
        diverged = " / ".join(str(r["diverged"][i]) for i in idx)
        lines.append(f"| {NAMES[r['algo']]} | {r['seed']} | {mean} | {median} | {diverged} |")
    if any(sum(r["diverged"]) for r in results):
        lines += [
            "",
            "A few diverging tasks dominate a mean: adapting with the same α for more steps "
            "than the model was meta-trained for can overshoot on tasks whose few support "
            "points give a sharp loss (and Meta-SGD's learned rates are tuned for exactly one "
            "step). The medians show the typical task. Note that the reference implementation "
            "(cbfinn/maml, `main.py`) defaults to `update_lr = 0.001` and its sinusoid command "
            "does not override it, although the paper's text says α = 0.01; "
            "`--inner-lr 0.001` runs that setting.",
        ]
    lines.append("")
    for path in figures:
        rel = os.path.relpath(path, results_path.parent)
        lines.append(f"![{path.stem}]({rel})")
        lines.append("")
    return "\n".join(lines)


# ---------------------------------------------------------------- main
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--iterations", type=int, default=70_000, help="meta-iterations (70000)")
    p.add_argument("--seeds", default="0,1,2", help="comma-separated training seeds (0,1,2)")
    p.add_argument("--algos", default=",".join(ALGORITHMS),
                   help=f"comma-separated subset of {','.join(ALGORITHMS)}")
    p.add_argument("--jobs", type=int, default=2,
                   help="runs in parallel: the local pool's processes (2)")
    p.add_argument("--dask", default=None, metavar="ADDRESS",
                   help="run on the Dask scheduler at ADDRESS instead of the local pool "
                        "(pip install 'tinymeta[dask]')")
    p.add_argument("--eval-tasks", type=int, default=600, help="evaluation tasks (600)")
    p.add_argument("--inner-lr", type=float, default=0.01,
                   help="α for training and evaluation (0.01, the paper's text; the reference "
                        "code's default is 0.001)")
    p.add_argument("--replot", action="store_true",
                   help="no training: redraw the figures and rewrite the table from "
                        "<out>/results.json of an earlier run")
    p.add_argument("--quick", action="store_true",
                   help="30 iterations, one seed, 50 evaluation tasks; output to a temp dir")
    p.add_argument("--out", type=Path, default=None,
                   help="run directories, and the table and figures unless --write-docs "
                        "(runs/reproduce)")
    p.add_argument("--write-docs", action="store_true",
                   help="rewrite the sinusoid section of docs/results.md and the figures in "
                        "docs/figures/ (the committed results; default: under --out)")
    p.add_argument("--results", type=Path, default=None,
                   help="markdown file whose sinusoid section is rewritten "
                        "(<out>/results.md; with --write-docs, docs/results.md)")
    p.add_argument("--figures", type=Path, default=None,
                   help="figure directory (beside --results: <out>/figures; with "
                        "--write-docs, docs/figures)")
    args = p.parse_args(argv)
    if args.write_docs and args.quick:
        p.error("--write-docs would put a 30-iteration smoke run into docs/; drop one of them")
    args.seeds = [int(s) for s in args.seeds.split(",")]
    args.algos = args.algos.split(",")
    unknown = [a for a in args.algos if a not in ALGORITHMS]
    if unknown:
        p.error(f"unknown algorithm(s) {', '.join(unknown)}; choose from {', '.join(ALGORITHMS)}")
    if min(args.iterations, args.jobs, args.eval_tasks) < 1 or not args.inner_lr > 0:
        p.error("--iterations, --jobs, --eval-tasks and --inner-lr must be positive")
    if args.quick:
        args.iterations, args.seeds, args.eval_tasks = 30, args.seeds[:1], 50
        if args.results is None:
            scratch = Path(tempfile.mkdtemp(prefix="tinymeta-reproduce-"))
            args.results, args.figures = scratch / "results.md", scratch / "figures"
            args.out = args.out or scratch / "runs"
    args.out = args.out or ROOT / "runs" / "reproduce"
    args.results = args.results or (ROOT / "docs" if args.write_docs else args.out) / "results.md"
    args.figures = args.figures or args.results.parent / "figures"
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    saved = args.out / "results.json"
    if args.replot:  # rewrite the figures and the table from a finished run, no training
        try:
            record = json.loads(saved.read_text())
        except (OSError, json.JSONDecodeError) as error:
            sys.exit(f"reproduce_sinusoid.py: --replot needs {saved} from an earlier run: {error}")
        args.jobs, args.eval_tasks, args.inner_lr = (record["settings"][k] for k in
                                                     ("jobs", "eval_tasks", "inner_lr"))
        args.where = record["settings"].get("where", f"a local pool of {args.jobs} processes")
        args.dask = record["settings"].get("dask")
        results, wall = record["runs"], record["wall_seconds"]
    else:
        print(f"training {', '.join(args.algos)} x seeds {args.seeds} for {args.iterations} "
              f"iterations (the sweep {SPEC.name}); runs saved in {args.out}", flush=True)
        start = time.perf_counter()
        try:
            results = run_all(args)
        except (SweepConflict, ExecutorError) as error:
            sys.exit(f"reproduce_sinusoid.py: {error}")
        wall = time.perf_counter() - start
        settings = {"jobs": args.jobs, "eval_tasks": args.eval_tasks, "inner_lr": args.inner_lr,
                    "where": args.where, "dask": args.dask}
        saved.write_text(json.dumps({"settings": settings, "wall_seconds": wall,
                                     "runs": results}, indent=1) + "\n")
    figures = draw_figures(results, args.out, args.figures)
    body = results_markdown(results, args, wall, figures, args.results)
    replace_section(args.results, "sinusoid", body)
    print(f"\n{body}\n\nwrote {args.results}, {', '.join(str(f) for f in figures)} "
          f"({duration(wall)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
