"""Saving and loading runs and training checkpoints: ``.npz`` plus JSON, never pickle.

A run directory holds

    params.npz       the MLP's arrays under their tree keys (``w0``, ``b0``, ...);
                     Meta-SGD's learned inner rates under ``lr/w0``, ``lr/b0``, ...
    metrics.json     the training configuration, the wall time and the loss curve
    checkpoint.npz   while training (and after an interruption): everything needed to
                     continue exactly where training stopped; removed when it finishes

``.npz`` is a zip of ``.npy`` files: plain arrays, readable from any numpy
program. A checkpoint is the same kind of zip with one more member,
``state.json``: the full configuration, the iteration, the random generator's
state and Adam's step count. Its arrays are the meta-parameters
(``theta/w0``, ...; Meta-SGD: ``theta/params/w0``, ``theta/lr/w0``, ...),
Adam's moments (``adam_m/...``, ``adam_v/...``) and the loss of every
iteration so far (``losses``). With those, a resumed run draws the same
tasks, takes the same steps and ends with the same bytes as one that was
never interrupted.

Three rules keep files trustworthy:

- **No pickle.** Parameters load with ``allow_pickle=False``; checkpoint
  arrays are read by ``_read_npy``, which refuses an object dtype before
  reading any data, so a file that would need pickle (and could run code
  when unpickled) is refused, never unpickled.
- **Atomic writes.** ``atomic_write`` writes a temporary file beside the
  target, flushes it to disk and renames it over the target (``os.replace``
  is atomic on POSIX and Windows): a kill at any moment leaves the old file
  or the new one, never half of one.
- **Same input, same bytes.** ``npz_bytes`` stamps every zip member with a
  fixed date (``np.savez`` stamps the current time), so two runs that end
  with the same arrays write byte-identical ``params.npz`` files.

Every way a file can be wrong (missing, truncated, not a zip, pickled,
another architecture or algorithm) becomes one ``CheckpointError`` whose
message says what was expected.
"""

from __future__ import annotations

import io
import json
import os
import time
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tinymeta.tree import flatten, unflatten

if TYPE_CHECKING:
    from tinymeta.meta.training import TrainConfig, TrainResult, TrainState

__all__ = [
    "CheckpointError", "PARAMS_FILE", "METRICS_FILE", "CHECKPOINT_FILE", "save_params",
    "load_params", "save_run", "load_run", "mlp_sizes", "subsample_curve", "npz_bytes",
    "atomic_write", "save_checkpoint", "read_checkpoint", "Checkpoint", "Checkpointer",
]

PARAMS_FILE = "params.npz"
METRICS_FILE = "metrics.json"
CHECKPOINT_FILE = "checkpoint.npz"
LR_PREFIX = "lr/"
STATE_MEMBER = "state.json"
FORMAT = "tinymeta training checkpoint"
VERSION = 1
# A test hook: seconds to pause half-way through writing a checkpoint, so that a test can
# kill the process mid-write (tests/test_cli_faults.py). Unset in normal use.
SLOW_WRITE_ENV = "TINYMETA_TEST_SLOW_CHECKPOINT_WRITE"
_FIXED_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip can hold


class CheckpointError(ValueError):
    """A parameters file or run directory that cannot be used, and why."""


# ---------------------------------------------------------------- writing files
def npz_bytes(arrays: dict[str, Any], members: dict[str, bytes] | None = None) -> bytes:
    """The bytes of an ``.npz`` archive of ``arrays`` (plus raw ``members``), like
    ``np.savez`` but byte-for-byte the same for the same input, and never pickled."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:  # stored, as savez
        for name, data in {**(members or {}), **{k + ".npy": _npy_bytes(k, v)
                                                for k, v in arrays.items()}}.items():
            info = zipfile.ZipInfo(name, date_time=_FIXED_DATE)
            info.external_attr = 0o644 << 16  # -rw-r--r-- when unzipped
            archive.writestr(info, data)
    return buffer.getvalue()


def _npy_bytes(name: str, array: Any) -> bytes:
    array = np.asarray(array)
    if array.dtype.hasobject:
        raise ValueError(f"{name}: object arrays are not saved (they would need pickle)")
    out = io.BytesIO()
    np.lib.format.write_array(out, array, allow_pickle=False)
    return out.getvalue()


def atomic_write(path: str | Path, data: bytes, slow_hook: bool = False) -> Path:
    """Write ``data`` to ``path`` so that ``path`` is always either the old file or the
    new one: write a temporary file in the same directory, flush it to disk, rename it."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pause = float(os.environ.get(SLOW_WRITE_ENV, "0") or 0) if slow_hook else 0.0
    try:
        with open(tmp, "wb") as f:
            if pause > 0:  # the test hook: half the bytes, a pause, the rest
                f.write(data[:len(data) // 2])
                f.flush()
                time.sleep(pause)
                data = data[len(data) // 2:]
            f.write(data)
            f.flush()
            os.fsync(f.fileno())  # the bytes are on disk before the name points at them
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def remove_stale_temporaries(directory: str | Path) -> None:
    """Delete temporary files that a killed process left behind (see ``atomic_write``)."""
    for tmp in Path(directory).glob(".*.tmp"):
        if tmp.name.startswith((f".{CHECKPOINT_FILE}.", f".{PARAMS_FILE}.",
                                f".{METRICS_FILE}.")):
            tmp.unlink(missing_ok=True)


def save_params(path: str | Path, params: dict[str, Any],
                inner_lr: float | dict[str, Any] | None = None) -> Path:
    """Write ``params`` (and a tree of learned rates, if given) to ``path`` as an ``.npz``
    archive, atomically and with the same bytes for the same arrays."""
    arrays = {k: np.asarray(v) for k, v in params.items()}
    if isinstance(inner_lr, dict):
        arrays.update({LR_PREFIX + k: np.asarray(v) for k, v in inner_lr.items()})
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(path, npz_bytes(arrays))


def mlp_sizes(params: dict[str, np.ndarray], where: str = "parameters") -> list[int]:
    """Layer sizes of a ``{"w0", "b0", ...}`` tree, after checking that its shapes chain up."""
    n = 0
    while f"w{n}" in params:
        n += 1
    expected = {f"{k}{i}" for i in range(n) for k in "wb"}
    if n == 0 or set(params) != expected:
        raise CheckpointError(f"{where}: expected arrays w0, b0, ..., w{max(n - 1, 0)}, "
                              f"b{max(n - 1, 0)}, got {sorted(params)}")
    sizes = []
    for i in range(n):
        w, b = params[f"w{i}"], params[f"b{i}"]
        for name, a in ((f"w{i}", w), (f"b{i}", b)):
            if a.dtype.kind != "f":
                raise CheckpointError(f"{where}: {name} has dtype {a.dtype}; expected floats")
        if w.ndim != 2 or b.shape != (w.shape[-1],):
            raise CheckpointError(f"{where}: w{i} has shape {w.shape} and b{i} {b.shape}; "
                                  f"expected (in, out) and (out,)")
        if sizes and w.shape[0] != sizes[-1]:
            raise CheckpointError(f"{where}: w{i} has shape {w.shape} but layer {i - 1} has "
                                  f"{sizes[-1]} outputs; expected ({sizes[-1]}, ...)")
        if not sizes:
            sizes.append(w.shape[0])
        sizes.append(w.shape[1])
    return sizes


def load_params(
    path: str | Path, sizes: list[int] | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray] | None]:
    """Read ``(params, learned_rates_or_None)`` from ``path``, checking every shape.

    ``sizes`` (e.g. ``[1, 40, 40, 1]``) is the architecture the file must have;
    by default any MLP from 1 input to 1 output (the sinusoid problem).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such parameters file"
                              + (" (is it a directory without params.npz?)" if path.is_dir()
                                 else ""))
    try:
        with open(path, "rb") as f:
            head = f.read(6)
    except OSError as error:
        raise CheckpointError(f"{path}: cannot read the parameters file ({error})") from None
    if head.startswith(b"\x80"):  # the pickle protocol's first opcode
        raise CheckpointError(f"{path}: refusing to load a pickled file; parameters must be "
                              f"plain arrays saved with np.savez")
    if not head.startswith(b"PK"):  # every zip archive, hence every .npz, starts so
        what = ("a single .npy array" if head.startswith(b"\x93NUMPY")
                else "not a zip archive: corrupt, or another format")
        raise CheckpointError(f"{path}: expected an .npz archive of named parameter arrays "
                              f"(w0, b0, ...), but the file is {what}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in archive.files}
    except ValueError as error:
        if "pickle" in str(error):  # an object array inside the archive
            raise CheckpointError(f"{path}: refusing to load pickled data; parameters must be "
                                  f"plain arrays saved with np.savez") from None
        raise CheckpointError(f"{path}: not a valid .npz parameters file ({error})") from None
    except (OSError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as error:
        raise CheckpointError(f"{path}: corrupt .npz parameters file ({error})") from None
    params = {k: v for k, v in arrays.items() if not k.startswith(LR_PREFIX)}
    rates = {k[len(LR_PREFIX):]: v for k, v in arrays.items() if k.startswith(LR_PREFIX)}
    found = mlp_sizes(params, str(path))
    wanted = sizes if sizes is not None else [1, *found[1:-1], 1]
    if found != list(wanted):
        raise CheckpointError(f"{path}: the network has layer sizes {found}; expected {wanted}")
    if rates:
        for k, p in params.items():
            if k not in rates or rates[k].shape != p.shape or rates[k].dtype.kind != "f":
                got = rates[k].shape if k in rates else "nothing"
                raise CheckpointError(f"{path}: learned rate lr/{k} should be a float array of "
                                      f"shape {p.shape} like {k}, got {got}")
        if set(rates) != set(params):
            raise CheckpointError(f"{path}: unexpected learned rates "
                                  f"{sorted(LR_PREFIX + k for k in set(rates) - set(params))}")
    return params, (rates or None)


def subsample_curve(losses: np.ndarray, points: int = 500) -> dict[str, list[float]]:
    """At most ``points`` (iteration, mean loss over the window ending there) pairs."""
    losses = np.asarray(losses, dtype=float)
    window = max(1, -(-len(losses) // points))
    ends = list(range(window, len(losses), window)) + [len(losses)]
    starts = [e - window for e in ends]
    return {"iteration": [int(e) for e in ends],
            "loss": [float(np.mean(losses[s:e])) for s, e in zip(starts, ends, strict=True)]}


def save_run(directory: str | Path, result: TrainResult) -> dict[str, Any]:
    """Write a training result as ``directory/params.npz`` and ``directory/metrics.json``;
    return the metrics (configuration, wall time, subsampled loss curve)."""
    directory = Path(directory)
    rates = result.inner_lr if isinstance(result.inner_lr, dict) else None
    save_params(directory / PARAMS_FILE, result.params, rates)
    iterations = len(result.losses)
    metrics = {
        "config": result.config.as_dict(),
        "wall_time_seconds": result.seconds,
        "seconds_per_iteration": result.seconds / max(iterations, 1),
        "final_query_loss": float(np.mean(result.losses[-min(100, iterations):])),
        "loss_curve": subsample_curve(result.losses),
    }
    atomic_write(directory / METRICS_FILE, (json.dumps(metrics, indent=2) + "\n").encode())
    return metrics


def load_run(location: str | Path) -> tuple[dict[str, np.ndarray], Any, dict[str, Any]]:
    """``(params, inner_lr, config)`` of a run directory (or of a ``params.npz`` file).

    ``inner_lr`` is the learned tree for Meta-SGD, else the training config's
    ``inner_lr`` (None when there is no ``metrics.json``). ``config`` is the
    training configuration, or ``{}``.
    """
    location = Path(location)
    if not location.exists():
        raise CheckpointError(f"{location}: no such run directory or parameters file")
    if location.is_dir() and not (location / PARAMS_FILE).exists() \
            and (location / CHECKPOINT_FILE).exists():
        raise CheckpointError(f"{location}: training stopped before the end and left only "
                              f"{CHECKPOINT_FILE}; finish it first with `tinymeta train "
                              f"--resume {location}`")
    params_path = location / PARAMS_FILE if location.is_dir() else location
    metrics_path = params_path.parent / METRICS_FILE
    config: dict[str, Any] = {}
    if metrics_path.is_file():
        try:
            config = json.loads(metrics_path.read_text()).get("config", {})
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as error:
            raise CheckpointError(f"{metrics_path}: not a valid metrics file ({error})") from None
        if not isinstance(config, dict):
            raise CheckpointError(f"{metrics_path}: 'config' should be an object")
    sizes = [1, *config["hidden"], 1] if isinstance(config.get("hidden"), list) else None
    params, rates = load_params(params_path, sizes)
    return params, (rates if rates is not None else config.get("inner_lr")), config


# ---------------------------------------------------------------- training checkpoints
def _named_leaves(tree: Any, prefix: str) -> Iterator[tuple[str, Any]]:
    """``(name, leaf)`` in ``tinymeta.tree.flatten`` order (dicts in insertion order), named
    by path: ``theta/w0``, or ``theta/params/w0`` for Meta-SGD's nested dict."""
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from _named_leaves(value, f"{prefix}/{key}")
    else:
        yield prefix, tree


def save_checkpoint(directory: str | Path, state: TrainState) -> Path:
    """Write ``directory/checkpoint.npz`` atomically: everything ``state`` needs to continue."""
    arrays = dict(_named_leaves(state.meta_params, "theta"))
    adam = state.optimizer
    if adam.m is not None and adam.v is not None:  # None until the first step
        suffixes = [name[len("theta"):] for name in arrays]
        arrays.update({f"adam_m{s}": m for s, m in zip(suffixes, adam.m, strict=True)})
        arrays.update({f"adam_v{s}": v for s, v in zip(suffixes, adam.v, strict=True)})
    arrays["losses"] = state.losses[:state.iteration]
    meta = {
        "format": FORMAT, "version": VERSION,
        "config": state.config.as_dict(),
        "iteration": state.iteration,
        "seconds": state.seconds,
        "adam_steps": adam.t,
        # PCG64's 128-bit state as JSON integers (Python's json has no size limit)
        "rng": state.rng.bit_generator.state,
    }
    members = {STATE_MEMBER: (json.dumps(meta, indent=1) + "\n").encode()}
    return atomic_write(Path(directory) / CHECKPOINT_FILE, npz_bytes(arrays, members),
                        slow_hook=True)


@dataclass
class Checkpoint:
    """A checkpoint read and checked for form (``read_checkpoint``), not yet turned into a
    ``TrainState`` (``restore``): the caller can compare its configuration with the
    command line, and check that it fits in memory, before anything large is allocated."""

    path: Path
    config: TrainConfig
    iteration: int
    seconds: float
    adam_steps: int
    rng_state: dict[str, Any]
    arrays: dict[str, np.ndarray]

    def restore(self) -> TrainState:
        """The training state, after checking every array against the configuration."""
        from tinymeta.meta.training import TrainState

        fresh = TrainState.start(self.config)  # the shapes and dtypes this config has
        theta = dict(_named_leaves(fresh.meta_params, "theta"))
        suffixes = [name[len("theta"):] for name in theta]
        expected = dict(theta)
        if self.adam_steps:  # Adam's moments: one per parameter, of its shape
            for suffix, like in zip(suffixes, theta.values(), strict=True):
                expected[f"adam_m{suffix}"] = expected[f"adam_v{suffix}"] = like
        wanted = set(expected) | {"losses"}
        if set(self.arrays) != wanted:
            missing, extra = sorted(wanted - set(self.arrays)), sorted(set(self.arrays) - wanted)
            raise CheckpointError(
                f"{self.path}: the arrays do not match the saved configuration "
                f"(--algo {self.config.algo}, --hidden "
                f"{','.join(map(str, self.config.hidden))})"
                + (f"; missing {', '.join(missing)}" if missing else "")
                + (f"; unexpected {', '.join(extra)}" if extra else ""))
        for name, like in expected.items():
            array = self.arrays[name]
            if array.shape != like.shape or array.dtype != like.dtype:
                raise CheckpointError(
                    f"{self.path}: {name} is {array.dtype} {array.shape} but the saved "
                    f"configuration (--hidden {','.join(map(str, self.config.hidden))}, "
                    f"--dtype {self.config.dtype}) needs {like.dtype} {like.shape}: the "
                    f"arrays belong to another network")
        losses = self.arrays["losses"]
        if losses.shape != (self.iteration,) or losses.dtype != np.float64:
            raise CheckpointError(f"{self.path}: losses is {losses.dtype} {losses.shape}; "
                                  f"expected float64 ({self.iteration},)")
        state = fresh
        state.meta_params = unflatten(flatten(fresh.meta_params)[1],
                                      [self.arrays[name] for name in theta])
        if self.adam_steps:
            state.optimizer.t = self.adam_steps
            state.optimizer.m = [self.arrays[f"adam_m{s}"] for s in suffixes]
            state.optimizer.v = [self.arrays[f"adam_v{s}"] for s in suffixes]
        try:
            state.rng.bit_generator.state = self.rng_state
        except (TypeError, ValueError, KeyError) as error:
            raise CheckpointError(f"{self.path}: the random generator state is not a "
                                  f"PCG64 state ({error})") from None
        state.losses[:self.iteration] = losses
        state.iteration, state.seconds = self.iteration, self.seconds
        return state


def read_checkpoint(location: str | Path) -> Checkpoint:
    """Read ``location/checkpoint.npz`` (or the file ``location``) without unpickling
    anything; raise ``CheckpointError`` saying what is wrong with it."""
    from tinymeta.meta.training import TrainConfig

    location = Path(location)
    path = location / CHECKPOINT_FILE if location.is_dir() else location
    if not path.is_file():
        finished = location.is_dir() and (location / PARAMS_FILE).is_file()
        raise CheckpointError(
            f"{path}: no checkpoint to resume from"
            + (f" ({location} holds a finished run: its {PARAMS_FILE} is written)" if finished
               else " (is this the --out directory of an interrupted `tinymeta train`?)"))
    try:
        data = path.read_bytes()
    except OSError as error:
        raise CheckpointError(f"{path}: cannot read the checkpoint ({error})") from None
    broken = f"{path}: corrupt or truncated checkpoint ({{}}); start again with --overwrite"
    if not data.startswith(b"PK"):
        raise CheckpointError(broken.format("not a zip archive"))
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = {info.filename: info for info in archive.infolist()}
            if STATE_MEMBER not in infos:
                raise CheckpointError(broken.format(f"no {STATE_MEMBER} inside"))
            meta = json.loads(archive.read(STATE_MEMBER))  # read() checks the CRC
            arrays = {}
            for name, info in infos.items():
                if name == STATE_MEMBER:
                    continue
                if not name.endswith(".npy"):
                    raise CheckpointError(broken.format(f"unexpected member {name}"))
                arrays[name[:-4]] = _read_npy(archive, info, path)
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError,
            UnicodeDecodeError) as error:  # json.JSONDecodeError is a ValueError
        raise CheckpointError(broken.format(str(error).rstrip(".") or type(error).__name__)) \
            from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a tinymeta training checkpoint")
    if meta.get("version") != VERSION:
        raise CheckpointError(f"{path}: checkpoint version {meta.get('version')!r}; this "
                              f"tinymeta reads version {VERSION}")
    try:
        fields = dict(meta["config"])
        fields["hidden"] = tuple(fields["hidden"])
        config = TrainConfig(**fields)
        iteration, seconds, adam_steps = meta["iteration"], meta["seconds"], meta["adam_steps"]
        rng_state = meta["rng"]
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"{path}: the saved state is incomplete or invalid "
                              f"({error})") from None
    if not (type(iteration) is int and 0 <= iteration <= config.iterations) \
            or not (type(adam_steps) is int and adam_steps in (0, iteration)) \
            or not isinstance(seconds, (int, float)) or not isinstance(rng_state, dict):
        raise CheckpointError(f"{path}: the saved state is inconsistent (iteration "
                              f"{iteration!r} of {config.iterations}, Adam step {adam_steps!r})")
    return Checkpoint(path, config, iteration, float(seconds), adam_steps, rng_state, arrays)


def _read_npy(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path) -> np.ndarray:
    """One ``.npy`` member, read from its header by hand: an object dtype (pickle) is refused
    before any data is read, and a header that promises more bytes than the member holds
    is corrupt (so a damaged header cannot make us allocate gigabytes)."""
    name = info.filename[:-4]
    if info.compress_type != zipfile.ZIP_STORED:
        raise CheckpointError(f"{path}: {name} is compressed; checkpoints store arrays as is")
    with archive.open(info) as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise CheckpointError(f"{path}: {name} has .npy version {version}")
        if dtype.hasobject:
            raise CheckpointError(f"{path}: refusing to load {name}: it is an object array, "
                                  f"which only pickle can read; checkpoints hold plain arrays")
        count = 1
        for n in shape:
            count *= n
        if count * dtype.itemsize > info.file_size:
            raise CheckpointError(f"{path}: corrupt checkpoint: {name} claims shape {shape} "
                                  f"but holds {info.file_size} bytes")
        data = f.read(count * dtype.itemsize)  # the CRC is checked at the member's end
        if len(data) != count * dtype.itemsize or f.read(1):
            raise CheckpointError(f"{path}: corrupt checkpoint: {name} has the wrong length")
    array = np.frombuffer(data, dtype=dtype, count=count)
    return array.reshape(shape, order="F" if fortran else "C").copy()


class Checkpointer:
    """Save a checkpoint every ``every`` iterations or ``seconds`` of wall time, whichever
    comes first; call it after each iteration (``meta_train(..., checkpoint=...)``)."""

    def __init__(self, directory: str | Path, every: int = 1000, seconds: float = 60.0):
        self.directory, self.every, self.seconds = Path(directory), every, seconds
        self.last_iteration: int | None = None
        self.last_time = time.monotonic()
        remove_stale_temporaries(self.directory)

    def __call__(self, state: TrainState) -> None:
        if self.last_iteration is None:
            self.last_iteration = state.iteration - 1  # count from where this process began
        if state.iteration >= state.config.iterations:
            return  # finished: the run's own files come next
        if state.iteration - self.last_iteration >= self.every \
                or time.monotonic() - self.last_time >= self.seconds:
            self.save(state)

    def save(self, state: TrainState) -> Path:
        path = save_checkpoint(self.directory, state)
        self.last_iteration, self.last_time = state.iteration, time.monotonic()
        return path
