"""Equivariant building blocks (e3nn): interaction blocks, radial bases, and the relaxed θ filter.

The relaxed filter (Hofgard et al., arXiv:2407.20471) is a building block like any other: exactly
equivariant at initialisation, breaking symmetry only as far as training moves θ. Reading θ back
(stabiliser, point groups, report) is analysis and lives in :mod:`ase_relaxed.relaxed`.
"""

from .cueq import TENSOR_PRODUCT_BACKENDS, select_tensor_product_backend
from .interaction import InteractionBlock
from .radial import BesselBasis, PolynomialEnvelope
from .relaxed_filter import RelaxedEdgeFilter, transform_theta

__all__ = ["TENSOR_PRODUCT_BACKENDS", "BesselBasis", "InteractionBlock", "PolynomialEnvelope", "RelaxedEdgeFilter",
           "select_tensor_product_backend", "transform_theta"]
