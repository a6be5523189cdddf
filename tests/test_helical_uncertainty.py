"""Helical phonons with error bars from the kernel model's posterior (issue 17, item 5).

Forces are linear in the weights, so the force constants of every posterior draw come from the same 12 row
evaluations: the mean must be the ordinary helical route's result, a zero posterior must give zero spread,
and the spread must scale as the square root of the covariance (linear propagation for small spreads)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import brenner_kernel_model

from ase_relaxed import RelaxedCalculator
from ase_relaxed.errors import InputError
from ase_relaxed.phonons import helical_phonons
from ase_relaxed.phonons.helical_uncertainty import calibration, helical_phonons_with_error_bars

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def model():
    return brenner_kernel_model(frames=4)


OPTIONS = dict(interaction_range=3.0, relax=False)


def test_the_mean_is_the_ordinary_helical_route_and_draws_spread(model) -> None:
    post = helical_phonons_with_error_bars(5, 5, model, n_samples=16, **OPTIONS)
    plain = helical_phonons(5, 5, RelaxedCalculator(model, device="cpu"), **OPTIONS)
    assert np.allclose(post.gamma_frequencies, plain.gamma_frequencies, atol=1e-4)  # F: rows·α vs autograd
    assert post.gamma_samples.shape == (16, len(plain.gamma_frequencies))
    assert (post.gamma_std[4:] > 0).all()  # every non-zero mode has a spread


def test_spread_follows_the_posterior_covariance(model) -> None:
    covariance = model.energy_model.posterior_covariance.clone()
    try:
        base = helical_phonons_with_error_bars(5, 5, model, n_samples=24, seed=5, **OPTIONS).gamma_std
        model.energy_model.posterior_covariance.mul_(4.0)  # σ_α doubles
        doubled = helical_phonons_with_error_bars(5, 5, model, n_samples=24, seed=5, **OPTIONS).gamma_std
        model.energy_model.posterior_covariance.zero_()
        none = helical_phonons_with_error_bars(5, 5, model, n_samples=4, **OPTIONS)
    finally:
        model.energy_model.posterior_covariance.copy_(covariance)
    ratio = np.median(doubled[4:] / base[4:])
    assert 1.8 < ratio < 2.2
    assert np.allclose(none.gamma_std, 0.0, atol=1e-9)
    assert np.allclose(none.gamma_samples, none.gamma_frequencies, atol=1e-8)


def test_bad_requests_are_one_line(model) -> None:
    with pytest.raises(InputError, match="need a kernel model"):
        helical_phonons_with_error_bars(5, 5, RelaxedCalculator("demo-carbon-random").model, **OPTIONS)
    with pytest.raises(InputError, match="at least 2 posterior samples"):
        helical_phonons_with_error_bars(5, 5, model, n_samples=1, **OPTIONS)
    with pytest.raises(InputError, match="shapes differ"):
        calibration(np.ones(3), np.ones(2), np.ones(3))


def test_calibration_counts_modes_inside_one_and_two_sigma() -> None:
    predicted, std = np.array([0.0, 100.0, 200.0, 300.0]), np.array([1.0, 10.0, 10.0, 10.0])
    result = calibration(predicted, std, np.array([0.0, 105.0, 215.0, 330.0]))
    assert result["n_modes"] == 3  # the zero mode is left out
    assert result["within_1sigma"] == pytest.approx(1 / 3) and result["within_2sigma"] == pytest.approx(2 / 3)


def test_the_command_line_prints_and_stores_the_error_bars(model, tmp_path, capsys) -> None:
    from ase_relaxed.cli import main
    from ase_relaxed.models.io import save_model

    path = tmp_path / "kernel.safetensors"
    save_model(model, path)
    out = tmp_path / "ph"
    args = ["phonons", "cnt:5,5", "--helical", "--model", str(path), "--dtype", "float64", "--interaction-range",
            "3.0", "--out", str(out)]
    assert main([*args, "--error-bars", "4"]) == 0
    printed = capsys.readouterr().out
    assert "posterior σ of the Γ frequencies over 4 weight draws" in printed
    import json

    data = json.loads((out / "helical_phonons.json").read_text())
    assert len(data["gamma_std_cm"]) == len(data["gamma_frequencies_cm"]) and data["posterior_samples"] == 4
    assert main(["phonons", "cnt:5,5", "--helical", "--error-bars", "4", "--model", "demo-carbon-random",
                 "--out", str(tmp_path / "gnn")]) == 2
    assert "need a kernel model" in capsys.readouterr().err
    assert main(["phonons", "cnt:5,5", "--error-bars", "4", "--out", str(tmp_path / "x")]) == 2
    assert "--error-bars needs --helical" in capsys.readouterr().err
