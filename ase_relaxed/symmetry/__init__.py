"""Nanotube line groups: screw and cyclic operations, the fundamental domain, detection.

A bottom layer: the phonon package (:mod:`ase_relaxed.phonons.helical`) and the kernel model build on it.
Sharma, Kumar & Suryanarayana, arXiv:2408.07554, Sec. 2.

>>> from ase_relaxed.symmetry import line_group
>>> line_group(10, 0).cyclic_order
10
"""

from .line_groups import (
    DetectedOperations,
    LineGroup,
    atoms_per_cell,
    build_from_domain,
    cyclic_order,
    detect_operations,
    line_group,
)

__all__ = [
    "DetectedOperations", "LineGroup", "atoms_per_cell", "build_from_domain", "cyclic_order", "detect_operations",
    "line_group",
]
