"""Force constants of a tube in the helical (ν, s) labelling, their sum rules, and D(η, ν).

Only the two fundamental-domain atoms are displaced (Sharma, Kumar & Suryanarayana, arXiv:2408.07554,
Sec. 2.3). Every other block follows from the line group: with g = (ν, s) and R_g its rotation,

    Φ(a h, b g h) = R_h Φ(a 0, b g) R_hᵀ,                                   (covariance)

so the blocks F_ab(g) = Φ(a 0, b g) are all there is. The helical Bloch ansatz (their Eq. for the
phonon modes) u_{b,g} = R_g ε_b exp(i(2π μ ν/N + η s)) turns the equations of motion into the 6×6
Hermitian problem

    ω² ε_a = Σ_b D_ab(η, μ) ε_b,   D_ab(η, μ) = Σ_g F_ab(g) R_g exp(i(2π μ ν_g/N + η s_g)) / √(m_a m_b),

with cyclic number μ = 0…N−1 and helical number η ∈ [−π, π). Hermiticity of D rests on
F_ab(g) = R_g F_ba(g⁻¹)ᵀ R_gᵀ, which :func:`symmetrize` imposes exactly.

>>> from ase_relaxed.symmetry.line_groups import line_group
>>> fc = HelicalForceConstants.zeros(line_group(5, 5), n_cells=2)
>>> fc.dynamical_matrix(0.0, 0).shape
(6, 6)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
from numpy.typing import ArrayLike

from ..symmetry.line_groups import LineGroup, rotation_z

__all__ = ["HelicalForceConstants", "symmetrize", "apply_acoustic_sum_rule", "acoustic_sum_rule_violation"]


@dataclass(frozen=True, eq=False)
class HelicalForceConstants:
    """Blocks F_k = Φ(a_k 0, b_k g_k) (eV/Å²), g_k = (ν_k, s_k), for every pair within half a segment.

    ``a, b, nu, s``: integer arrays (n_blocks,); ``blocks``: (n_blocks, 3, 3); ``masses``: (2,) amu.
    """

    line_group: LineGroup
    a: np.ndarray
    b: np.ndarray
    nu: np.ndarray
    s: np.ndarray
    blocks: np.ndarray
    masses: np.ndarray

    @classmethod
    def zeros(cls, lg: LineGroup, n_cells: int, masses: ArrayLike = (12.011, 12.011)) -> HelicalForceConstants:
        """Zero blocks for the minimum images of the atoms of an ``n_cells`` segment (see :func:`image_table`)."""
        table = image_table(lg, n_cells)
        return cls(lg, table["a"], table["b"], table["nu"], table["s"], np.zeros((len(table["a"]), 3, 3)),
                   np.asarray(masses, dtype=float))

    @property
    def rotations(self) -> np.ndarray:
        """R_{g_k} for every block, (n_blocks, 3, 3)."""
        return rotation_z(self.line_group.rotation_angle(self.nu, self.s))

    def with_blocks(self, blocks: np.ndarray) -> HelicalForceConstants:
        return replace(self, blocks=np.asarray(blocks, dtype=float))

    def partners(self) -> np.ndarray:
        """Index of the block (b, a, g⁻¹) for each block (a, b, g)."""
        big_n = self.line_group.cyclic_order
        index = {key: k for k, key in enumerate(zip(self.a, self.b, self.nu % big_n, self.s))}
        try:
            return np.array([index[(b, a, (-nu) % big_n, -s)] for a, b, nu, s in
                             zip(self.a, self.b, self.nu, self.s)])
        except KeyError as missing:
            raise RuntimeError(f"image table is not closed under inversion: {missing}") from None

    @cached_property
    def _cyclic_sums(self) -> tuple[np.ndarray, np.ndarray]:
        """s values and M_s(μ) = Σ_ν F(ν, s) R_{ν,s} e^{2πiμν/N} / √(m_a m_b), shape (N, n_s, 6, 6)."""
        big_n = self.line_group.cyclic_order
        s_values, s_index = np.unique(self.s, return_inverse=True)
        weighted = self.blocks @ self.rotations  # F_k R_k
        out = np.zeros((big_n, len(s_values), 2, 3, 2, 3), dtype=complex)
        for mu in range(big_n):
            phased = np.exp(2j * np.pi * mu * self.nu / big_n)[:, None, None] * weighted
            for a in range(2):
                for b in range(2):
                    sel = (self.a == a) & (self.b == b)
                    acc = np.zeros((len(s_values), 3, 3), dtype=complex)
                    np.add.at(acc, s_index[sel], phased[sel])
                    out[mu, :, a, :, b, :] = acc / np.sqrt(self.masses[a] * self.masses[b])
        return s_values, out.reshape(big_n, len(s_values), 6, 6)

    def dynamical_matrix(self, eta: ArrayLike, mu: ArrayLike) -> np.ndarray:
        """D(η, μ) (…, 6, 6) in eV/(Å² amu) for scalar or broadcastable arrays ``eta`` (radians) and ``mu``:
        D = Σ_s e^{iηs} M_s(μ) with the cyclic sums M_s(μ) computed once."""
        eta, mu = np.broadcast_arrays(np.asarray(eta, dtype=float), np.asarray(mu))
        s_values, sums = self._cyclic_sums
        flat_eta, flat_mu = eta.ravel(), np.mod(mu.ravel(), self.line_group.cyclic_order)
        out = np.zeros((flat_eta.size, 36), dtype=complex)
        for value in np.unique(flat_mu):
            sel = flat_mu == value
            out[sel] = np.exp(1j * np.multiply.outer(flat_eta[sel], s_values)) @ sums[value].reshape(-1, 36)
        return out.reshape(eta.shape + (6, 6))


def image_table(lg: LineGroup, n_cells: int) -> dict[str, np.ndarray]:
    """Map every atom of an ``n_cells`` segment, seen from domain atom a, to its minimum image.

    Segment atom (b, ν, s) stands for all (b, ν − k ν_T, s − k q), k ∈ ℤ (translations by k·n_cells·T);
    the image kept has its axial offset z_b + sτ − z_a in [−L/2, L/2] (L = n_cells T). Atoms exactly at
    ±L/2 keep both images with weight ½ each, so the table stays closed under g → g⁻¹. Returns arrays
    a, b, nu, s, weight and ``atom`` (index of the segment atom, in :meth:`LineGroup.labels` order).
    """
    labels = lg.labels(n_cells)
    nu_t, q = lg.translation_element
    length = n_cells * lg.period
    rows = []
    for a in range(2):
        dz = lg.domain[labels[:, 0], 2] + labels[:, 2] * lg.screw_translation - lg.domain[a, 2]
        shift = np.round(dz / length)
        for k in (-1, 0, 1):  # candidate images around the nearest one
            kk = (shift + k) * n_cells
            off = dz - (shift + k) * length
            keep = np.abs(off) <= length / 2 + 1e-6
            tie = np.abs(np.abs(off) - length / 2) <= 1e-6
            weight = np.where(tie, 0.5, 1.0)
            for atom in np.flatnonzero(keep):
                rows.append((a, labels[atom, 0], (labels[atom, 1] - kk[atom] * nu_t) % lg.cyclic_order,
                             labels[atom, 2] - kk[atom] * q, weight[atom], atom))
    table = np.array(rows, dtype=float)
    keys = ("a", "b", "nu", "s", "weight", "atom")
    return {key: (table[:, i] if key == "weight" else table[:, i].astype(int)) for i, key in enumerate(keys)}


def symmetrize(fc: HelicalForceConstants) -> HelicalForceConstants:
    """Orthogonal projection onto F_ab(g) = R_g F_ba(g⁻¹)ᵀ R_gᵀ (the symmetry of the Hessian)."""
    rot, p = fc.rotations, fc.partners()
    return fc.with_blocks(_sym(fc.blocks, rot, p))


def _sym(x: np.ndarray, rot: np.ndarray, p: np.ndarray) -> np.ndarray:
    return 0.5 * (x + rot @ np.swapaxes(x[p], -1, -2) @ np.swapaxes(rot, -1, -2))


def _constraints(fc: HelicalForceConstants) -> np.ndarray:
    """The 24 linear sum rules as arrays shaped like the blocks: for each domain atom a,
    Σ_{b,g} F_ab(g) = 0 (9 rows, rigid translations) and Σ_{b,g} F_ab(g) R_g (ẑ × x_b) = 0
    (3 rows, rigid rotation about the axis, valid at a stationary point)."""
    x = fc.line_group.domain
    twist = np.stack([-x[:, 1], x[:, 0], np.zeros(2)], axis=1)  # ẑ × x_b
    v = np.einsum("kij,kj->ki", fc.rotations, twist[fc.b])  # R_g (ẑ × x_b)
    rows = []
    for a in range(2):
        sel = (fc.a == a)[:, None, None]
        for i in range(3):
            for j in range(3):
                c = np.zeros_like(fc.blocks)
                c[:, i, j] = 1.0
                rows.append(c * sel)
        for i in range(3):
            c = np.zeros_like(fc.blocks)
            c[:, i, :] = v
            rows.append(c * sel)
    return np.array(rows)


def acoustic_sum_rule_violation(fc: HelicalForceConstants) -> float:
    """Largest residual of the translational and twist sum rules (eV/Å² and eV/Å respectively)."""
    c = _constraints(fc)
    return float(np.abs(np.einsum("rkij,kij->r", c, fc.blocks)).max())


def apply_acoustic_sum_rule(fc: HelicalForceConstants) -> HelicalForceConstants:
    """Smallest change of the blocks (Frobenius norm) that makes them Hessian-symmetric and obey the
    translational and twist sum rules, so that four modes vanish at k = 0: three translations
    (at (η, μ) = (0, 0) and (∓ψ, ±1)) and the rigid twist (at (0, 0)).

    With S the symmetrizing projector and C the sum-rule rows: F ← S F − S Cᵀ λ, (C S Cᵀ) λ = C S F,
    the exact projection onto the intersection of both subspaces.
    """
    rot, p = fc.rotations, fc.partners()
    f = _sym(fc.blocks, rot, p)
    c = _constraints(fc)
    sc = np.array([_sym(row, rot, p) for row in c])
    gram = np.einsum("rkij,skij->rs", c, sc)
    lam = np.linalg.lstsq(gram, np.einsum("rkij,kij->r", c, f), rcond=1e-12)[0]
    return fc.with_blocks(f - np.einsum("r,rkij->kij", lam, sc))
