"""Design rows of the SOAP kernel model: φ_w = Σ_i k(p_i, p_w) and the force rows −∂φ/∂r (3N × W).

Kept apart from :mod:`.fit` so that the posterior σ (:mod:`.uncertainty`), which the model itself
offers, needs the rows without importing the fitting code (and through it the model) back.
``energy_model`` is a :class:`~ase_relaxed.kernel.model.KernelEnergyModel`.

>>> from ase.build import nanotube
>>> from ase_relaxed.kernel.model import KernelConfig, build_kernel_model
>>> model = build_kernel_model(KernelConfig(n_representative=3, cutoff=4.0, n_max=3, l_max=2))
>>> phi, rows = kernel_rows(model.energy_model, nanotube(5, 0, length=1))
>>> tuple(phi.shape), tuple(rows.shape)
((3,), (60, 3))
"""

from __future__ import annotations

import torch
from ase import Atoms
from torch.autograd import forward_ad

from .. import keys
from ..graph import atoms_to_graph, check_atoms
from ..models.energy import edge_vectors
from .design import featomic_rows
from .featomic_soap import FeatomicSOAP


def _graph(atoms: Atoms, cutoff: float, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    graph = atoms_to_graph(atoms, cutoff)
    return {k: (v.to(dtype) if k in keys.FLOAT_KEYS else v) for k, v in graph.items()}


def kernel_rows(
    energy_model: torch.nn.Module, atoms: Atoms, forces: bool = True, method: str = "analytic"
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
    energy_model: torch.nn.Module, graph: dict[str, torch.Tensor]
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
