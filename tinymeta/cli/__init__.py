"""The ``tinymeta`` command: meta-train on sinusoid tasks, evaluate, and (with tinymeta.viz) draw.

    tinymeta train --algo maml --iterations 2000 --out runs/maml
    tinymeta evaluate runs/maml --shots 5 --steps 1,5,10 --plot runs/maml/fit.png
    tinymeta graph --algo fomaml --inner-steps 2 --out runs/fomaml.svg
    tinymeta explain --inner-steps 2
    tinymeta sweep --algo maml,fomaml --seeds 0-2 --iterations 2000 --out runs/grid

This package only parses arguments and prints; the work is done by
``tinymeta.meta`` (training, evaluation, checkpoints, figures) and
``tinymeta.viz``, so everything the command does is also a few lines of
Python. One module per subcommand:

    train.py          tinymeta train
    evaluate.py       tinymeta evaluate
    sweep.py          tinymeta sweep (the grid itself is tinymeta.sweep)
    graph.py          tinymeta graph and explain (import tinymeta.viz only when they run,
                      so the other commands start without the renderer)
    argtypes.py       argparse types shared by them
    checks.py         UsageError, and the memory check run before any work
    malloc_tuning.py  glibc malloc thresholds for processes that train (~20% faster)

Subcommands are registered in ``COMMANDS`` with ``command(name, help,
arguments)(run)``: a subcommand is a function ``run(args) -> exit code`` plus a
function that adds its arguments to an ``argparse`` parser.

Bad input never shows a traceback: argument errors, unusable parameter files,
sizes that cannot fit in memory and invalid settings print one line,
``tinymeta <command>: error: ...``, on stderr and exit with status 2 (checked
before any work starts). Anything that still fails later is one line too,
with status 1; ``TINYMETA_TRACEBACK=1`` shows the traceback instead.
Every option's ``--help`` line states its default.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tinymeta.cli import evaluate, graph, program, sweep, train
from tinymeta.cli.argtypes import positive_int
from tinymeta.cli.checks import UsageError

__all__ = ["main", "command", "COMMANDS", "UsageError", "positive_int"]


class _Parser(argparse.ArgumentParser):
    """argparse, but errors raise UsageError instead of printing usage and exiting."""

    def error(self, message: str):  # type: ignore[override]
        raise UsageError(f"{self.prog}: error: {message}")


class _HelpFormatter(argparse.HelpFormatter):
    """Every option's help ends with its default, unless the help already says it
    (options whose default depends on others say so in words) or it is a plain flag."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if not action.option_strings or "default" in text or default is None \
                or default is False or default == argparse.SUPPRESS:  # 0 is a default, False not
            return text
        if isinstance(default, (list, tuple)):
            default = ",".join(map(str, default))
        return f"{text} (default: {str(default).replace('%', '%%')})"


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
command("program", program.HELP, program.arguments)(program.run)
command("sweep", sweep.HELP, sweep.arguments)(sweep.run)


# ---------------------------------------------------------------- entry point
def build_parser() -> argparse.ArgumentParser:
    from tinymeta import __version__

    parser = _Parser(prog="tinymeta", description="Meta-learning through a tiny autodiff tape.")
    parser.add_argument("--version", action="version", version=f"tinymeta {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for cmd in COMMANDS.values():
        # argparse %-formats help strings (not descriptions)
        cmd.add_arguments(sub.add_parser(cmd.name, help=cmd.help.replace("%", "%%"),
                                         description=cmd.help, formatter_class=_HelpFormatter))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.command is None:
            raise UsageError(f"tinymeta: error: name a command: {', '.join(COMMANDS)} "
                             f"(tinymeta --help, tinymeta COMMAND --help)")
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
    # Past the checks, a failure is still one line (the promise is: no tracebacks), but
    # status 1: the input looked fine. TINYMETA_TRACEBACK=1 shows where, for a bug report.
    except Exception as error:
        if os.environ.get("TINYMETA_TRACEBACK"):
            raise
        where = f"tinymeta {_argv_command(argv)}".rstrip()
        if isinstance(error, MemoryError):
            message = "ran out of memory; choose smaller sizes"
        elif isinstance(error, OSError):
            message = str(error)
        else:
            message = (f"unexpected {type(error).__name__}: {error} (a bug: rerun with "
                       f"TINYMETA_TRACEBACK=1 to see where)")
        print(f"{where}: error: {' '.join(message.split())}", file=sys.stderr)
        return 1


def _argv_command(argv: Sequence[str] | None) -> str:
    """The subcommand named in ``argv``, or ''."""
    words = list(sys.argv[1:] if argv is None else argv)
    return next((w for w in words if w in COMMANDS), "")


if __name__ == "__main__":
    sys.exit(main())
