"""The e3nn graph network as a model kind: :func:`build_model` and its registration.

>>> model = build_model(ModelConfig(species=["C"], channels=4, num_layers=1))
>>> model.dtype
torch.float64
"""

from __future__ import annotations

import torch

from .config import ModelConfig
from .energy import EnergyModel
from .output import DirectForceOutput, ForceStressOutput
from .registry import DEFAULT_KIND, register_model_kind


def build_model(config: ModelConfig) -> ForceStressOutput:
    """Build the equivariant potential for ``config`` (weights seeded by ``config.seed``): forces by
    autograd (:class:`ForceStressOutput`) or, for ``forces="direct"``, from a 1o head (:class:`DirectForceOutput`)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        wrapper = DirectForceOutput if config.forces == "direct" else ForceStressOutput
        model = wrapper(EnergyModel(config))
    return model.to(getattr(torch, config.dtype)).eval()


register_model_kind(DEFAULT_KIND, ModelConfig, build_model)
