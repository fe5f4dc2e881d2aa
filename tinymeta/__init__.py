"""tinymeta: reverse-mode autodiff on numpy whose gradients are differentiable.

    import tinymeta as tm
    tm.grad(tm.grad(tm.tanh))(0.5)          # second derivative of tanh
    tm.grad(lambda x: x * tm.grad(lambda y: x * y)(3.0))(2.0)   # == 4.0

Layers, bottom to top: ``tensor`` (the array and its node), ``primitive`` and
``ops`` (numpy functions with VJP rules), ``autodiff`` (backward pass and
transforms), ``tree``, ``testing``; above them ``nn``, ``meta`` and ``viz``.
"""

from tinymeta import linalg
from tinymeta import numpy_dispatch as _numpy_dispatch
from tinymeta import ops as _ops
from tinymeta.autodiff import (
    IndependentOutputWarning,
    backward_node_count,
    debug_nans,
    grad,
    observe,
    stop_gradient,
    value_and_grad,
    vjp,
)
from tinymeta.compiler import jit
from tinymeta.ops import *  # noqa: F403  (numpy-named primitives: tm.exp, tm.matmul, ...)
from tinymeta.ops import __all__ as _ops_all
from tinymeta.ops.shape import tensor
from tinymeta.primitive import Primitive
from tinymeta.tensor import Tensor, is_tensor, name_scope, no_grad
from tinymeta.transforms import hessian, hvp, jacobian, jvp
from tinymeta.tree import tree_leaves, tree_map

__version__ = "0.1.0"

# np.tanh(t), np.sum(t), ndarray + t: numpy hands tensors to the tinymeta op of that name
_numpy_dispatch.install(Tensor, {**{name: getattr(_ops, name) for name in _ops_all},
                                **{f"linalg.{name}": getattr(linalg, name)
                                   for name in linalg.__all__}})

__all__ = [
    "linalg", "Tensor", "tensor", "is_tensor", "name_scope", "no_grad", "grad", "value_and_grad",
    "vjp", "jvp", "jacobian", "hessian", "hvp", "stop_gradient", "observe", "debug_nans",
    "IndependentOutputWarning", "backward_node_count", "tree_map", "tree_leaves", "Primitive",
    "jit",
    *_ops_all,
]
