"""The examples run: the main demo (at a tiny size) and the tanh derivatives."""

import runpy
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_demo_runs_and_writes_its_outputs(tmp_path, capsys):
    demo = runpy.run_path(str(ROOT / "examples" / "demo.py"))
    assert demo["main"](["--iterations", "3", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "5-shot evaluation on 600 new tasks" in printed and "FOMAML" in printed
    assert (tmp_path / "fit.png").stat().st_size > 0
    assert "second-order" in (tmp_path / "maml-vs-fomaml.dot").read_text()
    assert "dropped" in (tmp_path / "jacobian-report.txt").read_text()
    if shutil.which("dot"):
        assert (tmp_path / "maml-vs-fomaml.svg").stat().st_size > 0


def test_tanh_demo_matches_closed_forms():
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "tanh_derivatives.py")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "order" in result.stdout.lower()
