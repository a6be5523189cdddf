"""An ASE calculator for the kernel model that gets energy, forces and their σ from one set of design rows.

The kernel model is linear in its weights α (Sharma, Kumar, Suryanarayana, arXiv:2408.07554), so with the
rows φ (W,) and Φ_F (3N, W) of :func:`~ase_relaxed.kernel.rows.kernel_rows`

    E = φ·α + Σ_i μ_{z_i},      F = Φ_F α,      σ_ic = √(φ_icᵀ S φ_ic [+ 1/β_F]),

one row evaluation gives all three. That is what learning on the fly needs at every MD step (forces to move,
σ to decide on a reference call), and what posterior sampling needs: ``weights`` replaces α by a draw from
N(α, S) (:func:`posterior_weight_samples`), and ``shared_rows`` lets many such calculators reuse the rows of
the same geometries (phonons with error bars, :mod:`ase_relaxed.phonons.helical_uncertainty`).

``results["forces_std"]`` is the predictive σ (model + noise); ``results["forces_std_model"]`` the model
(epistemic) part alone, which grows away from the training data. No stress.

>>> from ase.build import nanotube
>>> from ase_relaxed.kernel.model import KernelConfig, build_kernel_model
>>> model = build_kernel_model(KernelConfig(n_representative=3, cutoff=4.0, n_max=3, l_max=2))
>>> atoms = nanotube(5, 0, length=1)
>>> atoms.calc = KernelRowsCalculator(model)
>>> atoms.get_forces().shape, atoms.calc.results["forces_std"].shape
((20, 3), (20, 3))
"""

from __future__ import annotations

import numpy as np
import torch
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes

from ..errors import InputError
from ..models.output import ForceStressOutput
from .rows import kernel_rows
from .uncertainty import force_std_from_rows

__all__ = ["KernelRowsCalculator", "posterior_weight_samples"]


def posterior_weight_samples(model: ForceStressOutput, n_samples: int, seed: int = 0) -> np.ndarray:
    """``n_samples`` draws of the weights from the posterior N(m, S), shape (n_samples, W).

    S is factorised by its eigendecomposition (it is positive semi-definite, possibly singular).
    """
    if int(n_samples) < 1:
        raise InputError(f"need at least one posterior sample, got {n_samples!r}")
    energy_model = model.energy_model
    mean = energy_model.weights.detach().to(torch.float64).numpy()
    eigenvalues, vectors = np.linalg.eigh(energy_model.predictive_covariance.to(torch.float64).numpy())
    root = vectors * np.sqrt(np.clip(eigenvalues, 0.0, None))
    noise = np.random.default_rng(seed).standard_normal((int(n_samples), len(mean)))
    return mean + noise @ root.T


class KernelRowsCalculator(Calculator):
    """Energy, forces and force σ of a kernel model from one row evaluation per geometry.

    ``weights``: use these (W,) instead of the posterior mean (e.g. one posterior draw). ``shared_rows``: a dict
    (geometry key → rows) shared between calculators evaluating the same geometries with different weights.
    ``uncertainty=False`` skips σ.
    """

    implemented_properties = ["energy", "free_energy", "forces", "forces_std", "forces_std_model"]

    def __init__(self, model: ForceStressOutput, weights: np.ndarray | None = None, shared_rows: dict | None = None,
                 uncertainty: bool = True, **kwargs) -> None:
        super().__init__(**kwargs)
        if not hasattr(getattr(model, "energy_model", None), "representatives"):
            raise InputError("KernelRowsCalculator needs a kernel model (kernel-soap), not a graph network")
        self.model, self.uncertainty = model, bool(uncertainty)
        energy_model = model.energy_model
        mean = energy_model.weights.detach().to(torch.float64).numpy()
        self.weights = mean if weights is None else np.asarray(weights, dtype=np.float64)
        if self.weights.shape != mean.shape:
            raise InputError(f"weights must have shape {mean.shape}, got {self.weights.shape}")
        self.rows_cache = {} if shared_rows is None else shared_rows
        self.interaction_range = float(energy_model.config.cutoff)

    def _rows(self, atoms: Atoms) -> tuple[np.ndarray, np.ndarray]:
        key = (atoms.numbers.tobytes(), atoms.positions.tobytes(), atoms.cell.array.tobytes(), atoms.pbc.tobytes())
        if key not in self.rows_cache:
            with torch.no_grad():
                phi, rows = kernel_rows(self.model.energy_model, atoms)
            self.rows_cache[key] = (phi.to(torch.float64).numpy(), rows.to(torch.float64).numpy())
        return self.rows_cache[key]

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes) -> None:
        super().calculate(atoms, properties, system_changes)
        energy_model = self.model.energy_model
        phi, rows = self._rows(self.atoms)
        shift = energy_model.energy_shift.to(torch.float64).numpy()[
            energy_model.species_index(torch.as_tensor(self.atoms.numbers)).numpy()]
        energy = float(phi @ self.weights + shift.sum())
        self.results = {"energy": energy, "free_energy": energy, "forces": (rows @ self.weights).reshape(-1, 3)}
        if self.uncertainty:
            covariance = energy_model.predictive_covariance
            self.results["forces_std_model"] = force_std_from_rows(rows, covariance, None)
            self.results["forces_std"] = force_std_from_rows(rows, covariance,
                                                             float(energy_model.force_noise_precision))
