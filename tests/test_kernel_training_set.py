"""The incremental kernel training set, the one-evaluation row calculator and posterior draws.

The kernel model is linear in its weights (Sharma, Kumar, Suryanarayana, arXiv:2408.07554): a training set
that folds force rows into ΦᵀΦ, Φᵀy, yᵀy as frames arrive must give the weights that BLR gives on the full
design matrix; F = Φ_F α must be the autograd forces −∂E/∂r; posterior draws must have the posterior's
mean and covariance."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase.build import nanotube
from ase.calculators.singlepoint import SinglePointCalculator

from ase_relaxed import RelaxedCalculator
from ase_relaxed.errors import InputError
from ase_relaxed.kernel import KernelConfig, bayesian_linear_regression
from ase_relaxed.kernel.rows import kernel_rows
from ase_relaxed.kernel.rows_calculator import KernelRowsCalculator, posterior_weight_samples
from ase_relaxed.kernel.training_set import KernelTrainingSet
from ase_relaxed.kernel.uncertainty import force_std

torch.set_num_threads(1)
CONFIG = KernelConfig(n_representative=24, cutoff=4.0, n_max=4, l_max=3)


def brenner_tubes(count: int, seed: int = 0) -> list:
    from matscipy.calculators.manybody import Manybody
    from matscipy.calculators.manybody.explicit_forms import TersoffBrenner
    from matscipy.calculators.manybody.explicit_forms.tersoff_brenner import Brenner_PRB_42_9458_C_I

    brenner = Manybody(**TersoffBrenner(Brenner_PRB_42_9458_C_I))
    frames = []
    for k in range(count):
        atoms = nanotube(5, 0, length=2, bond=1.42)
        atoms.pbc = [False, False, True]
        atoms.center(vacuum=5.0, axis=(0, 1))
        atoms.positions += np.random.default_rng(seed + k).normal(0.0, 0.05, atoms.positions.shape)
        atoms.calc = brenner
        atoms.calc = SinglePointCalculator(atoms, energy=atoms.get_potential_energy(), forces=atoms.get_forces())
        frames.append(atoms)
    return frames


@pytest.fixture(scope="module")
def frames():
    return brenner_tubes(6)


def test_incremental_moments_give_the_weights_of_the_full_design_matrix(frames) -> None:
    training = KernelTrainingSet(CONFIG, energy_weight=10.0)
    training.extend(frames[:2])
    training.select()  # representatives from the first two frames only
    training.extend(frames[2:])  # the rest folded into the moments one by one
    model = training.fit(reselect=False)
    energy_model = model.energy_model
    rows, targets = [], []
    shift = float(energy_model.energy_shift[0])
    for atoms in frames:
        phi, force_rows = kernel_rows(energy_model, atoms)
        n = len(atoms)
        rows += [10.0 * phi.numpy()[None] / n, force_rows.numpy()]
        targets += [[10.0 * (atoms.get_potential_energy() - n * shift) / n], atoms.get_forces().ravel()]
    phi, y = np.concatenate(rows), np.concatenate(targets)
    info = model.training_info
    fixed = bayesian_linear_regression(phi, y, alpha=info["alpha"], beta=info["beta"])
    # the weights themselves are ill-conditioned (α/β ~ 1e-8); what they predict is not
    assert np.allclose(phi @ energy_model.weights.numpy(), phi @ fixed.mean, atol=1e-7 * np.abs(y).max())
    sigma = lambda cov: np.sqrt(np.einsum("rw,wv,rv->r", phi, cov, phi))  # noqa: E731
    assert np.allclose(sigma(energy_model.posterior_covariance.numpy()), sigma(fixed.covariance), rtol=1e-5)
    evidence = bayesian_linear_regression(phi, y)  # the same evidence maximum from the full matrix
    assert np.isclose(info["alpha"], evidence.alpha, rtol=1e-3) and np.isclose(info["beta"], evidence.beta, rtol=1e-3)
    assert model.training_info["frames"] == len(frames)


def test_a_frame_without_labels_is_named(frames) -> None:
    training = KernelTrainingSet(CONFIG)
    unlabelled = frames[0].copy()
    with pytest.raises(InputError, match="^frame 0: no energy and forces attached"):
        training.add(unlabelled)
    with pytest.raises(InputError, match="need energy_weight > 0"):
        KernelTrainingSet(CONFIG, energy_weight=0.0)


@pytest.fixture(scope="module")
def model(frames):
    training = KernelTrainingSet(CONFIG, energy_weight=10.0)
    training.extend(frames[:4])
    return training.fit()


def test_rows_calculator_equals_the_autograd_calculator(model, frames) -> None:
    atoms = frames[5].copy()
    atoms.calc = KernelRowsCalculator(model)
    reference = frames[5].copy()
    reference.calc = RelaxedCalculator(model, device="cpu")
    assert np.isclose(atoms.get_potential_energy(), reference.get_potential_energy(), rtol=1e-12, atol=1e-9)
    assert np.allclose(atoms.get_forces(), reference.get_forces(), atol=1e-9)
    assert np.allclose(atoms.calc.results["forces_std"], force_std(model, frames[5]), rtol=1e-10)
    assert np.allclose(atoms.calc.results["forces_std_model"], force_std(model, frames[5], include_noise=False),
                       rtol=1e-10)
    with pytest.raises(InputError, match="needs a kernel model"):
        KernelRowsCalculator(RelaxedCalculator("demo-carbon-random").model)


def test_posterior_draws_have_the_posterior_mean_and_covariance(model) -> None:
    draws = posterior_weight_samples(model, 4000, seed=1)
    mean = model.energy_model.weights.numpy()
    covariance = model.energy_model.posterior_covariance.numpy()
    scale = np.sqrt(np.diag(covariance))
    assert np.all(np.abs(draws.mean(axis=0) - mean) < 5 * scale / np.sqrt(4000))
    assert np.allclose(np.cov(draws.T).diagonal(), covariance.diagonal(), rtol=0.15)
    assert np.array_equal(draws, posterior_weight_samples(model, 4000, seed=1))  # reproducible
    with pytest.raises(InputError, match="at least one posterior sample"):
        posterior_weight_samples(model, 0)


def test_drawn_weights_move_the_forces_linearly(model, frames) -> None:
    """F(α) = Φ_F α: forces of the mean of two draws are the mean of their forces."""
    a, b = posterior_weight_samples(model, 2, seed=3)
    shared: dict = {}
    forces = []
    for weights in (a, b, 0.5 * (a + b)):
        atoms = frames[4].copy()
        atoms.calc = KernelRowsCalculator(model, weights=weights, shared_rows=shared, uncertainty=False)
        forces.append(atoms.get_forces())
    assert len(shared) == 1  # one row evaluation served all three
    assert not np.allclose(forces[0], forces[1])
    assert np.allclose(forces[2], 0.5 * (forces[0] + forces[1]), atol=1e-12)


def test_posterior_scale_widens_every_sigma_and_travels_with_the_file(model, frames, tmp_path) -> None:
    from ase_relaxed.models.io import load_model, save_model

    atoms = frames[5].copy()
    atoms.calc = KernelRowsCalculator(model)
    atoms.get_forces()
    before = atoms.calc.results["forces_std_model"]
    draws_before = posterior_weight_samples(model, 500, seed=2).std(axis=0)
    model.energy_model.posterior_scale.fill_(3.0)
    try:
        atoms.calc = KernelRowsCalculator(model)
        atoms.get_forces()
        assert np.allclose(atoms.calc.results["forces_std_model"], 3.0 * before, rtol=1e-10)
        assert np.allclose(force_std(model, frames[5], include_noise=False), 3.0 * before, rtol=1e-10)
        assert np.allclose(posterior_weight_samples(model, 500, seed=2).std(axis=0), 3.0 * draws_before, rtol=1e-8)
        save_model(model, tmp_path / "k.safetensors")
        assert float(load_model(tmp_path / "k.safetensors").energy_model.posterior_scale) == 3.0
    finally:
        model.energy_model.posterior_scale.fill_(1.0)
    state = {k: v for k, v in model.energy_model.state_dict().items() if k != "posterior_scale"}
    model.energy_model.posterior_scale.fill_(7.0)
    model.energy_model.load_state_dict(state)  # a file written before κ existed: uncalibrated
    assert float(model.energy_model.posterior_scale) == 1.0
