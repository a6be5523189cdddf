"""Symmetry-adapted relaxation and MD of the fundamental domain (issue 17, item 2): FixLineGroup keeps a tube
on its line group under any ASE optimizer or integrator, and with the domain calculator the result equals the
full-tube evaluation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import units
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution
from ase.optimize import BFGS
from conftest import brenner_kernel_model

from ase_relaxed import RelaxedCalculator
from ase_relaxed.errors import InputError
from ase_relaxed.kernel.line_group_constraint import FixLineGroup
from ase_relaxed.kernel.symmetry_calculator import SymmetryAdaptedCalculator
from ase_relaxed.symmetry import build_from_domain

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def model():
    return brenner_kernel_model(frames=3)


def test_projection_is_idempotent_and_keeps_symmetric_tubes() -> None:
    atoms = build_from_domain(6, 3, n_cells=1)
    constraint = FixLineGroup(atoms)
    assert np.allclose(constraint.project_positions(atoms.positions), atoms.positions, atol=1e-10)
    vectors = np.random.default_rng(0).normal(size=atoms.positions.shape)
    once = constraint.project_vectors(vectors)
    assert np.allclose(constraint.project_vectors(once), once, atol=1e-12)
    assert not np.allclose(once, vectors)
    rattled = atoms.positions + 0.05 * vectors
    assert np.allclose(constraint.project_positions(constraint.project_positions(rattled)),
                       constraint.project_positions(rattled), atol=1e-12)
    assert constraint.get_removed_dof(atoms) == 3 * (len(atoms) - 2)


def langevin(atoms, calc, steps: int = 8):
    atoms = atoms.copy()
    atoms.set_constraint(FixLineGroup(atoms))
    atoms.calc = calc
    rng = np.random.default_rng(7)
    MaxwellBoltzmannDistribution(atoms, temperature_K=600, rng=rng)
    atoms.set_momenta(atoms.get_momenta())  # projected onto the symmetric subspace
    dyn = Langevin(atoms, 1.0 * units.fs, temperature_K=600, friction=0.01 / units.fs, rng=rng, fixcm=False)
    dyn.run(steps)
    return atoms


def test_domain_md_equals_full_tube_md_and_stays_symmetric(model) -> None:
    tube = build_from_domain(5, 5, n_cells=4)
    domain = langevin(tube, SymmetryAdaptedCalculator(model, uncertainty=False))  # raises if symmetry were lost
    full = langevin(tube, RelaxedCalculator(model, device="cpu"))
    assert np.abs(domain.positions - tube.positions).max() > 1e-3  # it moved
    assert np.allclose(domain.positions, full.positions, atol=1e-8)
    assert np.allclose(domain.get_momenta(), full.get_momenta(), atol=1e-8)
    assert 0 < domain.get_temperature() < 5000  # counted over the domain's 6 degrees of freedom


def test_symmetric_relaxation_reaches_a_stationary_point_of_the_whole_tube(model) -> None:
    tube = build_from_domain(5, 5, n_cells=4, bond=1.46)  # stretched bonds: far from the minimum
    tube.set_constraint(FixLineGroup(tube))
    tube.calc = SymmetryAdaptedCalculator(model, uncertainty=False)
    assert BFGS(tube, logfile=None).run(fmax=1e-4, steps=200)
    check = tube.copy()
    check.set_constraint()
    check.calc = RelaxedCalculator(model, device="cpu")
    assert np.abs(check.get_forces()).max() < 1e-3  # unconstrained forces vanish too: symmetric minimum


def test_a_tube_of_another_size_is_refused() -> None:
    constraint = FixLineGroup(build_from_domain(5, 0, n_cells=2))
    other = build_from_domain(5, 0, n_cells=3)
    with pytest.raises(InputError, match="set up for 40 atoms, not 60"):
        constraint.adjust_forces(other, np.zeros((60, 3)))
