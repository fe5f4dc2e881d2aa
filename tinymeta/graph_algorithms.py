"""The meta-learning algorithms whose meta-gradient ``tinymeta.viz`` can draw.

``tinymeta.viz.meta_graph(algo, ...)`` accepts these names and ``tinymeta graph --algo``
offers them as its choices. The tuple lives here, in a module that imports nothing,
rather than in ``tinymeta.viz``: the command line builds its parsers on every run, and
importing the renderer (and graphviz) just to list four names would slow every command.
(The pretrained baseline of ``tinymeta.meta.ALGORITHMS`` is left out: it has no inner loop.)
"""

__all__ = ["GRAPH_ALGORITHMS"]

GRAPH_ALGORITHMS = ("maml", "fomaml", "reptile", "metasgd")
