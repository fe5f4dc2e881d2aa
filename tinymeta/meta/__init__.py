"""Meta-learning through the tape: task distributions, MAML and relatives, evaluation."""

from tinymeta.meta.algorithms import (
    ALGORITHMS, adapt, maml_objective, meta_gradient, metasgd_objective, pretrain_objective,
    reptile_direction, task_loss,
)
from tinymeta.meta.evaluate import Evaluation, adapted_predictions, evaluate
from tinymeta.meta.tasks import Sinusoid

__all__ = [
    "ALGORITHMS", "adapt", "maml_objective", "meta_gradient", "metasgd_objective",
    "pretrain_objective", "reptile_direction", "task_loss", "Sinusoid", "Evaluation",
    "evaluate", "adapted_predictions",
]
