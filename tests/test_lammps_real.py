"""Our models inside a real ``lmp`` (``pair_style mliap unified``), against RelaxedCalculator.

Needs the LAMMPS of ``scripts/build_lammps.sh`` (ML-IAP + PYTHON + MPI) on PATH, e.g. after
``. ~/.local/lammps-ase-relaxed/env.sh``; run with ``python -m pytest -m lammps tests/test_lammps_real.py``.
Deselected by default (marker ``lammps``) and skipped with a reason when no ``lmp`` is found.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import ase.io
import numpy as np
import pytest

from ase_relaxed import RelaxedCalculator
from ase_relaxed.integrations.lammps.setup import input_lines, site_dir
from ase_relaxed.structures import build_nanotube

pytestmark = pytest.mark.lammps


def _lmp() -> str:
    lmp = shutil.which("lmp")
    if lmp is None:
        pytest.skip("no lmp on PATH: build one with scripts/build_lammps.sh and source its env.sh")
    return lmp


def _run(tmp_path, ranks: int) -> tuple[float, np.ndarray]:
    """Energy (eV) and forces (eV/Å, sorted by atom id) of the (10,0) tube from ``lmp`` on ``ranks`` ranks."""
    lmp = _lmp()
    potential = tmp_path / "pot.pkl"
    if not potential.exists():
        subprocess.run(["ase-relaxed", "export-lammps", "demo-carbon-random", str(potential)], check=True,
                       capture_output=True)
    lines = input_lines(potential, ["C"], site_dir())
    lines.insert(lines.index("newton on") + 1, "read_data tube.data")
    dump = f"forces{ranks}.dump"
    lines += ["thermo_style custom step pe", "thermo_modify format float %20.12f",
              f"dump d all custom 1 {dump} id fx fy fz", "dump_modify d sort id format float %22.15g", "run 0"]
    (tmp_path / "in.run").write_text("\n".join(lines) + "\n")
    command = [lmp, "-in", "in.run", "-log", f"log{ranks}"]
    if ranks > 1:
        mpirun = shutil.which("mpirun")
        if mpirun is None:
            pytest.skip("no mpirun on PATH")
        command = [mpirun, "--allow-run-as-root", "--oversubscribe", "-np", str(ranks), *command]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    subprocess.run(command, cwd=tmp_path, check=True, capture_output=True, env=env, timeout=300)
    log = (tmp_path / f"log{ranks}").read_text().splitlines()
    energy = float(log[[i for i, line in enumerate(log) if line.split()[:2] == ["Step", "PotEng"]][0] + 1].split()[1])
    rows = (tmp_path / dump).read_text().split("ITEM: ATOMS id fx fy fz")[1].split("\n")[1:]
    forces = np.array([[float(x) for x in row.split()[1:]] for row in rows if row.strip()])
    return energy, forces


@pytest.fixture
def tube(tmp_path):
    atoms = build_nanotube(10, 0, length=4)
    atoms.center(vacuum=6.0, axis=(0, 1))
    atoms.pbc = True
    ase.io.write(tmp_path / "tube.data", atoms, format="lammps-data", masses=True, units="metal")
    return atoms


def test_lammps_matches_calculator_and_ranks(tmp_path, tube):
    """A 2-layer float64 model: LAMMPS energy/forces = RelaxedCalculator's, and 2 ranks = 1 rank."""
    tube.calc = RelaxedCalculator("demo-carbon-random", device="cpu")
    energy, forces = _run(tmp_path, 1)
    assert energy == pytest.approx(tube.get_potential_energy(), rel=1e-6)
    scale = np.abs(tube.get_forces()).max()
    assert np.abs(forces - tube.get_forces()).max() < 1e-6 * scale
    energy2, forces2 = _run(tmp_path, 2)
    assert energy2 == pytest.approx(energy, rel=1e-10)
    assert np.abs(forces2 - forces).max() < 1e-10
