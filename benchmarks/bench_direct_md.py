"""MD speed of a direct-force model against the conservative model of the same size, in one run (issue 16).

    python benchmarks/bench_direct_md.py                 # shipped models → benchmarks/results/direct_md_cpu.json
    python benchmarks/bench_direct_md.py --random        # random weights, carbon-gfn1's size (before shipping)
    python benchmarks/bench_direct_md.py --quick         # 200-atom smoke test (not for reporting)

A (10,0) tube of ``--length`` cells (25: 1000 atoms) at 300 K, plain ASE velocity Verlet at 0.5 fs through
``RelaxedCalculator`` (float32, ``--threads`` torch threads).  The two models alternate in ``--repeats``
blocks of ``--steps`` timed steps (after warm-up), so load changes hit both alike; the figure is the median
steps/s of each and their ratio.  A direct model needs one forward pass per step, a conservative one a
forward and a backward pass: the expected gain is the backward's share of the step.

After the timing, ``--nve-steps`` steps of NVE (velocity Verlet, 0.5 fs, float64, from 300 K) on the held-out
(11,0) tube of ``--nve-length`` cells give each model's energy drift, the slope of E_tot(t)/N in meV/atom/ps:
about zero for a conservative model (F = −∇E), the price of non-conservative forces for a direct one.  The
traces go to ``--png``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from ase import units
from ase.md.verlet import VelocityVerlet
from bench_calculator import loadavg, machine_info, software_versions

from ase_relaxed import RelaxedCalculator, build_model, load_model
from ase_relaxed.md.runner import initialise_velocities
from ase_relaxed.pretrained import pretrained_path
from ase_relaxed.structures import build_nanotube

HERE = Path(__file__).resolve().parent
PAIR = ("carbon-gfn1", "carbon-gfn1-direct")


def models(random: bool) -> dict[str, torch.nn.Module | str]:
    """The two shipped models, or random-weight ones with carbon-gfn1's config and the force kind toggled."""
    if not random:
        return {name: name for name in PAIR}
    config = load_model(pretrained_path("carbon-gfn1")).config
    return {f"random {kind}": build_model(config.replace(forces=kind)) for kind in ("conservative", "direct")}


def time_block(calc: RelaxedCalculator, atoms, steps: int) -> float:
    dynamics = VelocityVerlet(atoms, 0.5 * units.fs)
    start = time.perf_counter()
    dynamics.run(steps)
    return steps / (time.perf_counter() - start)


def nve_drift(model, atoms, steps: int) -> dict:
    """NVE from 300 K: velocity Verlet, 0.5 fs, ``steps`` steps, E_tot sampled every 10 steps.

    The drift is the slope of a least-squares line through E_tot(t)/N (meV/atom/ps), which an oscillating
    E_tot does not fool as an end-point difference can; the largest excursion |E_tot(t) − E_tot(0)|/N
    (meV/atom) and the trace itself go along.
    """
    atoms = atoms.copy()
    atoms.calc = RelaxedCalculator(model, device="cpu")  # float64: the drift of the forces, not of rounding
    initialise_velocities(atoms, 300.0, seed=0)
    dynamics = VelocityVerlet(atoms, 0.5 * units.fs)
    times, energies = [0.0], [atoms.get_total_energy()]
    for block in range(1, steps // 10 + 1):
        dynamics.run(10)
        times.append(block * 10 * 0.5e-3)
        energies.append(atoms.get_total_energy())
    per_atom = 1e3 * (np.array(energies) - energies[0]) / len(atoms)  # meV/atom
    slope = float(np.polyfit(times, per_atom, 1)[0])
    return {"drift_meV_per_atom_ps": slope, "endpoint_drift_meV_per_atom_ps": float(per_atom[-1] / times[-1]),
            "max_excursion_meV_per_atom": float(np.abs(per_atom).max()), "steps": steps, "atoms": len(atoms),
            "ps": times[-1], "trace_ps": times, "trace_meV_per_atom": per_atom.round(5).tolist()}


def plot_nve(nve: dict, png: Path) -> None:
    """E_tot(t) − E_tot(0) per atom of each model, one panel."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.6), constrained_layout=True)
    for name, figures in nve.items():
        ax.plot(figures["trace_ps"], figures["trace_meV_per_atom"],
                label=f"{name}: {figures['drift_meV_per_atom_ps']:+.2f} meV/atom/ps")
    first = next(iter(nve.values()))
    ax.set(xlabel="t / ps", ylabel="E_tot(t) − E_tot(0) / meV/atom",
           title=f"NVE, (11,0) tube, {first['atoms']} atoms, 300 K, 0.5 fs, float64")
    ax.legend(fontsize=8)
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--length", type=int, default=None, help="tube cells (default 25 = 1000 atoms; 5 --quick)")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per block (default 10)")
    parser.add_argument("--repeats", type=int, default=5, help="alternating blocks per model (default 5)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--random", action="store_true", help="random weights at carbon-gfn1's size")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--nve-steps", type=int, default=2000, help="NVE steps per model (default 2000 = 1 ps; 0: "
                        "none)")
    parser.add_argument("--nve-length", type=int, default=4, help="cells of the (11,0) NVE tube (default 4: 176 atoms)")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "direct_md_cpu.json")
    parser.add_argument("--png", type=Path, default=HERE.parent / "docs" / "figures" / "direct_nve.png",
                        help="NVE energy traces (default docs/figures/direct_nve.png)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    length = args.length or (5 if args.quick else 25)
    base = build_nanotube(10, 0, length=length)
    initialise_velocities(base, 300.0, seed=0)
    cases = {}
    for name, model in models(args.random).items():
        atoms = base.copy()
        atoms.calc = RelaxedCalculator(model, device="cpu", dtype="float32")
        warnings.simplefilter("ignore")  # the NVE warning of the direct model: speed only here
        time_block(atoms.calc, atoms, 2)  # warm-up
        cases[name] = {"atoms": atoms, "rates": []}
    load_before = loadavg()
    for _ in range(args.repeats):
        for case in cases.values():
            case["rates"].append(time_block(case["atoms"].calc, case["atoms"], args.steps))
    names = list(cases)
    nve_tube = build_nanotube(11, 0, length=args.nve_length)
    nve = {name: nve_drift(model, nve_tube, 20 if args.quick else args.nve_steps)
           for name, model in models(args.random).items()} if args.nve_steps else {}
    result = {
        "benchmark": "bench_direct_md", "atoms": len(base), "dtype": "float32", "threads": args.threads,
        "steps_per_block": args.steps, "repeats": args.repeats, "quick": args.quick,
        "models": {n: {"steps_per_s_median": statistics.median(c["rates"]), "steps_per_s": c["rates"]}
                   for n, c in cases.items()},
        "nve": nve,
        "loadavg_before": load_before, "loadavg_after": loadavg(),
        "machine": machine_info(), "software": software_versions(),
    }
    ratio = result["models"][names[1]]["steps_per_s_median"] / result["models"][names[0]]["steps_per_s_median"]
    result["direct_over_conservative"] = ratio
    for name in names:
        print(f"{name:28s} {result['models'][name]['steps_per_s_median']:8.2f} steps/s  ({len(base)} atoms)")
    print(f"direct / conservative      {ratio:8.2f} ×")
    for name, figures in nve.items():
        print(f"NVE {name:24s} drift {figures['drift_meV_per_atom_ps']:+8.2f} meV/atom/ps (fit), largest excursion "
              f"{figures['max_excursion_meV_per_atom']:.2f} meV/atom ({figures['atoms']} atoms, {figures['ps']} ps)")
    if not args.quick:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.out}")
        if nve:
            plot_nve(nve, args.png)
            print(f"wrote {args.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
