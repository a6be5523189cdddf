"""NequIP-style equivariant interaction block on e3nn.

For node features h (irreps ``irreps_in``) and edges i ← j with spherical
harmonics Y(r̂_ij) and radial basis B(|r_ij|):

    m_ij  = TP( W₁ h_j , Y(r̂_ij) ; w = MLP(B(|r_ij|)) )        ("uvu" paths)
    a_i   = Σ_j m_ij / sqrt(avg_num_neighbors)
    h'_i  = Gate( W₂ a_i + SC(h_i, z_i) )   (+ h_i when irreps match)

with SC a fully connected tensor product of h_i with the one-hot species z_i
(Batzner et al., Nat. Commun. 13, 2453 (2022), eqs. 3-6).  Every operation is
E(3)-equivariant, so h' transforms like h.  An optional ``edge_filter`` maps Y to
another edge feature first (the relaxed filter a_ij = TP(θ, Y) of
:mod:`ase_relaxed.nn.relaxed_filter`).

>>> from e3nn import o3
>>> block = InteractionBlock("4x0e", "4x0e+4x1o", o3.Irreps.spherical_harmonics(2), 2, 8)
>>> str(block.irreps_out)
'4x0e+4x1o'
"""

from __future__ import annotations

import torch
from e3nn import nn as e3nn_nn
from e3nn import o3

ACTIVATIONS = {1: torch.nn.functional.silu, -1: torch.tanh}


def _uvu_tensor_product(irreps_in: o3.Irreps, irreps_edge: o3.Irreps, irreps_target: o3.Irreps):
    """Tensor product with one weighted path per (input, edge, output) irrep triple."""
    irreps_mid, instructions = [], []
    for i_in, (mul, ir_in) in enumerate(irreps_in):
        for i_edge, (_, ir_edge) in enumerate(irreps_edge):
            for ir_out in ir_in * ir_edge:
                if ir_out in irreps_target:
                    instructions.append((i_in, i_edge, len(irreps_mid), "uvu", True))
                    irreps_mid.append((mul, ir_out))
    irreps_mid = o3.Irreps(irreps_mid)
    irreps_sorted, permutation, _ = irreps_mid.sort()
    instructions = [(a, b, permutation[c], mode, w) for a, b, c, mode, w in instructions]
    tp = o3.TensorProduct(
        irreps_in, irreps_edge, irreps_sorted, instructions, shared_weights=False, internal_weights=False
    )
    return tp, irreps_sorted


class InteractionBlock(torch.nn.Module):
    """One message-passing layer: convolution, self-connection and gate."""

    def __init__(
        self,
        irreps_in: o3.Irreps | str,
        irreps_out: o3.Irreps | str,
        irreps_edge: o3.Irreps | str,
        num_species: int,
        num_radial_basis: int,
        radial_hidden: int = 64,
        radial_layers: int = 2,
        avg_num_neighbors: float = 16.0,
        edge_filter: torch.nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.irreps_in = o3.Irreps(irreps_in)
        irreps_out = o3.Irreps(irreps_out)
        # an optional edge filter (e.g. the relaxed a_ij = TP(θ, Y)) replaces Y in the message
        self.edge_filter = edge_filter
        self.irreps_edge = o3.Irreps(irreps_edge) if edge_filter is None else edge_filter.irreps_out
        self.avg_num_neighbors = float(avg_num_neighbors)

        scalars = o3.Irreps([(m, ir) for m, ir in irreps_out if ir.l == 0])
        gated = o3.Irreps([(m, ir) for m, ir in irreps_out if ir.l > 0])
        gates = o3.Irreps([(m, "0e") for m, _ in gated])
        self.gate = e3nn_nn.Gate(
            scalars, [ACTIVATIONS[ir.p] for _, ir in scalars], gates, [torch.sigmoid] * len(gates), gated
        )
        irreps_gate_in = self.gate.irreps_in
        self.irreps_out = self.gate.irreps_out

        self.linear_in = o3.Linear(self.irreps_in, self.irreps_in)
        self.tp, irreps_mid = _uvu_tensor_product(self.irreps_in, self.irreps_edge, irreps_gate_in)
        self.radial = e3nn_nn.FullyConnectedNet(
            [num_radial_basis] + [radial_hidden] * radial_layers + [self.tp.weight_numel], torch.nn.functional.silu
        )
        self.linear_out = o3.Linear(irreps_mid, irreps_gate_in)
        self.self_connection = o3.FullyConnectedTensorProduct(
            self.irreps_in, f"{num_species}x0e", irreps_gate_in
        )
        self.residual = self.irreps_in == self.irreps_out
        self.set_fast_tensor_product(None)

    def set_fast_tensor_product(self, module: torch.nn.Module | None) -> None:
        """Compute the messages with ``module(x, y, w)`` instead of e3nn's ``self.tp`` (None: e3nn).

        Kept out of the module tree (no parameters, no state-dict entries, not moved by ``.to``): a backend is
        chosen for a model already on its device and dtype (:func:`ase_relaxed.nn.cueq.select_tensor_product_backend`).
        """
        self.__dict__["_fast_tp"] = module

    def forward(
        self,
        h: torch.Tensor,
        species_onehot: torch.Tensor,
        edge_index: torch.Tensor,
        edge_attr: torch.Tensor,
        edge_radial: torch.Tensor,
    ) -> torch.Tensor:
        center, neighbor = edge_index
        if self.edge_filter is not None:
            edge_attr = self.edge_filter(edge_attr)
        x = self.linear_in(h)
        fast = self.__dict__.get("_fast_tp")
        tp = self.tp if fast is None else fast
        messages = tp(x[neighbor], edge_attr, self.radial(edge_radial))
        aggregated = torch.zeros(h.shape[0], messages.shape[1], dtype=h.dtype, device=h.device)
        aggregated = aggregated.index_add(0, center, messages) / self.avg_num_neighbors**0.5
        out = self.gate(self.linear_out(aggregated) + self.self_connection(h, species_onehot))
        return out + h if self.residual else out
