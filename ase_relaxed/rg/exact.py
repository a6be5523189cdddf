"""Exact Ising averages by enumerating all :math:`2^N` states of tiny periodic lattices, and exact 1D decimation.

:math:`Z = \\sum_s e^{K\\sum_{\\langle ij\\rangle}s_is_j}`; averages
:math:`\\langle E/N\\rangle`, :math:`\\langle|m|\\rangle`
and :math:`\\chi = K N(\\langle m^2\\rangle-\\langle|m|\\rangle^2)` use the same bond convention as
:func:`ase_relaxed.rg.ising.energy_per_spin` (bonds to the right and down, periodic).
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from ._checks import check_float, check_int
from .ising import abs_magnetisation, energy_per_spin


def all_states(n_spins: int) -> np.ndarray:
    """All :math:`2^n` configurations of ``n_spins`` spins :math:`\\pm1`, int8 ``(2**n, n)``.

    >>> all_states(2).tolist()
    [[-1, -1], [-1, 1], [1, -1], [1, 1]]
    """
    n_spins = check_int("n_spins", n_spins, 1)
    if n_spins > 24:
        raise InputError(f"exact enumeration is limited to 24 spins, got {n_spins}")
    bits = (np.arange(2**n_spins)[:, None] >> np.arange(n_spins - 1, -1, -1)) & 1
    return (2 * bits - 1).astype(np.int8)


def boltzmann_weights(log_weights: np.ndarray) -> np.ndarray:
    """Normalised probabilities :math:`p_s = e^{w_s}/\\sum e^{w}` from log weights (stable).

    >>> boltzmann_weights(np.log(np.array([1.0, 3.0]))).tolist()
    [0.25, 0.75]
    """
    w = np.asarray(log_weights, dtype=np.float64)
    p = np.exp(w - w.max())
    return p / p.sum()


def exact_ising(L: int, coupling: float, dim: int = 2) -> dict[str, float]:
    """Exact ``energy`` (:math:`\\langle E/N\\rangle`), ``abs_m`` (:math:`\\langle|m|\\rangle`), ``m2``, ``chi``.

    ``dim=2``: ``L x L`` periodic lattice (``L <= 4``); ``dim=1``: ``L``-site periodic chain (``L <= 24``).
    The chain energy has the closed form :math:`\\langle E/N\\rangle = -(t + t^{L-1})/(1 + t^L)`, :math:`t = \\tanh K`.

    >>> r = exact_ising(2, 0.0)
    >>> r["energy"], r["abs_m"]
    (0.0, 0.375)
    """
    L = check_int("L", L, 2)
    coupling = check_float("coupling", coupling)
    n = L**dim
    states = all_states(n)
    configs = states.reshape((-1,) + (L,) * dim)
    e = energy_per_spin(configs)
    p = boltzmann_weights(-coupling * n * e)
    m = abs_magnetisation(configs)
    abs_m, m2 = float(p @ m), float(p @ m**2)
    return {"energy": float(p @ e), "abs_m": abs_m, "m2": m2, "chi": coupling * n * (m2 - abs_m**2)}


def decimate_chain(n_spins: int, coupling: float) -> tuple[float, float]:
    """Sum out every second spin of an ``n_spins`` periodic chain exactly and fit the coupling :math:`K'` of the rest.

    The marginal of the even spins, :math:`p(s') = \\sum_{s_{odd}} p(s)`, is fitted by least squares to
    :math:`\\log p(s') = c + K'\\sum_i s'_i s'_{i+1}`; returns ``(K', rms residual of the fit)``.  For
    decimation the fit is exact and :math:`\\tanh K' = \\tanh^2 K`.

    >>> kp, res = decimate_chain(8, 0.7)
    >>> round(float(np.tanh(kp)), 6) == round(float(np.tanh(0.7) ** 2), 6), res < 1e-9
    (True, True)
    """
    n_spins = check_int("n_spins", n_spins, 4)
    if n_spins % 2:
        raise InputError(f"n_spins must be even to sum out every second spin, got {n_spins}")
    coupling = check_float("coupling", coupling)
    states = all_states(n_spins)
    p = boltzmann_weights(coupling * (states * np.roll(states, 1, axis=1)).sum(axis=1))
    kept = states[:, ::2]
    half = n_spins // 2
    index = ((kept > 0).astype(np.int64) << np.arange(half - 1, -1, -1)).sum(axis=1)
    marginal = np.bincount(index, weights=p, minlength=2**half)
    coarse = all_states(half)
    bonds = (coarse * np.roll(coarse, 1, axis=1)).sum(axis=1).astype(np.float64)
    design = np.stack([np.ones_like(bonds), bonds], axis=1)
    coef, *_ = np.linalg.lstsq(design, np.log(marginal), rcond=None)
    residual = np.log(marginal) - design @ coef
    return float(coef[1]), float(np.sqrt(np.mean(residual**2)))


def chain_distribution(n_spins: int, coupling: float) -> tuple[np.ndarray, np.ndarray]:
    """All states of a periodic chain and their exact probabilities :math:`p(s) \\propto e^{K\\sum_i s_is_{i+1}}`.

    >>> s, p = chain_distribution(4, 0.0)
    >>> s.shape, float(p.sum())
    ((16, 4), 1.0)
    """
    n_spins = check_int("n_spins", n_spins, 2)
    coupling = check_float("coupling", coupling)
    states = all_states(n_spins)
    return states, boltzmann_weights(coupling * (states * np.roll(states, 1, axis=1)).sum(axis=1))
