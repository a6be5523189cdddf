"""CPU benchmark of the SOAP kernel force field (Sharma, Kumar, Suryanarayana, arXiv:2408.07554).

    flock /tmp/bench.lock python benchmarks/bench_kernel.py          # all parts → benchmarks/results/kernel.json
    flock /tmp/bench.lock python benchmarks/bench_kernel.py --quick  # fewer repeats, shorter tubes
    python benchmarks/bench_kernel.py --parts selection              # one part only

Parts (medians of ``--repeats`` timed calls after one warm-up, one torch thread):

* ``design``: the fitting rows of one structure, energy row φ_w = Σ_i k(p̂_i, p_w) and force rows −∂φ_w/∂r
  (3N × W), for a 160-atom (10,0) tube: the torch SOAP's analytic rows (:func:`~ase_relaxed.kernel.fit.kernel_rows`,
  ``descriptor="torch"``) against featomic's analytic gradients (``descriptor="featomic"``, the default).
* ``symmetry``: energy + forces of (10,0) tubes of growing length, the whole tube through
  :class:`~ase_relaxed.RelaxedCalculator` against the fundamental domain through
  :class:`~ase_relaxed.kernel.symmetry_calculator.SymmetryAdaptedCalculator` (cost independent of length).
* ``selection``: held-out force RMSE of models fitted with W representatives chosen by CUR, farthest-point
  sampling and at random, on Brenner-labelled rattled, strained (5,5) tubes (the data of tests/test_kernel.py).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from ase import Atoms
from ase.build import nanotube
from ase.calculators.calculator import all_changes
from ase.calculators.singlepoint import SinglePointCalculator

import ase_relaxed
from ase_relaxed import RelaxedCalculator
from ase_relaxed.graph import atoms_to_graph
from ase_relaxed.kernel import KernelConfig, build_kernel_model, fit_kernel_model
from ase_relaxed.kernel.featomic_soap import featomic_version
from ase_relaxed.kernel.fit import kernel_rows
from ase_relaxed.kernel.symmetry_calculator import SymmetryAdaptedCalculator
from ase_relaxed.symmetry import line_group

HERE = Path(__file__).resolve().parent
DEFAULT_OUTPUT = HERE / "results" / "kernel.json"


def provenance(argv: list[str]) -> dict[str, Any]:
    """Versions, date, host cores and load, git commit: what a timing depends on."""
    commit = subprocess.run(["git", "-C", str(HERE), "rev-parse", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", str(HERE.parent), "status", "--porcelain", "--", "ase_relaxed"],
                           capture_output=True, text=True)
    return {
        "command": " ".join(["python benchmarks/bench_kernel.py", *argv]),
        "ase_relaxed": ase_relaxed.__version__, "torch": torch.__version__, "featomic": featomic_version(),
        "numpy": np.__version__, "python": platform.python_version(),
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "hostname": platform.node(), "logical_cpus": os.cpu_count(),
        "affinity_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "torch_threads": torch.get_num_threads(),
        "loadavg_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "git_commit": commit.stdout.strip() or None, "ase_relaxed_dirty": bool(dirty.stdout.strip()),
    }


def median_seconds(call: Callable[[int], Any], repeats: int) -> float:
    """Median wall seconds of ``call(k)`` over ``repeats`` calls, after one untimed warm-up ``call(-1)``."""
    call(-1)
    times = []
    for k in range(repeats):
        start = time.perf_counter()
        call(k)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def random_model(config: KernelConfig, pool_atoms: Atoms, n_rep: int, seed: int = 0):
    """A kernel model with representatives from ``pool_atoms``' own environments and random weights."""
    model = build_kernel_model(KernelConfig.from_dict({**config.to_dict(), "n_representative": n_rep}))
    energy_model = model.energy_model
    with torch.no_grad():
        pool = energy_model.descriptor(atoms_to_graph(pool_atoms, config.cutoff))
    generator = torch.Generator().manual_seed(seed)
    energy_model.representatives.copy_(pool[torch.randperm(len(pool), generator=generator)[:n_rep]])
    energy_model.weights.copy_(torch.randn(n_rep, generator=generator, dtype=torch.float64))
    return model


def rattled_tube(n_cells: int, rattle: float = 0.03, seed: int = 0) -> Atoms:
    """A (10,0) tube of ``n_cells`` cells (40 atoms each), every atom displaced at random."""
    atoms = nanotube(10, 0, length=n_cells)
    atoms.positions += np.random.default_rng(seed).normal(0.0, rattle, atoms.positions.shape)
    return atoms


def bench_design(repeats: int, n_cells: int, n_rep: int) -> dict[str, Any]:
    """Energy + force design rows of one tube: torch SOAP vs featomic, same r_c, n_max, l_max, σ, W."""
    atoms = rattled_tube(n_cells)
    out: dict[str, Any] = {"structure": f"(10,0) tube, {n_cells} cells", "atoms": len(atoms), "n_representative": n_rep,
                           "rows": 1 + 3 * len(atoms)}
    for descriptor in ("torch", "featomic"):
        energy_model = random_model(KernelConfig(descriptor=descriptor), atoms, n_rep).energy_model
        with torch.no_grad():
            seconds = median_seconds(lambda k: kernel_rows(energy_model, atoms), repeats)
        out[f"{descriptor}_s"] = seconds
        print(f"design rows, {descriptor:8s} SOAP: {seconds:.3f} s", flush=True)
    out["speedup"] = out["torch_s"] / out["featomic_s"]
    print(f"design rows: featomic {out['speedup']:.1f}x faster", flush=True)
    return out


def bench_symmetry(repeats: int, lengths: list[int], n_rep: int) -> list[dict[str, Any]]:
    """Energy + forces of growing (10,0) tubes: full RelaxedCalculator vs fundamental-domain evaluation."""
    group = line_group(10, 0)
    domain = group.domain + np.random.default_rng(0).normal(0.0, 0.03, group.domain.shape)
    model = random_model(KernelConfig(), group.with_domain(domain).to_atoms(4), n_rep)
    rows = []
    for n_cells in lengths:
        rng = np.random.default_rng(n_cells)
        # a fresh symmetric structure per call (a moved domain), so no cache answers
        tubes = [group.with_domain(domain + rng.normal(0.0, 1e-3, domain.shape)).to_atoms(n_cells)
                 for _ in range(repeats + 1)]
        full = RelaxedCalculator(model, device="cpu")
        adapted = SymmetryAdaptedCalculator(model, uncertainty=False)
        setup_start = time.perf_counter()
        adapted.calculate(tubes[0], ["energy", "forces"], all_changes)  # line-group detection and atom labels
        setup = time.perf_counter() - setup_start
        worst = 0.0
        for atoms in tubes[:2]:  # the two agree (a check, not timed)
            full.calculate(atoms, ["energy", "forces"], all_changes)
            reference = full.results["forces"].copy()
            adapted.calculate(atoms, ["energy", "forces"], all_changes)
            worst = max(worst, float(np.abs(adapted.results["forces"] - reference).max()))
        full_s = median_seconds(lambda k: full.calculate(tubes[k], ["energy", "forces"], all_changes), repeats)
        sa_s = median_seconds(lambda k: adapted.calculate(tubes[k], ["energy", "forces"], all_changes), repeats)
        row = {"cells": n_cells, "atoms": len(tubes[0]), "domain_atoms": len(domain), "full_s": full_s,
               "symmetry_adapted_s": sa_s, "speedup": full_s / sa_s, "first_call_setup_s": setup,
               "max_force_difference_eV_per_A": worst}
        rows.append(row)
        print(f"{len(tubes[0]):4d} atoms: full {full_s:.3f} s, domain {sa_s:.3f} s, {row['speedup']:.1f}x "
              f"(setup {setup:.2f} s, |ΔF| {worst:.1e})", flush=True)
    return rows


def brenner_frames(count: int, seed: int = 0, rattle: float = 0.05) -> list[Atoms]:
    """Rattled (5,5) tubes under ±3 % axial strain labelled by Brenner (as tests/test_kernel.py builds them)."""
    from matscipy.calculators.manybody import Manybody
    from matscipy.calculators.manybody.explicit_forms import TersoffBrenner
    from matscipy.calculators.manybody.explicit_forms.tersoff_brenner import Brenner_PRB_42_9458_C_I

    brenner = Manybody(**TersoffBrenner(Brenner_PRB_42_9458_C_I))
    frames = []
    for k in range(count):
        strain = 0.03 * math.sin(seed + k)
        atoms = nanotube(5, 5, length=2)
        atoms.set_cell([20.0, 20.0, atoms.cell[2, 2] * (1 + strain)], scale_atoms=False)
        atoms.positions[:, 2] *= 1 + strain
        atoms.center(axis=(0, 1))
        atoms.positions += np.random.default_rng(seed + k).normal(0.0, rattle, atoms.positions.shape)
        atoms.calc = brenner
        energy, forces = atoms.get_potential_energy(), atoms.get_forces()
        atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces)
        frames.append(atoms)
    return frames


def held_out_errors(model, test: list[Atoms]) -> tuple[float, float]:
    """Force RMSE (eV/Å) and energy RMSE (eV/atom) of ``model`` on ``test``."""
    calc = RelaxedCalculator(model, device="cpu")
    force_errors, energy_errors = [], []
    for atoms in test:
        copy = atoms.copy()
        copy.calc = calc
        force_errors.append(copy.get_forces() - atoms.get_forces())
        energy_errors.append((copy.get_potential_energy() - atoms.get_potential_energy()) / len(atoms))
    return float(np.sqrt(np.mean(np.concatenate(force_errors) ** 2))), float(np.sqrt(np.mean(np.square(energy_errors))))


def bench_selection(counts: list[int], seeds: int) -> dict[str, Any]:
    """Held-out errors at equal W for CUR (deterministic), FPS and random (mean ± std over ``seeds`` seeds)."""
    frames = brenner_frames(20)
    train, test = frames[:15], frames[15:]
    reference_std = float(np.concatenate([a.get_forces() for a in test]).std())
    out: dict[str, Any] = {"data": "Brenner (5,5) tubes, 40 atoms, rattle 0.05 Å, strain ±3 %; 15 train, 5 test frames",
                           "energy_weight": 10.0, "test_force_std_eV_per_A": reference_std, "results": []}
    for count in counts:
        for selection in ("cur", "fps", "random"):
            force, energy = [], []
            for seed in range(1 if selection == "cur" else seeds):
                model = fit_kernel_model(train, KernelConfig(), energy_weight=10.0, n_representative=count,
                                         seed=seed, selection=selection)
                f, e = held_out_errors(model, test)
                force.append(f)
                energy.append(e)
            row = {"n_representative": count, "selection": selection, "seeds": len(force),
                   "force_rmse_eV_per_A": statistics.mean(force),
                   "force_rmse_std": statistics.stdev(force) if len(force) > 1 else 0.0,
                   "energy_rmse_meV_per_atom": 1000 * statistics.mean(energy)}
            out["results"].append(row)
            print(f"W={count:3d} {selection:6s}: force RMSE {row['force_rmse_eV_per_A']:.4f} ± "
                  f"{row['force_rmse_std']:.4f} eV/Å, energy {row['energy_rmse_meV_per_atom']:.2f} meV/atom",
                  flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--parts", nargs="+", choices=["design", "symmetry", "selection"],
                        default=["design", "symmetry", "selection"], help="which parts to run (default: all)")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per measurement (median)")
    parser.add_argument("--lengths", type=int, nargs="+", default=[4, 8, 16, 24],
                        help="(10,0) tube lengths in cells (40 atoms each) for the symmetry part")
    parser.add_argument("--n-representative", type=int, default=60, help="W of the timed models")
    parser.add_argument("--counts", type=int, nargs="+", default=[15, 30, 60], help="W values for the selection part")
    parser.add_argument("--seeds", type=int, default=3, help="seeds for FPS (random start) and random selection")
    parser.add_argument("--quick", action="store_true",
                        help="defaults of 2 repeats, tubes of 4 and 8 cells, W 15 and 30, 2 seeds")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help=f"JSON file (default {DEFAULT_OUTPUT})")
    if "--quick" in argv:  # new defaults; options given explicitly still win
        parser.set_defaults(repeats=2, lengths=[4, 8], counts=[15, 30], seeds=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    result: dict[str, Any] = {"benchmark": "kernel", "provenance": provenance(argv)}
    if "design" in args.parts:
        result["design_rows"] = bench_design(args.repeats, 4, args.n_representative)
    if "symmetry" in args.parts:
        result["symmetry_adapted"] = bench_symmetry(args.repeats, args.lengths, args.n_representative)
    if "selection" in args.parts:
        result["selection"] = bench_selection(args.counts, args.seeds)
    result["provenance"]["loadavg_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
