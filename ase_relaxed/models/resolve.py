"""From what a user passes (a name, a file, a module; "auto"; "float32") to a model, a device and a dtype.

>>> resolve_dtype("float32"), resolve_device("cpu")
(torch.float32, device(type='cpu'))
>>> type(resolve_model("demo-carbon-random")).__name__
'ForceStressOutput'
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ..errors import DeviceError, InputError
from ..pretrained import pretrained_path
from .energy import EnergyModel
from .io import load_model
from .output import ForceStressOutput

#: the dtype of ``RelaxedCalculator(dtype=None)``, whatever the model file stores (benchmarks/bench_dtype.py)
DEFAULT_DTYPE = torch.float64


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` → CUDA when available, else CPU; a clear error for unavailable devices."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(device)
    except RuntimeError as error:
        raise DeviceError(f"unknown device {device!r}: {error}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DeviceError(f"device {str(device)!r} was asked for but CUDA is not available here; use device='cpu'")
    if device.type not in ("cpu", "cuda"):
        raise DeviceError(f"device {str(device)!r} is not supported; use 'auto', 'cpu' or 'cuda'")
    return device


def model_file(model: torch.nn.Module | str | os.PathLike) -> Path | None:
    """The file a model argument names: a path as given, the file of a shipped name, None for a module."""
    if isinstance(model, torch.nn.Module):
        return None
    text = str(model)
    if Path(text).suffix or os.sep in text or Path(text).exists():
        return Path(text)
    return pretrained_path(text)


def resolve_model(model: torch.nn.Module | str | os.PathLike) -> ForceStressOutput:
    """A module, a model-file path, or the name of a shipped model → a ForceStressOutput."""
    if isinstance(model, ForceStressOutput):
        return model
    if isinstance(model, EnergyModel):
        return ForceStressOutput(model)
    if isinstance(model, torch.nn.Module):
        raise InputError(f"expected an ase_relaxed model, got {type(model).__name__}")
    return load_model(model_file(model))


def resolve_dtype(dtype: str | torch.dtype | None) -> torch.dtype:
    """``None`` → :data:`DEFAULT_DTYPE` (float64); "float32"/"float64" or a torch dtype → that dtype."""
    if dtype is None:
        return DEFAULT_DTYPE
    resolved = {"float32": torch.float32, "float64": torch.float64}.get(dtype, dtype)
    if resolved not in (torch.float32, torch.float64):
        raise InputError(f"dtype must be float32 or float64 (or None for {DEFAULT_DTYPE}), got {dtype!r}")
    return resolved
