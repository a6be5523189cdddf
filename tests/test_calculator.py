"""The calculator plays by ASE's rules and rejects bad input clearly."""

import numpy as np
import pytest
import torch
from ase.build import molecule, nanotube
from ase.calculators.calculator import PropertyNotImplementedError
from conftest import SYSTEMS

from ase_relaxed import DeviceError, InputError, RelaxedCalculator
from ase_relaxed.graph import atoms_to_graph


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


@pytest.mark.parametrize("name", ["bare tube", "molecule"])
def test_stress_needs_a_cell_with_a_volume(calc64, name):
    """A tube in a box has stress (tests/test_physics.py); without a box, or a molecule, it has none."""
    atoms = SYSTEMS["molecule"]() if name == "molecule" else nanotube(5, 0, length=1)  # cell [0, 0, L]
    atoms.calc = calc64
    with pytest.raises(PropertyNotImplementedError, match="needs a cell with a volume"):
        atoms.get_stress()
    with pytest.raises(PropertyNotImplementedError, match="image 1: .*volume 0"):
        calc64.calculate_batch([SYSTEMS["tube"](), atoms], ["energy", "stress"])
    graph = atoms_to_graph(atoms, calc64.cutoff)
    assert torch.isnan(calc64.model(graph, compute_stress=True)["stress"]).all()  # the raw model: NaN, not 1/0


@pytest.mark.parametrize("name, value", [("skin", -1.0), ("skin", float("nan")), ("skin", float("inf")),
                                         ("min_distance", -0.1), ("min_distance", float("nan")),
                                         ("min_distance", float("inf")), ("skin", "wide")])
def test_bad_skin_and_min_distance_are_refused(models, name, value):
    with pytest.raises(InputError, match=f"^{name} must be a"):
        RelaxedCalculator(models["float64"], device="cpu", **{name: value})


@pytest.mark.parametrize("on_close", ["error", "warn", "ignore"])
def test_coincident_atoms_raise_in_every_mode(models, on_close):
    calc = RelaxedCalculator(models["float64"], device="cpu", on_close=on_close)
    methane = molecule("CH4")
    methane.positions[1] = methane.positions[0]
    methane.calc = calc
    with pytest.raises(InputError, match="atoms 0 and 1 are 0 Å apart: coincident"):
        methane.get_potential_energy()
    with pytest.raises(InputError, match="image 0: atoms 0 and 1 .* coincident"):
        calc.calculate_batch([methane])


def test_non_finite_results_are_never_handed_on(models):
    """2 µm apart at 1 km from the origin: distinct in float64, the same point after float32 round-off."""
    methane = molecule("CH4")
    methane.positions += 1000.0
    methane.positions[1] = methane.positions[0] + [2e-6, 0.0, 0.0]
    exact = RelaxedCalculator(models["float64"], device="cpu", on_close="ignore")
    assert np.isfinite(exact.get_potential_energy(methane))
    calc32 = RelaxedCalculator(models["float64"], device="cpu", dtype="float32", on_close="ignore")
    with pytest.raises(InputError, match="NaN or infinite energy/forces"):
        calc32.get_potential_energy(methane)
    with pytest.raises(InputError, match="image 1: the model returned NaN"):
        calc32.calculate_batch([molecule("CH4"), methane])


def test_raw_model_names_an_unknown_element(calc64):
    graph = atoms_to_graph(molecule("H2O"), calc64.cutoff)
    with pytest.raises(InputError, match=r"^element\(s\) \['O'\] not in the model, which knows only \['C', 'H'\]$"):
        calc64.model(graph)
    graph["atomic_numbers"][0] = 200  # not an element at all
    with pytest.raises(InputError, match=r"\['Z=200'\] not in the model"):
        calc64.model(graph, compute_stress=True)


def test_todict_says_what_computed_the_numbers(models, tmp_path):
    import hashlib

    from ase.io.trajectory import Trajectory

    import ase_relaxed
    from ase_relaxed import save_model
    from ase_relaxed.pretrained import pretrained_path

    shipped = RelaxedCalculator("demo-carbon-random", device="cpu", dtype="float32")
    sha = hashlib.sha256(pretrained_path("demo-carbon-random").read_bytes()).hexdigest()
    assert shipped.todict() == {**shipped.todict(), "model": "demo-carbon-random", "model_sha256": sha,
                                "dtype": "float32", "device": "cpu", "version": ase_relaxed.__version__}
    path = tmp_path / "tiny.safetensors"
    save_model(models["float64"], path)
    by_path = RelaxedCalculator(str(path), device="cpu").todict()
    assert by_path["model"] == str(path) and by_path["model_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    in_memory = RelaxedCalculator(models["float64"], device="cpu").todict()
    assert in_memory["model"] == "in-memory module" and in_memory["model_sha256"] is None
    assert in_memory["dtype"] == "float64"  # dtype=None means float64
    atoms = SYSTEMS["tube"]()
    atoms.calc = shipped
    atoms.get_forces()
    with Trajectory(tmp_path / "t.traj", "w") as trajectory:  # ASE stores todict() with every frame
        trajectory.write(atoms)
    assert Trajectory(tmp_path / "t.traj")[0].calc.parameters["model_sha256"] == sha


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
    calc64 = RelaxedCalculator(models["float32"], device="cpu")  # dtype=None: float64 whatever the model stores
    assert calc64.dtype == torch.float64 and models["float32"].dtype == torch.float32
    assert RelaxedCalculator("carbon-gfn1", device="cpu").dtype == torch.float64  # the file stores float32
    with pytest.raises(InputError, match="dtype must be float32 or float64"):
        RelaxedCalculator(models["float64"], device="cpu", dtype="float16")
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
