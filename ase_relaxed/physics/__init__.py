"""Physics-informed training objectives (weak supervision without extra labels)."""

from .losses import (
    DISTRIBUTIONS,
    consistency_mse,
    displace,
    first_order_prediction,
    model_energy_and_forces,
    pisc_loss,
    pitc_loss,
    sample_displacements,
    weak_supervision_losses,
)

__all__ = [
    "DISTRIBUTIONS",
    "consistency_mse",
    "displace",
    "first_order_prediction",
    "model_energy_and_forces",
    "pisc_loss",
    "pitc_loss",
    "sample_displacements",
    "weak_supervision_losses",
]
