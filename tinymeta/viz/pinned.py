"""MAML | FOMAML with the same node positions, so the cut is the only difference.

Graphviz lays out each graph on its own, and two graphs that differ by a few
nodes come out differently: the eye then compares layouts instead of
gradients. Here the two panels are laid out *once*:

1. Match the boxes of the two scenes by key (``dot._keys``: FOMAML's graph is
   MAML's plus one ``stop_gradient`` per inner gradient). Where FOMAML has a
   stop_gradient, MAML gets a dashed placeholder ("no stop_gradient here") that
   its edge g → α·g runs through.
2. Lay out the union once with ``dot`` (``-Tjson``), each label the larger of the
   two panels' labels, so either fits.
3. Draw both panels at those positions, the second shifted right, and render
   with ``neato -n2``, which keeps given node positions and edge splines.

The result is a ``PinnedDigraph``: a ``graphviz.Digraph`` whose ``pipe`` and
``render`` use ``neato -n2``. Building it needs the ``dot`` program; without it
``side_by_side`` falls back to laying out each panel on its own.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from collections.abc import Callable
from typing import Any

import graphviz

from tinymeta.viz.dot import (
    FONT,
    Layout,
    _Box,
    _edge_attrs,
    _emit,
    _emit_edges,
    _html,
    _Link,
    _new_digraph,
    _Scene,
)

__all__ = ["PinnedDigraph", "aligned_pair"]

GAP = 36.0  # points between the two panels
PAD = 10.0  # points between a panel's frame and its contents
TITLE = 34.0  # points for a panel's title
_NUMBER = r"(-?[\d.]+(?:[eE][-+]?\d+)?)"  # dot writes 8.8818e-06 now and then
_NUMBER_PAIR = re.compile(_NUMBER + "," + _NUMBER)


class PinnedDigraph(graphviz.Digraph):
    """A Digraph whose nodes and edges carry positions: rendered with ``neato -n2``."""

    def pipe(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("engine", "neato")
        kwargs.setdefault("neato_no_op", 2)
        return super().pipe(*args, **kwargs)

    def render(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("engine", "neato")
        kwargs.setdefault("neato_no_op", 2)
        return super().render(*args, **kwargs)


def _size(label: str) -> tuple[int, int]:
    """A rough size of an HTML-like label: (longest line, lines), tags stripped."""
    lines = re.split(r"<br/>|\n", label)
    text = [re.sub(r"<[^>]*>", "", x) for x in lines]
    return max((len(t) for t in text), default=0), len(text)


def _bigger(a: str, b: str) -> str:
    (wa, ha), (wb, hb) = _size(a), _size(b)
    return a if (wa, ha) >= (wb, hb) else b


def _with_placeholders(small: _Scene, big: _Scene) -> _Scene | None:
    """``small`` with a placeholder box for each box only ``big`` has (its stop_gradients),
    and its edges p → s rerouted through the placeholder where ``big`` goes p → cut → s."""
    big_keys = {b.key: b for b in big.boxes}
    small_keys = {b.key: b for b in small.boxes}
    if len(big_keys) != len(big.boxes) or len(small_keys) != len(small.boxes):
        return None
    extra = set(big_keys) - set(small_keys)
    if set(small_keys) - set(big_keys) or any(big_keys[k].role != "stop_gradient"
                                              for k in extra):
        return None
    out = copy.deepcopy(small)
    key_of_big = {b.id: b.key for b in big.boxes}
    big_pairs = {(key_of_big[x.src], key_of_big[x.dst]) for x in big.links}
    for k in sorted(extra):
        cut = big_keys[k]
        ins = {key_of_big[x.src] for x in big.links if key_of_big[x.dst] == k}
        outs = {key_of_big[x.dst] for x in big.links if key_of_big[x.src] == k}
        pid = f"pass_{len(out.boxes)}"
        out.boxes.append(_Box(pid, cut.scope, "pass", 0, _html(
            ("b", "no stop_gradient"), ("small", "(FOMAML cuts here)")), set(),
            "MAML has no stop_gradient: the inner gradient keeps its edges", cut.sub, k))
        key_of_small = {b.id: b.key for b in out.boxes}
        kept = []
        for link in out.links:
            pair = (key_of_small[link.src], key_of_small[link.dst])
            if pair[0] in ins and pair[1] in outs and pair not in big_pairs:
                kept.append(_Link(link.src, pid, set(link.classes), "", link.from_data,
                                  link.flow, link.count, link.values))
                kept.append(_Link(pid, link.dst, set(link.classes), link.label,
                                  link.from_data, link.flow, link.count, link.values))
            else:
                kept.append(link)
        out.links = kept
    return out


def _keyed_links(scene: _Scene) -> dict[tuple[str, str, int], _Link]:
    keys = {b.id: b.key for b in scene.boxes}
    out: dict[tuple[str, str, int], _Link] = {}
    nth: dict[tuple[str, str], int] = {}
    for link in scene.links:
        pair = (keys[link.src], keys[link.dst])
        nth[pair] = nth.get(pair, -1) + 1
        out[(*pair, nth[pair])] = link
    return out


def _label_of(link: _Link, max_flow: float) -> str:
    return _edge_attrs(link.classes, link.from_data, link.label, link.flow, max_flow,
                       link.values).get("label", "")


def _dot_json(source: str) -> dict[str, Any] | None:
    try:
        done = subprocess.run(["dot", "-Tjson"], input=source.encode(), capture_output=True,
                              timeout=60, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return json.loads(done.stdout)


def _shift(points: str, dx: float, dy: float = 0.0) -> str:
    return _NUMBER_PAIR.sub(lambda m: f"{float(m.group(1)) + dx:.2f},"
                                      f"{float(m.group(2)) + dy:.2f}", points)


def _layout(union: _Scene) -> tuple[Layout, tuple[float, float, float, float]] | None:
    """Lay the union out with ``dot`` and read back every position, by key."""
    g = _new_digraph(None)
    _emit(g, _Scene(union.boxes, [], union.max_flow), "")
    keys = {b.id: b.key for b in union.boxes}
    for link in union.links:
        attrs = _edge_attrs(link.classes, link.from_data, link.label, link.flow,
                            union.max_flow, link.values)
        g.edge(link.src, link.dst, **attrs)
    data = _dot_json(g.source)
    if data is None:
        return None
    by_gvid = {o["_gvid"]: o for o in data.get("objects", []) if "_gvid" in o}
    nodes, clusters = {}, {}
    for o in data.get("objects", []):
        if "pos" in o and o["name"] in keys:
            nodes[keys[o["name"]]] = {"pos": o["pos"], "width": o["width"],
                                      "height": o["height"]}
        elif "bb" in o and o["name"].startswith("cluster_"):
            clusters[o["name"]] = {"bb": o["bb"], **({"lp": o["lp"]} if "lp" in o else {})}
    edges: dict[tuple[str, str, int], dict[str, str]] = {}
    nth: dict[tuple[str, str], int] = {}
    for e in data.get("edges", []):
        pair = (keys[by_gvid[e["tail"]]["name"]], keys[by_gvid[e["head"]]["name"]])
        nth[pair] = nth.get(pair, -1) + 1
        edges[(*pair, nth[pair])] = {"pos": e["pos"], **({"lp": e["lp"]} if "lp" in e
                                                          else {})}
    if len(nodes) != len(union.boxes):
        return None
    x0, y0, x1, y1 = (float(v) for v in data["bb"].split(","))
    return Layout(nodes, clusters, edges), (x0, y0, x1, y1)


def _shifted(layout: Layout, dx: float, dy: float) -> Layout:
    return Layout(
        {k: {**v, "pos": _shift(v["pos"], dx, dy)} for k, v in layout.nodes.items()},
        {k: {name: _shift(val, dx, dy) for name, val in v.items()}
         for k, v in layout.clusters.items()},
        {k: {name: _shift(val, dx, dy) for name, val in v.items()}
         for k, v in layout.edges.items()},
        dx,
    )


def aligned_pair(names: list[str], scenes: list[_Scene], title: str | None,
                 legend: Callable[..., None] | None, flow: bool,
                 only: int | None = None) -> PinnedDigraph | None:
    """Both scenes at one layout, side by side (or only panel ``only``, at its place in
    the pair); None when they do not match or there is no ``dot`` program (the caller
    then lays each panel out on its own). The legend goes below the panels."""
    if shutil.which("dot") is None or len(scenes) != 2:
        return None
    a, b = scenes
    big = 1 if len(b.boxes) >= len(a.boxes) else 0
    small = 1 - big
    filled = _with_placeholders(scenes[small], scenes[big])
    if filled is None:
        return None
    panels = [filled, scenes[big]] if small == 0 else [scenes[big], filled]
    # the union: big's boxes and edges, each label the larger of the two panels'
    union = copy.deepcopy(scenes[big])
    other = {x.key: x for x in filled.boxes}
    for box in union.boxes:
        box.label = _bigger(box.label, other[box.key].label)
    theirs = _keyed_links(filled)
    mine = _keyed_links(union)
    if set(theirs) != set(mine):
        return None
    for k, link in mine.items():
        la, lb = _label_of(link, union.max_flow), _label_of(theirs[k], filled.max_flow)
        if _bigger(lb, la) == lb and lb != la:
            other_link = theirs[k]
            link.label, link.flow, link.values = (other_link.label, other_link.flow,
                                                  other_link.values)
            link.classes = set(other_link.classes)
    laid = _layout(union)
    if laid is None:
        return None
    layout, (x0, y0, x1, y1) = laid
    width, height = x1 - x0, y1 - y0

    dot = PinnedDigraph("tinymeta", format="svg")
    dot.attr(fontname=FONT, fontsize="16")
    dot.attr("node", fontname=FONT, fontsize="10", margin="0.08,0.03")
    dot.attr("edge", fontname=FONT, fontsize="10")
    panel_w = width + 2 * PAD
    legend_w = legend_h = 0.0
    legend_source = None
    if legend is not None:
        # the legend of what is shown; its slot is as tall as the pair's legend, so that
        # panel 0 alone and panel 1 alone put every node at the same place in their files
        sizes = []
        for group in ([panels] if only is None else [[panels[only]], panels]):
            probe = _new_digraph(None)
            legend(probe, "", group, flow)
            probed = _dot_json(probe.source)
            node = next((o for o in (probed or {}).get("objects", [])
                         if o.get("name") == "legend"), None)
            if node is not None:
                sizes.append((float(node["width"]) * 72, float(node["height"]) * 72, node))
        if sizes:
            legend_w, _, legend_source = sizes[0]
            legend_h = max(h for _, h, _ in sizes)
            shown_h = sizes[0][1]
    shown = [0, 1] if only is None else [only]
    panels_w = len(shown) * panel_w + (len(shown) - 1) * GAP
    total_w = max(panels_w, legend_w)
    panel_h = height + 2 * PAD + TITLE
    title_h = 30.0 if title else 0.0
    below = GAP + legend_h if legend_source else 0.0
    total_h = panel_h + below + title_h
    dot.attr(bb=f"0,0,{total_w:.2f},{total_h:.2f}")
    if title:
        dot.attr(label=title, lp=f"{total_w / 2:.2f},{total_h - 12:.2f}")
    for place, i in enumerate(shown):
        name, scene = names[i], panels[i]
        left = place * (panel_w + GAP)
        shifted = _shifted(layout, left + PAD - x0, below + PAD - y0)
        with dot.subgraph(name=f"cluster_panel{i}") as c:
            c.attr(label=name, fontsize="20", fontname=FONT + "-Bold", style="rounded",
                   color="#adb5bd",
                   bb=f"{left:.2f},{below:.2f},{left + panel_w:.2f},{below + panel_h:.2f}",
                   lp=f"{left + panel_w / 2:.2f},{below + panel_h - TITLE / 2:.2f}")
            c.attr("graph", **{"class": "panel"})
            _emit(c, _Scene(scene.boxes, [], scene.max_flow), f"p{i}_", shifted)
        _emit_edges(dot, scene, f"p{i}_", shifted)
    if legend is not None and legend_source is not None:
        legend(dot, "", [panels[i] for i in shown], flow,
               pos=f"{legend_w / 2:.2f},{legend_h - shown_h / 2:.2f}",
               width=legend_source["width"],
               height=legend_source["height"])
    return dot
