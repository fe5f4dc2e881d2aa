"""The engine core's promises about itself (issue 11): its size, what it imports, and
that nothing above it reaches into its private names."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORE = ("tensor.py", "primitive.py", "autodiff.py")
ENGINE = {f"tinymeta.{name[:-3]}" for name in CORE}


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) of every import statement in ``path``, function bodies included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            found += [(a.name, []) for a in node.names]
    return found


def test_the_core_is_at_most_900_lines_and_the_readme_says_how_many():
    lines = sum(len((ROOT / "tinymeta" / name).read_text().splitlines()) for name in CORE)
    assert lines <= 900, f"the core is {lines} lines; the budget is 900 (issue 11)"
    stated = re.search(r"The engine \((\d+) lines", (ROOT / "README.md").read_text())
    assert stated and int(stated.group(1)) == lines, "README's line count of the engine"


def test_tensor_imports_neither_ops_nor_autodiff_nor_primitive():
    modules = [m for m, _ in _imports(ROOT / "tinymeta" / "tensor.py")]
    above = ("tinymeta.ops", "tinymeta.autodiff", "tinymeta.primitive")
    assert not [m for m in modules if m.startswith(above)]


def test_nothing_outside_the_engine_imports_its_private_names():
    offenders = []
    for path in sorted((ROOT / "tinymeta").rglob("*.py")):
        if path.parent == ROOT / "tinymeta" and path.name in CORE:
            continue
        for module, names in _imports(path):
            if module in ENGINE:
                offenders += [f"{path.relative_to(ROOT)}: {module}.{n}" for n in names
                              if n.startswith("_")]
    assert not offenders, offenders
