"""Flatten and rebuild nested lists, tuples and dicts ("trees") of leaves.

Transforms accept trees so that a network's parameters can be a dict such as
``{"w1": ..., "b1": ...}`` and its gradient comes back as the same dict.
Anything that is not a list, tuple or dict is a leaf. Dict keys keep their
insertion order; namedtuples keep their type.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

__all__ = ["flatten", "unflatten", "tree_map", "tree_leaves", "tree_paths", "treedef_paths"]

_LEAF = None


def flatten(tree: Any) -> tuple[list[Any], Any]:
    """Return (leaves, treedef); ``unflatten(treedef, leaves)`` rebuilds the tree."""
    leaves: list[Any] = []
    treedef = _flatten(tree, leaves)
    return leaves, treedef


def _flatten(tree: Any, leaves: list[Any]) -> Any:
    kind = type(tree)
    if kind is dict:
        keys = tuple(tree)
        return ("dict", keys, _children([tree[k] for k in keys], leaves))
    if kind is list:
        return ("list", None, _children(tree, leaves))
    if kind is tuple:
        return ("tuple", None, _children(tree, leaves))
    if isinstance(tree, tuple) and hasattr(tree, "_fields"):  # namedtuple
        return (kind, None, _children(tree, leaves))
    if isinstance(tree, dict):
        keys = tuple(tree)
        return ((kind, "dict"), keys, _children([tree[k] for k in keys], leaves))
    leaves.append(tree)
    return _LEAF


def _children(values: Any, leaves: list[Any]) -> tuple:
    # leaves inline: a parameter dict's arrays need no call each (every grad flattens)
    out = []
    for v in values:
        if isinstance(v, (list, tuple, dict)):
            out.append(_flatten(v, leaves))
        else:
            leaves.append(v)
            out.append(_LEAF)
    return tuple(out)


def unflatten(treedef: Any, leaves: Any) -> Any:
    it = iter(leaves)
    out = _unflatten(treedef, it)
    for _ in it:
        raise ValueError("unflatten: more leaves than the tree has places for")
    return out


def _unflatten(treedef: Any, it: Any) -> Any:
    if treedef is _LEAF:
        try:
            return next(it)
        except StopIteration:
            raise ValueError("unflatten: fewer leaves than the tree has places for") from None
    kind, keys, children = treedef
    try:
        values = [next(it) if c is _LEAF else _unflatten(c, it) for c in children]
    except StopIteration:
        raise ValueError("unflatten: fewer leaves than the tree has places for") from None
    if kind == "dict":
        return dict(zip(keys, values, strict=True))
    if kind == "list":
        return values
    if kind == "tuple":
        return tuple(values)
    if isinstance(kind, tuple):  # dict subclass
        return kind[0](zip(keys, values, strict=True))
    return kind(*values)  # namedtuple


def tree_leaves(tree: Any) -> list[Any]:
    return flatten(tree)[0]


def tree_map(f: Callable[..., Any], tree: Any, *rest: Any) -> Any:
    """Apply ``f`` leafwise; ``rest`` trees must have the same structure."""
    leaves, treedef = flatten(tree)
    others = []
    for r in rest:
        r_leaves, r_def = flatten(r)
        if r_def != treedef:
            raise ValueError("tree_map: trees have different structures")
        others.append(r_leaves)
    return unflatten(treedef, [f(*xs) for xs in zip(leaves, *others, strict=True)])


def tree_paths(tree: Any) -> list[str]:
    """A readable path per leaf, e.g. ``['w1']`` or ``[0][1]``, in flatten order."""
    return treedef_paths(flatten(tree)[1])


def treedef_paths(treedef: Any, prefix: str = "") -> list[str]:
    """The leaf paths of a treedef from ``flatten`` (so they always match its leaves)."""
    if not prefix:
        return list(_paths(treedef))
    return _treedef_paths(treedef, prefix)


@functools.lru_cache(maxsize=256)
def _paths(treedef: Any) -> tuple[str, ...]:
    # every grad call names its variables by path; a training loop asks for the same few trees
    return tuple(_treedef_paths(treedef, ""))


def _treedef_paths(treedef: Any, prefix: str) -> list[str]:
    if treedef is _LEAF:
        return [prefix]
    _, keys, children = treedef
    labels = [repr(k) for k in keys] if keys is not None else range(len(children))
    return [path for label, child in zip(labels, children, strict=True)
            for path in _treedef_paths(child, f"{prefix}[{label}]")]
