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
