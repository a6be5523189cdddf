"""Posterior force uncertainty of the kernel model (Sharma, Kumar, Suryanarayana, arXiv:2408.07554; SPARC's MLFF):
σ²_ic = φ_icᵀ S φ_ic (+ 1/β_F), the Bayesian force error SPARC thresholds to call the reference.  It must be a
standard deviation (finite, ≥ 0) and grow away from the training data."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator

from ase_relaxed.kernel import KernelConfig, fit_kernel_model
from ase_relaxed.kernel.uncertainty import force_std

torch.set_num_threads(1)


def brenner_diamond(rattle: float, seed: int) -> Atoms:
    """A rattled 8-atom diamond cell labelled by the Brenner potential."""
    from matscipy.calculators.manybody import Manybody
    from matscipy.calculators.manybody.explicit_forms import TersoffBrenner
    from matscipy.calculators.manybody.explicit_forms.tersoff_brenner import Brenner_PRB_42_9458_C_I

    atoms = bulk("C", "diamond", a=3.57, cubic=True)
    atoms.positions += np.random.default_rng(seed).normal(0.0, rattle, atoms.positions.shape)
    atoms.calc = Manybody(**TersoffBrenner(Brenner_PRB_42_9458_C_I))
    energy, forces = atoms.get_potential_energy(), atoms.get_forces()
    atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces)
    return atoms


@pytest.fixture(scope="module")
def fitted():
    frames = [brenner_diamond(0.05, seed) for seed in range(6)]
    config = KernelConfig(cutoff=3.5, n_max=4, l_max=3, sigma=0.5, smoothing=0.5)
    return fit_kernel_model(frames, config, n_representative=16, energy_weight=10.0), frames


def test_force_std_is_a_finite_non_negative_standard_deviation(fitted) -> None:
    model, frames = fitted
    for include_noise in (True, False):
        sigma = force_std(model, frames[0], include_noise=include_noise)
        assert sigma.shape == (len(frames[0]), 3)
        assert np.isfinite(sigma).all() and (sigma >= 0).all()
    noise = 1.0 / float(model.energy_model.force_noise_precision)
    total, epistemic = force_std(model, frames[0]), force_std(model, frames[0], include_noise=False)
    assert np.allclose(total**2, epistemic**2 + noise, rtol=1e-10)  # predictive = model part + noise


def test_force_std_grows_away_from_the_training_data(fitted) -> None:
    model, frames = fitted
    training = force_std(model, frames[1], include_noise=False)
    distorted = force_std(model, brenner_diamond(0.35, seed=99), include_noise=False)
    assert distorted.mean() > 2.0 * training.mean()
    assert force_std(model, brenner_diamond(0.35, seed=99)).mean() > force_std(model, frames[1]).mean()


def test_the_energy_model_offers_forces_std_as_a_calculator_hook(fitted) -> None:
    """``energy_model.forces_std(atoms)``, the hook a calculator can call without naming the kernel family."""
    model, frames = fitted
    assert np.array_equal(model.energy_model.forces_std(frames[2]), force_std(model, frames[2]))


def test_calculator_returns_forces_std_for_kernel_models_only(fitted) -> None:
    """``calc.get_property("forces_std")`` and ``calculate_batch`` give the posterior σ; a GNN refuses."""
    from ase.calculators.calculator import PropertyNotImplementedError

    from ase_relaxed import RelaxedCalculator

    model, frames = fitted
    atoms = frames[3].copy()
    calc = RelaxedCalculator(model, dtype="float64", check_domain=False)
    atoms.calc = calc
    assert np.allclose(calc.get_property("forces_std", atoms), force_std(model, frames[3]), rtol=1e-12)
    batch = calc.calculate_batch([frames[3], frames[4]], properties=("energy", "forces", "forces_std"))
    assert np.allclose(batch[1]["forces_std"], force_std(model, frames[4]), rtol=1e-12)
    gnn = frames[3].copy()
    gnn.calc = RelaxedCalculator("demo-carbon-random")
    with pytest.raises(PropertyNotImplementedError, match="needs a model with a posterior"):
        gnn.calc.get_property("forces_std", gnn)


def test_eval_command_prints_and_writes_forces_std(fitted, tmp_path, capsys) -> None:
    """``ase-relaxed eval`` with a kernel model: a max σ_F column (eV/Å) and forces_std in the extxyz."""
    import ase.io

    from ase_relaxed.cli import main
    from ase_relaxed.models.io import save_model

    model, frames = fitted
    save_model(model, tmp_path / "kernel.safetensors")
    ase.io.write(tmp_path / "in.extxyz", frames[5])
    assert main(["eval", str(tmp_path / "in.extxyz"), "--model", str(tmp_path / "kernel.safetensors"),
                 "--dtype", "float64", "--out", str(tmp_path / "out.extxyz")]) == 0
    text = capsys.readouterr().out
    assert "max σ_F/(eV/Å)" in text
    written = ase.io.read(tmp_path / "out.extxyz")
    assert np.allclose(written.arrays["forces_std"], force_std(model, frames[5]), rtol=1e-6)
    assert f"{force_std(model, frames[5]).max():14.6f}" in text
