"""Our models inside a real ``lmp`` (``pair_style mliap unified``), against RelaxedCalculator and ASE MD.

Needs the LAMMPS of ``scripts/build_lammps.sh`` (ML-IAP + PYTHON + MPI) on PATH, e.g. after
``. ~/.local/lammps-ase-relaxed/env.sh``; run with ``python -m pytest -m lammps tests/test_lammps_real.py``.
Deselected by default (marker ``lammps``) and skipped with a reason when no ``lmp`` is found.

All checks use ``demo-carbon-random`` (2 layers, r_c = 4 Å, float64), so the potential must rebuild
second-layer bonds across rank boundaries and periodic images (pair cutoff 8 Å):

* energy, forces and the virial (LAMMPS pressure with zero velocities) against RelaxedCalculator's
  energy, forces and stress, for the (10,0) tube and a 3D-periodic diamond cell, to 1e-6 relative;
* 20 velocity-Verlet steps in LAMMPS against 20 in ASE from the same velocities (positions to 1e-6 Å);
* ``mpirun -np 2`` against one rank on a 320-atom tube after 20 steps (positions to 1e-6 Å).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import ase.io
import numpy as np
import pytest
from ase import units
from ase.build import bulk
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary
from ase.md.verlet import VelocityVerlet

from ase_relaxed import RelaxedCalculator
from ase_relaxed.integrations.lammps.setup import input_lines, site_dir
from ase_relaxed.structures import build_nanotube

pytestmark = pytest.mark.lammps

MODEL = "demo-carbon-random"
TIMESTEP_FS = 0.5
STEPS = 20


def _lmp() -> str:
    lmp = shutil.which("lmp")
    if lmp is None:
        pytest.skip("no lmp on PATH: build one with scripts/build_lammps.sh and source its env.sh")
    return lmp


def _potential(folder: Path) -> Path:
    potential = folder / "pot.pkl"
    if not potential.exists():
        subprocess.run(["ase-relaxed", "export-lammps", MODEL, str(potential)], check=True, capture_output=True)
    return potential


def _dump_frame(path: Path, index: int) -> np.ndarray:
    """Frame ``index`` of a ``dump custom`` file (sorted by id) as an array without the id column."""
    frame = path.read_text().split("ITEM: TIMESTEP")[1:][index]
    rows = frame.split("ITEM: ATOMS")[1].split("\n")[1:]
    return np.array([[float(x) for x in row.split()[1:]] for row in rows if row.strip()])


def run_lammps(folder: Path, atoms, ranks: int = 1, steps: int = 0) -> dict[str, np.ndarray | float]:
    """Run ``atoms`` (velocities included) in ``lmp`` on ``ranks`` MPI ranks for ``steps`` NVE steps.

    Returns the step-0 energy (eV), pressure tensor (bar, xx yy zz xy xz yz) and forces (eV/Å), and the
    unwrapped positions (Å) after the last step.
    """
    lmp = _lmp()
    tag = f"r{ranks}s{steps}n{len(atoms)}"
    ase.io.write(folder / f"{tag}.data", atoms, format="lammps-data", masses=True, velocities=True, units="metal")
    lines = input_lines(_potential(folder), ["C"], site_dir())
    lines.insert(lines.index("newton on") + 1, f"read_data {tag}.data")
    lines += [f"timestep {TIMESTEP_FS / 1000}", "fix integrate all nve",
              "thermo_style custom step pe pxx pyy pzz pxy pxz pyz", "thermo_modify format float %24.15g",
              f"dump f all custom {max(steps, 1)} {tag}.forces id fx fy fz",
              f"dump x all custom {max(steps, 1)} {tag}.xyz id xu yu zu",
              "dump_modify f sort id format float %24.17g", "dump_modify x sort id format float %24.17g",
              f"run {steps}"]
    (folder / f"in.{tag}").write_text("\n".join(lines) + "\n")
    command = [lmp, "-in", f"in.{tag}", "-log", f"log.{tag}"]
    if ranks > 1:
        mpirun = shutil.which("mpirun")
        if mpirun is None:
            pytest.skip("no mpirun on PATH")
        command = [mpirun, "--allow-run-as-root", "--oversubscribe", "-np", str(ranks), *command]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    subprocess.run(command, cwd=folder, check=True, capture_output=True, env=env, timeout=600)
    log = (folder / f"log.{tag}").read_text().splitlines()
    header = [i for i, line in enumerate(log) if line.split()[:2] == ["Step", "PotEng"]][0]
    first = [float(x) for x in log[header + 1].split()]
    return {"energy": first[1], "pressure": np.array(first[2:8]), "forces": _dump_frame(folder / f"{tag}.forces", 0),
            "positions": _dump_frame(folder / f"{tag}.xyz", -1)}


def _tube(length: int = 4):
    atoms = build_nanotube(10, 0, length=length)
    atoms.center(vacuum=6.0, axis=(0, 1))
    atoms.pbc = True
    return atoms


def _diamond():
    atoms = bulk("C", "diamond", a=3.567, cubic=True).repeat(2)
    atoms.rattle(0.05, seed=3)
    return atoms


def _with_velocities(atoms, temperature_k: float = 600.0):
    MaxwellBoltzmannDistribution(atoms, temperature_K=temperature_k, rng=np.random.default_rng(7))
    Stationary(atoms)
    return atoms


@pytest.mark.parametrize("make", [_tube, _diamond], ids=["tube-10-0", "diamond-64"])
def test_energy_forces_virial_match_calculator(tmp_path, make):
    """Step 0 of LAMMPS = RelaxedCalculator: energy, forces, and pressure = −stress (zero velocities)."""
    atoms = make()
    atoms.calc = RelaxedCalculator(MODEL, device="cpu")
    out = run_lammps(tmp_path, atoms, ranks=1)
    assert out["energy"] == pytest.approx(atoms.get_potential_energy(), rel=1e-6)
    scale = np.abs(atoms.get_forces()).max()
    assert np.abs(out["forces"] - atoms.get_forces()).max() < 1e-6 * scale
    xx, yy, zz, yz, xz, xy = -atoms.get_stress() / units.bar  # ASE Voigt order, tension positive
    expected = np.array([xx, yy, zz, xy, xz, yz])
    assert np.abs(out["pressure"] - expected).max() < 1e-6 * np.abs(expected).max()


@pytest.mark.parametrize("make", [_tube, _diamond], ids=["tube-10-0", "diamond-64"])
def test_nve_trajectory_matches_ase(tmp_path, make):
    """20 NVE steps in LAMMPS = 20 velocity-Verlet steps in ASE from the same velocities (1e-6 Å)."""
    atoms = _with_velocities(make())
    out = run_lammps(tmp_path, atoms, ranks=1, steps=STEPS)
    atoms.calc = RelaxedCalculator(MODEL, device="cpu")
    VelocityVerlet(atoms, timestep=TIMESTEP_FS * units.fs).run(STEPS)
    shift = out["positions"] - atoms.get_positions()
    shift -= atoms.cell.cartesian_positions(np.round(atoms.cell.scaled_positions(shift)))  # wrapped images
    assert np.abs(shift).max() < 1e-6


def test_two_ranks_match_one_rank_after_nve(tmp_path):
    """``mpirun -np 2`` on a 320-atom tube (split along its axis) = one rank after 20 steps (1e-6 Å)."""
    atoms = _with_velocities(_tube(length=8))
    one = run_lammps(tmp_path, atoms, ranks=1, steps=STEPS)
    two = run_lammps(tmp_path, atoms, ranks=2, steps=STEPS)
    assert two["energy"] == pytest.approx(one["energy"], rel=1e-10)
    assert np.abs(two["forces"] - one["forces"]).max() < 1e-9
    assert np.abs(two["positions"] - one["positions"]).max() < 1e-6
    assert np.abs(one["positions"] - atoms.get_positions()).max() > 1e-3  # the atoms did move
