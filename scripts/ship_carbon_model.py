"""Train, test and ship the default model ``carbon-gfn1`` (issue 4).

    python scripts/ship_carbon_model.py            # train (or resume), test, ship
    python scripts/ship_carbon_model.py --no-train # test and ship an existing run

Steps, each a plain ``ase-relaxed`` command so that anyone can rerun them:

1. ``ase-relaxed train configs/carbon_gfn1.yaml`` (``--resume`` if a checkpoint exists);
2. ``ase-relaxed test`` of the best model on the held-out chiralities only
   (the ``test_families`` of the config, never seen in training or validation);
3. copy the model to ``ase_relaxed/pretrained/carbon-gfn1.safetensors`` and record the
   reference method, species, cutoff and held-out errors in ``registry.json``;
   the parity plot goes to ``docs/figures/carbon-gfn1-parity.png``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "carbon_gfn1.yaml"
NAME = "carbon-gfn1"


def run(*args: str) -> None:
    print("+ ase-relaxed", " ".join(args), flush=True)
    subprocess.run([sys.executable, "-m", "ase_relaxed.cli", *args], check=True, cwd=ROOT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--no-train", action="store_true", help="skip training; ship the existing run")
    args = parser.parse_args()

    from ase_relaxed.train.config import TrainConfig

    config = TrainConfig.from_yaml(CONFIG)
    out = Path(config.out_dir)
    if not args.no_train:
        run("train", str(CONFIG), *(["--resume"] if (out / "checkpoint.pt").exists() else []))
    model = out / "model.safetensors"
    metrics_path = out / "heldout_metrics.json"
    run("test", str(model), config.data.path, "--families", *config.data.test_families,
        "--plots", str(out / "plots"), "--json", str(metrics_path))
    metrics = json.loads(metrics_path.read_text())

    pretrained = ROOT / "ase_relaxed" / "pretrained"
    shutil.copyfile(model, pretrained / f"{NAME}.safetensors")
    figures = ROOT / "docs" / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(out / "plots" / "parity.png", figures / f"{NAME}-parity.png")
    (ROOT / "benchmarks" / "results" / f"{NAME}_heldout.json").write_text(json.dumps(metrics, indent=2) + "\n")

    registry_path = pretrained / "registry.json"
    registry = json.loads(registry_path.read_text())
    families = ", ".join(f.removeprefix("cnt") for f in config.data.test_families)
    registry[NAME] = {
        "file": f"{NAME}.safetensors",
        "reference": "GFN1-xTB (tblite), data/carbon_gfn1.extxyz",
        "species": list(config.model.species),
        "cutoff": config.model.cutoff,
        "test_errors": {
            "set": f"held-out CNT {families}, {metrics['structures']} frames",
            "energy_rmse_mev_per_atom": 1e3 * metrics["energy_rmse_per_atom"],
            "energy_mae_mev_per_atom": 1e3 * metrics["energy_mae_per_atom"],
            "forces_rmse": metrics["forces_rmse"],
            "forces_mae": metrics["forces_mae"],
            "forces_std": metrics["forces_std"],
            "forces_rmse_over_std": metrics["forces_rmse_over_std"],
        },
        "note": "made by scripts/ship_carbon_model.py",
    }
    registry_path.write_text(json.dumps(registry, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(registry[NAME], indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
