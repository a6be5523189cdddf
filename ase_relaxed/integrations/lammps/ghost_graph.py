"""From one MPI rank's ML-IAP pair list to an exact local graph, and forces back to pair forces.

LAMMPS's ML-IAP coupling gives each rank, with the pair cutoff set to the model's receptive field
R = L·r_c (L message-passing layers of cutoff r_c), only pairs whose first atom is local:

    (i, j, r_ij = x_j − x_i),   i local,  j local or ghost,  |r_ij| < R.

A local atom's energy E_i depends on every atom within R of it, and on the bonds (|x_b − x_a| < r_c)
between them — including bonds between two ghosts, which the pair list never holds.  So we rebuild
positions: a breadth-first tree over the pairs, rooted at one local atom per connected component,

    x_root = 0,   x_j = x_i + r_ij   along tree pairs,

which places every atom within R of a local atom (all of them are ``j`` of some pair) in one frame;
the graph of all bonds |x_b − x_a| < r_c among them then contains every bond any local energy
depends on, so E_local = Σ_{i local} E_i on it is exact (ghosts' own energies are dropped).

Back to LAMMPS: ``update_pair_forces`` adds f_p to atom i_p and subtracts it from atom j_p.  With
g_n = ∂E_local/∂x_n for every node, put all of it on the tree pairs: the pair p that enters the
subtree S(c) of node c is the only pair crossing into S(c), so

    f_p = +Σ_{n ∈ S(c)} g_n  if c = j_p,   −Σ_{n ∈ S(c)} g_n  if c = i_p   (f_p = ∂E/∂r_ij for two atoms)

reproduces −g_n on every node (the root's share is −Σ_{n≠root} g_n = −g_root by translation
invariance).  LAMMPS's virial −Σ_p r_p ⊗ f_p then equals −Σ_n x_n ⊗ g_n, the virial of E_local,
and ghost forces go back to their owners by LAMMPS's own reverse communication.

>>> import numpy as np
>>> pair_i, pair_j = np.array([0, 0, 1]), np.array([1, 2, 0])
>>> rij = np.array([[1.0, 0, 0], [0, 2.0, 0], [-1.0, 0, 0]])
>>> tree = build_tree(pair_i, pair_j, rij, local=np.array([0, 1]), ntotal=3)
>>> tree.nodes.tolist(), tree.positions.tolist()
([0, 1, 2], [[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 2.0, 0.0]])
>>> g = np.array([[-3.0, 0, 0], [1.0, 0, 0], [2.0, 0, 0]])   # ∂E/∂x, sums to zero
>>> pair_forces(tree, g, npairs=3).tolist()
[[1.0, 0.0, 0.0], [2.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class PairTree:
    """A spanning forest of one rank's pair list.

    ``nodes`` (M,): LAMMPS indices (0 … ntotal−1) of the atoms in the graph, locals first-come;
    ``positions`` (M, 3): their rebuilt positions (Å, one frame per connected component);
    ``levels``: for each BFS depth ≥ 1, the compact node numbers reached at that depth;
    ``parent_pair`` (M,): the pair that reached each node (−1 for roots), walked forwards
    (``parent_sign`` +1: the node is its j) or backwards (−1: the node is its i);
    ``parent`` (M,): compact number of the node it was reached from (−1 for roots);
    ``is_local`` (M,): whether the node is a local atom.
    """

    nodes: np.ndarray
    positions: np.ndarray
    levels: list[np.ndarray]
    parent_pair: np.ndarray
    parent: np.ndarray
    parent_sign: np.ndarray
    is_local: np.ndarray


def _components(pair_i: np.ndarray, pair_j: np.ndarray, ntotal: int) -> np.ndarray:
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    ones = np.ones(len(pair_i), dtype=np.int8)
    graph = coo_matrix((ones, (pair_i, pair_j)), shape=(ntotal, ntotal)).tocsr()
    return connected_components(graph, directed=False)[1]


def build_tree(pair_i: np.ndarray, pair_j: np.ndarray, rij: np.ndarray, local: np.ndarray, ntotal: int,
               ) -> PairTree:
    """Breadth-first forest over the pairs, one root (a local atom) per connected component.

    Pairs are walked both ways (i → j places x_j = x_i + r_ij, j → i places x_i = x_j − r_ij): two groups
    of local atoms may be joined only through a ghost (a sparse periodic system).  Components are moved
    apart by more than the cutoff so that no bond joins two of them (none of theirs matters: an atom
    within R of a local atom is a pair partner of it, so in its component).
    """
    pair_i = np.asarray(pair_i, dtype=np.int64)
    pair_j = np.asarray(pair_j, dtype=np.int64)
    rij = np.asarray(rij, dtype=np.float64)
    local = np.asarray(local, dtype=np.int64)
    npairs = len(pair_i)
    labels = _components(pair_i, pair_j, ntotal)
    _, first = np.unique(labels[local], return_index=True)
    roots = local[np.sort(first)]

    source = np.concatenate([pair_i, pair_j])  # CSR of the pairs walked both ways
    target = np.concatenate([pair_j, pair_i])
    sign = np.concatenate([np.ones(npairs), -np.ones(npairs)])
    order = np.argsort(source, kind="stable")
    indptr = np.zeros(ntotal + 1, dtype=np.int64)
    np.add.at(indptr, source + 1, 1)
    indptr = np.cumsum(indptr)

    compact = np.full(ntotal, -1, dtype=np.int64)
    compact[roots] = np.arange(len(roots))
    where = np.zeros((ntotal, 3))  # rebuilt positions by LAMMPS index (roots at the origin)
    nodes, edge_of, levels, count = [roots], [np.full(len(roots), -1, dtype=np.int64)], [], len(roots)
    frontier = roots
    while frontier.size:
        starts, stops = indptr[frontier], indptr[frontier + 1]
        lengths = stops - starts
        total = int(lengths.sum())
        if not total:
            break
        offsets = np.repeat(starts - np.concatenate(([0], np.cumsum(lengths)[:-1])), lengths)
        edges = order[np.arange(total) + offsets]
        fresh = compact[target[edges]] < 0
        targets, keep = np.unique(target[edges][fresh], return_index=True)
        edges = edges[fresh][keep]
        if not targets.size:
            break
        compact[targets] = count + np.arange(len(targets))
        where[targets] = where[source[edges]] + sign[edges, None] * rij[edges % max(npairs, 1)]
        nodes.append(targets)
        edge_of.append(edges)
        levels.append(compact[targets])
        count += len(targets)
        frontier = targets
    nodes_ = np.concatenate(nodes)
    edge_of_ = np.concatenate(edge_of)
    reached = edge_of_ >= 0
    parent = np.full(len(nodes_), -1, dtype=np.int64)
    parent[reached] = compact[source[edge_of_[reached]]]
    parent_pair = np.where(reached, edge_of_ % max(npairs, 1), -1)
    parent_sign = np.where(reached, sign[np.maximum(edge_of_, 0)], 0.0)
    positions = where[nodes_]
    if len(roots) > 1:  # one frame per component, set apart by more than any cutoff
        component = np.searchsorted(np.sort(labels[roots]), labels[nodes_])
        span = np.ptp(positions, axis=0).max() + 2.0 * float(np.abs(rij).max(initial=1.0)) + 1.0
        positions = positions + np.outer(component, [span, 0.0, 0.0])
    is_local = np.zeros(ntotal, dtype=bool)
    is_local[local] = True
    return PairTree(nodes_, positions, levels, parent_pair, parent, parent_sign, is_local[nodes_])


def pair_forces(tree: PairTree, gradient: np.ndarray, npairs: int) -> np.ndarray:
    """Pair forces f_p (npairs, 3): ±Σ_{n ∈ subtree} g_n on tree pairs (+ when the pair's j is the child), 0 elsewhere.

    ``gradient`` (M, 3) is g = ∂E/∂x of the tree's nodes (in ``tree.nodes`` order).
    """
    subtree = np.array(gradient, dtype=np.float64, copy=True)
    fij = np.zeros((npairs, 3), dtype=np.float64)
    for level in reversed(tree.levels):
        fij[tree.parent_pair[level]] = tree.parent_sign[level, None] * subtree[level]
        np.add.at(subtree, tree.parent[level], subtree[level])
    return fij


def bonds(positions: np.ndarray, cutoff: float) -> np.ndarray:
    """Directed bonds (2, E) between rebuilt positions closer than ``cutoff`` (both directions).

    >>> bonds(np.array([[0.0, 0, 0], [1.0, 0, 0], [3.0, 0, 0]]), 1.5).tolist()
    [[0, 1], [1, 0]]
    """
    from scipy.spatial import cKDTree

    pairs = cKDTree(positions).query_pairs(cutoff, output_type="ndarray")
    if len(pairs):
        keep = np.einsum("ij,ij->i", d := positions[pairs[:, 1]] - positions[pairs[:, 0]], d) < cutoff * cutoff
        pairs = pairs[keep]
    return np.concatenate([pairs.T, pairs[:, ::-1].T], axis=1).astype(np.int64)
