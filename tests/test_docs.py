"""The docs are executable: every example in docs/autodiff.md runs and prints what it shows."""

import doctest
import re
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from rounding import mask_rounding

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", ["docs/autodiff.md"])
def test_doc_examples_run(name):
    result = doctest.testfile(
        str(ROOT / name), module_relative=False, optionflags=doctest.NORMALIZE_WHITESPACE
        | doctest.ELLIPSIS, verbose=False,
    )
    assert result.attempted > 20, f"{name}: expected its examples to be found"
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} examples failed"


def test_numpy_function_table_is_current():
    """docs/autodiff.md's table of numpy functions is generated from the op registry."""
    import subprocess
    import sys

    script = ROOT / "scripts" / "numpy_functions_table.py"
    result = subprocess.run([sys.executable, str(script), "--check"], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr


def test_report_docstring_puts_the_first_factor_leftmost():
    """∇_θ L_query(θ_k) = (∂θ₀/∂θ)ᵀ (∂θ₁/∂θ₀)ᵀ ··· (∂θ_k/∂θ_{k−1})ᵀ ∇L_query(θ_k)."""
    import tinymeta.meta.report as report

    line = next(x for x in report.__doc__.splitlines() if "∇_θ L_query(θ_k) =" in x)
    factors = [line.index(f) for f in ("(∂θ₀/∂θ)ᵀ", "(∂θ₁/∂θ₀)ᵀ", "(∂θ_k/∂θ_{k−1})ᵀ",
                                       "∇L_query(θ_k)")]
    assert factors == sorted(factors)


def test_autodiff_doc_mentions_the_warnings_its_examples_print():
    text = (ROOT / "docs" / "autodiff.md").read_text()
    assert "divide by zero" in text  # numpy's RuntimeWarning under debug_nans
    assert "the order-1 nodes feeding the update are exactly" not in text.lower()


# ---------------------------------------------------------------- what-fomaml-drops.md
# Every number on the page is printed by a command; these tests recompute the ones that
# are the same on every platform and find them on the page. Rounding errors (6.9e-18 here,
# 2.2e-16 elsewhere) are not compared, only required to be tiny.
PAGE = ROOT / "docs" / "what-fomaml-drops.md"


@cache
def _page() -> str:
    return PAGE.read_text()


@cache
def _report(k: int, activation: str = "tanh"):
    from tinymeta.meta.report import jacobian_report

    return jacobian_report(k, activation=activation, with_reptile=k == 2)


def _block_after(marker: str) -> list[str]:
    text = _page()
    start = text.index("```", text.index(marker)) + 3
    return text[start:text.index("```", start)].strip("\n").splitlines()


def test_explain_excerpt_is_what_explain_prints():
    printed = mask_rounding(_report(2).text()).splitlines()
    shown = [line for line in _block_after("excerpt of `tinymeta explain --inner-steps 2`")
             if line.strip() not in ("...", "")]
    assert len(shown) >= 10
    for line in shown:
        assert mask_rounding(line) in printed, line
    assert _report(2).max_jacobian_error < 1e-15  # "about 1e-16, machine precision"


def _table(after: str) -> list[list[str]]:
    text = _page()
    rows = []
    for line in text[text.index(after):].splitlines()[1:]:
        if not line.startswith("|"):
            if rows:
                break
            continue
        rows.append([c.strip() for c in line.strip("|").split("|")])
    return rows[2:]  # header and separator


def test_steps_table_is_what_the_report_computes():
    rows = _table("The dropped term grows with the number of steps")
    assert [r[0] for r in rows] == ["1", "2", "5"]
    for k, _, bound, ratio, cosine in rows:
        r = _report(int(k))
        assert r.max_jacobian_error < 1e-15
        assert bound == f"{r.deviation_bound:.3f}" and ratio == f"{r.dropped_norm_ratio:.3f}"
        assert cosine == f"{r.cosine:.4f}"


def test_numbers_in_the_prose():
    r = _report(2)
    text = " ".join(_page().split())
    # when is FOMAML good: the bound, from the printed ‖αHᵢ‖₂
    a1, a2 = (f"{n:.3f}" for n in r.step_norms)
    assert f"‖αH₁‖₂ = {a1} and ‖αH₂‖₂ = {a2}" in text
    assert f"1.148 · 1.135 − 1 = {r.deviation_bound:.3f}" in text and a1 == "0.148"
    assert f"is {r.product_deviation:.4f} from I" in text
    fomaml_ratio = np.linalg.norm(r.dropped) / np.linalg.norm(r.fomaml_gradient)
    assert f"dropped term is {r.dropped_norm_ratio:.2f} of MAML's" in text
    assert f"({fomaml_ratio:.2f} of FOMAML's)" in text
    # error 2 of issue 14: lengths, ratio, single coordinates
    maml, fomaml = np.linalg.norm(r.maml_gradient), np.linalg.norm(r.fomaml_gradient)
    assert f"differ by {round(100 * (maml / fomaml - 1))}%" in text
    assert f"‖MAML‖ = {maml:.2f} against ‖FOMAML‖ = {fomaml:.2f}" in text
    i = r.names.index("w1[1,0]")
    m, f = (f"{v:.3f}".replace("-", "−") for v in (r.maml_gradient[i], r.fomaml_gradient[i]))
    assert f"w1[1,0]: {m} against {f}" in text
    ratio = r.fomaml_gradient[i] / r.maml_gradient[i]
    assert 3.5 < ratio < 4.5 and "up to 4×" in text
    # ReLU
    relu = [_report(k, "relu") for k in (1, 2)]
    assert f"‖αH₁‖₂ = {relu[0].step_norms[0]:.3f}, and FOMAML" in text
    assert (f"(‖dropped‖ / ‖MAML‖ = {relu[0].dropped_norm_ratio:.3f} and "
            f"{relu[1].dropped_norm_ratio:.3f})") in text
    tanh1 = _report(1)
    assert "(0.088 and 0.178)" in text and f"{tanh1.dropped_norm_ratio:.3f}" == "0.088"


def test_one_parameter_table_is_what_the_example_prints():
    from tinymeta.meta.report import one_parameter_table, one_parameter_text

    assert one_parameter_text() in _page()
    rows = one_parameter_table()
    for r in rows:
        assert r.maml == pytest.approx(r.fomaml * r.factor, abs=1e-12)  # exactly, up to rounding
    wrong = [(r.alpha, r.steps) for r in rows if not r.same_direction]
    assert wrong == [(0.2, 1)]  # "at k = 1 FOMAML points the wrong way"


def test_flow_numbers_are_what_the_pictures_show():
    from tinymeta import viz
    from tinymeta.viz.dot import _flow_text, _scene

    text = " ".join(_page().split())
    g = viz.meta_graph("maml", 1)
    flow = viz.gradient_flow(g)
    w0 = next(n.id for n in g.nodes.values() if n.name == "w0" and n.role == "parameter")
    update = next(u for u in g.updates if g.nodes[u].parameter == "w0")
    identity = next(e for e in g.edges if e.dst == update and "identity" in e.classes)
    entry = next(e for e in g.edges if e.src == w0 and "second-order" in e.classes)
    for adjoint in (flow.edge[(identity.src, identity.dst, identity.argnum)],
                    flow.edge[(entry.src, entry.dst, entry.argnum)], flow.node[w0]):
        assert _flow_text(0.0, adjoint) in text
    # the scope-level pictures: k = 1 (slide) and k = 2
    norms = {}
    for k in (1, 2):
        graph = viz.meta_graph("maml", k)
        scene = _scene(graph, "scopes", viz.gradient_flow(graph))
        keys = {b.id: b.key.split("\x00")[0] for b in scene.boxes}
        norms[k] = {(keys[x.src], keys[x.dst], x.label): f"{x.flow:.2g}" for x in scene.links
                    if x.flow}
    assert norms[1][("parameters", "theta0<parameters", "I = ∂θ₀/∂θ")] == "4.6"
    assert norms[1][("theta0<parameters", "inner step 1", "I")] == "4.4"
    assert norms[1][("theta0<parameters", "inner step 1", "−α∇²L(θ₀)")] == "0.4"
    assert "θ receives 4.6, of which the identity path carries 4.4" in text
    assert "Hessian path 0.4 —" in text
    n2 = norms[2]
    assert n2[("parameters", "theta0<parameters", "I = ∂θ₀/∂θ")] == "4.8"
    assert n2[("theta0<parameters", "inner step 1", "I")] == "4.6"
    assert n2[("theta0<parameters", "inner step 1", "−α∇²L(θ₀)")] == "0.48"
    assert n2[("inner step 1", "inner step 2", "−α∇²L(θ₁)")] == "0.38"
    assert n2[("inner step 1", "inner step 2", "I")] == "4.4"
    assert ("adjoint of norm 4.4 into θ₂" in text and "takes 0.38 from θ₁" in text
            and "θ₀ passes 4.6" in text and "0.48 into step 1's" in text
            and "θ receives 4.8" in text)


def test_reptile_table_is_what_reptile_view_computes():
    view = _report(2).reptile
    rows = _table("correction not along A:")
    assert len(rows) == len(view.alphas) == 3
    for row, m, f, s, rm, rf in zip(rows, view.maml_coefficient, view.fomaml_coefficient,
                                    view.fomaml_share, view.maml_residual,
                                    view.fomaml_residual, strict=True):
        def num(x):
            return format(x, ".4f").replace("-", "−")

        def sci(x):
            mantissa, exponent = format(x, ".1e").split("e")
            return f"{mantissa}e{int(exponent)}"  # 1.7e-2, as the page writes it

        assert row[1:] == [num(m), num(f), num(s), sci(rm), sci(rf)]
    assert f"the share is {view.single_split_share:.2f}" in " ".join(_page().split())


def test_page_lists_every_figure_it_shows_with_its_size():
    text = _page()
    shown = set(re.findall(r"\]\(figures/([\w.-]+\.svg)\)", text))
    table = text[text.index("| figure | width × height (px) |"):]
    for name in shown:
        assert f"`{name}`" in table, name
        if (ROOT / "docs" / "figures" / name).exists():
            svg = (ROOT / "docs" / "figures" / name).read_bytes()
            w, h = (round(float(v) * 4 / 3) for v in re.search(
                rb'<svg width="([\d.]+)pt" height="([\d.]+)pt"', svg).groups())
            row = next(line for line in table.splitlines() if f"`{name}`" in line)
            assert f"{w} × {h}" in row, (name, w, h)
    slide = (ROOT / "docs" / "figures" / "maml-vs-fomaml-k1-scopes.svg").read_bytes()
    width = float(re.search(rb'<svg width="([\d.]+)pt"', slide).group(1)) * 4 / 3
    smallest = min(float(s) for s in re.findall(rb'font-size="([\d.]+)"', slide)) * 4 / 3
    assert width <= 1600 and smallest >= 12
    assert text.index("maml-vs-fomaml-k1-scopes.svg") < text.index("figures/maml-k1.svg")


def test_weng_section_covers_the_four_readings():
    text = " ".join(_page().split())
    assert "Lilian Weng's post *Meta-Learning: Learning to Learn Fast*" in text
    section = text[text.index("## From Weng's notation"):text.index("## Notation")]
    for phrase in ("support minibatches", "evaluated at θᵢ₋₁", "row vectors",
                   "identity *matrices*", "δⱼₗ", "not a vector of ones"):
        assert phrase in section, phrase


def test_committed_figures_are_what_make_figures_draws():
    """scripts/make_figures.py --check, where it can be exact: with the Graphviz version that
    drew the committed SVGs (another version lays out differently, not wrongly)."""
    import shutil
    import subprocess
    import sys

    if shutil.which("dot") is None:
        pytest.skip("needs Graphviz's dot")
    version = subprocess.run(["dot", "-V"], capture_output=True, text=True).stderr
    drawn_with = re.search(r"Generated by graphviz version ([^\n]*)",
                           (ROOT / "docs" / "figures" / "maml-k1.svg").read_text()).group(1)
    if drawn_with.strip() not in version:
        pytest.skip(f"figures drawn with Graphviz {drawn_with.strip()}, this is {version}")
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import make_figures
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    stale = [name for name, data in make_figures.figures().items()
             if (ROOT / "docs" / "figures" / name).read_bytes() != data]
    assert stale == [], f"run scripts/make_figures.py: {stale}"


def test_one_parameter_example_prints_the_page_table():
    import subprocess
    import sys

    done = subprocess.run([sys.executable, str(ROOT / "examples" / "one_parameter.py")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    from tinymeta.meta.report import one_parameter_text

    assert one_parameter_text() in done.stdout and one_parameter_text() in _page()


def test_program_diff_on_the_fomaml_page_is_current():
    """docs/what-fomaml-drops.md's MAML | FOMAML program diff is what tm.jit generates."""
    import subprocess
    import sys

    script = ROOT / "scripts" / "make_program_diff.py"
    result = subprocess.run([sys.executable, str(script), "--check"], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
