"""Forces and stress from any energy model, by automatic differentiation.

    F_i = −∂E/∂r_i
    σ   = (1/V) ∂E/∂ε |_{ε=0},   r → r (1 + ε),  cell → cell (1 + ε),  ε = εᵀ,  V = |det(cell)|

(ASE sign convention: positive stress is tensile.)  σ is defined for every cell with a volume,
periodic or not: for a tube (pbc F, F, T) or a slab (T, T, F) in a vacuum box, V counts the vacuum,
exactly as ASE's numerical stress (``ase.calculators.fd.calculate_numerical_stress``) and tblite do;
σ_zz of a tube is then its axial tension per box cross-section.  A graph whose cell has no volume
(a molecule without a cell) gets NaN stress: there is nothing to divide by.  Forces are conservative
by construction (:class:`DirectForceOutput` is the exception: forces from an output head). Inputs are
float64; they are cast to the model's dtype here and the results cast back to float64, so torch's global
default dtype is never touched. Atoms of an element the model does not know raise
:class:`~ase_relaxed.errors.InputError` for every model family.

>>> from ase_relaxed import ModelConfig, build_model
>>> from ase_relaxed.graph import atoms_to_graph
>>> from ase_relaxed.structures import build_nanotube
>>> model = build_model(ModelConfig(species=["C"], channels=4, num_layers=1))
>>> type(model).__name__
'ForceStressOutput'
>>> out = model(atoms_to_graph(build_nanotube(5, 0), 4.0), compute_stress=True)
>>> tuple(out["stress"].shape), bool(out["stress"].isfinite().all())
((1, 3, 3), True)
"""

from __future__ import annotations

import contextlib

import torch
from ase.data import atomic_numbers

from .. import keys
from ..graph import VOLUME_TOL, check_species


class ForceStressOutput(torch.nn.Module):
    """Wrap an energy model; add forces and (for graphs whose cell has a volume) stress."""

    #: forces are −∂E/∂r: safe for NVE, phonons and anything that needs a potential-energy surface
    conservative = True

    def __init__(self, energy_model: torch.nn.Module) -> None:
        super().__init__()
        self.energy_model = energy_model

    @property
    def config(self):
        return self.energy_model.config

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def check_species(self, numbers: torch.Tensor) -> None:
        """Raise :class:`InputError` naming the elements of ``numbers`` that the model's species lack
        (instead of a model indexing with the unknown-species index −1)."""
        known = [atomic_numbers[symbol] for symbol in self.config.species]
        if not bool(torch.isin(numbers, torch.tensor(known, dtype=numbers.dtype, device=numbers.device)).all()):
            check_species(numbers, self.config.species)

    def forward(
        self, data: dict[str, torch.Tensor], compute_forces: bool = True, compute_stress: bool = False
    ) -> dict[str, torch.Tensor]:
        out, positions, strain = self._energy(data, compute_forces, compute_stress)
        grads = self._gradients(out, positions if compute_forces else None, strain)
        results = {keys.ENERGY: out[keys.ENERGY], keys.ATOMIC_ENERGY: out[keys.ATOMIC_ENERGY]}
        if compute_forces:
            results[keys.FORCES] = -grads[0]
        if compute_stress:
            results[keys.STRESS] = self._stress(grads[-1], data)
        return self._finish(results, out)

    def _energy(self, data: dict[str, torch.Tensor], position_grad: bool, compute_stress: bool):
        """The energy model's output with positions (and a symmetric strain ε, for stress) as leaves."""
        dtype = self.dtype
        self.check_species(data[keys.ATOMIC_NUMBERS])
        data = {k: (v.to(dtype) if k in keys.FLOAT_KEYS else v) for k, v in data.items()}
        positions = data[keys.POSITIONS].detach().requires_grad_(position_grad or compute_stress)
        cell = data[keys.CELL]
        strain = None
        strained_positions = positions
        if compute_stress:
            strain = torch.zeros(cell.shape[0], 3, 3, dtype=dtype, device=positions.device, requires_grad=True)
            symmetric = 0.5 * (strain + strain.transpose(1, 2))
            strained_positions = positions + torch.einsum("ni,nij->nj", positions, symmetric[data[keys.BATCH]])
            cell = cell + torch.bmm(cell, symmetric)
        out = self.energy_model({**data, keys.POSITIONS: strained_positions, keys.CELL: cell})
        return out, positions, strain

    def _gradients(self, out, positions: torch.Tensor | None, strain: torch.Tensor | None) -> list[torch.Tensor]:
        """[∂E/∂r if positions is given] + [∂E/∂ε if strain is given] (zeros where E does not depend)."""
        wrt = [w for w in (positions, strain) if w is not None]
        if not wrt:
            return []
        grads = torch.autograd.grad(out[keys.ENERGY].sum(), wrt, create_graph=self.training, allow_unused=True)
        return [torch.zeros_like(w) if g is None else g for g, w in zip(grads, wrt)]

    def _stress(self, strain_gradient: torch.Tensor, data: dict[str, torch.Tensor]) -> torch.Tensor:
        """σ = (1/V) ∂E/∂ε, NaN for a cell without volume."""
        volume = torch.linalg.det(data[keys.CELL].to(torch.float64)).abs().view(-1, 1, 1)
        has_volume = volume > VOLUME_TOL
        stress = strain_gradient / torch.where(has_volume, volume, torch.ones_like(volume)).to(self.dtype)
        return torch.where(has_volume, stress, torch.full_like(stress, float("nan")))

    def _finish(self, results: dict[str, torch.Tensor], out: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if keys.NODE_FEATURES in out:  # the per-atom descriptor, for the domain check (models/domain.py)
            results[keys.NODE_FEATURES] = out[keys.NODE_FEATURES]
        if not self.training:
            results = {k: v.detach() for k, v in results.items()}
        return {k: v.to(torch.float64) for k, v in results.items()}


class DirectForceOutput(ForceStressOutput):
    """Forces from the energy model's own 1o head (``config.forces == "direct"``), no backward pass.

        F_i = F_θ,i(R)       (equivariant, but in general F ≠ −∂E/∂r)
        σ   = (1/V) ∂E/∂ε    (stress stays the strain derivative of the energy, as for conservative models)

    Because F is not the gradient of E, NVE dynamics with these forces need not conserve E and finite-
    displacement force constants need not be symmetric; the physics-informed losses PITC/PISC
    (:mod:`ase_relaxed.physics.losses`) train F and E towards consistency.  ``compute_gradient_forces``
    also returns −∂E/∂r as ``gradient_forces``: ‖F_direct − F_gradient‖ is the consistency error.

    >>> from ase_relaxed import ModelConfig, build_model
    >>> from ase_relaxed.graph import atoms_to_graph
    >>> from ase_relaxed.structures import build_nanotube
    >>> model = build_model(ModelConfig(species=["C"], channels=4, num_layers=1, forces="direct"))
    >>> type(model).__name__, model.conservative
    ('DirectForceOutput', False)
    >>> out = model(atoms_to_graph(build_nanotube(5, 0), 4.0), compute_gradient_forces=True)
    >>> bool((out["forces"] - out["gradient_forces"]).abs().max() > 0)   # direct ≠ gradient
    True
    """

    conservative = False

    def forward(
        self,
        data: dict[str, torch.Tensor],
        compute_forces: bool = True,
        compute_stress: bool = False,
        compute_gradient_forces: bool = False,
    ) -> dict[str, torch.Tensor]:
        needs_autograd = self.training or compute_stress or compute_gradient_forces
        with contextlib.nullcontext() if needs_autograd else torch.no_grad():  # inference: no graph at all
            out, positions, strain = self._energy(data, compute_gradient_forces, compute_stress)
        results = {keys.ENERGY: out[keys.ENERGY], keys.ATOMIC_ENERGY: out[keys.ATOMIC_ENERGY]}
        if compute_forces:
            results[keys.FORCES] = out[keys.DIRECT_FORCES]
        grads = self._gradients(out, positions if compute_gradient_forces else None, strain)
        if compute_gradient_forces:
            results[keys.GRADIENT_FORCES] = -grads[0]
        if compute_stress:
            results[keys.STRESS] = self._stress(grads[-1], data)
        return self._finish(results, out)
