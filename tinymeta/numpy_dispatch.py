"""numpy functions called on tensors run tinymeta's op of the same name, recorded.

numpy lets a foreign array type take over its functions: ``np.tanh(t)`` calls
``type(t).__array_ufunc__`` and ``np.sum(t)`` calls ``__array_function__``
(NEP 13 and NEP 18). A Tensor answers both by calling ``tm.tanh`` / ``tm.sum``,
so a numpy program that is handed tensors is recorded like any other and its
derivatives are right. What cannot be recorded is refused, never computed on
the bare values (which would lose the gradient without a word):

- a numpy function tinymeta does not have, called on a tensor that requires
  grad, raises a TypeError naming the function; on constant tensors it simply
  runs numpy on their values (there is no gradient to lose);
- ``out=`` (tensors are immutable) and keywords the tinymeta op does not take
  raise a TypeError naming them;
- comparisons and predicates (``np.greater``, ``np.isfinite``, ...) return
  constant bool tensors, as the comparison operators do: they have no
  derivative.

``Tensor`` gets these two methods from ``tinymeta/__init__.py`` once every op
exists (the tensor module knows no ops).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from tinymeta.tensor import Tensor, constant, recording

__all__ = ["install"]

# numpy's name -> tinymeta's, where they differ
_ALIASES = {"absolute": "abs", "true_divide": "divide", "conjugate": "positive"}
# answers about values (shapes, truth, positions) that carry no derivative: numpy runs on
# the values and the answer is returned as numpy gives it
_QUERIES = frozenset({
    "shape", "ndim", "size", "result_type", "iscomplexobj", "isrealobj", "isscalar",
    "allclose", "isclose", "array_equal", "array_equiv", "any", "all", "count_nonzero",
    "argmax", "argmin", "argsort", "nonzero", "argwhere", "flatnonzero", "searchsorted",
    "array_repr", "array_str", "array2string", "may_share_memory", "shares_memory",
    "iscomplex", "isreal", "copyto",
})
_BOOL_UFUNCS = frozenset({
    "greater", "greater_equal", "less", "less_equal", "equal", "not_equal", "isfinite",
    "isnan", "isinf", "signbit", "logical_and", "logical_or", "logical_not", "logical_xor",
})

_registry: dict[str, Callable] = {}


def install(tensor_class: type, functions: dict[str, Callable]) -> None:
    """Make numpy hand ``tensor_class`` arguments to ``functions`` (name -> op)."""
    _registry.clear()
    _registry.update(functions)
    tensor_class.__array_ufunc__ = _array_ufunc
    tensor_class.__array_function__ = _array_function


def _traced(values: Any) -> bool:
    """Does a value require grad, or (while tm.jit records) depend on its arguments?"""
    for v in values:
        if type(v) is Tensor and (v.requires_grad or (
                recording.jit is not None and id(v._value) in recording.jit.derived)):
            return True
        if isinstance(v, (list, tuple)) and _traced(v):
            return True
    return False


def _bare(x: Any) -> Any:
    if type(x) is Tensor:
        return x._value
    if isinstance(x, (list, tuple)):
        return type(x)(_bare(v) for v in x)
    return x


def _unsupported(what: str) -> TypeError:
    return TypeError(
        f"{what} is not supported on tinymeta tensors that are being differentiated "
        f"(numpy would compute on the bare values and drop the gradient). Use a tinymeta "
        f"op (see docs/autodiff.md, 'numpy functions'), or leave the graph explicitly with "
        f".numpy() or tm.stop_gradient(x)"
    )


@functools.cache
def _keywords(fn: Callable) -> frozenset | None:
    """The keyword arguments ``fn`` accepts (None: any)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    return frozenset(p.name for p in params if p.kind is not p.VAR_POSITIONAL)


def _call(name: str, fn: Callable, args: tuple, kwargs: dict) -> Any:
    if kwargs.get("out") is not None:
        raise TypeError(f"numpy.{name}(..., out=...): tinymeta tensors are immutable; "
                        f"use the returned value instead")
    kwargs = {k: v for k, v in kwargs.items() if not (k == "out" and v is None)}
    accepted = _keywords(fn)
    if accepted is not None:
        extra = sorted(k for k in kwargs if k not in accepted)
        if extra:
            raise TypeError(f"numpy.{name} on tinymeta tensors: tm.{fn.__name__} does not take "
                            f"{', '.join(extra)} (it takes {', '.join(sorted(accepted))})")
    if recording.numpy_only:  # a VJP rule in an unrecorded backward pass ran a transform
        args = _bare(args)  # (tm.grad inside a rule) and got tensors: this pass is numpy
    return fn(*args, **kwargs)


def _array_ufunc(self: Tensor, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any):
    name = ufunc.__name__
    fn = _registry.get(_ALIASES.get(name, name))
    if method == "__call__" and fn is not None:
        return _call(name, fn, inputs, kwargs)
    if method == "__call__" and name in _BOOL_UFUNCS and not kwargs and not (
            recording.jit is not None and _traced(inputs)):  # tm.jit must see every value
        return constant(ufunc(*(_bare(x) for x in inputs)))
    if method == "reduce" and name in ("add", "maximum", "minimum", "multiply"):
        reduction = _registry.get({"add": "sum", "maximum": "max", "minimum": "min",
                                   "multiply": "prod"}[name])
        if reduction is not None:
            return _call(f"{name}.reduce", reduction, inputs, kwargs)
    what = f"numpy.{name}" if method == "__call__" else f"numpy.{name}.{method}"
    if _traced(inputs):
        raise _unsupported(what)
    result = getattr(ufunc, method)(*(_bare(x) for x in inputs), **kwargs)
    return constant(result) if isinstance(result, np.ndarray) else result


def _array_function(self: Tensor, func: Callable, types: Any, args: tuple, kwargs: dict):
    name = func.__name__
    module = getattr(func, "__module__", "") or ""
    if module.startswith("numpy.linalg"):
        name = f"linalg.{name}"
    if name in _QUERIES:
        return func(*_bare(args), **{k: _bare(v) for k, v in kwargs.items()})
    fn = _registry.get(name)
    if fn is not None:
        return _call(name, fn, args, kwargs)
    if _traced(args) or _traced(kwargs.values()):
        raise _unsupported(f"numpy.{name}")
    return func(*_bare(args), **{k: _bare(v) for k, v in kwargs.items()})
