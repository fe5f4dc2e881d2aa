"""The `tinymeta` command starts without the renderer, and its choices come from one place.

`tinymeta` builds every subcommand's parser on every run, so anything a parser
needs is imported by every command. `graph` and `explain` (tinymeta/cli/graph.py)
must therefore leave tinymeta.viz, and graphviz with it, to their handlers.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tinymeta import viz
from tinymeta.cli import main
from tinymeta.meta.algorithms import ALGORITHMS
from tinymeta.meta.training import DTYPES

ROOT = Path(__file__).resolve().parents[1]

# Run in a fresh interpreter: in this one, other tests have long since imported tinymeta.viz.
STARTUP = """
import contextlib, io, sys
from tinymeta.cli import main

def renderer():
    return sorted(m for m in ("graphviz", "tinymeta.viz") if m in sys.modules)

with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    assert main(["train", "--help"]) == 0
    assert main(["graph", "--help"]) == 0
    assert main(["evaluate", "no/such/run"]) == 2
assert renderer() == [], f"tinymeta start-up imported {renderer()}"

with contextlib.redirect_stdout(io.StringIO()):  # and the check can see an import
    assert main(["graph", "--format", "text"]) == 0
assert renderer() == ["graphviz", "tinymeta.viz"], renderer()
"""


def test_start_up_does_not_import_the_renderer():
    result = subprocess.run([sys.executable, "-c", STARTUP], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("argv, option, choices", [
    (["graph"], "--algo", viz.GRAPH_ALGORITHMS),
    (["train"], "--algo", ALGORITHMS),
    (["train"], "--dtype", DTYPES),
])
def test_help_lists_the_library_choices(capsys, argv, option, choices):
    assert main([*argv, "--help"]) == 0
    assert f"{option} {{{','.join(choices)}}}" in capsys.readouterr().out
