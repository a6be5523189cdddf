"""Molecular dynamics and relaxation on ASE integrators, from Python or ``ase-relaxed md|relax``.

* :mod:`.options`: :class:`MDOptions`, one dataclass for flags, YAML configs and checkpoints;
* :mod:`.ensembles`: the ASE integrator of each ensemble and its checkpointable state;
* :mod:`.replicas`: lockstepped replicas sharing one batched force evaluation per step;
* :mod:`.guard`: :class:`SimulationError` on NaN, huge forces, overlapping atoms, runaway T;
* :mod:`.checkpoint`, :mod:`.outputs`: atomic npz checkpoints; CSV log and trajectory, cut back on resume;
* :mod:`.runner`: :class:`MDRunner` (state + ``step()`` + ``run()``) and :func:`run_md`;
* :mod:`.relax`: FIRE/BFGS relaxation, with ``FrechetCellFilter`` for the cell;
* :mod:`.md_cli`: ``add_md_parsers(sub)`` for the command line.

>>> from ase.build import bulk
>>> from ase.calculators.emt import EMT
>>> result = run_md(bulk("Cu", cubic=True), EMT(), ensemble="nve", temperature=300, steps=10,
...                 traj="none", log="none", checkpoint="none", quiet=True)
>>> result.step, len(result.atoms)
(10, 1)
"""

from .guard import Guard, SimulationError
from .options import MDOptions
from .relax import RelaxResult, relax
from .replicas import BatchedReplicaEvaluator, ReplicaCalculator
from .runner import MDResult, MDRunner, run_md

__all__ = [
    "BatchedReplicaEvaluator", "Guard", "MDOptions", "MDResult", "MDRunner", "RelaxResult", "ReplicaCalculator",
    "SimulationError", "relax", "run_md",
]
