"""The ``tinymeta`` command: meta-train on sinusoid tasks, evaluate, and (with tinymeta.viz) draw.

    tinymeta train --algo maml --iterations 2000 --out runs/maml
    tinymeta evaluate runs/maml --shots 5 --steps 1,5,10 --plot runs/maml/fit.png
    tinymeta graph --algo fomaml --inner-steps 2 --out runs/fomaml.svg
    tinymeta explain --inner-steps 2

This package only parses arguments and prints; the work is done by
``tinymeta.meta`` (training, evaluation, checkpoints, figures) and
``tinymeta.viz``, so everything the command does is also a few lines of
Python. One module per subcommand:

    train.py          tinymeta train
    evaluate.py       tinymeta evaluate
    graph.py          tinymeta graph and explain (import tinymeta.viz only when they run,
                      so the other commands start without the renderer)
    argtypes.py       argparse types shared by them
    checks.py         UsageError
    malloc_tuning.py  glibc malloc thresholds for processes that train (~20% faster)

Subcommands are registered in ``COMMANDS`` with ``command(name, help,
arguments)(run)``: a subcommand is a function ``run(args) -> exit code`` plus a
function that adds its arguments to an ``argparse`` parser.

Bad input never shows a traceback: argument errors, unusable parameter files
and invalid settings print one line, ``tinymeta <command>: error: ...``, on
stderr and exit with status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tinymeta.cli import evaluate, graph, train
from tinymeta.cli.argtypes import positive_int
from tinymeta.cli.checks import UsageError

__all__ = ["main", "command", "COMMANDS", "UsageError", "positive_int"]


class _Parser(argparse.ArgumentParser):
    """argparse, but errors raise UsageError instead of printing usage and exiting."""

    def error(self, message: str):  # type: ignore[override]
        raise UsageError(f"{self.prog}: error: {message}")


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


COMMANDS: dict[str, Command] = {}


def command(name: str, help: str, arguments: Callable[[argparse.ArgumentParser], None]):
    """Register the decorated ``run(args) -> int`` as subcommand ``name``."""

    def register(run: Callable[[argparse.Namespace], int]):
        COMMANDS[name] = Command(name, help, arguments, run)
        return run

    return register


# ---------------------------------------------------------------- the subcommands
command("train", train.HELP, train.arguments)(train.run)
command("evaluate", evaluate.HELP, evaluate.arguments)(evaluate.run)
# graph.py imports tinymeta.viz (and graphviz) only when graph or explain runs
command("graph", graph.GRAPH_HELP, graph.graph_arguments)(graph.graph)
command("explain", graph.EXPLAIN_HELP, graph.explain_arguments)(graph.explain)


# ---------------------------------------------------------------- entry point
def build_parser() -> argparse.ArgumentParser:
    from tinymeta import __version__

    parser = _Parser(prog="tinymeta", description="Meta-learning through a tiny autodiff tape.")
    parser.add_argument("--version", action="version", version=f"tinymeta {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for cmd in COMMANDS.values():
        # argparse %-formats help strings (not descriptions)
        cmd.add_arguments(sub.add_parser(cmd.name, help=cmd.help.replace("%", "%%"),
                                         description=cmd.help))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help(sys.stderr)
            return 2
        return COMMANDS[args.command].run(args)
    except UsageError as error:
        print(error, file=sys.stderr)
        return 2
    except SystemExit as exit_:  # --help and --version
        return exit_.code if isinstance(exit_.code, int) else 0
    except KeyboardInterrupt:
        print("tinymeta: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `tinymeta explain | head`: the reader left, which is fine
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
