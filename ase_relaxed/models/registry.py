"""The registry of model kinds: each family registers its config class and builder here.

A model file stores its config as JSON with a ``model_kind`` entry (absent in files of the first
format, which means the e3nn graph network). Loading looks the kind up here, so the core never
names a family and a new one (direct-force, kernel, ...) plugs in by calling
:func:`register_model_kind` at import time:

>>> from ase_relaxed.models.registry import model_kind, registered_kinds
>>> len(registered_kinds()) >= 2          # the graph network and the families that ship with the package
True
>>> model_kind({}).name                   # a config without "model_kind" is the graph network
'e3nn-gnn'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import torch

from ..errors import ModelFileError

#: the kind of a stored config that names none (every file written before the registry existed)
DEFAULT_KIND = "e3nn-gnn"


@dataclass(frozen=True)
class ModelKind:
    """One model family: ``config_from_dict(values) -> config`` and ``build(config) -> model``."""

    name: str
    config_class: type
    config_from_dict: Callable[[Mapping[str, Any]], Any]
    build: Callable[[Any], torch.nn.Module]


_KINDS: dict[str, ModelKind] = {}


def register_model_kind(name: str, config_class: type, build: Callable[[Any], torch.nn.Module],
                        config_from_dict: Callable[[Mapping[str, Any]], Any] | None = None) -> ModelKind:
    """Register a family; ``config_from_dict`` defaults to ``config_class.from_dict``."""
    kind = ModelKind(name, config_class, config_from_dict or config_class.from_dict, build)
    _KINDS[name] = kind
    return kind


def registered_kinds() -> list[str]:
    """Names of every registered model kind."""
    return sorted(_KINDS)


def model_kind(values: Mapping[str, Any]) -> ModelKind:
    """The kind a stored config mapping describes (``model_kind``, default :data:`DEFAULT_KIND`)."""
    name = values.get("model_kind", DEFAULT_KIND) if isinstance(values, Mapping) else DEFAULT_KIND
    if name not in _KINDS:
        raise ModelFileError(f"unknown model kind {name!r}; this version knows {registered_kinds()}")
    return _KINDS[name]


def kind_of_config(config: Any) -> ModelKind:
    """The registered kind whose config class ``config`` is an instance of."""
    for kind in _KINDS.values():
        if isinstance(config, kind.config_class):
            return kind
    raise ModelFileError(f"{type(config).__name__} is not the config of a registered model kind {registered_kinds()}")
