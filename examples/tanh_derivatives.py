"""Derivatives of tanh up to order 4 by nested ``tm.grad``, next to their closed forms.

Each ``tm.grad`` differentiates the previous function, so ``d[4]`` is
grad(grad(grad(grad(tanh)))). With t = tanh(x) and t' = 1 − t² the chain rule gives

    d1 = 1 − t²
    d2 = −2t (1 − t²)
    d3 = (1 − t²)(6t² − 2)
    d4 = 8t (1 − t²)(2 − 3t²)

(d2 = −2t·t'; d3 = −2t'·t' − 2t·(−2t·t') = t'(6t² − 2);
 d4 = −2t·t'·(6t² − 2) + t'·12t·t' = 8t·t'(2 − 3t²)).

Run:  python examples/tanh_derivatives.py      (exits 1 if any difference > 1e-10)
"""

import sys

import numpy as np

import tinymeta as tm

TOLERANCE = 1e-10

CLOSED_FORMS = {
    1: lambda t: 1 - t**2,
    2: lambda t: -2 * t * (1 - t**2),
    3: lambda t: (1 - t**2) * (6 * t**2 - 2),
    4: lambda t: 8 * t * (1 - t**2) * (2 - 3 * t**2),
}


def main() -> int:
    derivative = {0: tm.tanh}
    for order in range(1, 5):
        derivative[order] = tm.grad(derivative[order - 1])

    print("derivatives of tanh: nested tm.grad vs closed form in t = tanh(x)\n")
    print(f"{'x':>6}  {'order':>5}  {'tinymeta':>22}  {'closed form':>22}  {'|difference|':>12}")
    worst = 0.0
    for x in (-2.0, -0.5, 0.0, 0.3, 1.0):
        t = np.tanh(x)
        for order in range(1, 5):
            ours = derivative[order](x).item() + 0.0  # + 0.0 turns -0.0 into 0.0
            exact = CLOSED_FORMS[order](t) + 0.0
            diff = abs(ours - exact)
            worst = max(worst, float(np.nan_to_num(diff, nan=np.inf)))  # nan fails too
            print(f"{x:6.2f}  {order:5d}  {ours:22.15e}  {exact:22.15e}  {diff:12.1e}")
        print()
    print(f"max |difference| = {worst:.1e} (tolerance {TOLERANCE:g})")
    if worst > TOLERANCE:
        print("FAILED: a derivative disagrees with its closed form", file=sys.stderr)
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
