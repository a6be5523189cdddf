"""Train, test and ship the GFN1-xTB carbon models: ``carbon-gfn1`` (issue 4) and ``carbon-gfn1-direct``.

    python scripts/ship_carbon_model.py            # train (or resume), test, ship carbon-gfn1
    python scripts/ship_carbon_model.py --no-train # test and ship an existing run
    python scripts/ship_carbon_model.py --name carbon-gfn1-direct   # the direct-force model (issue 16)

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

from shipping import ROOT, register

#: each shipped carbon model and the training config that makes it
CONFIGS = {"carbon-gfn1": ROOT / "configs" / "carbon_gfn1.yaml",
           "carbon-gfn1-v1": ROOT / "configs" / "carbon_gfn1_v1.yaml",
           "carbon-gfn1-direct": ROOT / "configs" / "carbon_gfn1_direct.yaml"}
NOTES = {"carbon-gfn1": ("tubes, graphene, diamond (bulk, vacancy, (100) slab), AB graphite, C20, Stone-Wales and "
                         "vacancy defects, amorphous carbon; held out whole: (111) slab, AA graphite, C60, "
                         "Stone-Wales (10,0); per-family errors and properties: "
                         "benchmarks/results/carbon-gfn1_report.json; "),
         "carbon-gfn1-direct": "direct forces (1o head, not −∂E/∂r) trained with PITC+PISC; "}


def run(*args: str) -> None:
    print("+ ase-relaxed", " ".join(args), flush=True)
    subprocess.run([sys.executable, "-m", "ase_relaxed", *args], check=True, cwd=ROOT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--no-train", action="store_true", help="skip training; ship the existing run")
    parser.add_argument("--name", choices=sorted(CONFIGS), default="carbon-gfn1",
                        help="which model (default %(default)s)")
    args = parser.parse_args()

    from ase_relaxed.train.config import TrainConfig

    name, config_path = args.name, CONFIGS[args.name]
    config = TrainConfig.from_yaml(config_path)
    out = Path(config.out_dir)
    if not args.no_train:
        run("train", str(config_path), *(["--resume"] if (out / "checkpoint.pt").exists() else []))
    model = out / "model.safetensors"
    metrics_path = out / "heldout_metrics.json"
    from ase.io import read

    # the registry's figure: the held-out tube chiralities of data.path (the new families are judged per family by
    # scripts/carbon_model_report.py)
    in_path = {atoms.info.get("family") for atoms in read(config.data.path, ":")}
    tubes = [family for family in config.data.test_families if family in in_path]
    run("test", str(model), config.data.path, "--families", *tubes,
        "--plots", str(out / "plots"), "--json", str(metrics_path))
    metrics = json.loads(metrics_path.read_text())

    figures = ROOT / "docs" / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(out / "plots" / "parity.png", figures / f"{name}-parity.png")
    families = ", ".join(f.removeprefix("cnt") for f in tubes)
    data = " + ".join(str(Path(p).relative_to(ROOT)) for p in [config.data.path, *config.data.extra_paths])
    entry = register(name, model, f"GFN1-xTB (tblite), {data}", config.model.species,
                     config.model.cutoff, metrics, f"held-out CNT {families}",
                     f"{NOTES.get(name, '')}made by scripts/ship_carbon_model.py --name {name}")
    print(json.dumps(entry, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
