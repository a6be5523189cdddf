"""LAMMPS ``pair_style mliap unified``: any conservative ase_relaxed model, exact across MPI ranks.

* :mod:`.potential`: :class:`MLIAPPotential`, the object LAMMPS loads (``ase-relaxed export-lammps``);
* :mod:`.ghost_graph`: one rank's pair list → the exact local graph, and forces back to pair forces;
* :mod:`.emulator`: a LAMMPS-free stand-in for a rank's ML-IAP data, for tests;
* :mod:`.setup`: the LAMMPS input lines, element-order checks and the check that a LAMMPS can run it.

See docs/lammps.md. Importing this package does not import LAMMPS.
"""

from .potential import FORMAT, MLIAPPotential, receptive_field, register_with_lammps, write_potential

__all__ = ["FORMAT", "MLIAPPotential", "receptive_field", "register_with_lammps", "write_potential"]
