"""Smoke test of the benchmark suite: ``benchmarks/run.py --quick`` runs and writes its page.

No timing is asserted (the suite's numbers depend on the machine); this only
keeps every workload of ``benchmarks/run.py`` from rotting: at tiny sizes it
checks each implementation against tinymeta, times it a few times, and writes
the markdown page and the chart. Peers (torch, autograd) run when installed
and are skipped with a note otherwise; JAX is left out of ``--quick`` because
compiling it takes seconds per workload.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_run_quick_writes_page_and_chart(tmp_path):
    out = tmp_path / "benchmarks.md"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--out", str(out)],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    page = out.read_text()
    for section in ("## Machine", "## MAML sinusoid meta-gradient", "## Per-op overhead",
                    "## First-order MLP gradient", "## Peak memory against k",
                    "## Targets"):
        assert section in page
    assert "Failed checks" not in page
    png = tmp_path / "figures" / "benchmarks.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_eager_vs_before_quick_compares_the_two_engines():
    """benchmarks/eager_vs_before.py takes the engine before the redesign out of git history:
    skipped in a clone without that commit (a shallow one)."""
    have = subprocess.run(["git", "-C", str(ROOT), "cat-file", "-e", "3c10f3d^{commit}"],
                          capture_output=True)
    if have.returncode != 0:
        pytest.skip("this clone does not have commit 3c10f3d (the engine before the redesign)")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "eager_vs_before.py"), "--quick"],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| MAML")
            or line.startswith("| FOMAML")]
    assert len(rows) == 4, proc.stdout  # MAML and FOMAML, library and plain user code
