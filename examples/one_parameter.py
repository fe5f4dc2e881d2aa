"""MAML against first-order MAML on one parameter: the table of docs/what-fomaml-drops.md.

    .venv/bin/python examples/one_parameter.py

The task is the README's L(w) = (2w − 3)², adapted from w = 1 with k inner SGD
steps wᵢ = wᵢ₋₁ − αL′(wᵢ₋₁). L″ = 8 everywhere, so every factor of the chain
rule, ∂wᵢ/∂wᵢ₋₁ = 1 − αL″, is the same number, and

    MAML = L′(w_k) · (1 − αL″)^k,    FOMAML = L′(w_k).

Both columns below come from ``tm.grad`` (FOMAML with ``tm.stop_gradient`` on
the inner gradient); the script checks that MAML is FOMAML times the factor.
"""

from tinymeta.meta.report import one_parameter_table, one_parameter_text


def main() -> int:
    rows = one_parameter_table()
    print("L(w) = (2w − 3)², w₀ = w = 1, L′(w) = 8w − 12, L″ = 8\n")
    print(one_parameter_text(rows))
    worst = max(abs(r.maml - r.fomaml * r.factor) for r in rows)
    print(f"\nmax |MAML − FOMAML · (1 − αL″)^k| = {worst:.1e}  (exact up to rounding)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
