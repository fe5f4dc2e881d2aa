"""tinymeta's primitives under numpy's names; see the submodules for their VJP rules."""

from tinymeta.ops.elementwise import (
    abs,
    add,
    cos,
    divide,
    exp,
    expm1,
    log,
    log1p,
    maximum,
    minimum,
    multiply,
    negative,
    power,
    relu,
    sigmoid,
    sign,
    sin,
    sqrt,
    square,
    subtract,
    tanh,
    where,
)
from tinymeta.ops.linalg import dot, linear, matmul, vdot
from tinymeta.ops.losses import cross_entropy, mse_loss
from tinymeta.ops.reductions import log_softmax, logsumexp, max, mean, min, softmax, sum
from tinymeta.ops.shape import (
    astype,
    broadcast_to,
    concatenate,
    expand_dims,
    getitem,
    reshape,
    scatter_add,
    squeeze,
    stack,
    sum_to_shape,
    swapaxes,
    transpose,
)

__all__ = [
    "abs", "add", "cos", "divide", "exp", "expm1", "log", "log1p", "maximum", "minimum",
    "multiply", "negative", "power", "relu", "sigmoid", "sign", "sin", "sqrt", "square",
    "subtract", "tanh", "where", "dot", "linear", "matmul", "vdot", "cross_entropy", "mse_loss",
    "log_softmax", "logsumexp", "max", "mean", "min", "softmax", "sum", "astype",
    "broadcast_to", "concatenate", "expand_dims", "getitem", "reshape", "scatter_add",
    "squeeze", "stack", "sum_to_shape", "swapaxes", "transpose",
]
