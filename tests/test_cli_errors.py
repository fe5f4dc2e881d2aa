"""Every failure of the `tinymeta` command is one line on stderr and a non-zero status.

Each subcommand runs under a set of bad arguments, in-process (fast, and an escaping
exception fails the test) and, for a sample, as a real process whose stderr must not
contain "Traceback". Sizes that cannot fit are refused before anything is allocated or
created; and every option's help states its default.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tinymeta import cli
from tinymeta.cli import main
from tinymeta.cli.checks import check_fits
from tinymeta.meta.checkpoint import save_params

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--iterations", "3", "--meta-batch", "2", "--hidden", "8", "--no-progress"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "maml"
    assert main(["train", "--out", str(out), *TINY]) == 0
    return out


@pytest.fixture()
def places(tmp_path, run_dir):
    """Names the bad argument lists below refer to, as {name: path}."""
    (tmp_path / "file").write_text("")
    bare = tmp_path / "bare"
    save_params(bare / "params.npz", {"w0": np.zeros((1, 4)), "b0": np.zeros(4),
                                      "w1": np.zeros((4, 1)), "b1": np.zeros(1)})
    return {"RUN": str(run_dir), "FILE": str(tmp_path / "file"), "BARE": str(bare),
            "OUT": str(tmp_path / "new"), "TMP": str(tmp_path)}


BAD = [
    # train
    ["train", "--hidden", "100000,100000", "--out", "OUT"],
    ["train", "--shots", "1000000000", "--out", "OUT"],
    ["train", "--iterations", "10000000000", "--out", "OUT"],
    ["train", "--iterations", "99999999999999999999", "--out", "OUT"],
    ["train", "--meta-batch", "9223372036854775807", "--out", "OUT"],
    ["train", "--hidden", "40,0"],
    ["train", "--inner-lr", "inf"],
    ["train", "--out", "FILE/below"],
    ["train", "--resume", "TMP/nowhere"],
    ["train", "--resume", "FILE"],
    ["train", "--checkpoint-every", "0"],
    # evaluate
    ["evaluate", "RUN", "--shots", "1000000000"],
    ["evaluate", "RUN", "--tasks", "99999999999999999999"],
    ["evaluate", "RUN", "--plot", "FILE/fit.png"],
    ["evaluate", "RUN", "--plot", "TMP/fit.bmp"],
    ["evaluate", "RUN", "--plot", "TMP"],
    ["evaluate", "RUN", "--activation", "sigmoid"],
    ["evaluate", "BARE"],
    ["evaluate", "FILE"],
    ["evaluate"],
    # graph and explain
    ["graph", "--hidden", "100000,100000", "--format", "text"],
    ["graph", "--inner-steps", "100000000", "--format", "text"],
    ["graph", "--out", "TMP/g.bmp"],
    ["graph", "--format", "dot", "--out", "TMP/g.svg"],
    ["graph", "--out", "FILE/g.svg"],
    ["graph", "--seed", "-1", "--format", "text"],
    ["graph", "--algo", "reptile", "--side-by-side", "--format", "text"],
    ["explain", "--hidden", "100"],
    ["explain", "--inner-steps", "1000000000"],
    # the command itself
    [],
    ["fly"],
]


def expand(argv: list[str], places: dict[str, str]) -> list[str]:
    out = []
    for arg in argv:
        for name, path in places.items():
            arg = arg.replace(name, path) if arg.startswith(name) else arg
        out.append(arg)
    return out


@pytest.mark.parametrize("argv", BAD, ids=[" ".join(a) or "nothing" for a in BAD])
def test_bad_arguments_give_one_line_and_status_2(capsys, places, argv):
    code = main(expand(argv, places))
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code == 2, (code, out, err)
    assert len(lines) == 1 and ": error: " in lines[0], err
    assert "Traceback" not in err and not out
    assert not Path(places["OUT"]).exists()  # no run directory, not even an empty one


def test_bad_arguments_in_a_real_process_print_no_traceback(places):
    """A sample of the above through `python -m tinymeta.cli`, as a user would type them."""
    sample = [BAD[0], BAD[2], BAD[3], BAD[11], BAD[14], BAD[17], BAD[22], BAD[23], BAD[28]]
    for argv in sample:
        result = subprocess.run([sys.executable, "-m", "tinymeta.cli", *expand(argv, places)],
                                cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert result.returncode == 2, (argv, result.stderr)
        assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1, \
            (argv, result.stderr)
    assert not Path(places["OUT"]).exists()


def test_an_unexpected_failure_is_still_one_line(capsys, monkeypatch):
    def broken(args):
        raise RuntimeError("something inside broke")

    monkeypatch.setattr(cli, "COMMANDS", dict(cli.COMMANDS))
    cli.command("broken", "always fails", lambda p: None)(broken)
    assert main(["broken"]) == 1
    err = capsys.readouterr().err
    assert err.strip() == ("tinymeta broken: error: unexpected RuntimeError: something inside "
                           "broke (a bug: rerun with TINYMETA_TRACEBACK=1 to see where)")
    monkeypatch.setenv("TINYMETA_TRACEBACK", "1")
    with pytest.raises(RuntimeError):
        main(["broken"])


def test_out_of_memory_is_one_line(capsys, monkeypatch):
    def hungry(args):
        raise MemoryError()

    monkeypatch.setattr(cli, "COMMANDS", dict(cli.COMMANDS))
    cli.command("hungry", "runs out of memory", lambda p: None)(hungry)
    assert main(["hungry"]) == 1
    assert capsys.readouterr().err.strip() == ("tinymeta hungry: error: ran out of memory; "
                                               "choose smaller sizes")


def test_memory_check_names_the_biggest_need():
    parts = {"--a: small": 10, "--b: big": 5_000_000_000}
    check_fits("train", parts, available=10**10)  # fits: nothing happens
    with pytest.raises(cli.UsageError, match=r"about 5\.0 GB of memory \(5\.0 GB for --b: big\) "
                                             r"but about 1\.0 GB is available"):
        check_fits("train", parts, available=10**9)


def test_default_settings_fit_comfortably():
    from tinymeta.meta.training import TrainConfig, estimate_memory

    assert sum(estimate_memory(TrainConfig()).values()) < 50e6  # the paper's run: ~ MBs


# ---------------------------------------------------------------- help
def subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = cli.build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


@pytest.mark.parametrize("name", list(cli.COMMANDS))
def test_every_option_has_help_and_a_default(name):
    parser = subparsers()[name]
    formatter = parser._get_formatter()
    for action in parser._actions:
        if not action.option_strings or action.dest == "help":
            continue
        text = formatter._expand_help(action) if action.help else ""
        assert text, f"{name} {action.option_strings[0]} has no help"
        if action.nargs != 0:  # a value-taking option says what it is when left out
            assert "default" in text, f"{name} {action.option_strings[0]}: {text}"


def test_help_shows_the_real_defaults(capsys):
    assert main(["train", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    for fragment in ("(default: maml)", "(default: 10)", "(default: 40,40)",
                     "(default: relu)", "(default: float64)", "(default: 0.01)",
                     "(default: 1000)"):
        assert fragment in text, fragment
