"""Nanotube line groups: counts, the domain builder against ase.build.nanotube, operation detection."""

from math import gcd

import numpy as np
import pytest
from ase import Atoms
from ase.build import nanotube
from scipy.spatial import cKDTree

from ase_relaxed.errors import InputError
from ase_relaxed.symmetry import (
    atoms_per_cell,
    build_from_domain,
    cyclic_order,
    detect_operations,
    line_group,
)
from ase_relaxed.symmetry.line_groups import reduce_angle, rotation_z

CHIRALITIES = [(n, m) for n in range(1, 11) for m in range(0, n + 1) if n + m >= 2] + [(2, 5), (3, 6), (0, 4)]
SAMPLE = [(10, 0), (5, 5), (6, 3), (3, 6), (7, 4), (8, 1), (4, 2), (9, 6)]


def rigid_deviation(ref: Atoms, other: Atoms) -> float:
    """Smallest max-distance between ``ref`` and ``other`` over rigid motions that keep the tube axis (z) and
    its period: rotation about z, shift along z, optionally the 2-fold flip about x (a proper rotation)."""
    period = ref.cell[2, 2]
    box = 4 * np.abs(ref.positions[:, :2]).max() + 10
    data = ref.positions + [box / 2, box / 2, 0]
    data[:, 2] = np.mod(data[:, 2], period) % period
    tree = cKDTree(data, boxsize=[box, box, period])
    phi_ref = np.arctan2(ref.positions[:, 1], ref.positions[:, 0])
    best = np.inf
    for flip in (np.diag([1.0, 1, 1]), np.diag([1.0, -1, -1])):
        pos = other.positions @ flip.T
        phi0 = np.arctan2(pos[0, 1], pos[0, 0])
        for j in range(len(ref)):
            moved = pos @ rotation_z(phi_ref[j] - phi0).T + [box / 2, box / 2, ref.positions[j, 2] - pos[0, 2]]
            moved[:, 2] = np.mod(moved[:, 2], period) % period
            dist, index = tree.query(moved)
            if len(set(index)) == len(ref):
                best = min(best, dist.max())
    return best


@pytest.mark.parametrize("n, m", CHIRALITIES)
def test_counts_match_ase(n, m):
    lg = line_group(n, m)
    assert cyclic_order(n, m) == lg.cyclic_order == gcd(n, m)
    d_r = gcd(2 * n + m, 2 * m + n)
    assert atoms_per_cell(n, m) == lg.atoms_per_cell == 4 * (n * n + n * m + m * m) // d_r == len(nanotube(n, m))
    assert np.isclose(lg.period, nanotube(n, m).cell[2, 2])
    # q screw steps of τ make one period, and (ν_T, q) is the pure translation by T
    assert np.isclose(lg.screws_per_period * lg.screw_translation, lg.period)
    rot, shift = lg.operation(*lg.translation_element)
    assert np.allclose(rot, np.eye(3), atol=1e-9) and np.isclose(shift[2], lg.period)
    assert -np.pi / lg.cyclic_order < lg.screw_angle <= np.pi / lg.cyclic_order + 1e-12


@pytest.mark.parametrize("n, m", SAMPLE)
@pytest.mark.parametrize("n_cells, bond", [(1, 1.42), (2, 1.44)])
def test_builder_equals_ase_nanotube_up_to_rigid_motion(n, m, n_cells, bond):
    ours = build_from_domain(n, m, n_cells=n_cells, bond=bond)
    ref = nanotube(n, m, length=n_cells, bond=bond)
    assert len(ours) == len(ref) and list(ours.pbc) == [False, False, True]
    assert np.allclose(ours.cell.array, ref.cell.array)
    d_ours = np.sort(ours.get_all_distances(mic=True).ravel())
    d_ref = np.sort(ref.get_all_distances(mic=True).ravel())
    assert np.abs(d_ours - d_ref).max() < 1e-6
    assert rigid_deviation(ref, ours) < 1e-6


def test_domain_geometry():
    lg = line_group(8, 2, bond=1.42)
    radius = np.sqrt(3) * 1.42 * np.sqrt(8 * 8 + 8 * 2 + 2 * 2) / (2 * np.pi)
    assert np.allclose(np.linalg.norm(lg.domain[:, :2], axis=1), radius)
    labels = lg.labels(2)
    pos = lg.positions(2)
    assert labels.shape == (2 * lg.atoms_per_cell, 3) and len(np.unique(np.round(pos, 6), axis=0)) == len(pos)
    relaxed = lg.with_domain(lg.domain * [1.01, 1.01, 1.0])
    assert np.isclose(relaxed.radius, 1.01 * radius) and relaxed.period == lg.period
    with pytest.raises(InputError):
        lg.with_domain(np.zeros((3, 3)))


def test_mirror_image_flips_the_screw():
    right, left = line_group(6, 3), line_group(3, 6)
    assert np.isclose(right.screw_angle, -left.screw_angle)
    assert np.isclose(right.screw_translation, left.screw_translation)


@pytest.mark.parametrize("n, m", SAMPLE + [(7, 5), (12, 3)])
def test_detection_recovers_the_operations(n, m):
    lg = line_group(n, m)
    tube = nanotube(n, m, length=2)
    tube.center(vacuum=5.0, axis=(0, 1))
    tube.rotate(37.0, "z", center=tube.get_center_of_mass())  # an arbitrary azimuth changes nothing
    tube.positions[:, 2] += 0.3  # nor does an axial shift
    ops = detect_operations(tube)
    assert ops.cyclic_order == lg.cyclic_order
    assert np.isclose(ops.screw_translation, lg.screw_translation, atol=1e-6)
    assert np.isclose(reduce_angle(ops.screw_angle - lg.screw_angle, lg.cyclic_order), 0.0, atol=1e-6)
    assert np.isclose(ops.period, 2 * lg.period)
    assert 2 * ops.n_domains == len(tube)  # C_N and the screw generate the tube from 2 atoms
    assert np.allclose(ops.axis_center, tube.cell.diagonal()[:2] / 2, atol=1e-8)


def test_detection_along_x_and_on_a_distorted_tube():
    tube = nanotube(6, 3)
    along_x = Atoms(tube.symbols, positions=tube.positions[:, [2, 0, 1]], cell=[tube.cell[2, 2], 0, 0],
                    pbc=[True, False, False])
    ops = detect_operations(along_x, axis="x")
    assert ops.cyclic_order == 3 and np.isclose(ops.screw_translation, line_group(6, 3).screw_translation)
    tube.positions[5] += [0.05, 0.0, 0.02]
    broken = detect_operations(tube)
    assert broken.cyclic_order == 1 and np.isclose(broken.screw_translation, broken.period)


@pytest.mark.parametrize("bad", [(0, 0), (-1, 3), (4, -2), (2.5, 1), ("6", 3), (True, 1)])
def test_bad_chirality(bad):
    with pytest.raises(InputError):
        line_group(*bad)
    with pytest.raises(InputError):
        atoms_per_cell(*bad)


def test_bad_inputs():
    with pytest.raises(InputError):
        line_group(5, 5, bond=-1.0)
    with pytest.raises(InputError):
        build_from_domain(5, 5, n_cells=0)
    with pytest.raises(InputError):
        detect_operations(nanotube(5, 5), axis="w")
    no_pbc = nanotube(5, 5)
    no_pbc.pbc = False
    with pytest.raises(InputError):
        detect_operations(no_pbc)
