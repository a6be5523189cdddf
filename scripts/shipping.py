"""Shared step of the ship scripts: copy a trained model into ase_relaxed/pretrained and register it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRETRAINED = ROOT / "ase_relaxed" / "pretrained"


def register(name: str, model: Path, reference: str, species: list[str], cutoff: float, metrics: dict,
             test_set: str, note: str) -> dict:
    """Copy ``model`` to ``pretrained/NAME.safetensors`` and record it (with its test errors) in registry.json."""
    from ase_relaxed import load_model

    shutil.copyfile(model, PRETRAINED / f"{name}.safetensors")
    shipped = load_model(PRETRAINED / f"{name}.safetensors")
    (ROOT / "benchmarks" / "results" / f"{name}_test.json").write_text(json.dumps(metrics, indent=2) + "\n")
    registry_path = PRETRAINED / "registry.json"
    registry = json.loads(registry_path.read_text())
    registry[name] = {
        "file": f"{name}.safetensors",
        "reference": reference,
        "species": list(species),
        "cutoff": cutoff,
        "forces": getattr(shipped.config, "forces", "conservative"),
        "domain_check": getattr(shipped, "domain", None) is not None,
        "test_errors": {
            "set": f"{test_set}, {metrics['structures']} frames",
            "energy_rmse_mev_per_atom": 1e3 * metrics["energy_rmse_per_atom"],
            "energy_mae_mev_per_atom": 1e3 * metrics["energy_mae_per_atom"],
            "forces_rmse": metrics["forces_rmse"],
            "forces_mae": metrics["forces_mae"],
            "forces_std": metrics["forces_std"],
            "forces_rmse_over_std": metrics["forces_rmse_over_std"],
            **({"stress_rmse": metrics["stress_rmse"]} if "stress_rmse" in metrics else {}),
            **({"consistency_rms": metrics["consistency_rms"]} if "consistency_rms" in metrics else {}),
        },
        "note": note,
    }
    registry_path.write_text(json.dumps(registry, indent=2, ensure_ascii=False) + "\n")
    return registry[name]
