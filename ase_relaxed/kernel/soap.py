"""SOAP power spectrum in torch, differentiable with respect to positions and cell.

Smooth Overlap of Atomic Positions (Bartók, Kondor, Csányi, PRB 87, 184115 (2013)), as used by
the kernel force field of Sharma, Kumar, Suryanarayana (arXiv:2408.07554, SPARC's MLFF).

The neighbour density of centre i, one channel per neighbour species a,

    ρ_i^a(r) = Σ_{j∈a} exp(−|r − r_ij|² / 2σ²) f_c(r_ij),     f_c(r) = ½ (cos(π r / r_c) + 1),  r < r_c,

is expanded as ρ_i^a(r) ≈ Σ_{nlm} c^a_{nlm} g_n(r) Y_lm(r̂).  We use the common *local-basis
approximation* of the expansion coefficients (the smearing is carried by the radial basis
instead of by an exact Gaussian–Bessel integral):

    c^a_{nlm}(i) = Σ_{j∈a} g_n(r_ij) Y_lm(r̂_ij) f_c(r_ij),      g_n(r) = exp(−(r − r_n)² / 2σ²),

with Gaussian-type radial functions centred on r_n = r_c (n + 1) / n_max, n = 0 … n_max − 1,
and real spherical harmonics Y_lm (e3nn, orthonormal "integral" normalisation, l ≤ l_max).
The power spectrum (BKC eq. 30 with the rotational integral done analytically)

    p_i(a n, a' n', l) = Σ_m c^a_{nlm}(i) c^{a'}_{n'lm}(i),      (a n) ≤ (a' n'),

is invariant under rotations and reflections (real Y_l transform by orthogonal Wigner
matrices and Y_l(−r̂) = (−1)^l Y_l(r̂), so each Σ_m is invariant) and under permutations of
neighbours (a sum over j).  Off-diagonal entries carry a factor √2 so that p·q equals the full
(symmetric) sum.  Finally p_i ← p_i / |p_i| (unit length, BKC eq. 33 normalisation).

Edge vectors come from :func:`ase_relaxed.models.energy.edge_vectors`, so periodic images are
included and derivatives with respect to positions and (strained) cell flow through autograd.

>>> import torch
>>> soap = SOAPDescriptor(["C"], cutoff=5.29, n_max=8, l_max=6)
>>> soap.dimension
252
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from ase.data import atomic_numbers
from e3nn import o3

from .. import keys
from ..models.energy import edge_vectors

BOHR = 0.529177210903  # Å


def cosine_cutoff(r: torch.Tensor, cutoff: float) -> torch.Tensor:
    """f_c(r) = ½ (cos(π r / r_c) + 1) for r < r_c, else 0 (continuous value and slope at r_c)."""
    inside = r < cutoff
    return torch.where(inside, 0.5 * (torch.cos(math.pi * r / cutoff) + 1.0), torch.zeros_like(r))


class SOAPDescriptor(torch.nn.Module):
    """Normalised SOAP power spectrum p_i of every atom of a (batched) graph dict.

    Parameters: ``species`` (chemical symbols: one density channel each), ``cutoff`` r_c (Å),
    ``n_max`` radial functions, ``l_max`` highest angular degree, ``sigma`` Gaussian width (Å).
    The output has ``dimension`` = K(K+1)/2 · (l_max + 1) columns, K = n_species · n_max.
    """

    def __init__(
        self, species: Sequence[str], cutoff: float = 10 * BOHR, n_max: int = 8, l_max: int = 6, sigma: float = BOHR
    ) -> None:
        super().__init__()
        self.species = list(species)
        self.cutoff = float(cutoff)
        self.n_max = int(n_max)
        self.l_max = int(l_max)
        self.sigma = float(sigma)
        lookup = torch.full((119,), -1, dtype=torch.long)
        for index, symbol in enumerate(self.species):
            lookup[atomic_numbers[symbol]] = index
        self.register_buffer("species_lookup", lookup, persistent=False)
        centres = self.cutoff * torch.arange(1, self.n_max + 1, dtype=torch.float64) / self.n_max
        self.register_buffer("radial_centres", centres, persistent=False)
        channels = len(self.species) * self.n_max
        rows, cols = torch.triu_indices(channels, channels)
        self.register_buffer("pair_rows", rows, persistent=False)
        self.register_buffer("pair_cols", cols, persistent=False)
        pair_factor = torch.where(rows == cols, 1.0, math.sqrt(2.0)).to(torch.float64)
        self.register_buffer("pair_factor", pair_factor, persistent=False)
        self.irreps_sh = o3.Irreps.spherical_harmonics(self.l_max)

    @property
    def dimension(self) -> int:
        channels = len(self.species) * self.n_max
        return channels * (channels + 1) // 2 * (self.l_max + 1)

    def radial(self, lengths: torch.Tensor) -> torch.Tensor:
        """g_n(r) f_c(r) for every edge, shape (e, n_max)."""
        centres = self.radial_centres.to(lengths.dtype)
        gaussians = torch.exp(-((lengths[:, None] - centres) ** 2) / (2 * self.sigma**2))
        return gaussians * cosine_cutoff(lengths, self.cutoff)[:, None]

    def edge_terms(self, vectors: torch.Tensor) -> torch.Tensor:
        """g_n(r_ij) f_c(r_ij) Y_lm(r̂_ij) of every edge, shape (e, n_max, (l_max + 1)²)."""
        lengths = torch.linalg.norm(vectors, dim=1)
        sh = o3.spherical_harmonics(self.irreps_sh, vectors, normalize=True, normalization="integral")
        return self.radial(lengths)[:, :, None] * sh[:, None, :]

    def neighbor_channel(self, data: dict[str, torch.Tensor]) -> torch.Tensor:
        """Species channel a(j) of the neighbour of every edge, shape (e,)."""
        return self.species_lookup[data[keys.ATOMIC_NUMBERS][data[keys.EDGE_INDEX][1]]]

    def scatter(self, per_edge: torch.Tensor, data: dict[str, torch.Tensor]) -> torch.Tensor:
        """c^a_{nlm}(i) = Σ_{j∈a} per_edge_ij, shape (n_atoms, n_species · n_max, (l_max + 1)²)."""
        center = data[keys.EDGE_INDEX][0]
        n_atoms, n_species = data[keys.POSITIONS].shape[0], len(self.species)
        # scatter into (atom, species-channel) rows so each neighbour species has its own density
        flat = torch.zeros(
            n_atoms * n_species, self.n_max, per_edge.shape[2], dtype=per_edge.dtype, device=per_edge.device
        ).index_add(0, center * n_species + self.neighbor_channel(data), per_edge)
        return flat.reshape(n_atoms, n_species * self.n_max, per_edge.shape[2])

    def coefficients(self, data: dict[str, torch.Tensor]) -> torch.Tensor:
        """Density coefficients c^a_{nlm}(i), shape (n_atoms, n_species · n_max, (l_max + 1)²)."""
        return self.scatter(self.edge_terms(edge_vectors(data)), data)

    def normalise(self, p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(p / |p|, |p|) row-wise; a zero row stays zero."""
        squared = (p * p).sum(dim=1, keepdim=True)
        norm = torch.sqrt(torch.clamp(squared, min=torch.finfo(p.dtype).tiny))
        return torch.where(squared > 0, p / norm, torch.zeros_like(p)), norm

    def power_spectrum(self, coefficients: torch.Tensor) -> torch.Tensor:
        """Unnormalised p_i(k, k', l) = Σ_m c_{klm} c_{k'lm}, k ≤ k', shape (n_atoms, dimension)."""
        blocks = []
        factor = self.pair_factor.to(coefficients.dtype)
        for l in range(self.l_max + 1):  # noqa: E741 - the angular degree is called l
            c_l = coefficients[:, :, l * l : (l + 1) * (l + 1)]  # (atoms, K, 2l+1)
            pairs = (c_l[:, self.pair_rows, :] * c_l[:, self.pair_cols, :]).sum(-1)  # (atoms, K(K+1)/2)
            blocks.append(pairs * factor)
        return torch.cat(blocks, dim=1)

    def forward(self, data: dict[str, torch.Tensor]) -> torch.Tensor:
        """p_i / |p_i| for every atom (zero for an atom with no neighbour), shape (n_atoms, dimension)."""
        return self.normalise(self.power_spectrum(self.coefficients(data)))[0]
