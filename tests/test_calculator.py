"""The calculator plays by ASE's rules and rejects bad input clearly."""

import numpy as np
import pytest
import torch
from ase.build import molecule
from ase.calculators.calculator import PropertyNotImplementedError
from conftest import SYSTEMS

from ase_relaxed import DeviceError, InputError, RelaxedCalculator


@pytest.fixture
def calc64(models):
    return RelaxedCalculator(models["float64"], device="cpu")


def test_results_are_cached_until_atoms_change(calc64):
    atoms = SYSTEMS["tube"]()
    atoms.calc = calc64
    e0 = atoms.get_potential_energy()
    atoms.get_forces()
    assert calc64.neighbor_list_builds == 1
    assert atoms.get_potential_energy() == e0  # from the cache: no new neighbour search
    atoms.positions[0, 0] += 0.01
    assert atoms.get_potential_energy() != e0
    assert calc64.neighbor_list_builds == 2


def test_neighbor_list_reused_when_only_properties_change(calc64):
    crystal = SYSTEMS["bulk"]()
    crystal.calc = calc64
    crystal.get_forces()
    crystal.get_stress()  # a new property on unchanged atoms: model reruns, neighbour list does not
    assert calc64.neighbor_list_builds == 1


def test_skin_reuses_neighbor_list_and_stays_exact(models):
    exact = RelaxedCalculator(models["float64"], device="cpu")
    skinned = RelaxedCalculator(models["float64"], device="cpu", skin=1.0)
    atoms = SYSTEMS["tube"]()
    rng = np.random.default_rng(0)
    for _ in range(4):
        atoms.positions += rng.normal(scale=0.02, size=atoms.positions.shape)
        a, b = atoms.copy(), atoms.copy()
        a.calc, b.calc = exact, skinned
        assert abs(a.get_potential_energy() - b.get_potential_energy()) < 1e-10
        np.testing.assert_allclose(a.get_forces(), b.get_forces(), atol=1e-10)
    assert skinned.neighbor_list_builds == 1 and exact.neighbor_list_builds == 4


def test_all_properties_have_ase_shapes(calc64):
    crystal = SYSTEMS["bulk"]().repeat(2)
    crystal.calc = calc64
    assert isinstance(crystal.get_potential_energy(), float)
    assert crystal.get_potential_energy() == crystal.get_potential_energy(force_consistent=True)
    assert crystal.get_potential_energies().shape == (16,)
    assert crystal.get_forces().shape == (16, 3)
    assert crystal.get_stress().shape == (6,)


@pytest.mark.parametrize("name", ["tube", "molecule"])
def test_stress_needs_a_3d_periodic_cell(calc64, name):
    atoms = SYSTEMS[name]()
    atoms.calc = calc64
    with pytest.raises(PropertyNotImplementedError, match="3D-periodic"):
        atoms.get_stress()
    with pytest.raises(PropertyNotImplementedError, match="image 0"):
        calc64.calculate_batch([atoms], ["energy", "stress"])


def test_bad_input_errors_name_the_problem(calc64):
    water = molecule("H2O")
    water.calc = calc64
    with pytest.raises(InputError, match=r"\['O'\] not in the model"):
        water.get_potential_energy()
    methane = molecule("CH4")
    methane.positions[1] = methane.positions[0] + [0.1, 0, 0]
    methane.calc = calc64
    with pytest.raises(InputError, match="0.100 Å apart"):
        methane.get_potential_energy()
    methane.positions[2, 1] = np.nan
    with pytest.raises(InputError, match="NaN"):
        methane.get_potential_energy()
    with pytest.raises(InputError, match="image 1: .*no atoms"):
        calc64.calculate_batch([molecule("CH4"), molecule("CH4")[[]]])


def test_close_atoms_can_be_allowed_with_a_warning(models):
    calc = RelaxedCalculator(models["float64"], device="cpu", on_close="warn")
    methane = molecule("CH4")
    methane.positions[1] = methane.positions[0] + [0.3, 0, 0]
    methane.calc = calc
    with pytest.warns(UserWarning, match="closer than the physical minimum"):
        assert np.isfinite(methane.get_potential_energy())


def test_devices_and_dtypes(models):
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError, match="CUDA is not available"):
            RelaxedCalculator(models["float64"], device="cuda")
    assert RelaxedCalculator(models["float64"], device="auto").device.type in ("cpu", "cuda")
    with pytest.raises(DeviceError, match="unknown device"):
        RelaxedCalculator(models["float64"], device="tpu9")
    calc32 = RelaxedCalculator(models["float64"], device="cpu", dtype="float32")
    assert calc32.dtype == torch.float32 and models["float64"].dtype == torch.float64  # user's model untouched
    atoms = SYSTEMS["tube"]()
    e32 = calc32.get_potential_energy(atoms)
    e64 = RelaxedCalculator(models["float64"], device="cpu").get_potential_energy(atoms)
    assert abs(e32 - e64) < 1e-4 * len(atoms) and e32 != e64


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(models):
    from ase_relaxed.testing import assert_equivariant

    atoms = SYSTEMS["bulk"]()
    cpu = RelaxedCalculator(models["float64"], device="cpu")
    gpu = RelaxedCalculator(models["float64"], device="cuda")
    assert abs(cpu.get_potential_energy(atoms) - gpu.get_potential_energy(atoms)) < 1e-10
    assert_equivariant(gpu, atoms, stress=True, atol=1e-10)
    results = gpu.calculate_batch([SYSTEMS[k]() for k in SYSTEMS])
    assert len(results) == 3
