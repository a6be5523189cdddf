"""Cube → cuboid: a relaxed model learns the symmetry its data broke (Hofgard et al. 2024).

The reference is Tersoff carbon plus a hidden uniaxial bond term λ Σ (r̂·n)² f_c(r) with n = z
(``ase_relaxed.reference.broken_symmetry``): it turns cubic diamond tetragonal (c/a < 1).  A
strictly E(3)-equivariant model fed a cubic cell can only return a cubic cell; the relaxed model
carries θ, which the training turned into a quadrupole along z, and reproduces the distortion.

    python examples/symmetry_breaking.py                       # shipped models, figures in out/
    python examples/symmetry_breaking.py --relaxed R.safetensors --strict S.safetensors --md-steps 400

Prints c/a of the reference, the strict and the relaxed model after a cell relaxation
(``FrechetCellFilter`` + BFGS), the symmetry report of the relaxed model, and c/a along anisotropic
NPT runs (MTK barostat, 300 K, 0 GPa) of all three; plots c/a(t) and θ
(:mod:`ase_relaxed.relaxed.tetragonal` measures c/a as the ratio of the principal stretches).
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import numpy as np

from ase_relaxed import RelaxedCalculator
from ase_relaxed.reference.broken_symmetry import broken_reference
from ase_relaxed.relaxed import symmetry_breaking_report
from ase_relaxed.relaxed.tetragonal import diamond_cube, npt_distortion, relax_cell, uniaxial_distortion

warnings.filterwarnings("ignore", module="matscipy")
warnings.filterwarnings("ignore", message="logm result may be inaccurate")  # FrechetCellFilter, harmless


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--relaxed", default="diamond-uniaxial-relaxed", help="relaxed model (name or file)")
    parser.add_argument("--strict", default="diamond-uniaxial-strict", help="strictly equivariant model")
    parser.add_argument("--strength", type=float, default=1.0, help="λ of the reference's hidden term (eV)")
    parser.add_argument("--direction", type=float, nargs=3, default=(0.0, 0.0, 1.0),
                        help="n of the reference's hidden term (the models must have been trained on it)")
    parser.add_argument("--md-steps", type=int, default=100, help="NPT steps of each calculator (0.5 fs)")
    parser.add_argument("--out", default="out", help="folder for the figures and results.json")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    n = np.asarray(args.direction) / np.linalg.norm(args.direction)

    cube = diamond_cube()
    calculators = {
        "reference": broken_reference(args.strength, n),
        "strict": RelaxedCalculator(args.strict, dtype="float64"),
        "relaxed": RelaxedCalculator(args.relaxed, dtype="float64"),
    }
    cells = {name: relax_cell(calc, cube) for name, calc in calculators.items()}
    results: dict = {"direction": n.tolist()}
    for name, atoms in cells.items():
        distortion = uniaxial_distortion(atoms, cube.cell)
        error = 100 * (distortion.ratio / uniaxial_distortion(cells["reference"], cube.cell).ratio - 1)
        cubic = abs(distortion.ratio - 1) < 1e-3  # no distinct axis to speak of
        angle = None if cubic else distortion.angle_to(n)
        results[name] = {"c_over_a": distortion.ratio, "axis_angle_to_n_deg": angle, "error_percent": error}
        where = "cubic, no distortion axis" if cubic else f"distortion axis {angle:.1f}° from n"
        print(f"c/a {name:9s} {distortion.ratio:.4f}  ({error:+.2f} % vs reference; {where})")
    report = symmetry_breaking_report(calculators["relaxed"].model)
    print(report.format())
    report.plot(out / "theta.png")
    results["symmetry"] = report.to_dict()

    traces = {name: npt_distortion(cells[name], calc, cube.cell, n, args.md_steps)
              for name, calc in calculators.items()}
    for name, ratios in traces.items():
        results[name]["npt_mean_second_half"] = float(ratios[len(ratios) // 2:].mean())
        print(f"c/a {name:9s} NPT 300 K, second half: {results[name]['npt_mean_second_half']:.4f}")
    (out / "results.json").write_text(json.dumps(results, indent=2))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    styles = {"reference": ("k", "--"), "strict": ("C3", ":"), "relaxed": ("C0", "-")}
    for name, ratios in traces.items():
        color, line = styles[name]
        label = {"reference": "reference (Tersoff + hidden term)", "strict": "strictly equivariant model",
                 "relaxed": "relaxed model"}[name]
        ax.plot(np.arange(len(ratios)) * 10 * 0.5, ratios, color=color, ls=line, label=label)
    ax.set(xlabel="time (fs)", ylabel="c/a along n", title="cube → cuboid, anisotropic NPT at 300 K, 0 GPa")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "c_over_a.png", dpi=120)
    print(f"wrote {out / 'c_over_a.png'}, {out / 'theta.png'}, {out / 'results.json'}")


if __name__ == "__main__":
    main()
