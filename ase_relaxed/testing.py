"""Importable physics assertions for any ASE calculator.

Each function raises ``AssertionError`` with the measured error when a physical
law is violated, and returns that error otherwise, so it can be reported.

    F_i   = −∂E/∂r_i                         (finite differences)
    σ     = (1/V) ∂E/∂ε                      (numerical stress)
    E(QR + t) = E(R),  F(QR + t) = Q F(R),  σ → Q σ Qᵀ   for Q ∈ O(3)

>>> from ase.build import molecule
>>> from ase_relaxed import RelaxedCalculator
>>> calc = RelaxedCalculator("demo-carbon-random")
>>> atoms = molecule("C6H6"); del atoms[[a.index for a in atoms if a.symbol == "H"]]
>>> assert_forces_finite_differences(calc, atoms, indices=[0], eps=1e-4, atol=1e-6) < 1e-6
True
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
from ase import Atoms
from ase.calculators.fd import calculate_numerical_forces, calculate_numerical_stress


def _evaluate(calc, atoms: Atoms, stress: bool) -> tuple[float, np.ndarray, np.ndarray | None]:
    atoms = atoms.copy()
    atoms.calc = calc
    energy = atoms.get_potential_energy()
    forces = atoms.get_forces()
    sigma = atoms.get_stress(voigt=False) if stress else None
    return energy, forces, sigma


def _check(name: str, error: float, atol: float) -> float:
    assert error <= atol, f"{name}: error {error:.3e} exceeds tolerance {atol:.1e}"
    return error


def random_orthogonal(rng: np.random.Generator, reflect: bool = False) -> np.ndarray:
    """A random rotation matrix (times −1 when ``reflect``: an improper rotation)."""
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return -q if reflect else q


def assert_equivariant(
    calc, atoms: Atoms, rng: np.random.Generator | None = None, stress: bool = False, atol: float = 1e-10
) -> float:
    """Energy invariant, forces and stress covariant under rotation, reflection,
    translation and permutation of the atoms.  Returns the largest error (eV, eV/Å, eV/Å³)."""
    rng = rng or np.random.default_rng(0)
    e0, f0, s0 = _evaluate(calc, atoms, stress)
    worst = 0.0
    for reflect in (False, True):
        q = random_orthogonal(rng, reflect)
        moved = atoms.copy()
        moved.positions = atoms.positions @ q.T + rng.normal(size=3)
        moved.cell = atoms.cell.array @ q.T
        e1, f1, s1 = _evaluate(calc, moved, stress)
        errors = [abs(e1 - e0), np.abs(f1 - f0 @ q.T).max()]
        if stress:
            errors.append(np.abs(s1 - q @ s0 @ q.T).max())
        worst = max(worst, *errors)
    order = rng.permutation(len(atoms))
    e2, f2, s2 = _evaluate(calc, atoms[order], stress)
    worst = max(worst, abs(e2 - e0), np.abs(f2 - f0[order]).max())
    if stress:
        worst = max(worst, np.abs(s2 - s0).max())
    return _check("equivariance", worst, atol)


def assert_forces_finite_differences(
    calc, atoms: Atoms, indices: Sequence[int] | None = None, eps: float = 1e-4, atol: float = 1e-6
) -> float:
    """Forces equal central finite differences −[E(r+h) − E(r−h)] / 2h on ``indices``."""
    atoms = atoms.copy()
    atoms.calc = calc
    indices = list(range(len(atoms))) if indices is None else list(indices)
    analytic = atoms.get_forces()[indices]
    numeric = calculate_numerical_forces(atoms, eps=eps, iatoms=indices)
    numeric = numeric[indices] if numeric.shape[0] == len(atoms) else numeric
    return _check("forces vs finite differences", float(np.abs(analytic - numeric).max()), atol)


def assert_stress_numerical(calc, atoms: Atoms, eps: float = 1e-5, atol: float = 1e-7) -> float:
    """Stress equals the strain derivative of the energy by central differences."""
    atoms = atoms.copy()
    atoms.calc = calc
    analytic = atoms.get_stress(voigt=True)
    numeric = calculate_numerical_stress(atoms, eps=eps, voigt=True)
    return _check("stress vs numerical stress", float(np.abs(analytic - numeric).max()), atol)


def assert_batch_equals_single(calc, images: Sequence[Atoms], stress: bool = False, atol: float = 1e-10) -> float:
    """``calc.calculate_batch(images)`` equals one call per image."""
    properties = ("energy", "forces", "stress") if stress else ("energy", "forces")
    batched = calc.calculate_batch(images, properties)
    worst = 0.0
    for atoms, result in zip(images, batched):
        e, f, s = _evaluate(calc, atoms, stress)
        worst = max(worst, abs(result["energy"] - e), np.abs(result["forces"] - f).max())
        if stress:
            from ase.stress import full_3x3_to_voigt_6_stress

            worst = max(worst, np.abs(result["stress"] - full_3x3_to_voigt_6_stress(s)).max())
    return _check("batch vs single", worst, atol)


def assert_periodic_images(calc, atoms: Atoms, rng: np.random.Generator | None = None, atol: float = 1e-9) -> float:
    """Moving atoms by lattice vectors changes nothing; a 2×2×2 supercell of a
    3D crystal (2 along each periodic axis otherwise) has 8× (resp. 2^k ×) the energy."""
    rng = rng or np.random.default_rng(0)
    e0, f0, _ = _evaluate(calc, atoms, False)
    moved = atoms.copy()
    jumps = rng.integers(-2, 3, size=(len(atoms), 3)) * atoms.pbc
    moved.positions = atoms.positions + jumps @ atoms.cell.array
    e1, f1, _ = _evaluate(calc, moved, False)
    repeat = [2 if p else 1 for p in atoms.pbc]
    e2, _, _ = _evaluate(calc, atoms.repeat(repeat), False)
    n_copies = int(np.prod(repeat))
    worst = max(abs(e1 - e0), np.abs(f1 - f0).max(), abs(e2 - n_copies * e0) / n_copies)
    return _check("periodic images", worst, atol)


def assert_local(calc, part_a: Atoms, part_b: Atoms, receptive_field: float, atol: float = 1e-10) -> float:
    """Two fragments farther apart than ``receptive_field`` (num_layers × cutoff)
    do not interact: energies add and forces on A ignore B."""
    span_a = part_a.positions.max(axis=0)
    b = part_b.copy()
    b.positions += span_a - b.positions.min(axis=0) + np.array([receptive_field + 0.1, 0.0, 0.0])
    both = part_a + b
    both.pbc = False
    e_a, f_a, _ = _evaluate(calc, part_a, False)
    e_b, _, _ = _evaluate(calc, b, False)
    e_ab, f_ab, _ = _evaluate(calc, both, False)
    worst = max(abs(e_ab - e_a - e_b), np.abs(f_ab[: len(part_a)] - f_a).max())
    return _check("locality", worst, atol)


def max_error(check: Callable[..., float], *args, **kwargs) -> float:
    """Run a check with an infinite tolerance and return its error (for reports)."""
    return check(*args, **{**kwargs, "atol": np.inf})
