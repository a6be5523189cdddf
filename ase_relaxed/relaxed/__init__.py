"""Reading relaxed (symmetry-breaking) weights back, Hofgard et al. (arXiv:2407.20471).

The weights θ themselves live in :mod:`ase_relaxed.nn.relaxed_filter` (a_ij = TP(θ, Y(r̂_ij)));
:mod:`.stabilizer` finds which point group a trained θ keeps, :mod:`.report` summarises every layer,
:mod:`.tetragonal` measures the cell distortion (cube → cuboid) a broken model produces.
"""

from .report import SymmetryReport, symmetry_breaking_report, tolerance_scan
from .stabilizer import StabilizerResult, plot_theta, stabilizer

__all__ = [
    "StabilizerResult", "SymmetryReport", "plot_theta", "stabilizer", "symmetry_breaking_report", "tolerance_scan",
]
