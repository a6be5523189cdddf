"""MD benchmark: steps per second of NVE velocity Verlet on a 1000-atom nanotube, ours against MACE.

    python benchmarks/bench_md.py                      # full CPU run → benchmarks/results/md_cpu.json
    python benchmarks/bench_md.py --quick --steps 3    # 200-atom smoke test (not for reporting)
    python benchmarks/bench_md.py --device cuda        # GPU run, plus replica throughput → md_cuda.json

A (10,0) carbon nanotube (``build_nanotube(10, 0, length=25)``: 1000 atoms, pbc F,F,T) is
given Maxwell–Boltzmann momenta at 300 K from ``default_rng(seed)`` (centre-of-mass momentum
removed) and integrated with velocity Verlet at 0.5 fs.  Timed, after warm-up steps:

* ours through the MD runner (``MDRunner.run``: guard every step; log row, trajectory frame
  and checkpoint every ``--interval`` steps), and through plain ``ase.md.verlet.VelocityVerlet``;
* a random-weight MACE of about the same size (``mace_peer.MACE_HYPERS``) through plain ASE
  ``VelocityVerlet``, in ``benchmarks/.venv-mace`` via ``mace_md_peer.py``, on the same file.

For our calculator the step time is split into neighbour list, graph build, model
(``calc._evaluate``: forward + force backward) and the rest (integrator, guard, outputs,
checkpoint, ASE plumbing); the fraction outside the model has a target of < 15 %.
See benchmarks/MD.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import ase
import ase.io
import torch
from ase import Atoms, units
from ase.md.verlet import VelocityVerlet
from bench_calculator import loadavg, machine_info, software_versions
from stopwatch import Stopwatch

from ase_relaxed import ModelConfig, RelaxedCalculator, build_model
from ase_relaxed.md import MDOptions, MDRunner
from ase_relaxed.md.runner import initialise_velocities, ns_per_day
from ase_relaxed.structures import build_nanotube

HERE = Path(__file__).resolve().parent
OUTSIDE_TARGET = 0.15  # the fraction of step time outside the model that issue 8 asks us to stay under
def step_stats(stamps: list[float], n_atoms: int, n_replicas: int, timestep_fs: float) -> dict[str, Any]:
    """Throughput from the times at which steps 0..N ended (stamps[0]: start of the first timed step)."""
    samples = [b - a for a, b in zip(stamps, stamps[1:])]
    wall = stamps[-1] - stamps[0]
    steps_per_s = len(samples) / wall
    return {
        "n_atoms": n_atoms,
        "n_replicas": n_replicas,
        "steps": len(samples),
        "wall_s": wall,
        "steps_per_s": steps_per_s,
        "ns_per_day": ns_per_day(steps_per_s, timestep_fs),
        "atom_steps_per_s": steps_per_s * n_atoms * n_replicas,
        "step_s": {"median_s": statistics.median(samples), "min_s": min(samples),
                   "mean_s": wall / len(samples), "samples_s": samples},
    }


def breakdown(watch: Stopwatch, wall: float, steps: int, extra: tuple[str, ...] = ()) -> dict[str, Any]:
    """Per-step seconds of each part and fractions of the wall time; ``other`` is what no wrapper saw.

    ``extra`` names further timed keys (runner: guard, outputs, checkpoint) that are not nested
    in the calculator's.
    """
    nl = watch.seconds["neighbour_list"]
    graph = watch.seconds["graph_total"] - nl  # _graph minus the _edges inside it
    model = watch.seconds["model"]
    parts = {"neighbour_list": nl, "graph_build": graph, "model": model}
    for key in extra:
        parts[key] = watch.seconds[key]
    parts["other"] = wall - sum(parts.values())
    return {
        "per_step_s": {key: value / steps for key, value in parts.items()},
        "fraction": {key: value / wall for key, value in parts.items()},
        "integrator_and_io_fraction": (wall - nl - graph - model) / wall,
        "outside_model_fraction": (wall - model) / wall,
        "calls": dict(watch.calls),
    }


def total_energy_per_atom(atoms: Atoms) -> float:
    return float(atoms.get_potential_energy() + atoms.get_kinetic_energy()) / len(atoms)


def etot_change_from_log(path: Path, n_atoms: int) -> float:
    """E_tot(last row) - E_tot(step 0) per atom, from the runner's CSV log."""
    lines = path.read_text().splitlines()
    column = lines[0].split(",").index("etot")
    return (float(lines[-1].split(",")[column]) - float(lines[1].split(",")[column])) / n_atoms


def watch_calculator(watch: Stopwatch, calc: RelaxedCalculator) -> None:
    """Time the neighbour list, the whole graph build and the model call of ``calc``."""
    watch.wrap(calc, "_edges", "neighbour_list")
    watch.wrap(calc, "_graph", "graph_total")
    watch.wrap(calc, "_evaluate", "model")


def md_options(args: argparse.Namespace, **overrides: Any) -> MDOptions:
    values = {"ensemble": "nve", "temperature": args.temperature, "timestep": args.timestep, "seed": args.seed,
              "interval": args.interval, "quiet": True}
    return MDOptions.from_sources(values, overrides)


def time_runner(calc: RelaxedCalculator, base: Atoms, args: argparse.Namespace, workdir: Path,
                replicas: int = 1) -> dict[str, Any]:
    """Steps/s of ``MDRunner.run`` with log, trajectory and checkpoint every ``--interval`` steps.

    Warm-up: a separate run of ``--warmup`` steps with no outputs.  Timed: a fresh run of
    ``--steps`` steps from the same initial state; the window opens when step 1 starts (the
    step-0 evaluation and its outputs are not timed) and closes when ``run()`` returns.
    """
    if args.warmup:
        MDRunner(base, calc, md_options(args, steps=args.warmup, replicas=replicas, traj="none", log="none",
                                        checkpoint="none")).run(progress=False)
    workdir.mkdir(parents=True, exist_ok=True)
    options = md_options(args, steps=args.steps, replicas=replicas, traj=str(workdir / "md.extxyz"),
                         log=str(workdir / "md.csv"), checkpoint=str(workdir / "md.checkpoint.npz"))
    runner = MDRunner(base, calc, options)
    watch, stamps = Stopwatch(), []
    step = runner.step

    def timed_step() -> None:
        stamps.append(time.perf_counter())
        watch.active = True
        step()

    watch_calculator(watch, calc)
    watch.wrap(runner.guard, "check", "guard")
    watch.wrap(runner, "write_outputs", "outputs")
    watch.wrap(runner, "save_checkpoint", "checkpoint")
    runner.step = timed_step  # type: ignore[method-assign]
    try:
        runner.run(progress=False)
        stamps.append(time.perf_counter())
    finally:
        watch.active = False
        watch.restore()
    out = step_stats(stamps, len(base), replicas, args.timestep)
    out["breakdown"] = breakdown(watch, out["wall_s"], out["steps"], ("guard", "outputs", "checkpoint"))
    out["outputs_written"] = watch.calls.get("outputs", 0)
    out["checkpoints_written"] = watch.calls.get("checkpoint", 0)
    out["output_bytes"] = {p.name: p.stat().st_size for p in sorted(workdir.iterdir()) if p.is_file()}
    out["etot_change_eV_per_atom"] = etot_change_from_log(Path(options.replica_path(options.log, 0)), len(base))
    return out


def time_ase_verlet(calc: RelaxedCalculator, base: Atoms, args: argparse.Namespace) -> dict[str, Any]:
    """Steps/s of plain ``ase.md.verlet.VelocityVerlet`` (no observers but a time stamp per step)."""
    dt = args.timestep * units.fs

    def fresh() -> Atoms:
        atoms = base.copy()  # positions and the Maxwell-Boltzmann momenta from the shared file
        atoms.calc = calc
        return atoms

    if args.warmup:
        VelocityVerlet(fresh(), timestep=dt).run(args.warmup)
    atoms = fresh()
    atoms.get_forces()  # the step-0 evaluation, outside the timed window
    etot0 = total_energy_per_atom(atoms)
    dynamics = VelocityVerlet(atoms, timestep=dt)
    watch, stamps = Stopwatch(), []

    def stamp() -> None:
        stamps.append(time.perf_counter())
        watch.active = True

    dynamics.attach(stamp, interval=1)
    watch_calculator(watch, calc)
    try:
        dynamics.run(args.steps)
    finally:
        watch.active = False
        watch.restore()
    out = step_stats(stamps, len(base), 1, args.timestep)
    out["breakdown"] = breakdown(watch, out["wall_s"], out["steps"])
    out["etot_change_eV_per_atom"] = total_energy_per_atom(atoms) - etot0
    return out


def make_calculator(args: argparse.Namespace, dtype: str) -> tuple[RelaxedCalculator, dict[str, Any], int]:
    """Our random-weight model (as in bench_calculator.py) in ``dtype`` on ``--device``."""
    config = ModelConfig(species=["C"], cutoff=5.0, num_layers=args.num_layers, channels=args.channels,
                         l_max=args.l_max, dtype=dtype)
    model = build_model(config)
    parameters = sum(p.numel() for p in model.parameters())
    calc = RelaxedCalculator(model, device=args.device, dtype=dtype, tensor_product=args.tensor_product)
    return calc, {k: v for k, v in config.to_dict().items() if k != "dtype"}, parameters


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def describe(case: dict[str, Any]) -> str:
    return (f"{case['steps_per_s']:.3g} steps/s, {case['step_s']['median_s'] * 1e3:.1f} ms/step median, "
            f"outside model {case['breakdown']['outside_model_fraction']:.1%}")


def run_ours(args: argparse.Namespace, base: Atoms, workdir: Path) -> dict[str, Any]:
    """Runner and plain-ASE cases for every dtype, and replica throughput on CUDA."""
    out: dict[str, Any] = {"runner": {}, "ase_verlet": {}}
    for dtype in args.dtypes:
        calc, config, parameters = make_calculator(args, dtype)
        out["config"], out["parameters"], out["tensor_product"] = config, parameters, calc.tensor_product
        out["runner"][dtype] = time_runner(calc, base, args, workdir / f"runner_{dtype}")
        log(f"ours {dtype} runner: {describe(out['runner'][dtype])}")
        out["ase_verlet"][dtype] = time_ase_verlet(calc, base, args)
        log(f"ours {dtype} ASE VelocityVerlet: {describe(out['ase_verlet'][dtype])}")
    out["replicas"] = run_replicas(args, base, workdir)
    return out


def run_replicas(args: argparse.Namespace, base: Atoms, workdir: Path) -> dict[str, Any]:
    """N lockstepped replicas (one ``calculate_batch`` per step) through the runner; CUDA only."""
    if args.device != "cuda" and not args.replicas_on_cpu:
        message = "skipped: replica throughput is measured with --device cuda only"
        log(f"replicas: {message}")
        return {"skipped": message}
    out: dict[str, Any] = {}
    for dtype in args.dtypes:
        calc, _, _ = make_calculator(args, dtype)
        for n in args.replicas:
            case = time_runner(calc, base, args, workdir / f"replicas_{dtype}_{n}", replicas=n)
            out.setdefault(dtype, {})[str(n)] = case
            log(f"ours {dtype} {n} replicas: {case['steps_per_s'] * n:.3g} replica-steps/s, "
                f"{case['atom_steps_per_s']:.3g} atom-steps/s")
    return out


def run_mace(args: argparse.Namespace, structure_file: Path) -> dict[str, Any] | None:
    """Run mace_md_peer.py in the MACE venv; its JSON, or None with a message when it cannot run."""
    python = Path(args.mace_python)
    if not python.exists():
        log(f"\nMACE venv not found at {python}: skipping the MACE side. Set it up with\n"
            f"  python -m venv benchmarks/.venv-mace\n"
            f"  benchmarks/.venv-mace/bin/pip install torch==2.13.0\n"
            f"  benchmarks/.venv-mace/bin/pip install mace-torch==0.3.16 ase\n"
            f"or pass --skip-mace.\n")
        return None
    command = [str(python), str(HERE / "mace_md_peer.py"), "--structure", str(structure_file),
               "--steps", str(args.steps), "--warmup", str(args.warmup), "--timestep", str(args.timestep),
               "--threads", str(args.threads), "--seed", str(args.seed), "--device", args.device,
               "--dtypes", *args.dtypes]
    env = dict(os.environ, TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD="1", OMP_NUM_THREADS=str(args.threads))
    done = subprocess.run(command, stdout=subprocess.PIPE, stderr=None, text=True, env=env)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"mace_md_peer.py failed (exit {done.returncode}); its stderr is above")
    return json.loads(lines[-1])


# -- report ------------------------------------------------------------------------------------
def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}" if a and b else "–"


def table(result: dict[str, Any]) -> str:
    """Markdown: throughput per case (ours/MACE > 1: ours is faster), then our step-time breakdown."""
    ours, mace = result["ours"], result.get("mace") or {}
    mace_cases = mace.get("ase_verlet", {})
    rows = ["| case | dtype | atoms | steps/s | ms/step (median) | ns/day | outside model | ours/MACE steps/s |",
            "|---|---|---:|---:|---:|---:|---:|---:|"]

    def row(name: str, dtype: str, case: dict[str, Any], versus: dict[str, Any] | None) -> str:
        fraction = case["breakdown"]["outside_model_fraction"]
        return (f"| {name} | {dtype} | {case['n_atoms']} | {case['steps_per_s']:.3g} | "
                f"{case['step_s']['median_s'] * 1e3:.1f} | {case['ns_per_day']:.3g} | {fraction:.1%} | "
                f"{_ratio(case['steps_per_s'], versus['steps_per_s']) if versus else ''} |")

    for dtype in result["settings"]["dtypes"]:
        versus = mace_cases.get(dtype)
        rows.append(row("ours, `MDRunner` (guard; log+traj+checkpoint every "
                        f"{result['settings']['interval']})", dtype, ours["runner"][dtype], versus))
        rows.append(row("ours, ASE `VelocityVerlet`", dtype, ours["ase_verlet"][dtype], versus))
        if versus:
            rows.append(row("MACE, ASE `VelocityVerlet`", dtype, versus, None))
    params = mace.get("parameters")
    rows += ["", f"Parameters: ours {ours['parameters']:,}, MACE {f'{params:,}' if params else '–'}."]

    rows += ["", "Step time of our calculator, ms/step (fraction of the wall time):", "",
             "| case | dtype | neighbour list | graph build | model | guard | outputs | checkpoint | other "
             "| integrator+I/O | outside model (target < 15%) |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name in ("runner", "ase_verlet"):
        for dtype in result["settings"]["dtypes"]:
            b = ours[name][dtype]["breakdown"]
            cells = []
            for key in ("neighbour_list", "graph_build", "model", "guard", "outputs", "checkpoint", "other"):
                cells.append(f"{b['per_step_s'][key] * 1e3:.2f} ({b['fraction'][key]:.1%})"
                             if key in b["per_step_s"] else "–")
            outside = b["outside_model_fraction"]
            rows.append(f"| {name} | {dtype} | {' | '.join(cells)} | {b['integrator_and_io_fraction']:.1%} | "
                        f"{outside:.1%} {'✓' if outside < OUTSIDE_TARGET else '✗'} |")
    for dtype, case in mace_cases.items():
        b = case["breakdown"]
        rows.append(f"| MACE ase_verlet | {dtype} | {b['per_step_s']['neighbour_list'] * 1e3:.2f} "
                    f"({b['fraction']['neighbour_list']:.1%}) | {b['per_step_s']['graph_build'] * 1e3:.2f} "
                    f"({b['fraction']['graph_build']:.1%}) | {b['per_step_s']['model'] * 1e3:.2f} "
                    f"({b['fraction']['model']:.1%}) | – | – | – | {b['per_step_s']['other'] * 1e3:.2f} "
                    f"({b['fraction']['other']:.1%}) | {b['integrator_and_io_fraction']:.1%} | "
                    f"{b['outside_model_fraction']:.1%} |")

    replicas = ours.get("replicas", {})
    if "skipped" in replicas:
        rows += ["", f"Replicas: {replicas['skipped']}."]
    elif replicas:
        rows += ["", "Replicas (lockstep, one batched evaluation per step):", "",
                 "| dtype | replicas | steps/s | replica-steps/s | atom-steps/s | ns/day per replica |",
                 "|---|---:|---:|---:|---:|---:|"]
        for dtype, cases in replicas.items():
            for n, case in cases.items():
                rows.append(f"| {dtype} | {n} | {case['steps_per_s']:.3g} | {case['steps_per_s'] * int(n):.3g} | "
                            f"{case['atom_steps_per_s']:.3g} | {case['ns_per_day']:.3g} |")
    if mace.get("skipped"):
        rows += ["", f"MACE: {mace['skipped']}."]
    return "\n".join(rows)


# -- driver ------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="timed MD steps per case (default 20)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed warm-up steps (default 3; 1 with --quick)")
    parser.add_argument("--quick", action="store_true", help="200-atom tube (length 5): a smoke test")
    parser.add_argument("--length", type=int, default=None, help="tube length, unit cells (default 25; 5 with --quick)")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads for both sides")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--tensor-product", choices=("auto", "e3nn", "cuequivariance"), default="auto",
                        help="message tensor-product kernels (auto: cuEquivariance on CUDA when installed)")
    parser.add_argument("--dtypes", nargs="+", choices=("float32", "float64"), default=["float32", "float64"])
    parser.add_argument("--timestep", type=float, default=0.5, help="fs")
    parser.add_argument("--temperature", type=float, default=300.0, help="K, Maxwell-Boltzmann start")
    parser.add_argument("--interval", type=int, default=10, help="runner: log/trajectory/checkpoint every N steps")
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 2, 4, 8],
                        help="replica counts for the throughput run (CUDA only)")
    parser.add_argument("--replicas-on-cpu", action="store_true",
                        help="run the replica cases on CPU too (to test the code path; timings not meaningful)")
    parser.add_argument("--skip-mace", action="store_true", help="time our calculator only")
    parser.add_argument("--mace-python", default=str(HERE / ".venv-mace" / "bin" / "python"))
    parser.add_argument("--out", default=None, help="JSON path (default benchmarks/results/md_<device>[_quick].json)")
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--l-max", type=int, default=3)
    parser.add_argument("--num-layers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.warmup is None:
        args.warmup = 1 if args.quick else 3
    if args.length is None:
        args.length = 5 if args.quick else 25
    if args.out is None:
        args.out = str(HERE / "results" / f"md_{args.device}{'_quick' if args.quick else ''}.json")
    if args.steps < 1 or args.warmup < 0:
        parser.error("--steps must be >= 1 and --warmup >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        log("--device cuda: CUDA is not available here; run on CPU (--device cpu) or on a GPU machine")
        return 2
    torch.set_num_threads(args.threads)
    base = build_nanotube(10, 0, length=args.length)
    initialise_velocities(base, args.temperature, args.seed)  # what MDRunner does with the same seed
    with tempfile.TemporaryDirectory() as tmp:
        structure_file = Path(tmp) / "structure.extxyz"
        ase.io.write(structure_file, base)
        base = ase.io.read(structure_file)  # exactly what the MACE side reads, momenta included
        result: dict[str, Any] = {
            "benchmark": "NVE velocity Verlet MD steps/s, ase_relaxed vs random-weight MACE",
            "machine": machine_info(),
            "versions": software_versions(),
            "torch_threads": torch.get_num_threads(),
            "device": args.device,
            "gpu": torch.cuda.get_device_name(0) if args.device == "cuda" else None,
            "settings": {"quick": args.quick, "steps": args.steps, "warmup": args.warmup,
                         "timestep_fs": args.timestep, "temperature_K": args.temperature, "seed": args.seed,
                         "interval": args.interval, "dtypes": args.dtypes, "n_atoms": len(base),
                         "structure": f"(10,0) CNT, build_nanotube(10, 0, length={args.length}), pbc F,F,T",
                         "integrator": "velocity Verlet (ASE), NVE",
                         "neighbor_list": "matscipy (both)", "replicas": args.replicas},
            "loadavg": {"start": loadavg()},
        }
        log(f"{len(base)} atoms, {args.steps} timed steps after {args.warmup} warm-up, "
            f"{args.threads} threads, {args.device}")
        result["ours"] = run_ours(args, base, Path(tmp) / "ours")
        result["loadavg"]["after_ours"] = loadavg()
        result["mace"] = None if args.skip_mace else run_mace(args, structure_file)
        result["loadavg"]["end"] = loadavg()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(table(result))
    print(f"\n{len(base)} atoms; {args.steps} timed steps after {args.warmup} warm-up; ours: {args.num_layers} "
          f"layers, {args.channels} channels, l_max {args.l_max}; {args.threads} torch threads; {args.device}; "
          f"load avg {result['loadavg']}; wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
