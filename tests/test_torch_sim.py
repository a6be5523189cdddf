"""The torch-sim integration: torch-sim's own interface check, equality with the calculator, batched Langevin.

torch-sim's ``validate_model_outputs`` builds cubic Si and Fe cells only (a transposed cell would pass it),
so ``test_matches_calculator`` adds a sheared triclinic crystal, a tube, a slab and a boxed molecule of
different sizes in one batch and compares energies, forces and stress with ``RelaxedCalculator``.
"""

from __future__ import annotations

import importlib
import sys

import numpy as np
import pytest
import torch
from ase.build import bulk
from conftest import make_bulk, make_molecule, make_sheet, make_tube, tiny_model

from ase_relaxed import ModelConfig, RelaxedCalculator, build_model
from ase_relaxed.errors import InputError

ts = pytest.importorskip("torch_sim")
from ase_relaxed.integrations.torch_sim import TorchSimModel, atoms_to_state, langevin, vacuum_gaps  # noqa: E402

CPU = torch.device("cpu")


def si_fe_model(dtype: str):
    """Random weights over the elements torch-sim's validator builds (Si diamond, Fe fcc)."""
    return build_model(ModelConfig(species=["Si", "Fe"], cutoff=3.0, num_layers=1, channels=4, l_max=1,
                                   radial_hidden=8, dtype=dtype, seed=5))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_torch_sim_validate_model_outputs(dtype):
    from torch_sim.models.interface import validate_model_outputs

    model = TorchSimModel(si_fe_model("float64"), device="cpu", dtype=dtype)
    assert model.dtype == dtype and model.device == CPU
    validate_model_outputs(model, CPU, dtype)  # raises on a wrong shape, a mutated input, batch ≠ single
    out = model(ts.io.atoms_to_state([bulk("Si", "diamond", a=5.43, cubic=True)], CPU, dtype))
    assert out["energy"].dtype == out["forces"].dtype == out["stress"].dtype == dtype
    assert float(out["energy"].abs()) > 0  # a real model, not zeros


def test_carbon_model_refuses_si_and_fe_with_the_calculators_error():
    from torch_sim.models.interface import validate_model_outputs

    model = TorchSimModel("carbon-gfn1", device="cpu")
    with pytest.raises(InputError, match=r"element\(s\) \['Si', 'Fe'\] not in the model, which knows only \['C'\]"):
        validate_model_outputs(model, CPU, torch.float64)
    silicon = bulk("Si", "diamond", a=5.43)
    with pytest.raises(InputError) as ours:
        model(ts.io.atoms_to_state([silicon], CPU, torch.float64))
    with pytest.raises(InputError) as calculator:
        RelaxedCalculator("carbon-gfn1", device="cpu").get_potential_energy(silicon)
    assert str(ours.value) == str(calculator.value)


def make_triclinic():
    """A rattled diamond cell sheared by 8 %: non-cubic and with a far from symmetric cell matrix."""
    crystal = bulk("C", "diamond", a=3.57).repeat((1, 1, 2))
    crystal.set_cell(crystal.cell.array @ (np.eye(3) + [[0, 0.08, -0.05], [0.03, 0, 0.07], [-0.06, 0.02, 0]]),
                     scale_atoms=True)
    crystal.positions += np.random.default_rng(7).normal(scale=0.05, size=crystal.positions.shape)
    return crystal


def mixed_batch():
    molecule = make_molecule()
    molecule.center(vacuum=5.0)  # a box with a volume, so that stress is defined
    images = [make_triclinic(), make_tube(), make_sheet(), molecule, make_bulk()]
    assert np.abs(images[0].cell.array - images[0].cell.array.T).max() > 0.1  # far from symmetric (Å)
    assert len({len(a) for a in images}) >= 4
    return images


@pytest.mark.parametrize("dtype,tol", [("float64", 1e-10), ("float32", 2e-4)])
def test_matches_calculator(dtype, tol, models):
    model = models[dtype]
    ours = TorchSimModel(model, device="cpu", dtype=dtype)
    images = mixed_batch()
    state = atoms_to_state(images, ours)
    assert state.pbc is True and state.n_systems == len(images)
    out = ours(state)
    expected = RelaxedCalculator(model, device="cpu", dtype="float64").calculate_batch(images, ["energy", "forces",
                                                                                                 "stress"])
    forces = torch.split(out["forces"], [len(a) for a in images])
    for k, (atoms, reference) in enumerate(zip(images, expected)):
        scale = max(1.0, abs(reference["energy"]))
        assert abs(float(out["energy"][k]) - reference["energy"]) < tol * scale, k
        assert np.abs(forces[k].double().numpy() - reference["forces"]).max() < tol * 10, k
        stress = out["stress"][k].double().numpy()
        assert np.abs(stress - stress.T).max() < tol
        assert np.abs(stress[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]] - reference["stress"]).max() < tol, k
    # the check can fail: the ASE (row-vector) cell where torch-sim wants columns changes the sheared crystal
    transposed = atoms_to_state(images[:1], ours)
    transposed.cell = transposed.cell.transpose(1, 2).contiguous()
    careless = TorchSimModel(model, device="cpu", dtype=dtype, on_close="ignore")  # the wrong cell brings atoms close
    assert abs(float(careless(transposed)["energy"][0]) - expected[0]["energy"]) > 100 * tol


def test_tube_without_enough_vacuum_is_refused(models):
    ours = TorchSimModel(models["float64"], device="cpu")
    tube = make_tube()
    assert vacuum_gaps(tube)[:2].min() > ours.cutoff + 1.0
    tight = tube.copy()
    tight.center(vacuum=1.0, axis=(0, 1))
    with pytest.raises(InputError, match=r"vacuum along axes \[0, 1\].*must exceed cutoff"):
        atoms_to_state([make_bulk(), tight], ours)


def test_kernel_model_matches_calculator():
    from ase_relaxed.graph import atoms_to_graph
    from ase_relaxed.kernel import KernelConfig, build_kernel_model

    images = [make_bulk(), make_tube()]
    config = KernelConfig(n_representative=6, n_max=3, l_max=2, cutoff=3.0, energy_shift=[-7.0])
    model = build_kernel_model(config)
    energy_model = model.energy_model
    pool = torch.cat([energy_model.descriptor(atoms_to_graph(a, config.cutoff)) for a in images])
    generator = torch.Generator().manual_seed(0)
    energy_model.representatives.copy_(pool[torch.randperm(len(pool), generator=generator)[:6]])
    energy_model.weights.copy_(torch.randn(6, generator=generator, dtype=torch.float64))
    ours = TorchSimModel(model, device="cpu")
    out = ours(atoms_to_state(images, ours))
    expected = RelaxedCalculator(model, device="cpu").calculate_batch(images, ["energy", "forces", "stress"])
    assert np.allclose(out["energy"].numpy(), [r["energy"] for r in expected], rtol=0, atol=1e-10)
    assert np.allclose(out["forces"].numpy(), np.concatenate([r["forces"] for r in expected]), atol=1e-10)
    assert np.abs(out["forces"].numpy()).max() > 1e-3  # random weights give real forces


def test_direct_force_model_matches_calculator():
    model = build_model(ModelConfig(species=["C"], cutoff=3.0, num_layers=1, channels=4, l_max=1, forces="direct"))
    images = [make_triclinic(), make_tube()]
    ours = TorchSimModel(model, device="cpu")
    assert ours.conservative is False
    out = ours(atoms_to_state(images, ours))
    expected = RelaxedCalculator(model, device="cpu").calculate_batch(images, ["energy", "forces", "stress"])
    assert np.allclose(out["forces"].numpy(), np.concatenate([r["forces"] for r in expected]), atol=1e-10)
    assert np.allclose(out["energy"].numpy(), [r["energy"] for r in expected], atol=1e-10)


def test_batched_langevin_stays_finite_and_follows_each_systems_thermostat():
    model = tiny_model(num_layers=1, channels=4, l_max=1, cutoff=2.0)  # nearest neighbours only: fast
    ours = TorchSimModel(model, device="cpu", compute_stress=False, skin=0.5)  # NVT needs no stress
    images = [bulk("C", "diamond", a=3.57, cubic=True) for _ in range(4)]
    state = atoms_to_state(images, ours)
    targets = torch.tensor([50.0, 50.0, 1500.0, 1500.0], dtype=torch.float64)
    final, temperatures = langevin(ours, state, steps=60, temperature=targets, timestep=1.0, friction=0.05,
                                   initial_temperature=0.0, seed=1)
    assert temperatures.shape == (61, 4) and np.all(temperatures[0] == 0.0)
    assert np.isfinite(temperatures).all() and torch.isfinite(final.positions).all()
    late = temperatures[-20:].mean(axis=0)
    assert late[2:].min() > 4 * late[:2].max()  # the hot thermostat heated its systems, the cold one did not
    assert late[2:].mean() > 300.0
    assert ours.neighbor_list_builds < 61  # the skin reused neighbour lists between steps


def test_missing_torch_sim_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch_sim", None)  # makes `import torch_sim` raise ImportError
    monkeypatch.delitem(sys.modules, "ase_relaxed.integrations.torch_sim", raising=False)
    with pytest.raises(ImportError) as error:
        importlib.import_module("ase_relaxed.integrations.torch_sim")
    message = str(error.value)
    assert "pip install 'ase_relaxed[torchsim]'" in message and "\n" not in message
