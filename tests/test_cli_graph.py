"""`tinymeta graph`: the output file means what it says, and no file is replaced unasked."""

from __future__ import annotations

import shutil

import pytest

from tinymeta.cli import main

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="needs Graphviz's dot")


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("name, start", [
    ("g.txt", "# MAML, k = 1"),
    ("g.dot", "digraph"),
    ("g.gv", "digraph"),
])
def test_the_suffix_sets_the_format(capsys, tmp_path, name, start):
    code, out, _ = run(capsys, "graph", "--out", tmp_path / name)
    assert code == 0 and f"wrote {tmp_path / name}" in out
    assert (tmp_path / name).read_text().startswith(start)


@needs_dot
@pytest.mark.parametrize("name, magic", [("g.svg", b"<?xml"), ("g.png", b"\x89PNG"),
                                         ("g.pdf", b"%PDF")])
def test_the_suffix_sets_the_rendered_format(capsys, tmp_path, name, magic):
    assert run(capsys, "graph", "--out", tmp_path / name)[0] == 0
    assert (tmp_path / name).read_bytes().startswith(magic)


@pytest.mark.parametrize("argv, fragment", [
    (["--out", "g.bmp"], "unknown suffix .bmp"),
    (["--format", "dot", "--out", "g.svg"], "--format dot contradicts --out"),
    (["--format", "text", "--out", "g.png"], "--format text contradicts --out"),
])
def test_a_suffix_that_is_unknown_or_contradicts_format_is_refused(capsys, tmp_path,
                                                                    monkeypatch, argv, fragment):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "graph", *argv)
    assert code == 2 and fragment in err and len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_a_matching_format_and_suffix_and_no_suffix_are_fine(capsys, tmp_path):
    assert run(capsys, "graph", "--format", "dot", "--out", tmp_path / "g.dot")[0] == 0
    assert run(capsys, "graph", "--format", "text", "--out", tmp_path / "plain")[0] == 0
    assert (tmp_path / "plain").read_text().startswith("# MAML")


def test_the_named_file_is_replaced(capsys, tmp_path):
    (tmp_path / "g.txt").write_text("old")
    assert run(capsys, "graph", "--out", tmp_path / "g.txt")[0] == 0
    assert (tmp_path / "g.txt").read_text().startswith("# MAML")


def test_the_default_output_goes_under_runs_and_is_not_replaced_without_force(
        capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path / "no-dot"))  # the same with or without Graphviz
    default = tmp_path / "runs" / "fomaml-k2.svg"
    default.parent.mkdir()
    default.write_text("mine")
    code, _, err = run(capsys, "graph", "--algo", "fomaml", "--inner-steps", 2)
    assert code == 2 and "runs/fomaml-k2.svg exists" in err and "--force" in err
    assert default.read_text() == "mine"


def test_without_dot_an_existing_dot_file_beside_the_output_is_kept(capsys, tmp_path,
                                                                    monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "no-dot"))
    (tmp_path / "mine.dot").write_text("my own DOT file")
    code, _, err = run(capsys, "graph", "--out", tmp_path / "mine.svg")
    assert code == 2 and "mine.dot exists" in err and "--force" in err
    assert (tmp_path / "mine.dot").read_text() == "my own DOT file"
    assert not (tmp_path / "mine.svg").exists()
    code, _, err = run(capsys, "graph", "--out", tmp_path / "mine.svg", "--force")
    assert code == 1 and "wrote the DOT source to" in err
    assert (tmp_path / "mine.dot").read_text().startswith("digraph")


def test_an_output_under_a_file_is_refused_before_computing(capsys, tmp_path):
    (tmp_path / "file").write_text("")
    code, _, err = run(capsys, "graph", "--out", tmp_path / "file" / "g.txt")
    assert code == 2 and "is a file, not a directory" in err
