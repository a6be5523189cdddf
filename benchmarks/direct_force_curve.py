"""Do PITC + PISC pay off for direct-force models? The learning curve that answers it (issue 16).

    python benchmarks/direct_force_curve.py                         # the whole grid (resumable)
    python benchmarks/direct_force_curve.py --n 8 32 --seeds 0 1 2  # a part of it
    python benchmarks/direct_force_curve.py --quick --out /tmp/r.json   # smoke test (seconds)
    python benchmarks/direct_force_table.py                         # markdown table of every record

**Question** (Takamoto, Zaverkin & Niepert, arXiv:2408.05215).  For a conservative model (F = −∇E) the
Taylor residual E(R+δ) − E(R) + δ·F(R) is ½δᵀHδ + O(δ³): PITC/PISC are curvature penalties and should change
nothing (the paper's SchNet: 31.49 → 31.50).  For a direct-force model the residual is δ·(F + ∇E) to first
order: the losses tie the force head to the energy, and the paper's direct models gain ~2× in energy RMSE
with few labels.

**Grid.**  forces ∈ {conservative, direct} × weak ∈ {off, on} × labels ∈ {energy+forces, energy} ×
N ∈ {8, 32, 128, 184} × seeds {0, 1, 2}.  One model size for all (``Settings``); with and without the weak
losses share initialisation, batch order and the N structures (the first N of one seeded permutation of the
training pool, nested across N).

**Data.**  The GFN1-xTB (tblite) frames of the shipped model, ``data/carbon_gfn1.extxyz`` (13 families,
20 frames each, 98–252 atoms).  Test set: the held-out chiralities of ``carbon-gfn1``, (11,0), (6,6),
(7,4) (60 frames).  Validation: a fixed seeded 16 frames of the other 200, the same for every run and not
counted in N; the training pool is the remaining 184.  Energy-only runs zero the force labels and their
weight, so no force information reaches the model, and model selection scores their validation energy alone
(:func:`ase_relaxed.train.loop.validation_score`).

**Budget.**  ``steps(N) = clip(steps_per_structure · N, min_steps, max_steps)`` optimiser steps (batch 2),
validation every ``steps/20`` steps, the best-validation EMA weights kept (early stopping after
``patience`` evaluations without improvement): a budget that grows with N, with model selection.

**Metrics** on the test set: energy RMSE per atom, force RMSE, the consistency error
ε_cons = RMS(F + ∇E) (``consistency_rms`` of :func:`ase_relaxed.train.metrics.error_metrics`; 0 for
conservative models), MD
stability (fraction of ``md_runs`` Langevin runs of ``md_steps`` × 0.5 fs at 1500 K from a held-out (11,0)
frame that finish without a pair closer than 1 Å, |F| > 50 eV/Å or NaN) and, for direct models, the NVE drift
|E_tot(end) − E_tot(0)| / (N_atoms t) in meV/atom/ps over ``nve_steps`` × 0.5 fs from 300 K.

**Weights.**  L = 500 L_E + 10 L_F (the shipped model's) + 1.2·500 PITC + 0.01·500 PISC: the paper's ratios
of the weak terms to the energy term (1.2 and 0.01; both are energy MSEs, per-atom normalised here, so the
ratio carries over unit-free), δ₀ = 0.05 Å with the accepted version's centred δ (see docs/weak-supervision.md).

**Resumability.**  Each finished run is a record appended atomically to ``--out``; runs already there are
skipped; a run killed mid-training resumes from its checkpoint in ``--work``.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from piwsl_learning_curve import load_records, md_stability, save_records, training_frames  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT / "data" / "carbon_gfn1.extxyz"
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "direct_force_curve.json"
FORCES = ("conservative", "direct")
LABELS = ("energy+forces", "energy")


@dataclass
class Settings:
    """Everything that defines the experiment except (forces, N, labels, weak, seed)."""

    test_families: list[str] = field(default_factory=lambda: ["cnt(11,0)", "cnt(6,6)", "cnt(7,4)"])
    n_val: int = 16
    data_seed: int = 0
    cutoff: float = 4.5
    num_layers: int = 2
    channels: int = 16
    l_max: int = 1
    radial_hidden: int = 32
    dtype: str = "float32"
    steps_per_structure: int = 40
    min_steps: int = 300
    max_steps: int = 3000
    patience: int = 6
    batch_size: int = 2
    lr: float = 1e-2
    energy_weight: float = 500.0
    forces_weight: float = 10.0
    pitc_ratio: float = 1.2
    pisc_ratio: float = 0.01
    delta: float = 0.05
    distribution: str = "centered"
    md_family: str = "cnt(11,0)"
    md_runs: int = 3
    md_steps: int = 200
    md_timestep: float = 0.5
    md_temperature: float = 1500.0
    md_min_distance: float = 1.0
    nve_steps: int = 200

    @classmethod
    def quick(cls) -> "Settings":
        return cls(n_val=2, cutoff=3.0, num_layers=1, channels=4, radial_hidden=8, steps_per_structure=1,
                   min_steps=4, max_steps=8, md_runs=1, md_steps=4, nve_steps=4)

    def steps(self, n: int) -> int:
        return int(min(self.max_steps, max(self.min_steps, self.steps_per_structure * n)))

    def settings_id(self) -> str:
        return hashlib.sha256(json.dumps(dataclasses.asdict(self), sort_keys=True).encode()).hexdigest()[:12]


def split(frames: list, settings: Settings) -> tuple[list[int], list[int], list[int]]:
    """(test, validation, training pool in its fixed order)."""
    test = [k for k, a in enumerate(frames) if a.info.get("family") in settings.test_families]
    rest = [k for k in range(len(frames)) if k not in set(test)]
    order = [rest[k] for k in np.random.default_rng(settings.data_seed).permutation(len(rest))]
    return test, sorted(order[: settings.n_val]), order[settings.n_val:]


def train_config(settings: Settings, forces: str, n: int, labels: str, weak: bool, seed: int, run_dir: Path):
    from ase_relaxed.train.config import TrainConfig

    steps, e = settings.steps(n), settings.energy_weight
    return TrainConfig.from_dict({
        "data": {"path": str(run_dir / "train.extxyz"), "val_path": str(run_dir / "val.extxyz"),
                 "val_fraction": 0.0, "test_fraction": 0.0, "seed": seed},
        "model": {"species": ["C"], "cutoff": settings.cutoff, "num_layers": settings.num_layers,
                  "channels": settings.channels, "l_max": settings.l_max, "radial_hidden": settings.radial_hidden,
                  "dtype": settings.dtype, "seed": seed, "forces": forces},
        "loss": {"energy_weight": e, "stress_weight": 0.0,
                 "forces_weight": settings.forces_weight if labels == "energy+forces" else 0.0,
                 "pitc_weight": settings.pitc_ratio * e if weak else 0.0,
                 "pisc_weight": settings.pisc_ratio * e if weak else 0.0,
                 "weak_delta": settings.delta, "weak_distribution": settings.distribution,
                 "weak_use_labels": False},
        "optim": {"lr": settings.lr, "max_steps": steps, "batch_size": min(settings.batch_size, n),
                  "warmup_steps": max(1, min(50, steps // 10)), "eval_every": max(1, steps // 20),
                  "checkpoint_every": max(1, steps // 20), "patience": settings.patience, "seed": seed},
        "out_dir": str(run_dir),
    })


def nve_drift(model, start, settings: Settings) -> float:
    """|E_tot(end) − E_tot(0)| / (N_atoms · t) in meV/atom/ps of a velocity-Verlet run from 300 K (inf when
    atoms collide before the end)."""
    import warnings

    from ase import units
    from ase.md.verlet import VelocityVerlet

    from ase_relaxed import InputError, RelaxedCalculator
    from ase_relaxed.md.runner import initialise_velocities

    atoms = start.copy()
    atoms.calc = RelaxedCalculator(model, device="cpu")
    initialise_velocities(atoms, 300.0, seed=0)
    e0 = atoms.get_total_energy()
    try:
        with warnings.catch_warnings():  # the NVE warning for direct models: the drift is what this measures
            warnings.simplefilter("ignore")
            VelocityVerlet(atoms, settings.md_timestep * units.fs).run(settings.nve_steps)
    except InputError:  # atoms collided: the run blew up, no finite drift to report
        return float("inf")
    picoseconds = settings.nve_steps * settings.md_timestep / 1000
    return abs(atoms.get_total_energy() - e0) / len(atoms) / picoseconds * 1e3


def run_one(frames, parts, settings: Settings, forces: str, n: int, labels: str, weak: bool, seed: int,
            work: Path) -> dict:
    """Train one model, test it, check its MD; return its record."""
    from ase.io import write

    from ase_relaxed import load_model
    from ase_relaxed.train.dataset import labelled_graph
    from ase_relaxed.train.loop import train
    from ase_relaxed.train.metrics import error_metrics, predict

    test, val, pool = parts
    t0 = time.perf_counter()
    run_dir = work / f"{forces}_N{n}_{labels.replace('+', '_')}_{'weak' if weak else 'plain'}_s{seed}"
    config = train_config(settings, forces, n, labels, weak, seed, run_dir)
    resume = (run_dir / "checkpoint.pt").exists() and (run_dir / "train.extxyz").exists()
    if not resume:
        shutil.rmtree(run_dir, ignore_errors=True)
        run_dir.mkdir(parents=True)
        write(str(run_dir / "train.extxyz"), training_frames(frames, pool[:n], labels), format="extxyz")
        write(str(run_dir / "val.extxyz"), training_frames(frames, val, labels), format="extxyz")
    model = load_model(train(config, resume=resume, progress=False))
    train_s = time.perf_counter() - t0
    graphs = [labelled_graph(frames[k], settings.cutoff) for k in test]
    metrics = error_metrics(predict(model, graphs))
    consistency = metrics.get("consistency_rms", 0.0)  # zero by construction for conservative models
    start = next(frames[k] for k in test if frames[k].info.get("family") == settings.md_family).copy()
    start.calc = None
    t1 = time.perf_counter()
    fraction, failures = md_stability(model, start, settings)
    drift = nve_drift(model, start, settings) if forces == "direct" else None
    md_s = time.perf_counter() - t1
    training = getattr(model, "training_info", None) or {}
    shutil.rmtree(run_dir, ignore_errors=True)
    config_dict = config.to_dict()
    config_dict["data"].update(path=f"first {n} of the seeded training pool", val_path=f"{len(val)} fixed frames")
    return {
        "forces": forces, "N": n, "labels": labels, "weak": weak, "seed": seed,
        "energy_rmse_per_atom": metrics["energy_rmse_per_atom"], "forces_rmse": metrics["forces_rmse"],
        "consistency_rms": consistency, "md_stable_fraction": fraction, "nve_drift_meV_per_atom_ps": drift,
        "md_failures": failures, "steps": settings.steps(n), "best_step": training.get("step"),
        "test_structures": metrics["structures"], "wall_s": time.perf_counter() - t0, "train_s": train_s,
        "md_s": md_s, "resumed": resume, "settings_id": settings.settings_id(),
        "config": {"train": config_dict, "settings": dataclasses.asdict(settings)},
        "provenance": {"data": str(DEFAULT_DATA.relative_to(ROOT)), "reference": "GFN1-xTB (tblite)",
                       "torch": torch.__version__, "ase_relaxed": __import__("ase_relaxed").__version__},
    }


def run_key(record: dict) -> tuple:
    return str(record["forces"]), int(record["N"]), str(record["labels"]), bool(record["weak"]), int(record["seed"])


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--forces", nargs="+", choices=FORCES, default=list(FORCES))
    parser.add_argument("--n", type=int, nargs="+", help="training-set sizes (default 8 32 128 184)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--labels", nargs="+", choices=LABELS, default=list(LABELS))
    parser.add_argument("--weak", nargs="+", choices=("off", "on"), default=["off", "on"],
                        help="without and/or with PITC + PISC")
    parser.add_argument("--delta", type=float, help="δ₀ in Å (default 0.05)")
    parser.add_argument("--distribution", choices=("centered", "uniform"), help="δ scheme (default centered)")
    parser.add_argument("--pitc-ratio", type=float, help="PITC weight / energy weight (default 1.2, the paper's)")
    parser.add_argument("--pisc-ratio", type=float, help="PISC weight / energy weight (default 0.01)")
    parser.add_argument("--min-steps", type=int, help="budget floor (default 300)")
    parser.add_argument("--steps-per-structure", type=int, help="budget slope (default 40 steps per structure)")
    parser.add_argument("--quick", action="store_true", help="tiny model and budget (smoke test)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--work", type=Path, help="run folders while training (default: <out>.runs/)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    from ase.io import read

    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    settings = Settings.quick() if args.quick else Settings()
    overrides = {"delta": args.delta, "distribution": args.distribution, "pitc_ratio": args.pitc_ratio,
                 "pisc_ratio": args.pisc_ratio, "min_steps": args.min_steps,
                 "steps_per_structure": args.steps_per_structure}
    settings = dataclasses.replace(settings, **{k: v for k, v in overrides.items() if v is not None})
    frames = read(str(args.data), index=":")
    parts = split(frames, settings)
    sizes = args.n or ([2, 4] if args.quick else [8, 32, 128, len(parts[2])])
    if max(sizes) > len(parts[2]):
        raise SystemExit(f"N = {max(sizes)} needs more frames than the pool's {len(parts[2])}")
    records = load_records(args.out)
    other = {r.get("settings_id") for r in records} - {settings.settings_id()}
    if other:
        raise SystemExit(f"{args.out} holds runs made with other settings {sorted(map(str, other))}; use another --out")
    work = args.work or args.out.with_name(args.out.stem + ".runs")
    done = {run_key(r) for r in records}
    plan = [(forces, n, labels, weak == "on", seed) for seed in args.seeds for n in sizes for labels in args.labels
            for forces in args.forces for weak in args.weak]
    print(f"{len(plan)} runs ({sum(k in done for k in plan)} already in {args.out}); settings "
          f"{settings.settings_id()}; {len(parts[2])} pool + {len(parts[1])} validation + {len(parts[0])} test frames",
          flush=True)
    for i, key in enumerate(plan, 1):
        head = f"[{i}/{len(plan)}] {key[0]} N={key[1]} labels={key[2]} weak={'on' if key[3] else 'off'} seed={key[4]}"
        if key in done:
            print(f"{head}: skip (done)", flush=True)
            continue
        record = run_one(frames, parts, settings, *key, work=work)
        save_records(args.out, load_records(args.out) + [record])
        done.add(key)
        drift = record["nve_drift_meV_per_atom_ps"]
        print(f"{head}: E {record['energy_rmse_per_atom'] * 1e3:.2f} meV/atom, F {record['forces_rmse']:.3f} eV/Å, "
              f"consistency {record['consistency_rms']:.3f} eV/Å, MD stable {record['md_stable_fraction']:.2f}"
              + ("" if drift is None else f", NVE drift {drift:.2f} meV/atom/ps")
              + f" ({record['wall_s']:.0f} s, {record['steps']} steps, best at {record['best_step']})", flush=True)
    if work.exists() and not any(work.iterdir()):
        work.rmdir()
    return 0


if __name__ == "__main__":
    sys.exit(main())
