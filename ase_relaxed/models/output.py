"""Forces and stress from any energy model, by automatic differentiation.

    F_i = −∂E/∂r_i
    σ   = (1/V) ∂E/∂ε |_{ε=0},   r → r (1 + ε),  cell → cell (1 + ε),  ε = εᵀ

(ASE sign convention: positive stress is tensile.)  Forces are conservative by
construction.  Inputs are float64; they are cast to the model's dtype here and
the results cast back to float64, so torch's global default dtype is never touched.

>>> from ase_relaxed import ModelConfig, build_model
>>> model = build_model(ModelConfig(species=["C"], channels=4, num_layers=1))
>>> type(model).__name__
'ForceStressOutput'
"""

from __future__ import annotations

import torch

from .. import keys


class ForceStressOutput(torch.nn.Module):
    """Wrap an energy model; add forces and (for 3D-periodic graphs) stress."""

    def __init__(self, energy_model: torch.nn.Module) -> None:
        super().__init__()
        self.energy_model = energy_model

    @property
    def config(self):
        return self.energy_model.config

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def forward(
        self, data: dict[str, torch.Tensor], compute_forces: bool = True, compute_stress: bool = False
    ) -> dict[str, torch.Tensor]:
        dtype = self.dtype
        data = {k: (v.to(dtype) if k in keys.FLOAT_KEYS else v) for k, v in data.items()}
        positions = data[keys.POSITIONS].detach().requires_grad_(compute_forces or compute_stress)
        cell = data[keys.CELL]
        num_graphs = cell.shape[0]
        strain = torch.zeros(num_graphs, 3, 3, dtype=dtype, device=positions.device, requires_grad=compute_stress)
        if compute_stress:
            symmetric = 0.5 * (strain + strain.transpose(1, 2))
            strained_positions = positions + torch.einsum("ni,nij->nj", positions, symmetric[data[keys.BATCH]])
            cell = cell + torch.bmm(cell, symmetric)
        else:
            strained_positions = positions
        out = self.energy_model({**data, keys.POSITIONS: strained_positions, keys.CELL: cell})

        results = {keys.ENERGY: out[keys.ENERGY], keys.ATOMIC_ENERGY: out[keys.ATOMIC_ENERGY]}
        wrt = ([positions] if compute_forces else []) + ([strain] if compute_stress else [])
        if wrt:
            grads = torch.autograd.grad(out[keys.ENERGY].sum(), wrt, create_graph=self.training, allow_unused=True)
            grads = [torch.zeros_like(w) if g is None else g for g, w in zip(grads, wrt)]
            if compute_forces:
                results[keys.FORCES] = -grads[0]
            if compute_stress:
                volume = torch.linalg.det(data[keys.CELL]).abs()
                volume = torch.where(volume > 0, volume, torch.ones_like(volume))  # no stress without a volume
                results[keys.STRESS] = grads[-1] / volume.view(-1, 1, 1)
        if not self.training:
            results = {k: v.detach() for k, v in results.items()}
        return {k: v.to(torch.float64) for k, v in results.items()}
