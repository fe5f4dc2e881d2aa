"""examples/what-fomaml-drops.ipynb runs, and prints what is committed in it.

The notebook is executed again with nbclient (the `notebook` extra, also in `dev`),
so it cannot rot: every code cell must run without error, and every text output
(the printed numbers, the one-parameter table, the report) must be the committed
one. Pictures are only required to be SVG when Graphviz's `dot` is installed: their
bytes depend on the Graphviz version. A kernel start and the cells take a few seconds.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from rounding import mask_rounding

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "examples" / "what-fomaml-drops.ipynb"


def _texts(cell) -> list[str]:
    """A cell's printed outputs, with rounding errors (not the same everywhere) masked."""
    out = []
    for o in cell.get("outputs", []):
        if o["output_type"] == "stream":  # the kernel may flush one print in several pieces
            if out and isinstance(out[-1], tuple):
                out[-1] = ("stream", out[-1][1] + o["text"])
            else:
                out.append(("stream", o["text"]))
        elif "data" in o:
            data = o["data"]
            for kind in ("text/markdown", "text/html"):
                if kind in data:
                    out.append(data[kind])
            plain = data.get("text/plain", "")
            if "image/svg+xml" not in data and plain and " object at 0x" not in plain:
                out.append(plain)  # a Digraph without `dot` is only its address: skip it
    return [mask_rounding(o) if isinstance(o, str) else (o[0], mask_rounding(o[1]))
            for o in out]


@pytest.fixture(scope="module")
def executed():
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import make_notebook
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    committed = nbformat.read(NOTEBOOK, as_version=4)
    # the committed notebook is the one the script builds (cells edited in one place)
    assert [c.source for c in committed.cells] == [c.source for c in make_notebook.build().cells]
    fresh = make_notebook.execute(nbformat.read(NOTEBOOK, as_version=4), NOTEBOOK.parent)
    return committed, fresh


def test_notebook_runs_and_prints_what_is_committed(executed):
    committed, fresh = executed
    for old, new in zip(committed.cells, fresh.cells, strict=True):
        if new.cell_type != "code":
            continue
        assert not [o for o in new.outputs if o["output_type"] == "error"], new.source
        assert _texts(new) == _texts(old), new.source


def test_notebook_shows_its_pictures(executed):
    committed, fresh = executed
    pictures = [c for c in fresh.cells if c.cell_type == "code"
                and any("image/svg+xml" in o.get("data", {}) for o in c.outputs)]
    if shutil.which("dot"):
        assert len(pictures) == 3  # MAML | FOMAML by scope, the FOMAML Graph, MAML's flow
    committed_pictures = [c for c in committed.cells if c.cell_type == "code"
                          and any("image/svg+xml" in o.get("data", {}) for o in c.outputs)]
    assert len(committed_pictures) == 3  # committed with its outputs
    report = next(c for c in committed.cells if c.source.endswith("report"))
    assert "text/html" in report.outputs[0]["data"]  # JacobianReport's _repr_html_
