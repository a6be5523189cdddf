r"""Which point group do relaxed symmetry-breaking weights θ keep? (Hofgard et al., arXiv:2407.20471)

θ is a set of irreps blocks ``{"0e": (m, 1), "1o": (m, 3), "2e": (m, 5), ...}`` in e3nn's basis, so an
orthogonal ``g`` (proper or improper) acts as ``θ_b -> D_b(g) θ_b`` with ``D_b = o3.Irrep(b).D_from_matrix``.
A relaxed model with fixed θ keeps exactly the **stabiliser**

    Stab(θ) = { g ∈ O(3) : D_b(g) θ_b = θ_b for every block b }.

**Tolerance.** Numerically, ``g`` is kept when for every block

    ‖D_b(g) θ_b − θ_b‖ ≤ max(tol · ‖θ_sb‖, atol),

where ``θ_sb`` is the whole symmetry-breaking part (every block but ``0e``; ``0o`` counts) and the norms
are Frobenius norms over the block's multiplicity rows. ``tol`` (default 1e-2) is relative: distortions
smaller than 1 % of the symmetry-breaking signal are ignored, whatever its overall size (trained θ are
~1 on ``0e`` and 1e-3…1 elsewhere; the orientation search itself is accurate to ~1e-7, far below it).
``atol`` (default 1e-6) is an absolute floor: a θ whose symmetry-breaking part is below it counts as
fully symmetric (O(3)), which absorbs float32 noise. ``StabilizerResult.residual`` is the largest
``max_b ‖D_b(g)θ_b − θ_b‖ / max(‖θ_sb‖, atol/tol)`` over the group, so the group passes iff it is ≤ tol.

**Search.** O(3) and SO(3) are tested first, then the axial infinite groups (C∞ … D∞h) about candidate
axes, then the 32 crystallographic groups in frames ``F`` built from candidate axes (operations
``F g Fᵀ`` for ``g`` in the standard orientation of :mod:`.point_groups`). Candidate axes are the
orientations the data suggest: the l=1 vectors, the eigenvectors of the l=2 blocks (as symmetric traceless
matrices) and of the moment tensors ∫ f² r rᵀ of every block's spherical signal ``f(r) = Σ_m θ_m Y_lm(r)``,
the refined extrema of each ``f`` (every rotation axis of order ≥ 3 is one), the lab axes, and sums,
differences and cross products of pairs of these. For every axis the in-plane angle of a two-fold axis or
mirror normal is found by minimising the exact (trigonometric-polynomial) residual over the full circle.
The largest group wins (infinite above finite; ties: higher principal-axis order, then table order, then
first frame).

>>> r = stabilizer({"0e": [1.0], "2e": o3.spherical_harmonics(2, torch.tensor([0.0, 0, 1]), True)})
>>> r.schoenflies, r.hermann_mauguin, r.order
('Dinfh', 'inf/mm', None)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
from e3nn import o3

from ..errors import InputError
from ..nn.harmonics import _fibonacci, _sh, l1_to_vector, l2_to_matrix, wigner_d
from .point_groups import LIBRARY, POINT_GROUPS, rotation

__all__ = ["stabilizer", "StabilizerResult", "plot_theta", "l1_to_vector", "l2_to_matrix", "wigner_d"]

# (schoenflies, hermann_mauguin) of the infinite groups; rank above every finite group
INFINITE = {"O(3)": "O(3)", "SO(3)": "SO(3)", "Dinfh": "inf/mm", "Cinfv": "infm", "Cinfh": "inf/m",
            "Dinf": "inf2", "Cinf": "inf"}
_RANKED = sorted(range(len(POINT_GROUPS)), key=lambda i: (-POINT_GROUPS[i].order, -POINT_GROUPS[i].principal_order, i))
_SIGMA_X, _C2_X = np.diag([-1.0, 1.0, 1.0]), np.diag([1.0, -1.0, -1.0])


@dataclass
class StabilizerResult:
    """The stabiliser of θ: names, order (None if infinite), principal axis, operations (lab frame).

    ``axis`` is a unit vector with its largest-magnitude component positive, or None where no unique
    axis exists (C1, Ci, cubic groups, O(3), SO(3)); for D2/D2h it is the frame's z (one of three
    equivalent two-fold axes). For infinite groups ``operations`` holds the sample elements that
    were tested (generic rotations about the axis, a mirror, inversion), not the whole group.
    ``frame`` has columns x, y, z of the standard orientation of the found group.
    """

    schoenflies: str
    hermann_mauguin: str
    order: int | None
    axis: np.ndarray | None
    operations: list[np.ndarray]
    frame: np.ndarray | None = None
    residual: float = 0.0
    tol: float = 1e-2

    def __str__(self) -> str:
        axis = "" if self.axis is None else f", axis={np.array2string(self.axis, precision=4)}"
        return f"{self.schoenflies} ({self.hermann_mauguin}), order={self.order}{axis}"


# ----------------------------------------------------------------------------------- input, geometry


def _parse(theta: Mapping) -> list[tuple[o3.Irrep, np.ndarray]]:
    if not isinstance(theta, Mapping) or len(theta) == 0:
        raise InputError("θ must be a non-empty dict from irrep strings ('0e', '1o', ...) to arrays")
    merged: dict[o3.Irrep, list[np.ndarray]] = {}
    for key, value in theta.items():
        try:
            ir = o3.Irrep(key)
        except Exception as exc:
            raise InputError(f"θ key {key!r} is not an irrep string like '0e', '1o', '2e' ({exc})") from None
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().double().numpy()
        try:
            arr = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise InputError(f"θ[{key!r}] is not numeric: {exc}") from None
        if arr.ndim == 1:
            arr = arr[None, :]
        if arr.ndim != 2 or arr.shape[1] != ir.dim:
            shape = np.shape(value)
            raise InputError(f"θ[{key!r}] has shape {shape}; expected (multiplicity, {ir.dim}) or ({ir.dim},)")
        if not np.all(np.isfinite(arr)):
            raise InputError(f"θ[{key!r}] contains NaN or infinite values")
        merged.setdefault(ir, []).append(arr)
    return [(ir, np.concatenate(arrs, axis=0)) for ir, arrs in merged.items()]


def _by_distinctness(w: np.ndarray, v: np.ndarray) -> list[np.ndarray]:
    gaps = [min(abs(w[i] - w[j]) for j in range(3) if j != i) for i in range(3)]
    return [v[:, i] for i in sorted(range(3), key=lambda i: (-round(gaps[i] / (abs(w).max() + 1e-300), 9), i))]


@lru_cache(maxsize=None)
def _grid(n: int = 1500, k: int = 8) -> tuple[np.ndarray, np.ndarray]:
    points = _fibonacci(n)
    neighbours = np.argsort(-(points @ points.T), axis=1)[:, 1 : k + 1]
    return points, neighbours


def _tangent(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    helper = np.where(np.abs(p[:, :1]) < 0.9, np.array([[1.0, 0, 0]]), np.array([[0.0, 1, 0]]))
    e1 = np.cross(p, helper)
    e1 /= np.linalg.norm(e1, axis=1, keepdims=True)
    return e1, np.cross(p, e1)


def _extrema(ell: int, coeffs: np.ndarray, h: float = 1e-4) -> list[np.ndarray]:
    """Isolated local extrema of f(r) = coeffs · Y_l(r): grid search + Newton on the sphere."""
    points, neighbours = _grid()
    f = _sh(ell, points) @ coeffs
    fn = f[neighbours]
    p = points[(np.all(f[:, None] > fn, axis=1)) | (np.all(f[:, None] < fn, axis=1))]
    p = p[np.argsort(-np.abs(_sh(ell, p) @ coeffs), kind="stable")][:24]
    if len(p) == 0:
        return []
    steps = np.array([(a, b) for a in (-h, 0.0, h) for b in (-h, 0.0, h)])
    for _ in range(10):
        e1, e2 = _tangent(p)
        q = p[:, None, :] + steps[None, :, :1] * e1[:, None] + steps[None, :, 1:] * e2[:, None]
        v = (_sh(ell, q / np.linalg.norm(q, axis=-1, keepdims=True)) @ coeffs).reshape(-1, 3, 3)
        g = np.stack([v[:, 2, 1] - v[:, 0, 1], v[:, 1, 2] - v[:, 1, 0]], -1) / (2 * h)
        haa = (v[:, 2, 1] - 2 * v[:, 1, 1] + v[:, 0, 1]) / h**2
        hbb = (v[:, 1, 2] - 2 * v[:, 1, 1] + v[:, 1, 0]) / h**2
        hab = (v[:, 2, 2] - v[:, 2, 0] - v[:, 0, 2] + v[:, 0, 0]) / (4 * h**2)
        hess = np.stack([np.stack([haa, hab], -1), np.stack([hab, hbb], -1)], -2)
        det = haa * hbb - hab**2
        ok = np.abs(det) > 1e-12 * (np.abs(hess).reshape(-1, 4).max(1) ** 2 + 1e-300)
        step = np.zeros_like(g)
        step[ok] = -np.linalg.solve(hess[ok], g[ok][..., None])[..., 0]
        step *= np.minimum(1.0, 0.05 / (np.linalg.norm(step, axis=1, keepdims=True) + 1e-300))
        p = p + step[:, :1] * e1 + step[:, 1:] * e2
        p /= np.linalg.norm(p, axis=1, keepdims=True)
    eig = np.abs(np.linalg.eigvalsh(hess))
    isolated = (eig[:, 0] > 1e-3 * eig[:, 1]) & (np.linalg.norm(g, axis=1) < 1e-6 * (np.abs(f).max() + 1e-300))
    return list(p[isolated])


def _dedupe(directions: list[np.ndarray], limit: int, cos_tol: float = 1.0 - 2e-8) -> list[np.ndarray]:
    out: list[np.ndarray] = []
    for d in directions:
        n = np.linalg.norm(d)
        if n < 1e-12:
            continue
        d = d / n
        if all(abs(d @ e) < cos_tol for e in out):
            out.append(d)
        if len(out) == limit:
            break
    return out


def _candidate_axes(blocks: list[tuple[o3.Irrep, np.ndarray]], lmax: int, limit: int = 48) -> list[np.ndarray]:
    first: list[np.ndarray] = []
    signals = [(ir.l, row) for ir, arr in blocks for row in arr if ir.l >= 1 and np.linalg.norm(row) > 1e-12]
    for ell, row in signals:
        if ell == 1:
            first.append(l1_to_vector(row))
    for ell, row in signals:
        if ell == 2:
            first += _by_distinctness(*np.linalg.eigh(l2_to_matrix(row)))
    # moment tensors ∫ f² r rᵀ by exact Gauss-Legendre × uniform-φ quadrature
    x, w = np.polynomial.legendre.leggauss(lmax + 2)
    phi = 2 * np.pi * np.arange(2 * lmax + 4) / (2 * lmax + 4)
    s = np.sqrt(1 - x**2)
    r = np.stack([s[:, None] * np.cos(phi), s[:, None] * np.sin(phi), x[:, None] + 0 * phi], -1).reshape(-1, 3)
    w = np.repeat(w, len(phi))
    moments = [np.einsum("n,n,ni,nj->ij", w, (_sh(ell, r) @ row) ** 2, r, r) / (row @ row) for ell, row in signals]
    for m in [sum(moments)] + moments if moments else []:
        first += _by_distinctness(*np.linalg.eigh(m))
    for ell, row in signals:
        if ell >= 2:
            first += _extrema(ell, row)
    base = _dedupe(first, 14)
    combos = [f(a, b) for i, a in enumerate(base) for b in base[:i] for f in (np.add, np.subtract, np.cross)]
    combos = [c for c in combos if np.linalg.norm(c) > 0.1]
    return _dedupe(first + list(np.eye(3)[[2, 0, 1]]) + combos, limit)


def _perpendicular(n: np.ndarray) -> np.ndarray:
    e = np.eye(3)[int(np.argmin(np.abs(n)))]
    x = e - (e @ n) * n
    return x / np.linalg.norm(x)


def _frame(z: np.ndarray, x: np.ndarray) -> np.ndarray:
    return np.stack([x, np.cross(z, x), z], axis=1)


# --------------------------------------------------------------------------------------- the search


class _Residual:
    """Relative residuals max_b ‖D_b(g)θ_b − θ_b‖ / scale of many operations at once."""

    def __init__(self, blocks: list[tuple[o3.Irrep, np.ndarray]], tol: float, atol: float) -> None:
        self.blocks = [(ir, arr) for ir, arr in blocks if not (ir.l == 0 and ir.p == 1) and arr.size]
        norm = math.sqrt(sum(float((arr**2).sum()) for _, arr in self.blocks))
        self.scale = max(norm, atol / tol)

    def per_block(self, ops: np.ndarray) -> np.ndarray:
        ops = np.asarray(ops, dtype=np.float64)
        out = np.zeros(ops.shape[:-2] + (len(self.blocks),))
        proper: dict[int, np.ndarray] = {}  # D of Y_l, shared by both parities of l
        improper = (np.linalg.det(ops) < 0)[..., None, None]
        for b, (ir, arr) in enumerate(self.blocks):
            if ir.l not in proper:
                proper[ir.l] = wigner_d(o3.Irrep(ir.l, (-1) ** ir.l), ops)
            d = np.where(improper, float(ir.p * (-1) ** ir.l), 1.0) * proper[ir.l]
            rotated = np.einsum("...ij,mj->...mi", d, arr)
            out[..., b] = np.sqrt(((rotated - arr) ** 2).sum(axis=(-1, -2))) / self.scale
        return out

    def __call__(self, ops: np.ndarray) -> np.ndarray:
        res = self.per_block(ops)
        return res.max(-1) if res.shape[-1] else np.zeros(res.shape[:-1])


def _secondary(axes: list[np.ndarray], res: _Residual, lmax: int, tol: float) -> list[list[np.ndarray]]:
    """Per axis n: in-plane x with C2(x) or mirror(x) nearly invariant (exact scan of a trig. polynomial)."""
    n_s = 4 * lmax + 4  # the squared residual has frequencies ≤ 2l: n_s samples determine it exactly
    phi = 2 * np.pi * np.arange(n_s) / n_s
    rz = np.stack([rotation([0, 0, 1], a) for a in phi])
    frames = np.stack([_frame(n, _perpendicular(n)) for n in axes])
    local = np.stack([rz @ g @ np.swapaxes(rz, -1, -2) for g in (_C2_X, _SIGMA_X)])  # (2, n_s, 3, 3)
    ops = np.einsum("aij,ksjl,aml->aksim", frames, local, frames)
    sq = (res.per_block(ops) ** 2).sum(-1)  # (axes, 2, n_s)
    coef = np.fft.rfft(sq, axis=-1) / n_s
    k = np.arange(coef.shape[-1])
    fine = np.fft.irfft(coef, n=2048, axis=-1) * 2048
    found: list[list[np.ndarray]] = []
    for a in range(len(axes)):
        xs: list[float] = []
        for kind in range(2):
            s = fine[a, kind]
            is_min = (s <= np.roll(s, 1)) & (s < np.roll(s, -1)) & (s <= 4 * tol**2 * len(res.blocks))
            for t in 2 * np.pi * np.flatnonzero(is_min) / 2048:
                for _ in range(4):  # Newton on S(t) = Σ_k Re(c_k e^{ikt}) (weights 2 except k=0)
                    e = coef[a, kind] * np.exp(1j * k * t) * np.where(k == 0, 1.0, 2.0)
                    d1, d2 = np.real(1j * k * e).sum(), np.real(-(k**2) * e).sum()
                    t = t - d1 / d2 if d2 > 0 else t
                t %= np.pi
                if all(min(abs(t - u), np.pi - abs(t - u)) > 1e-6 for u in xs):
                    xs.append(t)
        found.append([frames[a] @ np.array([math.cos(t), math.sin(t), 0.0]) for t in xs])
    return found


def _normalise_axis(n: np.ndarray) -> np.ndarray:
    n = n / np.linalg.norm(n)
    return -n if n[int(np.argmax(np.abs(n) - 1e-9 * np.arange(3)))] < 0 else n


def stabilizer(theta: Mapping[str, Any], tol: float = 1e-2, atol: float = 1e-6) -> StabilizerResult:
    """The point group {g ∈ O(3) : D(g)θ = θ} of relaxed weights θ, in any orientation.

    Args:
        theta: irrep string -> array (multiplicity, 2l+1) or (2l+1,), numpy or torch, e3nn's basis.
        tol: relative tolerance: g is kept if ‖D_b(g)θ_b − θ_b‖ ≤ max(tol·‖θ_sb‖, atol) for all blocks b.
        atol: absolute floor; symmetry breaking below it is ignored.

    Returns:
        A :class:`StabilizerResult` (schoenflies, hermann_mauguin, order, axis, operations, frame, residual).

    >>> stabilizer({"0e": [1.0], "1o": [0.0, 0.0, 0.3]}).schoenflies
    'Cinfv'
    """
    if not (isinstance(tol, (int, float)) and 0 < tol < 1 and math.isfinite(atol) and atol >= 0):
        raise InputError(f"tol must be in (0, 1) and atol ≥ 0, got tol={tol!r}, atol={atol!r}")
    blocks = _parse(theta)
    res = _Residual(blocks, tol, atol)
    lmax = max([ir.l for ir, _ in res.blocks], default=0)
    alpha = 2 * np.pi / (lmax + 1)  # invariance under C_(lmax+1) about n  <=>  invariance under C∞ about n

    def result(name: str, ops: list[np.ndarray], axis: np.ndarray | None, frame: np.ndarray | None = None,
               order: int | None = None, hm: str | None = None) -> StabilizerResult:
        residual = float(res(np.stack(ops)).max())
        axis = None if axis is None else _normalise_axis(axis)
        return StabilizerResult(name, hm or INFINITE[name], order, axis, ops, frame, residual, tol)

    spheres = [rotation(e, alpha) for e in np.eye(3)] + [rotation([1.0, 2.0, 3.0], 0.7)]
    if np.all(res(np.stack(spheres)) <= tol):
        if res(-np.eye(3)[None])[0] <= tol:
            return result("O(3)", spheres + [-np.eye(3)], None)
        return result("SO(3)", spheres, None)

    axes = _candidate_axes(res.blocks, lmax)
    best: tuple[int, str, list[np.ndarray], np.ndarray] | None = None
    samples = []
    for n in axes:
        x = _perpendicular(n)
        ops = [rotation(n, a) for a in (alpha, 0.7, 1.9, 2.3)]
        extra = [np.eye(3) - 2 * np.outer(x, x), -np.eye(3), 2 * np.outer(x, x) - np.eye(3)]  # σv, i, C2'
        samples.append((n, ops, extra))
    passes = res(np.stack([ops + extra for _, ops, extra in samples])) <= tol
    for (n, ops, extra), ok in zip(samples, passes):
        if not ok[:4].all():
            continue
        mirror, inversion, c2 = ok[4:]
        rank, name, keep = ((5, "Dinfh", extra) if mirror and inversion else (4, "Cinfv", extra[:1]) if mirror
                            else (4, "Cinfh", extra[1:2]) if inversion else (4, "Dinf", extra[2:]) if c2
                            else (3, "Cinf", []))
        if best is None or rank > best[0]:
            best = (rank, name, ops + keep, n)
    if best is not None:
        return result(best[1], best[2], best[3], _frame(best[3], _perpendicular(best[3])))

    frames = []
    for n, xs in zip(axes, _secondary(axes, res, lmax, tol)):
        frames += [_frame(n, x) for x in [_perpendicular(n)] + xs]
    frames = np.stack(frames)
    passed = res(np.einsum("fij,ljk,fmk->flim", frames, LIBRARY, frames)) <= tol  # (frames, library)
    choice = min(((next(r for r, gi in enumerate(_RANKED) if passed[f, list(POINT_GROUPS[gi].indices)].all()), f)
                  for f in range(len(frames))))
    group, frame = POINT_GROUPS[_RANKED[choice[0]]], frames[choice[1]]
    ops = [frame @ g @ frame.T for g in group.operations]
    axis = frame[:, 2] if group.family == "axial" else None
    return result(group.schoenflies, ops, axis, frame, group.order, group.hermann_mauguin)


# -------------------------------------------------------------------------------------------- plotting


def plot_theta(theta_by_layer_or_theta: Mapping[Any, Any], path: str | Path) -> Path:
    """Write a PNG: norms of every irrep block (grouped per layer) and the l=1, l=2 spherical signals.

    Accepts one θ dict or a dict ``layer -> θ dict``. The maps are equirectangular plots of
    ``f(r̂) = Σ_m θ_m Y_lm(r̂)`` over latitude × longitude (e3nn spherical harmonics, integral normalisation) of the first
    multiplicity row of every l=1 and l=2 block.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    values = list(theta_by_layer_or_theta.values()) if isinstance(theta_by_layer_or_theta, Mapping) else []
    layers = (dict(theta_by_layer_or_theta) if values and all(isinstance(v, Mapping) for v in values)
              else {"θ": theta_by_layer_or_theta})
    parsed = {str(name): _parse(t) for name, t in layers.items()}
    irreps = sorted({ir for blocks in parsed.values() for ir, _ in blocks}, key=lambda ir: (ir.l, -ir.p))
    maps = [(name, ir, arr[0]) for name, blocks in parsed.items() for ir, arr in blocks if ir.l in (1, 2)][:12]
    ncol = 4
    nrow = 1 + math.ceil(len(maps) / ncol)
    fig = Figure(figsize=(3.2 * ncol, 2.6 * nrow), dpi=80)
    FigureCanvasAgg(fig)
    bar = fig.add_subplot(nrow, 1, 1)
    width = 0.8 / len(parsed)
    for i, (name, blocks) in enumerate(parsed.items()):
        norms = dict((ir, float(np.linalg.norm(arr))) for ir, arr in blocks)
        bar.bar(np.arange(len(irreps)) + i * width, [norms.get(ir, 0.0) for ir in irreps], width, label=name)
    bar.set_xticks(np.arange(len(irreps)) + 0.4 - width / 2, [str(ir) for ir in irreps])
    bar.set_yscale("symlog", linthresh=1e-4)
    bar.set_ylabel("‖θ block‖")
    bar.legend(fontsize="small")
    lat, lon = np.linspace(np.pi / 2, -np.pi / 2, 61), np.linspace(-np.pi, np.pi, 121)
    grid = np.stack(np.broadcast_arrays(np.cos(lat)[:, None] * np.cos(lon), np.cos(lat)[:, None] * np.sin(lon),
                                        np.sin(lat)[:, None]), axis=-1)
    for k, (name, ir, row) in enumerate(maps):
        ax = fig.add_subplot(nrow, ncol, ncol + k + 1)
        f = _sh(ir.l, grid) @ row
        vmax = float(np.abs(f).max()) or 1.0
        im = ax.imshow(f, extent=(-180, 180, -90, 90), cmap="RdBu_r", vmin=-vmax, vmax=vmax, aspect="auto")
        ax.set_title(f"{name}: {ir}", fontsize="small")
        ax.set_xlabel("longitude φ (°)", fontsize="x-small")
        ax.set_ylabel("latitude (°)", fontsize="x-small")
        fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    return path
