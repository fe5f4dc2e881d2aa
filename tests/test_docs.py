"""The docs are executable: every example in docs/autodiff.md runs and prints what it shows."""

import doctest
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", ["docs/autodiff.md"])
def test_doc_examples_run(name):
    result = doctest.testfile(
        str(ROOT / name), module_relative=False, optionflags=doctest.NORMALIZE_WHITESPACE
        | doctest.ELLIPSIS, verbose=False,
    )
    assert result.attempted > 20, f"{name}: expected its examples to be found"
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} examples failed"


def test_numpy_function_table_is_current():
    """docs/autodiff.md's table of numpy functions is generated from the op registry."""
    import subprocess
    import sys

    script = ROOT / "scripts" / "numpy_functions_table.py"
    result = subprocess.run([sys.executable, str(script), "--check"], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
