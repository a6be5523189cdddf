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
from torch.autograd import forward_ad

from .. import keys
from ..errors import InputError
from ..graph import atoms_to_graph, check_atoms
from ..models.energy import edge_vectors
from ..models.output import ForceStressOutput
from .design import featomic_rows
from .featomic_soap import FeatomicSOAP
from .model import KernelConfig, KernelEnergyModel, build_kernel_model
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


def _graph(atoms: Atoms, cutoff: float, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    graph = atoms_to_graph(atoms, cutoff)
    return {k: (v.to(dtype) if k in keys.FLOAT_KEYS else v) for k, v in graph.items()}


def kernel_rows(
    energy_model: KernelEnergyModel, atoms: Atoms, forces: bool = True, method: str = "analytic"
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """φ_w = Σ_i k(p_i, p_w) (W,) and, if ``forces``, the rows −∂φ/∂r as a (3N, W) matrix.

    A featomic descriptor (the default) takes featomic's analytic gradients
    (:func:`ase_relaxed.kernel.design.featomic_rows`) unless ``method="autograd"``.  For the torch SOAP:
    ``method="autograd"``: one backward pass per representative w (simple, slow reference).
    ``method="analytic"`` (default): the chain rule written out,
        ∂φ_w/∂p̂_i = ζ (p̂_i·p_w)^{ζ−1} p_w,   ∂/∂p_i = (1 − p̂_i p̂_iᵀ) ∂/∂p̂_i / |p_i|,
        ∂/∂c_{kl·}(i) = Σ_k' (U_l + U_lᵀ)_{kk'} c_{k'l·}(i)  (U_l the upper-triangular weights of p),
        ∂φ_w/∂r_ij = Σ_{nlm} ∂φ_w/∂c_{a(j)nlm}(i) ∂(g_n f_c Y_lm)(r_ij)/∂r_ij  (3 forward-mode passes),
    then r_ij = r_j − r_i + S·cell moves the edge gradient onto atoms j (+) and i (−).
    """
    check_atoms(atoms, energy_model.config.species)
    if method == "analytic" and isinstance(energy_model.descriptor, FeatomicSOAP):
        phi, rows = featomic_rows(energy_model, atoms, forces)
        dtype = energy_model.weights.dtype
        return phi.to(dtype), None if rows is None else rows.to(dtype)
    dtype = energy_model.weights.dtype
    graph = _graph(atoms, energy_model.config.cutoff, dtype)
    if method == "autograd" or not forces:
        positions = graph[keys.POSITIONS].detach().requires_grad_(forces)
        kernel, _ = energy_model.features({**graph, keys.POSITIONS: positions})
        phi = kernel.sum(dim=0)
        if not forces:
            return phi.detach(), None
        jac = torch.stack([torch.autograd.grad(phi[w], positions, retain_graph=True)[0] for w in range(len(phi))])
        return phi.detach(), -jac.reshape(phi.shape[0], -1).T.detach()
    return _analytic_rows(energy_model, graph)


def _analytic_rows(
    energy_model: KernelEnergyModel, graph: dict[str, torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor]:
    soap, zeta = energy_model.descriptor, energy_model.config.zeta
    reps = energy_model.representatives
    with torch.no_grad():
        vectors = edge_vectors(graph)
        per_edge = soap.edge_terms(vectors)
        directions = torch.eye(3, dtype=vectors.dtype)
        d_edge = []  # ∂(edge term)/∂r_ij,x for x = 0, 1, 2, by forward-mode AD
        for x in range(3):
            with forward_ad.dual_level():
                dual = forward_ad.make_dual(vectors, directions[x].expand_as(vectors).contiguous())
                d_edge.append(forward_ad.unpack_dual(soap.edge_terms(dual)).tangent)
        d_edge = torch.stack(d_edge, dim=-1).reshape(vectors.shape[0], -1, 3)  # (e, n·lm, 3)
        c = soap.scatter(per_edge, graph)  # (N, K, LM)
        p_hat, norm = soap.normalise(soap.power_spectrum(c))
        species = energy_model.species_index(graph[keys.ATOMIC_NUMBERS])
        same = species[:, None] == energy_model.representative_species[None, :]
        dots = p_hat @ reps.T  # (N, W)
        phi = torch.where(same, dots**zeta, torch.zeros_like(dots)).sum(0)
        weight = torch.where(same, zeta * dots ** (zeta - 1), torch.zeros_like(dots))  # (N, W)
        n_atoms = c.shape[0]
        center, neighbor = graph[keys.EDGE_INDEX]
        channel = soap.neighbor_channel(graph)
        n_channels, n_max = c.shape[1], soap.n_max
        rows, cols, factor = soap.pair_rows, soap.pair_cols, soap.pair_factor.to(c.dtype)
        n_pairs = rows.shape[0]
        jac = torch.zeros(reps.shape[0], n_atoms, 3, dtype=c.dtype)
        for chunk in torch.split(torch.arange(reps.shape[0]), 32):
            g_hat = weight[:, chunk].T[:, :, None] * reps[chunk][:, None, :]  # ∂φ/∂p̂: (w, N, D)
            g_p = (g_hat - p_hat * (g_hat * p_hat).sum(-1, keepdim=True)) / norm  # ∂φ/∂p
            g_c = torch.zeros(len(chunk), n_atoms, n_channels, c.shape[2], dtype=c.dtype)
            for l in range(soap.l_max + 1):  # noqa: E741 - the angular degree is called l
                u = torch.zeros(len(chunk), n_atoms, n_channels, n_channels, dtype=c.dtype)
                u[:, :, rows, cols] = g_p[:, :, l * n_pairs : (l + 1) * n_pairs] * factor
                block = slice(l * l, (l + 1) * (l + 1))
                g_c[:, :, :, block] = torch.einsum("wnkq,nqm->wnkm", u + u.transpose(2, 3), c[:, :, block])
            g_c = g_c.reshape(len(chunk), n_atoms, n_channels // n_max, n_max, c.shape[2])
            g_edge = torch.bmm(  # ∂φ/∂r_ij: (w, e, 3)
                g_c[:, center, channel].reshape(len(chunk), len(center), -1).transpose(0, 1), d_edge
            ).transpose(0, 1)
            jac[chunk] = torch.zeros_like(jac[chunk]).index_add(1, neighbor, g_edge).index_add(1, center, -g_edge)
    return phi, -jac.reshape(reps.shape[0], -1).T


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
