"""``tinymeta graph`` and ``tinymeta explain``: the renderer and the report on the command line.

    tinymeta graph --algo maml --inner-steps 2 --out runs/maml.svg
    tinymeta graph --algo fomaml --inner-steps 5 --detail scopes --out runs/fo.png
    tinymeta graph --inner-steps 1 --side-by-side --out runs/maml-vs-fomaml.svg
    tinymeta graph --algo maml --format text            # the Wengert list, no Graphviz needed
    tinymeta explain --inner-steps 2 [--json]

``tinymeta.cli`` registers these: each subcommand is an ``*_arguments(parser)``
function and a ``run(args) -> exit status`` function. Bad input prints one
line on stderr and returns 2; a missing Graphviz ``dot`` program prints how
to install it, writes the DOT source instead, and returns 1.

The output file means what it says. ``--out``'s suffix sets the format
(``--format`` may repeat it, not contradict it; an unknown suffix is an
error), and all of that, the path and the size of the graph are checked
before anything is computed. The file ``--out`` names is replaced if it
exists; any other file (the default ``runs/<algo>-k<K>.<format>``, or the
``.dot`` written beside it when Graphviz is missing) only with ``--force``.

This module is part of the command line, not of ``tinymeta.viz``, and imports
``tinymeta.viz`` (and with it graphviz) only inside ``graph`` and ``explain``:
``tinymeta`` builds every subcommand's parser on every run, and ``tinymeta
train`` should not pay for loading the renderer.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from tinymeta.cli.argtypes import (
    layer_widths,
    non_negative_int,
    output_file,
    positive_float,
    positive_int,
    unwritable_reason,
)
from tinymeta.cli.checks import UsageError, check_fits
from tinymeta.meta.algorithms import GRAPH_ALGORITHMS
from tinymeta.meta.checkpoint import atomic_write

__all__ = [
    "graph_arguments", "graph", "explain_arguments", "explain", "FORMATS", "GRAPH_HELP",
    "EXPLAIN_HELP",
]

GRAPH_HELP = "draw the graph of one meta-gradient (MAML, FOMAML, Reptile, Meta-SGD)"
EXPLAIN_HELP = "every Jacobian of MAML's chain rule, and what first-order MAML drops"

FORMATS = ("svg", "png", "pdf", "dot", "text")

_INSTALL_DOT = ("Install Graphviz to render it (Debian/Ubuntu: apt-get install graphviz; "
                "Fedora: dnf install graphviz; macOS: brew install graphviz)")


def _error(command: str, message: str) -> int:
    print(f"tinymeta {command}: error: {message}", file=sys.stderr)
    return 2


# ---------------------------------------------------------------- graph
def graph_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--algo", choices=GRAPH_ALGORITHMS, default="maml",
                   help="whose meta-gradient to draw")
    p.add_argument("--inner-steps", type=positive_int, default=1, metavar="K",
                   help="k inner SGD steps")
    p.add_argument("--detail", choices=("ops", "scopes"), default="ops",
                   help="ops: one node per op; scopes: one box per role in each name scope, "
                        "readable for k = 5")
    p.add_argument("--format", choices=FORMATS, default=None,
                   help="svg, png, pdf (need Graphviz's dot), dot (the DOT source) or text "
                        "(the Wengert list) (default: from --out's suffix, else svg)")
    p.add_argument("--out", type=output_file, default=None, metavar="FILE",
                   help="output file; its suffix (.svg .png .pdf .dot .gv .txt) sets the "
                        "format (default: stdout for dot and text, else "
                        "runs/<algo>-k<K>.<format>)")
    p.add_argument("--force", action="store_true",
                   help="replace an existing file that --out did not name (the default "
                        "output, or the .dot written when Graphviz is missing)")
    p.add_argument("--side-by-side", action="store_true",
                   help="draw MAML | FOMAML next to each other (with --algo maml or fomaml)")
    p.add_argument("--flow", action="store_true",
                   help="overlay the gradient flow: each edge's pen width and label show the "
                        "norm of the adjoint through it")
    p.add_argument("--hidden", type=layer_widths, default=[3],
                   help="hidden layer widths (3: explain's 1→3→1 MLP)")
    p.add_argument("--activation", choices=("tanh", "relu"), default="tanh",
                   help="the hidden layers' nonlinearity")
    p.add_argument("--inner-lr", type=positive_float, default=0.01, help="α: inner step size")
    p.add_argument("--shots", type=positive_int, default=10,
                   help="support (and query) points, as explain")
    p.add_argument("--seed", type=non_negative_int, default=0, help="seed for θ and the task")


SUFFIXES = {"svg": "svg", "png": "png", "pdf": "pdf", "dot": "dot", "gv": "dot", "txt": "text"}


def _plan(args: argparse.Namespace) -> tuple[str, Path | None, Path | None]:
    """(format, output file or None for stdout, DOT fallback file or None), all checked
    before anything is computed; raises UsageError."""
    out = args.out
    to_stdout = out is not None and str(out) == "-"
    suffix = out.suffix.lstrip(".").lower() if out is not None and not to_stdout else ""
    implied = SUFFIXES.get(suffix)
    if suffix and implied is None:
        raise UsageError(f"tinymeta graph: error: --out {out}: unknown suffix .{suffix}; use "
                         f".svg, .png, .pdf, .dot or .gv (DOT source), .txt (Wengert list)")
    if args.format and implied and implied != args.format:
        raise UsageError(f"tinymeta graph: error: --format {args.format} contradicts --out "
                         f"{out} (a .{suffix} file is {implied}); change or leave out one of them")
    fmt = args.format or implied or "svg"
    if out is None and fmt not in ("dot", "text"):
        stem = "maml-vs-fomaml" if args.side_by_side else args.algo
        out = Path("runs") / f"{stem}-k{args.inner_steps}.{fmt}"
        _check_new_file(out, args.force, "the default output; name another with --out")
    fallback = None
    if fmt in ("svg", "png", "pdf") and shutil.which("dot") is None:
        if to_stdout:
            raise UsageError(f"tinymeta graph: error: --format {fmt} needs the Graphviz 'dot' "
                             f"program, which is not installed; use --format dot, or "
                             f"{_INSTALL_DOT[0].lower()}{_INSTALL_DOT[1:]}")
        fallback = out.with_suffix(".dot")
        if fallback != args.out:
            _check_new_file(fallback, args.force, f"where the DOT source goes because Graphviz "
                                                  f"is not installed to render {out}")
    return fmt, (None if to_stdout else out), fallback


def _check_new_file(path: Path, force: bool, what: str) -> None:
    """A file the user did not name: never replaced without --force."""
    if path.exists() and not force:
        raise UsageError(f"tinymeta graph: error: {path} exists ({what}); pass --force to "
                         f"replace it")
    reason = unwritable_reason(path)
    if reason:
        raise UsageError(f"tinymeta graph: error: cannot write {path}: {reason}")


def _graph_memory(args: argparse.Namespace) -> dict[str, int]:
    """Rough bytes the recorded graph(s) need: every op of every inner step is kept."""
    sizes = (1, *args.hidden, 1)
    n_params = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:], strict=False))
    graphs = 2 if args.side_by_side else 1
    nodes = graphs * (args.inner_steps + 2) * 40 * len(sizes)  # ops per layer and pass
    values = graphs * (args.inner_steps + 2) * 20 * (n_params + args.shots * sum(sizes)) * 8
    return {"--inner-steps: the graph's nodes": 2000 * nodes,
            "--hidden × --shots × --inner-steps: the values the graph keeps": values}


def graph(args: argparse.Namespace) -> int:
    """Draw the graph of one meta-gradient (see the module docstring)."""
    if args.side_by_side and args.algo not in ("maml", "fomaml"):
        return _error("graph", f"--side-by-side compares MAML with FOMAML; it does not apply to "
                               f"--algo {args.algo}")
    if args.flow and args.algo == "reptile":
        return _error("graph", "--flow needs a scalar meta-objective; Reptile's direction "
                               "θ − θ_k has one output per parameter")
    try:
        fmt, out, fallback = _plan(args)
        check_fits("graph", _graph_memory(args))
    except UsageError as error:
        print(error, file=sys.stderr)
        return 2

    import graphviz

    from tinymeta.viz.dot import side_by_side, to_digraph
    from tinymeta.viz.flow import gradient_flow
    from tinymeta.viz.meta_graphs import meta_graph
    from tinymeta.viz.text import wengert_list

    k = args.inner_steps
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
        return _write(out, "\n\n".join(parts) + "\n", out is not None)

    title = f"{' | '.join(names[a] for a in algos)}: {steps}, MLP {net} ({args.activation})"
    if args.flow:
        title += "; edge labels: ‖adjoint‖"
    if args.side_by_side:
        dot = side_by_side([(names[a], g, f) for a, g, f in zip(algos, graphs, flows, strict=True)],
                           detail=args.detail, title=title)
    else:
        dot = to_digraph(graphs[0], detail=args.detail, flow=flows[0], title=title)
    if fmt == "dot":
        return _write(out, dot.source, out is not None)

    try:
        if fallback is not None:  # known before computing: no `dot` on PATH
            raise graphviz.ExecutableNotFound(("dot",))
        data = dot.pipe(format=fmt)
    except graphviz.ExecutableNotFound:
        dot_file = fallback or out.with_suffix(".dot")
        status = _write(dot_file, dot.source, True)
        if status == 0:
            print(f"tinymeta graph: the Graphviz 'dot' program was not found, so {out} was not "
                  f"rendered; wrote the DOT source to {dot_file} instead. {_INSTALL_DOT}, then "
                  f"run: dot -T{fmt} {dot_file} -o {out}", file=sys.stderr)
        return 1
    return _write(out, data, out is not None)


def _write(out: Path | None, data: str | bytes, announce: bool) -> int:
    """Write to ``out`` atomically (None: stdout); say so on stdout if ``announce``."""
    if out is None:
        if isinstance(data, bytes):
            sys.stdout.buffer.write(data)
        else:
            sys.stdout.write(data if data.endswith("\n") else data + "\n")
        return 0
    if isinstance(data, str):
        data = (data if data.endswith("\n") else data + "\n").encode("utf-8")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(out, data)
    except OSError as error:
        return _error("graph", f"cannot write {out}: {error.strerror or error}")
    if announce:
        print(f"wrote {out}")
    return 0


# ---------------------------------------------------------------- explain
def explain_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--inner-steps", type=positive_int, default=2, metavar="K",
                   help="k inner SGD steps")
    p.add_argument("--json", action="store_true",
                   help="print JSON (keys include max_jacobian_error, dropped_norm_ratio, "
                        "cosine)")
    p.add_argument("--inner-lr", type=positive_float, default=0.01, help="α: inner step size")
    p.add_argument("--hidden", type=layer_widths, default=[3],
                   help="hidden layer widths (3 is a 1→3→1 MLP, 10 parameters)")
    p.add_argument("--activation", choices=("tanh", "relu"), default="tanh",
                   help="hidden-layer activation")
    p.add_argument("--shots", type=positive_int, default=10,
                   help="support (and query) points, as graph")
    p.add_argument("--seed", type=non_negative_int, default=0, help="seed for θ and the task")
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
    try:  # every step's n×n Jacobian and Hessian, a few copies each
        check_fits("explain", {"--inner-steps: the Jacobians":
                               8 * (args.inner_steps + 2) * n * n * 8})
    except UsageError as error:
        print(error, file=sys.stderr)
        return 2
    report = jacobian_report(args.inner_steps, args.inner_lr, sizes, args.activation,
                             args.shots, seed=args.seed, with_reptile=not args.no_reptile)
    print(report.to_json() if args.json else report.text())
    return 0
