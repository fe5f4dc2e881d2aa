"""``tinymeta graph`` and ``tinymeta explain``: the renderer and the report on the command line.

    tinymeta graph --algo maml --inner-steps 2 --format svg --out maml.svg
    tinymeta graph --algo fomaml --inner-steps 5 --detail scopes --format png --out fo.png
    tinymeta graph --inner-steps 1 --side-by-side --out maml-vs-fomaml.svg
    tinymeta graph --algo maml --format text            # the Wengert list, no Graphviz needed
    tinymeta explain --inner-steps 2 [--json]

``tinymeta.cli`` registers these: each subcommand is an ``*_arguments(parser)``
function and a ``run(args) -> exit status`` function. Bad input prints one
line on stderr and returns 2; a missing Graphviz ``dot`` program prints how
to install it, writes the DOT source instead, and returns 1.

This module sits beside ``cli.py``, not inside ``tinymeta.viz``, and imports
``tinymeta.viz`` (and with it graphviz) only inside ``graph`` and ``explain``:
``tinymeta`` builds every subcommand's parser on every run, and ``tinymeta
train`` should not pay for loading the renderer.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tinymeta.argtypes import layer_widths, positive_float, positive_int
from tinymeta.graph_algorithms import GRAPH_ALGORITHMS

__all__ = ["graph_arguments", "graph", "explain_arguments", "explain", "FORMATS"]

FORMATS = ("svg", "png", "pdf", "dot", "text")

_INSTALL_DOT = ("Install Graphviz to render it (Debian/Ubuntu: apt-get install graphviz; "
                "Fedora: dnf install graphviz; macOS: brew install graphviz)")


def _error(command: str, message: str) -> int:
    print(f"tinymeta {command}: error: {message}", file=sys.stderr)
    return 2


# ---------------------------------------------------------------- graph
def graph_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--algo", choices=GRAPH_ALGORITHMS, default="maml",
                   help="whose meta-gradient to draw (maml)")
    p.add_argument("--inner-steps", type=positive_int, default=1, metavar="K",
                   help="k inner SGD steps (1)")
    p.add_argument("--detail", choices=("ops", "scopes"), default="ops",
                   help="ops: one node per op; scopes: one box per role in each name scope, "
                        "readable for k = 5 (ops)")
    p.add_argument("--format", choices=FORMATS, default=None,
                   help="svg, png, pdf (need Graphviz's dot), dot (the DOT source) or text "
                        "(the Wengert list); default: from --out's suffix, else svg")
    p.add_argument("--out", type=Path, default=None, metavar="FILE",
                   help="output file (default: stdout for dot and text, else <algo>-k<K>.<fmt>)")
    p.add_argument("--side-by-side", action="store_true",
                   help="draw MAML | FOMAML next to each other (with --algo maml or fomaml)")
    p.add_argument("--flow", action="store_true",
                   help="overlay the gradient flow: each edge's pen width and label show the "
                        "norm of the adjoint through it")
    p.add_argument("--hidden", type=layer_widths, default=[3],
                   help="hidden layer widths (3: explain's 1→3→1 MLP)")
    p.add_argument("--activation", choices=("tanh", "relu"), default="tanh")
    p.add_argument("--inner-lr", type=positive_float, default=0.01, help="α (0.01)")
    p.add_argument("--shots", type=positive_int, default=10,
                   help="support (and query) points (10, as explain)")
    p.add_argument("--seed", type=int, default=0, help="seed for θ and the task (0)")


def _format_of(args: argparse.Namespace) -> str:
    if args.format:
        return args.format
    suffix = args.out.suffix.lstrip(".").lower() if args.out else ""
    return {"txt": "text", "gv": "dot"}.get(suffix, suffix if suffix in FORMATS else "svg")


def graph(args: argparse.Namespace) -> int:
    """Draw the graph of one meta-gradient (see the module docstring)."""
    import graphviz

    from tinymeta.viz.dot import side_by_side, to_digraph
    from tinymeta.viz.flow import gradient_flow
    from tinymeta.viz.meta_graphs import meta_graph
    from tinymeta.viz.text import wengert_list

    fmt = _format_of(args)
    k = args.inner_steps
    if args.side_by_side and args.algo not in ("maml", "fomaml"):
        return _error("graph", f"--side-by-side compares MAML with FOMAML; it does not apply to "
                               f"--algo {args.algo}")
    if args.flow and args.algo == "reptile":
        return _error("graph", "--flow needs a scalar meta-objective; Reptile's direction "
                               "θ − θ_k has one output per parameter")
    algos = ("maml", "fomaml") if args.side_by_side else (args.algo,)
    sizes = (1, *args.hidden, 1)
    graphs = [meta_graph(a, k, sizes, args.activation, args.inner_lr, args.shots, args.seed)
              for a in algos]
    flows = [gradient_flow(g) if args.flow else None for g in graphs]
    names = {"maml": "MAML", "fomaml": "FOMAML (first-order)", "reptile": "Reptile",
             "metasgd": "Meta-SGD"}
    steps = f"k = {k} inner step{'s' * (k != 1)}"
    net = "→".join(map(str, sizes))
    if fmt == "text":
        parts = []
        for a, g, f in zip(algos, graphs, flows, strict=True):
            parts.append(f"# {names[a]}, {steps}, MLP {net} ({args.activation}), one task\n"
                         + wengert_list(g, f))
        return _write(args.out, "\n\n".join(parts) + "\n", None)

    title = f"{' | '.join(names[a] for a in algos)}: {steps}, MLP {net} ({args.activation})"
    if args.flow:
        title += "; edge labels: ‖adjoint‖"
    if args.side_by_side:
        dot = side_by_side([(names[a], g, f) for a, g, f in zip(algos, graphs, flows, strict=True)],
                           detail=args.detail, title=title)
    else:
        dot = to_digraph(graphs[0], detail=args.detail, flow=flows[0], title=title)
    if fmt == "dot":
        return _write(args.out, dot.source, None)

    stem = "maml-vs-fomaml" if args.side_by_side else args.algo
    out = args.out or Path(f"{stem}-k{k}.{fmt}")
    try:
        data = dot.pipe(format=fmt)
    except graphviz.ExecutableNotFound:
        dot_file = out.with_suffix(".dot")
        status = _write(dot_file, dot.source, "graph")
        if status == 0:
            print(f"tinymeta graph: the Graphviz 'dot' program was not found, so {out} was not "
                  f"rendered; wrote the DOT source to {dot_file} instead. {_INSTALL_DOT}, then "
                  f"run: dot -T{fmt} {dot_file} -o {out}", file=sys.stderr)
        return 1
    return _write(out, data, "graph")


def _write(out: Path | None, data: str | bytes, command: str | None) -> int:
    if out is None or str(out) == "-":
        if isinstance(data, bytes):
            sys.stdout.buffer.write(data)
        else:
            sys.stdout.write(data if data.endswith("\n") else data + "\n")
        return 0
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, bytes):
            out.write_bytes(data)
        else:
            out.write_text(data if data.endswith("\n") else data + "\n", encoding="utf-8")
    except OSError as error:
        return _error(command or "graph", f"cannot write {out}: {error}")
    if command:
        print(f"wrote {out}")
    return 0


# ---------------------------------------------------------------- explain
def explain_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--inner-steps", type=positive_int, default=2, metavar="K",
                   help="k inner SGD steps (2)")
    p.add_argument("--json", action="store_true",
                   help="print JSON (keys include max_jacobian_error, dropped_norm_ratio, "
                        "cosine)")
    p.add_argument("--inner-lr", type=positive_float, default=0.01, help="α (0.01)")
    p.add_argument("--hidden", type=layer_widths, default=[3],
                   help="hidden layer widths (3: a 1→3→1 MLP, 10 parameters)")
    p.add_argument("--activation", choices=("tanh", "relu"), default="tanh")
    p.add_argument("--shots", type=positive_int, default=10,
                   help="support (and query) points (10, as graph)")
    p.add_argument("--seed", type=int, default=0, help="seed for θ and the task (0)")
    p.add_argument("--no-reptile", action="store_true",
                   help="skip the Reptile-paper check (FOMAML keeps half of AvgGradInner)")


def explain(args: argparse.Namespace) -> int:
    """Print every factor of ∂θ_k/∂θ and what FOMAML drops (see ``report.py``)."""
    from tinymeta.meta.report import jacobian_report

    sizes = (1, *args.hidden, 1)
    n = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:], strict=False))
    if n > 200:
        return _error("explain", f"a {'→'.join(map(str, sizes))} network has {n} parameters; "
                                 f"the report prints {n}×{n} matrices, keep it under 200")
    report = jacobian_report(args.inner_steps, args.inner_lr, sizes, args.activation,
                             args.shots, seed=args.seed, with_reptile=not args.no_reptile)
    print(report.to_json() if args.json else report.text())
    return 0
