"""Data-parallel training benchmark: training steps per second at 1 and at N ranks (same global batch).

    python benchmarks/bench_ddp.py                    # 1 and 2 gloo ranks on CPU → benchmarks/results/ddp.json
    python benchmarks/bench_ddp.py --runs 1x4 2x2 4x1 --steps 60 --batch-size 8   # RANKSxTHREADS per run
    python benchmarks/bench_ddp.py --quick            # smoke test (not for reporting)

The default runs are 1 rank with all cores' threads, 1 rank with 1 thread, and 2 ranks with
cores // 2 threads each (what ``--nproc 2`` sets): on a machine shared with other work, torch's
intra-op threads can be slowed down far more than processes are, and the 1-thread run separates
that effect from data parallelism.

Every run is ``ase-relaxed train CONFIG --quiet`` (1 rank) or ``... --nproc N`` (N ranks: one gloo
process each, OMP_NUM_THREADS = cores // N), on the same labelled data (rattled (3,3) tubes and cubic
diamond, Brenner labels), model and global batch, with validation and checkpoints only at the end.
The benchmark watches the log file and times the steps after ``--skip`` warm-up steps, so start-up
(imports, data, graphs, process group) is excluded:

    steps/s = (rows at end − rows at start) / (time at end − time at start)

The timed loop is the whole training step of every rank: forward with forces (and stress), the
double backward, the gradient all-reduce, clipping, AdamW, EMA, the all-reduce of the loss terms and
rank 0's log row. The same global batch means the same optimisation, so steps/s is the speed-up
measure; structures/s = steps/s × batch size.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import yaml

HERE = Path(__file__).resolve().parent
LOAD_BEFORE = [round(x, 2) for x in os.getloadavg()]


def labelled_data(path: Path, n: int, seed: int = 0) -> list[int]:
    """``n`` rattled frames ((3,3) tubes of 24 atoms and cubic diamond of 8, 2 : 1) with Brenner labels."""
    from ase.build import bulk
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.io import write
    from matscipy.calculators.manybody import Manybody
    from matscipy.calculators.manybody.explicit_forms import TersoffBrenner
    from matscipy.calculators.manybody.explicit_forms.tersoff_brenner import Brenner_PRB_42_9458_C_I

    from ase_relaxed.structures import build_nanotube

    calc, rng, frames = Manybody(**TersoffBrenner(Brenner_PRB_42_9458_C_I)), np.random.default_rng(seed), []
    for k in range(n):
        atoms = bulk("C", "diamond", a=3.57, cubic=True) if k % 3 == 2 else build_nanotube(3, 3, length=2)
        atoms.positions += rng.normal(scale=0.05, size=atoms.positions.shape)
        atoms.calc = calc
        results = {"energy": atoms.get_potential_energy(), "forces": atoms.get_forces()}
        if atoms.pbc.all():
            results["stress"] = atoms.get_stress()
        atoms.calc = SinglePointCalculator(atoms, **results)
        frames.append(atoms)
    write(path, frames)
    return [len(a) for a in frames]


def write_config(folder: Path, data: Path, steps: int, batch_size: int, channels: int) -> Path:
    config = {
        "data": {"path": str(data), "val_fraction": 0.1, "test_fraction": 0.0},
        "model": {"species": ["C"], "cutoff": 4.0, "num_layers": 2, "channels": channels, "l_max": 1},
        "loss": {"energy_weight": 1.0, "forces_weight": 10.0, "stress_weight": 1.0},
        "optim": {"max_steps": steps, "batch_size": batch_size, "eval_every": steps, "checkpoint_every": steps},
        "distributed": {"backend": "gloo"},
        "out_dir": str(folder / "run"),
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "train.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def rows(log: Path) -> int:
    try:
        with open(log) as handle:
            return sum(1 for _ in csv.DictReader(handle))
    except (OSError, csv.Error):
        return 0


def time_run(config: Path, ranks: int, threads: int, skip: int, steps: int, timeout: float = 1800) -> dict:
    """Launch one training run (``threads`` OpenMP threads per rank) and time its steps skip+1 … steps-1
    from the log's growth."""
    command = [sys.executable, "-m", "ase_relaxed", "train", str(config), "--quiet"]
    if ranks > 1:
        command += ["--nproc", str(ranks)]
    log = config.parent / "run" / "log.csv"
    start = time.perf_counter()
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    marks: dict[int, float] = {}
    while process.poll() is None and time.perf_counter() - start < timeout:
        count = rows(log)
        if count not in marks:
            marks[count] = time.perf_counter()
        time.sleep(0.005)
    _, stderr = process.communicate(timeout=60)
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({process.returncode}):\n{stderr[-2000:]}")
    first, last = min(k for k in marks if k >= skip), max(k for k in marks if k < steps)  # last step validates
    return {"ranks": ranks, "threads_per_rank": threads, "timed_steps": last - first,
            "steps_per_s": (last - first) / (marks[last] - marks[first]),
            "wall_s_including_startup": time.perf_counter() - start, "command": " ".join(command[1:])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    parser.add_argument("--runs", nargs="+", default=[f"1x{cores}", "1x1", f"2x{max(1, cores // 2)}"],
                        help="RANKSxTHREADS (OpenMP threads per rank) for each configuration timed")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--skip", type=int, default=5, help="warm-up steps not timed")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--repeats", type=int, default=2, help="runs per rank count (best and all reported)")
    parser.add_argument("--quick", action="store_true", help="tiny smoke test; writes nothing")
    parser.add_argument("--out", default=str(HERE / "results" / "ddp.json"))
    args = parser.parse_args()
    if args.quick:
        args.steps, args.skip, args.frames, args.repeats, args.channels = 10, 2, 12, 1, 8
    import torch

    import ase_relaxed

    with tempfile.TemporaryDirectory() as scratch:
        data = Path(scratch) / "data.extxyz"
        sizes = labelled_data(data, args.frames)
        results = []
        for spec in args.runs:
            ranks, threads = (int(x) for x in spec.split("x"))
            runs = [time_run(write_config(Path(scratch) / f"r{spec}-{k}", data, args.steps, args.batch_size,
                                          args.channels), ranks, threads, args.skip, args.steps)
                    for k in range(args.repeats)]
            best = max(runs, key=lambda r: r["steps_per_s"])
            results.append({"ranks": ranks, "threads_per_rank": threads, "steps_per_s": best["steps_per_s"],
                            "structures_per_s": best["steps_per_s"] * args.batch_size,
                            "all_steps_per_s": [r["steps_per_s"] for r in runs], "runs": runs})
            each = ", ".join(f"{r['steps_per_s']:.2f}" for r in runs)
            rate = best["steps_per_s"]
            print(f"{ranks} rank(s) x {threads} thread(s): {rate:.2f} steps/s ({rate * args.batch_size:.1f} "
                  f"structures/s; runs: {each} steps/s)", flush=True)
    base = results[0]["steps_per_s"]
    for entry in results:
        entry["speedup_vs_first"] = entry["steps_per_s"] / base
    report = {
        "benchmark": "ase_relaxed data-parallel training (DistributedDataParallel, gloo, CPU)",
        "units": {"steps_per_s": "optimizer steps per second (global batch)", "structures_per_s": "structures/s"},
        "setup": {"global_batch_size": args.batch_size, "steps": args.steps, "untimed_warmup_steps": args.skip,
                  "frames": args.frames, "atoms_per_frame": sorted(set(sizes)), "model_channels": args.channels,
                  "num_layers": 2, "l_max": 1, "cutoff": 4.0, "dtype": "float64", "stress_weight": 1.0},
        "results": results,
        "gpu": "none: no GPU machine was lent to this task, so no nccl figure",
        "provenance": {
            "ase_relaxed": ase_relaxed.__version__, "torch": torch.__version__, "python": platform.python_version(),
            "host_cores": os.cpu_count(),
            "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
            "loadavg_before": LOAD_BEFORE, "loadavg_after": [round(x, 2) for x in os.getloadavg()],
            "platform": platform.platform(),
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "command": "python benchmarks/bench_ddp.py " + " ".join(sys.argv[1:]),
        },
    }
    if not args.quick:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
