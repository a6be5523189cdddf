"""The energy model: a readable recipe of named equivariant blocks.

    h⁰_i  = Linear(onehot(z_i))                              species embedding
    hᵗ⁺¹  = Interactionₜ(hᵗ, Y(r̂_ij), B(|r_ij|))              t = 0 … T-1
    e_i   = MLP(hᵀ_i)                                         invariant readout
    E_i   = σ_{z_i} e_i + μ_{z_i},     E = Σ_i E_i             per-species scale and shift
    F_i   = σ_{z_i} W_F hᵀ_i[1o]                              direct-force models only

A direct-force model (``config.forces == "direct"``) lets its last block output vectors (1o) next
to the scalars, and maps them to one polar vector per atom with an equivariant linear head: forces
that rotate with the structure but are not −∂E/∂r (the "direct" models of Takamoto et al. 2024,
like PaiNN's or eSCN's force heads).

The edge vectors r_ij = r_j − r_i + S·cell are computed here from positions and
cell, so derivatives of E with respect to both flow through autograd
(see :class:`~ase_relaxed.models.output.ForceStressOutput`).

>>> from ase_relaxed.models.config import ModelConfig
>>> model = EnergyModel(ModelConfig(species=["C"], channels=4, num_layers=1))
>>> str(model.irreps_hidden)
'4x0e+4x1o+4x2e'
"""

from __future__ import annotations

import torch
from ase.data import atomic_numbers
from e3nn import o3

from .. import keys
from ..nn import BesselBasis, InteractionBlock
from ..nn.relaxed_filter import RelaxedEdgeFilter
from .config import ModelConfig


def edge_vectors(data: dict[str, torch.Tensor]) -> torch.Tensor:
    """r_ij = r_j − r_i + S · cell[batch_i] for every edge."""
    center, neighbor = data[keys.EDGE_INDEX]
    positions = data[keys.POSITIONS]
    cell = data[keys.CELL][data[keys.BATCH][center]]
    shift = torch.einsum("ek,ekl->el", data[keys.EDGE_SHIFT].to(positions.dtype), cell)
    return positions[neighbor] - positions[center] + shift


class EnergyModel(torch.nn.Module):
    """Per-atom and total energies of a (batched) graph."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        n_species = len(config.species)
        lookup = torch.full((119,), -1, dtype=torch.long)
        for index, symbol in enumerate(config.species):
            lookup[atomic_numbers[symbol]] = index
        self.register_buffer("species_lookup", lookup)

        self.irreps_edge = o3.Irreps.spherical_harmonics(config.l_max)
        self.irreps_hidden = o3.Irreps([(config.channels, (deg, (-1) ** deg)) for deg in range(config.l_max + 1)])
        irreps_scalar = o3.Irreps(f"{config.channels}x0e")

        self.embedding = o3.Linear(f"{n_species}x0e", irreps_scalar)
        self.spherical_harmonics = o3.SphericalHarmonics(self.irreps_edge, normalize=True, normalization="component")
        self.radial_basis = BesselBasis(config.cutoff, config.num_radial_basis, config.envelope_p)
        self.direct_forces = config.forces == "direct"
        irreps_last = irreps_scalar + o3.Irreps(f"{config.channels}x1o") if self.direct_forces else irreps_scalar
        layers, irreps = [], irreps_scalar
        for t in range(config.num_layers):
            irreps_out = irreps_last if t == config.num_layers - 1 else self.irreps_hidden
            edge_filter = None
            if config.relaxed:
                edge_filter = RelaxedEdgeFilter(self.irreps_edge, config.l_relaxed, config.relaxed_multiplicity)
            block = InteractionBlock(
                irreps, irreps_out, self.irreps_edge, n_species, config.num_radial_basis,
                config.radial_hidden, config.radial_layers, config.avg_num_neighbors, edge_filter,
            )
            layers.append(block)
            irreps = block.irreps_out
        self.interactions = torch.nn.ModuleList(layers)
        self.readout = torch.nn.Sequential(
            torch.nn.Linear(config.channels, max(config.channels // 2, 1)),
            torch.nn.SiLU(),
            torch.nn.Linear(max(config.channels // 2, 1), 1),
        )
        # direct-force models: channels×1o of the last block → one polar vector per atom
        self.force_head = o3.Linear(f"{config.channels}x1o", "1x1o") if self.direct_forces else None
        shift = config.energy_shift or [0.0] * n_species
        scale = config.energy_scale or [1.0] * n_species
        self.register_buffer("energy_shift", torch.tensor(shift, dtype=torch.float64))
        self.register_buffer("energy_scale", torch.tensor(scale, dtype=torch.float64))

    def relaxed_filters(self) -> list[RelaxedEdgeFilter]:
        """The symmetry-breaking filters, one per layer (empty for a strictly equivariant model)."""
        return [block.edge_filter for block in self.interactions if block.edge_filter is not None]

    def species_index(self, atomic_numbers_: torch.Tensor) -> torch.Tensor:
        return self.species_lookup[atomic_numbers_]

    def forward(self, data: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        species = self.species_index(data[keys.ATOMIC_NUMBERS])
        dtype = data[keys.POSITIONS].dtype
        onehot = torch.nn.functional.one_hot(species, len(self.config.species)).to(dtype)
        vectors = edge_vectors(data)
        lengths = torch.linalg.norm(vectors, dim=1)
        edge_attr = self.spherical_harmonics(vectors)
        edge_radial = self.radial_basis(lengths)

        h = self.embedding(onehot)
        channels = self.config.channels
        invariants = []  # each block's 0e features (the Gate puts scalars first): the model's own descriptor
        for block in self.interactions:
            h = block(h, onehot, data[keys.EDGE_INDEX], edge_attr, edge_radial)
            invariants.append(h[:, :channels])
        scale = self.energy_scale[species].to(dtype)
        atomic = self.readout(h[:, :channels]).squeeze(-1)  # the Gate puts the scalars first
        atomic = atomic * scale + self.energy_shift[species].to(dtype)
        num_graphs = data[keys.CELL].shape[0]
        energy = torch.zeros(num_graphs, dtype=dtype, device=atomic.device).index_add(0, data[keys.BATCH], atomic)
        out = {**data, keys.ATOMIC_ENERGY: atomic, keys.ENERGY: energy, keys.NODE_FEATURES: torch.cat(invariants, 1)}
        if self.force_head is not None:
            out[keys.DIRECT_FORCES] = self.force_head(h[:, channels:]) * scale.unsqueeze(-1)
        return out
