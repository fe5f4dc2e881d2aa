"""Figures for meta-learning runs: learning curves and the MAML paper's Figure 2.

Figure 2 of Finn et al. (2017) shows one new sinusoid, the K points the model
may see, and the model's fit before adaptation and after 1 and 10 gradient
steps: a meta-learned initialisation snaps onto the wave after one step, a
network pretrained on all tasks barely moves.

matplotlib is an optional dependency (``pip install 'tinymeta[cli]'``); it is
imported only when a figure is drawn, through the object-oriented ``Figure``
API, so no GUI backend or global pyplot state is involved.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tinymeta.meta.evaluate import adapted_predictions
from tinymeta.meta.tasks import Sinusoid

__all__ = ["learning_curve_figure", "fit_figure", "log_scale"]


def _figure(width: float, height: float):
    try:
        from matplotlib.figure import Figure
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("drawing figures needs matplotlib: pip install 'tinymeta[cli]'") from None
    return Figure(figsize=(width, height), layout="constrained")


def log_scale(ax: Any) -> None:
    """A logarithmic y axis labelled with plain numbers (0.5, 1, 2, 3) rather than powers of 10."""
    from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 3.0, 5.0)))
    ax.yaxis.set_major_formatter(ScalarFormatter())
    ax.yaxis.set_minor_formatter(NullFormatter())


def learning_curve_figure(
    curves: Mapping[str, tuple[Sequence[float], Sequence[float]]], path: str | Path,
    title: str = "meta-training loss",
) -> Path:
    """Plot ``{label: (iterations, losses)}`` on a log scale and save to ``path``."""
    fig = _figure(6, 3.6)
    ax = fig.add_subplot()
    for label, (iterations, losses) in curves.items():
        ax.plot(iterations, losses, label=label, lw=1.3)
    log_scale(ax)
    ax.set_xlabel("meta-iteration")
    ax.set_ylabel("query MSE after adaptation")
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    if len(curves) > 1:
        ax.legend()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path


def fit_figure(
    models: Mapping[str, tuple[dict[str, np.ndarray], Any]], path: str | Path, shots: int = 5,
    steps: Sequence[int] = (0, 1, 10), seed: int = 0, activation: str = "relu",
) -> Path:
    """One panel per ``{label: (params, inner_lr)}``: a new sinusoid drawn with ``seed``, its
    ``shots`` points and the fit after each count in ``steps`` (Figure 2 of the MAML paper)."""
    task = Sinusoid().sample(1, shots, rng=seed)
    xs, ys = task["x_support"][0], task["y_support"][0]
    x_plot = np.linspace(-5, 5, 200)[:, None]
    truth = Sinusoid.function(x_plot[None], task["amplitude"], task["phase"])[0]
    columns = min(3, len(models))
    rows = -(-len(models) // columns)
    fig = _figure(4.2 * columns, 3.4 * rows)
    axes = fig.subplots(rows, columns, squeeze=False, sharey=True).ravel()
    for ax in axes[len(models):]:
        ax.set_visible(False)
    colours = ["tab:green", "tab:orange", "tab:blue", "tab:purple"]
    for ax, (label, (params, inner_lr)) in zip(axes, models.items(), strict=False):
        dtype = np.asarray(next(iter(params.values()))).dtype
        with np.errstate(over="ignore", invalid="ignore"):  # diverging rates: drawn as gaps
            preds = adapted_predictions(params, xs.astype(dtype), ys.astype(dtype),
                                        x_plot.astype(dtype), inner_lr, tuple(steps), activation)
        ax.plot(x_plot, truth, color="tab:red", lw=2, label="ground truth")
        for i, (n, colour) in enumerate(zip(sorted(preds), colours, strict=False)):
            name = "pre-update" if n == 0 else f"{n} grad step{'s' * (n != 1)}"
            shown = np.where(np.abs(preds[n]) < 1e6, preds[n], np.nan)
            ax.plot(x_plot, shown, color=colour, ls=":" if i == 0 else "--", lw=1.6, label=name)
        ax.scatter(xs, ys, color="black", marker="^", zorder=3, label=f"{shots} points used")
        ax.set_title(label)
        ax.set_xlabel("x")
        ax.set_ylabel("y")
        ax.set_ylim(-6, 6)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8, loc="lower left")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path
