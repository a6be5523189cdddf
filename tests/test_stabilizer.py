"""Stabiliser of relaxed weights θ: point groups, Wigner matrices, the orientation search, the plot."""

import numpy as np
import pytest
import torch
from e3nn import o3

from ase_relaxed.errors import InputError
from ase_relaxed.relaxed import StabilizerResult, plot_theta, stabilizer
from ase_relaxed.relaxed.point_groups import LIBRARY, POINT_GROUPS, by_name
from ase_relaxed.relaxed.stabilizer import l1_to_vector, l2_to_matrix, wigner_d

AXES6 = np.concatenate([np.eye(3), -np.eye(3)])
TETRA = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]]) / np.sqrt(3)


def Y(ell, v):
    v = np.asarray(v, dtype=np.float64)
    return o3.spherical_harmonics(ell, torch.from_numpy(v / np.linalg.norm(v)), True).numpy()


def random_rotation(seed):
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def unit(seed):
    v = np.random.default_rng(seed).normal(size=3)
    return v / np.linalg.norm(v)


def angle_deg(a, b):
    cos = abs(np.dot(a, b)) / (np.linalg.norm(a) * np.linalg.norm(b))
    return np.degrees(np.arccos(np.clip(cos, 0.0, 1.0)))


def assert_invariant(theta, result, tol=1e-2):
    """Every reported operation leaves θ invariant (checked with e3nn's own D), and the group is closed."""
    blocks = {k: np.atleast_2d(np.asarray(v, dtype=np.float64)) for k, v in theta.items()}
    scale = np.sqrt(sum((v**2).sum() for k, v in blocks.items() if k != "0e"))
    for g in result.operations:
        assert np.allclose(g @ g.T, np.eye(3), atol=1e-9)
        for k, v in blocks.items():
            d = o3.Irrep(k).D_from_matrix(torch.from_numpy(g)).numpy()
            assert np.linalg.norm(v @ d.T - v) <= tol * scale + 1e-5, (k, g)
    if result.order is not None:
        assert result.order == len(result.operations)
        keys = {tuple(np.round(g, 6).ravel()) for g in result.operations}
        assert len(keys) == result.order
        for a in result.operations[:8]:
            for b in result.operations:
                assert tuple(np.round(a @ b, 6).ravel()) in keys


# ------------------------------------------------------------------------------------------ point groups


def test_point_groups_are_closed_groups_with_the_right_orders():
    assert len(POINT_GROUPS) == 32
    assert len({g.schoenflies for g in POINT_GROUPS}) == len({g.hermann_mauguin for g in POINT_GROUPS}) == 32
    orders = {g.schoenflies: g.order for g in POINT_GROUPS}
    assert orders["Oh"] == 48 and orders["D6h"] == orders["Td"] == orders["O"] == 24 and orders["D4h"] == 16
    counts = {k: list(orders.values()).count(k) for k in sorted(set(orders.values()))}
    assert counts == {1: 1, 2: 3, 3: 1, 4: 5, 6: 5, 8: 5, 12: 6, 16: 1, 24: 4, 48: 1}
    for g in POINT_GROUPS:
        ops = np.stack(g.operations)
        assert np.allclose(ops @ ops.transpose(0, 2, 1), np.eye(3))
        keys = {tuple(np.round(m, 6).ravel()) for m in ops}
        assert all(tuple(np.round(a @ b, 6).ravel()) in keys for a in ops for b in ops)
        assert np.allclose(LIBRARY[list(g.indices)], ops)
    assert by_name("m-3m").schoenflies == "Oh" and by_name("D2d").hermann_mauguin == "-42m"


def test_wigner_d_matches_e3nn_and_is_an_exact_representation():
    r1, r2 = random_rotation(0), random_rotation(1)
    for ir in ["0e", "0o", "1o", "1e", "2e", "2o", "3o", "4e"]:
        for g in (r1, -r1):
            ref = o3.Irrep(ir).D_from_matrix(torch.from_numpy(g)).numpy()
            assert np.allclose(wigner_d(ir, g), ref, atol=1e-5)
        d1, d2, d12 = wigner_d(ir, -r1), wigner_d(ir, r2), wigner_d(ir, -r1 @ r2)
        assert np.allclose(d1 @ d2, d12, atol=1e-12)
        assert np.allclose(d1 @ d1.T, np.eye(o3.Irrep(ir).dim), atol=1e-12)


def test_cartesian_forms_of_l1_and_l2_blocks():
    rng = np.random.default_rng(2)
    r = rng.normal(size=(20, 3))
    r /= np.linalg.norm(r, axis=1, keepdims=True)
    th1, th2 = rng.normal(size=3), rng.normal(size=5)
    assert np.allclose(Y(1, r) @ th1, r @ l1_to_vector(th1))
    s = l2_to_matrix(th2)
    assert np.allclose(s, s.T) and abs(np.trace(s)) < 1e-12
    assert np.allclose(Y(2, r) @ th2, np.einsum("ni,ij,nj->n", r, s, r))
    n = unit(3)
    w, v = np.linalg.eigh(l2_to_matrix(Y(2, n)))
    assert angle_deg(v[:, -1], n) < 1e-6 and np.isclose(w[0], w[1])
    assert angle_deg(l1_to_vector(Y(1, n)), n) < 1e-6


# ---------------------------------------------------------------------------------- infinite groups


def test_scalars_only_give_o3_and_a_pseudoscalar_gives_so3():
    result = stabilizer({"0e": [1.0]})
    assert isinstance(result, StabilizerResult)
    assert (result.schoenflies, result.hermann_mauguin, result.order, result.axis) == ("O(3)", "O(3)", None, None)
    assert stabilizer({"0e": [1.3], "1o": np.zeros(3), "2e": 1e-9 * np.ones(5)}).schoenflies == "O(3)"
    assert stabilizer({"0e": [1.0], "0o": [0.2]}).schoenflies == "SO(3)"


def test_vector_gives_cinfv_along_it_and_axial_vector_gives_cinfh():
    n = unit(4)
    result = stabilizer({"0e": [1.0], "1o": 0.01 * Y(1, n)})
    assert (result.schoenflies, result.hermann_mauguin, result.order) == ("Cinfv", "infm", None)
    assert angle_deg(result.axis, n) < 0.1 and np.isclose(np.linalg.norm(result.axis), 1.0)
    assert_invariant({"0e": [1.0], "1o": Y(1, n)}, result)
    assert stabilizer({"0e": [1.0], "1e": Y(1, n)}).schoenflies == "Cinfh"


def test_uniaxial_quadrupole_gives_dinfh_along_its_axis():
    n = unit(5)
    theta = {"0e": np.ones((1, 1)), "2e": Y(2, n)[None]}
    result = stabilizer(theta)
    assert (result.schoenflies, result.hermann_mauguin, result.order) == ("Dinfh", "inf/mm", None)
    assert angle_deg(result.axis, n) < 0.1
    assert_invariant(theta, result)


# ------------------------------------------------------------------------------------- finite groups


def test_biaxial_quadrupole_gives_d2h():
    rot = random_rotation(6)
    theta = {"0e": [1.0], "2e": Y(2, rot @ [0, 0, 1]) + 0.4 * Y(2, rot @ [1, 0, 0])}
    result = stabilizer(theta)
    assert (result.schoenflies, result.hermann_mauguin, result.order) == ("D2h", "mmm", 8)
    assert min(angle_deg(result.axis, rot[:, k]) for k in range(3)) < 0.1
    assert_invariant(theta, result)


def test_cubic_l4_gives_oh_in_any_orientation():
    rot = random_rotation(7)
    theta = {"0e": [1.0], "4e": 0.05 * sum(Y(4, rot @ d) for d in AXES6)}
    result = stabilizer(theta)
    assert (result.schoenflies, result.hermann_mauguin, result.order, result.axis) == ("Oh", "m-3m", 48, None)
    assert_invariant(theta, result)
    # the paper's cube -> cube weights: e3nn l=4 components 4 and 8 in ratio sqrt(7/5), lab-aligned cube
    paper = stabilizer({"0e": [1.0], "4e": [0, 0, 0, 0, np.sqrt(7 / 5), 0, 0, 0, 1.0]})
    assert paper.schoenflies == "Oh"
    assert all(np.allclose(np.abs(g).sum(0), 1.0) for g in paper.operations)  # signed permutations


def test_tetragonal_gives_d4h_with_its_axis():
    rot = random_rotation(8)
    theta = {"0e": [1.0], "4e": sum(Y(4, rot @ d) for d in AXES6[[0, 1, 3, 4]]), "2e": 0.3 * Y(2, rot[:, 2])}
    result = stabilizer(theta)
    assert (result.schoenflies, result.hermann_mauguin, result.order) == ("D4h", "4/mmm", 16)
    assert angle_deg(result.axis, rot[:, 2]) < 1.0
    assert_invariant(theta, result)
    # lab frame: axis z exactly (sign normalised: largest component positive)
    lab = stabilizer({"0e": [1.0], "4e": sum(Y(4, d) for d in AXES6[[0, 1, 3, 4]]), "2e": Y(2, [0, 0, 1])})
    assert lab.schoenflies == "D4h" and np.allclose(lab.axis, [0, 0, 1], atol=1e-9)


def test_tetrahedral_octupole_gives_td_and_with_a_pseudoscalar_t():
    rot = random_rotation(9)
    theta = {"0e": [1.0], "3o": sum(Y(3, rot @ d) for d in TETRA)}
    result = stabilizer(theta)
    assert (result.schoenflies, result.hermann_mauguin, result.order) == ("Td", "-43m", 24)
    assert_invariant(theta, result)
    assert stabilizer({**theta, "0o": [0.1]}).schoenflies == "T"


def test_noise_below_tol_keeps_the_group_and_noise_above_lowers_it():
    rot = random_rotation(10)
    theta = {"0e": [1.0], "4e": sum(Y(4, rot @ d) for d in AXES6[[0, 1, 3, 4]]), "2e": 0.3 * Y(2, rot[:, 2])}
    rng = np.random.default_rng(11)
    noise = {k: rng.normal(size=np.shape(v)) for k, v in theta.items() if k != "0e"}
    size = np.sqrt(sum((np.asarray(v) ** 2).sum() for k, v in theta.items() if k != "0e"))
    for eps, expected in [(1e-5, "D4h"), (1e-4, "D4h")]:
        noisy = {k: v + eps * size * noise.get(k, 0) for k, v in theta.items()}
        assert stabilizer(noisy).schoenflies == expected
    noisy = {k: v + 0.1 * size * noise.get(k, 0) for k, v in theta.items()}
    lowered = stabilizer(noisy)
    assert lowered.order < 16 and lowered.schoenflies == "Ci"  # only even blocks: inversion always survives
    assert stabilizer(noisy, tol=0.9).order >= 16  # a loose tolerance ignores the noise again


@pytest.mark.parametrize("name", ["C2", "Cs", "S4", "D2d", "C3i", "C3h", "C4v", "Th"])
def test_generic_invariant_of_a_group_gives_back_that_group(name):
    """θ = group average of random blocks, in a random orientation: its stabiliser is exactly the group."""
    group, rot = by_name(name), random_rotation(12)
    ops = np.stack([rot @ g @ rot.T for g in group.operations])
    rng = np.random.default_rng(13)
    theta = {"0e": np.ones((1, 1))}
    for ir in ["0o", "1o", "1e", "2e", "2o", "3o", "3e", "4e", "4o"]:
        x = rng.normal(size=(2, o3.Irrep(ir).dim))
        theta[ir] = np.einsum("gij,mj->mi", wigner_d(ir, ops), x) / len(ops)
    result = stabilizer(theta)
    assert (result.schoenflies, result.order) == (name, group.order)
    if group.family == "axial":
        assert angle_deg(result.axis, rot[:, 2]) < 1e-3
    assert_invariant(theta, result)


def test_hexagonal_needs_l6_and_multiplicity_and_torch_input_work():
    rot = random_rotation(14)
    hexagon = [rot @ [np.cos(a), np.sin(a), 0.0] for a in np.arange(6) * np.pi / 3]
    six = sum(Y(6, d) for d in hexagon)
    theta = {"0e": torch.tensor([[1.0]]), "6e": torch.tensor(np.stack([six, 0.5 * six])),
             "1o": torch.tensor(Y(1, rot[:, 2]), dtype=torch.float32)}
    result = stabilizer(theta)
    assert (result.schoenflies, result.hermann_mauguin) == ("C6v", "6mm")
    assert angle_deg(result.axis, rot[:, 2]) < 1e-2


# ---------------------------------------------------------------------------------------- input, plot


@pytest.mark.parametrize(
    "theta, message",
    [
        ({"0e": [1.0], "3x": [0.0] * 7}, "irrep"),
        ({"0e": [1.0], "2e": [0.0, 1.0, 0.0]}, "shape"),
        ({"0e": [1.0], "1o": np.zeros((2, 2, 3))}, "shape"),
        ({"0e": [1.0], "1o": [0.0, np.nan, 1.0]}, "NaN"),
        ({}, "non-empty"),
        ([1.0, 0.0], "dict"),
    ],
)
def test_bad_input_raises_input_error(theta, message):
    with pytest.raises(InputError, match=message):
        stabilizer(theta)


def test_plot_theta_writes_png(tmp_path):
    n = unit(15)
    theta = {"0e": [1.0], "0o": [0.0], "1o": 0.2 * Y(1, n), "1e": np.zeros(3), "2e": Y(2, n), "4e": np.zeros(9)}
    single = plot_theta(theta, tmp_path / "theta.png")
    layered = plot_theta({0: theta, 1: {**theta, "2e": 0.1 * Y(2, [1, 0, 0])}}, tmp_path / "layers.png")
    for path in (single, layered):
        data = path.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and 1_000 < len(data) < 1_000_000
