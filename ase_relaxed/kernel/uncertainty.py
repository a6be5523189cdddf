"""Per-atom force uncertainties of the kernel model from its Bayesian-linear-regression posterior.

Forces are linear in the weights α (Sharma, Kumar, Suryanarayana, arXiv:2408.07554; SPARC's MLFF),
F_ic = φ_icᵀ α with φ_ic = −∂/∂r_ic Σ_i' k(p̂_i', ·) the force row of component (i, c).  With the
posterior α ~ N(m, S) and the fitted force-noise precision β_F, the predictive variance of a component is

    σ²_ic = κ² φ_icᵀ S φ_ic  (+ 1/β_F  for the predictive, not only the model, part),

with κ the model's ``posterior_scale`` (1 unless the model was calibrated on out-of-sample errors; the
posterior of BLR, which takes a frame's 3N force rows as independent, is too narrow). It is
the quantity SPARC thresholds ("the largest Bayesian force error") to decide on a reference call.
:func:`force_std` returns σ (n, 3) in eV/Å: the calculator hook ``results["forces_std"]`` is one call.

>>> from ase.build import nanotube
>>> from ase_relaxed.kernel.model import KernelConfig, build_kernel_model
>>> model = build_kernel_model(KernelConfig(n_representative=3, cutoff=4.0, n_max=3, l_max=2))
>>> force_std(model, nanotube(5, 0, length=1)).shape   # S = 0 here: only the noise, 1/√β_F = 1
(20, 3)
"""

from __future__ import annotations

import numpy as np
import torch
from ase import Atoms

from ..models.output import ForceStressOutput

__all__ = ["force_std", "force_std_from_rows"]


def force_std_from_rows(rows: np.ndarray | torch.Tensor, covariance: np.ndarray | torch.Tensor,
                        noise_precision: float | None) -> np.ndarray:
    """σ of every force component from its rows (3n, W): √(diag(Φ S Φᵀ) + 1/β_F), shape (n, 3).

    ``noise_precision=None`` gives the model (epistemic) part only.
    """
    rows = torch.as_tensor(rows, dtype=torch.float64)
    covariance = torch.as_tensor(covariance, dtype=torch.float64)
    variance = ((rows @ covariance) * rows).sum(dim=1).clamp_min(0.0)
    if noise_precision is not None:
        variance = variance + 1.0 / float(noise_precision)
    return variance.sqrt().reshape(-1, 3).numpy()


def force_std(model: ForceStressOutput, atoms: Atoms, include_noise: bool = True) -> np.ndarray:
    """Per-atom force standard deviations σ_ic (n, 3), eV/Å, of a kernel model at ``atoms``.

    ``include_noise``: add the fitted noise variance 1/β_F (predictive σ, the one to calibrate against
    reference forces); without it, only the posterior part √(φᵀSφ), which grows away from the training data.
    """
    from .rows import kernel_rows

    energy_model = model.energy_model if isinstance(model, ForceStressOutput) else model
    with torch.no_grad():
        _, rows = kernel_rows(energy_model, atoms)
    noise = float(energy_model.force_noise_precision) if include_noise else None
    return force_std_from_rows(rows, energy_model.predictive_covariance, noise)
