"""Model files: weights as safetensors, configuration and metadata as JSON.

A model file is one ``.safetensors`` file.  Its header metadata holds
``ase_relaxed.config`` (the :class:`ModelConfig` as JSON) and
``ase_relaxed.metadata`` (species, cutoff, units, package version, training
information).  safetensors stores raw tensor bytes only, so loading a file can
never execute code from it, and the round trip is bit-exact.

>>> import tempfile, os
>>> from ase_relaxed import ModelConfig, build_model
>>> model = build_model(ModelConfig(species=["C"], channels=4, num_layers=1))
>>> path = os.path.join(tempfile.mkdtemp(), "m.safetensors")
>>> save_model(model, path)
>>> load_model(path).config == model.config
True
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch

from .._version import __version__
from ..errors import InputError, ModelFileError
from .domain import TENSOR_PREFIX, Domain
from .registry import kind_of_config, model_kind

FORMAT = "ase_relaxed-model-v1"
UNITS = {"energy": "eV", "length": "Å", "forces": "eV/Å", "stress": "eV/Å^3"}


def save_model(model: torch.nn.Module, path: str | os.PathLike, training: dict | None = None) -> None:
    """Write ``model`` (from :func:`build_model`) to ``path``; ``training`` says how it was trained."""
    from safetensors.torch import save_file

    config = model.config
    metadata = {
        "format": FORMAT,
        "species": config.species,
        "cutoff": config.cutoff,
        "units": UNITS,
        "package_version": __version__,
        "training": training if training is not None else getattr(model, "training_info", {"method": "untrained"}),
    }
    tensors = {name: t.detach().cpu().contiguous() for name, t in model.state_dict().items()}
    domain = getattr(model, "domain", None)
    if domain is not None:  # the training domain (models/domain.py) travels with the weights
        tensors.update({k: v.cpu() for k, v in domain.tensors().items()})
        metadata["domain"] = domain.metadata()
    header = {
        "format": FORMAT,
        "ase_relaxed.config": json.dumps(config.to_dict()),
        "ase_relaxed.metadata": json.dumps(metadata),
    }
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata=header)


def read_safetensors(path: str | os.PathLike, what: str) -> tuple[dict[str, str], dict[str, torch.Tensor]]:
    """``(header metadata, tensors)`` of a safetensors file; a missing or unreadable ``what`` is ModelFileError.

    Only raw tensor bytes and a JSON header are read: nothing in the file is ever executed or unpickled.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file, safe_open

    if not Path(path).is_file():
        raise ModelFileError(f"{what} {str(path)!r} does not exist")
    try:
        with safe_open(str(path), framework="pt") as handle:
            header = handle.metadata() or {}
        return header, load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        raise ModelFileError(f"{str(path)!r} is not a readable {what} (corrupt, truncated, or another format "
                             f"such as a pickle, which is never loaded): {error}") from None


def read_model_file(path: str | os.PathLike) -> tuple[Any, dict, dict[str, torch.Tensor]]:
    """Return ``(config, metadata, state_dict)`` of a model file, validating it."""
    path = Path(path)
    header, tensors = read_safetensors(path, "ase_relaxed model file")
    bad = [name for name, t in tensors.items() if t.is_floating_point() and not bool(torch.isfinite(t).all())]
    if bad:
        raise ModelFileError(f"{str(path)!r} holds NaN or infinite weights in {len(bad)} tensor(s) "
                             f"({', '.join(sorted(bad)[:5])}{', ...' if len(bad) > 5 else ''}); the file is damaged")
    if header.get("format") != FORMAT:
        raise ModelFileError(f"{str(path)!r} is a safetensors file but not an ase_relaxed model ({FORMAT})")
    try:
        values = json.loads(header["ase_relaxed.config"])
        config = model_kind(values).config_from_dict(values)
        metadata = json.loads(header["ase_relaxed.metadata"])
    except (KeyError, json.JSONDecodeError, InputError, TypeError) as error:
        raise ModelFileError(f"{str(path)!r} has a damaged model configuration: {error}") from None
    return config, metadata, tensors


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 digest of the bytes of ``path`` (what ``sha256sum`` prints)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_model(path: str | os.PathLike) -> torch.nn.Module:
    """Rebuild the model stored in ``path`` (weights exactly as saved), in eval mode.

    The model remembers where it came from: ``model.source_file`` (the path) and ``model.sha256``
    (:func:`file_sha256` of the file), which ``RelaxedCalculator.todict()`` reports; ``model.domain`` is its
    training domain (:class:`~ase_relaxed.models.domain.Domain`) when the file holds one, else None.
    """
    config, metadata, tensors = read_model_file(path)
    model = kind_of_config(config).build(config)
    domain_tensors = {k: tensors.pop(k) for k in [k for k in tensors if k.startswith(TENSOR_PREFIX)]}
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as error:
        raise ModelFileError(f"weights in {str(path)!r} do not match its configuration: {error}") from None
    model.training_info = metadata.get("training", {})
    model.domain = None
    if domain_tensors:
        try:
            model.domain = Domain.from_file_parts(domain_tensors, metadata["domain"])
        except (KeyError, TypeError, ValueError) as error:
            raise ModelFileError(f"{str(path)!r} has a damaged training-domain record: {error!r}") from None
    model.metadata = metadata
    model.source_file = str(path)
    model.sha256 = file_sha256(path)
    return model.eval()
