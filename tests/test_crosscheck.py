"""Cross-check gradients, Hessians and a MAML meta-gradient against other engines.

Each reference (HIPS autograd, JAX, PyTorch) is used only if it is installed;
otherwise its tests are skipped with a reason. None of them is a dependency
of tinymeta: the finite-difference checks in test_ops.py are the real test,
this is an independent second opinion.

The same test functions are written once against a small numpy-like
namespace ``xp`` and run through each engine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

import tinymeta as tm


@dataclass
class Engine:
    xp: Any  # exp, log, sin, cos, tanh, sqrt, sum
    grad: Callable
    hessian: Callable
    asarray: Callable[[np.ndarray], Any]
    to_numpy: Callable[[Any], np.ndarray]


def _tinymeta() -> Engine:
    return Engine(tm, tm.grad, tm.hessian, np.asarray, lambda t: np.asarray(t.data))


def _autograd() -> Engine:
    autograd = pytest.importorskip("autograd", reason="HIPS autograd is not installed")
    import autograd.numpy as anp

    return Engine(anp, autograd.grad, autograd.hessian, np.asarray, np.asarray)


def _jax() -> Engine:
    jax = pytest.importorskip("jax", reason="JAX is not installed")
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    return Engine(jnp, jax.grad, jax.hessian, jnp.asarray, np.asarray)


def _torch() -> Engine:
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    from torch import func as torch_func

    xp = SimpleNamespace(exp=torch.exp, log=torch.log, sin=torch.sin, cos=torch.cos,
                         tanh=torch.tanh, sqrt=torch.sqrt, sum=torch.sum)
    return Engine(xp, torch_func.grad, torch_func.hessian,
                  lambda a: torch.as_tensor(a, dtype=torch.float64),
                  lambda t: t.detach().numpy())


REFERENCES = {"autograd": _autograd, "jax": _jax, "torch": _torch}


# ---------------------------------------------------------------- test functions
def mlp_loss(e: Engine, c: dict, x):
    xp = e.xp
    return xp.sum(xp.tanh(c["A"] @ x + c["b"]) ** 2)


def smooth_mix(e: Engine, c: dict, x):
    xp = e.xp
    return (xp.log(xp.sum(xp.exp(x))) + xp.sum(xp.sin(x) * xp.cos(x) ** 2)
            + xp.sum(xp.sqrt(x * x + 1.0) / (1.0 + xp.exp(-x))))


def maml_loss(e: Engine, c: dict, x):
    """One inner SGD step on a support loss, then a query loss: second order throughout."""
    xp = e.xp

    def support(y):
        return xp.sum(xp.tanh(c["A"] @ y) ** 2)

    adapted = x - 0.1 * e.grad(support)(x)
    return xp.sum((adapted - c["b"]) ** 2)


FUNCTIONS = {"mlp_loss": mlp_loss, "smooth_mix": smooth_mix, "maml_loss": maml_loss}


def constants(rng: np.random.Generator) -> tuple[dict, np.ndarray]:
    return {"A": rng.standard_normal((3, 3)), "b": rng.standard_normal(3)}, rng.standard_normal(3)


def run(e: Engine, name: str, transform: str, c: dict, x: np.ndarray) -> np.ndarray:
    cc = {k: e.asarray(v) for k, v in c.items()}
    f = FUNCTIONS[name]
    result = getattr(e, transform)(lambda v: f(e, cc, v))(e.asarray(x))
    return e.to_numpy(result)


@pytest.mark.parametrize("transform", ["grad", "hessian"])
@pytest.mark.parametrize("name", sorted(FUNCTIONS))
@pytest.mark.parametrize("reference", sorted(REFERENCES))
def test_against_reference_engine(reference, name, transform, rng):
    ref = REFERENCES[reference]()
    c, x = constants(rng)
    expected = run(ref, name, transform, c, x)
    got = run(_tinymeta(), name, transform, c, x)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)
