"""Models shipped with ase_relaxed, loadable by name.

Each entry of ``registry.json`` records the file, the reference method of its
training data, species, cutoff and the errors on held-out test data, so that
one line says what a model is good for:

>>> "demo-carbon-random" in list_pretrained()
True
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import ModelFileError

_HERE = Path(__file__).parent

#: the model every calculator and command uses when none is named
DEFAULT_MODEL = "carbon-gfn1"


def _registry() -> dict[str, dict]:
    return json.loads((_HERE / "registry.json").read_text())


def describe(entry: dict) -> str:
    """One line: reference method | species | cutoff | kind of forces, domain check | test errors (| note)."""
    parts = [entry.get("reference", "unknown reference"), "species " + ",".join(entry.get("species", [])),
             f"cutoff {entry['cutoff']:g} Å" if "cutoff" in entry else "cutoff ?"]
    forces = entry.get("forces", "conservative")
    kind = ("forces −∂E/∂r (conservative)" if forces == "conservative"
            else "direct forces (not −∂E/∂r: not for NVE/phonons)")
    parts.append(kind + (", warns outside its training domain" if entry.get("domain_check") else ""))
    errors = entry.get("test_errors")
    if errors:
        parts.append(
            f"test ({errors['set']}): E RMSE {errors['energy_rmse_mev_per_atom']:.2f} meV/atom, "
            f"F RMSE {errors['forces_rmse']:.3f} eV/Å ({100 * errors['forces_rmse_over_std']:.1f}% of σ_F)"
        )
    else:
        parts.append("no test errors (untrained)")
    if entry.get("note"):
        parts.append(entry["note"])
    return " | ".join(parts)


def list_pretrained() -> dict[str, str]:
    """Shipped model names, each with a one-line description (method, species, cutoff, test errors)."""
    return {name: describe(entry) for name, entry in _registry().items()}


def pretrained_info(name: str) -> dict:
    """The registry entry of the shipped model ``name``."""
    registry = _registry()
    if name not in registry:
        raise ModelFileError(f"no shipped model named {name!r}; shipped models: {sorted(registry)}")
    return dict(registry[name])


def pretrained_path(name: str) -> Path:
    """Path of the shipped model ``name`` (a clear error for unknown names)."""
    return _HERE / pretrained_info(name)["file"]
