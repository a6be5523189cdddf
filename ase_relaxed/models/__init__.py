"""Model builders, the force/stress wrapper, the registry of model kinds and model files."""

from __future__ import annotations

from .config import ModelConfig
from .energy import EnergyModel
from .gnn import build_model
from .io import load_model, read_model_file, save_model
from .output import DirectForceOutput, ForceStressOutput
from .registry import ModelKind, model_kind, register_model_kind, registered_kinds

__all__ = [
    "DirectForceOutput", "EnergyModel", "ForceStressOutput", "ModelConfig", "ModelKind", "build_model", "load_model",
    "model_kind",
    "read_model_file", "register_model_kind", "registered_kinds", "save_model",
]
