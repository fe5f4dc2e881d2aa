"""Fault tests for `tinymeta train`: interrupted, killed, and handed broken checkpoints.

- SIGINT or SIGTERM at a random point of a short run: a checkpoint exists, the exit
  status is 130 / 143, `--resume` finishes, and params.npz is byte-identical to that of
  an uninterrupted run with the same seed.
- SIGKILL while a checkpoint is being written (a test hook slows the write down): the
  previous checkpoint is intact and the run resumes from it, again byte-identical.
- A checkpoint truncated at every eighth of its length, one of another architecture or
  algorithm, one holding a pickled object array: each is refused with exit status 2 and
  one line, and nothing is unpickled.

The interrupted runs are real processes (`python -m tinymeta.cli`); the resumes and the
refusals run in-process, which is faster and sees the same code.
"""

from __future__ import annotations

import io
import json
import os
import random
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tinymeta.cli import main
from tinymeta.meta import checkpoint
from tinymeta.meta.training import TrainConfig, TrainState, advance

ROOT = Path(__file__).resolve().parents[1]
RUN = ["--iterations", "1500", "--meta-batch", "2", "--hidden", "8", "--seed", "3",
       "--no-progress"]


def train_process(out: Path, *extra: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """`tinymeta train` in its own process; returns once the training loop has started."""
    proc = subprocess.Popen([sys.executable, "-m", "tinymeta.cli", "train", *RUN, "--out",
                             str(out), *extra], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})})
    first = proc.stderr.readline()  # printed just before the loop starts
    assert first.startswith("tinymeta train: training"), first + proc.stderr.read()
    return proc


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run: (params.npz bytes, seconds its training loop took)."""
    out = tmp_path_factory.mktemp("reference") / "run"
    assert main(["train", *RUN, "--out", str(out)]) == 0
    seconds = json.loads((out / "metrics.json").read_text())["wall_time_seconds"]
    return (out / "params.npz").read_bytes(), seconds


def resume_and_compare(out: Path, reference_bytes: bytes) -> None:
    assert main(["train", "--resume", str(out), "--no-progress"]) == 0
    assert (out / "params.npz").read_bytes() == reference_bytes
    assert not (out / "checkpoint.npz").exists()  # a finished run keeps no checkpoint
    assert not list(out.glob(".*.tmp"))


@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_saves_a_checkpoint_and_resume_is_bitwise_identical(tmp_path, reference, signum,
                                                                    status):
    reference_bytes, loop_seconds = reference
    out = tmp_path / "run"
    proc = train_process(out, "--checkpoint-every", "100")
    # a random point of the run, between 10% and 50% of its length (a margin for a slower
    # process: the run must not have finished when the signal arrives)
    time.sleep(random.Random(int(signum)).uniform(0.1, 0.5) * loop_seconds)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == status, err
    last = err.strip().splitlines()[-1]
    assert f"saved {out / 'checkpoint.npz'}" in last, err
    assert f"resume with: tinymeta train --resume {out}" in last
    assert "Traceback" not in err and not (out / "params.npz").exists()
    stopped_at = checkpoint.read_checkpoint(out).iteration
    assert 0 < stopped_at < 1500, stopped_at
    print(f"{signal.Signals(signum).name} at iteration {stopped_at} of 1500")
    resume_and_compare(out, reference_bytes)


def test_sigkill_during_a_checkpoint_write_leaves_the_previous_one(tmp_path, reference):
    reference_bytes, _ = reference
    out = tmp_path / "run"
    # every checkpoint write pauses half-way for a second: a wide window to kill it in
    proc = train_process(out, "--checkpoint-every", "200",
                         env={checkpoint.SLOW_WRITE_ENV: "1"})
    deadline = time.monotonic() + 60
    # the first checkpoint completes, then the second one is caught half-written
    while not ((out / "checkpoint.npz").exists() and list(out.glob(".checkpoint.npz.*.tmp"))):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.01)
    proc.kill()
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert list(out.glob(".checkpoint.npz.*.tmp"))  # the interrupted write, never renamed
    assert checkpoint.read_checkpoint(out).iteration == 200
    resume_and_compare(out, reference_bytes)


# ---------------------------------------------------------------- broken checkpoints
def make_checkpoint(directory: Path, iterations: int = 5, **config) -> Path:
    """A real checkpoint of a small run stopped after `iterations` steps."""
    settings = {"iterations": 50, "meta_batch": 2, "hidden": (8,), **config}
    state = TrainState.start(TrainConfig(**settings))
    advance(state, stop=lambda: state.iteration >= iterations)
    directory.mkdir(parents=True, exist_ok=True)
    return checkpoint.save_checkpoint(directory, state)


def members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def rewrite(path: Path, contents: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in contents.items():
            archive.writestr(name, data)


def refused(capsys, directory: Path, *fragments: str, argv: tuple[str, ...] = ()) -> str:
    code = main(["train", "--resume", str(directory), "--no-progress", *argv])
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tinymeta train: error: "), err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert not (directory / "params.npz").exists()
    return lines[0]


@pytest.mark.parametrize("eighth", range(8))
def test_truncated_checkpoint_is_refused(capsys, tmp_path, eighth):
    path = make_checkpoint(tmp_path / "run")
    data = path.read_bytes()
    path.write_bytes(data[:len(data) * eighth // 8])
    refused(capsys, tmp_path / "run", "corrupt or truncated checkpoint")


def test_checkpoint_with_a_flipped_byte_is_refused(capsys, tmp_path):
    path = make_checkpoint(tmp_path / "run")
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0xFF  # inside an array: the zip's CRC catches it
    path.write_bytes(bytes(data))
    refused(capsys, tmp_path / "run", "corrupt")


def test_checkpoint_of_another_architecture_is_refused(capsys, tmp_path):
    ours = make_checkpoint(tmp_path / "ours", hidden=(8,))
    theirs = make_checkpoint(tmp_path / "theirs", hidden=(4, 4))
    # the state (configuration) of one, the arrays of the other
    contents = members(theirs)
    contents["state.json"] = members(ours)["state.json"]
    rewrite(ours, contents)
    refused(capsys, tmp_path / "ours", "do not match the saved configuration", "--hidden 8")


def test_checkpoint_of_another_shape_is_refused(capsys, tmp_path):
    ours = make_checkpoint(tmp_path / "ours", hidden=(8,))
    theirs = make_checkpoint(tmp_path / "theirs", hidden=(5,))
    contents = members(theirs)
    contents["state.json"] = members(ours)["state.json"]
    rewrite(ours, contents)
    refused(capsys, tmp_path / "ours", "theta/w0", "(1, 5)", "(1, 8)", "another network")


def test_checkpoint_of_another_algorithm_is_refused(capsys, tmp_path):
    ours = make_checkpoint(tmp_path / "ours", algo="maml")
    theirs = make_checkpoint(tmp_path / "theirs", algo="metasgd")
    contents = members(theirs)
    contents["state.json"] = members(ours)["state.json"]
    rewrite(ours, contents)
    refused(capsys, tmp_path / "ours", "--algo maml", "unexpected", "theta/lr/w0")


class Payload:
    """Unpickling this would leave a file behind: the proof that nothing was unpickled."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_checkpoint_with_a_pickled_object_array_is_refused(capsys, tmp_path, monkeypatch):
    path = make_checkpoint(tmp_path / "run")
    marker = tmp_path / "unpickled"
    evil = io.BytesIO()
    np.save(evil, np.array([Payload(str(marker))], dtype=object), allow_pickle=True)
    contents = members(path)
    contents["theta/w0.npy"] = evil.getvalue()
    rewrite(path, contents)

    import pickle

    def no_unpickling(*args, **kwargs):
        raise AssertionError("something was unpickled")

    monkeypatch.setattr(pickle, "load", no_unpickling)
    monkeypatch.setattr(pickle, "loads", no_unpickling)
    refused(capsys, tmp_path / "run", "object array", "pickle")
    assert not marker.exists()


@pytest.mark.parametrize("flag, value, fragment", [
    ("--inner-lr", "0.02", "trained with --inner-lr 0.01"),
    ("--hidden", "8,8", "trained with --hidden 8"),
    ("--algo", "fomaml", "trained with --algo maml"),
    ("--iterations", "60", "trained with --iterations 50"),
    ("--dtype", "float32", "trained with --dtype float64"),
])
def test_resume_refuses_flags_that_contradict_the_checkpoint(capsys, tmp_path, flag, value,
                                                            fragment):
    make_checkpoint(tmp_path / "run")
    line = refused(capsys, tmp_path / "run", f"{flag} {value} contradicts", fragment,
                   argv=(flag, value))
    assert f"leave out {flag}" in line


def test_resume_accepts_flags_that_agree_with_the_checkpoint(capsys, tmp_path):
    make_checkpoint(tmp_path / "run")
    assert main(["train", "--resume", str(tmp_path / "run"), "--hidden", "8", "--iterations",
                 "50", "--algo", "maml", "--no-progress"]) == 0
    assert (tmp_path / "run" / "params.npz").exists()


def test_resume_refuses_another_out_and_overwrite(capsys, tmp_path):
    make_checkpoint(tmp_path / "run")
    refused(capsys, tmp_path / "run", "--out", argv=("--out", str(tmp_path / "elsewhere")))
    refused(capsys, tmp_path / "run", "--overwrite", argv=("--overwrite",))


def test_resume_without_a_checkpoint(capsys, tmp_path):
    (tmp_path / "empty").mkdir()
    refused(capsys, tmp_path / "empty", "no checkpoint to resume from")
    (tmp_path / "done").mkdir()
    (tmp_path / "done" / "params.npz").write_bytes(b"")
    assert main(["train", "--resume", str(tmp_path / "done")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "holds a finished run" in err


def test_a_new_run_does_not_silently_replace_an_interrupted_one(capsys, tmp_path):
    make_checkpoint(tmp_path / "run", iterations=5)
    code = main(["train", "--out", str(tmp_path / "run"), "--iterations", "3", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "--resume" in err and "--overwrite" in err
    assert main(["train", "--out", str(tmp_path / "run"), "--iterations", "3", "--meta-batch",
                 "2", "--hidden", "8", "--no-progress", "--overwrite"]) == 0
    assert not (tmp_path / "run" / "checkpoint.npz").exists()


def test_evaluate_on_an_interrupted_run_says_to_resume(capsys, tmp_path):
    make_checkpoint(tmp_path / "run")
    assert main(["evaluate", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "tinymeta train --resume" in err
