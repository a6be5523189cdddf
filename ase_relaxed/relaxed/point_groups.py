"""The 32 crystallographic point groups as 3×3 orthogonal matrices in a standard orientation.

Every group is generated from a few generators by closure (repeated multiplication until no new
element appears); nothing here is a hard-coded list of group elements.

Standard orientation (the frame in which :func:`ase_relaxed.relaxed.stabilizer` looks for a group):

* the principal axis (highest-order rotation or rotoreflection axis) is ``z``;
* for the dihedral families (``Dn``, ``Dnh``, ``Dnd``) a two-fold axis perpendicular to ``z`` is ``x``;
* for ``Cnv`` a mirror containing ``z`` has normal ``x`` (``σv = diag(-1, 1, 1)``);
* for ``Cs`` the mirror is ``z -> -z`` (``σh``), for ``C2v`` the two-fold axis is ``z``;
* for the cubic groups the cube axes are ``x, y, z`` and a three-fold axis is ``[111]``.

In this orientation every group is a subgroup of either ``Oh`` (cube frame) or ``D6h`` (hexagonal
frame), so all 32 groups together use only the operations in :data:`LIBRARY` (the union of the two).

>>> from ase_relaxed.relaxed.point_groups import POINT_GROUPS
>>> [(g.schoenflies, g.hermann_mauguin, g.order) for g in POINT_GROUPS if g.schoenflies == "D4h"]
[('D4h', '4/mmm', 16)]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["PointGroup", "POINT_GROUPS", "LIBRARY", "by_name", "closure", "rotation", "IDENTITY", "INVERSION"]


def rotation(axis: np.ndarray | list[float], angle: float) -> np.ndarray:
    """Proper rotation by ``angle`` (radians, right-handed) about ``axis`` (Rodrigues' formula)."""
    n = np.asarray(axis, dtype=np.float64)
    n = n / np.linalg.norm(n)
    k = np.array([[0.0, -n[2], n[1]], [n[2], 0.0, -n[0]], [-n[1], n[0], 0.0]])
    return np.eye(3) + np.sin(angle) * k + (1.0 - np.cos(angle)) * (k @ k)


def _key(m: np.ndarray) -> tuple[int, ...]:
    return tuple(np.round(m * 1e6).astype(np.int64).ravel().tolist())


def closure(generators: list[np.ndarray], max_order: int = 48) -> list[np.ndarray]:
    """All products of ``generators`` (a finite group), identity first, in a deterministic order."""
    elements = [np.eye(3)]
    seen = {_key(elements[0])}
    frontier = list(elements)
    while frontier:
        new = []
        for a in frontier:
            for g in generators:
                b = g @ a
                b = np.where(np.abs(b) < 1e-12, 0.0, b)
                if _key(b) not in seen:
                    seen.add(_key(b))
                    new.append(b)
        elements += new
        frontier = new
        if len(elements) > max_order:
            raise ValueError("generators do not close into a crystallographic point group")
    return elements


IDENTITY = np.eye(3)
INVERSION = -np.eye(3)
_Z = np.array([0.0, 0.0, 1.0])
_C = {n: rotation(_Z, 2.0 * np.pi / n) for n in (2, 3, 4, 6)}  # proper n-fold rotations about z
_C2X = np.diag([1.0, -1.0, -1.0])  # two-fold rotation about x
_SIGMA_H = np.diag([1.0, 1.0, -1.0])  # mirror z -> -z
_SIGMA_V = np.diag([-1.0, 1.0, 1.0])  # mirror with normal x (contains z)
_S4 = _SIGMA_H @ _C[4]  # four-fold rotoreflection about z
_C3_111 = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])  # x->y->z->x, 120° about [111]


@dataclass(frozen=True)
class PointGroup:
    """One crystallographic point group in the standard orientation.

    ``principal_order`` is the order of the highest rotation axis (used to break ties between groups
    of equal order); ``family`` is ``"cubic"`` for T, Th, O, Td, Oh, ``"none"`` for C1 and Ci (no
    distinguished axis), ``"axial"`` otherwise; ``indices`` index :data:`LIBRARY`.
    """

    schoenflies: str
    hermann_mauguin: str
    order: int
    principal_order: int
    family: str
    operations: tuple[np.ndarray, ...]
    indices: tuple[int, ...] = ()


_SPECS: list[tuple[str, str, int, str, list[np.ndarray]]] = [
    ("C1", "1", 1, "none", []),
    ("Ci", "-1", 1, "none", [INVERSION]),
    ("C2", "2", 2, "axial", [_C[2]]),
    ("Cs", "m", 1, "axial", [_SIGMA_H]),
    ("C2h", "2/m", 2, "axial", [_C[2], INVERSION]),
    ("D2", "222", 2, "axial", [_C[2], _C2X]),
    ("C2v", "mm2", 2, "axial", [_C[2], _SIGMA_V]),
    ("D2h", "mmm", 2, "axial", [_C[2], _C2X, INVERSION]),
    ("C4", "4", 4, "axial", [_C[4]]),
    ("S4", "-4", 4, "axial", [_S4]),
    ("C4h", "4/m", 4, "axial", [_C[4], INVERSION]),
    ("D4", "422", 4, "axial", [_C[4], _C2X]),
    ("C4v", "4mm", 4, "axial", [_C[4], _SIGMA_V]),
    ("D2d", "-42m", 4, "axial", [_S4, _C2X]),
    ("D4h", "4/mmm", 4, "axial", [_C[4], _C2X, INVERSION]),
    ("C3", "3", 3, "axial", [_C[3]]),
    ("C3i", "-3", 3, "axial", [_C[3], INVERSION]),
    ("D3", "32", 3, "axial", [_C[3], _C2X]),
    ("C3v", "3m", 3, "axial", [_C[3], _SIGMA_V]),
    ("D3d", "-3m", 3, "axial", [_C[3], _C2X, INVERSION]),
    ("C6", "6", 6, "axial", [_C[6]]),
    ("C3h", "-6", 3, "axial", [_C[3], _SIGMA_H]),
    ("C6h", "6/m", 6, "axial", [_C[6], INVERSION]),
    ("D6", "622", 6, "axial", [_C[6], _C2X]),
    ("C6v", "6mm", 6, "axial", [_C[6], _SIGMA_V]),
    ("D3h", "-6m2", 3, "axial", [_C[3], _SIGMA_H, _C2X]),
    ("D6h", "6/mmm", 6, "axial", [_C[6], _C2X, INVERSION]),
    ("T", "23", 3, "cubic", [_C[2], _C2X, _C3_111]),
    ("Th", "m-3", 3, "cubic", [_C[2], _C2X, _C3_111, INVERSION]),
    ("O", "432", 4, "cubic", [_C[4], _C3_111]),
    ("Td", "-43m", 4, "cubic", [_S4, _C3_111]),
    ("Oh", "m-3m", 4, "cubic", [_C[4], _C3_111, INVERSION]),
]

_EXPECTED_ORDER = {"C1": 1, "Ci": 2, "C2": 2, "Cs": 2, "C2h": 4, "D2": 4, "C2v": 4, "D2h": 8, "C4": 4, "S4": 4,
                   "C4h": 8, "D4": 8, "C4v": 8, "D2d": 8, "D4h": 16, "C3": 3, "C3i": 6, "D3": 6, "C3v": 6,
                   "D3d": 12, "C6": 6, "C3h": 6, "C6h": 12, "D6": 12, "C6v": 12, "D3h": 12, "D6h": 24, "T": 12,
                   "Th": 24, "O": 24, "Td": 24, "Oh": 48}


def _build() -> tuple[list[PointGroup], np.ndarray]:
    library: list[np.ndarray] = []
    index: dict[tuple[int, ...], int] = {}
    groups = []
    for name, hm, principal, family, gens in _SPECS:
        ops = closure(gens)
        if len(ops) != _EXPECTED_ORDER[name]:  # pragma: no cover - guards the generator table
            raise AssertionError(f"{name}: closure gave {len(ops)} elements, expected {_EXPECTED_ORDER[name]}")
        idx = []
        for op in ops:
            k = _key(op)
            if k not in index:
                index[k] = len(library)
                library.append(op)
            idx.append(index[k])
        groups.append(PointGroup(name, hm, len(ops), principal, family, tuple(ops), tuple(idx)))
    return groups, np.stack(library)


POINT_GROUPS, LIBRARY = _build()
"""The 32 groups (C1 … Oh, in the order of the table above) and the union of their operations."""


def by_name(name: str) -> PointGroup:
    """The point group with Schoenflies symbol ``name`` (e.g. ``"D4h"``) or Hermann–Mauguin symbol."""
    for g in POINT_GROUPS:
        if name in (g.schoenflies, g.hermann_mauguin):
            return g
    raise KeyError(f"unknown point group {name!r}; known: {', '.join(g.schoenflies for g in POINT_GROUPS)}")
