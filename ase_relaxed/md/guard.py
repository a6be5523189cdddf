"""Stop a simulation that has gone unphysical before it writes garbage.

Checked after every step, on every replica:

* energy and forces are finite (a NaN spreads to every atom within a few steps);
* ``max_i |F_i| ≤ max_force`` (default 50 eV/Å: covalent forces at 300–3000 K are ≲ 10 eV/Å);
* every interatomic distance ``≥ min_distance`` (default 0.5 Å: no chemical bond is shorter
  than ~0.74 Å, H₂; below 0.5 Å the model extrapolates wildly);
* the instantaneous temperature ``T = 2 E_kin / (N_f k_B) ≤ max_temperature``.

A failed check raises :class:`SimulationError`; the runner has not yet written the bad step,
so the checkpoint and the trajectory still hold the last good state.

>>> from ase import Atoms
>>> from ase.calculators.singlepoint import SinglePointCalculator
>>> import numpy as np
>>> atoms = Atoms("C2", positions=[[0, 0, 0], [0, 0, 0.3]])
>>> atoms.calc = SinglePointCalculator(atoms, energy=0.0, forces=np.zeros((2, 3)))
>>> Guard().check(atoms, step=7)
Traceback (most recent call last):
...
ase_relaxed.md.guard.SimulationError: step 7: atoms 0 and 1 are 0.300 Å apart, closer than --min-distance 0.5 Å
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms

from ..errors import AseRelaxedError


class SimulationError(AseRelaxedError, RuntimeError):
    """An MD run stopped because its state became unphysical (NaN, huge force, overlap, runaway)."""


def minimum_distance(atoms: Atoms, cutoff: float) -> tuple[float, int, int]:
    """The shortest interatomic distance below ``cutoff`` (Å) and its pair; (inf, -1, -1) if none."""
    if len(atoms) < 2 or cutoff <= 0:
        return float("inf"), -1, -1
    from ..graph import neighbor_list

    i, j, shifts = neighbor_list(atoms, cutoff)
    if len(i) == 0:
        return float("inf"), -1, -1
    d = np.linalg.norm(atoms.positions[j] - atoms.positions[i] + shifts @ atoms.cell.array, axis=1)
    k = int(np.argmin(d))
    return float(d[k]), int(i[k]), int(j[k])


@dataclass
class Guard:
    """Thresholds (eV/Å, Å, K) and the check itself; ``label`` prefixes messages (e.g. a replica)."""

    max_force: float = 50.0
    min_distance: float = 0.5
    max_temperature: float = 10_000.0

    def check(self, atoms: Atoms, step: int, label: str = "") -> None:
        where = f"{label}step {step}"
        if not np.isfinite(atoms.positions).all():
            raise SimulationError(f"{where}: positions are NaN or infinite")
        forces = atoms.get_forces()
        bad = np.flatnonzero(~np.isfinite(forces).all(axis=1))
        if len(bad):
            raise SimulationError(f"{where}: NaN or infinite forces on atoms {bad[:10].tolist()}")
        energy = atoms.get_potential_energy()
        if not np.isfinite(energy):
            raise SimulationError(f"{where}: the potential energy is {energy}")
        norms = np.linalg.norm(forces, axis=1)
        k = int(np.argmax(norms)) if len(norms) else 0
        if len(norms) and norms[k] > self.max_force:
            raise SimulationError(
                f"{where}: force {norms[k]:.3g} eV/Å on atom {k} exceeds --max-force {self.max_force:g} eV/Å"
            )
        distance, i, j = minimum_distance(atoms, self.min_distance)
        if distance < self.min_distance:
            raise SimulationError(
                f"{where}: atoms {i} and {j} are {distance:.3f} Å apart, closer than --min-distance "
                f"{self.min_distance:g} Å"
            )
        temperature = atoms.get_temperature()
        if not np.isfinite(temperature) or temperature > self.max_temperature:
            raise SimulationError(
                f"{where}: temperature {temperature:.4g} K exceeds --max-temperature {self.max_temperature:g} K "
                "(runaway heating)"
            )
