"""Learning curve of physics-informed weak supervision (PITC + PISC, Takamoto et al., arXiv:2408.05215).

    python benchmarks/piwsl_learning_curve.py                       # full grid (resumable; see below)
    python benchmarks/piwsl_learning_curve.py --n 8 32 --seeds 0    # part of it
    python benchmarks/piwsl_learning_curve.py --quick --data /tmp/d.extxyz --out /tmp/r.json   # smoke test
    python benchmarks/piwsl_plot.py                                 # figure + markdown table

**Grid.**  N ∈ {8, 32, 128, 512} labelled structures × labels ∈ {energy, energy+forces} × weak losses
off/on × seeds {0, 1, 2}.  Every run has the same budget: the same model, ``--steps`` optimiser steps at batch
size min(4, N), the final EMA weights (no validation data, so no early stopping or model selection).  With and
without weak losses share the model initialisation, the batch order (both seeded by the run's seed) and the N
structures, which are the first N of one seeded permutation of the training pool (nested across N).

**Data.**  matscipy's Brenner potential through :func:`ase_relaxed.reference.generate.generate_dataset`
(rattled, strained and 300–2000 K thermal frames of the (5,0), (6,0), (4,4), (5,5) and (4,2) tubes, 40–80
atoms, 8 Å minimum length; (4,2) rather than (6,2), which needs 104 atoms), written to
``benchmarks/data/brenner_piwsl.extxyz`` if missing (the generator resumes a partial file; ~5 MB for 600
frames).  A fixed, seeded set of 50 frames is held out for testing; the rest is the pool.

**Energy-only runs** train with ``forces_weight = 0`` on a copy of the N frames whose force labels are zeroed,
so no force information reaches the model (not even the force RMS, which otherwise sets the energy scale; it
falls back to 1 eV).  The weak losses use the model's own E, F at R (``weak_use_labels = False``).

**Metrics.**  Energy RMSE per atom and force RMSE on the test set, and MD stability: ``--md-runs`` Langevin runs
(``--md-steps`` × 0.5 fs at ``--md-temperature`` K, friction 0.01/fs, velocity seeds 0…runs−1, the same for
every model) from the first held-out frame of ``Settings.md_family`` (cnt(6,0), 48 atoms), through
:func:`ase_relaxed.md.run_md` and its guard (finite energy and forces, |F| ≤ 50 eV/Å, no pair closer than
``md_min_distance`` = 1.0 Å, no runaway temperature).  ``md_stable_fraction`` is the fraction of runs that
finish.  The Brenner reference itself finishes 5/5 runs at 1500 K and at 2000 K, its closest pairs staying
above 1.19 Å.

**Loss-weight defaults.**  The paper uses L = L_E + 100 L_F + 1.2 PITC + 0.01 PISC.  Here L_E and both weak
terms are per-atom normalised mean squares of energies (``ase_relaxed.physics.losses``): the normalisation divides
all three by N_k², so their ratios are unit-free and carry over: ``pitc_weight = 1.2`` and ``pisc_weight = 0.01``
with ``energy_weight = 1``, and the repository's ``forces_weight = 10`` (eV/atom against eV/Å; the paper's 100 is
in kcal/mol units).  δ = 0.02 Å, components uniform in [0, δ) as in the paper.  For a conservative model
(F = −∇E) the weak terms are curvature penalties, O(δ⁴), which even the exact PES does not make vanish: on this
data the Brenner PES itself leaves an RMS PITC residual of 0.32 / 1.3 / 3.0 / 8.4 meV/atom at δ = 0.01 / 0.02 /
0.03 / 0.05 Å (PISC about twice that).  The paper's 0.05 Å (chosen for ANI-1x) would bias stiff sp² carbon by
~8 meV/atom, the size of the errors the models reach; 0.02 Å keeps that floor below them while the signal
stays far above float32 round-off.

**Measured (N = 8, energy-only, seed 0, 2 loaded CPU cores).**  A run takes ~60 s without and ~135 s with the
weak losses (≈ 2.6× the cost per step), MD included (~13 s); the full 48-run grid thus ~1.3–1.5 h.  At the
default weights the weak terms end at ~0.3 % of the training loss (1.2 × 2.7e-7 + 0.01 × 1.0e-6 against
L_E = 1.3e-4 (eV/atom)²) and the two runs agreed to 0.01 meV/atom: expect "with" ≈ "without" at the paper's
weights, and scan ``--pitc-weight`` / ``--pisc-weight`` (into another ``--out``) to see the terms act.

**Resumability.**  Each finished run is one record appended to the ``--out`` JSON list (atomic write: tmp +
``os.replace``); runs already there are skipped.  A run killed mid-training resumes from its checkpoint in
``--work``.  One JSON file holds one set of settings: changing a setting needs another ``--out``.
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

import numpy as np  # noqa: E402
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT / "benchmarks" / "data" / "brenner_piwsl.extxyz"
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "piwsl_learning_curve.json"
LABELS = ("energy", "energy+forces")
RECORD_FIELDS = ("N", "labels", "weak", "seed", "energy_rmse_per_atom", "forces_rmse", "md_stable_fraction",
                 "steps", "wall_s", "config")


@dataclass
class Settings:
    """Everything that defines the experiment except (N, labels, weak, seed)."""

    chiralities: list[str] = field(default_factory=lambda: ["5,0", "6,0", "4,4", "5,5", "4,2"])
    min_length: float = 8.0
    pool_frames: int = 600  # frames generated: n_test held out, the rest is the training pool
    n_test: int = 50
    data_seed: int = 0
    cutoff: float = 4.0
    num_layers: int = 2
    channels: int = 16
    l_max: int = 1
    radial_hidden: int = 32
    dtype: str = "float32"
    steps: int = 400
    max_batch: int = 4
    lr: float = 5e-3
    energy_weight: float = 1.0
    forces_weight: float = 10.0
    pitc_weight: float = 1.2
    pisc_weight: float = 0.01
    delta: float = 0.02
    md_family: str = "cnt(6,0)"
    md_runs: int = 5
    md_steps: int = 200
    md_timestep: float = 0.5
    md_temperature: float = 1500.0
    md_min_distance: float = 1.0

    @classmethod
    def quick(cls) -> "Settings":
        """Tiny settings for the smoke test: seconds, not minutes."""
        return cls(chiralities=["5,0", "3,3"], min_length=4.0, pool_frames=16, n_test=4, cutoff=3.0, num_layers=1,
                   channels=4, radial_hidden=8, steps=10, md_family="cnt(5,0)", md_runs=2, md_steps=10)

    def settings_id(self) -> str:
        text = json.dumps(dataclasses.asdict(self), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


# -- data ----------------------------------------------------------------------------------------------------------
def data_config(settings: Settings):
    from ase_relaxed.reference.generate import DataConfig

    return DataConfig(method="brenner", chiralities=list(settings.chiralities), include_graphene=False,
                      n_structures=settings.pool_frames, seed=settings.data_seed, min_length=settings.min_length)


def ensure_data(path: Path, settings: Settings) -> list:
    """Generate (or finish) the Brenner data set at ``path``; return its first ``pool_frames`` frames."""
    from ase.io import read

    from ase_relaxed.reference.generate import generate_dataset, make_structure, reference_calculator

    config = data_config(settings)
    existing = path.exists() and path.stat().st_size > 0
    if existing:  # only resume a file made with the same generator settings: rebuild its first frames and compare
        calc, _ = reference_calculator("brenner")
        for k, stored in enumerate(read(str(path), index=":2")):
            fresh = make_structure(k, config, calc)
            if len(fresh) != len(stored) or not np.allclose(fresh.positions, stored.positions, atol=1e-5):
                raise SystemExit(f"{path} was generated with other settings; pass another --data")
    generate_dataset(path, config, resume=existing, progress=False)
    frames = read(str(path), index=f":{settings.pool_frames}")
    if len(frames) < settings.pool_frames:
        raise SystemExit(f"{path} holds {len(frames)} frames, fewer than {settings.pool_frames}")
    return frames


def split(settings: Settings) -> tuple[list[int], list[int]]:
    """(test indices, training pool in its fixed order): one seeded permutation of the frames."""
    order = np.random.default_rng(settings.data_seed).permutation(settings.pool_frames).tolist()
    return sorted(order[: settings.n_test]), order[settings.n_test :]


def training_frames(frames: list, indices: list[int], labels: str) -> list:
    """Copies of the chosen frames; for energy-only labels the force labels are zeroed (never seen)."""
    from ase.calculators.singlepoint import SinglePointCalculator

    out = []
    for k in indices:
        atoms = frames[k].copy()
        energy, forces = frames[k].get_potential_energy(), frames[k].get_forces()
        if labels == "energy":
            forces = np.zeros_like(forces)
        atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces)
        out.append(atoms)
    return out


# -- one run -------------------------------------------------------------------------------------------------------
def train_config(settings: Settings, n: int, labels: str, weak: bool, seed: int, run_dir: Path):
    from ase_relaxed.train.config import TrainConfig

    steps = settings.steps
    return TrainConfig.from_dict({
        "data": {"path": str(run_dir / "train.extxyz"), "val_fraction": 0.0, "test_fraction": 0.0, "seed": seed},
        "model": {"species": ["C"], "cutoff": settings.cutoff, "num_layers": settings.num_layers,
                  "channels": settings.channels, "l_max": settings.l_max, "radial_hidden": settings.radial_hidden,
                  "dtype": settings.dtype, "seed": seed},
        "loss": {"energy_weight": settings.energy_weight, "stress_weight": 0.0,
                 "forces_weight": settings.forces_weight if labels == "energy+forces" else 0.0,
                 "pitc_weight": settings.pitc_weight if weak else 0.0,
                 "pisc_weight": settings.pisc_weight if weak else 0.0,
                 "weak_delta": settings.delta, "weak_distribution": "uniform", "weak_use_labels": False},
        "optim": {"lr": settings.lr, "max_steps": steps, "batch_size": min(settings.max_batch, n),
                  "warmup_steps": max(1, min(20, steps // 10)), "eval_every": steps,
                  "checkpoint_every": max(1, steps // 10), "seed": seed},
        "out_dir": str(run_dir),
    })


def md_stability(model, start, settings: Settings) -> tuple[float, list[str | None]]:
    """Fraction of short hot Langevin runs that the guard lets finish, and each run's failure (None: ok)."""
    from ase_relaxed import InputError, RelaxedCalculator
    from ase_relaxed.md import SimulationError, run_md

    failures: list[str | None] = []
    for k in range(settings.md_runs):
        calc = RelaxedCalculator(model, device="cpu")
        try:
            run_md(start.copy(), calc, ensemble="langevin", temperature=settings.md_temperature,
                   steps=settings.md_steps, timestep=settings.md_timestep, seed=k,
                   min_distance=settings.md_min_distance, traj="none", log="none", checkpoint="none", quiet=True)
            failures.append(None)
        except (SimulationError, InputError) as error:
            failures.append(str(error).split("; the run stopped")[0])
    return sum(f is None for f in failures) / max(1, len(failures)), failures


def md_start(frames: list, test: list[int], settings: Settings):
    """The first held-out frame of ``md_family`` (any held-out frame if the family is not among them)."""
    chosen = [k for k in test if frames[k].info.get("family") == settings.md_family] or test
    atoms = frames[chosen[0]].copy()
    atoms.calc = None
    return atoms


def run_one(frames, test, pool, settings: Settings, n: int, labels: str, weak: bool, seed: int,
            work: Path) -> dict:
    """Train one model, test it, run the MD stability check; return its record."""
    from ase.io import write

    from ase_relaxed import load_model
    from ase_relaxed.train.dataset import labelled_graph
    from ase_relaxed.train.loop import train
    from ase_relaxed.train.metrics import error_metrics, predict

    t0 = time.perf_counter()
    run_dir = work / f"N{n}_{labels.replace('+', '_')}_{'weak' if weak else 'plain'}_s{seed}"
    config = train_config(settings, n, labels, weak, seed, run_dir)
    resume = (run_dir / "checkpoint.pt").exists() and (run_dir / "train.extxyz").exists()
    if not resume:
        shutil.rmtree(run_dir, ignore_errors=True)
        run_dir.mkdir(parents=True)
        write(str(run_dir / "train.extxyz"), training_frames(frames, pool[:n], labels), format="extxyz")
    model = load_model(train(config, resume=resume, progress=False))
    train_s = time.perf_counter() - t0
    with open(run_dir / "log.csv") as handle:
        last = handle.read().strip().splitlines()
    final = dict(zip(last[0].split(","), last[-1].split(",")))
    metrics = error_metrics(predict(model, [labelled_graph(frames[k], settings.cutoff) for k in test]))
    t1 = time.perf_counter()
    fraction, failures = md_stability(model, md_start(frames, test, settings), settings)
    md_s = time.perf_counter() - t1
    shutil.rmtree(run_dir, ignore_errors=True)
    config_dict = config.to_dict()
    config_dict["data"]["path"] = f"first {n} of the seeded training pool"
    config_dict["model"].update({k: getattr(model.config, k) for k in ("energy_shift", "energy_scale",
                                                                       "avg_num_neighbors")})
    return {
        "N": n, "labels": labels, "weak": weak, "seed": seed,
        "energy_rmse_per_atom": metrics["energy_rmse_per_atom"], "forces_rmse": metrics["forces_rmse"],
        "md_stable_fraction": fraction, "steps": settings.steps, "wall_s": time.perf_counter() - t0,
        "config": {"train": config_dict, "settings": dataclasses.asdict(settings)},
        "energy_mae_per_atom": metrics["energy_mae_per_atom"], "forces_mae": metrics["forces_mae"],
        "test_structures": metrics["structures"], "md_failures": failures,
        "final_train_losses": {k: float(v) for k, v in final.items() if k.startswith("loss") and v},
        "train_s": train_s, "md_s": md_s, "settings_id": settings.settings_id(),
        "resumed": resume,  # training resumed from a checkpoint: wall_s and train_s count this process only
    }


# -- the JSON list ---------------------------------------------------------------------------------------------------
def load_records(path: Path) -> list[dict]:
    return json.loads(path.read_text()) if path.exists() else []


def save_records(path: Path, records: list[dict]) -> None:
    """Write atomically: a crash leaves either the old or the new list, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(records, indent=1))
    os.replace(tmp, path)


def run_key(record: dict) -> tuple:
    return int(record["N"]), str(record["labels"]), bool(record["weak"]), int(record["seed"])


# -- command line ----------------------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--n", type=int, nargs="+", default=None, help="training-set sizes (default 8 32 128 512)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--labels", nargs="+", choices=LABELS, default=list(LABELS))
    parser.add_argument("--weak", nargs="+", choices=("off", "on"), default=["off", "on"],
                        help="without and/or with PITC + PISC")
    parser.add_argument("--steps", type=int, help="optimiser steps per run (default 400; --quick 10)")
    parser.add_argument("--pitc-weight", type=float, help="default 1.2 (× energy_weight 1, as in the paper)")
    parser.add_argument("--pisc-weight", type=float, help="default 0.01 (× energy_weight 1, as in the paper)")
    parser.add_argument("--delta", type=float, help="displacement scale δ in Å (default 0.02)")
    parser.add_argument("--md-runs", type=int)
    parser.add_argument("--md-steps", type=int)
    parser.add_argument("--md-temperature", type=float)
    parser.add_argument("--quick", action="store_true", help="tiny data, model and budget (smoke test)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help=f"default {DEFAULT_DATA.relative_to(ROOT)}")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"default {DEFAULT_OUT.relative_to(ROOT)}")
    parser.add_argument("--work", type=Path, help="run folders while training (default: <out>.runs/)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--plot", action="store_true", help="afterwards, write the PNG and print the table")
    return parser.parse_args(argv)


def settings_from(args: argparse.Namespace) -> Settings:
    settings = Settings.quick() if args.quick else Settings()
    overrides = {"steps": args.steps, "pitc_weight": args.pitc_weight, "pisc_weight": args.pisc_weight,
                 "delta": args.delta, "md_runs": args.md_runs, "md_steps": args.md_steps,
                 "md_temperature": args.md_temperature}
    return dataclasses.replace(settings, **{k: v for k, v in overrides.items() if v is not None})


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    settings = settings_from(args)
    sizes = args.n or ([4, 8] if args.quick else [8, 32, 128, 512])
    records = load_records(args.out)
    other = {r.get("settings_id") for r in records} - {settings.settings_id()}
    if other:
        raise SystemExit(f"{args.out} holds runs made with other settings ({sorted(map(str, other))}); "
                         "choose another --out for these settings")
    frames = ensure_data(args.data, settings)
    test, pool = split(settings)
    if max(sizes) > len(pool):
        raise SystemExit(f"N = {max(sizes)} needs more frames than the pool's {len(pool)}")
    work = args.work or args.out.with_name(args.out.stem + ".runs")
    done = {run_key(r) for r in records}
    plan = [(n, labels, weak == "on", seed) for seed in args.seeds for n in sizes for labels in args.labels
            for weak in args.weak]
    print(f"{len(plan)} runs ({sum(k in done for k in plan)} already in {args.out}); settings {settings.settings_id()}"
          f"; {len(pool)} pool + {len(test)} test frames", flush=True)
    for i, key in enumerate(plan, 1):
        head = f"[{i}/{len(plan)}] N={key[0]} labels={key[1]} weak={'on' if key[2] else 'off'} seed={key[3]}"
        if key in done:
            print(f"{head}: skip (done)", flush=True)
            continue
        record = run_one(frames, test, pool, settings, *key, work=work)
        records = load_records(args.out) + [record]  # re-read: another process may have appended
        save_records(args.out, records)
        done.add(key)
        print(f"{head}: E {record['energy_rmse_per_atom'] * 1e3:.2f} meV/atom, F {record['forces_rmse']:.3f} eV/Å, "
              f"MD stable {record['md_stable_fraction']:.2f} ({record['wall_s']:.0f} s: train "
              f"{record['train_s']:.0f} s, MD {record['md_s']:.0f} s)", flush=True)
    if work.exists() and not any(work.iterdir()):
        work.rmdir()
    if args.plot:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from piwsl_plot import main as plot_main

        return plot_main(["--results", str(args.out), "--png", str(args.out.with_suffix(".png"))])
    return 0


if __name__ == "__main__":
    sys.exit(main())
