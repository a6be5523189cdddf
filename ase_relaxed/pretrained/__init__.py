"""Models shipped with ase_relaxed, loadable by name.

>>> "demo-carbon-random" in list_pretrained()
True
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import ModelFileError

_HERE = Path(__file__).parent


def _registry() -> dict[str, dict]:
    return json.loads((_HERE / "registry.json").read_text())


def list_pretrained() -> dict[str, str]:
    """Shipped model names, each with a one-line description."""
    return {name: entry["description"] for name, entry in _registry().items()}


def pretrained_path(name: str) -> Path:
    """Path of the shipped model ``name`` (a clear error for unknown names)."""
    registry = _registry()
    if name not in registry:
        raise ModelFileError(f"no shipped model named {name!r}; shipped models: {sorted(registry)}")
    return _HERE / registry[name]["file"]
