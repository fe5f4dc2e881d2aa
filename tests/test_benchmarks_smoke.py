"""Every benchmark script runs with --quick, and the MAML example runs a few iterations.

These are smoke tests: they catch a script that no longer runs after an API
change, not a wrong number. Each runs in a fresh interpreter, as a user would
run it, and must not touch the repository's docs/.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# every script that offers --quick (helper modules such as peers.py do not), except those
# with a smoke test of their own
OWN_TEST = {"run.py": "tests/test_bench_smoke.py"}
BENCHMARKS = sorted(p for p in (ROOT / "benchmarks").glob("*.py")
                    if '"--quick"' in p.read_text() and p.name not in OWN_TEST)


def run_script(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), MPLBACKEND="Agg", TMPDIR=str(cwd))
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


# a shorter --quick where a script has more than one smoke test's worth of work
EXTRA = {"reproduce_sinusoid.py": ["--algos", "maml,pretrain", "--jobs", "1"]}


@pytest.mark.parametrize("script", BENCHMARKS, ids=[p.name for p in BENCHMARKS])
def test_benchmark_runs_with_quick(script, tmp_path):
    docs = ROOT / "docs" / "results.md"
    before = docs.read_bytes() if docs.exists() else None
    result = run_script([str(script), "--quick", *EXTRA.get(script.name, [])], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip(), "a benchmark should print its results"
    after = docs.read_bytes() if docs.exists() else None
    assert before == after, f"{script.name} --quick rewrote docs/results.md"


def test_reproduce_quick_writes_its_table_and_figures(tmp_path):
    results = tmp_path / "results.md"
    (tmp_path / "results.md").write_text("# Results\n\n<!-- BEGIN memory -->\nkept\n"
                                         "<!-- END memory -->\n")
    result = run_script([str(ROOT / "benchmarks" / "reproduce_sinusoid.py"), "--quick",
                         "--algos", "maml,pretrain,metasgd", "--jobs", "2",
                         "--results", str(results), "--out", str(tmp_path / "runs")], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    text = results.read_text()
    assert "<!-- BEGIN memory -->\nkept\n<!-- END memory -->" in text  # other sections stay
    assert "<!-- BEGIN sinusoid -->" in text and "| MAML |" in text and "| pretrained |" in text
    assert "0.67 / 0.38 / 0.35" in text and "2.41 / 2.23 / 2.19" in text and "0.90" in text
    for name in ("sinusoid_fit", "sinusoid_learning_curves", "sinusoid_steps"):
        assert (tmp_path / "figures" / f"{name}.png").stat().st_size > 1000
    assert (tmp_path / "runs" / "maml-seed0" / "params.npz").exists()

    (tmp_path / "figures" / "sinusoid_fit.png").unlink()
    result = run_script([str(ROOT / "benchmarks" / "reproduce_sinusoid.py"), "--replot",
                         "--results", str(results), "--out", str(tmp_path / "runs")], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    tables = [[line for line in t.splitlines() if line.startswith("|")]
              for t in (text, results.read_text())]
    assert tables[0] == tables[1]  # the same tables, from runs/results.json
    assert (tmp_path / "figures" / "sinusoid_fit.png").exists()


def test_maml_example_runs(tmp_path):
    result = run_script([str(ROOT / "examples" / "maml_sinusoid.py"), "5"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "iteration     5" in result.stdout and "5-shot MSE" in result.stdout
