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


def test_report_docstring_puts_the_first_factor_leftmost():
    """∇_θ L_query(θ_k) = (∂θ₀/∂θ)ᵀ (∂θ₁/∂θ₀)ᵀ ··· (∂θ_k/∂θ_{k−1})ᵀ ∇L_query(θ_k)."""
    import tinymeta.meta.report as report

    line = next(x for x in report.__doc__.splitlines() if "∇_θ L_query(θ_k) =" in x)
    factors = [line.index(f) for f in ("(∂θ₀/∂θ)ᵀ", "(∂θ₁/∂θ₀)ᵀ", "(∂θ_k/∂θ_{k−1})ᵀ",
                                       "∇L_query(θ_k)")]
    assert factors == sorted(factors)


def test_autodiff_doc_mentions_the_warnings_its_examples_print():
    text = (ROOT / "docs" / "autodiff.md").read_text()
    assert "divide by zero" in text  # numpy's RuntimeWarning under debug_nans
    assert "the order-1 nodes feeding the update are exactly" not in text.lower()
