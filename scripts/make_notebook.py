"""Write examples/what-fomaml-drops.ipynb and execute it, so it is committed with its outputs.

    .venv/bin/pip install -e '.[notebook]'     # nbformat, nbclient, ipykernel
    .venv/bin/python scripts/make_notebook.py

The cells live here, as text, so a change to the notebook is a readable diff of
this file; the .ipynb is the executed result. tests/test_notebook.py runs the
committed notebook again with nbclient and compares its text outputs, so it
cannot rot. The pictures need Graphviz's `dot` (without it they show as text).
"""

from __future__ import annotations

import sys
from pathlib import Path

NOTEBOOK = Path(__file__).resolve().parent.parent / "examples" / "what-fomaml-drops.ipynb"

CELLS: list[tuple[str, str]] = [
    ("markdown", """\
# What first-order MAML drops

A notebook companion to [docs/what-fomaml-drops.md](../docs/what-fomaml-drops.md).
MAML's meta-gradient is a product of Jacobians,

$$\\nabla_\\theta L_{query}(\\theta_k) =
\\Big(\\frac{\\partial\\theta_0}{\\partial\\theta}\\Big)^{\\!T}
J_1^T \\cdots J_k^T\\, \\nabla L_{query}(\\theta_k),\\qquad
\\frac{\\partial\\theta_0}{\\partial\\theta} = I,\\qquad
J_i = I - \\alpha \\nabla^2 L(\\theta_{i-1}),$$

and first-order MAML (FOMAML) replaces every $J_i$ by $I$. Below: the one-parameter
example where this is exact arithmetic, the pictures of the graph with the cut, and
every Jacobian of a small network, all computed by tinymeta."""),
    ("code", """\
import tinymeta as tm
from tinymeta import viz
from tinymeta.meta import maml_objective"""),
    ("markdown", """\
## One parameter

The README's task $L(w) = (2w - 3)^2$ has $L'' = 8$ everywhere, so every factor
$\\partial w_i/\\partial w_{i-1} = 1 - \\alpha L''$ is the same number and MAML's
meta-gradient is FOMAML's times $(1 - \\alpha L'')^k$ exactly. One inner step with
$\\alpha = 0.2$ overshoots the minimum, the factor is $-0.6$, and FOMAML points the
wrong way:"""),
    ("code", """\
def loss(w):
    return (2.0 * w - 3.0) ** 2

def adapted_loss(w, alpha=0.2, first_order=False):
    g = tm.grad(loss)(w)                      # L'(w), recorded: it depends on w
    if first_order:
        g = tm.stop_gradient(g)               # FOMAML: the inner gradient is a constant
    return loss(w - alpha * g)

maml, fomaml = tm.grad(adapted_loss)(1.0), tm.grad(adapted_loss)(1.0, first_order=True)
print(f"MAML {maml.item():+.4f}   FOMAML {fomaml.item():+.4f}   "
      f"ratio {maml.item() / fomaml.item():+.4f} = 1 − 0.2 · 8")"""),
    ("markdown", "The whole table of the docs page, for three step sizes and k = 1, 2:"),
    ("code", """\
from IPython.display import Markdown
from tinymeta.meta.report import one_parameter_text

Markdown(one_parameter_text())"""),
    ("markdown", """\
## The pictures, k = 1

MAML and FOMAML drawn by scope, at the same positions: $\\theta \\to \\theta_0$ is
the edge **I** $= \\partial\\theta_0/\\partial\\theta$; the red Hessian path of inner
step 1 is MAML's $-\\alpha\\nabla^2 L(\\theta_0)$, cut by `stop_gradient` and greyed in
FOMAML. Edge labels are the norm of the meta-gradient flowing back along each edge.
(The problem is the one of `tinymeta graph` and `tinymeta explain`: a 1→3→1 tanh MLP
on one sinusoid task with 10 support and 10 query points, α = 0.01.)"""),
    ("code", """\
maml_graph, fomaml_graph = viz.meta_graph("maml", 1), viz.meta_graph("fomaml", 1)
viz.compare([("MAML", maml_graph), ("FOMAML", fomaml_graph)], detail="scopes", flow=True)"""),
    ("markdown", """\
A walked `Graph` displays itself: here FOMAML with one node per op. Hover over a
node to see its op, shape, derivative order, scope and value."""),
    ("code", "fomaml_graph"),
    ("markdown", """\
`viz.draw` draws any function; a `tinymeta.meta` objective is drawn with the
figures' tanh unless you pass `activation=`. With `flow=True`, adjoints of at
most four numbers are printed with their signs: at each $\\theta_0$ the identity
edge's contribution and the Hessian path's add up to MAML's meta-gradient."""),
    ("code", """\
params, batch = viz.meta_problem()           # θ and the task of every picture
viz.draw(maml_objective, params, batch, 0.01, 1, batched=False, flow=True)"""),
    ("markdown", "The same graph as text (a Wengert list), which needs no Graphviz:"),
    ("code", """\
text = viz.wengert(maml_objective, params, batch, 0.01, 1, batched=False)
print(text.splitlines()[-1])"""),
    ("markdown", """\
## Every Jacobian: `tinymeta explain`

$\\partial\\theta_0/\\partial\\theta$, each $J_i$ against $I - \\alpha H_i$, their
product, both meta-gradients and the dropped term, computed with `tm.jacobian`,
`tm.hessian` and `tm.grad`:"""),
    ("code", """\
report = viz.jacobian_report(inner_steps=2, with_reptile=False)
report"""),
    ("markdown", """\
FOMAML is a good approximation when $k\\alpha\\lVert H\\rVert \\ll 1$:
$\\lVert \\prod_i (I - \\alpha H_i) - I \\rVert
\\le \\prod_i (1 + \\alpha\\lVert H_i\\rVert) - 1$."""),
    ("code", """\
print("‖αHᵢ‖₂:", [round(n, 3) for n in report.step_norms])
print(f"bound ∏(1 + ‖αHᵢ‖₂) − 1 = {report.deviation_bound:.3f}")
print(f"‖∂θ_k/∂θ − I‖₂ = {report.product_deviation:.3f}")
print(f"‖dropped‖ / ‖MAML‖ = {report.dropped_norm_ratio:.3f}, "
      f"cosine(MAML, FOMAML) = {report.cosine:.4f}")"""),
    ("markdown", """\
With ReLU the network is linear within each layer, but not across layers, and the
loss Hessian keeps its Gauss–Newton term, so FOMAML still drops a good part:"""),
    ("code", """\
for k in (1, 2):
    r = viz.jacobian_report(k, activation="relu", with_reptile=False)
    print(f"relu, k = {k}: ‖dropped‖ / ‖MAML‖ = {r.dropped_norm_ratio:.3f}")"""),
    ("markdown", """\
`tm.jit` does not exist yet; once it does, a cell here will show the generated
programs of MAML and FOMAML side by side, differing by the Hessian-path lines."""),
]


def build():  # -> nbformat.NotebookNode
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for i, (kind, source) in enumerate(CELLS):
        cell = (nbformat.v4.new_markdown_cell(source) if kind == "markdown"
                else nbformat.v4.new_code_cell(source))
        cell["id"] = f"cell-{i:02d}"  # stable ids: a re-run changes only what changed
        nb.cells.append(cell)
    return nb


def execute(nb, cwd: Path, timeout: int = 120):
    from nbclient import NotebookClient

    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(cwd)}}).execute()
    for cell in nb.cells:  # execution times and counts would make every re-run a diff
        cell.get("metadata", {}).pop("execution", None)
    return nb


def main() -> int:
    try:
        import nbformat
    except ImportError:
        print("make_notebook: needs the notebook extra: .venv/bin/pip install -e '.[notebook]'",
              file=sys.stderr)
        return 1
    nb = execute(build(), NOTEBOOK.parent)
    NOTEBOOK.write_text(nbformat.writes(nb) + "\n", encoding="utf-8")
    print(f"wrote {NOTEBOOK}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
