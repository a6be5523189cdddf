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
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from ase import Atoms

from .. import keys
from ..errors import InputError
from ..graph import check_atoms
from ..models.output import ForceStressOutput
from .model import KernelConfig, KernelEnergyModel, build_kernel_model
from .rows import _graph, kernel_rows  # noqa: F401 (kernel_rows: public here too)
from .sparsify import select_representatives


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


def bayesian_linear_regression(
    phi: np.ndarray,
    y: np.ndarray,
    alpha: float | None = None,
    beta: float | None = None,
    regularisation: float | None = None,
    max_iter: int = 500,
    tol: float = 1e-8,
) -> BLRResult:
    """Posterior of y ≈ Φ w: evidence maximisation over (α, β) unless they are given.

    ``alpha`` and ``beta`` both given: fixed.  ``regularisation`` λ given: α = λ β (ridge) with β
    the maximum-likelihood noise precision.  Otherwise MacKay's iterations from α = 1, β = 1/var(y).
    """
    phi = np.asarray(phi, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n_rows, n_cols = phi.shape
    gram = phi.T @ phi
    eigenvalues, vectors = np.linalg.eigh(gram)
    eigenvalues = np.clip(eigenvalues, 0.0, None)
    projected = vectors.T @ (phi.T @ y)

    def posterior_mean(a: float, b: float) -> np.ndarray:
        return vectors @ (b * projected / (b * eigenvalues + a))

    fixed = alpha is not None and beta is not None
    a = float(alpha) if alpha is not None else 1.0
    b = float(beta) if beta is not None else 1.0 / max(float(np.var(y)), 1e-300)
    iterations, converged = 0, fixed
    if not fixed:
        for iterations in range(1, max_iter + 1):
            if regularisation is not None:
                a = regularisation * b
            mean = posterior_mean(a, b)
            residual = float(np.sum((y - phi @ mean) ** 2))
            gamma = float(np.sum(b * eigenvalues / (b * eigenvalues + a)))
            if regularisation is not None:
                new_b = n_rows / max(residual, 1e-300)
                new_a = regularisation * new_b
            else:
                new_a = gamma / max(float(mean @ mean), 1e-300)
                new_b = (n_rows - gamma) / max(residual, 1e-300)
            change = max(abs(math.log(new_a / a)), abs(math.log(new_b / b)))
            a, b = new_a, new_b
            if change < tol:
                converged = True
                break
    mean = posterior_mean(a, b)
    covariance = (vectors / (b * eigenvalues + a)) @ vectors.T
    residual = float(np.sum((y - phi @ mean) ** 2))
    log_evidence = 0.5 * (
        n_cols * math.log(a) + n_rows * math.log(b) - b * residual - a * float(mean @ mean)
        - float(np.sum(np.log(b * eigenvalues + a))) - n_rows * math.log(2 * math.pi)
    )
    return BLRResult(mean, covariance, a, b, iterations, converged, log_evidence)


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
    """
    config = KernelConfig() if config is None else KernelConfig.from_dict(config.to_dict())
    if n_representative is not None:
        config.n_representative = int(n_representative)
    frames = list(frames)
    check_frames(frames, config.species)
    energies = np.array([a.get_potential_energy() for a in frames], float)
    composition = _composition(frames, config.species)
    shift, *_ = np.linalg.lstsq(composition, energies, rcond=None)
    config.energy_shift = [float(s) for s in shift]

    # representative environments from the descriptors of all training atoms
    probe = KernelEnergyModel(config).to(getattr(torch, config.dtype))
    descriptors, species = [], []
    with torch.no_grad():
        for atoms in frames:
            graph = _graph(atoms, config.cutoff, probe.weights.dtype)
            descriptors.append(probe.descriptor(graph))
            species.append(probe.species_index(graph[keys.ATOMIC_NUMBERS]))
    descriptors, species = torch.cat(descriptors), torch.cat(species)
    chosen: list[int] = []
    counts = torch.bincount(species, minlength=len(config.species)).tolist()
    for s, count in enumerate(counts):
        if count == 0:
            continue
        budget = max(1, round(config.n_representative * count / len(species)))
        members = torch.nonzero(species == s).flatten()
        chosen += members[select_representatives(descriptors[members], budget, selection, seed + s)].tolist()
    config.n_representative = len(chosen)
    model = build_kernel_model(config)
    energy_model: KernelEnergyModel = model.energy_model
    energy_model.representatives.copy_(descriptors[chosen])
    energy_model.representative_species.copy_(species[chosen])

    # design matrix: per-atom energies and forces, weighted
    rows, targets, is_energy = [], [], []
    for atoms, energy, counts_ in zip(frames, energies, composition):
        phi, force_rows = kernel_rows(energy_model, atoms)
        n = len(atoms)
        rows.append(energy_weight * phi.numpy()[None, :] / n)
        targets.append(np.array([energy_weight * (energy - counts_ @ shift) / n]))
        is_energy.append(np.ones(1, bool))
        if force_weight > 0:
            rows.append(force_weight * force_rows.numpy())
            targets.append(force_weight * atoms.get_forces().reshape(-1))
            is_energy.append(np.zeros(3 * n, bool))
    phi_all, y_all = np.concatenate(rows), np.concatenate(targets)
    result = bayesian_linear_regression(phi_all, y_all, alpha, beta, regularisation)

    dtype = energy_model.weights.dtype
    energy_model.weights.copy_(torch.as_tensor(result.mean, dtype=dtype))
    energy_model.posterior_covariance.copy_(torch.as_tensor(result.covariance, dtype=dtype))
    energy_model.noise_precision.fill_(result.beta * energy_weight**2)  # per-atom energy noise precision, eV⁻²
    energy_model.force_noise_precision.fill_(result.beta * force_weight**2)  # force-component noise, (eV/Å)⁻²
    energy_model.prior_precision.fill_(result.alpha)
    residual = y_all - phi_all @ result.mean
    n_energy = len(frames)
    energy_rows = np.concatenate(is_energy)
    model.training_info = {
        "method": "kernel-blr",
        "paper": "Sharma, Kumar, Suryanarayana, arXiv:2408.07554",
        "frames": n_energy,
        "n_representative": config.n_representative,
        "selection": selection,
        "energy_weight": energy_weight,
        "force_weight": force_weight,
        "alpha": result.alpha,
        "beta": result.beta,
        "evidence_iterations": result.iterations,
        "evidence_converged": result.converged,
        "log_evidence": result.log_evidence,
        "train_energy_rmse_per_atom": float(np.sqrt(np.mean(residual[energy_rows] ** 2))) / energy_weight,
        "train_force_rmse": (
            float(np.sqrt(np.mean(residual[~energy_rows] ** 2))) / force_weight if force_weight > 0 else None
        ),
    }
    return model


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
    covariance = energy_model.posterior_covariance.to(dtype)
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
