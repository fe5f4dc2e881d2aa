"""Write the table of numpy functions tinymeta supports into docs/autodiff.md.

The table is generated from the op registry (the ops each module declares with
``export``, and ``tinymeta.linalg.__all__``), so it cannot drift from the code: the test suite
runs this script with ``--check`` and fails when the committed table differs.

    .venv/bin/python scripts/numpy_functions_table.py          # rewrite the table
    .venv/bin/python scripts/numpy_functions_table.py --check  # exit 1 if it is stale
"""

from __future__ import annotations

import sys
from pathlib import Path

import doc_section
import numpy as np

import tinymeta as tm

DOC = Path(__file__).resolve().parent.parent / "docs" / "autodiff.md"
START, END = "<!-- numpy-functions:start -->", "<!-- numpy-functions:end -->"
GROUPS = [  # (heading, module): the op modules in reading order
    ("elementwise", "elementwise"), ("more elementwise", "transcendental"),
    ("rounding and remainders", "rounding"), ("reductions", "reductions"),
    ("statistics and scans", "statistics"), ("products", "linalg"),
    ("contractions", "contractions"), ("shapes", "shape"), ("rearranging", "rearrange"),
    ("losses", "losses"),
]


def _summary(name: str, fn: object) -> str:
    doc = (getattr(fn, "__doc__", None) or "").strip()
    text = " ".join(doc.split("\n\n")[0].split())  # the first paragraph, on one line
    if not text or text.startswith("tinymeta primitive"):  # a bare numpy ufunc
        text = f"numpy.{name}, elementwise with broadcasting"
    return text.replace("|", "\\|")


def _numpy_name(name: str) -> str:
    """How numpy spells the function, or '—' when numpy has none."""
    module, _, short = name.rpartition(".")
    home = np.linalg if module == "linalg" else np
    return f"`np.{name}`" if hasattr(home, short) else "—"


def table() -> str:
    rows = ["| tinymeta | numpy | `Tensor` method | what it is |", "|---|---|---|---|"]
    count = 0
    for heading, module in GROUPS:
        names = tm.ops.exported_by(getattr(tm.ops, module))
        rows.append(f"| **{heading}** | | | |")
        for name in names:
            fn = getattr(tm, name)
            method = f"`.{name}()`" if name in vars(tm.Tensor) else ""
            rows.append(f"| `tm.{name}` | {_numpy_name(name)} | {method} | {_summary(name, fn)} |")
            count += 1
    rows.append("| **tinymeta.linalg** | | | |")
    for name in tm.linalg.__all__:
        fn = getattr(tm.linalg, name)
        rows.append(f"| `tm.linalg.{name}` | {_numpy_name('linalg.' + name)} | | "
                    f"{_summary(name, fn)} |")
        count += 1
    operators = ("Operators: `+ - * / ** @ %`, unary `-`, `abs()`, `round()`, indexing, "
                 "`.T`; comparisons give constant bool tensors.")
    return (f"{count} functions; the differentiable ones have VJP rules that are "
            f"differentiable again.\n"
            f"{operators}\n\n" + "\n".join(rows))


def main(argv: list[str] | None = None) -> int:
    return doc_section.main(DOC, START, END, table, __doc__.splitlines()[0],
                            "python scripts/numpy_functions_table.py", argv)


if __name__ == "__main__":
    sys.exit(main())
