"""``tm.jit``: record a function once, replay it as straight-line numpy.

The eager engine pays Python bookkeeping for every op it records. ``tm.jit(f)``
pays it once: the first call for a given *key* (the tree structure, shapes,
dtypes and strides of the array arguments, and the values of everything else) runs ``f``
with the eager engine while a recorder writes down every numpy call every
primitive makes, at every derivative order (the forward pass, each ``tm.grad``
inside, the backward passes they record and the ones they run on bare numpy).
That list becomes a Python function of plain numpy calls:

- only the calls the outputs need are kept (dead-code elimination);
- calls that depend on no argument were computed while recording: their
  results are constants of the program (constant folding);
- a reshape to the same shape is an alias, not a line;
- ``multiply(negative(x), c)`` for a Python number ``c`` other than an int 0 is one
  line, ``multiply(x, -c)`` (``_simplified``);
- an elementwise line writes into an argument that dies there, ``out=``, where no
  view of it lives on and the layout is the one numpy would give (``_reuse_buffers``);
- each array is deleted right after its last use, so the program holds no more
  memory than the eager engine.

Later calls with the same key run only that program. ``jitted.lower(*args)``
returns it; ``.source`` is its text, one numpy call per line with names taken
from the ``name_scope`` and the op, and each line's derivative order.

Never silently wrong
--------------------
A program is only right if every value it computes came from the arguments
through recorded primitives. So while recording:

- reading a value that depends on the arguments into Python or numpy
  (``float(t)``, ``bool(t)``, ``if t > 0:``, ``t.item()``, ``t.numpy()``,
  ``t.data``, ``np.asarray(t)``) raises ``ConcretizationError``: make that
  argument static (``static_argnums``) or compute with tinymeta ops;
- array arguments are handed to ``f`` as tensors, so numpy run on them
  (``xs[i]``, ``np.sum(xs)``) goes through tinymeta's ops and is recorded;
- finally the program is checked against the eager engine on a second, perturbed
  set of arguments: a constant that was in fact computed from the arguments
  outside the ops (numpy on raw values in some rule, say) or control flow that
  depends on their values makes the two differ, and ``jit`` refuses with an error
  instead of returning a program frozen on the first call's data.

Python side effects of ``f`` (a ``print``, appending to an outer list) happen
only on the first call of each key (twice: once recording, once more for the
check), never when the program runs. Arguments that are
themselves being differentiated (``tm.grad(tm.jit(f))``) and calls made while
another ``jit`` is recording run ``f`` eagerly; so does a call with a broadcast-view
argument (a zero stride) or with a value that cannot key the cache.

No string a user chose (a scope name, a dict key, an op's name) reaches the
generated source other than as a sanitised identifier.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import re
import traceback
import types
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from tinymeta.ops._util import _ones_row
from tinymeta.tensor import Tensor, recording
from tinymeta.tree import flatten, unflatten

__all__ = ["jit", "Program", "ConcretizationError", "JitError"]


class ConcretizationError(TypeError):
    """A value that depends on ``jit``'s arguments was read into Python while recording."""


class JitError(TypeError):
    """``jit`` cannot turn the function into a program that is right for every argument."""


# ---------------------------------------------------------------- recording
class _Recorder:
    """Sees every primitive call while ``f`` runs (``recording.jit``)."""

    def __init__(self, inputs: list[np.ndarray]) -> None:
        self.calls: list[tuple] = []  # (primitive, args, params, out, scope, order)
        self.alive: list[Any] = list(inputs)  # every value seen: their ids stay unique
        self.derived = {id(v) for v in inputs}  # ids of values computed from the arguments
        self.untraceable: set[str] = set()  # primitives whose rules compute outside ops

    def rule(self, prim: Any) -> None:
        """A backward pass runs ``prim``'s VJP rules: only those ``traceable()`` trusts
        (every primitive tinymeta declares) or that say ``traceable = True`` compute
        nothing outside primitives (a mask from raw values would be frozen in a program)."""
        if prim not in traceable() and not getattr(prim, "traceable", False):
            self.untraceable.add(prim.name)  # a user's own: traceable = True if it is

    def call(self, prim: Any, args: Any, params: dict, out: np.ndarray) -> None:
        args = tuple(args)
        if any(a is out for a in args):
            return  # an identity: the value has a name already
        self.calls.append((prim, args, dict(params), out, recording.scope, recording.order))
        self.alive.append(out)
        self.alive.extend(args)
        if any(id(a) in self.derived for a in args):
            self.derived.add(id(out))

    def reads(self, value: Any, op: str) -> None:
        """An op is about to compute on ``value``'s numbers outside any primitive."""
        if id(value) in self.derived:
            raise JitError(f"jit: {op} computes with numpy on values that depend on the "
                           f"arguments{_user_line()}; a program would freeze them on this "
                           f"first call's data. Run this function without jit")

    def concrete(self, t: Tensor, what: str) -> None:
        if id(t._value) in self.derived:
            raise ConcretizationError(
                f"{what} of a value that depends on the arguments of a function being "
                f"compiled by tm.jit (shape {t.shape}){_user_line()}: the program would "
                f"freeze the value of this first call. Compute with tinymeta ops, or make the "
                f"argument it comes from static (tm.jit(f, static_argnums=...))")


def _user_line() -> str:
    """ ", at file.py:12" for the innermost frame outside tinymeta (where the user read)."""
    package = str(Path(__file__).resolve().parent)
    for frame in reversed(traceback.extract_stack()):
        if not str(Path(frame.filename).resolve()).startswith(package):
            return f", at {frame.filename}:{frame.lineno}"
    return ""


@functools.cache
def traceable() -> frozenset:
    """The primitives whose VJP rules compute only with primitives, so that the programs
    of functions differentiating through them are right for any argument: every one
    tinymeta declares (in ``tinymeta.ops`` and ``tinymeta.linalg``), and autodiff's
    ``identity``. That is a rule for writing ops, checked by tests/test_compiler.py:
    it compiles every row of the op table at orders 0-2 and runs the program on new
    inputs bitwise against eager, and each op that reads values (a mask, an order, a
    quotient) in another region of its inputs. A user's own primitive is not trusted
    until it says so: ``prim.traceable = True``."""
    from tinymeta import linalg, ops
    from tinymeta.autodiff import identity
    from tinymeta.primitive import Primitive

    modules = [m for m in vars(ops).values()
               if isinstance(m, types.ModuleType) and m.__name__.startswith("tinymeta.ops.")]
    return frozenset([identity, *(v for m in (*modules, linalg) for v in vars(m).values()
                                  if isinstance(v, Primitive))])


# ---------------------------------------------------------------- the program
class Program:
    """The generated function for one key: ``program(*arrays)`` returns output leaves."""

    def __init__(self, source: str, namespace: dict, out_tree: Any, out_kinds: list,
                 shared: list[bool]) -> None:
        self.source = source
        self._namespace = namespace
        exec(compile(source, "<tm.jit program>", "exec"), namespace)  # noqa: S102
        self.run = namespace["program"]
        self.out_tree = out_tree
        # per output: (wrap it in a Tensor, it is an argument or a constant of the program)
        self._outputs = list(zip([kind == "tensor" for kind in out_kinds], shared, strict=True))

    def __call__(self, arrays: list[np.ndarray]) -> Any:
        # an output the caller could change and so change an argument or the program's own
        # constants (it is one of them, or a view) is copied
        leaves = []
        for v, (tensor, shared) in zip(self.run(*arrays), self._outputs, strict=True):
            if type(v) is np.ndarray and (shared or v.base is not None):
                v = v.copy()
            leaves.append(Tensor._make(v, None) if tensor else v)
        return unflatten(self.out_tree, leaves)

    def __repr__(self) -> str:
        return self.source


_IDENTIFIER = re.compile(r"[^0-9a-zA-Z_]+")


def _identifier(text: str) -> str:
    """A safe Python identifier made of ``text``'s letters, digits and underscores."""
    name = _IDENTIFIER.sub("_", text).strip("_").lower() or "v"
    return name if not name[0].isdigit() else f"v_{name}"


def _literal(x: Any) -> str | None:
    """Source text for a value that can be written inline, else None."""
    if x is None or isinstance(x, bool):
        return repr(x)
    if type(x) is int or (type(x) is float and np.isfinite(x)):
        return repr(x)
    if type(x) is tuple and all(type(i) is int for i in x):
        return repr(x)
    return None


def _generate(rec: _Recorder, inputs: list[np.ndarray], outputs: list[Any]) -> tuple:
    """(source, namespace, whether each output is an argument or a constant) of the
    program computing ``outputs`` from ``inputs``."""
    from tinymeta.ops import elementwise as elementwise_ops
    from tinymeta.ops import linalg

    calls = _simplified(rec.calls)
    produced = {id(c[3]): n for n, c in enumerate(calls)}  # the last call making it
    input_ids = {id(v): n for n, v in enumerate(inputs)}
    needed: set[int] = set()  # calls the outputs need, found by walking back from them
    stack = [produced[id(o)] for o in outputs if id(o) in produced and id(o) in rec.derived]
    while stack:
        n = stack.pop()
        if n in needed:
            continue
        needed.add(n)
        stack.extend(produced[id(a)] for a in calls[n][1]
                     if id(a) in rec.derived and id(a) not in input_ids and id(a) in produced)
    names: dict[int, str] = {id(v): f"arg{n}" for n, v in enumerate(inputs)}
    namespace: dict[str, Any] = {}
    constants: list[Any] = []
    const_of: dict[int, str] = {}
    computed: dict[str, str] = {}  # call text -> the name of its result (one line each)
    functions: dict[int, str] = {}
    count: dict[str, int] = {}
    lines: list[_Line] = []

    def ref(x: Any) -> str:
        if id(x) in names:
            return names[id(x)]
        text = _literal(x)
        if text is not None:
            return text
        if id(x) not in const_of:  # computed while recording, or a static value
            const_of[id(x)] = f"const[{len(constants)}]"
            constants.append(x)
        return const_of[id(x)]

    for n in sorted(needed):
        prim, args, params, out, scope, order = calls[n]
        if prim.name == "reshape" and len(args) == 1 and id(args[0]) in names and \
                np.shape(args[0]) == out.shape:
            names[id(out)] = names[id(args[0])]  # a reshape to the same shape: an alias
            continue
        if id(prim) not in functions:  # never a keyword, argN, const or a value's name
            fname = f"{_identifier(prim.name)}_op"
            while fname in namespace:
                fname = f"{fname}_"
            functions[id(prim)] = fname
            namespace[fname] = prim.forward
        base = _identifier(f"{scope}_{prim.name}") if scope else _identifier(prim.name)
        count[base] = count.get(base, 0) + 1  # numbered per scope and op: stable in diffs
        name = f"{base}_{count[base]}"
        reads = [names[id(a)] for a in args if id(a) in names]
        arg_text = [ref(a) for a in args]
        for key, value in params.items():
            if not key.isidentifier():
                raise JitError(f"jit: a parameter of {prim.name!r} is not a Python name")
            arg_text.append(f"{key}={ref(value)}")
        call = _inline(prim, args, params, arg_text, ref) or \
            f"{functions[id(prim)]}({', '.join(arg_text)})"
        if call in computed:  # the same call on the same values: reuse its result
            names[id(out)] = computed[call]
            continue
        names[id(out)] = computed[call] = name
        elementwise = call.startswith("np.maximum(") if prim is elementwise_ops.relu else \
            isinstance(prim.forward, np.ufunc) and call.startswith(f"np.{prim.forward.__name__}(")
        lines.append(_Line(name, call, reads, order, out, elementwise,
                           elementwise or prim in (linalg.matmul, linalg._linear),
                           [(names[id(a)], a) for a in args if id(a) in names]))
    results = [ref(o) for o in outputs]
    keep = set(results) | {f"arg{n}" for n in range(len(inputs))}
    _reuse_buffers(lines, keep)
    # delete every array right after its last use (outputs and arguments excepted)
    last_use: dict[str, int] = {}
    for i, line in enumerate(lines):
        for r in line.reads:
            last_use[r] = i
    body = []
    for i, line in enumerate(lines):
        body.append(f"    {line.name} = {line.call}  # order {line.order}")
        dead = sorted(r for r, last in last_use.items() if last == i and r not in keep)
        if dead:
            body.append(f"    del {', '.join(dead)}")
    params = ", ".join(f"arg{n}" for n in range(len(inputs)))
    source = "\n".join([f"def program({params}):", *body,
                        f"    return ({''.join(r + ', ' for r in results)})", ""])
    namespace["const"], namespace["np"] = constants, np
    return source, namespace, [r.startswith(("arg", "const[")) for r in results]


@dataclasses.dataclass
class _Line:
    """One line of a program: ``name = call``."""

    name: str
    call: str
    reads: list[str]  # the names it reads
    order: int  # the derivative order of the recorded call
    value: np.ndarray  # its result as recorded: shape, strides and dtype
    elementwise: bool  # one numpy ufunc over whole arrays: it may write into an argument
    fresh: bool  # makes a new array and keeps no view of what it reads
    args: list[tuple[str, np.ndarray]]  # (name, recorded value) of each argument it names


def _reuse_buffers(lines: list[_Line], keep: set[str]) -> None:
    """Let an elementwise line write its result into an argument that dies there
    (``np.add(a, b, out=a)``): the same numbers, one allocation fewer, and memory that is
    still in the cache. Only into an array no other name can see (one a fresh line made
    and only fresh lines read, so no view of it is kept anywhere; not an output), and
    only where it has the layout numpy would give the result: a reduction later sums in
    memory order, so another layout could change the last bits."""
    readers: dict[str, list[int]] = {}
    for i, line in enumerate(lines):
        for r in line.reads:
            readers.setdefault(r, []).append(i)
    owned = {line.name for line in lines if line.fresh} - keep
    owned -= {r for r, where in readers.items() if not all(lines[i].fresh for i in where)}
    for i, line in enumerate(lines):
        if not line.elementwise or line.value.ndim == 0:  # numpy gives scalars for 0-d
            continue
        for name, value in line.args:
            if name in owned and readers[name][-1] == i and line.reads.count(name) == 1 \
                    and (value.shape, value.strides, value.dtype) == \
                    (line.value.shape, line.value.strides, line.value.dtype):  # the same layout
                line.call = f"{line.call[:-1]}, out={name})"
                break


def _simplified(calls: list[tuple]) -> list[tuple]:
    """The recorded calls, rewritten to make fewer arrays with the very same numbers:
    ``multiply(negative(x), c)`` for a Python number ``c`` becomes ``multiply(x, -c)``
    (negation is exact, so the numbers agree bit for bit; a NaN may come out with the
    other sign bit). The cotangent of ``θ - α g`` flows through exactly that pair.
    (Reading a ``broadcast_to``'s source instead of its copy was tried too: numpy's
    broadcasting loops made the program slower, not faster.)
    """
    from tinymeta.ops import elementwise

    negated: dict[int, Any] = {}  # id(a negative's result) -> its argument
    out = []
    for prim, args, params, value, *rest in calls:
        if prim is elementwise.negative and value.dtype.kind == "f":
            negated[id(value)] = args[0]
        elif prim is elementwise.multiply:
            args = _negation_moved(args, negated)
        out.append((prim, args, params, value, *rest))
    return out


def _negation_moved(args: tuple, negated: dict[int, Any]) -> tuple:
    """``(negative(x), c)`` as ``(x, -c)`` (either order) for a Python number c."""
    for i in (0, 1):
        x, c = args[i], args[1 - i]
        # an int 0 has no sign: -0 is 0, and x * 0 is +0 where -x * 0 is -0
        if id(x) in negated and (type(c) is float or type(c) is int and c != 0):
            return (negated[id(x)], -c) if i == 0 else (-c, negated[id(x)])
    return args


def _matmul_text(a: Any, b: Any, a_text: str, b_text: str, transpose_a: bool = False,
                 transpose_b: bool = False) -> str:
    """The numpy call ``matmul``'s forward makes for these shapes, written out: the
    shapes are known while recording, so the program keeps only the branch taken."""
    if transpose_a:
        a_text, a = f"{a_text}.swapaxes(-1, -2)", np.swapaxes(a, -1, -2)
    if transpose_b:
        b_text, b = f"{b_text}.swapaxes(-1, -2)", np.swapaxes(b, -1, -2)
    sa, sb = np.shape(a), np.shape(b)
    outer = len(sa) >= 2 and len(sb) >= 2 and sa[-1] == 1 == sb[-2]  # as _matmul_forward
    return f"np.{'multiply' if outer else 'matmul'}({a_text}, {b_text})"


def _add_reduce_text(x: np.ndarray, axes: tuple[int, ...], keepdims: bool, x_text: str,
                     const: Callable[[Any], str]) -> str:
    """``ops._util.add_reduce`` for this shape, written out (the same numpy calls)."""
    if x.dtype.kind != "f":
        return f"np.sum({x_text}, axis={axes!r}, keepdims={keepdims!r})"
    if len(axes) == 1 and x.ndim >= 3 and axes[0] == x.ndim - 2:  # rows: a product with ones
        rows = f"np.matmul({const(_ones_row(x.shape[-2], x.dtype))}, {x_text})"
        return rows if keepdims else f"{rows}[..., 0, :]"
    return f"np.add.reduce({x_text}, {axes!r}, None, None, {keepdims!r})"


def _sum_to_shape_text(x: np.ndarray, shape: tuple[int, ...], x_text: str,
                       const: Callable[[Any], str]) -> str:
    """``sum_to_shape`` for this shape, with its axes decided while recording."""
    if x.shape == shape:
        return f"{x_text}.view()"
    lead = x.ndim - len(shape)
    if lead == 1 and x.shape[1:] == shape:
        return f"np.add.reduce({x_text}, 0)"
    axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape)
                                      if n == 1 and x.shape[lead + i] != 1)
    out = _add_reduce_text(x, axes, True, x_text, const) if axes else x_text
    return f"{out}.reshape({shape!r})" if lead else out


def _inline(prim: Any, args: tuple, params: dict, arg_text: list[str],
            const: Callable[[Any], str]) -> str | None:
    """Plain numpy for the primitives whose forward is a thin wrapper (matmul, linear,
    sum, sum_to_shape): the numpy calls the forward makes for the recorded shapes,
    without a Python function per line."""
    from tinymeta.ops import elementwise, linalg, reductions, shape

    ufunc = prim.forward
    if isinstance(ufunc, np.ufunc) and getattr(np, ufunc.__name__, None) is ufunc and \
            not params:  # np.add, np.tanh, ...: called by their own name
        return f"np.{ufunc.__name__}({', '.join(arg_text)})"
    if not all(isinstance(a, np.ndarray) for a in args):
        return None
    if prim is linalg.matmul:
        return _matmul_text(*args, *arg_text[:2], **params)
    e = elementwise
    if prim is e.relu and args[0].dtype.kind == "f":
        return f"np.maximum({arg_text[0]}, {const(args[0].dtype.type(0))})"
    if prim is e.positive:
        return f"np.greater({arg_text[0]}, 0)"
    if prim is e._where:
        return f"np.where({', '.join(arg_text)})"
    if prim is shape._reshape:
        return f"{arg_text[0]}.reshape({params['shape']!r})"
    if prim is shape.sum_to_shape:
        return _sum_to_shape_text(args[0], params["shape"], arg_text[0], const)
    if prim is reductions._sum:
        return _add_reduce_text(args[0], params["axes"], params["keepdims"], arg_text[0], const)
    if prim is linalg._linear:
        x, w, b = args
        return f"np.add({_matmul_text(x, w, *arg_text[:2])}, {arg_text[2]}[..., None, :])"
    return None


# ---------------------------------------------------------------- tm.jit
def _key_of(value: Any) -> Any:
    """A hashable key for a static value; an array by its bytes (repr() elides them)."""
    if type(value) in _SCALARS:
        return (type(value), value)  # 1, 1.0 and True are equal but give other programs
    if isinstance(value, np.ndarray):
        return ("array", value.shape, value.dtype.str,
                hashlib.sha1(np.ascontiguousarray(value).tobytes()).hexdigest())
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, *(_key_of(v) for v in value))
    if isinstance(value, dict):
        return ("dict", *((repr(k), _key_of(v)) for k, v in value.items()))
    hash(value)  # TypeError for what cannot key a cache
    return (type(value).__name__, value)


_SCALARS = frozenset({int, float, bool, str, type(None)})


def _is_array(x: Any) -> bool:
    return isinstance(x, np.ndarray) or (isinstance(x, Tensor) and x.node is None)


def _perturbed(arrays: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    out = []
    for a in arrays:
        if a.dtype.kind != "f" or a.size == 0:
            out.append(a)
            continue
        scale = float(np.std(a)) + 0.1 * float(np.mean(np.abs(a))) + 1e-3
        out.append(_laid_out_like(a, (a + scale * rng.standard_normal(a.shape)).astype(a.dtype)))
    return out


def _laid_out_like(a: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``values`` in an array with ``a``'s strides: the layout of the arguments steers
    numpy's (the layout of each result, and so the order a reduction sums in), and the
    program is keyed on it."""
    if values.strides == a.strides:
        return values
    size = a.dtype.itemsize
    low = sum((n - 1) * s for n, s in zip(a.shape, a.strides, strict=True) if s < 0)
    high = sum((n - 1) * s for n, s in zip(a.shape, a.strides, strict=True) if s > 0)
    buffer = np.empty(high - low + size, np.uint8)
    out = np.ndarray(a.shape, a.dtype, buffer, offset=-low, strides=a.strides)
    out[...] = values
    return out


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, Tensor):
        a = a._value
    if isinstance(b, Tensor):
        b = b._value
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(
        a, b, equal_nan=a.dtype.kind in "fc")


class _Jitted:
    def __init__(self, f: Callable, static_argnums: tuple, static_argnames: tuple) -> None:
        self.f, self.static_argnums, self.static_argnames = f, static_argnums, static_argnames
        self.programs: dict[Any, Program] = {}
        self._static_sorted = sorted(static_argnums)
        self._static_names_sorted = sorted(static_argnames)
        functools.update_wrapper(self, f)

    def _split(self, args: tuple, kwargs: dict):
        """(array leaves, a function of those leaves that calls f, the cache key, whether a
        leaf is being differentiated). Runs on every call: kept to one pass over the leaves."""
        static = self.static_argnums
        dynamic = [a for i, a in enumerate(args) if i not in static] if static else list(args)
        dyn_kw = {k: v for k, v in kwargs.items() if k not in self.static_argnames}
        leaves, treedef = flatten((dynamic, dyn_kw))
        arrays, layout, fixed, traced, broadcast = [], [], [], False, False
        for leaf in leaves:
            kind = type(leaf)
            if kind is Tensor:
                if leaf.node is None:
                    leaf = leaf._value
                    kind = np.ndarray
                else:
                    traced = True
            if kind is np.ndarray or isinstance(leaf, np.ndarray):
                arrays.append(leaf)
                if 0 in leaf.strides:  # a broadcast view? (see below)
                    broadcast = broadcast or any(
                        s == 0 and n > 1 for n, s in zip(leaf.shape, leaf.strides, strict=True))
                layout.append((leaf.shape, leaf.dtype, leaf.strides))  # layouts steer numpy
            else:
                fixed.append(leaf)  # numbers and the like are part of the key
        static_values = [args[i] for i in self._static_sorted if i < len(args)]
        static_values += [(k, kwargs[k]) for k in self._static_names_sorted if k in kwargs]
        try:
            key = (treedef, tuple(layout), _key_of(fixed), _key_of(static_values), len(args))
        except TypeError:  # something unhashable we cannot key on: run eagerly
            key = None  # (_key_of hashes every fixed and static value; the rest always hashes)
        if broadcast:  # a variable made from it is a copy in another layout than the view
            key = None  # the program would read: not bit for bit, so run eagerly

        def call(array_values: list[np.ndarray]) -> Any:
            values = iter(array_values)
            new_leaves = [Tensor._make(next(values), None) if _is_array(leaf) else leaf
                          for leaf in leaves]
            dyn_args, dyn_kwargs = unflatten(treedef, new_leaves)
            full = list(args)
            for i, a in zip([i for i in range(len(args)) if i not in static], dyn_args,
                            strict=True):
                full[i] = a
            return self.f(*full, **{**kwargs, **dyn_kwargs})

        if not traced and any(type(v) not in _SCALARS for v in static_values):
            traced = any(isinstance(x, Tensor) and x.node is not None
                         for x in flatten(static_values)[0])
        return arrays, call, key, traced

    def lower(self, *args: Any, **kwargs: Any) -> Program:
        """The program for these arguments (recorded now if it is not cached yet)."""
        arrays, call, key, _ = self._split(args, kwargs)
        return self._program(arrays, call, key)

    def _program(self, arrays: list[np.ndarray], call: Callable, key: Any) -> Program:
        """The cached program for ``key``, recorded and cached on first use."""
        program = self.programs.get(key) if key is not None else None
        if program is None:
            program = self._compile(arrays, call)
            if key is not None:
                self.programs[key] = program
        return program

    def _compile(self, arrays: list[np.ndarray], call: Callable) -> Program:
        rec = _Recorder(arrays)
        with recording.set(jit=rec):
            result = call(arrays)
        if rec.untraceable:
            raise JitError(
                f"jit: the VJP rules of {', '.join(sorted(rec.untraceable))} compute with "
                f"numpy on values outside tinymeta ops, which a recorded program would freeze "
                f"on this first call's data; run this function without jit")
        out_leaves, out_tree = flatten(result)
        kinds = ["tensor" if isinstance(o, Tensor) else "value" for o in out_leaves]
        values = [o._value if isinstance(o, Tensor) else o for o in out_leaves]
        for o in out_leaves:
            if isinstance(o, Tensor) and o.node is not None:
                raise JitError("jit: the function returned a tensor that is being "
                               "differentiated; return values, or jit the gradient itself")
        source, namespace, shared = _generate(rec, arrays, values)
        program = Program(source, namespace, out_tree, kinds, shared)
        self._verify(program, arrays, call)
        return program

    def _verify(self, program: Program, arrays: list[np.ndarray], call: Callable) -> None:
        """Eager and program agree on other arguments, or the program is refused."""
        other = _perturbed(arrays, np.random.default_rng(12345))
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            try:
                expected = flatten(call(other))[0]
            except Exception:  # noqa: BLE001  (the eager function fails there: nothing to check)
                return
            got = flatten(program(other))[0]
        if len(got) != len(expected) or not all(
                _same(a, b) for a, b in zip(got, expected, strict=True)):
            raise JitError(
                "jit: the recorded program differs from the function on other arguments: the "
                "function computes on its arguments' values outside tinymeta ops (numpy on raw "
                "values), or its control flow depends on them. Use tinymeta ops, or make those "
                "arguments static (tm.jit(f, static_argnums=...)); run it without jit meanwhile")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if recording.jit is not None:
            return self.f(*args, **kwargs)  # inside another recording: it sees our ops
        arrays, call, key, traced = self._split(args, kwargs)
        if traced:
            return self.f(*args, **kwargs)  # differentiated: the outer transform sees our ops
        if key is None:
            return call(arrays)  # nothing to key a cache on
        return self._program(arrays, call, key)(arrays)


def jit(f: Callable, static_argnums: int | tuple[int, ...] = (),
        static_argnames: str | tuple[str, ...] = ()) -> Callable:
    """Compile ``f`` into straight-line numpy per argument key (see the module docstring).

    ``static_argnums`` / ``static_argnames``: arguments whose *values* key the cache
    (numbers, strings, flags). Array arguments are keyed by shape, dtype and strides
    (a broadcast view, with a zero stride, runs eagerly);
    other non-array leaves (Python numbers) by value.
    """
    if not callable(f):
        raise TypeError(f"jit: expected a function, got {type(f).__name__}")
    nums = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)
    names = (static_argnames,) if isinstance(static_argnames, str) else tuple(static_argnames)
    return _Jitted(f, nums, names)
