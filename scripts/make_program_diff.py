"""Write the MAML | FOMAML program diff into docs/what-fomaml-drops.md.

The diff is ``tinymeta program --diff --inner-steps 1``: the programs ``tm.jit``
generates for both meta-gradients on the pictures' problem. The test suite runs
this script with ``--check``, so the page cannot drift from the compiler.

    .venv/bin/python scripts/make_program_diff.py          # rewrite the diff on the page
    .venv/bin/python scripts/make_program_diff.py --check  # exit 1 if it is stale
"""

from __future__ import annotations

import sys
from pathlib import Path

import doc_section

from tinymeta.cli.program import diff

DOC = Path(__file__).resolve().parent.parent / "docs" / "what-fomaml-drops.md"
START, END = "<!-- program-diff:start -->", "<!-- program-diff:end -->"


def program_diff() -> str:
    text = diff(inner_steps=1, hidden=[3], activation="tanh", inner_lr=0.01, shots=10)
    return f"```diff\n{text}```"


def main(argv: list[str] | None = None) -> int:
    return doc_section.main(DOC, START, END, program_diff, __doc__.splitlines()[0],
                            "python scripts/make_program_diff.py", argv)


if __name__ == "__main__":
    sys.exit(main())
