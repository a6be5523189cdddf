"""Cube → cuboid: measure the uniaxial distortion a (relaxed) model gives a cubic crystal.

A cubic cell with lattice vectors (rows) C₀ deformed to C has the deformation gradient F with
C = C₀ Fᵀ, and the right stretch tensor U = (FᵀF)^{1/2} (rotation-free). For a uniaxial distortion U has
one distinct eigenvalue s_∥ (along the distortion axis n) and two equal ones s_⊥, so

    c/a = s_∥ / s_⊥,

which for a cube stretched along z is exactly (length along z) / (length along x or y). The same number
for a distortion along a general n (the cell is then no longer a cuboid in the lab frame, but is one in
the frame of n) lets the z and general-direction studies share one measure.

>>> from ase.build import bulk
>>> cube = bulk("C", "diamond", a=3.566, cubic=True)
>>> squeezed = cube.copy(); squeezed.set_cell(cube.cell * [1, 1, 0.96], scale_atoms=True)
>>> round(uniaxial_distortion(squeezed, cube.cell).ratio, 4)
0.96

:func:`relax_cell` (``FrechetCellFilter`` + BFGS) and :func:`npt_distortion` (anisotropic MTK NPT)
give the static and the finite-temperature answer of any ASE calculator.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms, units
from ase.build import bulk
from ase.calculators.calculator import Calculator
from ase.filters import FrechetCellFilter
from ase.optimize import BFGS
from numpy.typing import ArrayLike

#: Tersoff carbon's diamond lattice constant (Å), the starting cube of every study here.
DIAMOND_A = 3.566


@dataclass(frozen=True)
class Distortion:
    """Uniaxial part of a cell deformation: c/a = s_∥/s_⊥, the axis of s_∥ and all three stretches."""

    ratio: float
    axis: np.ndarray
    stretches: np.ndarray

    def angle_to(self, direction: ArrayLike) -> float:
        """Angle in degrees between the distortion axis and ``direction`` (sign-blind: ±n is one axis)."""
        n = np.asarray(direction, dtype=float)
        cosine = abs(float(self.axis @ n)) / np.linalg.norm(n)
        return float(np.degrees(np.arccos(min(1.0, cosine))))


def uniaxial_distortion(atoms_or_cell, reference_cell: ArrayLike, axis: ArrayLike | None = None) -> Distortion:
    """The :class:`Distortion` of a cell relative to ``reference_cell`` (3×3, rows are lattice vectors).

    Without ``axis`` the distinct stretch is the eigenvalue of U farthest from the mean of the other two.
    With ``axis`` n it is s_∥ = nᵀUn and s_⊥ = (tr U − s_∥)/2 (for noisy cells, e.g. along MD, where
    picking the farthest eigenvalue would rectify the noise).
    """
    cell = np.asarray(getattr(atoms_or_cell, "cell", atoms_or_cell), dtype=float)
    gradient = np.linalg.solve(np.asarray(reference_cell, dtype=float), cell).T  # C = C₀ Fᵀ
    stretches, vectors = np.linalg.eigh(gradient.T @ gradient)
    stretches = np.sqrt(stretches)
    if axis is not None:
        n = np.asarray(axis, dtype=float) / np.linalg.norm(axis)
        along = float(n @ (vectors * stretches) @ vectors.T @ n)
        return Distortion(ratio=2 * along / (stretches.sum() - along), axis=n, stretches=stretches)
    gaps = [abs(stretches[i] - np.delete(stretches, i).mean()) for i in range(3)]
    odd = int(np.argmax(gaps))
    ratio = float(stretches[odd] / np.delete(stretches, odd).mean())
    return Distortion(ratio=ratio, axis=vectors[:, odd], stretches=stretches)


def diamond_cube(size: int = 2, rattle: float = 1e-3, seed: int = 0) -> Atoms:
    """A ``size``³ supercell of cubic diamond carbon, rattled by ``rattle`` Å to leave saddle points."""
    atoms = bulk("C", "diamond", a=DIAMOND_A, cubic=True).repeat(size)
    if rattle:
        atoms.rattle(rattle, seed=seed)
    return atoms


def relax_cell(calc: Calculator, atoms: Atoms | None = None, fmax: float = 1e-3, steps: int = 500) -> Atoms:
    """Relax positions and cell (FrechetCellFilter + BFGS, 0 pressure) from ``atoms`` (default
    :func:`diamond_cube`); returns the relaxed copy."""
    atoms = (diamond_cube() if atoms is None else atoms).copy()
    atoms.calc = calc
    BFGS(FrechetCellFilter(atoms), logfile=None).run(fmax=fmax, steps=steps)
    return atoms


def npt_distortion(atoms: Atoms, calc: Calculator, reference_cell: ArrayLike, axis: ArrayLike, steps: int,
                   temperature: float = 300.0, every: int = 10, seed: int = 0) -> np.ndarray:
    """c/a along ``axis`` (relative to ``reference_cell``) every ``every`` steps of an anisotropic MTK NPT run (0 GPa,
    0.5 fs, τ_T = 50 fs, τ_P = 500 fs) from ``atoms``; the first value is the starting cell's."""
    from ase.md.nose_hoover_chain import MTKNPT
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary

    atoms = atoms.copy()
    atoms.calc = calc
    MaxwellBoltzmannDistribution(atoms, temperature_K=temperature, rng=np.random.default_rng(seed))
    Stationary(atoms)
    dynamics = MTKNPT(atoms, timestep=0.5 * units.fs, temperature_K=temperature, pressure_au=0.0,
                      tdamp=50 * units.fs, pdamp=500 * units.fs)
    ratios = [uniaxial_distortion(atoms, reference_cell, axis).ratio]
    for _ in range(steps // every):
        dynamics.run(every)
        ratios.append(uniaxial_distortion(atoms, reference_cell, axis).ratio)
    return np.array(ratios)
