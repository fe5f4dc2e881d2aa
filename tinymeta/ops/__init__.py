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
Tensor.__mod__ = lambda self, other: rounding.mod(self, other)
Tensor.__rmod__ = lambda self, other: rounding.mod(other, self)
Tensor.__round__ = lambda self, ndigits=None: rounding.round(self, ndigits or 0)
