"""Pictures of computation graphs, and numbers for what first-order MAML drops.

    import tinymeta as tm
    from tinymeta import viz
    from tinymeta.meta import maml_objective

    params, batch = viz.meta_problem()       # the figures' 1→3→1 MLP and sinusoid task
    viz.draw(maml_objective, params, batch, 0.01, 2, batched=False)      # a graphviz.Digraph
    viz.draw(maml_objective, params, batch, 0.01, 2, first_order=True, batched=False,
             detail="scopes", flow=True)
    print(viz.wengert(maml_objective, params, batch, 0.01, 1, batched=False))
    print(viz.jacobian_report(inner_steps=2).text())

How a whole MAML computation becomes one picture: ``draw`` turns the
parameters into leaves that require grad and runs the function under an observer
(``tm.observe``, see ``record.py``) that records every op. Then the inner ``tm.grad``
records its backward pass
(its result depends on the outer θ, so an outer gradient could need it), and
every node knows whether a backward pass made it (``order``) and in which
``name_scope``. ``graph.walk`` collects those nodes without recursion and
gives each a role and each edge a class; ``dot`` draws them; ``text`` prints
them as a Wengert list; ``flow`` pushes one more reverse pass through them to
show how much gradient runs along each edge.

The modules, bottom to top (each uses only the ones above it and the engine):

    graph.py        walk a graph; node roles; edge classes (identity, second-order, cut,
                    no-gradient)
    flow.py         the gradient-flow overlay: ‖adjoint‖ through every edge
    text.py         the Wengert list
    dot.py          Graphviz: clusters per scope, legend, detail="ops" | "scopes"
    pinned.py       MAML | FOMAML laid out once, drawn at the same node positions
                    (``dot.side_by_side`` calls it on use)
    trace.py        draw / wengert / graph_of for a function or a tensor
    meta_graphs.py  the graphs of MAML, FOMAML, Reptile and Meta-SGD on a tiny network

The Jacobian report (``jacobian_report``, ``reptile_view``) lives in
``tinymeta.meta.report`` (it draws nothing); it is re-exported here. In Jupyter a
``Graph``, a ``Digraph`` and a ``JacobianReport`` display themselves.

``tinymeta graph`` and ``tinymeta explain`` (``tinymeta/cli_graph.py``) put
``meta_graph``, the renderer and the report on the command line.
"""

from tinymeta.meta.report import JacobianReport, ReptileView, jacobian_report, reptile_view
from tinymeta.viz.dot import side_by_side, to_digraph
from tinymeta.viz.flow import Flow, gradient_flow
from tinymeta.viz.graph import EDGE_CLASSES, ROLES, Edge, Graph, Node, walk
from tinymeta.viz.meta_graphs import GRAPH_ALGORITHMS, meta_graph, meta_problem
from tinymeta.viz.text import wengert_list
from tinymeta.viz.trace import compare, draw, graph_of, parameters, trace, wengert

__all__ = [
    "draw", "wengert", "graph_of", "trace", "parameters", "compare", "walk", "Graph", "Node",
    "Edge", "ROLES", "EDGE_CLASSES", "gradient_flow", "Flow", "to_digraph", "side_by_side",
    "wengert_list", "meta_graph", "meta_problem", "GRAPH_ALGORITHMS", "jacobian_report",
    "JacobianReport",
    "reptile_view", "ReptileView",
]
