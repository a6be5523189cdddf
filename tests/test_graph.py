"""Neighbour lists and batching against ASE's reference implementation."""

import importlib.util

import numpy as np
import pytest
import torch
from ase.build import bulk, molecule
from ase.neighborlist import neighbor_list as ase_neighbor_list
from conftest import SYSTEMS

from ase_relaxed import keys
from ase_relaxed.errors import InputError
from ase_relaxed.graph import atoms_to_graph, batch_graphs, check_atoms, neighbor_list, split_per_graph


def edge_set(i, j, shifts):
    return set(zip(i.tolist(), j.tolist(), map(tuple, np.asarray(shifts).tolist())))


HAS_VESIN = importlib.util.find_spec("vesin") is not None
VESIN = pytest.param("vesin", marks=pytest.mark.skipif(not HAS_VESIN, reason="vesin is an optional backend "
                                                       "(pip install -e '.[vesin]'); tested where installed"))


@pytest.mark.parametrize("backend", ["matscipy", VESIN, "ase"])
@pytest.mark.parametrize("name", ["tube", "bulk", "molecule"])
def test_neighbor_list_matches_ase(name, backend):
    atoms = SYSTEMS[name]()
    ours = edge_set(*neighbor_list(atoms, 3.5, backend))
    reference = edge_set(*ase_neighbor_list("ijS", atoms, 3.5))
    assert ours == reference and len(ours) > 0


@pytest.mark.skipif(HAS_VESIN, reason="checks the message shown when vesin is absent")
def test_missing_vesin_backend_names_the_extra():
    with pytest.raises(InputError, match=r"ase_relaxed\[vesin\]"):
        neighbor_list(SYSTEMS["bulk"](), 3.5, "vesin")


def test_small_cell_has_many_images_of_one_neighbour():
    crystal = bulk("C", "diamond", a=3.57)  # 2 atoms, cutoff > cell
    i, j, shifts = neighbor_list(crystal, 5.0)
    pairs_0_1 = [(a, b) for a, b in zip(i, j) if a == 0 and b == 1]
    assert len(pairs_0_1) > 10  # the same atom seen through many cell shifts
    vectors = crystal.positions[j] - crystal.positions[i] + shifts @ crystal.cell.array
    d = np.linalg.norm(vectors, axis=1)
    assert d.max() < 5.0 and d.min() > 1.0


def test_tube_is_periodic_only_along_its_axis():
    tube = SYSTEMS["tube"]()
    _, _, shifts = neighbor_list(tube, 3.5)
    assert np.all(shifts[:, :2] == 0) and np.any(shifts[:, 2] != 0)


def test_molecule_far_outside_its_cell():
    mol = molecule("CH4")
    mol.positions += 100.0
    assert len(neighbor_list(mol, 1.5)[0]) == 8  # 4 C-H bonds, both directions


def test_batch_offsets_and_split():
    graphs = [atoms_to_graph(SYSTEMS[k](), 3.5) for k in ("tube", "bulk", "molecule")]
    batch = batch_graphs(graphs)
    n = [int(g[keys.NUM_ATOMS][0]) for g in graphs]
    assert batch[keys.POSITIONS].shape == (sum(n), 3)
    assert batch[keys.CELL].shape == (3, 3, 3)
    assert torch.equal(torch.bincount(batch[keys.BATCH]), torch.tensor(n))
    # edges of the second graph point into its own atom range
    e0 = graphs[0][keys.EDGE_INDEX].shape[1]
    e1 = graphs[1][keys.EDGE_INDEX].shape[1]
    second = batch[keys.EDGE_INDEX][:, e0 : e0 + e1]
    assert second.min() >= n[0] and second.max() < n[0] + n[1]
    parts = split_per_graph(batch[keys.POSITIONS], batch[keys.NUM_ATOMS])
    for part, graph in zip(parts, graphs):
        assert torch.equal(part, graph[keys.POSITIONS])


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda a: a[[]], "no atoms"),
        (lambda a: a.positions.__setitem__((0, 0), np.nan) or a, "NaN"),
        (lambda a: a.positions.__setitem__((1, 2), np.inf) or a, "NaN or infinite"),
    ],
)
def test_check_atoms_rejects_bad_structures(mutate, message):
    atoms = mutate(molecule("CH4"))
    with pytest.raises(InputError, match=message):
        check_atoms(atoms, ["C", "H"])


def test_check_atoms_names_unknown_elements():
    with pytest.raises(InputError, match=r"\['O'\] not in the model"):
        check_atoms(molecule("H2O"), ["C", "H"])
