"""Amorphous carbon snapshots: a random melt quenched with a cheap potential (matscipy Brenner).

Atoms are dropped at random into a cubic box of a random density (rejecting any closer than
``min_distance`` to another, minimum image), relaxed a little, held at ``melt_temperature`` for
``melt_steps`` (Langevin, ``timestep``), cooled linearly to ``final_temperature`` over ``quench_steps``
(the target lowered every ``quench_steps / 20`` steps) and, at rest, returned: a quenched snapshot for a
reference method to label. Everything random comes from the caller's generator, so a snapshot is a
function of (settings, generator state).

>>> from ase_relaxed.reference.generate import reference_calculator
>>> quick = MeltQuench(n_atoms=16, melt_steps=5, quench_steps=5, relax_steps=5)
>>> atoms, settings = melt_quench(quick, np.random.default_rng(0), reference_calculator("brenner")[0])
>>> len(atoms), sorted(settings)
(16, ['density_g_cm3', 'melt_temperature', 'quench_steps'])
"""

from __future__ import annotations

import numpy as np
from ase import Atoms, units
from pydantic import Field

from ..configuration import Config
from ..errors import InputError

CARBON_MASS_G = 12.011 * 1.66053906660e-24


class MeltQuench(Config):
    """Melt-and-quench settings.  Temperatures in K, densities in g/cm³, timestep in fs, lengths in Å."""

    n_atoms: int = Field(128, ge=2)
    density_range: tuple[float, float] = (2.0, 3.2)
    min_distance: float = Field(1.3, gt=0)
    melt_temperature: float = Field(5000.0, gt=0)
    final_temperature: float = Field(300.0, ge=0)
    melt_steps: int = Field(500, ge=0)
    quench_steps: int = Field(500, ge=0)
    relax_steps: int = Field(50, ge=0)
    timestep: float = Field(1.0, gt=0)
    friction: float = Field(0.02, gt=0)


def box_length(n_atoms: int, density: float) -> float:
    """Edge (Å) of the cube that holds ``n_atoms`` carbon atoms at ``density`` g/cm³.

    >>> round(box_length(8, 3.515), 3)  # the conventional cell of diamond
    3.567
    """
    return float((n_atoms * CARBON_MASS_G / density) ** (1 / 3) * 1.0e8)


def random_box(n_atoms: int, length: float, min_distance: float, rng: np.random.Generator,
               tries: int = 10000) -> Atoms:
    """``n_atoms`` carbon atoms placed one by one at random in a periodic cube, none closer than ``min_distance``."""
    positions = np.empty((0, 3))
    for _ in range(n_atoms):
        for _ in range(tries):
            trial = rng.uniform(0.0, length, size=3)
            gap = positions - trial
            gap -= length * np.rint(gap / length)
            if not len(gap) or np.min(np.linalg.norm(gap, axis=1)) >= min_distance:
                positions = np.vstack([positions, trial])
                break
        else:
            raise InputError(f"cannot place {n_atoms} atoms {min_distance} Å apart in a {length:.2f} Å box")
    return Atoms(f"C{n_atoms}", positions=positions, cell=[length] * 3, pbc=True)


def melt_quench(config: MeltQuench, rng: np.random.Generator, md_calc) -> tuple[Atoms, dict]:
    """A quenched amorphous snapshot (velocities zero, no calculator) and what was drawn for it."""
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution
    from ase.optimize import FIRE

    density = float(rng.uniform(*config.density_range))
    atoms = random_box(config.n_atoms, box_length(config.n_atoms, density), config.min_distance, rng)
    atoms.calc = md_calc
    FIRE(atoms, logfile=None).run(fmax=0.5, steps=config.relax_steps)
    MaxwellBoltzmannDistribution(atoms, temperature_K=config.melt_temperature, rng=rng)
    dyn = Langevin(atoms, config.timestep * units.fs, temperature_K=config.melt_temperature,
                   friction=config.friction, rng=rng, fixcm=False)
    dyn.run(config.melt_steps)
    chunks = 20 if config.quench_steps >= 20 else max(config.quench_steps, 1)
    for c, steps in enumerate(np.diff(np.linspace(0, config.quench_steps, chunks + 1).astype(int))):
        fraction = (c + 1) / chunks
        dyn.set_temperature(temperature_K=config.melt_temperature + fraction * (config.final_temperature
                                                                                 - config.melt_temperature))
        dyn.run(int(steps))
    atoms.calc = None
    atoms.set_velocities(np.zeros_like(atoms.positions))
    atoms.wrap()
    return atoms, {"density_g_cm3": density, "melt_temperature": config.melt_temperature,
                   "quench_steps": config.quench_steps}
