"""Saving and loading trained runs: ``params.npz`` plus ``metrics.json``, never pickle.

A run directory holds

    params.npz     the MLP's arrays under their tree keys (``w0``, ``b0``, ...);
                   Meta-SGD's learned inner rates under ``lr/w0``, ``lr/b0``, ...
    metrics.json   the training configuration, the wall time and the loss curve

``.npz`` is a zip of ``.npy`` files: plain arrays, readable from any numpy
program. Loading uses ``allow_pickle=False``, so a file that would need
pickle (and could run code when unpickled) is refused, and every way a file
can be wrong (missing, not a zip, pickled, inconsistent shapes) becomes one
``CheckpointError`` whose message says what was expected.
"""

from __future__ import annotations

import json
import zipfile
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from tinymeta.meta.training import TrainResult

__all__ = [
    "CheckpointError", "PARAMS_FILE", "METRICS_FILE", "save_params", "load_params",
    "save_run", "load_run", "mlp_sizes", "subsample_curve",
]

PARAMS_FILE = "params.npz"
METRICS_FILE = "metrics.json"
LR_PREFIX = "lr/"


class CheckpointError(ValueError):
    """A parameters file or run directory that cannot be used, and why."""


def save_params(path: str | Path, params: dict[str, Any],
                inner_lr: float | dict[str, Any] | None = None) -> Path:
    """Write ``params`` (and a tree of learned rates, if given) to ``path`` with ``np.savez``."""
    arrays = {k: np.asarray(v) for k, v in params.items()}
    if isinstance(inner_lr, dict):
        arrays.update({LR_PREFIX + k: np.asarray(v) for k, v in inner_lr.items()})
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:  # a file object: savez would otherwise append ".npz"
        np.savez(f, **arrays)
    return path


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
    (directory / METRICS_FILE).write_text(json.dumps(metrics, indent=2) + "\n")
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
