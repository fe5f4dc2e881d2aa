"""A sweep specification: axes to cross, settings to hold fixed, and the runs they make.

A sweep is a grid. Each axis names a ``TrainConfig`` field and lists its values;
every combination of values is one run (train, then evaluate). A spec is a small
TOML or JSON file,

    [axes]                       # crossed: 2 x 3 x 2 = 12 runs
    algo = ["maml", "fomaml"]
    seed = [0, 1, 2]
    inner_lr = [0.01, 0.001]

    [train]                      # the same for every run (TrainConfig fields)
    iterations = 2000
    dtype = "float32"

    [evaluate]                   # how every run is evaluated (tinymeta evaluate's options)
    shots = 5
    steps = [1, 5, 10]
    tasks = 600
    seed = 1000

    [[override]]                 # settings for some runs only
    where = {algo = "reptile"}
    set = {inner_steps = 5}

or the same axes as command-line flags (``--algo maml,fomaml --seeds 0-2``).
``Sweep.runs()`` expands it into ``Run`` objects: the full training
configuration, the evaluation settings, a readable name (``maml-lr0.001-seed2``:
the algorithm, every other axis that varies, the seed) and a ``key``, a hash of
the whole configuration. The key is what makes a restarted sweep safe: a run
directory whose files carry the same key holds exactly this run.

Every mistake in a spec is a ``SpecError`` naming the field and what is valid;
nothing is trained before the whole spec has been checked.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tinymeta.meta.training import TrainConfig

__all__ = ["SpecError", "Sweep", "Run", "EvalSettings", "load_spec", "parse_range"]

TRAIN_FIELDS = tuple(f for f in TrainConfig.__dataclass_fields__)
# short labels for run names: maml-lr0.001-k5-seed0
LABELS = {"inner_lr": "lr", "inner_steps": "k", "meta_lr": "mlr", "meta_batch": "mb",
          "shots": "K", "iterations": "it", "hidden": "h", "activation": "", "dtype": "",
          "batched": "batched"}
EVAL_DEFAULTS = {"shots": 5, "steps": [1, 5, 10], "tasks": 600, "seed": 1000, "query": 100}


class SpecError(ValueError):
    """A sweep specification that cannot be run, and why."""


@dataclass(frozen=True)
class EvalSettings:
    """How each run is evaluated (``tinymeta.meta.evaluate.evaluate``'s arguments)."""

    shots: int = 5
    steps: tuple[int, ...] = (1, 5, 10)
    tasks: int = 600
    seed: int = 1000  # the evaluation tasks: the same for every run of the sweep
    query: int = 100

    def as_dict(self) -> dict[str, Any]:
        return {"shots": self.shots, "steps": list(self.steps), "tasks": self.tasks,
                "seed": self.seed, "query": self.query}


@dataclass(frozen=True)
class Run:
    """One run of a sweep: what to train, how to evaluate it, where its files go."""

    name: str
    config: TrainConfig
    evaluation: EvalSettings
    axes: dict[str, Any] = field(hash=False)  # this run's value on each axis

    def as_dict(self) -> dict[str, Any]:
        """Everything a worker needs, as plain JSON (no pickled engine state)."""
        return {"name": self.name, "key": self.key, "train": self.config.as_dict(),
                "evaluate": self.evaluation.as_dict(), "axes": self.axes}

    @property
    def key(self) -> str:
        """A hash of the full configuration: same key, same run, same files."""
        text = json.dumps({"train": self.config.as_dict(), "evaluate": self.evaluation.as_dict()},
                          sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Run:
        train = dict(d["train"])
        train["hidden"] = tuple(train["hidden"])
        evaluation = dict(d["evaluate"])
        evaluation["steps"] = tuple(evaluation["steps"])
        return cls(d["name"], TrainConfig(**train), EvalSettings(**evaluation), d["axes"])


@dataclass
class Sweep:
    """Axes (crossed), fixed training settings, evaluation settings and overrides."""

    axes: dict[str, list[Any]]
    train: dict[str, Any] = field(default_factory=dict)
    evaluation: EvalSettings = field(default_factory=EvalSettings)
    overrides: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        for name, values in self.axes.items():
            _check_field(name, "axes")
            if not isinstance(values, list) or not values:
                raise SpecError(f"axes.{name} must be a non-empty list of values, got {values!r}")
            if len({json.dumps(v) for v in values}) != len(values):
                raise SpecError(f"axes.{name} lists a value twice: {values!r}")
        for name in [n for n, v in self.axes.items() if len(v) == 1 and n not in ("algo",
                                                                                 "seed")]:
            if name not in self.train:  # one value is a fixed setting, not a column
                self.train[name] = self.axes.pop(name)[0]
        for name in self.train:
            _check_field(name, "train")
            if name in self.axes:
                raise SpecError(f"{name} is both an axis and a fixed [train] setting; keep one")
        for where, changes in self.overrides:
            for name in [*where, *changes]:
                _check_field(name, "override")
        self.runs()  # every configuration is checked before anything runs

    def configurations(self) -> list[str]:
        """The axes that tell configurations apart (all but the seed)."""
        return [name for name in self.axes if name != "seed"]

    def runs(self) -> list[Run]:
        names = list(self.axes)
        varying = [n for n in names if len(self.axes[n]) > 1 and n not in ("algo", "seed")]
        runs, seen = [], {}
        for values in itertools.product(*(self.axes[n] for n in names)):
            point = dict(zip(names, values, strict=True))
            fields = {**self.train, **point}
            for where, changes in self.overrides:
                if all(fields.get(k, getattr(TrainConfig, k, None)) == v
                       for k, v in where.items()):
                    fields.update(changes)
            if "hidden" in fields:
                fields["hidden"] = tuple(fields["hidden"]) if isinstance(
                    fields["hidden"], (list, tuple)) else (fields["hidden"],)
            try:
                config = TrainConfig(**fields)
            except (TypeError, ValueError) as error:
                shown = ", ".join(f"{k}={v!r}" for k, v in point.items())
                raise SpecError(f"the run {shown}: {error}") from None
            name = _run_name(config, varying, point)
            run = Run(name, config, self.evaluation, {k: _plain(v) for k, v in point.items()})
            if name in seen:  # overrides can make two points one run, or clash on a name
                if seen[name].key == run.key:
                    continue
                name = f"{name}-{run.key[:6]}"
                run = Run(name, config, self.evaluation, run.axes)
            seen[name] = run
            runs.append(run)
        return runs

    def as_dict(self) -> dict[str, Any]:
        return {"axes": self.axes, "train": self.train, "evaluate": self.evaluation.as_dict(),
                "override": [{"where": w, "set": s} for w, s in self.overrides]}


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _check_field(name: str, where: str) -> None:
    if name not in TRAIN_FIELDS:
        raise SpecError(f"{where}: unknown setting {name!r}; a sweep varies TrainConfig fields: "
                        f"{', '.join(TRAIN_FIELDS)}")


def _run_name(config: TrainConfig, varying: list[str], point: dict[str, Any]) -> str:
    parts = [config.algo]
    for name in varying:
        value = getattr(config, name)
        shown = "x".join(map(str, value)) if isinstance(value, tuple) else f"{value:g}" \
            if isinstance(value, float) else str(value)
        parts.append(f"{LABELS.get(name, name)}{shown}")
    parts.append(f"seed{config.seed}")
    return "-".join(parts)


# ---------------------------------------------------------------- reading specs
def _eval_settings(table: dict[str, Any]) -> EvalSettings:
    unknown = set(table) - set(EVAL_DEFAULTS)
    if unknown:
        raise SpecError(f"evaluate: unknown setting(s) {', '.join(sorted(unknown))}; known: "
                        f"{', '.join(EVAL_DEFAULTS)}")
    merged = {**EVAL_DEFAULTS, **table}
    for name in ("shots", "tasks", "query"):
        if type(merged[name]) is not int or merged[name] < 1:
            raise SpecError(f"evaluate.{name} must be a positive integer, got {merged[name]!r}")
    if type(merged["seed"]) is not int or merged["seed"] < 0:
        raise SpecError(f"evaluate.seed must be an integer >= 0, got {merged['seed']!r}")
    steps = merged["steps"]
    if not isinstance(steps, list) or not steps or any(type(s) is not int or s < 1
                                                       for s in steps):
        raise SpecError(f"evaluate.steps must list positive step counts, got {steps!r}")
    merged["steps"] = tuple(sorted(set(steps)))
    return EvalSettings(**merged)


def from_dict(data: Any, source: str = "spec") -> Sweep:
    """A ``Sweep`` from the parsed TOML/JSON document (see the module docstring)."""
    if not isinstance(data, dict):
        raise SpecError(f"{source}: expected a table with [axes], [train], [evaluate]")
    unknown = set(data) - {"axes", "train", "evaluate", "override", "name", "description"}
    if unknown:
        raise SpecError(f"{source}: unknown section(s) {', '.join(sorted(unknown))}; known: "
                        f"axes, train, evaluate, override")
    axes, train = data.get("axes", {}), data.get("train", {})
    evaluation = data.get("evaluate", {})
    for section, value in (("axes", axes), ("train", train), ("evaluate", evaluation)):
        if not isinstance(value, dict):
            raise SpecError(f"{source}: [{section}] must be a table, got {value!r}")
    axes = {k: v if isinstance(v, list) else [v] for k, v in axes.items()}
    overrides = []
    raw = data.get("override", [])
    if not isinstance(raw, list):
        raise SpecError(f"{source}: override must be a list of tables ([[override]])")
    for item in raw:
        if not (isinstance(item, dict) and set(item) == {"where", "set"}
                and isinstance(item["where"], dict) and isinstance(item["set"], dict)):
            raise SpecError(f"{source}: each [[override]] needs a `where` table and a `set` "
                            f"table, got {item!r}")
        overrides.append((item["where"], item["set"]))
    try:
        return Sweep(axes, train, _eval_settings(evaluation), overrides)
    except SpecError as error:
        raise SpecError(f"{source}: {error}") from None


def load_spec(path: str | Path) -> Sweep:
    """Read a ``.toml`` or ``.json`` sweep specification."""
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise SpecError(f"cannot read {path}: {getattr(error, 'strerror', None) or error}") \
            from None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise SpecError(f"{path}: not valid JSON ({error})") from None
    elif path.suffix.lower() == ".toml":
        try:
            import tomllib
        except ImportError:  # Python 3.10
            raise SpecError(f"{path}: reading TOML needs Python 3.11 or newer; write the "
                            f"spec as JSON") from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise SpecError(f"{path}: not valid TOML ({error})") from None
    else:
        raise SpecError(f"{path}: a sweep spec is a .toml or .json file")
    return from_dict(data, str(path))


def parse_range(text: str) -> list[int]:
    """'0-2' -> [0, 1, 2]; '0,3,5' -> [0, 3, 5]; '0-1,4' -> [0, 1, 4]."""
    values: list[int] = []
    for part in text.split(","):
        low, dash, high = part.strip().partition("-")
        try:
            values += list(range(int(low), int(high) + 1)) if dash else [int(low)]
        except ValueError:
            raise ValueError(f"expected integers or ranges like 0-2,5, got {text!r}") from None
    if not values or min(values) < 0:
        raise ValueError(f"expected integers >= 0 like 0-2,5, got {text!r}")
    return values
