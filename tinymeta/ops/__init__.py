"""tinymeta's primitives under numpy's names; see the submodules for their VJP rules.

An op is public because its declaration says ``export`` (``ops/_export.py``): this
package exports exactly the ops so declared, in declaration order, and gives ``Tensor``
the methods and operators numpy's arrays have (``x.sum()``, ``x % y``; not ``sort``,
which numpy's arrays do in place).
"""

import numpy as np

from tinymeta.ops import (  # noqa: F401  (imported for their declarations)
    contractions,
    elementwise,
    linalg,
    losses,
    rearrange,
    reductions,
    rounding,
    shape,
    statistics,
    transcendental,
)
from tinymeta.ops._export import EXPORTED, exported_by  # noqa: F401  (exported_by: docs, tests)
from tinymeta.tensor import Tensor

__all__ = list(EXPORTED)
globals().update(EXPORTED)


def _reshape_method(self, *shape_):
    if len(shape_) == 1 and isinstance(shape_[0], (tuple, list)):
        shape_ = tuple(shape_[0])
    return shape.reshape(self, shape_)


def _transpose_method(self, *axes):
    if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
        axes = tuple(axes[0])
    return shape.transpose(self, axes or None)


# numpy's methods take the shape or the axes unpacked too: x.reshape(2, 3)
Tensor.reshape, Tensor.transpose = _reshape_method, _transpose_method

# ndarray.sort sorts in place and returns None: t.sort() must not quietly mean a copy
IN_PLACE = frozenset({"sort"})


def _method(fn):
    def method(self, *args, **kwargs):
        return fn(self, *args, **kwargs)

    method.__name__, method.__doc__ = fn.__name__, fn.__doc__
    return method


# an exported op is a method (first argument: the tensor) where numpy's arrays have one
METHODS = [name for name in EXPORTED
           if hasattr(np.ndarray, name) and name not in IN_PLACE and not hasattr(Tensor, name)]
for _name in METHODS:
    setattr(Tensor, _name, _method(EXPORTED[_name]))

# the operators: x + y is tm.add(x, y), 2 * x is tm.multiply(2, x), ...
_OPERATORS = {"add": elementwise.add, "sub": elementwise.subtract, "mul": elementwise.multiply,
              "truediv": elementwise.divide, "pow": elementwise.power, "matmul": linalg.matmul,
              "mod": rounding.mod}
for _name, _op in _OPERATORS.items():
    setattr(Tensor, f"__{_name}__", lambda self, other, op=_op: op(self, other))
    setattr(Tensor, f"__r{_name}__", lambda self, other, op=_op: op(other, self))
Tensor.__neg__ = lambda self: elementwise.negative(self)
Tensor.__pos__ = lambda self: self
Tensor.__abs__ = lambda self: elementwise.abs(self)
Tensor.__getitem__ = lambda self, index: shape.getitem(self, index)
Tensor.__round__ = lambda self, ndigits=None: rounding.round(self, ndigits or 0)
Tensor.T = property(lambda self: shape.transpose(self))
# comparisons give constant bool tensors (no derivative), computed by rule-less primitives
for _name, _compare in {"lt": elementwise.less, "le": elementwise.less_equal,
                        "gt": elementwise.greater, "ge": elementwise.greater_equal,
                        "eq": elementwise.equal, "ne": elementwise.not_equal}.items():
    setattr(Tensor, f"__{_name}__", lambda self, other, compare=_compare: compare(self, other))

