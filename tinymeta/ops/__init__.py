"""tinymeta's primitives under numpy's names; see the submodules for their VJP rules.

Each submodule lists its public ops in ``__all__``; this package exports exactly
those (so an op is exported by being declared in its module), and gives
``Tensor`` the methods and operators numpy's arrays have (``x.sum()``, ``x % y``).
"""


from tinymeta.ops import (
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
from tinymeta.tensor import Tensor

_MODULES = (elementwise, transcendental, rounding, linalg, contractions, losses, reductions,
            statistics, shape, rearrange)
__all__ = [name for module in _MODULES for name in module.__all__]
globals().update({name: getattr(module, name) for module in _MODULES for name in module.__all__})

# ndarray methods that are tinymeta ops of the same name (first argument: the tensor)
_METHODS = ("sum", "mean", "max", "min", "prod", "cumsum", "cumprod", "std", "var", "trace",
            "clip", "round", "squeeze", "swapaxes", "ravel", "flatten", "repeat",
            "argsort", "diagonal", "dot", "exp", "log", "tanh")


def _method(fn):
    def method(self, *args, **kwargs):
        return fn(self, *args, **kwargs)

    method.__name__, method.__doc__ = fn.__name__, fn.__doc__
    return method


for _name in _METHODS:
    if _name in globals() and not hasattr(Tensor, _name):
        setattr(Tensor, _name, _method(globals()[_name]))

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


def _reshape_method(self, *shape_):
    if len(shape_) == 1 and isinstance(shape_[0], (tuple, list)):
        shape_ = tuple(shape_[0])
    return shape.reshape(self, shape_)


def _transpose_method(self, *axes):
    if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
        axes = tuple(axes[0])
    return shape.transpose(self, axes or None)


Tensor.reshape, Tensor.transpose = _reshape_method, _transpose_method
