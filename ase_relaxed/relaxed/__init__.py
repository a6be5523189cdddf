"""Relaxed (symmetry-breaking) equivariance, Hofgard et al. (arXiv:2407.20471).

:mod:`.filter` holds the learnable weights θ of every layer (a_ij = TP(θ, Y(r̂_ij))),
:mod:`.stabilizer` reads back which point group a trained θ keeps.
"""

from .filter import RelaxedEdgeFilter, transform_theta
from .report import SymmetryReport, symmetry_breaking_report, tolerance_scan
from .stabilizer import StabilizerResult, plot_theta, stabilizer

__all__ = [
    "RelaxedEdgeFilter", "StabilizerResult", "SymmetryReport", "plot_theta", "stabilizer", "symmetry_breaking_report",
    "tolerance_scan",
    "transform_theta",
]
