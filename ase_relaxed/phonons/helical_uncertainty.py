"""Helical phonons with error bars from the kernel model's Bayesian posterior.

The kernel model's forces are linear in its weights, F = Φ_F(R) α (Sharma, Kumar & Suryanarayana,
arXiv:2408.07554), so the central-difference force constants of the helical route (:mod:`.helical`) are too:

    Φ(a0, j) = −[F_j(R + h e_a) − F_j(R − h e_a)] / 2h = −[Φ_F(R + h e_a) − Φ_F(R − h e_a)] α / 2h.

Drawing α^(s) ~ N(m, S) from the regression posterior (:func:`~ase_relaxed.kernel.rows_calculator.
posterior_weight_samples`) gives force constants Φ^(s) and Γ frequencies ω^(s)_k; the 12 displaced
geometries are the same for every draw, so their rows are computed once and each draw costs a matrix
product and a 6 × 6 diagonalisation per (η, μ). Each mode k is reported as ω_k (the posterior mean's
frequency) ± σ_k, the standard deviation of the sorted ω^(s)_k. The geometry (relaxed domain and period) is
the posterior mean's; σ is the epistemic spread of the curvature at that geometry, not of the geometry.

>>> # result = helical_phonons_with_error_bars(6, 6, load_model("carbon-gfn1-kernel"), n_samples=64)
>>> # result.gamma_frequencies, result.gamma_std        # cm⁻¹
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..kernel.rows_calculator import KernelRowsCalculator, posterior_weight_samples
from ..models.output import ForceStressOutput
from .force_constants import apply_acoustic_sum_rule, symmetrize
from .helical import HelicalPhonons, _force_constants, helical_phonons

__all__ = ["HelicalPhononsPosterior", "calibration", "helical_phonons_with_error_bars"]


@dataclass(eq=False)
class HelicalPhononsPosterior:
    """The posterior mean's :class:`HelicalPhonons` (``mean``) and the Γ frequencies of every draw (cm⁻¹)."""

    mean: HelicalPhonons
    gamma_samples: np.ndarray  # (n_samples, modes), each row sorted

    @property
    def gamma_frequencies(self) -> np.ndarray:
        return self.mean.gamma_frequencies

    @property
    def gamma_std(self) -> np.ndarray:
        """σ of every sorted Γ mode over the posterior draws (cm⁻¹)."""
        return self.gamma_samples.std(axis=0, ddof=1) if len(self.gamma_samples) > 1 else \
            np.zeros(self.gamma_samples.shape[1])


def helical_phonons_with_error_bars(n: int, m: int, model: ForceStressOutput, n_samples: int = 64, seed: int = 0,
                                    displacement: float = 0.01, acoustic_sum_rule: bool = True, symbol: str = "C",
                                    **helical_options) -> HelicalPhononsPosterior:
    """Helical phonons of tube (n, m) with the kernel ``model``, and ``n_samples`` posterior draws of them.

    ``helical_options`` go to :func:`~ase_relaxed.phonons.helical.helical_phonons` (``relax``, ``fmax``,
    ``n_cells``, ``line_group``, ``relax_period`` ...).
    """
    if not hasattr(getattr(model, "energy_model", None), "posterior_covariance"):
        raise InputError("phonon error bars need a kernel model (its weight posterior); this is a graph network")
    if int(n_samples) < 2:
        raise InputError(f"error bars need at least 2 posterior samples, got {n_samples!r}")
    rows: dict = {}
    mean = helical_phonons(n, m, KernelRowsCalculator(model, shared_rows=rows, uncertainty=False),
                           displacement=displacement, acoustic_sum_rule=acoustic_sum_rule, symbol=symbol,
                           **helical_options)
    rows.clear()  # keep only the 12 displaced geometries of the draws
    gammas = []
    for weights in posterior_weight_samples(model, n_samples, seed):
        calc = KernelRowsCalculator(model, weights=weights, shared_rows=rows, uncertainty=False)
        fc, count = _force_constants(mean.line_group, calc, mean.n_cells, displacement, symbol)
        fc = apply_acoustic_sum_rule(fc) if acoustic_sum_rule else symmetrize(fc)
        gammas.append(HelicalPhonons(fc, count, mean.n_cells).gamma_frequencies)
    return HelicalPhononsPosterior(mean, np.array(gammas))


def calibration(predicted: np.ndarray, std: np.ndarray, reference: np.ndarray, min_frequency: float = 1.0) -> dict:
    """How often the reference lies within 1σ and 2σ of the prediction, over modes above ``min_frequency``.

    Returns ``within_1sigma``, ``within_2sigma`` (fractions; a calibrated Gaussian gives 0.683 and 0.954),
    ``n_modes``, ``rms`` and ``mean_std`` (cm⁻¹).

    >>> calibration(np.array([100.0, 200.0]), np.array([5.0, 5.0]), np.array([103.0, 212.0]))["within_1sigma"]
    0.5
    """
    predicted, std, reference = (np.asarray(x, dtype=float) for x in (predicted, std, reference))
    if not predicted.shape == std.shape == reference.shape:
        raise InputError(f"shapes differ: predicted {predicted.shape}, std {std.shape}, reference {reference.shape}")
    keep = np.abs(reference) > min_frequency
    error = np.abs(predicted - reference)[keep]
    sigma = std[keep]
    return {"within_1sigma": float(np.mean(error <= sigma)), "within_2sigma": float(np.mean(error <= 2 * sigma)),
            "n_modes": int(keep.sum()), "rms": float(np.sqrt(np.mean(error**2))), "mean_std": float(sigma.mean())}
