"""Fitting the SOAP kernel force field by Bayesian linear regression (BLR) with evidence maximisation.

Following Sharma, Kumar, Suryanarayana (arXiv:2408.07554; SPARC's MLFF), the model
E = Σ_i Σ_w α_w k(p_i, p_w) + Σ_i μ_{z_i} is linear in the weights α, so every label is a row
of a design matrix Φ:

    energy of structure s (per atom):  Φ_{s,w}      = (1/N_s) Σ_{i∈s} k(p_i, p_w)
    force component (i, c):            Φ_{(i,c),w}  = −∂/∂r_ic Σ_{i'} k(p_i', p_w)       (autograd)

Rows are multiplied by ``energy_weight`` and ``force_weight``; the per-species shift μ is fitted
first by least squares on the composition and subtracted.  With a Gaussian prior α ~ N(0, a⁻¹ I)
and noise precision b (Bishop, PRML §3.3–3.5; MacKay 1992), the posterior is

    S = (a I + b ΦᵀΦ)⁻¹,      m = b S Φᵀ y,

and the hyper-parameters maximise the evidence by MacKay's fixed-point iterations

    γ = Σ_k λ_k / (λ_k + a)  (λ_k eigenvalues of b ΦᵀΦ),   a ← γ / mᵀm,   b ← (M − γ) / |y − Φ m|².

The predictive variance of a new structure's energy, σ²(E) = N²/b_E + φ*ᵀ S φ* (φ* = Σ_i k(p_i, ·)),
flags environments unlike the training set: the point of BLR for on-the-fly training.
SOAP: Bartók, Kondor, Csányi, PRB 87, 184115 (2013).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
from ase import Atoms

from ..errors import InputError
from ..graph import check_atoms
from ..models.output import ForceStressOutput
from .blr import BLRResult, bayesian_linear_regression, blr_from_factor  # noqa: F401 (public here too)
from .model import KernelConfig, KernelEnergyModel
from .rows import kernel_rows  # noqa: F401 (kernel_rows: public here too)
from .training_set import KernelTrainingSet


def check_frames(frames: Sequence[Atoms], species: Sequence[str], what: str = "frame") -> None:
    """Raise :class:`InputError` naming the first structure the kernel model cannot describe (no atoms,
    non-finite positions, or an element outside ``species``: the model's species index would be −1)."""
    for index, atoms in enumerate(frames):
        try:
            check_atoms(atoms, species)
        except InputError as error:
            raise InputError(f"{what} {index}: {error}") from None


def _composition(frames: Sequence[Atoms], species: list[str]) -> np.ndarray:
    return np.array([[np.sum(np.array(a.get_chemical_symbols()) == s) for s in species] for a in frames], float)


def fit_kernel_model(
    frames: Sequence[Atoms],
    config: KernelConfig | None = None,
    energy_weight: float = 1.0,
    force_weight: float = 1.0,
    n_representative: int | None = None,
    regularisation: float | None = None,
    alpha: float | None = None,
    beta: float | None = None,
    seed: int = 0,
    selection: str = "fps",
) -> ForceStressOutput:
    """Fit the SOAP kernel model to ``frames`` (ase.Atoms with energies and forces attached).

    Representative environments: chosen among the SOAP vectors of all training atoms, per species in
    proportion to its atom count, by ``selection`` ("fps": farthest-point sampling, "cur": CUR,
    "random"; :mod:`ase_relaxed.kernel.sparsify`).  Weights: BLR posterior mean, with
    (α, β) from evidence maximisation unless ``regularisation`` (α/β) or both ``alpha`` and
    ``beta`` are given.  Returns a ``ForceStressOutput`` in eval mode; ``model.training_info``
    holds the hyper-parameters, iterations, log evidence and training RMSEs.
    One call of :class:`~ase_relaxed.kernel.training_set.KernelTrainingSet` (the incremental form).
    """
    config = KernelConfig() if config is None else KernelConfig.from_dict(config.to_dict())
    if n_representative is not None:
        config.n_representative = int(n_representative)
    frames = list(frames)
    check_frames(frames, config.species)
    training = KernelTrainingSet(config, energy_weight, force_weight, selection, seed)
    training.extend(frames)
    return training.fit(reselect=True, alpha=alpha, beta=beta, regularisation=regularisation)


def predict_with_uncertainty(
    model: ForceStressOutput | KernelEnergyModel, images: Atoms | Sequence[Atoms]
) -> list[dict]:
    """Energy and BLR predictive std of each structure.

    Returns dicts with ``energy`` (eV), ``energy_std`` (predictive, noise + model), ``energy_std_model``
    (the epistemic part √(φ*ᵀ S φ*), which grows for environments unlike the training set) and
    ``energy_std_per_atom`` (energy_std / N).
    """
    energy_model = model.energy_model if isinstance(model, ForceStressOutput) else model
    images = [images] if isinstance(images, Atoms) else list(images)
    check_frames(images, energy_model.config.species, "image")
    dtype = energy_model.weights.dtype
    covariance = energy_model.predictive_covariance.to(dtype)
    noise_variance = 1.0 / float(energy_model.noise_precision)
    out = []
    for atoms in images:
        with torch.no_grad():
            phi, _ = kernel_rows(energy_model, atoms, forces=False)
            shift = energy_model.energy_shift[energy_model.species_index(torch.as_tensor(atoms.numbers))].sum()
        n = len(atoms)
        model_var = float(phi @ covariance @ phi)
        std = math.sqrt(max(model_var, 0.0) + n * n * noise_variance)
        out.append({
            "energy": float(phi @ energy_model.weights.detach() + shift),
            "energy_std": std,
            "energy_std_model": math.sqrt(max(model_var, 0.0)),
            "energy_std_per_atom": std / n,
        })
    return out
