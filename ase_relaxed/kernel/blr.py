"""Bayesian linear regression with evidence maximisation, from the data or from its triangular factor.

For y ≈ Φ w with a Gaussian prior w ~ N(0, a⁻¹ I) and noise precision b (Bishop, PRML §3.3–3.5;
MacKay, Neural Computation 4, 415 (1992)), the posterior is

    S = (a I + b ΦᵀΦ)⁻¹,      m = b S Φᵀ y,

and (a, b) maximise the evidence by MacKay's fixed-point iterations

    γ = Σ_k λ_k / (λ_k + a)  (λ_k eigenvalues of b ΦᵀΦ),   a ← γ / mᵀm,   b ← (M − γ) / |y − Φ m|².

Everything above needs only the triangular factor of the augmented design matrix, QR([Φ | y]) = [[R, z], [0, ρ]]:
with R = U Σ Vᵀ (λ_k = Σ_k², ζ = Uᵀz) the posterior mean is m = V (b Σ ζ / (b λ + a)) and

    |y − Φm|² = Σ_k ζ_k² (a / (b λ_k + a))² + ρ²,

with no difference of large numbers (forming ΦᵀΦ and yᵀy − 2mᵀΦᵀy + mᵀΦᵀΦm instead loses all precision when
a ≪ b λ, i.e. for the nearly collinear kernel columns of a real training set, and then evidence maximisation
drifts to a wrong optimum). :func:`blr_from_factor` works on that factor; a training set that grows one
reference call at a time (:mod:`.training_set`) updates it by one QR per frame (:func:`update_factor`) and
never keeps, or rebuilds, all of Φ.

>>> import numpy as np
>>> phi = np.random.default_rng(0).normal(size=(200, 3))
>>> y = phi @ np.array([1.0, -2.0, 0.5]) + 0.01 * np.random.default_rng(1).normal(size=200)
>>> np.round(bayesian_linear_regression(phi, y).mean, 2)
array([ 1. , -2. ,  0.5])
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["BLRResult", "bayesian_linear_regression", "blr_from_factor", "update_factor"]


@dataclass
class BLRResult:
    """Posterior mean ``mean``, covariance ``covariance``, precisions ``alpha`` (prior), ``beta`` (noise)."""

    mean: np.ndarray
    covariance: np.ndarray
    alpha: float
    beta: float
    iterations: int
    converged: bool
    log_evidence: float


def update_factor(factor: np.ndarray | None, rows: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """The (W+1) × (W+1) upper-triangular factor of [Φ | y] after appending ``rows`` (k, W) and ``targets`` (k,).

    ``factor=None`` starts from no rows. The factor's last diagonal entry is ±ρ, the least-squares residual norm.
    """
    block = np.hstack([np.asarray(rows, np.float64), np.asarray(targets, np.float64)[:, None]])
    stacked = block if factor is None else np.vstack([factor, block])
    r = np.linalg.qr(stacked, mode="r")
    size = block.shape[1]
    if r.shape[0] < size:  # fewer rows than columns so far: pad with zero rows
        r = np.vstack([r, np.zeros((size - r.shape[0], size))])
    return r


def blr_from_factor(
    factor: np.ndarray,
    n_rows: int,
    alpha: float | None = None,
    beta: float | None = None,
    regularisation: float | None = None,
    max_iter: int = 2000,
    tol: float = 1e-8,
) -> BLRResult:
    """Posterior of y ≈ Φ w from the triangular factor of [Φ | y] (:func:`update_factor`) and the row count M.

    ``alpha`` and ``beta`` both given: fixed.  ``regularisation`` λ given: α = λ β (ridge) with β
    the maximum-likelihood noise precision.  Otherwise MacKay's iterations from α = 1, β = M / yᵀy, until
    log α and log β change by less than ``tol``.
    """
    factor = np.asarray(factor, dtype=np.float64)
    r, z, rho2 = factor[:-1, :-1], factor[:-1, -1], float(factor[-1, -1] ** 2)
    u, singular, vt = np.linalg.svd(r)
    eigenvalues, zeta = singular**2, u.T @ z
    n_cols = r.shape[1]

    def posterior_mean(a: float, b: float) -> np.ndarray:
        return vt.T @ (b * singular * zeta / (b * eigenvalues + a))

    def residual_of(a: float, b: float) -> float:
        return max(float(np.sum((zeta * a / (b * eigenvalues + a)) ** 2)) + rho2, 1e-300)

    fixed = alpha is not None and beta is not None
    a = float(alpha) if alpha is not None else 1.0
    b = float(beta) if beta is not None else n_rows / max(float(z @ z) + rho2, 1e-300)
    iterations, converged = 0, fixed
    if not fixed:
        for iterations in range(1, max_iter + 1):
            if regularisation is not None:
                a = regularisation * b
            mean = posterior_mean(a, b)
            residual = residual_of(a, b)
            gamma = float(np.sum(b * eigenvalues / (b * eigenvalues + a)))
            if regularisation is not None:
                new_b = n_rows / residual
                new_a = regularisation * new_b
            else:
                new_a = gamma / max(float(mean @ mean), 1e-300)
                new_b = (n_rows - gamma) / residual
            change = max(abs(math.log(new_a / a)), abs(math.log(new_b / b)))
            a, b = new_a, new_b
            if change < tol:
                converged = True
                break
    mean = posterior_mean(a, b)
    covariance = (vt.T / (b * eigenvalues + a)) @ vt
    residual = residual_of(a, b)
    log_evidence = 0.5 * (
        n_cols * math.log(a) + n_rows * math.log(b) - b * residual - a * float(mean @ mean)
        - float(np.sum(np.log(b * eigenvalues + a))) - n_rows * math.log(2 * math.pi)
    )
    return BLRResult(mean, covariance, a, b, iterations, converged, log_evidence)


def bayesian_linear_regression(
    phi: np.ndarray,
    y: np.ndarray,
    alpha: float | None = None,
    beta: float | None = None,
    regularisation: float | None = None,
    max_iter: int = 2000,
    tol: float = 1e-8,
) -> BLRResult:
    """Posterior of y ≈ Φ w (Φ of shape (M, W)): :func:`blr_from_factor` on the QR factor of [Φ | y]."""
    phi = np.asarray(phi, dtype=np.float64)
    return blr_from_factor(update_factor(None, phi, y), phi.shape[0], alpha, beta, regularisation, max_iter, tol)
