"""What the engine accepts, and the errors that say so.

The transforms (``autodiff.py``) and ``Tensor`` call these to turn bad input into
one clear error at the user's call, naming the operation, what it got and what
would be valid; ``changeable`` and ``readonly`` keep the arrays the engine holds
safe from later writes by their owner. Kept apart so that the engine reads as
the algorithm.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["IndependentOutputWarning", "describe", "default_explain", "check_finite",
           "check_argnums", "check_callable", "scalar_output", "not_differentiable",
           "explain_unsaved", "missing_rule", "as_array", "changeable", "readonly"]


class IndependentOutputWarning(UserWarning):
    """The differentiated output does not depend on an argument: its gradient is zero."""


def check_argnums(argnums: Any, nargs: int, opname: str) -> tuple[int, ...]:
    """``argnums`` (an int or a tuple) as a tuple of non-negative positions, or an error."""
    nums = (argnums,) if isinstance(argnums, (int, np.integer)) else argnums
    if not isinstance(nums, tuple) or not nums or not all(
            isinstance(n, (int, np.integer)) and not isinstance(n, bool) for n in nums):
        raise TypeError(f"{opname}: argnums must be an int or a non-empty tuple of ints, "
                        f"got {argnums!r}")
    for n in nums:
        if not -nargs <= n < nargs:
            valid = f"0..{nargs - 1}" if nargs else "none: f was called with no arguments"
            raise ValueError(f"{opname}: argnums={argnums!r} is out of range: the function was "
                             f"called with {nargs} positional argument{'s' * (nargs != 1)} "
                             f"(valid: {valid})")
    nums = tuple(int(n) % nargs for n in nums)
    if len(set(nums)) != len(nums):
        raise ValueError(f"{opname}: argnums={argnums!r} names an argument twice; each argument "
                         f"can be differentiated once (use a tuple of distinct positions)")
    return nums


def check_callable(f: Any, opname: str) -> None:
    """A clear error when the transform was not given a function."""
    if not callable(f):
        raise TypeError(f"{opname}: expected a function to differentiate, got {type(f).__name__}")


def scalar_output(result: Any, opname: str, tensor_class: type, has_aux: bool) -> tuple:
    """(the function's output as a scalar float tensor, its aux value), or the error saying
    what ``grad`` needs."""
    if has_aux and (not isinstance(result, tuple) or len(result) != 2):
        raise TypeError(f"{opname}: with has_aux=True the function must return a pair "
                        f"(scalar, aux), got {type(result).__name__}")
    out, aux = result if has_aux else (result, None)
    return _scalar(out, opname, tensor_class), aux


def _scalar(out: Any, opname: str, tensor_class: type) -> Any:
    if not isinstance(out, tensor_class):
        if isinstance(out, (float, np.floating)) or (
                isinstance(out, np.ndarray) and out.size == 1 and out.dtype.kind == "f"):
            return tensor_class(np.asarray(out, dtype=float))  # a constant: gradient zero
        if isinstance(out, (bool, int, complex, np.number, np.bool_, np.ndarray)):
            kind = out.dtype if isinstance(out, np.ndarray) else type(out).__name__
            raise TypeError(f"{opname}: the function returned {kind} {out!r}; a gradient needs "
                            f"a real floating-point scalar output (return a float, or a float "
                            f"tensor)")
        raise TypeError(f"{opname}: the function must return a scalar tensor, got "
                        f"{type(out).__name__}" + ("; with has_aux=True return (scalar, aux)"
                                                   if isinstance(out, tuple) else ""))
    if out.size != 1:
        raise TypeError(f"{opname}: the function must return a scalar, but it returned shape "
                        f"{out.shape}. grad is only defined for scalar outputs: use "
                        f"tm.jacobian(f) for the full Jacobian, or tm.vjp(f, x) with a cotangent "
                        f"of shape {out.shape}")
    if out.dtype.kind != "f":
        raise TypeError(f"{opname}: the function returned dtype {out.dtype}; a gradient needs a "
                        f"real floating-point output")
    return out


def not_differentiable(leaf: Any, opname: str, argnum: int, path: str) -> TypeError:
    """The error for differentiating with respect to something that has no gradient."""
    kind = (f"a tensor of dtype {leaf.dtype}" if hasattr(leaf, "node") else
            f"a numpy array of dtype {leaf.dtype}" if isinstance(leaf, np.ndarray)
            else f"{type(leaf).__name__} {leaf!r}")
    hint = " (write 3.0 rather than 3)" if isinstance(leaf, (int, np.integer)) else ""
    if "complex" in kind:
        hint = " (tinymeta is real-valued: complex numbers have no gradient here)"
    return TypeError(f"{opname}: cannot differentiate with respect to argument {argnum}{path}, "
                     f"which is {kind}; only float tensors, float numpy arrays and Python "
                     f"floats have gradients{hint}")


def missing_rule(op: str, i: int) -> NotImplementedError:
    return NotImplementedError(
        f"the primitive {op!r} has no VJP rule for its argument {i}, which the gradient "
        f"needs (it depends on a differentiated value); give the primitive a rule for every "
        f"argument")


def explain_unsaved(node: Any, i: int, ans: Any, args: list, error: Exception) -> None:
    """Raise a clear error if a VJP rule failed because it read a value not saved."""
    from tinymeta.tensor import Unsaved  # here: tensor imports this module (an error path)

    missing = [f"argument {j}" for j, a in enumerate(args) if isinstance(a, Unsaved)]
    missing += ["its output (ans)"] if isinstance(ans, Unsaved) else []  # a Node is one too
    if missing:
        raise RuntimeError(
            f"the VJP rule of {node.op!r} for argument {i} failed ({type(error).__name__}: "
            f"{error}); its node did not save {' and '.join(missing)}: a rule that reads a "
            f"value must name it in its primitive's 'saves'") from error


def as_array(data: Any, dtype: Any, opname: str) -> np.ndarray:
    """``data`` as a new real float array (ints and bools become float64), or a clear
    error."""
    if isinstance(data, (str, bytes)) or data is None:
        raise TypeError(f"{opname}: cannot make a tensor from {type(data).__name__} {data!r}; "
                        f"pass a number, a (nested) list of numbers or a numpy array")
    try:
        array = np.array(data, dtype=dtype)  # always a copy: the tensor owns its data
    except (TypeError, ValueError) as error:
        raise TypeError(f"{opname}: cannot make a numeric array from {type(data).__name__}: "
                        f"{error}") from None
    if array.dtype.kind == "c":
        raise TypeError(f"{opname}: complex dtype {array.dtype}: tinymeta is real-valued")
    if dtype is None and array.dtype.kind != "f":
        if array.dtype.kind not in "biu":
            raise TypeError(f"{opname}: unsupported dtype {array.dtype} from "
                            f"{type(data).__name__}; expected real numbers")
        array = array.astype(np.float64)  # float64 by default, as documented
    return array


def describe(x: Any) -> str:
    """A short description of an argument for error messages: 'shape (3, 4) float32'."""
    if hasattr(x, "shape") and hasattr(x, "dtype") and not isinstance(x, np.ndarray):
        return f"shape {x.shape} {x.dtype}"
    if isinstance(x, np.ndarray):
        return f"shape {x.shape} {x.dtype} (numpy)"
    if isinstance(x, (bool, int, float, complex, np.number)):
        return f"{type(x).__name__} {x!r}"
    return type(x).__name__


def default_explain(name: str, error: Exception, args: tuple, params: dict) -> Exception:
    """A primitive's error for invalid arguments: its name, what it got, numpy's reason."""
    shown = ", ".join(describe(a) for a in args)
    extra = "".join(f", {k}={v!r}" for k, v in params.items())
    return type(error)(f"{name}: invalid arguments ({shown}{extra}): {error}")


def check_finite(name: str, out: np.ndarray, args: tuple, recording: Any) -> None:
    """``tm.debug_nans``: raise at the first op whose output has a nan or inf, saying where
    it ran (the forward pass, or a backward pass and whose VJP rule)."""
    if out.dtype.kind == "f" and not np.isfinite(out).all():
        where = "the forward pass"
        if recording.order or recording.numpy_only:
            rule_of = recording.rule_of
            where = "a backward pass" + ("" if rule_of is None else
                                         f", in the VJP rule of {rule_of.op!r}")
        bad = "nan" if np.isnan(out).any() else "inf"
        shown = ", ".join(describe(a) for a in args)
        raise FloatingPointError(f"{name}: produced {bad} in {where} (inputs: {shown}); "
                                 f"raised because tm.debug_nans() is on")


def changeable(array: np.ndarray) -> bool:
    """Can someone still change ``array``'s values: it is writable, or a view of memory
    that is (a writable array, a bytearray, a memory map)?"""
    if array.flags.writeable:
        return True
    base = array.base
    if base is None or isinstance(base, bytes):
        return False
    return changeable(base) if isinstance(base, np.ndarray) else True


def readonly(array: np.ndarray) -> np.ndarray:
    """``array`` made read-only for good: a view of memory someone else can still write
    is copied first."""
    base = array.base
    if base is not None and not isinstance(base, bytes) and (
            not isinstance(base, np.ndarray) or changeable(base)):
        array = array.copy()
    array.flags.writeable = False
    return array
