"""Geometry (and optionally cell) relaxation with ASE's FIRE or BFGS.

Positions are relaxed until every force is below ``fmax``: ``max_i |F_i| < fmax`` (eV/Å).
With ``cell=True`` the cell relaxes too, through ``ase.filters.FrechetCellFilter``, which
exposes the cell as 3 × 3 extra "atoms" whose generalised forces are the virial
``−V (σ − σ_ext)`` expressed in log-strain coordinates; convergence then also requires
``V |σ_ij| / N`` below ``fmax`` (ASE's convention), i.e. a stress-free cell.

Only the periodic axes relax: the filter's mask keeps the strain components ε_ij with both
``pbc[i]`` and ``pbc[j]`` (:func:`cell_mask`), so a tube (pbc F, F, T) relaxes its period
(ε_zz), a slab (T, T, F) its in-plane cell (ε_xx, ε_yy, ε_xy), and the vacuum box stays as it is.

>>> from ase.build import bulk
>>> from ase.calculators.emt import EMT
>>> atoms = bulk("Cu", a=3.7)  # EMT's lattice constant is ≈ 3.59 Å
>>> result = relax(atoms, EMT(), cell=True, fmax=1e-3)
>>> result.converged, round(float(result.atoms.cell.cellpar()[0]) * 2 ** 0.5, 2)
(True, 3.59)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator
from ase.calculators.singlepoint import SinglePointCalculator

from ..errors import InputError
from ..graph import has_volume
from ..provenance import provenance_info

OPTIMIZERS = ("fire", "bfgs")


@dataclass
class RelaxResult:
    """The relaxed structure (with a single-point calculator holding its results) and a summary."""

    atoms: Atoms
    converged: bool
    steps: int
    energy_initial: float
    energy_final: float
    fmax_initial: float
    fmax_final: float
    stress_final: np.ndarray | None  # Voigt, eV/Å³ (cell relaxations only)


def max_force(forces: np.ndarray) -> float:
    """``max_i |F_i|`` (eV/Å); 0 for no atoms."""
    return float(np.linalg.norm(forces, axis=1).max(initial=0.0))


def cell_mask(pbc) -> np.ndarray:
    """The 3 × 3 mask of the strain components a cell relaxation may change: ``pbc[i] and pbc[j]``.

    >>> cell_mask([False, False, True]).astype(int).tolist()
    [[0, 0, 0], [0, 0, 0], [0, 0, 1]]
    >>> cell_mask([True, True, False]).astype(int).tolist()
    [[1, 1, 0], [1, 1, 0], [0, 0, 0]]
    """
    pbc = np.asarray(pbc, dtype=bool)
    return np.outer(pbc, pbc)


def relax(
    atoms: Atoms,
    calc: Calculator,
    *,
    cell: bool = False,
    optimizer: str = "fire",
    fmax: float = 0.01,
    steps: int = 1000,
    trajectory: str | None = None,
    logfile: str | None = None,
) -> RelaxResult:
    """Relax a copy of ``atoms`` with ``calc``; ``cell=True`` relaxes the periodic axes of the cell too.

    ``cell=True`` needs at least one periodic axis and a cell with a volume (a tube or slab in a
    vacuum box): σ = (1/V) ∂E/∂ε counts the vacuum, as ASE's numerical stress does. The relaxed atoms (and
    the frames of ``trajectory``) carry :func:`~ase_relaxed.provenance.provenance_info` of ``calc`` in their info.
    """
    from ase.filters import FrechetCellFilter
    from ase.optimize import BFGS, FIRE

    if optimizer not in OPTIMIZERS:
        raise InputError(f"--optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
    if fmax <= 0 or steps < 0:
        raise InputError("--fmax must be positive and --steps >= 0")
    atoms = atoms.copy()
    atoms.calc = calc
    atoms.info.update(provenance_info(calc))
    if cell and not atoms.pbc.any():
        raise InputError(f"--cell needs a periodic axis to relax, but pbc={atoms.pbc.tolist()}")
    if cell and not has_volume(atoms):
        raise InputError(f"--cell needs a cell with a volume (stress is (1/V) ∂E/∂ε), but the cell "
                         f"{np.round(atoms.cell.lengths(), 4).tolist()} Å has none: put the structure in a "
                         f"vacuum box (atoms.center(vacuum=...))")
    if cell:
        target = FrechetCellFilter(atoms) if atoms.pbc.all() else FrechetCellFilter(atoms, mask=cell_mask(atoms.pbc))
    else:
        target = atoms
    energy_initial = float(atoms.get_potential_energy())
    fmax_initial = max_force(target.get_forces())
    cls = {"fire": FIRE, "bfgs": BFGS}[optimizer]
    dynamics = cls(target, logfile=logfile, trajectory=trajectory)
    converged = bool(dynamics.run(fmax=fmax, steps=steps))
    results = {"energy": float(atoms.get_potential_energy()), "forces": atoms.get_forces().copy()}
    stress = atoms.get_stress().copy() if cell else None
    if stress is not None:
        results["stress"] = stress
    fmax_final = max_force(target.get_forces())
    relaxed = atoms.copy()
    relaxed.calc = SinglePointCalculator(relaxed, **results)
    return RelaxResult(relaxed, converged, int(dynamics.nsteps), energy_initial, results["energy"],
                       fmax_initial, fmax_final, stress)
