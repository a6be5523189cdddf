"""Phonons of a nanotube from its 2-atom fundamental domain (cyclic + helical Bloch numbers).

Method of Sharma, Kumar & Suryanarayana (arXiv:2408.07554, Sec. 2.3): displace only the two domain atoms
(±h along x, y, z: 12 force calls) inside a periodic segment of ``n_cells`` translational cells, read off the
blocks F_ab(g) = Φ(a 0, b g) by central differences, and diagonalise the 6×6 matrix

    D_ab(η, μ) = Σ_g F_ab(g) R_g exp(i(2π μ ν_g/N + η s_g)) / √(m_a m_b)

(helical Bloch theorem u_{b,(ν,s)} = R_{ν,s} ε_b exp(i(2πμν/N + ηs)), see :mod:`.force_constants`).

Unfolding onto the ordinary 1D zone of the translational cell: the pure translation by T is the group
element (ν_T, q) (:attr:`LineGroup.translation_element`), so a helical mode is a Bloch wave of wave vector k
with k T ≡ q η + 2π μ ν_T / N (mod 2π). For each k the N·q pairs (μ, η_l = (kT − 2πμν_T/N + 2πl)/q),
l = 0…q−1, give all 3 × (atoms per cell) frequencies.

Wave vectors are in reduced units: ``q_red = k T / 2π`` (phonopy's q_z for a cell of length T); frequencies
in cm⁻¹, imaginary ones as negative numbers (phonopy's convention).

>>> from matscipy.calculators.manybody import Manybody
>>> from matscipy.calculators.manybody.explicit_forms.tersoff_brenner import (
...     TersoffBrenner, Brenner_PRB_42_9458_C_I)
>>> ph = helical_phonons(5, 5, Manybody(**TersoffBrenner(Brenner_PRB_42_9458_C_I)), interaction_range=4.0)
>>> ph.n_force_evaluations, len(ph.gamma_frequencies)
(12, 60)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms, units
from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes
from numpy.typing import ArrayLike

from ..calculator import NOT_A_HESSIAN, warn_if_not_conservative
from ..errors import InputError
from ..symmetry.line_groups import LineGroup, rotation_z
from ..symmetry.line_groups import line_group as _ideal_line_group
from .force_constants import HelicalForceConstants, apply_acoustic_sum_rule, image_table, symmetrize

__all__ = ["HelicalPhonons", "helical_phonons", "relax_line_group", "segment_cells", "TO_CM"]

#: √(eV / (Å² amu)) → cm⁻¹ (ω / 2πc); ≈ 521.47, phonopy's DefaultToTHz × THzToCm.
TO_CM = float(np.sqrt(units._e / units._amu) * 1e10 / (2 * np.pi * units._c * 100))
DEFAULT_RANGE = 10.0


def segment_cells(lg: LineGroup, interaction_range: float, margin: float = 1.0) -> int:
    """Translational cells in a periodic segment of length ≥ 2 × interaction_range + margin (Å)."""
    if not interaction_range > 0:
        raise InputError(f"interaction_range must be positive, got {interaction_range!r}")
    return max(1, int(np.ceil((2 * interaction_range + margin) / lg.period - 1e-9)))


def _segment(lg: LineGroup, n_cells: int, symbol: str, vacuum: float = 8.0) -> Atoms:
    """The periodic segment, atoms in :meth:`LineGroup.labels` order, axis at the xy box centre."""
    pos = lg.positions(n_cells)
    side = 2 * (np.linalg.norm(lg.domain[:, :2], axis=1).max() + vacuum)
    pos[:, :2] += side / 2
    return Atoms(symbol * len(pos), positions=pos, cell=[side, side, n_cells * lg.period], pbc=[False, False, True])


#: generalised-force factor of the axial coordinate u = f ln(T/T₀): f = 2 atoms per domain, so that its force
#: V σ_zz / N is ase.filters.FrechetCellFilter's per-atom virial and one fmax (eV/Å, or eV) bounds both
AXIAL_FACTOR = 2.0


def _axial_derivative(segment: Atoms, step: float = 1e-5) -> float:
    """∂E/∂ε_zz = V σ_zz of the segment (eV), the derivative under an affine axial stretch of atoms and cell;
    by central differences of the energy (ase.calculators.fd's strain) for a calculator without stress."""
    try:
        return float(segment.get_stress(voigt=False)[2, 2] * segment.get_volume())
    except PropertyNotImplementedError:
        energies = []
        for sign in (1, -1):
            stretched = segment.copy()
            stretched.calc = segment.calc
            stretched.set_cell(segment.cell.array * [[1.0], [1.0], [1.0 + sign * step]], scale_atoms=True)
            energies.append(stretched.get_potential_energy())
        return (energies[0] - energies[1]) / (2 * step)


class _DomainCalculator(Calculator):
    """Energy per domain E_d = E/n_domains of the tube generated from the domain, and its generalised forces
    (used to relax with any ASE optimizer).

    Rows 0, 1 of the "atoms" are the domain atoms d_a in the frame of the starting period T₀; with
    ``relax_period`` a row (0, 0, u) follows, u = f ln(T/T₀) (f = :data:`AXIAL_FACTOR`). The tube is
    ``lg.with_domain(d).with_period(λ T₀)``, λ = e^{u/f}: real domain x_a = diag(1, 1, λ) d_a. Then

        F_a = −∂E_d/∂d_a = diag(1, 1, λ) mean_g R_gᵀ F_{a,g}     (symmetrised domain forces)
        F_u = −∂E_d/∂u   = −V σ_zz / (f n_domains) = −V σ_zz / N,

    since ∂/∂ln λ at fixed d stretches every atom and the cell affinely: ∂E/∂ln λ = ∂E/∂ε_zz = V σ_zz.
    """

    implemented_properties = ["energy", "forces"]

    def __init__(self, lg: LineGroup, calc: Calculator, n_cells: int, symbol: str, relax_period: bool = False):
        super().__init__()
        self.lg, self.inner, self.n_cells, self.symbol, self.count = lg, calc, n_cells, symbol, 0
        self.relax_period = relax_period

    def line_group(self, rows: np.ndarray) -> LineGroup:
        """The group and domain that the optimizer's rows describe."""
        lg = self.lg.with_domain(rows[:2])
        return lg.with_period(self.lg.period * np.exp(rows[2, 2] / AXIAL_FACTOR)) if self.relax_period else lg

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        lg = self.line_group(self.atoms.positions)
        segment = _segment(lg, self.n_cells, self.symbol)
        segment.calc = self.inner
        forces, energy = segment.get_forces(), segment.get_potential_energy()
        self.count += 1
        labels = lg.labels(self.n_cells)
        back = np.einsum("kji,kj->ki", rotation_z(lg.rotation_angle(labels[:, 1], labels[:, 2])), forces)
        images = len(labels) // 2
        domain_forces = np.array([back[labels[:, 0] == a].mean(axis=0) for a in range(2)])
        if self.relax_period:
            stretch = lg.period / self.lg.period
            axial = -_axial_derivative(segment) / (AXIAL_FACTOR * images)
            domain_forces = np.vstack([domain_forces * [1.0, 1.0, stretch], [0.0, 0.0, axial]])
        self.results = {"energy": energy / images, "forces": domain_forces}


def relax_line_group(lg: LineGroup, calc: Calculator, n_cells: int | None = None, fmax: float = 1e-5,
                     steps: int = 500, symbol: str = "C", relax_period: bool = True) -> tuple[LineGroup, int]:
    """Symmetry-adapted relaxation of the 2 domain atoms (6 coordinates) and, with ``relax_period``, of the
    axial period T (the screw translation τ = T/q with it; ψ and N are topological), with ASE's BFGS.

    The period coordinate is the log-strain u = 2 ln(T/T₀), whose force is the per-atom axial virial
    −V σ_zz / N (as in ase.filters.FrechetCellFilter; σ_zz from the calculator's stress, or by central
    differences of the energy where it has none). Stops when the symmetrised forces are below ``fmax``
    (eV/Å) and V |σ_zz| / N < ``fmax`` (eV): every atom of the tube then feels a force below ``fmax`` and
    the tube no axial stress. Returns the relaxed group and the number of calculator calls.

    >>> from matscipy.calculators.manybody import Manybody
    >>> from matscipy.calculators.manybody.explicit_forms.tersoff_brenner import (
    ...     TersoffBrenner, Brenner_PRB_42_9458_C_I)
    >>> from ase_relaxed.symmetry import line_group
    >>> ideal = line_group(5, 5)
    >>> relaxed, calls = relax_line_group(ideal, Manybody(**TersoffBrenner(Brenner_PRB_42_9458_C_I)), n_cells=4)
    >>> round(ideal.period, 4), round(relaxed.period, 4)   # this Brenner carbon prefers bonds shorter than 1.42 Å
    (2.4595, 2.3967)
    """
    from ase.optimize import BFGS

    n_cells = n_cells or segment_cells(lg, DEFAULT_RANGE / 2)
    rows = lg.domain if not relax_period else np.vstack([lg.domain, [0.0, 0.0, 0.0]])
    domain = Atoms([symbol, symbol] + (["X"] if relax_period else []), positions=rows)
    domain.calc = helper = _DomainCalculator(lg, calc, n_cells, symbol, relax_period)
    if not BFGS(domain, logfile=None).run(fmax=fmax, steps=steps):
        what = "domain and period" if relax_period else "domain"
        raise RuntimeError(f"{what} relaxation did not reach fmax={fmax} eV/Å in {steps} steps")
    return helper.line_group(domain.positions), helper.count


def _force_constants(lg: LineGroup, calc: Calculator, n_cells: int, h: float, symbol: str):
    segment = _segment(lg, n_cells, symbol)
    masses = segment.get_masses()[:2]
    table = image_table(lg, n_cells)
    labels = lg.labels(n_cells)
    blocks = np.zeros((len(table["a"]), 3, 3))
    count = 0
    for a in range(2):
        atom = int(np.flatnonzero((labels[:, 0] == a) & (labels[:, 1] == 0) & (labels[:, 2] == 0))[0])
        rows = table["a"] == a
        for alpha in range(3):
            forces = []
            for sign in (1, -1):
                displaced = segment.copy()
                displaced.positions[atom, alpha] += sign * h
                displaced.calc = calc
                forces.append(displaced.get_forces())
                count += 1
            deriv = -(forces[0] - forces[1]) / (2 * h)  # Φ(a0, j)[alpha, :]
            blocks[rows, alpha, :] = deriv[table["atom"][rows]] * table["weight"][rows, None]
    fc = HelicalForceConstants(lg, table["a"], table["b"], table["nu"], table["s"], blocks, masses)
    return fc, count


def _to_cm(eigenvalues: np.ndarray) -> np.ndarray:
    return np.sign(eigenvalues) * np.sqrt(np.abs(eigenvalues)) * TO_CM


@dataclass(eq=False)
class HelicalPhonons:
    """Result of :func:`helical_phonons`: force constants in the helical labelling, and what derives from them."""

    force_constants: HelicalForceConstants
    n_force_evaluations: int
    n_cells: int
    n_relax_evaluations: int = 0

    @property
    def line_group(self) -> LineGroup:
        return self.force_constants.line_group

    def helical_frequencies(self, eta: ArrayLike, mu: ArrayLike) -> np.ndarray:
        """The 6 frequencies (cm⁻¹, sorted) at helical number η (radians) and cyclic number μ; arrays broadcast."""
        return _to_cm(np.linalg.eigvalsh(self.force_constants.dynamical_matrix(eta, mu)))

    def helical_pairs(self, q: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """(η, μ) arrays of shape (len(q), N·q_s) that unfold onto reduced wave vectors ``q`` = kT/2π."""
        lg = self.line_group
        nu_t, steps = lg.translation_element
        mu = np.repeat(np.arange(lg.cyclic_order), steps)
        ell = np.tile(np.arange(steps), lg.cyclic_order)
        q = np.atleast_1d(np.asarray(q, dtype=float))
        eta = (2 * np.pi * q[:, None] - 2 * np.pi * mu * nu_t / lg.cyclic_order + 2 * np.pi * ell) / steps
        eta = np.mod(eta + np.pi, 2 * np.pi) - np.pi
        return eta, np.broadcast_to(mu, eta.shape)

    def frequencies(self, q: ArrayLike) -> np.ndarray:
        """All 3 × (atoms per cell) frequencies (cm⁻¹, sorted) at reduced wave vectors ``q`` (k = 2π q / T),
        shape (len(q), 3·atoms_per_cell)."""
        eta, mu = self.helical_pairs(q)
        return np.sort(self.helical_frequencies(eta, mu).reshape(len(eta), -1), axis=1)

    @property
    def gamma_frequencies(self) -> np.ndarray:
        """Frequencies at k = 0 (cm⁻¹, sorted; four ≈ 0 after the sum rule: 3 translations + the twist)."""
        return self.frequencies([0.0])[0]

    def dos(self, frequencies_grid: ArrayLike | None = None, sigma: float = 3.0,
            n_eta: int = 2000) -> tuple[np.ndarray, np.ndarray]:
        """Phonon DOS per translational cell (states per cm⁻¹; integrates to 3 × atoms per cell), sampling
        η on a uniform grid of ``n_eta`` points for every μ and broadening with Gaussians of width ``sigma``
        (cm⁻¹). 1D van Hove singularities (band edges, ∝ 1/√|ω − ω_c|) appear as sharp peaks.
        Returns (frequency grid in cm⁻¹, DOS)."""
        if not sigma > 0 or int(n_eta) < 1:
            raise InputError(f"need sigma > 0 and n_eta >= 1, got sigma={sigma!r}, n_eta={n_eta!r}")
        lg = self.line_group
        eta = -np.pi + 2 * np.pi * np.arange(int(n_eta)) / int(n_eta)
        freqs = np.sort(self.helical_frequencies(eta[:, None], np.arange(lg.cyclic_order)[None, :]).ravel())
        if frequencies_grid is None:
            frequencies_grid = np.linspace(min(freqs[0], 0.0) - 5 * sigma, freqs[-1] + 5 * sigma, 1000)
        grid = np.asarray(frequencies_grid, dtype=float)
        lo, hi = np.searchsorted(freqs, grid - 7 * sigma), np.searchsorted(freqs, grid + 7 * sigma)
        dos = np.array([np.exp(-0.5 * ((g - freqs[i:j]) / sigma) ** 2).sum()
                        for g, i, j in zip(grid.ravel(), lo.ravel(), hi.ravel())])
        weight = lg.screws_per_period / int(n_eta)  # each (μ, η) sample holds q/n_eta states of a translational cell
        return grid, dos.reshape(grid.shape) * weight / (sigma * np.sqrt(2 * np.pi))

    def plot(self, path: str | Path, n_q: int = 101, sigma: float = 3.0) -> Path:
        """Write the unfolded band structure (k ∈ [0, π/T]) next to the DOS as a PNG (matplotlib, no pyplot)."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        q = np.linspace(0.0, 0.5, n_q)
        bands = self.frequencies(q)
        grid, dos = self.dos(sigma=sigma)
        fig = Figure(figsize=(8, 5))
        FigureCanvasAgg(fig)
        ax_b, ax_d = fig.subplots(1, 2, sharey=True, gridspec_kw={"width_ratios": [3, 1]})
        ax_b.plot(q, bands, color="C0", lw=0.6)
        ax_b.set(xlim=(0, 0.5), xlabel="k T / 2π", ylabel="frequency (cm⁻¹)",
                 title=f"({self.line_group.n},{self.line_group.m}) tube, helical-symmetry phonons")
        ax_d.plot(dos, grid, color="C1", lw=0.8)
        ax_d.set(xlabel="DOS (states / cm⁻¹ / cell)")
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        return Path(path)


def helical_phonons(n: int, m: int, calc: Calculator, bond_length: float | None = None, *,
                    line_group: LineGroup | None = None, interaction_range: float | None = None,
                    n_cells: int | None = None, displacement: float = 0.01, relax: bool = True,
                    fmax: float = 1e-5, acoustic_sum_rule: bool = True, symbol: str = "C",
                    relax_period: bool = True) -> HelicalPhonons:
    """Phonons of tube (n, m) with calculator ``calc`` from 12 force calls on a periodic segment.

    ``bond_length``: bond of the starting rolled-graphene geometry (default 1.42 Å); ``line_group``: use this
    group and domain instead (e.g. one relaxed with :func:`relax_line_group`). The segment has ``n_cells``
    translational cells, by default enough for length ≥ 2 × ``interaction_range`` + 1 Å, where the range
    (the distance beyond which force constants vanish) is the argument, else ``calc.interaction_range``,
    else 10 Å. ``relax``: first relax the domain and (``relax_period``) the axial period with the same segment
    (:func:`relax_line_group`), since phonons need a stationary, stress-free tube. ``displacement``:
    central-difference step (Å).
    ``acoustic_sum_rule``: impose translational and twist invariance (:func:`apply_acoustic_sum_rule`).
    """
    bond = 1.42 if bond_length is None else bond_length
    lg = line_group if line_group is not None else _ideal_line_group(n, m, bond)
    if (lg.n, lg.m) != (n, m):
        raise InputError(f"line group is for ({lg.n}, {lg.m}), not ({n}, {m})")
    if not displacement > 0:
        raise InputError(f"displacement must be positive, got {displacement!r}")
    warn_if_not_conservative(calc, "phonons", NOT_A_HESSIAN)
    if n_cells is None:
        if interaction_range is None:
            interaction_range = float(getattr(calc, "interaction_range", DEFAULT_RANGE))
        n_cells = segment_cells(lg, interaction_range)
    elif int(n_cells) != n_cells or n_cells < 1:
        raise InputError(f"n_cells must be a positive integer, got {n_cells!r}")
    n_relax = 0
    if relax:
        lg, n_relax = relax_line_group(lg, calc, n_cells=n_cells, fmax=fmax, symbol=symbol, relax_period=relax_period)
    fc, count = _force_constants(lg, calc, int(n_cells), displacement, symbol)
    fc = apply_acoustic_sum_rule(fc) if acoustic_sum_rule else symmetrize(fc)
    return HelicalPhonons(fc, count, int(n_cells), n_relax)
