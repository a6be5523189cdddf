"""Integrated autocorrelation time and the error bar of a Markov-chain mean.

The normalised autocorrelation of a series :math:`x_t` is
:math:`\\rho(t) = C(t)/C(0)`, :math:`C(t) = \\langle (x_s-\\bar x)(x_{s+t}-\\bar x)\\rangle`, and the
integrated autocorrelation time with window :math:`M` is
:math:`\\tau_{int}(M) = \\tfrac12 + \\sum_{t=1}^{M} \\rho(t)`.  The window is chosen by the automatic
windowing rule of Madras & Sokal (J. Stat. Phys. 50, 109 (1988)) and Sokal's lecture notes
("Monte Carlo methods in statistical mechanics", 1996): the smallest :math:`M \\ge c\\,\\tau_{int}(M)`
with :math:`c = 6`.  The variance of the mean of :math:`n` samples is then
:math:`\\sigma^2 = 2\\tau_{int}\\,\\mathrm{Var}(x)/n`.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError


def autocorrelation(series: np.ndarray) -> np.ndarray:
    """Normalised autocorrelation :math:`\\rho(t)`, :math:`t = 0..n-1`, of a 1D series (FFT, biased estimator).

    >>> rho = autocorrelation(np.array([1.0, -1.0, 1.0, -1.0]))
    >>> float(rho[0]), float(rho[1])
    (1.0, -0.75)
    """
    x = np.asarray(series, dtype=float)
    if x.ndim != 1 or x.size < 2:
        raise InputError(f"series must be 1D with at least 2 values, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise InputError("series holds NaN or infinite values")
    x = x - x.mean()
    n = x.size
    f = np.fft.rfft(x, 2 * n)
    c = np.fft.irfft(f * np.conj(f))[:n]
    if c[0] <= 0:
        return np.concatenate([[1.0], np.zeros(n - 1)])
    return c / c[0]


def integrated_autocorrelation_time(series: np.ndarray, c: float = 6.0) -> float:
    """Integrated autocorrelation time :math:`\\tau_{int}` with Madras-Sokal automatic windowing.

    :math:`\\tau_{int}(M) = 1/2 + \\sum_{t=1}^{M}\\rho(t)`, ``M`` the smallest window with
    :math:`M \\ge c\\,\\tau_{int}(M)`.  Independent samples give :math:`\\tau_{int} = 1/2`.

    >>> x = np.random.default_rng(0).normal(size=20000)
    >>> abs(integrated_autocorrelation_time(x) - 0.5) < 0.05
    True
    """
    rho = autocorrelation(series)
    tau = 0.5 + np.cumsum(rho[1:])
    windows = np.arange(1, rho.size)
    ok = windows >= c * tau
    m = int(np.argmax(ok)) if ok.any() else tau.size - 1
    return float(max(tau[m], 0.5))


def mean_and_error(series: np.ndarray) -> tuple[float, float, float]:
    """Return ``(mean, sigma, tau_int)`` of a correlated series,
    :math:`\\sigma = \\sqrt{2\\tau_{int}\\mathrm{Var}(x)/n}`.

    >>> m, s, tau = mean_and_error(np.random.default_rng(1).normal(size=10000))
    >>> abs(m) < 4 * s and abs(s - 0.01) < 0.002
    True
    """
    x = np.asarray(series, dtype=float)
    tau = integrated_autocorrelation_time(x)
    return float(x.mean()), float(np.sqrt(2.0 * tau * x.var() / x.size)), tau


def blocking_error(values: np.ndarray, estimator, n_blocks: int = 20) -> tuple[float, float]:
    """Estimate ``estimator(values)`` and its error from ``n_blocks`` consecutive blocks.

    :math:`\\sigma = \\mathrm{std}(\\text{block estimates})/\\sqrt{n_b - 1}`; used for non-linear
    estimators such as the susceptibility.

    >>> est, err = blocking_error(np.random.default_rng(2).normal(size=4000), np.mean)
    >>> abs(est) < 4 * err
    True
    """
    x = np.asarray(values)
    if n_blocks < 2 or x.shape[0] < n_blocks:
        raise InputError(f"need at least n_blocks={n_blocks} >= 2 values, got {x.shape[0]}")
    size = x.shape[0] // n_blocks
    blocks = np.array([estimator(x[i * size:(i + 1) * size]) for i in range(n_blocks)])
    return float(estimator(x[: size * n_blocks])), float(blocks.std(ddof=1) / np.sqrt(n_blocks))
