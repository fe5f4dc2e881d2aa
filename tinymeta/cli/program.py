"""``tinymeta program``: the numpy program ``tm.jit`` makes of a meta-gradient.

    tinymeta program --algo maml --inner-steps 1      # MAML's meta-gradient as numpy
    tinymeta program --diff                           # what first-order MAML leaves out

The program is ``tm.jit(tm.value_and_grad(maml_objective))`` lowered for the
small problem of ``tinymeta graph`` and ``explain`` (one sinusoid task, a 1→3→1
MLP): one numpy call per line, named by scope and op, with each line's derivative
order. ``--diff`` prints the unified diff of the MAML and FOMAML programs: the
lines only MAML has are the second-order terms (the Hessian-vector products
through every inner step) that ``stop_gradient`` removes. The diff leaves out
which dead array a line writes its result into (``out=``): that choice follows
from which arrays are still needed, so it differs between the two programs on
lines that compute the same thing.
"""

from __future__ import annotations

import argparse
import difflib
import re

from tinymeta.cli.argtypes import layer_widths, positive_float, positive_int

HELP = "print the numpy program tm.jit makes of the MAML or FOMAML meta-gradient"


def arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--algo", choices=("maml", "fomaml"), default="maml",
                   help="the meta-gradient to compile")
    p.add_argument("--inner-steps", type=positive_int, default=1, help="k inner SGD steps")
    p.add_argument("--diff", action="store_true",
                   help="print the unified diff of the MAML and FOMAML programs instead")
    p.add_argument("--hidden", type=layer_widths, default=[3], help="hidden layer widths")
    p.add_argument("--activation", choices=("tanh", "relu"), default="tanh",
                   help="hidden-layer activation")
    p.add_argument("--inner-lr", type=positive_float, default=0.01, help="α: inner step size")
    p.add_argument("--shots", type=positive_int, default=10, help="support (and query) points")


def source(algo: str, inner_steps: int, hidden: list[int], activation: str, inner_lr: float,
           shots: int) -> str:
    """The generated source of one meta-gradient's program."""
    import tinymeta as tm
    from tinymeta.meta.algorithms import maml_objective
    from tinymeta.meta.report import small_problem

    params, batch = small_problem((1, *hidden, 1), shots=shots)
    jitted = tm.jit(tm.value_and_grad(maml_objective), static_argnums=(2, 3, 4, 5, 6))
    program = jitted.lower(params, batch, inner_lr, inner_steps, algo == "fomaml", True,
                           activation)
    return program.source


def diff(inner_steps: int, hidden: list[int], activation: str, inner_lr: float,
         shots: int) -> str:
    """The unified diff of the MAML and FOMAML programs, without the ``out=`` buffers."""
    settings = (inner_steps, hidden, activation, inner_lr, shots)
    maml, fomaml = (re.sub(r", out=\w+\)", ")", source(algo, *settings)).splitlines(True)
                    for algo in ("maml", "fomaml"))
    return "".join(difflib.unified_diff(maml, fomaml, "MAML", "FOMAML"))


def run(args: argparse.Namespace) -> int:
    settings = (args.inner_steps, args.hidden, args.activation, args.inner_lr, args.shots)
    print(diff(*settings) if args.diff else source(args.algo, *settings), end="")
    return 0
