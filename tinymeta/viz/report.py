"""Moved: the Jacobian report lives in ``tinymeta.meta.report``, beside the code it explains.

It draws nothing (it computes Jacobians with the engine and ``tinymeta.meta``), so it
belongs with the meta-learning code. This module keeps ``tinymeta.viz.report`` imports
working; ``tinymeta.viz`` re-exports the same names.
"""

from tinymeta.meta.report import (  # noqa: F401
    FlatModel,
    JacobianReport,
    ReptileView,
    jacobian_report,
    reptile_view,
    small_problem,
)

__all__ = ["JacobianReport", "jacobian_report", "ReptileView", "reptile_view", "FlatModel",
           "small_problem"]
