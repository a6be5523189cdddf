"""Batched Langevin MD throughput: torch-sim (our TorchSimModel) against our ``ase-relaxed md --replicas N``.

    python benchmarks/bench_torch_sim.py                       # carbon-gfn1, 16 × 8-atom diamond, 20 steps
    python benchmarks/bench_torch_sim.py --threads 1 2         # each side at 1 and at 2 torch threads
    python benchmarks/bench_torch_sim.py --quick               # tiny random model, 3 steps: a smoke test

Same model, same dtype and device, same N copies of the same structure (``--structure``, a builder
spec or file), same Langevin settings (T, Δt, friction γ, seed), in the same run, one after the other:

* ours: ``ase-relaxed md STRUCTURE --ensemble langevin --replicas N ...`` in a subprocess; N replicas
  each step ASE's Langevin in lockstep with one batched ``calculate_batch`` per step; its own
  "# done" line gives steps/s (the wall time of ``MDRunner.run``: the step-0 force call and the steps);
* torch-sim: this script with ``--worker`` in a subprocess: ``atoms_to_state`` of the N copies,
  ``ts.nvt_langevin`` (BAOAB) through :func:`ase_relaxed.integrations.torch_sim.langevin`, one batched
  ``TorchSimModel`` call per step (no stress: NVT needs none); timed from the step-0 call to the end.

Both are fresh processes with the same ``OMP_NUM_THREADS``/``torch.set_num_threads`` (``--threads``) and
neither is warmed up, so each pays its first-call set-up once.  Throughput is
atom-steps/s = atoms per system × N × steps / wall.  Writes benchmarks/results/torch_sim.json with the
machine, versions, load averages and both command lines.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def worker(args: argparse.Namespace) -> None:
    """The torch-sim side, in its own process: print one JSON line."""
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    from ase_relaxed.integrations.torch_sim import TorchSimModel, atoms_to_state, langevin
    from ase_relaxed.structures import read_structures

    atoms = read_structures(args.structure, "-1")[0]
    model = TorchSimModel(args.model, device=args.device, dtype=args.dtype, compute_stress=False, on_close="ignore",
                          skin=args.skin)
    state = atoms_to_state([atoms] * args.systems, model)
    start = time.perf_counter()
    final, temperatures = langevin(model, state, args.steps, args.temperature, args.timestep, args.friction,
                                   seed=args.seed)
    if model.device.type == "cuda":
        torch.cuda.synchronize()
    wall = time.perf_counter() - start
    print(json.dumps({"wall_s": wall, "steps": args.steps, "n_systems": args.systems, "atoms_per_system": len(atoms),
                      "device": str(model.device), "dtype": str(model.dtype), "torch_threads": torch.get_num_threads(),
                      "final_temperature_mean_K": float(temperatures[-1].mean()),
                      "positions_finite": bool(torch.isfinite(final.positions).all()),
                      "neighbor_list_builds": model.neighbor_list_builds, "skin_A": args.skin,
                      "run_temperature_mean_K": float(np.mean(temperatures))}))


def common_flags(args: argparse.Namespace) -> list[str]:
    return ["--model", args.model, "--dtype", args.dtype, "--device", args.device, "--temperature",
            str(args.temperature), "--timestep", str(args.timestep), "--friction", str(args.friction), "--seed",
            str(args.seed), "--steps", str(args.steps)]


def run(command: list[str], threads: int) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    out = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{out.stderr[-3000:]}")
    return out.stdout


def run_ours(args: argparse.Namespace, threads: int, n_atoms: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "md.csv"
        command = ["ase-relaxed", "md", args.structure, "--ensemble", "langevin", "--replicas", str(args.systems),
                   *common_flags(args), "--traj", "none", "--checkpoint", "none", "--log", str(log),
                   "--interval", str(args.steps), "--quiet"]
        stdout = run(command, threads)
        done = re.search(r"# done: step \d+ \((\d+) steps in ([\d.]+) s, ([\d.eE+-]+) steps/s", stdout)
        if done is None:
            raise SystemExit(f"no '# done' line in:\n{stdout}")
        finals = []
        for k in range(args.systems):
            rows = (Path(tmp) / f"md_r{k}.csv").read_text().strip().splitlines()
            header = rows[0].split(",")
            finals.append(float(rows[-1].split(",")[header.index("temperature")]))
    steps_per_s = float(done.group(3))
    return {"command": " ".join(command), "torch_threads": threads, "steps": int(done.group(1)),
            "wall_s_printed": float(done.group(2)), "steps_per_s": steps_per_s,
            "atom_steps_per_s": steps_per_s * n_atoms * args.systems,
            "final_temperature_mean_K": sum(finals) / len(finals), "header": stdout.splitlines()[0]}


def run_torch_sim(args: argparse.Namespace, threads: int) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", "--structure", args.structure, "--systems",
               str(args.systems), "--threads", str(threads), "--skin", str(args.skin), *common_flags(args)]
    result = json.loads(run(command, threads).strip().splitlines()[-1])
    atom_steps = result["atoms_per_system"] * result["n_systems"] * result["steps"]
    return {"command": " ".join(command[1:]), **result, "steps_per_s": result["steps"] / result["wall_s"],
            "atom_steps_per_s": atom_steps / result["wall_s"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="carbon-gfn1")
    parser.add_argument("--structure", default="diamond:C:size=1", help="builder spec or file (default 8 atoms)")
    parser.add_argument("--systems", type=int, default=16, help="systems (torch-sim) = replicas (ours)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--temperature", type=float, default=300.0, help="K")
    parser.add_argument("--timestep", type=float, default=0.5, help="fs")
    parser.add_argument("--friction", type=float, default=0.01, help="1/fs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--skin", type=float, default=0.0, help="torch-sim side neighbour-list skin, Å (default 0)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1], help="torch threads, each side (default 1)")
    parser.add_argument("--quick", action="store_true", help="tiny random model, 3 steps: not for reporting")
    parser.add_argument("--out", default=None, help="JSON (default benchmarks/results/torch_sim.json; none if --quick)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        args.threads = args.threads[0]
        return worker(args)
    if args.quick:
        args.model, args.steps, args.systems = "demo-carbon-random", 3, 4

    from importlib.metadata import version

    from bench_calculator import loadavg, machine_info, software_versions

    from ase_relaxed.structures import read_structures

    n_atoms = len(read_structures(args.structure, "-1")[0])
    report: dict[str, Any] = {
        "benchmark": "batched Langevin MD throughput (atom-steps/s): torch-sim + TorchSimModel vs ase-relaxed md "
                     "--replicas",
        "machine": machine_info(),
        "versions": {**software_versions(), "torch-sim-atomistic": version("torch-sim-atomistic")},
        "settings": {k: getattr(args, k) for k in ("model", "structure", "systems", "steps", "temperature",
                                                   "timestep", "friction", "seed", "dtype", "device", "skin")},
        "atoms_per_system": n_atoms,
        "units": {"atom_steps_per_s": "atom-steps/s", "wall_s": "s", "temperature": "K"},
        "loadavg_before": loadavg(), "runs": [],
    }
    for threads in args.threads:
        ours = run_ours(args, threads, n_atoms)
        ts_result = run_torch_sim(args, threads)
        ratio = ts_result["atom_steps_per_s"] / ours["atom_steps_per_s"]
        report["runs"].append({"torch_threads": threads, "replicas": ours, "torch_sim": ts_result,
                               "torch_sim_over_replicas": ratio, "loadavg_after": loadavg()})
        print(f"{args.systems} x {n_atoms} atoms, {args.steps} steps, {args.model} {args.dtype} {args.device}, "
              f"{threads} thread(s): replicas {ours['atom_steps_per_s']:.0f} atom-steps/s, torch-sim "
              f"{ts_result['atom_steps_per_s']:.0f} atom-steps/s ({ratio:.2f}x); final T "
              f"{ours['final_temperature_mean_K']:.0f} K / {ts_result['final_temperature_mean_K']:.0f} K")
    report["loadavg_after"] = loadavg()
    out = args.out or (None if args.quick else str(HERE / "results" / "torch_sim.json"))
    if out:
        Path(out).write_text(json.dumps(report, indent=1) + "\n")
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
