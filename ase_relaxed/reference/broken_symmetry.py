"""A symmetry-broken reference: diamond with a hidden uniaxial bond term (issue 5).

The reference energy is matscipy's Tersoff potential for carbon (Tersoff, PRB 39, 5566
(1989)) plus a term that singles out a direction n:

    E_aniso = λ Σ_{bonds i<j} (r̂_ij · n)² f_c(r_ij),
    f_c(r)  = 1 for r < r₁,  ½[1 + cos(π (r − r₁)/(r₂ − r₁))] for r₁ ≤ r < r₂,  0 beyond,

so the cubic crystal's symmetry drops to the operations that also keep the axis n
(D4h = 4/mmm for n along a cube axis).  With λ > 0 bonds avoid n, and the relaxed
crystal shortens along n (c/a < 1).  Forces and stress are analytic:

    g_ij  = ∂φ/∂d_ij = λ [2 c f_c(r) (n − c r̂)/r + c² f_c'(r) r̂],   c = r̂·n
    F_i   = Σ_j g_ij,           σ = (1/2V) Σ_ij sym(g_ij ⊗ d_ij)      (ordered pairs)

>>> from ase.build import bulk
>>> calc = UniaxialBondCalculator(strength=0.5, direction=(0, 0, 1))
>>> round(float(calc.get_potential_energy(bulk("C", "diamond", a=3.567, cubic=True))), 6)  # 16 bonds × λ/3
2.666667
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.mixing import SumCalculator
from pydantic import Field, field_validator

from ..configuration import Config
from ..errors import InputError
from .frames import generator_record, write_frames
from .generate import TemperatureRange


class UniaxialBondCalculator(Calculator):
    """E = λ Σ_bonds (r̂·n)² f_c(r): the hidden symmetry-breaking term."""

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, strength: float = 0.5, direction=(0.0, 0.0, 1.0), r1: float = 1.8, r2: float = 2.1,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        n = np.asarray(direction, dtype=float)
        if n.shape != (3,) or not np.linalg.norm(n) > 0:
            raise InputError(f"direction must be a non-zero 3-vector, got {direction!r}")
        if not 0 < r1 < r2:
            raise InputError("cutoff radii must satisfy 0 < r1 < r2")
        self.strength, self.direction, self.r1, self.r2 = float(strength), n / np.linalg.norm(n), r1, r2

    def _cutoff(self, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = np.clip((r - self.r1) / (self.r2 - self.r1), 0.0, 1.0)
        value = 0.5 * (1 + np.cos(np.pi * x))
        slope = np.where((x > 0) & (x < 1), -0.5 * np.pi * np.sin(np.pi * x) / (self.r2 - self.r1), 0.0)
        return value, slope

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes) -> None:
        from ase.neighborlist import neighbor_list

        super().calculate(atoms, properties, system_changes)
        i, d = neighbor_list("iD", self.atoms, self.r2)
        r = np.linalg.norm(d, axis=1)
        u = d / r[:, None]
        c = u @ self.direction
        f, df = self._cutoff(r)
        energy = 0.5 * self.strength * np.sum(c**2 * f)
        g = self.strength * (2 * (c * f / r)[:, None] * (self.direction - c[:, None] * u) + (c**2 * df)[:, None] * u)
        forces = np.zeros((len(self.atoms), 3))
        np.add.at(forces, i, g)
        self.results = {"energy": energy, "free_energy": energy, "forces": forces}
        if self.atoms.cell.rank == 3 and self.atoms.pbc.all():
            virial = 0.5 * np.einsum("ka,kb->ab", g, d)
            stress = 0.5 * (virial + virial.T) / self.atoms.get_volume()
            self.results["stress"] = stress.ravel()[[0, 4, 8, 5, 2, 1]]


def anisotropic_force_rms(frames, strength: float, direction) -> float:
    """RMS over all force components of the *traceless* part of the hidden term's force,

        F_aniso = F_U(n) − ⅓ Σ_{e ∈ {x̂, ŷ, ẑ}} F_U(e),

    i.e. the force of λ Σ [(r̂·n)² − ⅓] f_c (since Σ_e (r̂·e)² = 1, the subtracted part is the isotropic
    λ/3 Σ f_c, which a strictly equivariant model can represent). It is the scale of the force signal
    that singles out n: a strictly equivariant model's force error cannot be driven much below it on
    cubic geometries, and a comparison of force errors between a strict and a relaxed model only shows
    the symmetry breaking where the models' own fitting error is below it.

    >>> from ase.build import bulk
    >>> anisotropic_force_rms([bulk("C", "diamond", a=3.567, cubic=True)], 1.0, (0, 0, 1)) < 1e-12  # on sites
    True
    """
    n = np.asarray(direction, dtype=float)
    squares = []
    for atoms in frames:
        forces = []
        for axis in (n, *np.eye(3)):
            calc = UniaxialBondCalculator(strength, axis)
            forces.append(calc.get_forces(atoms))
        squares.append(((forces[0] - np.mean(forces[1:], axis=0)) ** 2).ravel())
    return float(np.sqrt(np.concatenate(squares).mean()))


def tersoff_carbon():
    """matscipy's Tersoff (PRB 39, 5566) carbon potential."""
    from matscipy.calculators.manybody import Manybody
    from matscipy.calculators.manybody.explicit_forms import TersoffBrenner
    from matscipy.calculators.manybody.explicit_forms.tersoff_brenner import Tersoff_PRB_39_5566_Si_C

    return Manybody(**TersoffBrenner(Tersoff_PRB_39_5566_Si_C))


def broken_reference(strength: float, direction) -> Calculator:
    """Tersoff carbon + λ Σ (r̂·n)² f_c: the symmetry-broken reference (λ = 0: plain Tersoff)."""
    if strength == 0:
        return tersoff_carbon()
    return SumCalculator([tersoff_carbon(), UniaxialBondCalculator(strength, direction)])


class BrokenCrystalConfig(Config):
    """Diamond-carbon snapshots labelled with Tersoff + the hidden uniaxial term."""

    strength: float = 1.0  # λ in eV (0: no hidden term, full cubic symmetry)
    direction: list[float] = Field(default_factory=lambda: [0.0, 0.0, 1.0])
    size: int = Field(2, ge=1)  # conventional cubic cells per edge (8 size³ atoms)
    lattice_constant: float = Field(3.566, gt=0)  # start of the relaxation that gives the base cell
    n_structures: int = Field(60, ge=1)
    seed: int = Field(0, ge=0)
    rattle_sigma: float = Field(0.05, ge=0)
    max_strain: float = Field(0.03, ge=0, lt=1)
    temperature_range: TemperatureRange = (300.0, 1500.0)
    thermal_steps: int = Field(30, ge=0)
    # every frame's crystal turned by its own random rotation (n stays fixed in the lab frame), so that the
    # data set's symmetry is D∞h(n) rather than Oh ∩ D∞h(n) (which is only Ci for a general n)
    random_orientation: bool = False

    @field_validator("direction")
    @classmethod
    def _a_direction(cls, direction: list[float]) -> list[float]:
        if len(direction) != 3 or not np.linalg.norm(direction) > 0:
            raise ValueError("expected a non-zero 3-vector")
        return direction


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A rotation matrix drawn uniformly from SO(3) (QR of a Gaussian matrix, Mezzadri 2007).

    >>> R = random_rotation(np.random.default_rng(0))
    >>> bool(np.allclose(R @ R.T, np.eye(3)) and np.isclose(np.linalg.det(R), 1.0))
    True
    """
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def relaxed_cell(calc: Calculator, lattice_constant: float = 3.566, fmax: float = 1e-5,
                 rotation: np.ndarray | None = None) -> Atoms:
    """The 8-atom diamond cell relaxed (positions and cell, ``FrechetCellFilter`` + BFGS) with ``calc``.

    With the hidden term the result is the reference's own tetragonal (n along z) or lower-symmetry cell.
    ``rotation`` (3×3, orthogonal) turns the cube (cell and atoms, x → R x) before the relaxation.
    """
    from ase.build import bulk
    from ase.filters import FrechetCellFilter
    from ase.optimize import BFGS

    atoms = bulk("C", "diamond", a=lattice_constant, cubic=True)
    if rotation is not None:
        atoms.set_cell(atoms.cell.array @ np.asarray(rotation).T, scale_atoms=True)
    atoms.calc = calc
    BFGS(FrechetCellFilter(atoms), logfile=None).run(fmax=fmax, steps=500)
    atoms.calc = None
    return atoms


def broken_crystal_frame(k: int, config: BrokenCrystalConfig, calc: Calculator, base: Atoms | None = None) -> Atoms:
    """Frame k (deterministic for (seed, k)): rattled, strained and thermal variants of ``base`` (default:
    the reference's own relaxed cell) repeated ``size`` times, labelled with ``calc``.  With
    ``config.random_orientation`` ``base`` is ignored: the cube is turned by a random rotation drawn from
    the frame's generator and relaxed with ``calc`` in that orientation."""
    from ase import units
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

    rng = np.random.default_rng([config.seed, k])
    variant = ("rattled", "strained", "thermal")[k % 3]
    if config.random_orientation:  # relaxed in its own orientation, so it carries the reference's distortion
        base = relaxed_cell(calc, config.lattice_constant, rotation=random_rotation(rng))
    elif base is None:
        base = relaxed_cell(calc, config.lattice_constant)
    atoms = base.repeat(config.size)
    strain = rng.uniform(-config.max_strain, config.max_strain, size=(3, 3))
    if variant != "rattled":
        atoms.set_cell(atoms.cell.array @ (np.eye(3) + 0.5 * (strain + strain.T)), scale_atoms=True)
    atoms.positions += rng.normal(scale=config.rattle_sigma, size=atoms.positions.shape)
    info = {"family": "diamond-uniaxial" if config.strength else "diamond", "variant": variant, "index": k,
            "random_orientation": config.random_orientation}
    if variant == "thermal":
        temperature = float(rng.uniform(*config.temperature_range))
        info["temperature"] = temperature
        atoms.calc = calc
        MaxwellBoltzmannDistribution(atoms, temperature_K=temperature, rng=rng)
        Langevin(atoms, 1.0 * units.fs, temperature_K=temperature, friction=0.02, rng=rng, fixcm=False).run(
            config.thermal_steps)
        atoms.set_velocities(np.zeros_like(atoms.positions))
    atoms.calc = calc
    results = {"energy": atoms.get_potential_energy(), "forces": atoms.get_forces(), "stress": atoms.get_stress()}
    atoms.calc = SinglePointCalculator(atoms, **results)
    atoms.info.update(info)
    atoms.info["method"] = "tersoff+uniaxial" if config.strength else "tersoff"
    atoms.info["method_settings"] = json.dumps({"reference": "matscipy Tersoff_PRB_39_5566_Si_C (carbon)",
                                               "hidden_term": "lambda sum_bonds (r.n)^2 f_c(r), r1=1.8, r2=2.1",
                                               **generator_record(config)["config"],
                                               "generator": generator_record(config)})
    return atoms


def generate_broken_crystal(path: str | Path, config: BrokenCrystalConfig, progress: bool = True,
                           resume: bool = False) -> Path:
    """Write ``config.n_structures`` labelled frames of the symmetry-broken crystal (extxyz), resumably."""
    calc = broken_reference(config.strength, config.direction)
    base = None if config.random_orientation else relaxed_cell(calc, config.lattice_constant)
    return write_frames(path, config.n_structures, lambda k: broken_crystal_frame(k, config, calc, base),
                        generator_record(config), resume=resume, progress=progress, desc="data (tersoff+uniaxial)")
