"""tinymeta.meta.checkpoint: same arrays, same bytes; atomic writes; checkpoints on schedule."""

from __future__ import annotations

import time

import numpy as np
import pytest

from tinymeta.meta import checkpoint
from tinymeta.meta.training import TrainConfig, TrainState, advance, meta_train

SMALL = {"iterations": 20, "meta_batch": 2, "hidden": (8,)}


def test_npz_bytes_are_the_same_for_the_same_arrays_and_load_with_numpy(tmp_path, monkeypatch):
    arrays = {"w0": np.arange(6.0).reshape(2, 3), "b0": np.zeros(3, np.float32)}
    first = checkpoint.npz_bytes(arrays)
    later = time.time() + 86_400
    monkeypatch.setattr(time, "time", lambda: later)  # np.savez would stamp the new date
    assert checkpoint.npz_bytes(arrays) == first
    (tmp_path / "a.npz").write_bytes(first)
    with np.load(tmp_path / "a.npz", allow_pickle=False) as f:
        assert np.array_equal(f["w0"], arrays["w0"]) and f["b0"].dtype == np.float32


def test_npz_bytes_refuses_object_arrays():
    with pytest.raises(ValueError, match="pickle"):
        checkpoint.npz_bytes({"w0": np.array([None], dtype=object)})


def test_atomic_write_keeps_the_old_file_when_the_write_fails(tmp_path, monkeypatch):
    target = tmp_path / "params.npz"
    target.write_bytes(b"old")

    def broken_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint.os, "fsync", broken_fsync)
    with pytest.raises(OSError):
        checkpoint.atomic_write(target, b"new")
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == [
        "params.npz"]


@pytest.mark.parametrize("algo", ["maml", "metasgd", "reptile"])
def test_a_restored_state_continues_exactly(tmp_path, algo):
    config = TrainConfig(algo=algo, **SMALL)
    whole = meta_train(config)
    state = TrainState.start(config)
    advance(state, stop=lambda: state.iteration >= 7)
    checkpoint.save_checkpoint(tmp_path, state)
    saved = checkpoint.read_checkpoint(tmp_path)
    assert saved.iteration == 7 and saved.config == config
    resumed = meta_train(config, state=saved.restore())
    assert np.array_equal(resumed.losses, whole.losses)
    assert checkpoint.npz_bytes(resumed.params) == checkpoint.npz_bytes(whole.params)


def test_checkpointer_saves_every_n_iterations_or_seconds(tmp_path, monkeypatch):
    saved = []
    monkeypatch.setattr(checkpoint, "save_checkpoint",
                        lambda directory, state: saved.append(state.iteration))
    state = TrainState.start(TrainConfig(**SMALL))
    advance(state, checkpoint=checkpoint.Checkpointer(tmp_path, every=6, seconds=1e9))
    assert saved == [6, 12, 18]  # not at 20: the finished run writes its own files

    saved.clear()
    clock = iter(range(0, 10_000, 10))  # each call to the clock: 10 s later
    monkeypatch.setattr(checkpoint.time, "monotonic", lambda: next(clock))
    state = TrainState.start(TrainConfig(**SMALL))
    advance(state, checkpoint=checkpoint.Checkpointer(tmp_path, every=1000, seconds=25))
    assert saved and saved[:2] == [3, 6]


def test_stale_temporary_files_are_removed(tmp_path):
    (tmp_path / ".checkpoint.npz.123.tmp").write_bytes(b"half")
    (tmp_path / ".unrelated.tmp").write_bytes(b"keep")
    checkpoint.Checkpointer(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".unrelated.tmp"]
