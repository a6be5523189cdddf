"""The symmetry-broken reference (Tersoff + hidden uniaxial bond term) and its data generator."""

import json

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.fd import calculate_numerical_forces, calculate_numerical_stress
from ase.filters import FrechetCellFilter
from ase.io import read
from ase.optimize import BFGS

from ase_relaxed.cli import main
from ase_relaxed.reference.broken_symmetry import UniaxialBondCalculator, broken_reference


def distorted_crystal():
    atoms = bulk("C", "diamond", a=3.566, cubic=True).repeat(2)
    atoms.rattle(0.06, seed=1)
    strain = np.eye(3) + 0.02 * np.random.default_rng(0).normal(size=(3, 3))
    atoms.set_cell(atoms.cell.array @ strain, scale_atoms=True)
    return atoms


def test_uniaxial_term_forces_and_stress_are_derivatives_of_its_energy():
    atoms = distorted_crystal()
    atoms.calc = UniaxialBondCalculator(strength=0.7, direction=(1, 2, 3))
    assert np.abs(atoms.get_forces() - calculate_numerical_forces(atoms, 1e-5)).max() < 1e-7
    assert np.abs(atoms.get_stress() - calculate_numerical_stress(atoms, 1e-6)).max() < 1e-8


def test_energy_depends_on_bond_orientation_only_through_n():
    atoms = distorted_crystal()
    n = np.array([1.0, 2.0, 3.0]) / np.sqrt(14)
    q, _ = np.linalg.qr(np.random.default_rng(3).normal(size=(3, 3)))
    moved = atoms.copy()
    moved.positions, moved.cell = atoms.positions @ q.T, atoms.cell.array @ q.T
    energy = UniaxialBondCalculator(0.7, n).get_potential_energy(atoms)
    assert UniaxialBondCalculator(0.7, q @ n).get_potential_energy(moved) == pytest.approx(energy, abs=1e-12)
    assert abs(UniaxialBondCalculator(0.7, n).get_potential_energy(moved) - energy) > 1e-4


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_hidden_term_makes_the_relaxed_crystal_tetragonal_along_n():
    ratios = {}
    for strength in (0.0, 0.5):
        atoms = bulk("C", "diamond", a=3.566, cubic=True)
        atoms.calc = broken_reference(strength, (0, 0, 1))
        BFGS(FrechetCellFilter(atoms), logfile=None).run(fmax=1e-5, steps=300)
        lengths = atoms.cell.lengths()
        assert lengths[0] == pytest.approx(lengths[1], rel=1e-6)
        ratios[strength] = lengths[2] / lengths[0]
    assert ratios[0.0] == pytest.approx(1.0, abs=1e-6)
    assert ratios[0.5] < 0.99  # bonds avoid n: the crystal shortens along it


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_data_command_writes_labelled_frames_with_stress(tmp_path):
    out = tmp_path / "broken.extxyz"
    assert main(["data", "--method", "tersoff-uniaxial", "--strength", "0.5", "--direction", "1", "1", "0",
                 "--size", "1", "-n", "3", "--seed", "4", "--out", str(out), "--quiet"]) == 0
    frames = read(out, ":")
    assert len(frames) == 3 and {f.info["variant"] for f in frames} == {"rattled", "strained", "thermal"}
    for atoms in frames:
        assert atoms.get_stress().shape == (6,) and np.isfinite(atoms.get_forces()).all()
        assert json.loads(atoms.info["method_settings"])["direction"] == [1.0, 1.0, 0.0]
    assert main(["data", "--method", "tersoff-uniaxial", "--size", "1", "-n", "3", "--out", str(out)]) == 2


def test_data_command_resumes_instead_of_regenerating(tmp_path):
    """--resume appends the missing frames and keeps the first ones byte for byte (it once rewrote the file)."""
    run = ["data", "--method", "tersoff", "--size", "1", "--seed", "2", "--quiet", "--out", str(tmp_path / "t.extxyz")]
    assert main([*run, "-n", "2"]) == 0
    first = (tmp_path / "t.extxyz").read_text()
    assert main([*run, "-n", "3", "--resume"]) == 0
    assert main(["data", "--method", "tersoff", "--size", "1", "-n", "3", "--out", str(tmp_path / "whole.extxyz"),
                 "--seed", "2", "--quiet"]) == 0
    resumed = (tmp_path / "t.extxyz").read_text()
    assert resumed.startswith(first) and resumed == (tmp_path / "whole.extxyz").read_text()
    assert main([*run, "-n", "4", "--resume", "--seed", "9"]) == 2  # another seed would mix two data sets


def test_anisotropic_force_rms_is_linear_in_strength_and_vanishes_for_an_isotropic_average():
    from ase.build import bulk

    from ase_relaxed.reference.broken_symmetry import anisotropic_force_rms

    atoms = bulk("C", "diamond", a=3.567, cubic=True)
    atoms.rattle(0.05, seed=1)
    one = anisotropic_force_rms([atoms], 1.0, (0.36, 0.48, 0.8))
    assert one > 1e-3
    assert anisotropic_force_rms([atoms], 2.5, (0.36, 0.48, 0.8)) == pytest.approx(2.5 * one, rel=1e-12)
    # the subtracted isotropic part λ Σ f_c does not depend on the orthonormal frame used to build it
    from scipy.spatial.transform import Rotation

    from ase_relaxed.reference.broken_symmetry import UniaxialBondCalculator

    frame = Rotation.random(random_state=0).as_matrix()
    atoms = bulk("C", "diamond", a=4.4, cubic=True)  # bonds of 1.9 Å: inside the switching region of f_c
    atoms.rattle(0.05, seed=1)
    lab = sum(UniaxialBondCalculator(1.0, e).get_forces(atoms) for e in np.eye(3))
    rotated = sum(UniaxialBondCalculator(1.0, e).get_forces(atoms) for e in frame)
    assert np.abs(lab).max() > 1e-3
    assert np.allclose(lab, rotated, atol=1e-12)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_randomly_oriented_frames_carry_the_reference_distortion_of_their_own_orientation():
    """A frame turned by R, relaxed with n fixed, equals the unturned cube relaxed with Rᵀn, turned by R."""
    from ase_relaxed.reference.broken_symmetry import BrokenCrystalConfig, random_rotation, relaxed_cell

    n = np.array([0.36, 0.48, 0.8])
    rotation = random_rotation(np.random.default_rng(5))
    assert np.allclose(rotation @ rotation.T, np.eye(3)) and np.linalg.det(rotation) == pytest.approx(1.0)
    turned = relaxed_cell(broken_reference(1.0, n), rotation=rotation)
    plain = relaxed_cell(broken_reference(1.0, rotation.T @ n))
    metric = turned.cell.array @ turned.cell.array.T  # rotation-invariant cell shape
    assert np.allclose(metric, plain.cell.array @ plain.cell.array.T, atol=1e-4)
    assert abs(turned.cell.array[0, 1]) > 0.1  # the cell really is turned

    config = BrokenCrystalConfig(direction=list(n), size=1, n_structures=2, random_orientation=True)
    from ase_relaxed.reference.broken_symmetry import broken_crystal_frame

    cells = [broken_crystal_frame(k, config, broken_reference(1.0, n)).cell.array for k in range(2)]
    assert not np.allclose(cells[0], cells[1], atol=0.1)  # each frame has its own orientation
