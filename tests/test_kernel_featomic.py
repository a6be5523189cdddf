"""The featomic-descriptor kernel model (Sharma, Kumar, Suryanarayana, arXiv:2408.07554; featomic SOAP, Bartók et
al. PRB 87, 184115): forces are −∂E/∂r and stress is (1/V) ∂E/∂ε of the same energy, and E is rotation invariant
with equivariant forces.  Derivatives are checked against ASE's finite differences, not against stored numbers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk
from ase.calculators.fd import calculate_numerical_forces, calculate_numerical_stress
from scipy.spatial.transform import Rotation

from ase_relaxed import RelaxedCalculator
from ase_relaxed.graph import atoms_to_graph
from ase_relaxed.kernel import KernelConfig, build_kernel_model
from ase_relaxed.kernel.featomic_soap import FeatomicSOAP

torch.set_num_threads(1)

CONFIG = dict(cutoff=3.5, n_max=4, l_max=3, sigma=0.5, smoothing=0.5)


def diamond(rattle: float = 0.08, seed: int = 3) -> Atoms:
    """A sheared, rattled 8-atom diamond cell: no symmetry left to hide a wrong derivative."""
    atoms = bulk("C", "diamond", a=3.57, cubic=True)
    shear = np.array([[1.0, 0.03, 0.0], [0.0, 1.0, 0.02], [0.01, 0.0, 1.0]])
    atoms.set_cell(atoms.cell.array @ shear, scale_atoms=True)
    atoms.positions += np.random.default_rng(seed).normal(0.0, rattle, atoms.positions.shape)
    return atoms


def random_featomic_model(atoms: Atoms, n_rep: int = 6, seed: int = 0):
    """A featomic kernel model with representatives drawn from ``atoms``' own environments and random weights."""
    config = KernelConfig(n_representative=n_rep, energy_shift=[-7.0], descriptor="featomic", **CONFIG)
    model = build_kernel_model(config)
    energy_model = model.energy_model
    soap = FeatomicSOAP(["C"], **CONFIG)
    pool = soap(atoms_to_graph(atoms, soap.cutoff))
    generator = torch.Generator().manual_seed(seed)
    energy_model.representatives.copy_(pool[torch.randperm(len(pool), generator=generator)[:n_rep]])
    energy_model.weights.copy_(torch.randn(n_rep, generator=generator, dtype=torch.float64))
    return model


@pytest.fixture(scope="module")
def calculator() -> RelaxedCalculator:
    return RelaxedCalculator(random_featomic_model(diamond(seed=11)), device="cpu")


def test_forces_are_minus_the_energy_gradient(calculator) -> None:
    atoms = diamond()
    atoms.calc = calculator
    forces = atoms.get_forces()
    numerical = calculate_numerical_forces(atoms, eps=1e-5)
    assert np.abs(forces).max() > 1e-2  # a non-trivial field
    assert np.abs(forces - numerical).max() < 1e-6
    assert np.abs(forces.sum(axis=0)).max() < 1e-9  # translation invariance: no net force


def test_stress_is_the_strain_derivative_of_the_energy(calculator) -> None:
    atoms = diamond()
    atoms.calc = calculator
    stress = atoms.get_stress(voigt=True)
    numerical = calculate_numerical_stress(atoms, eps=1e-6, voigt=True, force_consistent=False)
    assert np.abs(stress).max() > 1e-3
    assert np.abs(stress - numerical).max() < 1e-6


def test_energy_invariant_and_forces_equivariant_under_rotation(calculator) -> None:
    atoms = diamond()
    atoms.calc = calculator
    energy, forces, stress = atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress(voigt=False)
    rotation = Rotation.random(random_state=7).as_matrix()
    moved = atoms.copy()
    moved.set_cell(atoms.cell.array @ rotation.T, scale_atoms=False)
    moved.positions = atoms.positions @ rotation.T
    moved.calc = calculator
    assert abs(moved.get_potential_energy() - energy) < 1e-9 * max(1.0, abs(energy))
    assert np.abs(moved.get_forces() - forces @ rotation.T).max() < 1e-9
    assert np.abs(moved.get_stress(voigt=False) - rotation @ stress @ rotation.T).max() < 1e-9


def test_featomic_design_rows_equal_autograd_rows() -> None:
    """The analytic force rows used for fitting (featomic_rows) are the autograd derivatives of the model's φ."""
    from ase_relaxed.kernel.fit import kernel_rows

    atoms = diamond(seed=5)
    energy_model = random_featomic_model(diamond(seed=11)).energy_model
    phi_a, rows_a = kernel_rows(energy_model, atoms, method="autograd")
    phi_b, rows_b = kernel_rows(energy_model, atoms)
    assert rows_b.shape == (3 * len(atoms), energy_model.config.n_representative)
    assert torch.allclose(phi_a, phi_b, atol=1e-12) and (rows_a - rows_b).abs().max() < 1e-10
    assert rows_b.abs().max() > 1e-3


def test_model_files_without_density_weights_keep_featomics_plain_density() -> None:
    """A featomic model file written before center_atom_weight/radial_scale existed rebuilds the density it was
    fitted with (centre weight 1, no radial scaling); a new config round-trips its own (also radial_scale=None)."""
    saved = KernelConfig(descriptor="featomic").to_dict()
    old = {k: v for k, v in saved.items() if k not in ("center_atom_weight", "radial_scale", "radial_exponent")}
    legacy = KernelConfig.from_dict(old)
    assert legacy.center_atom_weight == 1.0 and legacy.radial_scale is None
    assert KernelConfig.from_dict(saved) == KernelConfig(descriptor="featomic")
    plain = KernelConfig(descriptor="featomic", radial_scale=None)
    assert KernelConfig.from_dict(plain.to_dict()) == plain
