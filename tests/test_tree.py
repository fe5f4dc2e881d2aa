"""flatten / unflatten / tree_map / tree_leaves / tree_paths over lists, tuples, dicts."""

from __future__ import annotations

from collections import OrderedDict, namedtuple

import numpy as np
import pytest

import tinymeta as tm
from tinymeta.tree import flatten, tree_leaves, tree_map, tree_paths, unflatten

Point = namedtuple("Point", ["x", "y"])
Layer = namedtuple("Layer", ["w", "b"])

TREES = {
    "leaf": 1.5,
    "array leaf": np.arange(3.0),
    "None leaf": None,
    "list": [1.0, 2.0, 3.0],
    "tuple": (1.0, "a", None),
    "dict": {"b": 1.0, "a": 2.0},  # insertion order, not sorted order
    "nested": {"layers": [{"w": 1.0, "b": (2.0, 3.0)}, {"w": 4.0, "b": (5.0,)}], "lr": 0.1},
    "namedtuple": Point(1.0, [2.0, 3.0]),
    "namedtuple of dicts": Layer({"a": 1.0}, {"c": 2.0}),
    "OrderedDict": OrderedDict([("z", 1.0), ("y", [2.0])]),
    "empty list": [],
    "empty dict": {},
    "empty tuple": (),
    "empty containers inside": {"a": [], "b": (1.0, {})},
}


def same_tree(a, b) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same_tree(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same_tree(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, np.ndarray):
        return np.array_equal(a, b)
    return a is b or a == b


@pytest.mark.parametrize("name", list(TREES))
def test_flatten_unflatten_round_trip(name):
    tree = TREES[name]
    leaves, treedef = flatten(tree)
    rebuilt = unflatten(treedef, leaves)
    assert same_tree(rebuilt, tree)
    again = tree_leaves(tree)
    assert len(again) == len(leaves) and all(a is b for a, b in zip(again, leaves, strict=True))


def test_leaf_order_is_depth_first_in_insertion_order():
    leaves, _ = flatten(TREES["nested"])
    assert leaves == [1.0, 2.0, 3.0, 4.0, 5.0, 0.1]
    assert flatten({"b": 1, "a": 2})[0] == [1, 2]


def test_unflatten_with_new_leaves_keeps_the_structure():
    tree = TREES["namedtuple"]
    _, treedef = flatten(tree)
    rebuilt = unflatten(treedef, ["x", "y0", "y1"])
    assert rebuilt == Point("x", ["y0", "y1"]) and type(rebuilt) is Point


def test_tensors_and_arrays_are_leaves():
    t = tm.tensor([1.0, 2.0])
    a = np.ones((2, 2))
    leaves, treedef = flatten({"t": t, "a": [a]})
    assert leaves[0] is t and leaves[1] is a
    assert unflatten(treedef, leaves)["a"][0] is a


def test_unflatten_checks_the_number_of_leaves():
    _, treedef = flatten([1.0, (2.0, 3.0)])
    with pytest.raises(ValueError, match="fewer leaves"):
        unflatten(treedef, [1.0, 2.0])
    with pytest.raises(ValueError, match="more leaves"):
        unflatten(treedef, [1.0, 2.0, 3.0, 4.0])


def test_treedefs_compare_by_structure():
    assert flatten([1.0, {"a": 2.0}])[1] == flatten([5.0, {"a": 6.0}])[1]
    assert flatten([1.0, {"a": 2.0}])[1] != flatten([1.0, {"b": 2.0}])[1]
    assert flatten([1.0, 2.0])[1] != flatten((1.0, 2.0))[1]
    assert flatten(Point(1.0, 2.0))[1] != flatten((1.0, 2.0))[1]


def test_tree_map_one_tree():
    out = tree_map(lambda v: v * 2, TREES["nested"])
    assert out == {"layers": [{"w": 2.0, "b": (4.0, 6.0)}, {"w": 8.0, "b": (10.0,)}], "lr": 0.2}
    p = tree_map(lambda v: v + 1, Point(1.0, [2.0, 3.0]))
    assert type(p) is Point and p == Point(2.0, [3.0, 4.0])


def test_tree_map_several_trees():
    params = {"w": np.ones(2), "b": 1.0}
    grads = {"w": np.array([0.5, 1.0]), "b": 2.0}
    new = tree_map(lambda p, g: p - 0.1 * g, params, grads)
    np.testing.assert_allclose(new["w"], [0.95, 0.9])
    assert new["b"] == pytest.approx(0.8)


def test_tree_map_rejects_different_structures():
    with pytest.raises(ValueError, match="different structures"):
        tree_map(lambda a, b: a, {"w": 1.0}, {"v": 1.0})
    with pytest.raises(ValueError, match="different structures"):
        tree_map(lambda a, b: a, [1.0, 2.0], [1.0])


def test_tree_map_over_tensors_builds_new_tensors():
    params = {"w": tm.tensor([1.0, 2.0]), "b": [tm.tensor(3.0)]}
    doubled = tm.tree_map(lambda t: t * 2.0, params)
    np.testing.assert_array_equal(doubled["w"].data, [2.0, 4.0])
    assert float(doubled["b"][0]) == 6.0
    assert tm.tree_leaves(doubled)[0] is doubled["w"]


def test_tree_paths():
    assert tree_paths({"w1": 1.0, "layers": [2.0, {"b": 3.0}]}) == [
        "['w1']", "['layers'][0]", "['layers'][1]['b']"]
    assert tree_paths(Point(1.0, 2.0)) == ["[0]", "[1]"]
    assert tree_paths(5.0) == [""]
    tree = TREES["nested"]
    assert len(tree_paths(tree)) == len(tree_leaves(tree))
