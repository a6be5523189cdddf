"""MACE side of ``bench_md.py``; runs in its own venv (mace-torch 0.3.16 pins e3nn 0.4.4).

    benchmarks/.venv-mace/bin/python benchmarks/mace_md_peer.py --structure S.extxyz --steps 20

Builds the random-weight MACE of ``mace_peer.py`` (same :data:`mace_peer.MACE_HYPERS`, same
seed), wraps it in ``mace.calculators.MACECalculator`` for every dtype and times NVE
``ase.md.verlet.VelocityVerlet`` on the structure the driver wrote (positions and the
Maxwell–Boltzmann momenta come from that file), with the driver's warm-up and timing
recipe: warm-up steps on a copy, then a fresh copy, the step-0 forces untimed, and one time
stamp per step from an observer.  The step time is split into neighbour list
(``get_neighborhood``), the rest of the graph build (``_atoms_to_batch``), the model call
(forward with the force and virial backward, timed by forward hooks) and the rest.  Prints one
JSON object on stdout (everything else goes to stderr).
"""

from __future__ import annotations

import os

os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")  # e3nn 0.4.4 + torch >= 2.6

import argparse
import copy
import statistics
import sys
import time
import warnings
from typing import Any

import numpy as np
from mace_peer import MACE_HYPERS, build_mace, print_json_result
from stopwatch import Stopwatch

warnings.filterwarnings("ignore")
def make_calculator(model: Any, dtype: str, device: str) -> Any:
    """``MACECalculator`` around a private copy of ``model`` converted to ``dtype``, on ``device``."""
    import torch
    from mace.calculators import MACECalculator
    from mace.tools import torch_tools

    torch_tools.set_default_dtype(dtype)
    model = copy.deepcopy(model).to(getattr(torch, dtype))
    return MACECalculator(models=model, device=device, default_dtype=dtype)


def time_verlet(calc: Any, base: Any, steps: int, warmup: int, timestep_fs: float) -> dict[str, Any]:
    """Steps/s, per-step samples and the step-time breakdown of ASE velocity Verlet with ``calc``."""
    import mace.data.atomic_data as atomic_data
    from ase import units
    from ase.md.verlet import VelocityVerlet

    dt = timestep_fs * units.fs

    def fresh() -> Any:
        atoms = base.copy()
        atoms.calc = calc
        return atoms

    if warmup:
        VelocityVerlet(fresh(), timestep=dt).run(warmup)
    atoms = fresh()
    atoms.get_forces()  # step 0, untimed
    etot0 = (atoms.get_potential_energy() + atoms.get_kinetic_energy()) / len(atoms)
    dynamics = VelocityVerlet(atoms, timestep=dt)
    watch, stamps = Stopwatch(), []

    def stamp() -> None:
        stamps.append(time.perf_counter())
        watch.active = True

    dynamics.attach(stamp, interval=1)
    watch.wrap(atomic_data, "get_neighborhood", "neighbour_list")
    watch.wrap(calc, "_atoms_to_batch", "graph_total")
    watch.hook_module(calc.models[0], "model")
    try:
        dynamics.run(steps)
    finally:
        watch.active = False
        watch.restore()
    samples = [b - a for a, b in zip(stamps, stamps[1:])]
    wall = stamps[-1] - stamps[0]
    steps_per_s = len(samples) / wall
    nl, model = watch.seconds["neighbour_list"], watch.seconds["model"]
    graph = watch.seconds["graph_total"] - nl
    parts = {"neighbour_list": nl, "graph_build": graph, "model": model, "other": wall - nl - graph - model}
    return {
        "n_atoms": len(base),
        "n_replicas": 1,
        "steps": len(samples),
        "wall_s": wall,
        "steps_per_s": steps_per_s,
        "ns_per_day": steps_per_s * timestep_fs * 86400 * 1e-6,
        "atom_steps_per_s": steps_per_s * len(base),
        "step_s": {"median_s": statistics.median(samples), "min_s": min(samples), "mean_s": wall / len(samples),
                   "samples_s": samples},
        "breakdown": {
            "per_step_s": {key: value / len(samples) for key, value in parts.items()},
            "fraction": {key: value / wall for key, value in parts.items()},
            "integrator_and_io_fraction": (wall - nl - graph - model) / wall,
            "outside_model_fraction": (wall - model) / wall,
            "calls": dict(watch.calls),
        },
        "etot_change_eV_per_atom": float((atoms.get_potential_energy() + atoms.get_kinetic_energy()) / len(atoms)
                                         - etot0),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Everything the driver needs, as a JSON-able dict."""
    import ase
    import ase.io
    import e3nn
    import mace
    import torch

    torch.set_num_threads(args.threads)
    base = ase.io.read(args.structure)
    model = build_mace(args.seed)
    result: dict[str, Any] = {
        "versions": {"mace": getattr(mace, "__version__", "unknown"), "torch": torch.__version__,
                     "e3nn": e3nn.__version__, "ase": ase.__version__, "numpy": np.__version__,
                     "python": sys.version.split()[0]},
        "torch_threads": torch.get_num_threads(),
        "device": args.device,
        "hypers": MACE_HYPERS,
        "parameters": sum(p.numel() for p in model.parameters()),
        "ase_verlet": {},
        "notes": ["MACECalculator always computes stress (and so the virial gradient) for model_type MACE"],
    }
    if args.device == "cuda" and not torch.cuda.is_available():
        result["skipped"] = (f"--device cuda but torch {torch.__version__} in the MACE venv has no CUDA "
                             "(install a CUDA build of torch 2.13.0 there)")
        print(f"mace: {result['skipped']}", file=sys.stderr)
        return result
    if not np.abs(base.get_momenta()).any():
        raise SystemExit(f"{args.structure} carries no momenta; the driver writes them")
    for dtype in args.dtypes:
        calc = make_calculator(model, dtype, args.device)
        case = time_verlet(calc, base, args.steps, args.warmup, args.timestep)
        result["ase_verlet"][dtype] = case
        print(f"mace {dtype} ASE VelocityVerlet: {case['steps_per_s']:.3g} steps/s, "
              f"{case['step_s']['median_s'] * 1e3:.1f} ms/step median, "
              f"outside model {case['breakdown']['outside_model_fraction']:.1%}", file=sys.stderr)
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--structure", required=True, help="extxyz with positions and momenta (from the driver)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--timestep", type=float, default=0.5, help="fs")
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float64"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    return print_json_result(run, parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
