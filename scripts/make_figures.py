"""Regenerate the figures of docs/what-fomaml-drops.md and print every number it quotes.

    .venv/bin/python scripts/make_figures.py            # writes docs/figures/*.svg
    .venv/bin/python scripts/make_figures.py --check    # fails if a committed SVG is stale

Needs the Graphviz `dot` program (apt-get install graphviz / brew install graphviz).
Every figure is the problem of `tinymeta graph` and `tinymeta explain`: a 1→3→1 tanh
MLP on one sinusoid task with 10 support and 10 query points, α = 0.01, θ drawn with
standard deviation 1. The MAML and FOMAML pictures of one k share their node
positions (`side_by_side`, laid out once), so flipping between them shows only the cut.
Pixel sizes are for 96 dpi (`dot -Tpng`): 1 pt = 4/3 px.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from pathlib import Path

from tinymeta.meta.report import jacobian_report, one_parameter_text
from tinymeta.viz import compare, gradient_flow, meta_graph, side_by_side, to_digraph

FIGURES = Path(__file__).resolve().parent.parent / "docs" / "figures"
NET = "MLP 1→3→1 (tanh), one task"
# the figure that leads the page, for slides: at most this wide, text at least 12 px
SLIDE = "maml-vs-fomaml-k1-scopes.svg"
SLIDE_MAX_PX = 1600
MIN_TEXT_PX = 12


def figures(fmt: str = "svg") -> dict[str, bytes]:
    out = {}
    g1 = {a: meta_graph(a, 1) for a in ("maml", "fomaml")}
    panels = [("MAML", g1["maml"]), ("FOMAML", g1["fomaml"])]
    out[SLIDE.replace(".svg", f".{fmt}")] = compare(panels, detail="scopes", flow=True,
                         title="MAML | FOMAML, k = 1: the cut is the only difference"
                         ).pipe(format=fmt)
    for k in (1, 2):
        steps = f"k = {k} inner step{'s' * (k != 1)}"
        graphs = g1 if k == 1 else {a: meta_graph(a, k) for a in ("maml", "fomaml")}
        pair = [("MAML", graphs["maml"], None), ("FOMAML (first-order)", graphs["fomaml"], None)]
        for i, algo in enumerate(("maml", "fomaml")):
            # one panel of the pair, at its place in the pair's layout
            dot = side_by_side(pair, title=f"{pair[i][0]}: {steps}, {NET}", only=i)
            out[f"{algo}-k{k}.{fmt}"] = dot.pipe(format=fmt)
    for k in (2, 5):
        dot = compare([("MAML", meta_graph("maml", k)), ("FOMAML", meta_graph("fomaml", k))],
                      detail="scopes", flow=True,
                      title=f"MAML | FOMAML: k = {k} inner steps; edge labels: ‖adjoint‖")
        out[f"maml-vs-fomaml-k{k}-scopes.{fmt}"] = dot.pipe(format=fmt)
    g = g1["maml"]
    dot = to_digraph(g, flow=gradient_flow(g),
                     title=f"MAML: k = 1, {NET}; edge labels: the adjoint (signed entries "
                           f"when ≤ 4, else its norm)")
    out[f"maml-k1-flow.{fmt}"] = dot.pipe(format=fmt)
    return out


def pixel_size(svg: bytes) -> tuple[int, int]:
    """(width, height) in px at 96 dpi, from the SVG's width and height in pt."""
    m = re.search(rb'<svg width="([\d.]+)pt" height="([\d.]+)pt"', svg)
    if m is None:
        raise ValueError("no width/height in pt in the SVG")
    return round(float(m.group(1)) * 4 / 3), round(float(m.group(2)) * 4 / 3)


def smallest_text_px(svg: bytes) -> float:
    sizes = [float(s) for s in re.findall(rb'font-size="([\d.]+)"', svg)]
    return min(sizes) * 4 / 3


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
    print("figure                               width × height (px at 96 dpi)  smallest text")
    for name, data in figures().items():
        path = FIGURES / name
        w, h = pixel_size(data)
        print(f"  {name:<36} {w:>5} × {h:<5}                    {smallest_text_px(data):.1f} px")
        if args.check:
            if not path.exists() or path.read_bytes() != data:
                stale.append(name)
        else:
            path.write_bytes(data)
    if not args.check:
        print(f"wrote them to {FIGURES.relative_to(FIGURES.parent.parent)}/")
    print("\n# the one-parameter table (examples/one_parameter.py)\n" + one_parameter_text())
    report = jacobian_report(inner_steps=2)
    print(f"\n# numbers quoted in docs/what-fomaml-drops.md (tinymeta explain --inner-steps 2)\n"
          f"{report.text()}")
    for activation in ("tanh", "relu"):
        for k in (1, 2, 5):
            r = jacobian_report(k, activation=activation, with_reptile=False)
            print(f"{activation} k = {k}: max |Jᵢ − (I − αHᵢ)| = {r.max_jacobian_error:.1e}, "
                  f"‖αHᵢ‖₂ = {', '.join(f'{n:.3f}' for n in r.step_norms)}, bound "
                  f"{r.deviation_bound:.3f}, ‖dropped‖/‖MAML‖ = {r.dropped_norm_ratio:.3f}, "
                  f"cosine = {r.cosine:.4f}")
    if stale:
        print(f"stale figures (run scripts/make_figures.py): {', '.join(stale)}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
