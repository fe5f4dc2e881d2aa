"""Meta-learning through the tape: task distributions, MAML and relatives, training, evaluation.

Modules: ``tasks`` (the sinusoid distribution), ``algorithms`` (MAML, FOMAML,
Reptile, Meta-SGD, the pretrained baseline), ``training`` (the outer loop),
``evaluate`` (few-shot MSE ± 95% CI), ``checkpoint`` (params.npz and
metrics.json, no pickle), ``plots`` (matplotlib figures, optional) and ``report``
(every Jacobian of MAML's chain rule and what FOMAML drops; import it as
``tinymeta.meta.report``).
"""

from tinymeta.meta.algorithms import (
    ALGORITHMS,
    adapt,
    maml_objective,
    meta_gradient,
    metasgd_objective,
    pretrain_objective,
    reptile_direction,
    task_loss,
)
from tinymeta.meta.evaluate import Evaluation, adapted_predictions, evaluate
from tinymeta.meta.tasks import Sinusoid
from tinymeta.meta.training import TrainConfig, TrainResult, meta_train

__all__ = [
    "ALGORITHMS", "adapt", "maml_objective", "meta_gradient", "metasgd_objective",
    "pretrain_objective", "reptile_direction", "task_loss", "Sinusoid", "Evaluation",
    "evaluate", "adapted_predictions", "TrainConfig", "TrainResult", "meta_train",
]
