"""A stand-in for LAMMPS's ML-IAP data of one rank, built from ``ase.Atoms`` (no LAMMPS needed).

It reproduces what the plain ML-IAP coupling hands to ``compute_forces``: locals are the atoms of
``atoms`` whose index is in ``owned`` (all by default); ghosts are every other atom or periodic image
within the pair cutoff of an owned atom; pairs are (i owned, j local or ghost, r_ij = x_j − x_i,
|r_ij| < cutoff).  :meth:`FakeMLIAPData.forces` then does what LAMMPS does with the answer:
f_i += f_p, f_j −= f_p, ghost forces summed onto their owner atoms, and the virial

    W = −Σ_p r_p ⊗ f_p        (LAMMPS's ``v_tally``;  σ_ASE = −W / V for a 3D cell).

``wrap=False`` keeps atoms outside the cell where they are, so that one rank's atoms can form groups
joined only through ghosts (what LAMMPS gives for sparse systems).
Splitting the atoms into two ``owned`` sets and adding the results is a two-rank domain decomposition.

>>> from ase.build import bulk
>>> data = FakeMLIAPData(bulk("C", "diamond", a=3.57, cubic=True), cutoff=2.0, elements=["C"])
>>> data.nlocal, data.npairs, data.ntotal > data.nlocal
(8, 32, True)
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from ase import Atoms

from ...graph import neighbor_list


class FakeMLIAPData:
    """The attributes ``compute_forces`` reads (iatoms, elems, pair_i, jatoms, rij, ntotal, npairs ...)
    and the ones it writes (``eatoms``, ``energy``, ``update_pair_forces``)."""

    def __init__(self, atoms: Atoms, cutoff: float, elements: Sequence[str],
                 owned: Sequence[int] | None = None, wrap: bool = True) -> None:
        if wrap:  # LAMMPS keeps every atom inside the box
            atoms = atoms.copy()
            atoms.wrap()
        owned_ = np.arange(len(atoms)) if owned is None else np.asarray(owned, dtype=np.int64)
        i, j, shifts = neighbor_list(atoms, cutoff)
        keep = np.isin(i, owned_)
        i, j, shifts = i[keep], j[keep], shifts[keep]
        vectors = atoms.positions[j] - atoms.positions[i] + shifts @ atoms.cell.array
        index = {int(a): k for k, a in enumerate(owned_)}  # local atoms first, as in LAMMPS
        owner = list(owned_)
        lammps_j = np.empty(len(j), dtype=np.int64)
        for p, (jj, shift) in enumerate(zip(j, shifts)):
            key = (int(jj), *map(int, shift)) if (shift.any() or int(jj) not in index) else int(jj)
            if key not in index:
                index[key] = len(owner)
                owner.append(int(jj))
            lammps_j[p] = index[key]
        self.owner = np.asarray(owner, dtype=np.int64)  # the atom of ``atoms`` behind each local/ghost
        symbols = atoms.get_chemical_symbols()
        self.elems = np.asarray([list(elements).index(symbols[a]) for a in self.owner], dtype=np.int32)
        self.nlocal = self.nlistatoms = len(owned_)
        self.ntotal = len(owner)
        self.iatoms = np.arange(self.nlocal, dtype=np.int32)
        self.pair_i = np.asarray([index[int(a)] for a in i], dtype=np.int32)
        self.jatoms = self.pair_j = lammps_j.astype(np.int32)
        self.rij = np.ascontiguousarray(vectors, dtype=np.float64)
        self.npairs = len(i)
        self.natoms = len(atoms)
        self.eatoms = np.zeros(self.nlocal)
        self.energy = 0.0
        self.fij = np.zeros((self.npairs, 3))

    def update_pair_forces(self, fij: np.ndarray) -> None:
        self.fij = np.array(fij, dtype=np.float64)

    def forces(self) -> np.ndarray:
        """Forces on the atoms of the original ``atoms`` after LAMMPS's reverse communication."""
        f = np.zeros((self.ntotal, 3))
        np.add.at(f, self.pair_i, self.fij)
        np.add.at(f, self.jatoms, -self.fij)
        out = np.zeros((self.natoms, 3))
        np.add.at(out, self.owner, f)
        return out

    def virial(self) -> np.ndarray:
        """W_ab = −Σ_p r_a f_b (3, 3), in eV."""
        return -np.einsum("pa,pb->ab", self.rij, self.fij)

    def per_atom_energies(self) -> np.ndarray:
        """``eatoms`` as energies of the original atoms (zero for atoms this rank does not own)."""
        out = np.zeros(self.natoms)
        out[self.owner[: self.nlocal]] = self.eatoms
        return out
