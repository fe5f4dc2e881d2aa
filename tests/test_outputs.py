"""Commands the docs invite a reader to try write under runs/, never into docs/ or the root.

The reproduction script writes docs/ only with --write-docs, and .gitignore covers the
files the README's commands (and their older spellings) leave in the repository root,
while the committed figures stay tracked.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def reproduce(monkeypatch):
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.setenv(var, "1")  # the script sets them on import; keep ours unchanged
    spec = importlib.util.spec_from_file_location(
        "reproduce_sinusoid", ROOT / "benchmarks" / "reproduce_sinusoid.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_reproduction_writes_under_runs_by_default(reproduce):
    args = reproduce.parse_args(["--iterations", "2000", "--seeds", "0"])
    assert args.results == ROOT / "runs" / "reproduce" / "results.md"
    assert args.figures == ROOT / "runs" / "reproduce" / "figures"


def test_reproduction_writes_docs_only_when_asked(reproduce):
    args = reproduce.parse_args(["--write-docs"])
    assert args.results == ROOT / "docs" / "results.md"
    assert args.figures == ROOT / "docs" / "figures"
    chosen = reproduce.parse_args(["--out", "elsewhere"])
    assert chosen.results == Path("elsewhere") / "results.md"


def test_reproduction_refuses_a_smoke_run_into_docs(reproduce, capsys):
    with pytest.raises(SystemExit):
        reproduce.parse_args(["--write-docs", "--quick"])
    assert "--write-docs" in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(),
                    reason="needs a git checkout")
@pytest.mark.parametrize("path, ignored", [
    ("fit.png", True),  # tinymeta evaluate --plot fit.png
    ("fomaml.svg", True),  # tinymeta graph --out fomaml.svg
    ("maml-k2.svg", True), ("fomaml-k2.png", True), ("maml-vs-fomaml-k1.dot", True),
    ("runs/maml/params.npz", True), ("demo-output/fit.png", True),
    ("runs/.checkpoint.npz.123.tmp", True),
    ("docs/figures/maml-k2.svg", False), ("docs/figures/sinusoid_fit.png", False),
    ("docs/results.md", False),
])
def test_gitignore_covers_default_outputs_but_not_the_docs(path, ignored):
    result = subprocess.run(["git", "check-ignore", "-q", "--no-index", path], cwd=ROOT)
    assert result.returncode == (0 if ignored else 1), path
