"""Majority-rule block spins and the second-moment correlation length, for comparison with RBM coarse-graining.

Block spin of a ``b x b`` (or ``b``) block: :math:`s'_B = \\mathrm{sign}\\sum_{x\\in B}s_x`, ties broken at random.
Second-moment correlation length on a periodic lattice of side ``L``:
:math:`\\xi_{2nd} = \\sqrt{S(0)/S(k_{min}) - 1}\\,/\\,(2\\sin(k_{min}/2))`, :math:`k_{min} = 2\\pi/L`,
:math:`S(k) = \\langle|\\sum_x s_x e^{ik\\cdot x}|^2\\rangle/N` (averaged over the axes).  For an infinite chain
:math:`\\xi_{2nd} = \\sqrt{t}/(1-t)`, :math:`t = \\tanh K`; under a scale-``b`` RG step :math:`\\xi \\to \\xi/b`.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from ._checks import check_int


def majority_rule(configs: np.ndarray, b: int, seed: int = 0) -> np.ndarray:
    """Block spins :math:`s'_B = \\mathrm{sign}\\sum_{x\\in B} s_x` of ``(n, L)`` or ``(n, L, L)`` configurations.

    >>> majority_rule(np.array([[1, 1, -1, 1, -1, -1]]), 3).tolist()
    [[1, -1]]
    """
    s = np.asarray(configs)
    b = check_int("b", b, 1)
    if s.ndim not in (2, 3) or any(n % b for n in s.shape[1:]):
        raise InputError(f"configurations (n, L) or (n, L, L) with L divisible by b={b}, got shape {s.shape}")
    L = s.shape[1]
    if s.ndim == 2:
        total = s.reshape(len(s), L // b, b).sum(axis=2)
    else:
        total = s.reshape(len(s), L // b, b, L // b, b).sum(axis=(2, 4))
    ties = np.random.default_rng(seed).choice(np.array([-1, 1]), size=total.shape)
    return np.where(total == 0, ties, np.sign(total)).astype(np.int8)


def correlation_length(configs: np.ndarray) -> float:
    """Second-moment correlation length :math:`\\xi_{2nd}` of periodic ``(n, L)`` or ``(n, L, L)`` configurations.

    >>> correlation_length(np.ones((3, 4, 4))) == np.inf, correlation_length(np.array([[1, -1, 1, -1]])) == 0.0
    (True, True)
    """
    s = np.asarray(configs, dtype=np.float64)
    if s.ndim not in (2, 3) or s.shape[1] < 2:
        raise InputError(f"configurations must have shape (n, L) or (n, L, L) with L >= 2, got {s.shape}")
    L = s.shape[1]
    n_spins = int(np.prod(s.shape[1:]))
    phase = np.exp(2j * np.pi * np.arange(L) / L)
    s0 = np.mean(s.reshape(len(s), -1).sum(axis=1) ** 2) / n_spins
    if s.ndim == 2:
        sk = np.mean(np.abs(s @ phase) ** 2) / n_spins
    else:
        sk = 0.5 * (np.mean(np.abs(np.einsum("nij,i->n", s, phase)) ** 2)
                    + np.mean(np.abs(np.einsum("nij,j->n", s, phase)) ** 2)) / n_spins
    if sk <= 1e-12 * s0:
        return float(np.inf)
    return float(np.sqrt(max(s0 / sk - 1.0, 0.0)) / (2 * np.sin(np.pi / L)))
