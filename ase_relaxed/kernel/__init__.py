"""SOAP + polynomial-kernel force field fitted by Bayesian linear regression.

Sharma, Kumar, Suryanarayana, arXiv:2408.07554 (SPARC's MLFF); SOAP: Bartók, Kondor, Csányi,
PRB 87, 184115 (2013).  The model sits behind the same
:class:`~ase_relaxed.models.output.ForceStressOutput` wrapper and
:class:`~ase_relaxed.RelaxedCalculator` as the graph networks.
"""

from __future__ import annotations

from .fit import (
    BLRResult,
    bayesian_linear_regression,
    fit_kernel_model,
    predict_with_uncertainty,
)
from .io import is_kernel_config, load_kernel_model
from .model import MODEL_KIND, KernelConfig, KernelEnergyModel, build_kernel_model
from .soap import SOAPDescriptor
from .sparsify import cur_selection, farthest_point_sampling, select_representatives

__all__ = [
    "BLRResult", "KernelConfig", "KernelEnergyModel", "MODEL_KIND", "SOAPDescriptor", "bayesian_linear_regression",
    "build_kernel_model", "farthest_point_sampling", "fit_kernel_model", "is_kernel_config", "load_kernel_model",
    "cur_selection", "predict_with_uncertainty", "select_representatives",
]
