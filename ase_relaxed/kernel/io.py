"""Model files for kernel models: the same safetensors + JSON format as :mod:`ase_relaxed.models.io`.

Saving needs nothing new: :func:`ase_relaxed.models.io.save_model` writes ``config.to_dict()``
(which for a kernel model carries ``model_kind = "kernel-soap"``) and the state dict (weights,
representative environments, posterior covariance, precisions).  This package registers its kind
with :mod:`ase_relaxed.models.registry` (below), so :func:`ase_relaxed.load_model` and
``RelaxedCalculator("file.safetensors")`` rebuild kernel models too.  No code is ever executed
from a file: the tensors are raw safetensors bytes and the config is plain JSON.
"""

from __future__ import annotations

import os

from ..errors import ModelFileError
from ..models.io import load_model, read_model_file
from ..models.output import ForceStressOutput
from ..models.registry import register_model_kind
from .model import MODEL_KIND, KernelConfig, build_kernel_model

register_model_kind(MODEL_KIND, KernelConfig, build_kernel_model)


def is_kernel_config(values: dict) -> bool:
    """True when a config mapping (from a model file) describes a kernel model."""
    return isinstance(values, dict) and values.get("model_kind") == MODEL_KIND


def load_kernel_model(path: str | os.PathLike) -> ForceStressOutput:
    """Rebuild a kernel model saved by ``save_model`` (weights exactly as saved), in eval mode.

    :func:`ase_relaxed.load_model` dispatches on ``model_kind`` and gives the same model; this
    function also checks that the file really holds a kernel model.
    """
    config, _, _ = read_model_file(path)
    if not isinstance(config, KernelConfig):
        raise ModelFileError(f"{str(path)!r} holds a {type(config).__name__} model, not a {MODEL_KIND!r} one")
    return load_model(path)
