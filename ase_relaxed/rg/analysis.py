"""Receptive fields of a trained stack on an ``L x L`` periodic lattice: centres, locality, radii.

A receptive field is a column of :math:`W^{(1)}\\cdots W^{(l)}` reshaped to ``L x L``; its weight map is
:math:`w_x = |f_x|`.  The centre is the periodic (circular) mean of :math:`w`; distances are minimum-image.
Locality score: :math:`S_R = \\sum_{|x-c|\\le R} w_x / \\sum_x w_x`; effective radius:
:math:`r_{eff} = (\\sum_x w_x |x-c|^2 / \\sum_x w_x)^{1/2}`; half-weight radius :math:`R_{1/2}`: the smallest
site distance with :math:`S_R \\ge 1/2`.  The null model shuffles each field's pixels.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError


def _weights(field: np.ndarray) -> np.ndarray:
    w = np.abs(np.asarray(field, dtype=np.float64))
    if w.ndim != 2 or w.shape[0] != w.shape[1]:
        raise InputError(f"a receptive field must be an L x L array, got shape {w.shape}")
    if not np.all(np.isfinite(w)) or w.sum() <= 0:
        raise InputError("a receptive field must be finite and not all zero")
    return w


def field_centre(field: np.ndarray) -> tuple[float, float]:
    """Periodic centre of :math:`w = |f|`: per axis :math:`c = \\frac{L}{2\\pi}\\arg\\sum_x w_x e^{2\\pi i x/L}`.

    >>> f = np.zeros((8, 8)); f[0, 7] = f[0, 0] = 1.0
    >>> [round(c, 6) % 8 for c in field_centre(f)]
    [0.0, 7.5]
    """
    w = _weights(field)
    L = w.shape[0]
    phase = np.exp(2j * np.pi * np.arange(L) / L)
    rows, cols = w.sum(axis=1), w.sum(axis=0)
    return tuple(float((np.angle(p @ phase) * L / (2 * np.pi)) % L) for p in (rows, cols))


def periodic_distances(L: int, centre: tuple[float, float]) -> np.ndarray:
    """Minimum-image distance of every site of an ``L x L`` torus from ``centre``.

    >>> float(periodic_distances(4, (0.0, 0.0))[3, 3])  # (3, 3) is (-1, -1) away
    1.4142135623730951
    """
    x = np.arange(L)
    d = [np.abs(x - c) for c in centre]
    d = [np.minimum(di, L - di) for di in d]
    return np.sqrt(d[0][:, None] ** 2 + d[1][None, :] ** 2)


def locality_score(field: np.ndarray, radius: float) -> float:
    """Fraction :math:`S_R` of :math:`\\sum_x |f_x|` within ``radius`` of the field's centre.

    >>> f = np.zeros((10, 10)); f[4:6, 4:6] = 1.0
    >>> locality_score(f, 1.0)
    1.0
    """
    w = _weights(field)
    d = periodic_distances(w.shape[0], field_centre(w))
    return float(w[d <= radius].sum() / w.sum())


def effective_radius(field: np.ndarray) -> float:
    """:math:`r_{eff} = \\sqrt{\\sum_x |f_x|\\,|x - c|^2 / \\sum_x |f_x|}` about the periodic centre.

    >>> f = np.zeros((10, 10)); f[5, 4] = f[5, 6] = 1.0
    >>> effective_radius(f)
    1.0
    """
    w = _weights(field)
    d = periodic_distances(w.shape[0], field_centre(w))
    return float(np.sqrt((w * d**2).sum() / w.sum()))


def half_weight_radius(field: np.ndarray) -> float:
    """Smallest :math:`R` (a site distance) with :math:`S_R \\ge 1/2`: the blob size, insensitive to a weak tail.

    >>> f = np.full((10, 10), 1e-3); f[5, 4:7] = 1.0
    >>> half_weight_radius(f)
    1.0
    """
    w = _weights(field)
    d = periodic_distances(w.shape[0], field_centre(w)).ravel()
    order = np.argsort(d, kind="stable")
    mass = np.cumsum(w.ravel()[order]) / w.sum()
    return float(d[order][np.searchsorted(mass, 0.5)])


def summarize_fields(fields: np.ndarray, L: int, radius: float, seed: int = 0) -> dict[str, float]:
    """Mean locality score and effective radius of the columns of ``fields`` ``(L*L, n)``, and of shuffled copies.

    >>> rng = np.random.default_rng(0)
    >>> local = np.zeros((64, 4)); local[[0, 1, 8, 9], :] = 1.0
    >>> s = summarize_fields(local, 8, 1.0)
    >>> s["locality"], s["locality_shuffled"] < 0.5
    (1.0, True)
    """
    f = np.asarray(fields, dtype=np.float64)
    if f.ndim != 2 or f.shape[0] != L * L:
        raise InputError(f"fields must have shape ({L * L}, n_hidden), got {f.shape}")
    rng = np.random.default_rng(seed)
    out = {"locality": [], "locality_shuffled": [], "radius": [], "radius_shuffled": [], "radius_half": [],
           "radius_half_shuffled": []}
    for j in range(f.shape[1]):
        field = f[:, j].reshape(L, L)
        shuffled = rng.permutation(f[:, j]).reshape(L, L)
        out["locality"].append(locality_score(field, radius))
        out["locality_shuffled"].append(locality_score(shuffled, radius))
        out["radius"].append(effective_radius(field))
        out["radius_shuffled"].append(effective_radius(shuffled))
        out["radius_half"].append(half_weight_radius(field))
        out["radius_half_shuffled"].append(half_weight_radius(shuffled))
    summary = {key: float(np.mean(v)) for key, v in out.items()}
    summary["locality_std"] = float(np.std(out["locality"]))
    summary["locality_shuffled_std"] = float(np.std(out["locality_shuffled"]))
    summary["radius_half_median"] = float(np.median(out["radius_half"]))
    return summary
