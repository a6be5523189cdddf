"""Relaxed equivariance (Hofgard et al. 2024): exact at initialisation, joint equivariance, penalties."""

import numpy as np
import pytest
import torch
from ase.build import bulk

from ase_relaxed import ModelConfig, RelaxedCalculator, build_model, load_model, save_model
from ase_relaxed.nn.relaxed_filter import transform_theta
from ase_relaxed.testing import assert_equivariant, assert_forces_finite_differences, random_orthogonal

RELAXED = dict(species=["C"], cutoff=3.2, num_layers=2, channels=6, l_max=2, radial_hidden=16, relaxed=True,
               l_relaxed=2, seed=5)


def crystal():
    atoms = bulk("C", "diamond", a=3.57, cubic=True)
    atoms.rattle(0.08, seed=3)
    return atoms


def randomise_theta(model, seed=0, scale=0.5):
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in model.energy_model.relaxed_filters():
            layer.theta.add_(scale * torch.randn(layer.theta.shape, generator=generator, dtype=layer.theta.dtype))
    return model


def test_exactly_equivariant_at_initialisation():
    model = build_model(ModelConfig(**RELAXED))
    filters = model.energy_model.relaxed_filters()
    assert len(filters) == 2
    for layer in filters:
        blocks = layer.theta_blocks()
        assert torch.equal(blocks["0e"], torch.ones(1, 1, dtype=blocks["0e"].dtype))
        assert all(float(b.abs().max()) == 0.0 for name, b in blocks.items() if name != "0e")
        assert float(layer.penalty_l2().detach()) == 0.0
    error = assert_equivariant(RelaxedCalculator(model), crystal(), stress=True, atol=1e-10)
    assert error < 1e-10


def test_non_zero_theta_breaks_equivariance_but_keeps_forces_conservative():
    model = randomise_theta(build_model(ModelConfig(**RELAXED)))
    calc = RelaxedCalculator(model)
    with pytest.raises(AssertionError, match="exceeds tolerance"):
        assert_equivariant(calc, crystal(), atol=1e-6)
    assert assert_forces_finite_differences(calc, crystal(), indices=[0, 5], atol=1e-6) < 1e-6


@pytest.mark.parametrize("reflect", [False, True])
def test_joint_equivariance(reflect):
    """E(Q·x; D(Q)θ) = E(x; θ) and F(Q·x; D(Q)θ) = Q F(x; θ) for proper and improper Q."""
    model = randomise_theta(build_model(ModelConfig(**RELAXED)), seed=1)
    atoms = crystal()
    atoms.calc = RelaxedCalculator(model)
    energy, forces, stress = atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress(voigt=False)

    q = random_orthogonal(np.random.default_rng(7), reflect=reflect)
    moved = atoms.copy()
    moved.positions = atoms.positions @ q.T
    moved.cell = atoms.cell.array @ q.T
    rotated = build_model(ModelConfig(**RELAXED))
    rotated.load_state_dict(model.state_dict())
    transform_theta(rotated, q)
    moved.calc = RelaxedCalculator(rotated)
    assert moved.get_potential_energy() == pytest.approx(energy, abs=1e-10)
    np.testing.assert_allclose(moved.get_forces(), forces @ q.T, atol=1e-10)
    np.testing.assert_allclose(moved.get_stress(voigt=False), q @ stress @ q.T, atol=1e-10)
    # without rotating θ the energy changes: the model really is symmetry-broken
    moved.calc = RelaxedCalculator(model)
    assert abs(moved.get_potential_energy() - energy) > 1e-6


def test_penalties_and_file_round_trip(tmp_path):
    model = randomise_theta(build_model(ModelConfig(**RELAXED)), seed=2)
    layer = model.energy_model.relaxed_filters()[0]
    blocks = layer.theta_blocks()
    expected_l2 = sum(float((b**2).sum()) for name, b in blocks.items()) - float(blocks["0e"][0, 0] ** 2)
    assert float(layer.penalty_l2().detach()) == pytest.approx(expected_l2)
    expected_group = sum(float(b.norm()) for name, b in blocks.items() if name != "0e")
    assert float(layer.penalty_group().detach()) == pytest.approx(expected_group)
    layer.penalty_group().backward()
    assert torch.isfinite(layer.theta.grad).all()

    save_model(model, tmp_path / "relaxed.safetensors")
    loaded = load_model(tmp_path / "relaxed.safetensors")
    assert loaded.config.relaxed and loaded.config.l_relaxed == 2
    atoms = crystal()
    a = RelaxedCalculator(model).get_potential_energy(atoms)
    b = RelaxedCalculator(loaded).get_potential_energy(atoms)
    assert a == b


def quadrupole(direction) -> torch.Tensor:
    """Y2(n̂) in e3nn's basis: the uniaxial l = 2 signal along n."""
    from e3nn import o3

    return o3.spherical_harmonics(2, torch.tensor(direction, dtype=torch.float64), normalize=True)


def add_to_theta_2e(model, block):
    """θ_2e += block in every layer (irreps ... + 2e + 2o: the 2e block comes before the 2o block)."""
    with torch.no_grad():
        for layer in model.energy_model.relaxed_filters():
            start = layer.irreps_theta.dim - 10
            layer.theta[start:start + 5] += block.to(layer.theta.dtype)
    return model


def set_uniaxial_theta(model, direction, size=0.3):
    """θ_2e ∝ Y2(n) in every layer (a uniaxial quadrupole along n), everything else at initialisation."""
    return add_to_theta_2e(model, size * quadrupole(direction))


def test_report_reads_back_a_uniaxial_quadrupole(tmp_path):
    from ase_relaxed.cli import main
    from ase_relaxed.relaxed import symmetry_breaking_report

    initial = symmetry_breaking_report(build_model(ModelConfig(**RELAXED)))
    assert initial.group == "O(3)" and initial.kept_blocks == [] and initial.axis is None

    n = np.array([0.36, 0.48, 0.8])
    model = set_uniaxial_theta(build_model(ModelConfig(**RELAXED)), n)
    blocks = model.energy_model.relaxed_filters()[0].theta_blocks()
    assert blocks["2e"].norm() > 0.1 and blocks["2o"].norm() == 0
    report = symmetry_breaking_report(model)
    assert (report.group, report.hermann_mauguin, report.kept_blocks) == ("Dinfh", "inf/mm", ["2e"])
    assert report.axis_angle_to(n) < 0.1
    assert "Dinfh" in report.format() and report.to_dict()["order"] is None

    path = tmp_path / "uniaxial.safetensors"
    save_model(model, path)
    assert main(["symmetry", str(path), "--plot", str(tmp_path / "theta.png"), "--json", str(tmp_path / "r.json")]) == 0
    assert (tmp_path / "theta.png").stat().st_size > 1000
    assert main(["symmetry", "demo-carbon-random"]) == 2  # strictly equivariant: a clear error


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_training_on_uniaxial_data_breaks_symmetry_along_n(tmp_path):
    """A short training run on Tersoff + λ Σ (r̂·n)² data grows a θ quadrupole whose axis is n."""
    from ase_relaxed.reference.broken_symmetry import BrokenCrystalConfig, generate_broken_crystal
    from ase_relaxed.relaxed import symmetry_breaking_report
    from ase_relaxed.train.config import TrainConfig
    from ase_relaxed.train.loop import train

    n = np.array([0.36, 0.48, 0.8])
    data = generate_broken_crystal(tmp_path / "d.extxyz", BrokenCrystalConfig(
        strength=2.0, direction=list(n), size=1, n_structures=40), progress=False)
    config = TrainConfig.from_dict({
        "data": {"path": str(data), "val_fraction": 0.1, "test_fraction": 0.0},
        "model": {**RELAXED, "cutoff": 3.0, "channels": 8, "dtype": "float32"},
        "loss": {"energy_weight": 10.0, "forces_weight": 10.0, "stress_weight": 1000.0, "theta_group_weight": 0.01},
        "optim": {"lr": 0.01, "max_steps": 300, "batch_size": 4, "eval_every": 50, "patience": 100},
        "out_dir": str(tmp_path / "run"),
    })
    report = symmetry_breaking_report(load_model(train(config, progress=False)))
    assert "2e" in report.kept_blocks
    last = model_quadrupole_axis(report.theta[-1]["2e"])
    assert np.degrees(np.arccos(min(1.0, abs(last @ n)))) < 10.0


def model_quadrupole_axis(block):
    """Principal axis of an l=2 block (the eigenvector of the most distinct eigenvalue)."""
    from ase_relaxed.nn.harmonics import l2_to_matrix

    values, vectors = np.linalg.eigh(l2_to_matrix(np.asarray(block))[0])
    distinct = np.argmax(np.abs(values - np.median(values)))
    return vectors[:, distinct]


def test_tolerance_scan_goes_from_orthorhombic_to_axial_as_the_tolerance_passes_the_biaxial_part(tmp_path, capsys):
    """θ_2e = uniaxial quadrupole along n + 5 % biaxial part (axes n, m, k): D2h at tight, D∞h at loose tolerance."""
    from ase_relaxed.cli import main
    from ase_relaxed.relaxed import tolerance_scan

    n = np.array([0.36, 0.48, 0.8])
    m = np.cross(n, [1.0, 0.0, 0.0])
    m /= np.linalg.norm(m)
    k = np.cross(n, m)
    model = set_uniaxial_theta(build_model(ModelConfig(**RELAXED)), n)
    add_to_theta_2e(model, 0.05 * 0.3 * (quadrupole(m) - quadrupole(k)))
    rows = tolerance_scan(model, (0.01, 0.2))
    assert [row["schoenflies"] for row in rows] == ["D2h", "Dinfh"]
    for row in rows:
        assert abs(np.dot(row["axis"], n)) > np.cos(np.radians(0.1))
    path = tmp_path / "biaxial.safetensors"
    save_model(model, path)
    assert main(["symmetry", str(path), "--scan"]) == 0
    assert "0.01 → D2h" in capsys.readouterr().out
