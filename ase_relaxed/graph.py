"""From ``ase.Atoms`` to graphs: neighbour lists, validation and batching.

An edge ``(i, j, S)`` means atom ``j`` (shifted by the integer cell vector ``S``)
lies within the cutoff of atom ``i``:

    r_ij = r_j - r_i + S @ cell,   |r_ij| < r_c.

Small periodic cells yield many images of the same neighbour (several edges
``(i, j, S)`` with different ``S``); mixed periodicity such as a nanotube with
``pbc=[False, False, True]`` and molecules (``pbc=False``, any cell) are handled.

>>> from ase.build import bulk
>>> data = atoms_to_graph(bulk("C", "diamond", a=3.57), cutoff=3.0)
>>> data["edge_index"].shape[0]
2
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from ase import Atoms

from . import keys
from .errors import InputError

NEIGHBOR_LIST_BACKENDS = ("matscipy", "vesin", "ase")
#: |det(cell)| (Å³) below which a cell has no volume (a molecule, or a tube with cell [0, 0, L])
VOLUME_TOL = 1e-9
#: pairs closer than this (Å) are coincident: no model can evaluate them (the edge direction r̂_ij is undefined)
COINCIDENT_DISTANCE = 1e-6


def neighbor_list(
    atoms: Atoms, cutoff: float, backend: str = "matscipy"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(i, j, S)`` for all pairs closer than ``cutoff`` (self-pairs excluded).

    ``backend`` is ``"matscipy"`` (default), ``"vesin"`` or ``"ase"``.  matscipy
    needs a non-singular cell, so molecules with a zero cell fall back to ASE.
    """
    if backend not in NEIGHBOR_LIST_BACKENDS:
        raise InputError(f"unknown neighbour-list backend {backend!r}; choose from {NEIGHBOR_LIST_BACKENDS}")
    cell = np.asarray(atoms.cell.array, dtype=float)
    singular = abs(np.linalg.det(cell)) < 1e-9
    if backend == "vesin" and not singular:
        try:
            from vesin import NeighborList
        except ImportError:
            raise InputError("the vesin neighbour list is optional and not installed: pip install 'ase_relaxed[vesin]'"
                             " (or use backend 'matscipy', the default)") from None

        i, j, shifts = NeighborList(cutoff=cutoff, full_list=True).compute(
            atoms.positions, cell, [bool(p) for p in atoms.pbc], quantities="ijS"
        )
    elif backend == "matscipy" and not singular:
        from matscipy.neighbours import neighbour_list

        i, j, shifts = neighbour_list("ijS", atoms, cutoff)
    else:
        from ase.neighborlist import neighbor_list as ase_neighbor_list

        i, j, shifts = ase_neighbor_list("ijS", atoms, cutoff)
    return np.asarray(i, dtype=np.int64), np.asarray(j, dtype=np.int64), np.asarray(shifts, dtype=np.int64)


def check_atoms(atoms: Atoms, species: Sequence[str] | None = None) -> None:
    """Raise :class:`InputError` for structures no model can evaluate.

    Checks: at least one atom, finite positions and cell, and (if ``species``
    is given) that every element is known to the model.
    """
    if len(atoms) == 0:
        raise InputError("the structure has no atoms")
    if not np.all(np.isfinite(atoms.positions)):
        bad = np.where(~np.isfinite(atoms.positions).all(axis=1))[0]
        raise InputError(f"positions contain NaN or infinite values (atoms {bad[:10].tolist()})")
    if not np.all(np.isfinite(atoms.cell.array)):
        raise InputError("the cell contains NaN or infinite values")
    if atoms.pbc.all() and not has_volume(atoms):
        raise InputError("pbc=True but the cell has zero volume")
    if species is not None:
        check_species(atoms.numbers, species)


def check_species(numbers: Sequence[int] | np.ndarray | torch.Tensor, species: Sequence[str]) -> None:
    """Raise :class:`InputError` naming every element of ``numbers`` (atomic numbers) not in ``species``.

    >>> check_species([6, 1, 8], ["C", "H"])
    Traceback (most recent call last):
    ...
    ase_relaxed.errors.InputError: element(s) ['O'] not in the model, which knows only ['C', 'H']
    """
    from ase.data import atomic_numbers, chemical_symbols

    numbers = torch.as_tensor(numbers).cpu().numpy() if isinstance(numbers, torch.Tensor) else np.asarray(numbers)
    known = {atomic_numbers[s] for s in species}
    unknown = sorted({int(z) for z in np.unique(numbers)} - known)
    if unknown:
        names = [chemical_symbols[z] if 0 <= z < len(chemical_symbols) else f"Z={z}" for z in unknown]
        raise InputError(f"element(s) {names} not in the model, which knows only {list(species)}")


def check_distances(
    atoms: Atoms, edges: tuple[np.ndarray, np.ndarray, np.ndarray], min_distance: float, on_close: str
) -> None:
    """Complain about atom pairs closer than ``min_distance`` Å.

    ``on_close`` is ``"error"`` (raise :class:`InputError`), ``"warn"`` or ``"ignore"``.  Coincident
    pairs (closer than :data:`COINCIDENT_DISTANCE`) raise in every mode: r̂_ij = r_ij/|r_ij| is
    undefined there, and a model would return NaN.
    """
    i, j, shifts = edges
    if len(i) == 0:
        return
    vectors = atoms.positions[j] - atoms.positions[i] + shifts @ atoms.cell.array
    distances = np.linalg.norm(vectors, axis=1)
    k = int(np.argmin(distances))
    if distances[k] < COINCIDENT_DISTANCE:
        raise InputError(f"atoms {i[k]} and {j[k]} are {distances[k]:.3g} Å apart: coincident atoms cannot be "
                         f"evaluated (the direction between them is undefined), whatever on_close says")
    if on_close == "ignore" or min_distance <= 0:
        return
    if distances[k] < min_distance:
        message = (
            f"atoms {i[k]} and {j[k]} are {distances[k]:.3f} Å apart, closer than the physical "
            f"minimum of {min_distance} Å (overlapping atoms?)"
        )
        if on_close == "error":
            raise InputError(message + "; pass on_close='warn' (CLI: --allow-close) to evaluate anyway")
        import warnings

        warnings.warn(message, stacklevel=3)


def atoms_to_graph(
    atoms: Atoms,
    cutoff: float,
    backend: str = "matscipy",
    edges: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> dict[str, torch.Tensor]:
    """Convert one structure to a float64 graph dict (see :mod:`ase_relaxed.keys`).

    Pass precomputed ``edges`` to skip the neighbour search.
    """
    i, j, shifts = edges if edges is not None else neighbor_list(atoms, cutoff, backend)
    n = len(atoms)
    return {
        keys.POSITIONS: torch.tensor(atoms.positions, dtype=torch.float64),
        keys.ATOMIC_NUMBERS: torch.tensor(atoms.numbers, dtype=torch.long),
        keys.CELL: torch.tensor(np.asarray(atoms.cell.array), dtype=torch.float64).reshape(1, 3, 3),
        keys.PBC: torch.tensor(np.asarray(atoms.pbc), dtype=torch.bool).reshape(1, 3),
        keys.EDGE_INDEX: torch.from_numpy(np.stack([i, j])).long(),
        keys.EDGE_SHIFT: torch.from_numpy(shifts).to(torch.float64),
        keys.BATCH: torch.zeros(n, dtype=torch.long),
        keys.NUM_ATOMS: torch.tensor([n], dtype=torch.long),
    }


def batch_graphs(graphs: Sequence[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Concatenate graphs into one disconnected graph with a ``batch`` index.

    Edge indices are offset by the atom count of the graphs before them.
    """
    if len(graphs) == 0:
        raise InputError("cannot batch an empty list of structures")
    offsets = np.cumsum([0] + [int(g[keys.NUM_ATOMS].sum()) for g in graphs[:-1]])
    graph_offsets = np.cumsum([0] + [int(g[keys.CELL].shape[0]) for g in graphs[:-1]])
    return {
        keys.POSITIONS: torch.cat([g[keys.POSITIONS] for g in graphs]),
        keys.ATOMIC_NUMBERS: torch.cat([g[keys.ATOMIC_NUMBERS] for g in graphs]),
        keys.CELL: torch.cat([g[keys.CELL] for g in graphs]),
        keys.PBC: torch.cat([g[keys.PBC] for g in graphs]),
        keys.EDGE_INDEX: torch.cat([g[keys.EDGE_INDEX] + int(o) for g, o in zip(graphs, offsets)], dim=1),
        keys.EDGE_SHIFT: torch.cat([g[keys.EDGE_SHIFT] for g in graphs]),
        keys.BATCH: torch.cat([g[keys.BATCH] + int(o) for g, o in zip(graphs, graph_offsets)]),
        keys.NUM_ATOMS: torch.cat([g[keys.NUM_ATOMS] for g in graphs]),
    }


def split_per_graph(values: torch.Tensor, num_atoms: torch.Tensor) -> list[torch.Tensor]:
    """Split a per-atom tensor of a batch back into one tensor per structure."""
    return list(torch.split(values, [int(k) for k in num_atoms]))


def is_3d_periodic(atoms: Atoms) -> bool:
    """True when the structure is periodic in all three directions with a non-zero volume."""
    return bool(atoms.pbc.all()) and has_volume(atoms)


def has_volume(atoms: Atoms) -> bool:
    """True when the cell spans a non-zero volume V = |det(cell)|, periodic or not (vacuum counts).

    Stress σ = (1/V) ∂E/∂ε is defined exactly for these cells (a tube or slab in a vacuum box too).

    >>> from ase.build import molecule, nanotube
    >>> has_volume(molecule("CH4")), has_volume(nanotube(5, 0)), has_volume(nanotube(5, 0, vacuum=3.0))
    (False, False, True)
    """
    return bool(abs(atoms.cell.volume) > VOLUME_TOL)
