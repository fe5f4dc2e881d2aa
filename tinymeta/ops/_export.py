"""``export``: the word that makes an op public.

An op is declared in one statement, and ``export`` in that statement is what
publishes it: over a wrapper function, over a ``@primitive(...)`` declaration, or
around a ``Primitive(...).defvjp(...)`` call,

    @export
    def tensordot(a, b, axes=2): ...

    exp = export(Primitive("exp", np.exp).defvjp(lambda g, ans, x: multiply(g, ans)))

records the op in ``EXPORTED`` (name -> op, in declaration order) and returns it
unchanged. ``tinymeta.ops`` builds its ``__all__`` from that registry, so an op is
``tm.<name>`` (and a ``Tensor`` method where numpy arrays have one) exactly when its
declaration says ``export``: there is no list of names to keep in step with the code.
"""

from __future__ import annotations

import sys
from typing import Any

EXPORTED: dict[str, Any] = {}  # public name -> op, in declaration order
DECLARED_IN: dict[str, str] = {}  # public name -> the module that declares it (docs group by it)


def export(op: Any, name: str | None = None) -> Any:
    """Record ``op`` as public under ``name`` (default: its own ``__name__``); return it."""
    name = name or op.__name__
    EXPORTED[name] = op
    DECLARED_IN[name] = sys._getframe(1).f_globals["__name__"]  # the declaring statement's module
    return op


def exported_by(module: Any) -> list[str]:
    """The public names ``module`` declares, in declaration order."""
    return [name for name, home in DECLARED_IN.items() if home == module.__name__]
