"""LAMMPS benchmark: NVE steps/s of ``pair_style mliap unified`` on 1 and 2 MPI ranks against our ``MDRunner``.

    . ~/.local/lammps-ase-relaxed/env.sh                     # a LAMMPS from scripts/build_lammps.sh
    python benchmarks/bench_lammps.py                       # 1000 + 10 000 atoms → results/lammps_cpu.json
    python benchmarks/bench_lammps.py --sizes 200 --steps 3 # smoke test (not for reporting)

One run, one model (``--model``, default the shipped ``carbon-gfn1``, in its own dtype), one structure
per size: a (10,0) carbon nanotube ``build_nanotube(10, 0, length=L)`` (40 atoms per cell) centred in a
box with 6 Å of vacuum, periodic along its axis, with Maxwell–Boltzmann velocities at 300 K; velocity
Verlet at 0.5 fs.  Cases, each in its own process so that its peak memory is its own:

* ``mdrunner``: our ``MDRunner`` (guard every step, log/trajectory/checkpoint every ``--interval``),
  torch with ``--threads`` threads; window from the start of step 1 to the end (``bench_md.time_runner``);
* ``lammps-1``: ``lmp`` on one rank with ``OMP_NUM_THREADS=--threads`` (torch's threads inside LAMMPS);
* ``lammps-2``: ``mpirun -np 2`` with one thread per rank (the same cores, split by domain).

LAMMPS's figure is its own ``Loop time`` of a ``run N`` after a ``run 1`` warm-up (setup, the model
load and the first force call excluded, as in the runner's window).  Memory: each process's peak
resident set (``/usr/bin/time -f %M``), summed over ranks, per atom.  The 2-layer model needs a LAMMPS
pair list of range 2·r_c (see ``ase_relaxed.integrations.lammps``), which is what these figures pay for.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import ase.io

HERE = Path(__file__).resolve().parent
ATOMS_PER_CELL = 40  # a (10,0) tube has 40 atoms per primitive cell
MAXRSS = re.compile(r"^maxrss_kb (\d+)$", re.MULTILINE)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--model", default="carbon-gfn1", help="model name or file (default: carbon-gfn1)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000],
                        help="tube sizes in atoms, multiples of 40 (default: 1000 10000)")
    parser.add_argument("--steps", type=int, default=10,
                        help="timed steps at 1000 atoms; scaled by 1000/N, at least --min-steps (default: 10)")
    parser.add_argument("--min-steps", type=int, default=3, help="fewest timed steps for any size (default: 3)")
    parser.add_argument("--threads", type=int, default=2, help="cores used by every case (default: 2)")
    parser.add_argument("--interval", type=int, default=10, help="MDRunner output interval, steps (default: 10)")
    parser.add_argument("--timestep", type=float, default=0.5, help="time step, fs (default: 0.5)")
    parser.add_argument("--temperature", type=float, default=300.0, help="initial temperature, K (default: 300)")
    parser.add_argument("--seed", type=int, default=0, help="velocity seed (default: 0)")
    parser.add_argument("--output", default=str(HERE / "results" / "lammps_cpu.json"),
                        help="result JSON (default: benchmarks/results/lammps_cpu.json)")
    parser.add_argument("--inner-mdrunner", metavar="EXTXYZ", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    bad = [n for n in args.sizes if n <= 0 or n % ATOMS_PER_CELL]
    if bad:
        parser.error(f"--sizes {bad}: a (10,0) tube has {ATOMS_PER_CELL} atoms per cell; give multiples of 40")
    if args.steps < 1 or args.min_steps < 1:
        parser.error("--steps and --min-steps must be at least 1")
    return args


def steps_for(args: argparse.Namespace, n_atoms: int) -> int:
    return max(args.min_steps, round(args.steps * 1000 / n_atoms))


def build_tube(n_atoms: int, temperature: float, seed: int):
    from ase_relaxed.md.runner import initialise_velocities
    from ase_relaxed.structures import build_nanotube

    atoms = build_nanotube(10, 0, length=n_atoms // ATOMS_PER_CELL)
    atoms.center(vacuum=6.0, axis=(0, 1))
    atoms.pbc = True
    initialise_velocities(atoms, temperature, seed)
    return atoms


def _timed(command: list[str], env: dict[str, str], cwd: Path) -> tuple[str, list[int]]:
    """Run ``command`` (stdout returned) with every process's peak RSS in kB from ``/usr/bin/time``."""
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise RuntimeError(f"{' '.join(command[:4])} ... failed (exit {done.returncode}):\n{tail}")
    return done.stdout, [int(kb) for kb in MAXRSS.findall(done.stderr)]


def time_mdrunner(args: argparse.Namespace, structure: Path, workdir: Path, steps: int) -> dict[str, Any]:
    """Run this script's inner mode (MDRunner) in a fresh process under ``/usr/bin/time``."""
    command = ["/usr/bin/time", "-f", "maxrss_kb %M", sys.executable, __file__, "--inner-mdrunner", str(structure),
               "--model", args.model, "--steps", str(steps), "--min-steps", "1", "--threads", str(args.threads),
               "--interval", str(args.interval), "--timestep", str(args.timestep),
               "--temperature", str(args.temperature), "--seed", str(args.seed)]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    stdout, rss = _timed(command, env, workdir)
    result = json.loads([line for line in stdout.splitlines() if line.startswith("{")][-1])
    result["peak_rss_kb"] = rss
    return result


def inner_mdrunner(args: argparse.Namespace) -> None:
    """The ``mdrunner`` case inside its own process: prints one JSON line."""
    import torch
    from bench_md import time_runner

    from ase_relaxed import RelaxedCalculator

    torch.set_num_threads(args.threads)
    atoms = ase.io.read(args.inner_mdrunner)
    calc = RelaxedCalculator(args.model, device="cpu")
    setup = argparse.Namespace(temperature=args.temperature, timestep=args.timestep, seed=args.seed,
                               interval=args.interval, warmup=1, steps=args.steps)
    with tempfile.TemporaryDirectory() as folder:
        case = time_runner(calc, atoms, setup, Path(folder))
    print(json.dumps({key: case[key] for key in ("n_atoms", "steps", "wall_s", "steps_per_s", "ns_per_day")}))


def lammps_input(potential: Path, data: Path, steps: int, timestep_fs: float) -> str:
    from ase_relaxed.integrations.lammps.setup import input_lines, site_dir

    lines = input_lines(potential, ["C"], site_dir())
    lines.insert(lines.index("newton on") + 1, f"read_data {data}")
    lines += [f"timestep {timestep_fs / 1000}", "fix integrate all nve", "thermo_style custom step pe ke etotal",
              "thermo 1000000", "run 1", f"run {steps}"]
    return "\n".join(lines) + "\n"


def time_lammps(args: argparse.Namespace, potential: Path, data: Path, workdir: Path, steps: int,
                ranks: int) -> dict[str, Any]:
    """``lmp`` on ``ranks`` ranks; steps/s from the ``Loop time`` of the timed ``run``."""
    tag = f"{data.stem}-{ranks}"
    (workdir / f"in.{tag}").write_text(lammps_input(potential, data, steps, args.timestep))
    lmp = [shutil.which("lmp") or "lmp", "-in", f"in.{tag}", "-log", f"log.{tag}", "-screen", "none"]
    command = ["/usr/bin/time", "-f", "maxrss_kb %M", *lmp]
    threads = args.threads if ranks == 1 else max(1, args.threads // ranks)
    if ranks > 1:
        command = [shutil.which("mpirun") or "mpirun", "--allow-run-as-root", "--oversubscribe", "-np", str(ranks),
                   "-x", f"OMP_NUM_THREADS={threads}", *command]
    _, rss = _timed(command, dict(os.environ, OMP_NUM_THREADS=str(threads)), workdir)
    log = (workdir / f"log.{tag}").read_text()
    loops = re.findall(r"Loop time of ([\d.eE+-]+) on (\d+) procs for (\d+) steps with (\d+) atoms", log)
    seconds, _, done_steps, atoms = loops[-1]  # LAMMPS's "procs" are ranks × OpenMP threads
    return {"n_atoms": int(atoms), "ranks": ranks, "threads_per_rank": threads, "steps": int(done_steps),
            "wall_s": float(seconds), "steps_per_s": int(done_steps) / float(seconds),
            "ns_per_day": int(done_steps) / float(seconds) * args.timestep * 1e-6 * 86400, "peak_rss_kb": rss}


def lammps_missing() -> str | None:
    if shutil.which("lmp") is None:
        return "no lmp on PATH: build one with scripts/build_lammps.sh and `. PREFIX/env.sh`"
    if shutil.which("mpirun") is None:
        return "no mpirun on PATH (apt install openmpi-bin)"
    return None


def table(result: dict[str, Any]) -> str:
    """Markdown: one row per case and size; the ratio is steps/s against the MDRunner of the same size."""
    rows = ["| atoms | case | ranks × threads | steps | steps/s | ns/day | peak memory | memory/atom | "
            "× MDRunner |", "|---:|---|---|---:|---:|---:|---:|---:|---:|"]
    for size, cases in result["sizes"].items():
        base = cases["mdrunner"]["steps_per_s"]
        for name, case in cases.items():
            kb = sum(case["peak_rss_kb"])
            layout = f"{case.get('ranks', 1)} × {case.get('threads_per_rank', result['settings']['threads'])}"
            rows.append(f"| {size} | {name} | {layout} | {case['steps']} | {case['steps_per_s']:.3g} | "
                        f"{case['ns_per_day']:.3g} | {kb / 1024:.0f} MiB | {kb / int(size):.1f} kB | "
                        f"{case['steps_per_s'] / base:.2f} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.inner_mdrunner:
        inner_mdrunner(args)
        return 0
    missing = lammps_missing()
    if missing:
        print(f"bench_lammps: {missing}", file=sys.stderr)
        return 2
    sys.path.insert(0, str(HERE))
    from bench_calculator import loadavg, machine_info, software_versions

    from ase_relaxed.integrations.lammps.potential import MLIAPPotential, write_potential

    result: dict[str, Any] = {"benchmark": "bench_lammps", "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                              "settings": {k: v for k, v in vars(args).items() if k != "inner_mdrunner"},
                              "software": software_versions(), "machine": machine_info(), "sizes": {}}
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        potential = MLIAPPotential(args.model, name=args.model)
        result["model"] = potential.provenance
        result["potential_sha256"] = write_potential(potential, workdir / "potential.pkl")
        for n_atoms in args.sizes:
            steps = steps_for(args, n_atoms)
            atoms = build_tube(n_atoms, args.temperature, args.seed)
            structure, data = workdir / f"tube{n_atoms}.extxyz", workdir / f"tube{n_atoms}.data"
            ase.io.write(structure, atoms)
            ase.io.write(data, atoms, format="lammps-data", masses=True, velocities=True, units="metal")
            cases: dict[str, Any] = {}
            for name, run in (("mdrunner", lambda: time_mdrunner(args, structure, workdir, steps)),
                              ("lammps-1", lambda: time_lammps(args, workdir / "potential.pkl", data, workdir,
                                                               steps, 1)),
                              ("lammps-2", lambda: time_lammps(args, workdir / "potential.pkl", data, workdir,
                                                               steps, 2))):
                cases[name] = run()
                cases[name]["loadavg"] = loadavg()
                print(f"{n_atoms} atoms, {name}: {cases[name]['steps_per_s']:.3g} steps/s, peak "
                      f"{sum(cases[name]['peak_rss_kb']) / 1024:.0f} MiB", file=sys.stderr, flush=True)
            result["sizes"][str(n_atoms)] = cases
    result["table"] = table(result)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=1) + "\n")
    print(result["table"])
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
