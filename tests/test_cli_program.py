"""``tinymeta program``: the numpy program of a meta-gradient, and what FOMAML leaves out."""

from tinymeta.cli import main


def test_program_prints_named_lines_with_their_order(capsys):
    assert main(["program", "--algo", "maml", "--inner-steps", "1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("def program(")
    assert "inner_step_1_linear_1 = np.add(" in out and "# order 1" in out and "del " in out
    assert "inner_step_1_tanh_1 = np.tanh(" in out  # numpy's own functions by their names


def test_the_diff_removes_exactly_lines_of_the_second_order_terms(capsys):
    assert main(["program", "--diff", "--inner-steps", "2"]) == 0
    diff = capsys.readouterr().out.splitlines()
    removed = [line for line in diff if line.startswith("-") and not line.startswith("---")
               and "del " not in line]
    added = [line for line in diff if line.startswith("+") and not line.startswith("+++")
             and "del " not in line]
    # FOMAML's program is MAML's minus some lines; the few it changes (the last sums of
    # each parameter's gradient) read fewer terms: they stand in MAML's under the same name
    def names(lines):
        return {line[1:].split("=")[0].strip() for line in lines}

    assert removed and names(added) <= names(removed)
    # MAML's extra lines are the Hessian-vector products: backward-made, orders 1 and 2
    assert all("# order 1" in line or "# order 2" in line for line in removed)
    assert any("# order 2" in line for line in removed)
