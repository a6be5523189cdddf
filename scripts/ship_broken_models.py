"""Train (or reuse) and ship the two models of the symmetry-breaking study (issue 5).

    python scripts/ship_broken_models.py            # train both configs (resuming), then ship
    python scripts/ship_broken_models.py --no-train # ship existing runs

``diamond-uniaxial-relaxed`` (configs/broken/relaxed_z.yaml) and ``diamond-uniaxial-strict``
(configs/broken/strict_z.yaml): same size and budget, trained on data/diamond_uniaxial_z.extxyz
(Tersoff carbon + hidden λ Σ (r̂·z)² bond term); test errors on the random 20 % test split.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from shipping import ROOT, register

MODELS = {"diamond-uniaxial-relaxed": "relaxed_z", "diamond-uniaxial-strict": "strict_z"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--no-train", action="store_true", help="skip training; ship the existing runs")
    args = parser.parse_args()
    from ase_relaxed.train.config import TrainConfig

    for name, run in MODELS.items():
        config_path = ROOT / "configs" / "broken" / f"{run}.yaml"
        config = TrainConfig.from_yaml(config_path)
        out = Path(config.out_dir)
        if not args.no_train:
            resume = ["--resume"] if (out / "checkpoint.pt").exists() else []
            subprocess.run([sys.executable, "-m", "ase_relaxed", "train", str(config_path), *resume], check=True)
        metrics = json.loads((out / "test_metrics.json").read_text())
        kind = "relaxed θ (l ≤ 2)" if config.model.relaxed else "strictly equivariant"
        entry = register(name, out / "model.safetensors", "Tersoff C + hidden uniaxial term along z "
                         "(data/diamond_uniaxial_z.extxyz)", config.model.species, config.model.cutoff, metrics,
                         "random 20 % test split", f"{kind}; symmetry-breaking study, made by "
                         "scripts/ship_broken_models.py")
        print(name, json.dumps(entry, ensure_ascii=False))


if __name__ == "__main__":
    main()
