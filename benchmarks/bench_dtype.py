"""What float64 costs and what float32 loses: the measurement behind ``RelaxedCalculator``'s default dtype.

    python benchmarks/bench_dtype.py            # → benchmarks/results/dtype_cost.json (and the JSON on stdout)
    python benchmarks/bench_dtype.py --quick    # fewer repeats, smaller FD sample

In one run, with the shipped ``carbon-gfn1`` model (stored in float32) evaluated in float32 and in float64:

* seconds per energy+forces call (median after warm-up; fresh N(0, 0.01 Å) rattle before every call, so
  neither ASE's results cache nor the neighbour-list cache answers) on the 160-atom (10,0) tube
  ``build_nanotube(10, 0, length=4)`` and the 1000-atom ``length=25``, the two dtypes alternating
  repeat by repeat so that a change of machine load hits both alike;
* the largest |F_numerical − F_analytic| (eV/Å) of ``ase.calculators.fd.calculate_numerical_forces``
  (central differences, default step 1e-6 Å, and larger steps) on a few atoms of the rattled 160-atom tube,

    F_num(i, c) = −(E(r + h e_ic) − E(r − h e_ic)) / 2h,

  whose float32 error is ≈ ε_32 |E| / h (ε_32 ≈ 6e-8 relative round-off of the total energy);
* the float32 − float64 differences of the energy and of the analytic forces themselves.
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
from ase.calculators.fd import calculate_numerical_forces

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_calculator import loadavg, machine_info, software_versions  # noqa: E402

from ase_relaxed import RelaxedCalculator  # noqa: E402
from ase_relaxed.structures import build_nanotube  # noqa: E402

DTYPES = ("float32", "float64")
MODEL = "carbon-gfn1"
RATTLE = 0.01  # Å, fresh displacement before every timed call
FD_STEPS = (1e-6, 1e-4, 1e-3, 1e-2)  # Å; 1e-6 is calculate_numerical_forces' default


def time_calls(calcs: dict[str, RelaxedCalculator], base, repeats: int, warmup: int, seed: int) -> dict[str, list]:
    """Seconds per energy+forces call for each dtype; dtypes alternate call by call."""
    rng = np.random.default_rng(seed)
    times: dict[str, list[float]] = {dtype: [] for dtype in calcs}
    for index in range(warmup + repeats):
        positions = base.positions + rng.normal(0.0, RATTLE, base.positions.shape)
        for dtype, calc in calcs.items():
            atoms = base.copy()
            atoms.positions = positions
            atoms.calc = calc
            start = time.perf_counter()
            atoms.get_potential_energy()
            atoms.get_forces()
            if index >= warmup:
                times[dtype].append(time.perf_counter() - start)
    return times


def fd_errors(calcs: dict[str, RelaxedCalculator], atoms, indices: list[int]) -> dict[str, Any]:
    """max |F_num − F_analytic| per dtype and FD step, plus float32 − float64 energy/force differences."""
    out: dict[str, Any] = {"atoms": indices, "steps_A": list(FD_STEPS), "max_abs_error_eV_per_A": {}}
    analytic = {}
    energy = {}
    for dtype, calc in calcs.items():
        probe = atoms.copy()
        probe.calc = calc
        analytic[dtype] = probe.get_forces()
        energy[dtype] = probe.get_potential_energy()
        out["max_abs_error_eV_per_A"][dtype] = {
            f"{h:g}": float(np.abs(calculate_numerical_forces(probe, eps=h, iatoms=indices)
                                   - analytic[dtype][indices]).max())
            for h in FD_STEPS
        }
    out["energy_eV"] = energy
    out["energy_float32_minus_float64_eV"] = energy["float32"] - energy["float64"]
    out["max_abs_force_float32_minus_float64_eV_per_A"] = float(np.abs(analytic["float32"] - analytic["float64"]).max())
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 repeats, 2 FD atoms")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default=str(HERE / "results" / "dtype_cost.json"))
    args = parser.parse_args(argv)
    repeats, warmup, n_fd = (3, 1, 2) if args.quick else (9, 2, 4)

    calcs = {dtype: RelaxedCalculator(MODEL, device=args.device, dtype=dtype) for dtype in DTYPES}
    load_before = loadavg()
    timing: dict[str, Any] = {}
    for length in (4, 25):
        base = build_nanotube(10, 0, length=length)
        samples = time_calls(calcs, base, repeats if length == 4 else max(3, repeats // 2), warmup, seed=length)
        medians = {dtype: statistics.median(t) for dtype, t in samples.items()}
        timing[f"{len(base)}_atoms"] = {
            "median_s": medians,
            "min_s": {dtype: min(t) for dtype, t in samples.items()},
            "samples_s": samples,
            "float64_over_float32": medians["float64"] / medians["float32"],
        }
    tube = build_nanotube(10, 0, length=4)
    tube.rattle(0.02, seed=0)
    result = {
        "what": "carbon-gfn1 energy+forces cost and finite-difference force error, float32 vs float64",
        "model": MODEL,
        "device": args.device,
        "torch_threads": torch.get_num_threads(),
        "cores": os.cpu_count(),
        "machine": machine_info(),
        "versions": software_versions(),
        "loadavg_before": load_before,
        "timing": timing,
        "finite_differences_160_atoms": fd_errors(calcs, tube, list(range(n_fd))),
        "loadavg_after": loadavg(),
        "command": "python benchmarks/bench_dtype.py" + (" --quick" if args.quick else ""),
    }
    text = json.dumps(result, indent=2)
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text + "\n")
    return result


if __name__ == "__main__":
    main()
