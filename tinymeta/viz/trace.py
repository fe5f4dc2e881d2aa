"""Record a function's whole graph, and the one-call entry points ``draw`` and ``wengert``.

``draw(f, *args)`` makes the differentiated argument (``argnums``, as in
``tm.grad``) into parameter leaves that require grad, runs ``f`` inside
a ``Recorder`` (``tm.observe``, see ``record.py``) so that every op ``f`` runs,
every backward pass included, is seen, and walks the result. Give it a
tensor instead of a function to draw a graph you already have.

The objectives of ``tinymeta.meta`` default to ReLU (the MAML paper's network);
drawn without an ``activation``, they use the figures' tanh instead, so that
``draw(maml_objective, ...)`` is the picture in docs/what-fomaml-drops.md.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import graphviz

from tinymeta import Tensor
from tinymeta.meta import algorithms
from tinymeta.meta.report import ACTIVATION
from tinymeta.tree import flatten, tree_paths, unflatten
from tinymeta.viz.dot import side_by_side, to_digraph
from tinymeta.viz.flow import Flow, gradient_flow
from tinymeta.viz.graph import Graph, walk
from tinymeta.viz.record import recording_of
from tinymeta.viz.text import wengert_list

__all__ = ["parameters", "trace", "graph_of", "draw", "wengert", "compare"]


def _pretty(path: str) -> str:
    """``"['params']['w0']"`` -> ``"params.w0"``; ``"[1]"`` -> ``"1"``."""
    return ".".join(p.strip("'\"") for p in path.strip("[]").split("][")) if path else "θ"


def parameters(tree: Any) -> Any:
    """The same tree with every leaf a fresh tensor that requires grad, named by its path."""
    leaves, treedef = flatten(tree)
    paths = tree_paths(tree) if treedef is not None else [""]
    out = []
    for leaf, path in zip(leaves, paths, strict=True):
        if isinstance(leaf, Tensor) and leaf.requires_grad:
            t = leaf
        else:
            t = Tensor(leaf, requires_grad=True)
        if t.name is None:
            t.name = _pretty(path)
        out.append(t)
    return unflatten(treedef, out)


_META_FUNCTIONS = (algorithms.maml_objective, algorithms.metasgd_objective, algorithms.adapt,
                   algorithms.task_loss, algorithms.pretrain_objective)


def _figure_activation(f: Callable, args: tuple, kwargs: dict[str, Any]) -> dict[str, Any]:
    """``kwargs`` with ``activation=`` the figures' (tanh) for a tinymeta.meta function
    called without one."""
    if not any(f is g for g in _META_FUNCTIONS):
        return kwargs
    try:
        bound = inspect.signature(f).bind_partial(*args, **kwargs)
    except TypeError:
        return kwargs  # let the call itself report the bad arguments
    return kwargs if "activation" in bound.arguments else {**kwargs, "activation": ACTIVATION}


def trace(f: Callable, *args: Any, argnums: int | tuple[int, ...] = 0, **kwargs: Any) -> Any:
    """Run ``f(*args, **kwargs)`` with ``args[argnums]`` as parameter leaves, recording
    every op (``record.recording_of``); return its output. A ``tinymeta.meta`` objective called
    without ``activation`` uses tanh, the figures' activation."""
    kwargs = _figure_activation(f, args, kwargs)
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    args = list(args)
    for n in nums:
        if not -len(args) <= n < len(args):
            raise ValueError(f"draw: argnums={argnums!r} is out of range for {len(args)} "
                             f"positional arguments")
        args[n] = parameters(args[n])
    return recording_of(f, *args, **kwargs)


def graph_of(f_or_output: Any, *args: Any, argnums: int | tuple[int, ...] = 0,
             data_names: dict[str, Any] | None = None, **kwargs: Any) -> Graph:
    """The walked ``Graph`` of a function at ``args``, or of an output tensor (tree).

    ``data_names`` labels data nodes: ``{"x support": x}`` names the node whose array has
    the shape and values of ``x``.
    """
    if callable(f_or_output) and not isinstance(f_or_output, Tensor):
        return walk(trace(f_or_output, *args, argnums=argnums, **kwargs), data_names)
    if args or kwargs:
        raise TypeError("draw: arguments are only accepted with a function to call; "
                        "got a tensor and extra arguments")
    return walk(f_or_output, data_names)


def draw(f_or_output: Any, *args: Any, argnums: int | tuple[int, ...] = 0,
         detail: str = "ops", flow: bool | Flow = False, title: str | None = None,
         legend: bool = True, data_names: dict[str, Any] | None = None,
         **kwargs: Any) -> graphviz.Digraph:
    """Draw the graph of ``f(*args, **kwargs)`` (or of a tensor) as a ``graphviz.Digraph``.

    ``detail="ops"`` draws one node per op; ``"scopes"`` one box per role in each name
    scope. ``flow=True`` runs a reverse pass from the (scalar) output and draws the norm
    of the adjoint through every edge. The result shows inline in Jupyter;
    ``.source`` is the DOT text; ``.render()``/``.pipe()`` need Graphviz's ``dot``.
    Other keyword arguments go to ``f``.
    """
    graph = graph_of(f_or_output, *args, argnums=argnums, data_names=data_names, **kwargs)
    adjoints = gradient_flow(graph) if flow is True else (flow or None)
    return to_digraph(graph, detail=detail, flow=adjoints, title=title, legend=legend)


def wengert(f_or_output: Any, *args: Any, argnums: int | tuple[int, ...] = 0,
            flow: bool = False, data_names: dict[str, Any] | None = None, **kwargs: Any) -> str:
    """The Wengert list (one line per op, with shapes and roles) of a function or tensor."""
    graph = graph_of(f_or_output, *args, argnums=argnums, data_names=data_names, **kwargs)
    return wengert_list(graph, gradient_flow(graph) if flow else None)


def compare(panels: list[tuple[str, Graph]], detail: str = "ops", flow: bool = False,
            title: str | None = None) -> graphviz.Digraph:
    """Draw walked graphs side by side, e.g. ``[("MAML", g1), ("FOMAML", g2)]``."""
    return side_by_side([(name, g, gradient_flow(g) if flow else None) for name, g in panels],
                        detail=detail, title=title)
