"""Eager vs compiled (``RelaxedCalculator(compile=True)``, torch.compile + inductor) energy+forces per call.

    flock /tmp/bench.lock python benchmarks/bench_compile.py          # → benchmarks/results/compile.json
    python benchmarks/bench_compile.py --quick --dtypes float32       # fewer repeats, one dtype

For the shipped ``carbon-gfn1`` model in each dtype: a compiled calculator is built and first evaluated on
the 40-atom (10,0) tube (``build_nanotube(10, 0, length=1)``; that first call's wall time is the compile
time, ``calc.compile_seconds``), then on the 1000-atom tube (``length=25``): whether that second size
compiled a new graph (``calc.compiled_graphs`` grew) is recorded. Then seconds per energy+forces call
(median after warm-up; a fresh N(0, 0.01 Å) rattle before every call, so neither ASE's results cache nor
the neighbour-list cache answers), eager and compiled alternating call by call so that load changes hit
both alike, and the largest |compiled − eager| of energy and forces on the same structures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_calculator import loadavg, machine_info, software_versions  # noqa: E402

from ase_relaxed import RelaxedCalculator  # noqa: E402
from ase_relaxed.structures import build_nanotube  # noqa: E402

MODEL = "carbon-gfn1"
LENGTHS = {40: 1, 1000: 25}  # atoms of the (10,0) tube → its length in unit cells
RATTLE = 0.01  # Å


def energy_forces(calc: RelaxedCalculator, atoms) -> tuple[float, np.ndarray, float]:
    """(E, F, seconds) of one energy+forces call on a copy of ``atoms``."""
    probe = atoms.copy()
    probe.calc = calc
    start = time.perf_counter()
    energy = probe.get_potential_energy()
    forces = probe.get_forces()
    return energy, forces, time.perf_counter() - start


def time_calls(calcs: dict[str, RelaxedCalculator], base, repeats: int, warmup: int, seed: int) -> dict[str, Any]:
    """Seconds per call for each calculator (alternating) and the largest compiled − eager differences."""
    rng = np.random.default_rng(seed)
    times: dict[str, list[float]] = {name: [] for name in calcs}
    d_energy = d_forces = 0.0
    for index in range(warmup + repeats):
        atoms = base.copy()
        atoms.positions = base.positions + rng.normal(0.0, RATTLE, base.positions.shape)
        out = {name: energy_forces(calc, atoms) for name, calc in calcs.items()}
        if index >= warmup:
            for name, (_, _, seconds) in out.items():
                times[name].append(seconds)
        d_energy = max(d_energy, abs(out["compiled"][0] - out["eager"][0]))
        d_forces = max(d_forces, float(np.abs(out["compiled"][1] - out["eager"][1]).max()))
    medians = {name: statistics.median(t) for name, t in times.items()}
    return {"median_s": medians, "min_s": {name: min(t) for name, t in times.items()}, "samples_s": times,
            "speedup_eager_over_compiled": medians["eager"] / medians["compiled"],
            "max_abs_energy_diff_eV": d_energy, "max_abs_force_diff_eV_per_A": d_forces}


def bench_dtype(dtype: str, device: str, sizes: list[int], repeats: int, warmup: int) -> dict[str, Any]:
    """Compile (first size), recompilation check (later sizes), then eager vs compiled timings per size."""
    eager = RelaxedCalculator(MODEL, device=device, dtype=dtype)
    compiled = RelaxedCalculator(MODEL, device=device, dtype=dtype, compile=True)
    tubes = {n: build_nanotube(10, 0, length=LENGTHS[n]) for n in sizes}
    first_calls: dict[str, Any] = {}
    for n, tube in tubes.items():
        graphs = compiled.compiled_graphs
        compile_before = compiled.compile_seconds
        _, _, seconds = energy_forces(compiled, tube)
        first_calls[f"{n}_atoms"] = {"first_call_s": seconds, "graphs_compiled": compiled.compiled_graphs - graphs,
                                     "compile_s": compiled.compile_seconds - compile_before}
    sizes_after_first = [f"{n}_atoms" for n in sizes[1:]]
    result: dict[str, Any] = {
        "compile_s": compiled.compile_seconds,
        "first_calls": first_calls,
        "recompiled_for_second_size": any(first_calls[k]["graphs_compiled"] > 0 for k in sizes_after_first),
        "graphs_compiled": compiled.compiled_graphs,
        "timing": {},
    }
    for n, tube in tubes.items():
        runs = repeats if n <= 100 else max(3, repeats // 2)
        result["timing"][f"{n}_atoms"] = time_calls({"eager": eager, "compiled": compiled}, tube, runs, warmup, n)
    result["graphs_compiled_after_timing"] = compiled.compiled_graphs
    return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 repeats, 1 warm-up call")
    parser.add_argument("--dtypes", nargs="+", choices=["float32", "float64"], default=["float32", "float64"])
    parser.add_argument("--sizes", nargs="+", type=int, choices=sorted(LENGTHS), default=sorted(LENGTHS),
                        help="(10,0) tube sizes in atoms; the first is where the compile happens (default: 40 1000)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default=str(HERE / "results" / "compile.json"))
    args = parser.parse_args(argv)
    repeats, warmup = (3, 1) if args.quick else (11, 2)
    load_before = loadavg()
    started = time.perf_counter()
    per_dtype = {dtype: bench_dtype(dtype, args.device, args.sizes, repeats, warmup) for dtype in args.dtypes}
    result = {
        "what": "carbon-gfn1 energy+forces per call, eager vs RelaxedCalculator(compile=True) (torch.compile, "
                "inductor, dynamic shapes, cpp.simdlen=1), (10,0) tubes",
        "model": MODEL,
        "device": args.device,
        "torch_threads": torch.get_num_threads(),
        "cores": os.cpu_count(),
        "machine": machine_info(),
        "versions": software_versions(),
        "loadavg_before": load_before,
        "results": per_dtype,
        "loadavg_after": loadavg(),
        "wall_s": time.perf_counter() - started,
        "command": "flock /tmp/bench.lock python benchmarks/bench_compile.py" + (" " + " ".join(argv or sys.argv[1:])
                                                                                 if (argv or sys.argv[1:]) else ""),
    }
    text = json.dumps(result, indent=2)
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text + "\n")
    return result


if __name__ == "__main__":
    main()
