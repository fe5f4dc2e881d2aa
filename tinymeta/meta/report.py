"""The Jacobian report: every factor of MAML's chain rule, as full matrices, with the engine.

MAML adapts with k inner SGD steps and differentiates the query loss at θ_k:

    θ₀ = θ,   θᵢ = θᵢ₋₁ − α∇L(θᵢ₋₁),
    ∇_θ L_query(θ_k) = (∂θ₀/∂θ)ᵀ (∂θ₁/∂θ₀)ᵀ ··· (∂θ_k/∂θ_{k−1})ᵀ ∇L_query(θ_k)

On a network small enough to print (1→3→1 tanh, 10 numbers) this module
computes each factor with the engine and checks it two ways:

    ∂θ₀/∂θ           ``tm.jacobian`` of θ ↦ θ₀ — the identity, because θ₀ *is* θ
    Jᵢ = ∂θᵢ/∂θᵢ₋₁   ``tm.jacobian`` of one inner step, at θᵢ₋₁
    I − αHᵢ          with Hᵢ = ∇²L(θᵢ₋₁) from ``tm.hessian``; Jᵢ must equal it
    J_k ··· J₁       against ``tm.jacobian`` of the whole inner loop θ ↦ θ_k

and then the two meta-gradients: MAML's, which keeps every factor, and
FOMAML's, which replaces every factor by I (it is ∇L_query(θ_k) alone). Their
difference is exactly the term FOMAML drops.

``reptile_view`` checks Nichol et al. (2018, §5) numerically: to leading order
in α, MAML's gradient is AvgGrad − 2α·AvgGradInner and FOMAML's is
AvgGrad − α·AvgGradInner, so FOMAML keeps half of the AvgGradInner term.

This module uses only the engine and the rest of ``tinymeta.meta`` (it draws
nothing); ``tinymeta.viz`` re-exports its names for the pictures' users.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

import tinymeta as tm
from tinymeta.meta.algorithms import adapt, maml_objective, task_loss
from tinymeta.meta.tasks import Sinusoid
from tinymeta.nn import mlp_init

__all__ = [
    "JacobianReport", "jacobian_report", "ReptileView", "reptile_view", "FlatModel",
    "small_problem", "SIZES", "SHOTS", "ACTIVATION", "OneParameterRow", "one_parameter_loss",
    "one_parameter_table", "one_parameter_text",
]


# ---------------------------------------------------------------- θ as one vector
@dataclass(frozen=True)
class FlatModel:
    """An MLP whose parameters are one flat vector, so Jacobians are plain matrices."""

    shapes: dict[str, tuple[int, ...]]

    @classmethod
    def like(cls, params: dict[str, np.ndarray]) -> FlatModel:
        return cls({k: np.shape(v) for k, v in params.items()})

    @property
    def size(self) -> int:
        return sum(int(np.prod(s)) for s in self.shapes.values())

    def names(self) -> list[str]:
        """A name per coordinate: ``w0[0,2]``, ``b1[0]``."""
        out = []
        for k, s in self.shapes.items():
            out += [f"{k}[{','.join(map(str, i))}]" for i in np.ndindex(*s)]
        return out

    def flatten(self, params: dict[str, Any]) -> Any:
        """The vector θ, with tensor ops (so it can be differentiated)."""
        return tm.concatenate([tm.reshape(params[k], (-1,)) for k in self.shapes])

    def unflatten(self, theta: Any) -> dict[str, Any]:
        out, start = {}, 0
        for k, s in self.shapes.items():
            n = int(np.prod(s))
            out[k] = tm.reshape(theta[start:start + n], s)
            start += n
        return out

    def numpy(self, params: dict[str, Any]) -> np.ndarray:
        return np.concatenate([np.asarray(params[k], dtype=float).ravel() for k in self.shapes])


def _vector(x: Any) -> np.ndarray:
    return np.array(np.asarray(x), dtype=float)


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    denom = np.linalg.norm(a) * np.linalg.norm(b)
    return float(a @ b / denom) if denom else float("nan")


# ---------------------------------------------------------------- the report
@dataclass
class JacobianReport:
    """Every factor of ∂θ_k/∂θ and both meta-gradients, for one small task (see module doc)."""

    sizes: tuple[int, ...]
    activation: str
    inner_lr: float
    inner_steps: int
    names: list[str]
    thetas: list[np.ndarray]  # θ₀ … θ_k
    d_theta0_d_theta: np.ndarray  # ∂θ₀/∂θ = I
    jacobians: list[np.ndarray]  # Jᵢ = ∂θᵢ/∂θᵢ₋₁ (tm.jacobian)
    hessians: list[np.ndarray]  # Hᵢ = ∇²L_support(θᵢ₋₁) (tm.hessian)
    identity_minus_hessians: list[np.ndarray]  # I − αHᵢ
    jacobian_errors: list[float]  # max |Jᵢ − (I − αHᵢ)|
    product: np.ndarray  # J_k ··· J₁ = ∂θ_k/∂θ
    product_error: float  # against tm.jacobian of the whole inner loop
    query_gradient: np.ndarray  # ∇L_query(θ_k)
    maml_gradient: np.ndarray
    fomaml_gradient: np.ndarray
    chain_rule_error: float  # max |MAML − productᵀ ∇L_query(θ_k)|, |FOMAML − ∇L_query(θ_k)|
    reptile: ReptileView | None = field(default=None, repr=False)

    @property
    def max_jacobian_error(self) -> float:
        return max(self.jacobian_errors, default=0.0)

    @property
    def identity_error(self) -> float:
        return float(np.max(np.abs(self.d_theta0_d_theta - np.eye(len(self.names)))))

    @property
    def dropped(self) -> np.ndarray:
        """MAML − FOMAML = (J₁ᵀ···J_kᵀ − I) ∇L_query(θ_k): the second-order terms."""
        return self.maml_gradient - self.fomaml_gradient

    @property
    def dropped_norm_ratio(self) -> float:
        return float(np.linalg.norm(self.dropped) / np.linalg.norm(self.maml_gradient))

    @property
    def cosine(self) -> float:
        return _cosine(self.maml_gradient, self.fomaml_gradient)

    @property
    def step_norms(self) -> list[float]:
        """‖αHᵢ‖₂ for each inner step: how far each factor Jᵢ = I − αHᵢ is from I."""
        return [float(np.linalg.norm(self.inner_lr * h, 2)) for h in self.hessians]

    @property
    def product_deviation(self) -> float:
        """‖J_k ··· J₁ − I‖₂: how far FOMAML's I is from the whole chain of factors."""
        return float(np.linalg.norm(self.product - np.eye(len(self.names)), 2))

    @property
    def deviation_bound(self) -> float:
        """∏(1 + ‖αHᵢ‖₂) − 1 ≥ ‖∏(I − αHᵢ) − I‖₂ (expand the product; bound each term)."""
        return float(np.prod([1 + n for n in self.step_norms]) - 1)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready numbers (matrices as nested lists)."""
        d = {
            "inner_steps": self.inner_steps, "inner_lr": self.inner_lr,
            "sizes": list(self.sizes), "activation": self.activation,
            "num_params": len(self.names),
            "max_jacobian_error": self.max_jacobian_error,
            "dropped_norm_ratio": self.dropped_norm_ratio,
            "cosine": self.cosine,
            "step_norms": self.step_norms,
            "product_deviation": self.product_deviation,
            "deviation_bound": self.deviation_bound,
            "identity_error": self.identity_error,
            "jacobian_errors": self.jacobian_errors,
            "product_error": self.product_error,
            "chain_rule_error": self.chain_rule_error,
            "maml_gradient_norm": float(np.linalg.norm(self.maml_gradient)),
            "fomaml_gradient_norm": float(np.linalg.norm(self.fomaml_gradient)),
            "dropped_norm": float(np.linalg.norm(self.dropped)),
            "names": self.names,
            "maml_gradient": self.maml_gradient.tolist(),
            "fomaml_gradient": self.fomaml_gradient.tolist(),
            "dropped": self.dropped.tolist(),
            "jacobians": [j.tolist() for j in self.jacobians],
            "product": self.product.tolist(),
        }
        if self.reptile is not None:
            d["reptile_view"] = self.reptile.to_dict()
        return d

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def __repr__(self) -> str:  # the dataclass's would print every matrix
        return (f"<JacobianReport: MLP {'→'.join(map(str, self.sizes))} ({self.activation}), "
                f"k = {self.inner_steps}, α = {self.inner_lr:g}, ‖dropped‖/‖MAML‖ = "
                f"{self.dropped_norm_ratio:.4f}, cosine = {self.cosine:.6f}>")

    def _repr_html_(self) -> str:
        """Jupyter shows the report as ``text()`` prints it."""
        text = self.text().replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        return f"<pre style='font-size: 12px'>{text}</pre>"

    def text(self, precision: int = 3) -> str:
        """The report for a terminal: matrices, checks and the meta-gradients."""
        n = len(self.names)

        def mat(m: np.ndarray) -> str:
            return np.array2string(m, precision=precision, suppress_small=True,
                                   max_line_width=160, floatmode="fixed")

        sub = _sub
        sizes = "→".join(map(str, self.sizes))
        lines = [
            f"Jacobian report: MLP {sizes} ({self.activation}), {n} parameters, "
            f"k = {self.inner_steps} inner step{'s' * (self.inner_steps != 1)}, "
            f"α = {self.inner_lr:g}",
            "θ₀ = θ,  θᵢ = θᵢ₋₁ − α∇L(θᵢ₋₁);  coordinates: " + " ".join(self.names),
            "",
            f"∂θ₀/∂θ (tm.jacobian of θ ↦ θ₀): the identity, max |∂θ₀/∂θ − I| = "
            f"{self.identity_error:.1e}",
            "  θ₀ is θ itself: adaptation starts from the meta-parameters unchanged.",
        ]
        for i, (j, h, e) in enumerate(zip(self.jacobians, self.hessians,
                                                   self.jacobian_errors, strict=True), start=1):
            lines += [
                "",
                f"J{sub(i)} = ∂θ{sub(i)}/∂θ{sub(i - 1)} (tm.jacobian of one inner step at "
                f"θ{sub(i - 1)}):",
                mat(j),
                f"  I − αH{sub(i)} with H{sub(i)} = ∇²L(θ{sub(i - 1)}) from tm.hessian: "
                f"max |J{sub(i)} − (I − αH{sub(i)})| = {e:.1e};  ‖αH{sub(i)}‖₂ = "
                f"{np.linalg.norm(self.inner_lr * h, 2):.3g}",
            ]
        chain = " ".join(f"J{sub(i)}" for i in range(self.inner_steps, 0, -1))
        lines += [
            "",
            f"∂θ_k/∂θ = {chain} (product):",
            mat(self.product),
            f"  against tm.jacobian of the whole inner loop: max difference "
            f"{self.product_error:.1e}",
            f"  ‖∂θ_k/∂θ − I‖₂ = {self.product_deviation:.4f} ≤ ∏(1 + ‖αHᵢ‖₂) − 1 = "
            f"{self.deviation_bound:.4f}  (FOMAML replaces ∂θ_k/∂θ by I)",
            "",
            f"{'':14}" + " ".join(f"{nm:>9}" for nm in self.names),
            f"{'MAML':<14}" + " ".join(f"{v:9.4f}" for v in self.maml_gradient),
            f"{'FOMAML':<14}" + " ".join(f"{v:9.4f}" for v in self.fomaml_gradient),
            f"{'dropped':<14}" + " ".join(f"{v:9.4f}" for v in self.dropped),
            "",
            "MAML   = (∂θ_k/∂θ)ᵀ ∇L_query(θ_k);  FOMAML = ∇L_query(θ_k) (every Jᵢ taken as I);",
            f"  both against the engine's meta-gradients: max difference "
            f"{self.chain_rule_error:.1e}",
            f"dropped = MAML − FOMAML:  ‖dropped‖ / ‖MAML‖ = {self.dropped_norm_ratio:.4f},  "
            f"cosine(MAML, FOMAML) = {self.cosine:.6f}",
        ]
        if self.reptile is not None:
            lines += ["", self.reptile.text()]
        return "\n".join(lines)


def _sub(i: int) -> str:
    return str(i).translate(str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉"))


# The one problem of the report, ``tinymeta explain``, ``tinymeta graph`` and the figures of
# docs/what-fomaml-drops.md: a 1→3→1 MLP (10 numbers, so every matrix prints) on one
# sinusoid task with 10 support and 10 query points, θ drawn with standard deviation 1.
SIZES = (1, 3, 1)
SHOTS = 10
ACTIVATION = "tanh"  # smooth, so finite differences of the inner loop cross no kink


def small_problem(sizes: Sequence[int] = SIZES, seed: int = 0, shots: int = SHOTS,
                  std: float = 1.0) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(θ, one sinusoid task with ``shots`` support and query points): the report's problem,
    which is also the pictures' (``tinymeta.viz.meta_problem`` is this function)."""
    params = mlp_init(list(sizes), seed=seed, std=std)
    return params, Sinusoid().sample(1, shots, shots, rng=seed)


def jacobian_report(
    inner_steps: int = 2, inner_lr: float = 0.01, sizes: Sequence[int] = SIZES,
    activation: str = ACTIVATION, shots: int = SHOTS, seed: int = 0, std: float = 1.0,
    with_reptile: bool = True,
) -> JacobianReport:
    """Compute the report for one sinusoid task (``shots`` support and query points).

    θ is drawn with standard deviation ``std`` (larger than the MAML paper's 0.01, so the
    curvature terms are not vanishingly small on a network this size).
    """
    if inner_steps < 1:
        raise ValueError(f"jacobian_report: inner_steps must be >= 1, got {inner_steps}")
    params, batch = small_problem(sizes, seed, shots, std)
    model = FlatModel.like(params)
    n = model.size
    xs, ys = batch["x_support"][0], batch["y_support"][0]
    xq, yq = batch["x_query"][0], batch["y_query"][0]

    def theta_k(k: int) -> Callable[[Any], Any]:
        return lambda v: model.flatten(adapt(model.unflatten(v), xs, ys, inner_lr, k,
                                             activation=activation))

    def support_loss(v: Any) -> Any:
        return task_loss(model.unflatten(v), xs, ys, activation)

    def query_loss(v: Any) -> Any:
        return task_loss(model.unflatten(v), xq, yq, activation)

    def meta_objective(first_order: bool) -> Callable[[Any], Any]:
        return lambda v: maml_objective(model.unflatten(v), batch, inner_lr, inner_steps,
                                        first_order=first_order, batched=False,
                                        activation=activation)

    theta = model.numpy(params)
    d0 = _vector(tm.jacobian(theta_k(0))(theta))
    thetas = [theta]
    jacobians, hessians, errors = [], [], []
    for _ in range(inner_steps):
        prev = thetas[-1]
        j = _vector(tm.jacobian(theta_k(1))(prev))
        h = _vector(tm.hessian(support_loss)(prev))
        jacobians.append(j)
        hessians.append(h)
        errors.append(float(np.max(np.abs(j - (np.eye(n) - inner_lr * h)))))
        thetas.append(_vector(theta_k(1)(tm.tensor(prev))))
    product = np.eye(n)
    for j in jacobians:
        product = j @ product
    end_to_end = _vector(tm.jacobian(theta_k(inner_steps))(theta))
    q = _vector(tm.grad(query_loss)(thetas[-1]))
    maml = _vector(tm.grad(meta_objective(False))(theta))
    fomaml = _vector(tm.grad(meta_objective(True))(theta))
    chain = max(float(np.max(np.abs(maml - product.T @ q))),
                float(np.max(np.abs(fomaml - q))))
    return JacobianReport(
        tuple(sizes), activation, inner_lr, inner_steps, model.names(), thetas, d0, jacobians,
        hessians, [np.eye(n) - inner_lr * h for h in hessians], errors, product,
        float(np.max(np.abs(product - end_to_end))), q, maml, fomaml, chain,
        reptile_view(sizes=sizes, activation=activation, shots=shots, seed=seed, std=std)
        if with_reptile else None,
    )


# ---------------------------------------------------------------- the Reptile paper's view
@dataclass
class ReptileView:
    """Leading-order coefficients of AvgGradInner in the MAML and FOMAML gradients (k = 1).

    For each α: ``maml_coefficient`` ≈ −2 and ``fomaml_coefficient`` ≈ −1 (their ratio
    ``fomaml_share`` ≈ ½), with ``*_residual`` the relative size of the part of the O(α)
    correction not along AvgGradInner, which shrinks like α.
    """

    alphas: list[float]
    avg_grad_inner_norm: float
    maml_coefficient: list[float]
    fomaml_coefficient: list[float]
    fomaml_share: list[float]
    maml_residual: list[float]
    fomaml_residual: list[float]
    single_split_share: float  # the same ratio for one support/query split, not averaged

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def text(self) -> str:
        lines = [
            "Reptile paper's view (Nichol et al. 2018, §5), k = 1, averaged over both "
            "support/query orders:",
            "  MAML ≈ AvgGrad − 2α·AvgGradInner,  FOMAML ≈ AvgGrad − α·AvgGradInner,  "
            "AvgGradInner = ½∇(∇L_S · ∇L_Q)",
            "  correction c = (g(α) − ½(∇L_S + ∇L_Q)(θ)) / α, averaged over the two orders;",
            "  coef = c·A / ‖A‖² with A = AvgGradInner;  share = c_FOMAML·c_MAML / ‖c_MAML‖²;",
            "  residual = ‖c − coef·A‖ / ‖c‖ (the part of c not along A)",
            f"  ‖AvgGradInner‖ = {self.avg_grad_inner_norm:.4g}",
            f"  {'α':>8}  {'MAML coef':>10}  {'FOMAML coef':>11}  {'FOMAML share':>12}  "
            f"{'MAML resid':>10}  {'FOMAML resid':>12}",
        ]
        for a, m, f, s, r, rf in zip(self.alphas, self.maml_coefficient,
                                     self.fomaml_coefficient, self.fomaml_share,
                                     self.maml_residual, self.fomaml_residual, strict=True):
            lines.append(f"  {a:8.0e}  {m:10.5f}  {f:11.5f}  {s:12.5f}  {r:10.1e}  {rf:12.1e}")
        lines.append(f"  one split alone (no average over orders): FOMAML share "
                     f"{self.single_split_share:.3f} — the ½ holds in expectation")
        return "\n".join(lines)


def reptile_view(
    alphas: Sequence[float] = (1e-2, 1e-3, 1e-4), sizes: Sequence[int] = SIZES,
    activation: str = ACTIVATION, shots: int = SHOTS, seed: int = 0, std: float = 1.0,
) -> ReptileView:
    """Check that FOMAML keeps half of MAML's AvgGradInner term, to leading order in α.

    With one inner step on a support set S and the loss on a query set Q,

        MAML   = ∇L_Q(θ) − α(H_Q ∇L_S + H_S ∇L_Q) + O(α²)
        FOMAML = ∇L_Q(θ) − α H_Q ∇L_S + O(α²)

    (Hessians and gradients at θ). Averaging over the two orders (S, Q) and (Q, S) makes
    the sets exchangeable, as the paper's expectation over minibatches does, and turns
    both corrections into multiples of AvgGradInner = ½(H_Q ∇L_S + H_S ∇L_Q)
    = ½∇(∇L_S · ∇L_Q): −2 for MAML and −1 for FOMAML.
    """
    params, batch = small_problem(sizes, seed, shots, std)
    model = FlatModel.like(params)
    theta = model.numpy(params)
    sets = [(batch["x_support"], batch["y_support"]), (batch["x_query"], batch["y_query"])]

    def loss(x: np.ndarray, y: np.ndarray) -> Callable[[Any], Any]:
        return lambda v: task_loss(model.unflatten(v), x[0], y[0], activation)

    def grad_inner(v: Any) -> Any:
        return 0.5 * tm.vdot(tm.grad(loss(*sets[0]))(v), tm.grad(loss(*sets[1]))(v))

    g_inner = _vector(tm.grad(grad_inner)(theta))

    def corrections(alpha: float, s: int) -> tuple[np.ndarray, np.ndarray]:
        (xs, ys), (xq, yq) = sets[s], sets[1 - s]
        ordered = {"x_support": xs, "y_support": ys, "x_query": xq, "y_query": yq}
        base = _vector(tm.grad(loss(xq, yq))(theta))
        out = []
        for first_order in (False, True):
            g = _vector(tm.grad(lambda v, fo=first_order: maml_objective(
                model.unflatten(v), ordered, alpha, 1, first_order=fo, batched=False,
                activation=activation))(theta))
            out.append((g - base) / alpha)
        return out[0], out[1]

    norm2 = float(g_inner @ g_inner)
    rows: dict[str, list[float]] = {k: [] for k in ("m", "f", "s", "rm", "rf")}
    single = 0.0
    for alpha in alphas:
        (m0, f0), (m1, f1) = corrections(alpha, 0), corrections(alpha, 1)
        m, f = (m0 + m1) / 2, (f0 + f1) / 2
        cm, cf = float(m @ g_inner) / norm2, float(f @ g_inner) / norm2
        rows["m"].append(cm)
        rows["f"].append(cf)
        rows["s"].append(float(f @ m) / float(m @ m))
        rows["rm"].append(float(np.linalg.norm(m - cm * g_inner) / np.linalg.norm(m)))
        rows["rf"].append(float(np.linalg.norm(f - cf * g_inner) / np.linalg.norm(f)))
        single = float(f0 @ m0) / float(m0 @ m0)
    return ReptileView(list(alphas), float(np.sqrt(norm2)), rows["m"], rows["f"], rows["s"],
                       rows["rm"], rows["rf"], single)


# ---------------------------------------------------------------- one parameter, by hand
@dataclass
class OneParameterRow:
    """One (α, k) of the README's task L(w) = (2w − 3)², from w = 1."""

    alpha: float
    steps: int
    w_k: float  # w after k inner steps
    factor: float  # (1 − αL″)^k: every Jᵢ is the number 1 − αL″ = 1 − 8α
    fomaml: float  # L′(w_k), tm.grad with the inner gradient stopped
    maml: float  # tm.grad through the inner loop

    @property
    def same_direction(self) -> bool:
        return self.maml * self.fomaml > 0


def one_parameter_loss(w: Any) -> Any:
    """The README's one-parameter task: fit 2w ≈ 3. L′(w) = 8w − 12, L″ = 8."""
    return (2.0 * w - 3.0) ** 2


def one_parameter_table(alphas: Sequence[float] = (0.01, 0.1, 0.2), steps: Sequence[int] = (1, 2),
                        w: float = 1.0) -> list[OneParameterRow]:
    """MAML's and FOMAML's meta-gradients of L(w_k) for L(w) = (2w − 3)², with the engine.

    L″ = 8 everywhere, so each factor ∂wᵢ/∂wᵢ₋₁ = 1 − αL″ is the same number and
    MAML = FOMAML · (1 − αL″)^k *exactly*: FOMAML drops a factor, not a small term. For
    α = 0.2 that factor is −0.6 and, at k = 1, FOMAML points the wrong way.
    """
    loss = one_parameter_loss

    def adapted(v: Any, alpha: float, k: int, first_order: bool) -> Any:
        for _ in range(k):
            g = tm.grad(loss)(v)
            v = v - alpha * (tm.stop_gradient(g) if first_order else g)
        return loss(v)

    rows = []
    for alpha in alphas:
        for k in steps:
            w_k = w
            for _ in range(k):
                w_k = w_k - alpha * float(tm.grad(loss)(w_k).item())
            rows.append(OneParameterRow(
                alpha, k, w_k, (1 - 8 * alpha) ** k,
                float(tm.grad(adapted)(w, alpha, k, True).item()),
                float(tm.grad(adapted)(w, alpha, k, False).item())))
    return rows


def one_parameter_text(rows: Sequence[OneParameterRow] | None = None) -> str:
    """The table of ``one_parameter_table`` as Markdown (docs/what-fomaml-drops.md quotes it)."""
    rows = one_parameter_table() if rows is None else rows
    def num(x: float) -> str:
        return f"{x:.4f}".replace("-", "−")

    lines = [
        "| α | k | w_k | (1 − αL″)^k | FOMAML = L′(w_k) | MAML | same direction? |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r.alpha:g} | {r.steps} | {num(r.w_k)} | {num(r.factor)} | "
                     f"{num(r.fomaml)} | {num(r.maml)} | "
                     f"{'yes' if r.same_direction else '**no**'} |")
    return "\n".join(lines)
