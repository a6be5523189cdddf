"""Design-matrix rows of the kernel model from featomic's analytic SOAP gradients.

For a structure with normalised spectra p̂_i = p_i / |p_i| and representatives p_w (model
:mod:`ase_relaxed.kernel.model`, kernel k(p, q) = (p·q)^ζ), the energy row and the force rows are

    φ_w          = Σ_i d_iw^ζ,                          d_iw = p̂_i · p_w   (same species only)
    −∂φ_w/∂r_j   = −Σ_i (∂p_i/∂r_j) · ζ d_iw^{ζ−1} (p_w − d_iw p̂_i) / |p_i|,

with ∂p_i/∂r_j featomic's "positions" gradient samples (i, j).  Written as one matrix product of all
gradient samples with the representatives, G Pᵀ, this costs a single GEMM of (3·pairs × D) by (D × W).

>>> from ase.build import nanotube
>>> from ase_relaxed.kernel.model import KernelConfig, build_kernel_model
>>> model = build_kernel_model(KernelConfig(n_representative=3, cutoff=4.0, n_max=3, l_max=2))
>>> phi, rows = featomic_rows(model.energy_model, nanotube(5, 0, length=1))
>>> tuple(phi.shape), tuple(rows.shape)
((3,), (60, 3))
"""

from __future__ import annotations

import torch
from ase import Atoms

from ..graph import check_atoms
from .featomic_soap import compute_soap, featomic_atoms

__all__ = ["featomic_rows"]


def featomic_rows(energy_model, atoms: Atoms, forces: bool = True,
                  chunk: int = 8192) -> tuple[torch.Tensor, torch.Tensor | None]:
    """φ_w (W,) and, if ``forces``, the force rows −∂φ_w/∂r as a (3N, W) matrix (row 3j + x ↔ F_jx).

    ``energy_model`` is a :class:`~ase_relaxed.kernel.model.KernelEnergyModel` whose descriptor is a
    :class:`~ase_relaxed.kernel.featomic_soap.FeatomicSOAP`; ``chunk`` bounds the gradient samples per GEMM.
    """
    check_atoms(atoms, energy_model.config.species)
    soap, zeta = energy_model.descriptor, energy_model.config.zeta
    reps = energy_model.representatives.to(torch.float64)
    systems = [soap_atoms(soap, atoms)]
    result = compute_soap(soap.calculator, systems, soap.species, soap.n_max, soap.l_max,
                          ["positions"] if forces else [])
    p_hat, norm = soap.normalise(result.values)
    species = energy_model.species_index(torch.as_tensor(atoms.numbers, dtype=torch.long))
    same = species[:, None] == energy_model.representative_species[None, :]
    dots = p_hat @ reps.T  # (N, W)
    zero = torch.zeros((), dtype=dots.dtype)
    phi = torch.where(same, dots**zeta, zero).sum(0)
    if not forces:
        return phi, None
    weight = torch.where(same, zeta * dots ** (zeta - 1), zero) / norm  # (N, W): ζ d^{ζ−1} / |p|
    n_atoms, n_rep = len(atoms), reps.shape[0]
    jac = torch.zeros(n_atoms, 3, n_rep, dtype=torch.float64)
    for start in range(0, len(result.pair_centre), chunk):
        part = slice(start, start + chunk)
        centre, grads = result.pair_centre[part], result.positions[part]  # (P,), (P, 3, D)
        projected = grads @ reps.T  # (P, 3, W): ∂p_i/∂r_j · p_w
        along = torch.einsum("pxd,pd->px", grads, p_hat[centre])  # ∂p_i/∂r_j · p̂_i
        term = (projected - along[:, :, None] * dots[centre][:, None, :]) * weight[centre][:, None, :]
        jac.index_add_(0, result.pair_atom[part], term)
    return phi, -jac.reshape(3 * n_atoms, n_rep)


def soap_atoms(soap, atoms: Atoms) -> Atoms:
    """``atoms`` as featomic reads it (fictitious long vectors in the non-periodic directions)."""
    return featomic_atoms(atoms.positions, atoms.numbers, atoms.cell.array, atoms.pbc, soap.cutoff)
