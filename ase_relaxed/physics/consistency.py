"""How far a model's forces are from the gradient of its own energy.

    ε_cons = sqrt( Σ_k Σ_{i∈k} |F_θ,i(R_k) + ∂E_θ(R_k)/∂r_i|² / (3 Σ_k N_k) )      (eV/Å)

Zero by construction for a conservative model (F = −∇E, :class:`~ase_relaxed.models.ForceStressOutput`);
for a direct-force model (:class:`~ase_relaxed.models.DirectForceOutput`) it measures what the
physics-informed losses PITC/PISC (Takamoto, Zaverkin & Niepert 2024) push towards zero: at small δ
their residual is δ·(F + ∇E) to first order.

>>> from ase_relaxed import ModelConfig, build_model
>>> from ase_relaxed.graph import atoms_to_graph
>>> from ase_relaxed.structures import build_nanotube
>>> graph = atoms_to_graph(build_nanotube(5, 0), 4.0)
>>> force_consistency_rms(build_model(ModelConfig(species=["C"], channels=4, num_layers=1)), [graph])
0.0
>>> force_consistency_rms(build_model(ModelConfig(species=["C"], channels=4, num_layers=1, forces="direct")),
...                       [graph]) > 0
True
"""

from __future__ import annotations

import math
from typing import Iterable

import torch

from .. import keys


def force_consistency_rms(model: torch.nn.Module, graphs: Iterable[dict[str, torch.Tensor]]) -> float:
    """ε_cons over ``graphs`` (single or batched graphs) in eV/Å; 0.0 for conservative models."""
    if getattr(model, "conservative", True):
        return 0.0
    squared, components = 0.0, 0
    for graph in graphs:
        out = model(graph, compute_forces=True, compute_gradient_forces=True)
        difference = (out[keys.FORCES] - out[keys.GRADIENT_FORCES]).detach().to(torch.float64)
        squared += float((difference**2).sum())
        components += difference.numel()
    return math.sqrt(squared / components) if components else float("nan")
