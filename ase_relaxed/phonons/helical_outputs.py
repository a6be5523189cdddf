"""The files phonopy's tools read, from the helical route: band.yaml, total_dos.dat, thermal_properties.yaml.

Companion of :mod:`.helical` (which computes); phonopy's own writers do the formatting, fed through the two
small interfaces they read (a dynamical matrix for ``BandStructure``, a mesh for ``ThermalProperties``).
Everything is per translational cell of length T (n_atoms: the atoms of ``line_group.to_atoms(1)``):

* ``band.yaml``: k ∈ [0, π/T] as reduced q = kT/2π ∈ [0, ½], ``q-position`` (0, 0, q), ``distance`` q / T
  (1/Å, phonopy's |Δq · B| without 2π), frequencies ν = c ν̃ in THz (ν[THz] = ν̃[cm⁻¹] / 33.356), labels Γ, Z;
* ``total_dos.dat``: g(ν) = 33.356 g̃(ν̃) states/THz, ∫ g dν = 3 n_atoms (Gaussian σ in THz, as phonopy);
* thermal properties on a k grid q_j = (j + s)/n_q (s = 0: Γ-centred, phonopy's ``is_gamma_center``); each k
  unfolds onto N·q_s helical pairs (μ, η_l), so the grid is an η grid of n_q·q_s points for every μ:

      F = (1/n_q) Σ_j Σ_ν [ħω/2 + k_B T ln(1 − e^{−ħω/k_BT})]         (kJ/mol)
      S = −∂F/∂T,   C_v = (1/n_q) Σ_j Σ_ν k_B x² eˣ / (eˣ − 1)²,  x = ħω/k_BT   (J/K/mol)

  evaluated by phonopy's ``ThermalProperties``: modes at or below the cutoff (imaginary ones too) are left
  out, and at Γ the four rigid modes (3 translations + the twist, ω ≈ 0) are set to 0 so that they are.
  At high T, C_v → (3 n_atoms − 4/n_q) R (Dulong–Petit less the rigid modes).

>>> from matscipy.calculators.manybody import Manybody
>>> from matscipy.calculators.manybody.explicit_forms.tersoff_brenner import (
...     TersoffBrenner, Brenner_PRB_42_9458_C_I)
>>> from ase_relaxed.phonons import helical_phonons
>>> ph = helical_phonons(5, 0, Manybody(**TersoffBrenner(Brenner_PRB_42_9458_C_I)), interaction_range=4.0)
>>> tp = helical_thermal_properties(ph, [300.0, 30000.0], n_q=20)
>>> round(float(tp["heat_capacity"][-1] / (3 * 20 * 8.314462618)), 2)   # 20 atoms per cell: → 3 N R
1.0
"""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from numpy.typing import ArrayLike

from ..errors import InputError
from .phonopy_bridge import GAMMA, THZ_TO_CM

__all__ = ["helical_thermal_properties", "write_helical_band_yaml", "write_helical_thermal_yaml",
           "write_helical_total_dos", "default_n_q"]

VACUUM = 6.0  # Å around the tube in the cell recorded in band.yaml (only the axial length matters)
N_RIGID = 4  # rigid modes at Γ of a tube: 3 translations + the twist about the axis


def _cell(result):
    """The translational cell as phonopy's PhonopyAtoms (what band.yaml records as lattice and points)."""
    from phonopy.structure.atoms import PhonopyAtoms

    atoms = result.line_group.to_atoms(1, vacuum=VACUUM)
    return PhonopyAtoms(symbols=atoms.get_chemical_symbols(), cell=atoms.cell.array,
                        scaled_positions=atoms.get_scaled_positions(), masses=atoms.get_masses())


def default_n_q(result) -> int:
    """k points along the axis as the ordinary route's default mesh: ~400 Å / T, at least 4."""
    return max(4, int(np.ceil(400.0 / result.line_group.period)))


class _DiagonalDynamicalMatrix:
    """What phonopy's BandStructure reads of a DynamicalMatrix: ``run(q)`` sets a matrix whose eigenvalues give
    the helical frequencies, sign(ω̃) ω̃² (cm⁻²), to be turned into THz with factor 1 / 33.356."""

    def __init__(self, result, cell):
        self.result, self.primitive, self.supercell, self.dynamical_matrix = result, cell, cell, None

    def run(self, q, q_direction=None):
        w = self.result.frequencies([float(q[2])])[0]
        self.dynamical_matrix = np.diag(np.sign(w) * w ** 2)


def _comment_lines(comment: dict | None) -> list[str]:
    return [f"# {key}: {value}" for key, value in (comment or {}).items()]


def write_helical_band_yaml(result, path: str | os.PathLike, n_q: int = 51, comment: dict | None = None) -> Path:
    """Bands along k ∈ [0, π/T] (``n_q`` points, Γ → Z) in phonopy's band.yaml, written by phonopy's
    ``BandStructure.write_yaml``; ``comment`` (provenance) heads the file as YAML keys."""
    from phonopy.phonon.band_structure import BandStructure

    if int(n_q) != n_q or n_q < 2:
        raise InputError(f"n_q must be an integer >= 2 (Γ and Z at least), got {n_q!r}")
    cell = _cell(result)
    qpoints = np.zeros((int(n_q), 3))
    qpoints[:, 2] = np.linspace(0.0, 0.5, int(n_q))
    band = BandStructure([qpoints], _DiagonalDynamicalMatrix(result, cell), labels=[GAMMA, "Z"],
                         path_connections=[False], factor=1.0 / THZ_TO_CM)
    band.write_yaml(comment=comment, filename=path)
    return Path(path)


def write_helical_total_dos(result, path: str | os.PathLike, sigma: float = 0.1, n_eta: int = 2000,
                            comment: dict | None = None) -> Path:
    """Total DOS per translational cell in phonopy's total_dos.dat (THz, states/THz; phonopy's
    ``write_total_dos``), from :meth:`HelicalPhonons.dos` with Gaussian width ``sigma`` (THz) and ``n_eta``
    η points per cyclic number μ."""
    from phonopy.phonon.dos import write_total_dos

    if not np.isfinite(sigma) or not sigma > 0:
        raise InputError(f"sigma must be a positive number of THz, got {sigma!r}")
    grid, dos = result.dos(sigma=sigma * THZ_TO_CM, n_eta=n_eta)
    text = "\n".join([f"Sigma = {sigma:f}", *_comment_lines(comment)])
    write_total_dos(grid / THZ_TO_CM, dos * THZ_TO_CM, comment=text, filename=path)
    return Path(path)


def _thermal(result, temperatures: ArrayLike, n_q: int | None, shift: float, cutoff_frequency: float | None):
    """phonopy's ThermalProperties, run on the helical frequencies of the k grid (see the module docstring)."""
    from phonopy.phonon.thermal_properties import ThermalProperties

    temps = np.atleast_1d(np.asarray(temperatures, dtype=float))
    if temps.ndim != 1 or len(temps) == 0 or not np.isfinite(temps).all() or temps.min() < 0:
        raise InputError(f"temperatures must be finite numbers of K, >= 0, got {temperatures!r}")
    n_q = default_n_q(result) if n_q is None else n_q
    if int(n_q) != n_q or n_q < 1:
        raise InputError(f"n_q must be a positive integer, got {n_q!r}")
    if not 0 <= shift < 1:
        raise InputError(f"shift must be in [0, 1) (0: Γ-centred grid), got {shift!r}")
    if cutoff_frequency is not None and not cutoff_frequency >= 0:
        raise InputError(f"cutoff_frequency must be >= 0 THz, got {cutoff_frequency!r}")
    q = (np.arange(int(n_q)) + shift) / int(n_q)
    frequencies = result.frequencies(q) / THZ_TO_CM
    gamma = 0 if shift == 0 else None
    if gamma is not None:  # the rigid modes: their ln ω terms are an artefact of the finite grid
        frequencies[0, np.argsort(np.abs(frequencies[0]))[:N_RIGID]] = 0.0
    mesh = SimpleNamespace(frequencies=frequencies, weights=np.ones(int(n_q), dtype="int64"), gamma_index=gamma,
                           dynamical_matrix=SimpleNamespace(primitive=_cell(result)))
    tp = ThermalProperties(mesh, cutoff_frequency=cutoff_frequency, exclude_gamma_acoustic=gamma is not None)
    tp.temperatures = temps
    tp.run()
    return tp, int(n_q)


def helical_thermal_properties(result, temperatures: ArrayLike, n_q: int | None = None, shift: float = 0.0,
                               cutoff_frequency: float | None = None) -> dict:
    """Harmonic free energy (kJ/mol), entropy and heat capacity (J/K/mol) per translational cell at
    ``temperatures`` (K, >= 0) on the k grid q_j = (j + ``shift``)/``n_q`` (default :func:`default_n_q`);
    ``cutoff_frequency`` (THz): phonopy's (modes at or below it are left out; default 0).
    Returns temperatures, free_energy, entropy, heat_capacity (arrays), zero_point_energy and n_q."""
    tp, n_q = _thermal(result, temperatures, n_q, shift, cutoff_frequency)
    temps, free, entropy, cv = tp.thermal_properties
    return {"temperatures": np.array(temps), "free_energy": np.array(free), "entropy": np.array(entropy),
            "heat_capacity": np.array(cv), "zero_point_energy": float(tp.zero_point_energy),
            "n_q": n_q}


def write_helical_thermal_yaml(result, path: str | os.PathLike, temperatures: ArrayLike | None = None,
                               n_q: int | None = None, shift: float = 0.0, cutoff_frequency: float | None = None,
                               comment: dict | None = None) -> Path:
    """:func:`helical_thermal_properties` (default 0–1000 K in steps of 10 K, as the ordinary route) in
    phonopy's thermal_properties.yaml (phonopy's ``ThermalProperties.write_yaml``), ``comment`` lines first."""
    temps = np.arange(0.0, 1000.0 + 1e-9, 10.0) if temperatures is None else temperatures
    tp, n_q = _thermal(result, temps, n_q, shift, cutoff_frequency)
    tp.write_yaml(filename=path, volume=None)
    head = _comment_lines({"per": "translational cell of the helical route", "n_q": n_q,
                           "grid_shift": shift, **(comment or {})})
    path = Path(path)
    path.write_text("\n".join(head) + "\n" + path.read_text())
    return path
