"""Write the MAML | FOMAML program diff into docs/what-fomaml-drops.md.

The diff is ``tinymeta program --diff --inner-steps 1``: the programs ``tm.jit``
generates for both meta-gradients on the pictures' problem. The test suite runs
this script with ``--check``, so the page cannot drift from the compiler.

    .venv/bin/python scripts/make_program_diff.py          # rewrite the diff on the page
    .venv/bin/python scripts/make_program_diff.py --check  # exit 1 if it is stale
"""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path

from tinymeta.cli.program import source

DOC = Path(__file__).resolve().parent.parent / "docs" / "what-fomaml-drops.md"
START, END = "<!-- program-diff:start -->", "<!-- program-diff:end -->"


def diff() -> str:
    settings = dict(inner_steps=1, hidden=[3], activation="tanh", inner_lr=0.01, shots=10)
    maml, fomaml = source("maml", **settings), source("fomaml", **settings)
    text = "".join(difflib.unified_diff(maml.splitlines(True), fomaml.splitlines(True),
                                        "MAML", "FOMAML"))
    return f"```diff\n{text}```"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the diff is stale")
    args = parser.parse_args(argv)
    text = DOC.read_text()
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    new = f"{head}{START}\n{diff()}\n{END}{tail}"
    if args.check:
        if new != text:
            print(f"{DOC} is stale: run python scripts/make_program_diff.py", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
