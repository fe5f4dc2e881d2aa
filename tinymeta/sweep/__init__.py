"""Sweeps: a grid of training runs, run on a local process pool or a Dask cluster.

    tinymeta sweep grid.toml --out runs/grid                 # every core of this machine
    tinymeta sweep grid.toml --out runs/grid --dask tcp://scheduler:8786

The same in Python:

    from tinymeta.sweep import LocalPool, load_spec, run_sweep, write_report
    sweep = load_spec("grid.toml")
    runs, outcomes = run_sweep(sweep, Path("runs/grid"), LocalPool())
    write_report(sweep, runs, outcomes, Path("runs/grid"))

One module per step, in the order a sweep goes through them:

    spec.py       the spec (TOML, JSON or flags) and the runs it expands into
    worker.py     one run on a worker: train (or resume), evaluate, write its files
    executors.py  where runs execute: LocalPool (default) and DaskCluster
    driver.py     skip what is complete, submit the rest, collect the outcomes
    report.py     results.csv, results.md, runs.csv and mse_vs_steps.png

Workers are handed a run's configuration as JSON and hand back the files a run
writes (``params.npz``, ``metrics.json``, ``evaluation.npz``,
``evaluation.json``); no engine state is pickled either way.
"""

from tinymeta.sweep.driver import SweepConflict, run_sweep
from tinymeta.sweep.executors import DaskCluster, Executor, ExecutorError, LocalPool
from tinymeta.sweep.report import write_report
from tinymeta.sweep.spec import EvalSettings, Run, SpecError, Sweep, load_spec

__all__ = ["Sweep", "Run", "EvalSettings", "SpecError", "load_spec", "run_sweep",
           "SweepConflict", "Executor", "ExecutorError", "LocalPool", "DaskCluster",
           "write_report"]
