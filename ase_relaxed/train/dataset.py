"""Labelled structures: reading, validation, splitting, graphs and the energy shift.

The per-species energy shift μ is fitted by least squares before training,

    E_k ≈ Σ_s n_{k,s} μ_s        (n_{k,s}: atoms of species s in structure k),

so the network learns only the small remainder; the energy scale is the RMS
of the reference force components (NequIP's choice).

>>> # frames = read_labelled("data.extxyz", species=["C"])
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from ase import Atoms

from .. import keys
from ..errors import InputError
from ..graph import atoms_to_graph, check_atoms, is_3d_periodic

STRESS_MASK = "stress_mask"  # (g,) bool: whether the stress label exists


def read_labelled(path: str | Path, species: list[str]) -> list[Atoms]:
    """All frames of ``path`` with energy and forces labels; clear errors otherwise."""
    from ase.io import read

    path = Path(path)
    if not path.is_file():
        raise InputError(f"data file {str(path)!r} does not exist")
    try:
        frames = read(str(path), index=":")
    except Exception as error:  # ASE raises many kinds for unreadable files
        raise InputError(f"cannot read {str(path)!r}: {error}") from None
    if not frames:
        raise InputError(f"data file {str(path)!r} holds no structures")
    for k, atoms in enumerate(frames):
        check_atoms(atoms, species)
        results = atoms.calc.results if atoms.calc is not None else {}
        missing = [name for name in ("energy", "forces") if name not in results]
        if missing:
            raise InputError(f"frame {k} of {str(path)!r} has no {' and no '.join(missing)} label")
        if not np.isfinite(results["energy"]) or not np.isfinite(results["forces"]).all():
            raise InputError(f"frame {k} of {str(path)!r} has non-finite labels")
    return frames


def family_of(atoms: Atoms) -> str:
    return str(atoms.info.get("family", "unknown"))


def split_indices(frames: list[Atoms], data) -> dict[str, list[int]]:
    """Reproducible train/val/test split (random, or whole families held out for test)."""
    rng = np.random.default_rng(data.seed)
    n = len(frames)
    if data.split_by == "family":
        families = sorted({family_of(a) for a in frames})
        unknown = sorted(set(data.test_families) - set(families))
        if unknown:
            raise InputError(f"test_families {unknown} are not in the data; families there: {families}")
        test = [k for k, a in enumerate(frames) if family_of(a) in data.test_families]
        rest = [k for k in range(n) if k not in set(test)]
    else:
        order = rng.permutation(n).tolist()
        n_test = int(round(data.test_fraction * n))
        test, rest = sorted(order[:n_test]), order[n_test:]
    rest = [rest[k] for k in rng.permutation(len(rest))]
    n_val = int(round(data.val_fraction * len(rest)))
    split = {"train": sorted(rest[n_val:]), "val": sorted(rest[:n_val]), "test": sorted(test)}
    if not split["train"]:
        raise InputError(f"the training split is empty ({n} structures, split {data.split_by}); add data")
    if data.val_fraction > 0 and not split["val"]:
        raise InputError("the validation split is empty; raise data.val_fraction or add data")
    return split


def labelled_graph(atoms: Atoms, cutoff: float) -> dict[str, torch.Tensor]:
    """Graph of one frame with its labels attached."""
    graph = atoms_to_graph(atoms, cutoff)
    results = atoms.calc.results
    graph[keys.ENERGY] = torch.tensor([results["energy"]], dtype=torch.float64)
    graph[keys.FORCES] = torch.tensor(results["forces"], dtype=torch.float64)
    has_stress = "stress" in results and is_3d_periodic(atoms)
    stress = np.zeros((3, 3))
    if has_stress:
        from ase.stress import voigt_6_to_full_3x3_stress

        s = np.asarray(results["stress"])
        stress = voigt_6_to_full_3x3_stress(s) if s.shape == (6,) else s
    graph[keys.STRESS] = torch.tensor(stress, dtype=torch.float64).reshape(1, 3, 3)
    graph[STRESS_MASK] = torch.tensor([has_stress])
    return graph


def batch_labelled(graphs: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    from ..graph import batch_graphs

    batch = batch_graphs(graphs)
    for key in (keys.ENERGY, keys.FORCES, keys.STRESS, STRESS_MASK):
        batch[key] = torch.cat([g[key] for g in graphs])
    return batch


@dataclass
class DataStatistics:
    energy_shift: list[float]
    force_rms: float
    avg_num_neighbors: float


def fit_statistics(frames: list[Atoms], graphs: list[dict], species: list[str]) -> DataStatistics:
    """Least-squares per-species energy shift, force RMS and mean neighbour count."""
    counts = np.array([[np.sum(a.numbers == _z(s)) for s in species] for a in frames], float)
    energies = np.array([a.calc.results["energy"] for a in frames])
    shift, *_ = np.linalg.lstsq(counts, energies, rcond=None)
    forces = np.concatenate([a.calc.results["forces"].ravel() for a in frames])
    force_rms = float(np.sqrt(np.mean(forces**2))) or 1.0
    edges = sum(g[keys.EDGE_INDEX].shape[1] for g in graphs)
    atoms = sum(len(a) for a in frames)
    return DataStatistics(shift.tolist(), force_rms, edges / atoms)


def _z(symbol: str) -> int:
    from ase.data import atomic_numbers

    return atomic_numbers[symbol]
