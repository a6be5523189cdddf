"""Real spherical harmonics helpers: exact Wigner matrices and Cartesian forms of l=1, l=2 blocks.

e3nn's ``Irrep.D_from_matrix`` goes through Euler angles and float32 generators (unless the global
default dtype is float64), an error of ~1e-6.  Here D is fitted from Y(g r) = D(g) Y(r) on fixed
points instead, exact to float64 rounding, with the parity sign p(−1)^l for improper g.

>>> import numpy as np
>>> d = wigner_d("1o", -np.eye(3))  # inversion flips a polar vector
>>> bool(np.allclose(d, -np.eye(3)))
True
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch
from e3nn import o3


def _fibonacci(n: int) -> np.ndarray:
    i = np.arange(n) + 0.5
    z = 1.0 - 2.0 * i / n
    phi = math.pi * (1.0 + math.sqrt(5.0)) * i
    s = np.sqrt(1.0 - z * z)
    return np.stack([s * np.cos(phi), s * np.sin(phi), z], axis=-1)


def _sh(ell: int, points: np.ndarray) -> np.ndarray:
    """Real spherical harmonics of e3nn (integral normalisation) at unit vectors, shape (..., 2l+1)."""
    return o3.spherical_harmonics(ell, torch.from_numpy(np.ascontiguousarray(points)), True).numpy()


@lru_cache(maxsize=None)
def _fit(ell: int) -> tuple[np.ndarray, np.ndarray]:
    points = _fibonacci(3 * ell + 3)
    return points, np.linalg.pinv(_sh(ell, points))


def wigner_d(ir: o3.Irrep | str, ops: np.ndarray) -> np.ndarray:
    """D(g) of irrep ``ir`` for orthogonal ``ops`` (..., 3, 3), exact to rounding (Y(g r) = D(g) Y(r)).

    Same matrices as ``o3.Irrep(ir).D_from_matrix`` (which goes through Euler angles and loses ~1e-7);
    for improper g the sign ``p (-1)^l`` turns the Y transformation into the irrep's parity.
    """
    ir = o3.Irrep(ir)
    ops = np.asarray(ops, dtype=np.float64)
    sign = np.where(np.linalg.det(ops) < 0, float(ir.p * (-1) ** ir.l), 1.0)[..., None, None]
    if ir.l == 0:
        return sign * np.ones(ops.shape[:-2] + (1, 1))
    points, pinv = _fit(ir.l)
    y = _sh(ir.l, np.einsum("...ij,kj->...ki", ops, points))
    return sign * np.swapaxes(pinv @ y, -1, -2)


@lru_cache(maxsize=None)
def _cartesian_maps() -> tuple[np.ndarray, np.ndarray]:
    r = _fibonacci(64)
    c1 = np.linalg.lstsq(r, _sh(1, r), rcond=None)[0]  # Y1(r) = r @ c1
    outer = np.einsum("ni,nj->nij", r, r).reshape(-1, 9)
    c2 = np.linalg.lstsq(outer, _sh(2, r), rcond=None)[0]  # Y2(r) = vec(r rᵀ) @ c2, symmetric in (i, j)
    return c1, c2


def l1_to_vector(block: np.ndarray) -> np.ndarray:
    """Cartesian vector v of an l=1 block with ``θ · Y1(r) = v · r`` (e3nn's component order handled)."""
    return np.asarray(block, dtype=np.float64) @ _cartesian_maps()[0].T


def l2_to_matrix(block: np.ndarray) -> np.ndarray:
    """Symmetric traceless S of an l=2 block with ``θ · Y2(r) = rᵀ S r`` on the unit sphere."""
    s = (np.asarray(block, dtype=np.float64) @ _cartesian_maps()[1].T).reshape(-1, 3, 3)
    s = 0.5 * (s + np.swapaxes(s, -1, -2))
    s = s - np.trace(s, axis1=-2, axis2=-1)[:, None, None] * np.eye(3) / 3.0
    return s.reshape(np.shape(block)[:-1] + (3, 3))
