"""Regenerate the figures of docs/what-fomaml-drops.md (and print the report's numbers).

    .venv/bin/python scripts/make_figures.py            # writes docs/figures/*.svg
    .venv/bin/python scripts/make_figures.py --check    # fails if a committed SVG is stale

Needs the Graphviz `dot` program (apt-get install graphviz / brew install graphviz).
Every figure is the same tiny problem as `tinymeta graph`: a 1→4→1 tanh MLP on one
sinusoid task with 5 support points, α = 0.01, θ drawn with standard deviation 1.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from tinymeta.viz import compare, gradient_flow, jacobian_report, meta_graph, to_digraph

FIGURES = Path(__file__).resolve().parent.parent / "docs" / "figures"
NET = "MLP 1→4→1 (tanh), one task"


def figures() -> dict[str, bytes]:
    out = {}
    for k in (1, 2):
        steps = f"k = {k} inner step{'s' * (k != 1)}"
        for algo, name in (("maml", "MAML"), ("fomaml", "FOMAML (first-order)")):
            dot = to_digraph(meta_graph(algo, k), title=f"{name}: {steps}, {NET}")
            out[f"{algo}-k{k}.svg"] = dot.pipe(format="svg")
    for k in (2, 5):
        panels = [("MAML", meta_graph("maml", k)), ("FOMAML", meta_graph("fomaml", k))]
        dot = compare(panels, detail="scopes", flow=True,
                      title=f"MAML | FOMAML: k = {k} inner steps, {NET}; edge labels: "
                            f"‖adjoint‖ of the meta-gradient")
        out[f"maml-vs-fomaml-k{k}-scopes.svg"] = dot.pipe(format="svg")
    g = meta_graph("maml", 1)
    dot = to_digraph(g, flow=gradient_flow(g),
                     title=f"MAML: k = 1, {NET}; edge labels: ‖adjoint‖ of the meta-gradient")
    out["maml-k1-flow.svg"] = dot.pipe(format="svg")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="compare with the committed SVGs instead of writing them")
    args = parser.parse_args()
    if shutil.which("dot") is None:
        print("make_figures: the Graphviz 'dot' program is not installed "
              "(apt-get install graphviz / brew install graphviz)", file=sys.stderr)
        return 1
    stale = []
    FIGURES.mkdir(parents=True, exist_ok=True)
    for name, data in figures().items():
        path = FIGURES / name
        if args.check:
            if not path.exists() or path.read_bytes() != data:
                stale.append(name)
        else:
            path.write_bytes(data)
            print(f"wrote {path.relative_to(FIGURES.parent.parent)}")
    report = jacobian_report(inner_steps=2)
    print(f"\n# numbers quoted in docs/what-fomaml-drops.md (tinymeta explain --inner-steps 2)\n"
          f"{report.text()}")
    if stale:
        print(f"stale figures (run scripts/make_figures.py): {', '.join(stale)}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
