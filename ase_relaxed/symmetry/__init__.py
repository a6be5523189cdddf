"""Nanotube line groups and helical-symmetry phonons (Sharma, Kumar & Suryanarayana, arXiv:2408.07554).

>>> from ase_relaxed.symmetry import line_group
>>> line_group(10, 0).cyclic_order
10
"""

from .force_constants import HelicalForceConstants, acoustic_sum_rule_violation, apply_acoustic_sum_rule
from .helical_phonons import TO_CM, HelicalPhonons, helical_phonons, relax_line_group, segment_cells
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
    "TO_CM", "DetectedOperations", "HelicalForceConstants", "HelicalPhonons", "LineGroup",
    "acoustic_sum_rule_violation", "apply_acoustic_sum_rule", "atoms_per_cell", "build_from_domain",
    "cyclic_order", "detect_operations", "helical_phonons", "line_group", "relax_line_group", "segment_cells",
]
