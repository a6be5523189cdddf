"""A growing training set of the kernel model: its frames and the triangular factor of their design rows.

The kernel model is linear in its weights (Sharma, Kumar, Suryanarayana, arXiv:2408.07554; SPARC's MLFF),
so a labelled frame s contributes one per-atom energy row and 3N_s force rows (:mod:`.rows`):

    energy:  w_E φ_s / N_s   ≈ w_E (E_s − n_s·μ) / N_s,       force:  w_F Φ_F,s  ≈ w_F F_s.

Bayesian linear regression (:mod:`.blr`) needs only the upper-triangular factor of QR([Φ | y]), so the
force rows are folded into it (one QR per frame) as soon as they are computed and never stored; the (few)
energy rows are kept, because the per-species shift μ (least squares on the composition) moves as frames
arrive. Adding a frame therefore costs one evaluation of its rows, and a refit one W × W SVD, whatever the number
of frames — what learning on the fly needs (one reference call, one refit). Choosing the representative
environments again (:meth:`KernelTrainingSet.select`, CUR/FPS over all environments) recomputes every
frame's rows: the learning loop does that only when the set has grown by a factor (SPARC adds kernel
columns from new environments instead; the effect is the same, new environments become representatives).

>>> from ase.build import nanotube
>>> from ase.calculators.singlepoint import SinglePointCalculator
>>> frames = []
>>> for k in range(2):
...     atoms = nanotube(5, 0, length=1); atoms.rattle(0.05, seed=k)
...     atoms.calc = SinglePointCalculator(atoms, energy=-150.0 - k, forces=0.1 * atoms.positions); frames.append(atoms)
>>> config = KernelConfig(n_representative=6, cutoff=4.0, n_max=3, l_max=2)
>>> training = KernelTrainingSet(config, energy_weight=10.0)
>>> training.extend(frames)
>>> model = training.fit()
>>> model.training_info["frames"], model.energy_model.config.n_representative
(2, 6)
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from ase import Atoms

from .. import keys
from ..errors import InputError
from ..graph import check_atoms
from ..models.output import ForceStressOutput
from .blr import blr_from_factor, update_factor
from .model import KernelConfig, KernelEnergyModel, build_kernel_model
from .rows import _graph, kernel_rows
from .sparsify import select_representatives

__all__ = ["KernelTrainingSet"]


class KernelTrainingSet:
    """Frames with energies and forces attached, the representatives chosen from them, and the BLR factor.

    ``energy_weight`` / ``force_weight``: row weights w_E, w_F; ``selection``: "cur", "fps" or "random"
    (:mod:`.sparsify`); the number of representatives is ``config.n_representative`` (capped by the number of
    environments), per species in proportion to its atom count.
    """

    def __init__(self, config: KernelConfig | None = None, energy_weight: float = 1.0, force_weight: float = 1.0,
                 selection: str = "cur", seed: int = 0) -> None:
        if not energy_weight > 0 or not force_weight >= 0:
            raise InputError(f"need energy_weight > 0 and force_weight >= 0, got {energy_weight}, {force_weight}")
        self.config = KernelConfig() if config is None else KernelConfig.from_dict(config.to_dict())
        self.energy_weight, self.force_weight = float(energy_weight), float(force_weight)
        self.selection, self.seed = selection, int(seed)
        self.frames: list[Atoms] = []
        self.model: ForceStressOutput | None = None
        self._reset_factor()

    def __len__(self) -> int:
        return len(self.frames)

    def _reset_factor(self) -> None:
        self._energy_rows: list[np.ndarray] = []
        self._force_factor: np.ndarray | None = None  # QR factor of w_F [Φ_F | F] over all frames
        self._n_force_rows = 0

    @property
    def n_rows_pending(self) -> int:
        """Frames added since the representatives were chosen whose rows are not in the factor yet (0 or all)."""
        return len(self.frames) - len(self._energy_rows)

    def add(self, atoms: Atoms) -> None:
        """Append one labelled frame; its rows go into the factor now if representatives exist."""
        try:
            check_atoms(atoms, self.config.species)
            energy, forces = float(atoms.get_potential_energy()), np.asarray(atoms.get_forces(), float)
        except InputError as error:
            raise InputError(f"frame {len(self.frames)}: {error}") from None
        except RuntimeError:  # ase: no calculator / no results attached
            raise InputError(f"frame {len(self.frames)}: no energy and forces attached") from None
        frame = atoms.copy()
        frame.info["_energy"], frame.arrays["_forces"] = energy, forces
        self.frames.append(frame)
        if self.model is not None and self.n_rows_pending == 1:
            self._accumulate(frame)

    def extend(self, frames: Sequence[Atoms]) -> None:
        for atoms in frames:
            self.add(atoms)

    def _accumulate(self, frame: Atoms) -> None:
        phi, force_rows = kernel_rows(self.model.energy_model, frame, forces=self.force_weight > 0)
        self._energy_rows.append(phi.numpy() / len(frame))
        if self.force_weight > 0:
            rows, target = force_rows.numpy(), frame.arrays["_forces"].reshape(-1)
            self._force_factor = update_factor(self._force_factor, self.force_weight * rows, self.force_weight * target)
            self._n_force_rows += len(target)

    def select(self) -> None:
        """Choose the representatives among the environments of all frames, then recompute every frame's rows."""
        if not self.frames:
            raise InputError("no frames to choose representatives from")
        config = KernelConfig.from_dict(self.config.to_dict())
        probe = KernelEnergyModel(config).to(getattr(torch, config.dtype))
        descriptors, species = [], []
        with torch.no_grad():
            for atoms in self.frames:
                graph = _graph(atoms, config.cutoff, probe.weights.dtype)
                descriptors.append(probe.descriptor(graph))
                species.append(probe.species_index(graph[keys.ATOMIC_NUMBERS]))
        descriptors, species = torch.cat(descriptors), torch.cat(species)
        chosen: list[int] = []
        for s, count in enumerate(torch.bincount(species, minlength=len(config.species)).tolist()):
            if count == 0:
                continue
            budget = min(count, max(1, round(self.config.n_representative * count / len(species))))
            members = torch.nonzero(species == s).flatten()
            picked = select_representatives(descriptors[members], budget, self.selection, self.seed + s)
            chosen += members[picked].tolist()
        config.n_representative = len(chosen)
        self.model = build_kernel_model(config)
        self.model.energy_model.representatives.copy_(descriptors[chosen])
        self.model.energy_model.representative_species.copy_(species[chosen])
        self._reset_factor()
        for frame in self.frames:
            self._accumulate(frame)

    def fit(self, reselect: bool = True, alpha: float | None = None, beta: float | None = None,
            regularisation: float | None = None) -> ForceStressOutput:
        """Posterior weights (evidence maximisation unless ``alpha``/``beta``/``regularisation``) as a model.

        ``reselect``: choose the representatives again first (always done when none exist yet).
        Returns the training set's model in eval mode; ``model.training_info`` holds the hyper-parameters,
        evidence, training RMSEs and counts.
        """
        if reselect or self.model is None:
            self.select()
        energy_model: KernelEnergyModel = self.model.energy_model
        species = list(energy_model.config.species)
        composition = np.array([[np.sum(np.array(a.get_chemical_symbols()) == s) for s in species]
                                for a in self.frames], float)
        energies = np.array([a.info["_energy"] for a in self.frames])
        shift, *_ = np.linalg.lstsq(composition, energies, rcond=None)
        n_atoms = composition.sum(axis=1)
        phi_e = self.energy_weight * np.stack(self._energy_rows)
        y_e = self.energy_weight * (energies - composition @ shift) / n_atoms
        factor = update_factor(self._force_factor, phi_e, y_e)
        result = blr_from_factor(factor, self._n_force_rows + len(y_e), alpha, beta, regularisation)

        dtype = energy_model.weights.dtype
        energy_model.energy_shift.copy_(torch.as_tensor(shift, dtype=energy_model.energy_shift.dtype))
        energy_model.config.energy_shift = [float(s) for s in shift]
        energy_model.weights.copy_(torch.as_tensor(result.mean, dtype=dtype))
        energy_model.posterior_covariance.copy_(torch.as_tensor(result.covariance, dtype=dtype))
        energy_model.noise_precision.fill_(result.beta * self.energy_weight**2)  # per-atom energy noise, eV⁻²
        energy_model.force_noise_precision.fill_(result.beta * self.force_weight**2)  # force components, (eV/Å)⁻²
        energy_model.prior_precision.fill_(result.alpha)
        m = result.mean
        if self._force_factor is not None:  # |y_F − Φ_F m|² = |z − R m|² + ρ²
            r, z = self._force_factor[:-1, :-1], self._force_factor[:-1, -1]
            force_residual = float(np.sum((z - r @ m) ** 2) + self._force_factor[-1, -1] ** 2)
        self.model.training_info = {
            "method": "kernel-blr",
            "paper": "Sharma, Kumar, Suryanarayana, arXiv:2408.07554",
            "frames": len(self.frames),
            "n_representative": energy_model.config.n_representative,
            "selection": self.selection,
            "energy_weight": self.energy_weight,
            "force_weight": self.force_weight,
            "alpha": result.alpha,
            "beta": result.beta,
            "evidence_iterations": result.iterations,
            "evidence_converged": result.converged,
            "log_evidence": result.log_evidence,
            "train_energy_rmse_per_atom": float(np.sqrt(np.mean((y_e - phi_e @ m) ** 2))) / self.energy_weight,
            "train_force_rmse": (float(np.sqrt(force_residual / self._n_force_rows)) / self.force_weight
                                 if self._n_force_rows else None),
        }
        return self.model
