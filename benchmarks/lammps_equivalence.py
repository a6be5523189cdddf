"""The deviations behind tests/test_lammps_real.py: real ``lmp`` against RelaxedCalculator and ASE MD.

    . ~/.local/lammps-ase-relaxed/env.sh
    python benchmarks/lammps_equivalence.py      # → benchmarks/results/lammps_equivalence.json (about 3 min)

The tests assert tolerances; this prints what is reached: energy (relative), forces (eV/Å), pressure with
zero velocities against −σ from the calculator (relative), positions after 20 NVE steps against ASE's
``VelocityVerlet`` (Å), and ``mpirun -np 2`` against one rank on a 320-atom tube.  Same model, structures
and runner as the tests (``demo-carbon-random``: 2 layers, float64).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from ase import units
from ase.md.verlet import VelocityVerlet

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import test_lammps_real as real  # noqa: E402  (the tests' runner and structures)

from ase_relaxed import RelaxedCalculator, __version__  # noqa: E402


def single_point_and_nve(make) -> dict[str, float]:
    folder = Path(tempfile.mkdtemp())
    atoms = make()
    atoms.calc = RelaxedCalculator(real.MODEL, device="cpu")
    out = real.run_lammps(folder, atoms)
    xx, yy, zz, yz, xz, xy = -atoms.get_stress() / units.bar
    pressure = np.array([xx, yy, zz, xy, xz, yz])
    record = {"n_atoms": len(atoms),
              "energy_rel": abs(out["energy"] - atoms.get_potential_energy()) / abs(atoms.get_potential_energy()),
              "force_max_abs_eV_per_A": float(np.abs(out["forces"] - atoms.get_forces()).max()),
              "force_scale_eV_per_A": float(np.abs(atoms.get_forces()).max()),
              "pressure_max_rel": float(np.abs(out["pressure"] - pressure).max() / np.abs(pressure).max()),
              "pressure_scale_bar": float(np.abs(pressure).max())}
    atoms = real._with_velocities(make())
    out = real.run_lammps(folder, atoms, steps=real.STEPS)
    atoms.calc = RelaxedCalculator(real.MODEL, device="cpu")
    VelocityVerlet(atoms, timestep=real.TIMESTEP_FS * units.fs).run(real.STEPS)
    record["nve_position_max_abs_A"] = float(np.abs(out["positions"] - atoms.get_positions()).max())
    return record


def ranks() -> dict[str, float]:
    folder = Path(tempfile.mkdtemp())
    atoms = real._with_velocities(real._tube(length=8))
    one = real.run_lammps(folder, atoms, 1, real.STEPS)
    two = real.run_lammps(folder, atoms, 2, real.STEPS)
    return {"n_atoms": len(atoms), "energy_rel": abs(two["energy"] - one["energy"]) / abs(one["energy"]),
            "force_max_abs_eV_per_A": float(np.abs(two["forces"] - one["forces"]).max()),
            "position_max_abs_A": float(np.abs(two["positions"] - one["positions"]).max())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "lammps_equivalence.json"))
    args = parser.parse_args(argv)
    result = {"model": real.MODEL, "ase_relaxed": __version__, "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
              "nve": {"steps": real.STEPS, "timestep_fs": real.TIMESTEP_FS},
              "tube-10-0": single_point_and_nve(real._tube), "diamond-64": single_point_and_nve(real._diamond),
              "np2_vs_np1_tube_after_nve": ranks()}
    Path(args.output).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
