"""Ising sampler against exact enumeration; autocorrelation time against an AR(1) process; bad input."""

import numpy as np
import pytest

from ase_relaxed.errors import InputError
from ase_relaxed.rg import (
    abs_magnetisation,
    blocking_error,
    decimate_chain,
    energy_per_spin,
    exact_ising,
    integrated_autocorrelation_time,
    mean_and_error,
    sample_ising,
    sample_ising_chain,
    susceptibility,
)


@pytest.mark.parametrize("coupling", [0.3, 0.4407, 0.6])
def test_sampler_matches_exact_4x4(coupling):
    exact = exact_ising(4, coupling)
    s = sample_ising(4, coupling, 6000, seed=11)
    for name, series in (("energy", energy_per_spin(s)), ("abs_m", abs_magnetisation(s))):
        mean, sigma, tau = mean_and_error(series)
        assert 0.5 <= tau < 20
        assert abs(mean - exact[name]) < 3 * sigma, (name, mean, exact[name], sigma)
    chi, chi_err = blocking_error(s, lambda x: susceptibility(x, coupling), n_blocks=20)
    assert abs(chi - exact["chi"]) < 3 * chi_err, (chi, exact["chi"], chi_err)


def test_exact_4x4_limits():
    # K = 0: every state equally likely, <E> = 0; large K: ground state E/N = -2, |m| = 1.
    assert exact_ising(4, 0.0)["energy"] == pytest.approx(0.0, abs=1e-12)
    cold = exact_ising(4, 5.0)
    assert cold["energy"] == pytest.approx(-2.0, abs=1e-6) and cold["abs_m"] == pytest.approx(1.0, abs=1e-6)


def test_exact_chain_closed_form_and_sampler():
    k, n = 0.7, 10
    t = np.tanh(k)
    exact = exact_ising(n, k, dim=1)
    assert exact["energy"] == pytest.approx(-(t + t ** (n - 1)) / (1 + t**n), rel=1e-12)
    s = sample_ising_chain(n, k, 5000, seed=3)
    mean, sigma, _ = mean_and_error(energy_per_spin(s))
    assert abs(mean - exact["energy"]) < 3 * sigma


@pytest.mark.parametrize("coupling", [0.3, 0.8, 1.5])
def test_decimation_rule_exact(coupling):
    k_prime, residual = decimate_chain(12, coupling)
    assert residual < 1e-9  # the marginal is exactly a nearest-neighbour chain
    assert np.tanh(k_prime) == pytest.approx(np.tanh(coupling) ** 2, abs=1e-6)


def test_autocorrelation_time_of_ar1():
    # x_t = phi x_{t-1} + noise has rho(t) = phi^t and tau_int = (1 + phi) / (2 (1 - phi)).
    phi, n = 0.8, 200_000
    rng = np.random.default_rng(5)
    noise = rng.normal(size=n)
    x = np.empty(n)
    x[0] = 0.0
    for i in range(1, n):
        x[i] = phi * x[i - 1] + noise[i]
    assert integrated_autocorrelation_time(x) == pytest.approx((1 + phi) / (2 * (1 - phi)), rel=0.05)


def test_seed_reproducible_and_different():
    a = sample_ising(6, 0.4, 20, seed=4)
    assert (a == sample_ising(6, 0.4, 20, seed=4)).all()
    assert not (a == sample_ising(6, 0.4, 20, seed=5)).all()


@pytest.mark.parametrize("kwargs, match", [
    (dict(L=1, coupling=0.4, n_samples=5), "L must be"),
    (dict(L=4, coupling=0.4, n_samples=0), "n_samples must be"),
    (dict(L=4, coupling=-0.1, n_samples=5), "coupling must be >= 0"),
    (dict(L=4, coupling=float("nan"), n_samples=5), "coupling must be finite"),
    (dict(L=5, coupling=0.4, n_samples=5), "even L"),
    (dict(L=4, coupling=0.4, n_samples=5, dim=3), "dim must be"),
])
def test_bad_input(kwargs, match):
    with pytest.raises(InputError, match=match) as info:
        sample_ising(**kwargs)
    assert "\n" not in str(info.value)


def test_bad_series():
    with pytest.raises(InputError, match="NaN"):
        integrated_autocorrelation_time(np.array([1.0, np.nan, 2.0]))
