"""The LAMMPS potential without LAMMPS: one rank's ML-IAP data emulated from ase.Atoms (default run).

The emulator (ase_relaxed.integrations.lammps.emulator) hands ``compute_forces`` what LAMMPS would on
each rank of a domain decomposition and does what LAMMPS does with the answer; the sums over ranks must
equal RelaxedCalculator's energy, per-atom energies, forces and virial for multi-layer models.  The real
LAMMPS runs are in tests/test_lammps.py (marker ``lammps``).
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from ase.build import bulk

from ase_relaxed import ModelConfig, RelaxedCalculator, build_model
from ase_relaxed.cli import main
from ase_relaxed.errors import InputError, ModelFileError
from ase_relaxed.graph import atoms_to_graph
from ase_relaxed.integrations.lammps import MLIAPPotential, write_potential
from ase_relaxed.integrations.lammps.emulator import FakeMLIAPData
from ase_relaxed.integrations.lammps.setup import check_element_order, lammps_problem
from ase_relaxed.structures import build_nanotube


def carbon_model(num_layers: int = 2, **overrides):
    config = dict(species=["C", "H"], cutoff=3.0, num_layers=num_layers, channels=8, l_max=2, radial_hidden=16,
                  seed=5, dtype="float64")
    model = build_model(ModelConfig(**{**config, **overrides}))
    model.energy_model.energy_shift.copy_(torch.tensor([-1.3, -0.4], dtype=torch.float64))
    return model


def tube():
    atoms = build_nanotube(10, 0, length=3, vacuum=4.0)
    atoms.positions += np.random.default_rng(1).normal(scale=0.05, size=atoms.positions.shape)
    return atoms


def diamond():
    atoms = bulk("C", "diamond", a=3.57, cubic=True) * (2, 1, 1)
    atoms.positions += np.random.default_rng(2).normal(scale=0.05, size=atoms.positions.shape)
    return atoms


def reference(model, atoms):
    """Energy, per-atom energies, forces and σ·V (the model's strain derivative; tubes too)."""
    calc = RelaxedCalculator(model, check_domain=False)
    atoms = atoms.copy()
    atoms.calc = calc
    out = model(atoms_to_graph(atoms, model.config.cutoff), compute_stress=True)
    virial = -out["stress"][0].numpy() * atoms.get_volume()
    return atoms.get_potential_energy(), atoms.get_potential_energies(), atoms.get_forces(), virial


def run_ranks(potential, atoms, ranks: int, pair_cutoff: float | None = None, wrap: bool = True):
    """Sum of energies, per-atom energies, forces and virial W = −Σ r⊗f over ``ranks`` slabs along z."""
    cutoff = 2 * potential.rcutfac if pair_cutoff is None else pair_cutoff
    z = atoms.get_scaled_positions(wrap=True)[:, 2]
    energy, energies, forces, virial = 0.0, np.zeros(len(atoms)), np.zeros((len(atoms), 3)), np.zeros((3, 3))
    for rank in range(ranks):
        owned = np.flatnonzero((z >= rank / ranks) & (z < (rank + 1) / ranks))
        data = FakeMLIAPData(atoms, cutoff, potential.element_types, owned=owned, wrap=wrap)
        potential.compute_forces(data)
        energy += data.energy
        energies += data.per_atom_energies()
        forces += data.forces()
        virial += data.virial()
    return energy, energies, forces, virial


@pytest.mark.parametrize("build", [tube, diamond], ids=["tube", "diamond"])
@pytest.mark.parametrize("ranks", [1, 3])
def test_two_layer_model_is_exact_on_every_rank_count(build, ranks):
    model = carbon_model()
    atoms = build()
    e_ref, ea_ref, f_ref, w_ref = reference(model, atoms)
    energy, energies, forces, virial = run_ranks(MLIAPPotential(model), atoms, ranks)
    assert abs(energy - e_ref) <= 1e-10 * abs(e_ref)
    assert np.abs(energies - ea_ref).max() < 1e-10
    assert np.abs(forces - f_ref).max() < 1e-10 * np.abs(f_ref).max()
    assert np.abs(virial - w_ref).max() < 1e-10 * np.abs(w_ref).max()
    assert np.abs(f_ref).max() > 1e-2  # random weights give real forces


def test_local_groups_joined_only_through_ghosts():
    """Unwrapped atoms: a rank's atoms near z = 0 and z = L meet only through periodic-image ghosts."""
    model = carbon_model()
    atoms = tube()
    atoms.positions[:, 2] -= 0.3 * atoms.cell[2, 2]  # a third of the atoms now lie below the cell
    e_ref, _, f_ref, w_ref = reference(model, atoms)
    energy, _, forces, virial = run_ranks(MLIAPPotential(model), atoms, 2, wrap=False)
    assert abs(energy - e_ref) <= 1e-10 * abs(e_ref)
    assert np.abs(forces - f_ref).max() < 1e-10 * np.abs(f_ref).max()
    assert np.abs(virial - w_ref).max() < 1e-10 * np.abs(w_ref).max()


def test_separate_molecules_are_separate_components():
    """Two clusters far apart: each is its own frame, and no bond may join the two frames."""
    from ase import Atoms

    model = carbon_model()
    rng = np.random.default_rng(4)
    cluster = rng.normal(scale=0.8, size=(5, 3))
    atoms = Atoms("C5C5", positions=np.concatenate([cluster + 5.0, cluster[::-1] + 17.0]), cell=[22.0] * 3, pbc=True)
    e_ref, _, f_ref, _ = reference(model, atoms)
    energy, _, forces, _ = run_ranks(MLIAPPotential(model), atoms, 1)
    assert abs(energy - e_ref) <= 1e-10 * abs(e_ref)
    assert np.abs(forces - f_ref).max() < 1e-10 * np.abs(f_ref).max()


def test_three_layers_and_float32():
    model = carbon_model(num_layers=3, cutoff=2.5, dtype="float32")
    atoms = tube()
    e_ref, _, f_ref, _ = reference(model, atoms)
    energy, _, forces, _ = run_ranks(MLIAPPotential(model), atoms, 2)
    assert abs(energy - e_ref) < 1e-5 * abs(e_ref)
    assert np.abs(forces - f_ref).max() < 1e-4 * np.abs(f_ref).max()


def test_the_check_catches_a_pair_cutoff_of_one_layer():
    """With the pair list cut at r_c (what a 1-layer coupling would use), two ranks get the forces wrong."""
    model = carbon_model()
    atoms = tube()
    _, _, f_ref, _ = reference(model, atoms)
    _, _, forces, _ = run_ranks(MLIAPPotential(model), atoms, 2, pair_cutoff=model.config.cutoff)
    assert np.abs(forces - f_ref).max() > 1e-4


def test_kernel_model_is_exact_across_ranks():
    from ase_relaxed.kernel import KernelConfig, build_kernel_model

    config = KernelConfig(species=["C"], n_representative=6, n_max=3, l_max=2, cutoff=3.0, energy_shift=[-7.0])
    model = build_kernel_model(config)
    atoms = diamond()
    pool = model.energy_model.descriptor(atoms_to_graph(atoms, config.cutoff))
    generator = torch.Generator().manual_seed(0)
    model.energy_model.representatives.copy_(pool[torch.randperm(len(pool), generator=generator)[:6]])
    model.energy_model.weights.copy_(torch.randn(6, generator=generator, dtype=torch.float64))
    e_ref, _, f_ref, w_ref = reference(model, atoms)
    energy, _, forces, virial = run_ranks(MLIAPPotential(model), atoms, 2)
    assert abs(energy - e_ref) < 1e-9 * abs(e_ref)
    assert np.abs(forces - f_ref).max() < 1e-8 and np.abs(f_ref).max() > 1e-3
    assert np.abs(virial - w_ref).max() < 1e-8


def test_direct_force_model_is_refused():
    model = build_model(ModelConfig(species=["C"], cutoff=3.0, num_layers=1, channels=4, forces="direct"))
    with pytest.raises(InputError, match="direct-force model cannot drive LAMMPS"):
        MLIAPPotential(model)


def test_pickle_is_safetensors_bytes_and_checks_its_format(tmp_path):
    potential = MLIAPPotential(carbon_model())
    write_potential(potential, tmp_path / "c.pkl")
    again = pickle.loads((tmp_path / "c.pkl").read_bytes())
    assert again.provenance["num_layers"] == 2 and again.rcutfac == 3.0
    assert all(torch.equal(a, b) for a, b in zip(again.model.state_dict().values(),
                                                  potential.model.state_dict().values()))
    state = potential.__getstate__()
    assert set(state) == {"format", "model", "provenance"} and isinstance(state["model"], bytes)
    stale = MLIAPPotential.__new__(MLIAPPotential)
    with pytest.raises(ModelFileError, match="re-export it with `ase-relaxed export-lammps`"):
        stale.__setstate__({**state, "format": "ase_relaxed-lammps-mliap-v0"})
    with pytest.raises(InputError, match="name it .pkl"):
        write_potential(potential, tmp_path / "c.pt")


def test_element_order_checks():
    check_element_order(["C", "H"], ["C", "H"], {1: 12.011, 2: 1.008}, 2)
    with pytest.raises(InputError, match=r"atom type 1 has mass 1.008 \(H\)"):
        check_element_order(["C", "H"], ["C", "H"], {1: 1.008, 2: 12.011}, 2)
    with pytest.raises(InputError, match="not known to the model"):
        check_element_order(["Si"], ["C"])
    with pytest.raises(InputError, match="data file has 2 atom types"):
        check_element_order(["C"], ["C", "H"], {1: 12.011, 2: 1.008}, 2)


def data_file(path, masses):
    lines = ["test", "", "1 atoms", f"{len(masses)} atom types", "", "0 5 xlo xhi", "0 5 ylo yhi", "0 5 zlo zhi",
             "", "Masses", ""] + [f"{t + 1} {m}" for t, m in enumerate(masses)] + ["", "Atoms # atomic", "",
                                                                                    "1 1 0 0 0", ""]
    path.write_text("\n".join(lines))
    return str(path)


def test_export_command(tmp_path, capsys):
    out = tmp_path / "c.pkl"
    assert main(["export-lammps", "demo-carbon-random", str(out), "--dtype", "float64"]) == 0
    text = capsys.readouterr().out
    assert f"pair_style mliap unified {out} 0" in text and "pair_coeff * * C" in text
    assert "float64" in text and "receptive field" in text
    assert pickle.loads(out.read_bytes()).provenance["dtype"] == "float64"


@pytest.mark.parametrize("extra, message", [
    (["--elements", "C", "Si"], "not known to the model"),
    (["--data", "MASSES_H"], "atom type 1 has mass 1.008 (H)"),
    (["--data", "TWO_TYPES"], "data file has 2 atom types"),
], ids=["unknown-element", "wrong-order", "too-few-elements"])
def test_export_command_bad_input_is_one_line(tmp_path, capsys, extra, message):
    files = {"MASSES_H": data_file(tmp_path / "h.data", [1.008]),
             "TWO_TYPES": data_file(tmp_path / "two.data", [12.011, 1.008])}
    extra = [files.get(x, x) for x in extra]
    assert main(["export-lammps", "demo-carbon-random", str(tmp_path / "c.pkl"), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_export_command_refuses_other_files(tmp_path, capsys):
    other = tmp_path / "model.pkl"
    other.write_bytes(pickle.dumps({"not": "a model"}))
    assert main(["export-lammps", str(other), str(tmp_path / "c.pkl")]) == 2
    assert "not a readable ase_relaxed model file" in capsys.readouterr().err
    assert main(["export-lammps", "demo-carbon-random", str(tmp_path / "c.pt")]) == 2
    assert "must end in .pkl" in capsys.readouterr().err


def test_check_lammps_without_a_suitable_lammps(tmp_path, capsys):
    problem = lammps_problem()
    if problem is None:
        pytest.skip("a LAMMPS with ML-IAP + PYTHON is importable here")
    assert main(["export-lammps", "demo-carbon-random", str(tmp_path / "c.pkl"), "--check-lammps"]) == 2
    err = capsys.readouterr().err
    assert "scripts/build_lammps.sh" in err and err.count("\n") == 1


def test_export_run_dir_writes_a_runnable_input(tmp_path, capsys):
    """--run-dir: a data file whose types/masses pass the element check, and an input that reads it."""
    from ase_relaxed.integrations.lammps.setup import read_data_types

    run = tmp_path / "run"
    assert main(["export-lammps", "demo-carbon-random", str(tmp_path / "c.pkl"), "--run-dir", str(run),
                 "--structure", "cnt:10,0:length=2", "--steps", "7", "--temperature", "500"]) == 0
    assert "mpirun -np 2 lmp -in in.lammps" in capsys.readouterr().out
    ntypes, masses = read_data_types(run / "structure.data")
    check_element_order(["C"], ["C"], masses, ntypes)
    lines = (run / "in.lammps").read_text().splitlines()
    assert lines.index("boundary s s p") < lines.index("read_data structure.data") < lines.index("pair_coeff * * C")
    assert "run 7" in lines and any(line.startswith("velocity all create 500 ") for line in lines)
    assert f"pair_style mliap unified {tmp_path / 'c.pkl'} 0" in lines


@pytest.mark.parametrize("extra, message", [
    (["--run-dir", "RUN"], "--run-dir needs --structure"),
    (["--structure", "cnt:10,0"], "--structure is written only with --run-dir"),
    (["--run-dir", "RUN", "--structure", "molecule:CH4"], "element(s) ['H']"),
], ids=["run-dir-without-structure", "structure-without-run-dir", "unknown-element-in-structure"])
def test_export_run_dir_bad_input_is_one_line(tmp_path, capsys, extra, message):
    extra = [str(tmp_path / "run") if x == "RUN" else x for x in extra]
    assert main(["export-lammps", "demo-carbon-random", str(tmp_path / "c.pkl"), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_kokkos_coupling_is_refused_with_what_to_do():
    """The KOKKOS coupling's data (it has forward_exchange) gets one clear error, not a wrong answer."""
    potential = MLIAPPotential(carbon_model())
    data = FakeMLIAPData(tube(), 2 * potential.rcutfac, potential.element_types)
    data.forward_exchange = lambda *args: None
    with pytest.raises(InputError, match="run without '-k on -sf kk'"):
        potential.compute_forces(data)
