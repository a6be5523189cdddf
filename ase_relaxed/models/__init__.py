"""Model builders, the force/stress wrapper and model files."""

from __future__ import annotations

import torch

from .config import ModelConfig
from .energy import EnergyModel
from .io import load_model, read_model_file, save_model
from .output import ForceStressOutput


def build_model(config: ModelConfig) -> ForceStressOutput:
    """Build the equivariant potential for ``config`` (weights seeded by ``config.seed``).

    >>> model = build_model(ModelConfig(species=["C"], channels=4, num_layers=1))
    >>> model.dtype
    torch.float64
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = ForceStressOutput(EnergyModel(config))
    return model.to(getattr(torch, config.dtype)).eval()


__all__ = [
    "EnergyModel", "ForceStressOutput", "ModelConfig", "build_model", "load_model", "read_model_file", "save_model",
]
