"""Write generated text between two marker lines of a doc page, or check that it is there.

The scripts that generate parts of the docs (``numpy_functions_table.py``,
``make_program_diff.py``) share this: ``--check`` exits 1 when the page's section
differs from what the code generates now, which is how the test suite keeps
generated docs from drifting.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path


def main(doc: Path, start: str, end: str, generate: Callable[[], str], description: str,
         regenerate: str, argv: list[str] | None = None) -> int:
    """The command line of a generating script: rewrite the section, or ``--check`` it."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--check", action="store_true", help="exit 1 if the page is stale")
    args = parser.parse_args(argv)
    text = doc.read_text()
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    new = f"{head}{start}\n{generate()}\n{end}{tail}"
    if args.check:
        if new != text:
            print(f"{doc} is stale: run {regenerate}", file=sys.stderr)
            return 1
        return 0
    doc.write_text(new)
    return 0
