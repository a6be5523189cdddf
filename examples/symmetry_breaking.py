"""Cube → cuboid: a relaxed model learns the symmetry its data broke (Hofgard et al. 2024).

The reference is Tersoff carbon plus a hidden uniaxial bond term λ Σ (r̂·n)² f_c(r) with n = z
(``ase_relaxed.train.broken_symmetry_data``): it turns cubic diamond tetragonal (c/a < 1).  A
strictly E(3)-equivariant model fed a cubic cell can only return a cubic cell; the relaxed model
carries θ, which the training turned into a quadrupole along z, and reproduces the distortion.

    python examples/symmetry_breaking.py                       # shipped models, figures in out/
    python examples/symmetry_breaking.py --relaxed R.safetensors --strict S.safetensors --md-steps 400

Prints c/a of the reference, the strict and the relaxed model after a cell relaxation
(``FrechetCellFilter`` + BFGS), the symmetry report of the relaxed model, and c/a along an
anisotropic NPT run (MTK barostat) of the relaxed model; plots c/a(t) and θ.
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.build import bulk
from ase.filters import FrechetCellFilter
from ase.optimize import BFGS

from ase_relaxed import RelaxedCalculator
from ase_relaxed.relaxed import symmetry_breaking_report
from ase_relaxed.train.broken_symmetry_data import broken_reference

warnings.filterwarnings("ignore", module="matscipy")


def c_over_a(atoms: Atoms) -> float:
    """c/a of a (near-)tetragonal cell: the length along z over the mean of the two others."""
    lengths = atoms.cell.lengths()
    return float(lengths[2] / lengths[:2].mean())


def relaxed_cell(calc, size: int = 2, fmax: float = 1e-3) -> Atoms:
    """Relax positions and cell of a slightly rattled cubic diamond supercell with ``calc``."""
    atoms = bulk("C", "diamond", a=3.566, cubic=True).repeat(size)
    atoms.rattle(1e-3, seed=0)
    atoms.calc = calc
    BFGS(FrechetCellFilter(atoms), logfile=None).run(fmax=fmax, steps=500)
    return atoms


def npt_c_over_a(atoms: Atoms, calc, steps: int, temperature: float = 300.0) -> np.ndarray:
    """c/a every 10 steps of an anisotropic MTK NPT run (0 GPa, 0.5 fs) started from ``atoms``."""
    from ase import units
    from ase.md.nose_hoover_chain import MTKNPT
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary

    atoms = atoms.copy()
    atoms.calc = calc
    MaxwellBoltzmannDistribution(atoms, temperature_K=temperature, rng=np.random.default_rng(0))
    Stationary(atoms)
    dynamics = MTKNPT(atoms, timestep=0.5 * units.fs, temperature_K=temperature, pressure_au=0.0,
                      tdamp=50 * units.fs, pdamp=500 * units.fs)
    ratios = [c_over_a(atoms)]
    for _ in range(steps // 10):
        dynamics.run(10)
        ratios.append(c_over_a(atoms))
    return np.array(ratios)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--relaxed", default="diamond-uniaxial-relaxed", help="relaxed model (name or file)")
    parser.add_argument("--strict", default="diamond-uniaxial-strict", help="strictly equivariant model")
    parser.add_argument("--strength", type=float, default=1.0, help="λ of the reference's hidden term (eV)")
    parser.add_argument("--md-steps", type=int, default=200, help="NPT steps of the relaxed model")
    parser.add_argument("--out", default="out", help="folder for the figures and results.json")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    reference = relaxed_cell(broken_reference(args.strength, (0, 0, 1)))
    relaxed_calc = RelaxedCalculator(args.relaxed, dtype="float64")
    results = {
        "reference": c_over_a(reference),
        "strict": c_over_a(relaxed_cell(RelaxedCalculator(args.strict, dtype="float64"))),
        "relaxed": c_over_a(relaxed_cell(relaxed_calc)),
    }
    for name, ratio in results.items():
        error = 100 * (ratio / results["reference"] - 1)
        print(f"c/a {name:9s} {ratio:.4f}   ({error:+.2f} % vs reference)")
    report = symmetry_breaking_report(relaxed_calc.model)
    print(report.format())
    report.plot(out / "theta.png")

    ratios = npt_c_over_a(relaxed_cell(relaxed_calc), relaxed_calc, args.md_steps)
    results["relaxed_npt_mean"] = float(ratios[len(ratios) // 2:].mean())
    print(f"c/a relaxed model, NPT 300 K second half: {results['relaxed_npt_mean']:.4f}")
    results["symmetry"] = report.to_dict()
    (out / "results.json").write_text(json.dumps(results, indent=2))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(np.arange(len(ratios)) * 10 * 0.5, ratios, label="relaxed model, NPT 300 K")
    ax.axhline(results["reference"], color="k", ls="--", label="reference (relaxed cell)")
    ax.axhline(results["strict"], color="C3", ls=":", label="strict model (relaxed cell)")
    ax.set(xlabel="time (fs)", ylabel="c/a", title="cube → cuboid")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "c_over_a.png", dpi=120)
    print(f"wrote {out / 'c_over_a.png'}, {out / 'theta.png'}, {out / 'results.json'}")


if __name__ == "__main__":
    main()
