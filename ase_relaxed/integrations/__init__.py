"""Bridges from ase_relaxed models to engines written by others.

Each module drives an existing engine rather than re-implementing it:

* ``torch_sim``: a torch-sim ``ModelInterface`` over any ase_relaxed model (batched GPU/CPU MD);
* ``farm``: Dask task farms of phonon/MD/relaxation/evaluation jobs into an ASE database;
* ``lammps`` (planned): LAMMPS ``pair_style mliap unified``.

The engines are optional dependencies (extras ``[torchsim]``, ``[distributed]``); a module that needs a
missing one raises a one-line error naming the extra. Importing this package imports none of them.
"""
