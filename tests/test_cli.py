"""The `tinymeta` command, run in-process: files written, tables printed, one-line errors."""

from __future__ import annotations

import json
import pickle
import re
import zipfile

import numpy as np
import pytest

from tinymeta import cli
from tinymeta.cli import main
from tinymeta.meta.checkpoint import load_run

PNG = b"\x89PNG\r\n\x1a\n"
TINY = ["--iterations", "3", "--meta-batch", "2", "--hidden", "8,8", "--no-progress"]


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_usage_error(capsys, argv, *fragments):
    code, out, err = run(capsys, *argv)
    assert code == 2, (code, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err  # one line, never a traceback or a usage block
    assert re.match(rf"tinymeta( {argv[0]})?: error: ", lines[0]), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny MAML run directory (3 iterations, hidden 8,8)."""
    out = tmp_path_factory.mktemp("runs") / "maml"
    assert main(["train", "--algo", "maml", "--out", str(out), *TINY]) == 0
    return out


# ---------------------------------------------------------------- train
@pytest.mark.parametrize("algo", ["maml", "fomaml", "reptile", "metasgd", "pretrain"])
def test_train_writes_params_metrics_and_learning_curve(capsys, tmp_path, algo):
    out = tmp_path / algo
    code, stdout, _ = run(capsys, "train", "--algo", algo, "--out", out, "--seed", 3,
                          "--inner-steps", 2, *TINY)
    assert code == 0
    assert f"{algo}: 3 iterations" in stdout and f"tinymeta evaluate {out}" in stdout
    with np.load(out / "params.npz", allow_pickle=False) as f:
        keys = set(f.files)
        assert f["w0"].shape == (1, 8) and f["w2"].shape == (8, 1)
    weights = {f"{k}{i}" for i in range(3) for k in "wb"}
    assert keys == (weights | {f"lr/{k}" for k in weights} if algo == "metasgd" else weights)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["algo"] == algo and metrics["config"]["seed"] == 3
    assert metrics["config"]["inner_steps"] == 2 and metrics["config"]["hidden"] == [8, 8]
    assert metrics["loss_curve"]["iteration"] == [1, 2, 3]
    assert len(metrics["loss_curve"]["loss"]) == 3 and metrics["wall_time_seconds"] > 0
    assert (out / "learning_curve.png").read_bytes().startswith(PNG)


def test_train_shows_a_progress_bar_with_speed_and_running_loss(capsys, tmp_path):
    code, _, err = run(capsys, "train", "--out", tmp_path / "r", "--iterations", 5,
                       "--meta-batch", 2, "--hidden", 8)
    assert code == 0
    assert "it/s" in err and "query loss" in err and "5/5" in err


def test_train_default_output_directory_and_float32(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, _ = run(capsys, "train", "--algo", "fomaml", "--seed", 7, "--dtype", "float32",
                     *TINY)
    assert code == 0
    params, inner_lr, config = load_run(tmp_path / "runs" / "fomaml-seed7")
    assert all(p.dtype == np.float32 for p in params.values())
    assert inner_lr == 0.01 and config["dtype"] == "float32"


def test_training_is_reproducible(capsys, tmp_path):
    for name in ("a", "b"):
        assert run(capsys, "train", "--out", tmp_path / name, *TINY)[0] == 0
    a, _, _ = load_run(tmp_path / "a")
    b, _, _ = load_run(tmp_path / "b")
    assert all(np.array_equal(a[k], b[k]) for k in a)


# ---------------------------------------------------------------- evaluate
def test_evaluate_prints_a_table_for_each_step_count(capsys, trained):
    code, out, _ = run(capsys, "evaluate", trained, "--shots", 5, "--steps", "1,5,10",
                       "--tasks", 30, "--seed", 1)
    assert code == 0
    lines = out.strip().splitlines()
    assert "maml" in lines[0] and "5-shot" in lines[0]
    assert "MSE" in lines[1] and "95% CI" in lines[1] and "30 tasks" in lines[1]
    assert [int(line.split()[0]) for line in lines[2:]] == [0, 1, 5, 10]
    for line in lines[2:]:
        mean, ci = (float(v) for v in line.split()[1:])
        assert mean > 0 and ci > 0


def test_evaluate_json_and_plot(capsys, trained, tmp_path):
    plot = tmp_path / "figs" / "fit.png"
    code, out, err = run(capsys, "evaluate", trained / "params.npz", "--tasks", 20,
                         "--steps", "2", "--json", "--plot", plot)
    assert code == 0
    result = json.loads(out)
    assert result["steps"] == [0, 2] and result["tasks"] == 20 and result["algo"] == "maml"
    assert len(result["mean"]) == len(result["ci95"]) == 2
    assert plot.read_bytes().startswith(PNG) and str(plot) in err


def test_evaluate_is_seeded(capsys, trained):
    first = run(capsys, "evaluate", trained, "--tasks", 10, "--seed", 4, "--json")[1]
    second = run(capsys, "evaluate", trained, "--tasks", 10, "--seed", 4, "--json")[1]
    other = run(capsys, "evaluate", trained, "--tasks", 10, "--seed", 5, "--json")[1]
    assert first == second != other


def test_evaluate_uses_metasgd_learned_rates(capsys, tmp_path):
    out = tmp_path / "msgd"
    assert run(capsys, "train", "--algo", "metasgd", "--out", out, *TINY)[0] == 0
    result = json.loads(run(capsys, "evaluate", out, "--tasks", 5, "--json")[1])
    assert result["inner_lr"] == "learned"
    result = json.loads(run(capsys, "evaluate", out, "--tasks", 5, "--json",
                            "--inner-lr", 0.02)[1])
    assert result["inner_lr"] == 0.02


# ---------------------------------------------------------------- bad arguments
@pytest.mark.parametrize("argv, fragments", [
    (["--algo", "mamal"], ["--algo", "invalid choice: 'mamal'", "maml"]),
    (["--inner-steps", "0"], ["--inner-steps", "positive integer, got 0"]),
    (["--inner-steps", "-2"], ["--inner-steps", "got -2"]),
    (["--inner-lr", "0"], ["--inner-lr", "positive"]),
    (["--inner-lr", "-0.01"], ["--inner-lr", "positive"]),
    (["--inner-lr", "nan"], ["--inner-lr", "positive"]),
    (["--meta-lr", "0"], ["--meta-lr", "positive"]),
    (["--iterations", "0"], ["--iterations", "positive integer"]),
    (["--iterations", "ten"], ["--iterations", "'ten'"]),
    (["--shots", "0"], ["--shots"]),
    (["--meta-batch", "-1"], ["--meta-batch"]),
    (["--hidden", "40,0"], ["--hidden", "widths like 40 or 40,40"]),
    (["--seed", "-1"], ["--seed", ">= 0"]),
    (["--dtype", "float16"], ["--dtype", "invalid choice"]),
    (["--frobnicate"], ["unrecognized arguments: --frobnicate"]),
])
def test_train_bad_arguments(capsys, argv, fragments):
    assert_usage_error(capsys, ["train", *argv, "--no-progress"], *fragments)


@pytest.mark.parametrize("argv, fragments", [
    (["--steps", "0,5"], ["--steps", "comma-separated positive integers"]),
    (["--steps", "1,x"], ["--steps", "'1,x'"]),
    (["--steps", "-1"], ["--steps"]),
    (["--tasks", "0"], ["--tasks"]),
    (["--shots", "0"], ["--shots"]),
    (["--inner-lr", "0"], ["--inner-lr", "positive"]),
])
def test_evaluate_bad_arguments(capsys, trained, argv, fragments):
    assert_usage_error(capsys, ["evaluate", str(trained), *argv], *fragments)


def test_train_output_path_that_is_a_file(capsys, tmp_path):
    (tmp_path / "taken").write_text("")
    assert_usage_error(capsys, ["train", "--out", str(tmp_path / "taken"), *TINY],
                       "cannot use --out", "exists")


def test_evaluate_plot_to_an_unwritable_place(capsys, trained, tmp_path):
    (tmp_path / "file").write_text("")
    assert_usage_error(capsys, ["evaluate", str(trained), "--tasks", "2",
                                "--plot", str(tmp_path / "file" / "fit.png")], "--plot")


def write_params(directory, arrays, hidden=None):
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / "params.npz", "wb") as f:
        np.savez(f, **arrays)
    if hidden is not None:
        (directory / "metrics.json").write_text(json.dumps({"config": {"hidden": hidden}}))
    return directory


def good_params(hidden=(8, 8)):
    sizes = [1, *hidden, 1]
    out = {}
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        out[f"w{i}"], out[f"b{i}"] = np.zeros((a, b)), np.zeros(b)
    return out


def test_evaluate_missing_run(capsys, tmp_path):
    assert_usage_error(capsys, ["evaluate", str(tmp_path / "nowhere")], "no such run")
    (tmp_path / "empty").mkdir()
    assert_usage_error(capsys, ["evaluate", str(tmp_path / "empty")], "no such parameters file")


def test_evaluate_corrupt_files(capsys, tmp_path):
    (tmp_path / "garbage").mkdir()
    (tmp_path / "garbage" / "params.npz").write_bytes(b"\x00\x01 not numpy at all" * 10)
    assert_usage_error(capsys, ["evaluate", str(tmp_path / "garbage")], "not a zip archive")

    whole = write_params(tmp_path / "whole", good_params()) / "params.npz"
    (tmp_path / "truncated").mkdir()
    (tmp_path / "truncated" / "params.npz").write_bytes(whole.read_bytes()[:300])
    assert_usage_error(capsys, ["evaluate", str(tmp_path / "truncated")], "corrupt")

    (tmp_path / "zip").mkdir()
    with zipfile.ZipFile(tmp_path / "zip" / "params.npz", "w") as z:
        z.writestr("w0.npy", b"this is not an npy file")
    assert_usage_error(capsys, ["evaluate", str(tmp_path / "zip")], "params.npz")

    one = tmp_path / "single.npz"
    with open(one, "wb") as f:
        np.save(f, np.zeros(3))
    assert_usage_error(capsys, ["evaluate", str(one)], "a single .npy array")

    run_dir = write_params(tmp_path / "badjson", good_params())
    (run_dir / "metrics.json").write_text("{not json")
    assert_usage_error(capsys, ["evaluate", str(run_dir)], "metrics.json", "not a valid")


def test_evaluate_refuses_pickles(capsys, tmp_path):
    (tmp_path / "pickled").mkdir()
    with open(tmp_path / "pickled" / "params.npz", "wb") as f:
        pickle.dump(good_params(), f)
    assert_usage_error(capsys, ["evaluate", str(tmp_path / "pickled")], "pickled")

    objects = good_params()
    objects["w0"] = np.array([None, {"x": 1}], dtype=object)  # np.savez pickles object arrays
    write_params(tmp_path / "objects", objects)
    assert_usage_error(capsys, ["evaluate", str(tmp_path / "objects")], "pickled")


@pytest.mark.parametrize("change, fragments", [
    (lambda p: p.update(w1=np.zeros((8, 5))), ["w1", "(8, 5)", "b1"]),
    (lambda p: p.update(w1=np.zeros((6, 8))), ["w1", "(6, 8)", "8 outputs"]),
    (lambda p: p.update(w0=np.zeros((3, 8))), ["layer sizes [3, 8, 8, 1]", "[1, 8, 8, 1]"]),
    (lambda p: p.update(b2=np.zeros((1, 1))), ["b2"]),
    (lambda p: p.pop("b2"), ["expected arrays w0, b0"]),
    (lambda p: p.update(extra=np.zeros(2)), ["expected arrays", "extra"]),
    (lambda p: p.update(w0=np.zeros((1, 8), dtype=np.int64)), ["w0", "int64", "floats"]),
    (lambda p: p.update({"lr/w0": np.zeros((2, 8))}), ["lr/w0", "(1, 8)"]),
])
def test_evaluate_wrong_shapes(capsys, tmp_path, change, fragments):
    params = good_params()
    change(params)
    write_params(tmp_path / "run", params)
    assert_usage_error(capsys, ["evaluate", str(tmp_path / "run")], *fragments)


def test_evaluate_architecture_must_match_the_run_config(capsys, tmp_path):
    write_params(tmp_path / "run", good_params((8, 8)), hidden=[40, 40])
    assert_usage_error(capsys, ["evaluate", str(tmp_path / "run")],
                       "[1, 8, 8, 1]", "expected [1, 40, 40, 1]")


def test_evaluate_a_hand_written_params_file(capsys, tmp_path):
    """Any 1-in, 1-out MLP saved with np.savez can be evaluated, given how to adapt it."""
    write_params(tmp_path / "run", good_params((5,)))
    code, out, _ = run(capsys, "evaluate", tmp_path / "run", "--tasks", 3, "--json",
                       "--activation", "tanh", "--inner-lr", 0.3)
    assert code == 0
    result = json.loads(out)
    assert result["inner_lr"] == 0.3 and result["activation"] == "tanh"


@pytest.mark.parametrize("given, missing", [
    ([], ["--activation", "--inner-lr"]),
    (["--activation", "relu"], ["--inner-lr"]),
    (["--inner-lr", "0.01"], ["--activation"]),
])
def test_evaluate_without_metrics_asks_instead_of_guessing(capsys, tmp_path, given, missing):
    write_params(tmp_path / "run", good_params((5,)))
    line = assert_usage_error(capsys, ["evaluate", str(tmp_path / "run"), *given],
                              "no metrics.json", *missing)
    assert ("--inner-lr" in line) == ("--inner-lr" in missing)


def test_evaluate_reads_the_activation_and_step_size_of_the_run(capsys, tmp_path):
    """A tanh run trained with α = 0.3 is evaluated as one, not as relu with α = 0.01."""
    out = tmp_path / "tanh"
    assert run(capsys, "train", "--out", out, "--activation", "tanh", "--inner-lr", 0.3,
               *TINY)[0] == 0
    code, stdout, _ = run(capsys, "evaluate", out, "--tasks", 4, "--json")
    assert code == 0
    result = json.loads(stdout)
    assert result["activation"] == "tanh" and result["inner_lr"] == 0.3
    # overriding is explicit, and changes the numbers
    code, other, _ = run(capsys, "evaluate", out, "--tasks", 4, "--json", "--activation", "relu")
    assert json.loads(other)["activation"] == "relu" and json.loads(other)["mean"] != \
        result["mean"]


# ---------------------------------------------------------------- the command itself
def test_no_command_prints_help_and_fails(capsys):
    code, _, err = run(capsys)
    assert code == 2 and "train" in err and "evaluate" in err


def test_unknown_command(capsys):
    code, _, err = run(capsys, "fly")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "invalid choice: 'fly'" in err


def test_help_and_version_exit_zero(capsys):
    assert run(capsys, "--help")[0] == 0
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.startswith("tinymeta ")


def test_subcommands_register_through_the_decorator(capsys, monkeypatch):
    monkeypatch.setattr(cli, "COMMANDS", dict(cli.COMMANDS))

    def arguments(p):
        p.add_argument("--times", type=cli.positive_int, default=1)

    @cli.command("hello", "say hello", arguments)
    def hello(args):
        print("hello " * args.times)
        return 0

    assert run(capsys, "hello", "--times", 2)[:2] == (0, "hello hello \n")
    assert_usage_error(capsys, ["hello", "--times", "0"], "--times")


def test_train_refuses_to_overwrite_a_run_unless_asked(capsys, tmp_path):
    out = tmp_path / "run"
    assert run(capsys, "train", "--out", out, *TINY)[0] == 0
    assert_usage_error(capsys, ["train", "--out", str(out), *TINY], "already holds a run",
                       "--overwrite")
    assert run(capsys, "train", "--out", out, "--overwrite", *TINY)[0] == 0


def test_train_rejects_an_empty_output_directory(capsys):
    assert_usage_error(capsys, ["train", "--out", "", *TINY], "--out", "must name a directory")


def test_train_warns_when_the_meta_loss_diverges(capsys, tmp_path):
    code, _, err = run(capsys, "train", "--out", tmp_path / "r", "--inner-lr", 1000,
                       "--meta-lr", 10, "--iterations", 20, "--meta-batch", 2, "--hidden", 8,
                       "--no-progress")
    assert code == 0
    assert "warning: the meta-loss diverged" in err


def test_evaluate_with_one_task_has_no_confidence_interval(capsys, tmp_path):
    out = tmp_path / "run"
    assert run(capsys, "train", "--out", out, *TINY)[0] == 0
    code, stdout, _ = run(capsys, "evaluate", out, "--tasks", 1, "--steps", 1)
    assert code == 0 and "n/a" in stdout
