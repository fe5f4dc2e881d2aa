"""`tinymeta sweep` on the local pool: specs, the tables, restarts, failures, bad input.

Every sweep here is tiny (4 runs of 40 iterations on a 1->8->1 network, 20
evaluation tasks): a few seconds on two cores, most of it process start-up.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sweep_helpers import TINY_SPEC, attempts, runs_table, write_spec

from tinymeta.cli import main
from tinymeta.sweep import Sweep, load_spec
from tinymeta.sweep.spec import SpecError, from_dict, parse_range

NAMES = ["maml-lr0.01-seed0", "maml-lr0.001-seed0", "fomaml-lr0.01-seed0",
         "fomaml-lr0.001-seed0"]


# ---------------------------------------------------------------- specs
def test_toml_json_and_flags_make_the_same_runs(tmp_path):
    toml_runs = load_spec(write_spec(tmp_path)).runs()
    import tomllib

    json_path = tmp_path / "tiny.json"
    json_path.write_text(json.dumps(tomllib.loads(TINY_SPEC)))
    assert [r.key for r in load_spec(json_path).runs()] == [r.key for r in toml_runs]
    assert [r.name for r in toml_runs] == NAMES
    flags = Sweep({"algo": ["maml", "fomaml"], "inner_lr": [0.01, 0.001], "seed": [0]},
                  {"iterations": 40, "hidden": [8], "meta_batch": 4},
                  load_spec(write_spec(tmp_path)).evaluation)
    assert [r.key for r in flags.runs()] == [r.key for r in toml_runs]


def test_keys_follow_the_whole_configuration():
    a = from_dict({"axes": {"seed": [0, 1]}, "train": {"iterations": 10}}).runs()
    b = from_dict({"axes": {"seed": [0, 1]}, "train": {"iterations": 11}}).runs()
    c = from_dict({"axes": {"seed": [0, 1]}, "train": {"iterations": 10},
                   "evaluate": {"tasks": 7}}).runs()
    assert [r.name for r in a] == [r.name for r in b] == ["maml-seed0", "maml-seed1"]
    assert len({r.key for r in a + b + c}) == 6


def test_overrides_and_run_names():
    sweep = from_dict({"axes": {"algo": ["maml", "reptile"], "inner_steps": [1, 5],
                                "seed": [0, 1]},
                       "override": [{"where": {"algo": "reptile"}, "set": {"meta_lr": 0.01}}]})
    runs = {r.name: r for r in sweep.runs()}
    assert "reptile-k5-seed1" in runs and "maml-k1-seed0" in runs
    assert runs["reptile-k5-seed1"].config.meta_lr == 0.01
    assert runs["maml-k5-seed1"].config.meta_lr == 1e-3
    assert parse_range("0-2,5") == [0, 1, 2, 5]


@pytest.mark.parametrize("data, message", [
    ({"axes": {"lr": [1]}}, "unknown setting 'lr'"),
    ({"axes": {"seed": []}}, "non-empty list"),
    ({"axes": {"inner_lr": [-1.0]}}, "inner_lr must be a positive number"),
    ({"axes": {"seed": [0]}, "train": {"seed": 1}}, "both an axis and a fixed"),
    ({"axes": {"seed": [0]}, "evaluate": {"steps": [0]}}, "evaluate.steps"),
    ({"axes": {"seed": [0]}, "sweeep": {}}, "unknown section"),
    ({"axes": {"seed": [0]}, "override": [{"where": {}}]}, "`where` table and a `set`"),
])
def test_bad_specs_say_what_is_wrong(data, message):
    with pytest.raises(SpecError, match=message):
        from_dict(data)


# ---------------------------------------------------------------- the local pool
@pytest.fixture(scope="module")
def local_sweep(tmp_path_factory):
    """The tiny sweep, run once on a 2-process local pool: (exit status, its directory)."""
    base = tmp_path_factory.mktemp("local")
    out = base / "sweep"
    status = main(["sweep", str(write_spec(base)), "--out", str(out), "--workers", "2",
                   "--no-progress"])
    return status, out


def test_a_sweep_writes_every_run_and_one_table(local_sweep):
    status, out = local_sweep
    assert status == 0
    for name in NAMES:
        files = {p.name for p in (out / name).iterdir()}
        assert {"params.npz", "metrics.json", "evaluation.json", "evaluation.npz"} <= files
        assert "checkpoint.npz" not in files
    rows = runs_table(out)
    assert [r["name"] for r in rows] == NAMES and {r["status"] for r in rows} == {"done"}
    csv_lines = (out / "results.csv").read_text().splitlines()
    assert csv_lines[0] == "algo,inner_lr,steps,runs,failed,mse_mean,mse_ci95,mse_median"
    assert len(csv_lines) == 1 + 4 * 3  # 4 configurations x steps 0, 1, 5
    md = (out / "results.md").read_text()
    assert "| algo | inner_lr | runs | 0 steps | 1 step | 5 steps |" in md
    assert md.count("(median ") == 12 and "Failed" not in md
    assert (out / "mse_vs_steps.png").stat().st_size > 1000
    manifest = json.loads((out / "sweep.json").read_text())
    assert [r["name"] for r in manifest["runs"]] == NAMES


def test_a_run_matches_tinymeta_train(local_sweep, tmp_path):
    """A sweep's run is the `tinymeta train` run of the same configuration, byte for byte."""
    _, out = local_sweep
    assert main(["train", "--algo", "fomaml", "--inner-lr", "0.001", "--iterations", "40",
                 "--hidden", "8", "--meta-batch", "4", "--seed", "0", "--no-progress",
                 "--out", str(tmp_path / "run")]) == 0
    assert (tmp_path / "run" / "params.npz").read_bytes() == \
        (out / "fomaml-lr0.001-seed0" / "params.npz").read_bytes()


def test_a_restarted_sweep_skips_finished_runs(local_sweep, capsys):
    status, out = local_sweep
    before = {n: (out / n / "params.npz").stat().st_mtime_ns for n in NAMES}
    results = (out / "results.csv").read_bytes()
    capsys.readouterr()
    assert main(["sweep", str(out.parent / "tiny.toml"), "--out", str(out),
                 "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "4 runs, 4 already complete (skipped); 0 to run" in err
    assert before == {n: (out / n / "params.npz").stat().st_mtime_ns for n in NAMES}
    assert all(len(attempts(out / n)) == 1 for n in NAMES)
    assert (out / "results.csv").read_bytes() == results


def test_an_interrupted_sweep_runs_only_what_is_missing(local_sweep, tmp_path, capsys):
    """Two runs complete (copied), one killed mid-run (a checkpoint), one never started."""
    import shutil

    from tinymeta.meta import checkpoint
    from tinymeta.meta.training import TrainState, advance
    from tinymeta.sweep.spec import load_spec

    _, done = local_sweep
    out = tmp_path / "sweep"
    for name in NAMES[:2]:
        shutil.copytree(done / name, out / name)
    run = {r.name: r for r in load_spec(write_spec(tmp_path)).runs()}[NAMES[2]]
    state = TrainState.start(run.config)
    advance(state, stop=lambda: state.iteration >= 25)
    (out / NAMES[2]).mkdir()
    checkpoint.save_checkpoint(out / NAMES[2], state)
    capsys.readouterr()
    assert main(["sweep", str(tmp_path / "tiny.toml"), "--out", str(out),
                 "--no-progress"]) == 0
    assert "4 runs, 2 already complete (skipped); 2 to run" in capsys.readouterr().err
    assert attempts(out / NAMES[2])[0]["started_at_iteration"] == 25
    assert attempts(out / NAMES[3])[0]["started_at_iteration"] == 0
    for name in NAMES:  # the resumed run ends with the same bytes as the uninterrupted one
        assert (out / name / "params.npz").read_bytes() == \
            (done / name / "params.npz").read_bytes()
    assert (out / "results.csv").read_bytes() == (done / "results.csv").read_bytes()
    assert (out / "results.md").read_bytes() == (done / "results.md").read_bytes()


def test_a_failing_run_is_reported_and_the_others_finish(tmp_path, capsys):
    out = tmp_path / "sweep"
    out.mkdir()
    (out / NAMES[1]).write_text("a file where the run's directory should go")
    status = main(["sweep", str(write_spec(tmp_path)), "--out", str(out), "--no-progress"])
    captured = capsys.readouterr()
    assert status == 1
    failed_line = [line for line in captured.out.splitlines() if "FAILED" in line]
    assert len(failed_line) == 1 and NAMES[1] in failed_line[0]
    assert "FileExistsError" in failed_line[0]
    assert captured.err.strip().splitlines()[-1] == (
        f"tinymeta sweep: error: 1 of 4 runs failed (listed in {out / 'results.md'}); run the "
        "same command again to retry them")
    assert "Traceback" not in captured.err
    statuses = {r["name"]: r["status"] for r in runs_table(out)}
    assert statuses == {**dict.fromkeys(NAMES, "done"), NAMES[1]: "failed"}
    md = (out / "results.md").read_text()
    assert "## Failed runs" in md and f"- `{NAMES[1]}`: FileExistsError" in md
    assert "| maml | 0.001 | 0 (1 failed) | — |" in md


# ---------------------------------------------------------------- bad input: one line, status 2
def _fails(argv: list[str], capsys, message: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and message in err, err
    assert err.startswith("tinymeta sweep: error:") and "Traceback" not in err


def test_bad_input_is_one_line(tmp_path, capsys):
    out = str(tmp_path / "out")
    _fails(["sweep", "--out", out], capsys, "give a SPEC file, or the axes as flags")
    _fails(["sweep", str(tmp_path / "missing.toml"), "--out", out], capsys, "cannot read")
    bad = tmp_path / "bad.toml"
    bad.write_text("[axes\n")
    _fails(["sweep", str(bad), "--out", out], capsys, "not valid TOML")
    bad.write_text("[axes]\nlearning_rate = [1]\n")
    _fails(["sweep", str(bad), "--out", out], capsys, "unknown setting 'learning_rate'")
    _fails(["sweep", "--algo", "mamll", "--out", out], capsys, "unknown algorithm mamll")
    _fails(["sweep", "--seeds", "0-x", "--out", out], capsys, "ranges like 0-2,5")
    _fails(["sweep", "--seeds", "0", "--out", out, "--workers", "2", "--dask", "tcp://x:1"],
           capsys, "--workers sizes the local pool")
    _fails(["sweep", "--seeds", "0", "--out", out, "--dask", "not an address"], capsys,
           "is not a scheduler address; expected one like tcp://host:8786")
    _fails(["sweep", "--seeds", "0", "--out", out, "--dask", str(tmp_path / "s.json")],
           capsys, "no such scheduler file")
    (tmp_path / "file").write_text("")
    _fails(["sweep", "--seeds", "0", "--out", str(tmp_path / "file")], capsys, "is a file")
    _fails(["sweep", "--seeds", "0", "--hidden", "100000,100000", "--out", out], capsys,
           "of memory")
    assert not Path(out).exists()


def test_a_changed_spec_does_not_mix_with_the_old_runs(local_sweep, tmp_path, capsys):
    _, out = local_sweep
    changed = write_spec(tmp_path, TINY_SPEC.replace("iterations = 40", "iterations = 41"))
    _fails(["sweep", str(changed), "--out", str(out)], capsys,
           "holds the results of another configuration")


class ElsewhereExecutor:
    """An executor whose runs write to another disk (a worker without the sweep directory):
    the files come back only as the bytes in the outcome. In-process and synchronous."""

    workers, description = 1, "elsewhere"

    def __init__(self, disk: Path) -> None:
        self.disk = disk

    def submit(self, job):
        from concurrent.futures import Future

        from tinymeta.sweep.worker import run_safely

        future = Future()
        future.set_result(run_safely(job["run"], str(self.disk / job["run"]["name"]),
                                     job["checkpoint_every"], job["checkpoint_seconds"], True))
        return future

    def close(self) -> None:
        pass


def test_results_come_home_as_files_from_workers_without_the_directory(local_sweep, tmp_path):
    """The executor interface is submit() -> Future; a worker's files reach --out as bytes."""
    from tinymeta.sweep import run_sweep, write_report

    _, done = local_sweep
    sweep = load_spec(write_spec(tmp_path))
    out = tmp_path / "sweep"
    runs, outcomes = run_sweep(sweep, out, ElsewhereExecutor(tmp_path / "worker-disk"))
    assert {o["status"] for o in outcomes.values()} == {"done"}
    assert all("files" not in o for o in outcomes.values())
    write_report(sweep, runs, outcomes, out, draw=False)
    for name in NAMES:
        for file in ("params.npz", "evaluation.npz"):
            assert (out / name / file).read_bytes() == (done / name / file).read_bytes()
        here, there = (json.loads((d / name / "metrics.json").read_text()) for d in (out, done))
        assert here["loss_curve"] == there["loss_curve"]  # the rest is the wall time
    assert (out / "results.csv").read_bytes() == (done / "results.csv").read_bytes()
    assert (out / "results.md").read_bytes() == (done / "results.md").read_bytes()
