"""Shared by tests/test_sweep*.py: a tiny sweep spec and ways to read what a sweep wrote."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

# 2 algorithms x 2 inner rates x 1 seed = 4 runs of 40 iterations on a 1->8->1 network
TINY_SPEC = """\
[axes]
algo = ["maml", "fomaml"]
inner_lr = [0.01, 0.001]
seed = [0]

[train]
iterations = 40
hidden = [8]
meta_batch = 4

[evaluate]
steps = [1, 5]
tasks = 20
"""

TIMINGS = ("train_seconds", "eval_seconds", "attempts")


def write_spec(directory: Path, text: str = TINY_SPEC, name: str = "tiny.toml") -> Path:
    path = directory / name
    path.write_text(text)
    return path


def runs_table(out: Path, drop: tuple[str, ...] = TIMINGS) -> list[dict[str, str]]:
    """runs.csv as dicts, without the columns that depend on timing (or retries)."""
    rows = list(csv.DictReader(io.StringIO((out / "runs.csv").read_text())))
    return [{k: v for k, v in row.items() if k not in drop} for row in rows]


def attempts(run_dir: Path) -> list[dict]:
    return json.loads((run_dir / "attempts.json").read_text())
