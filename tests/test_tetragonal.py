"""c/a from the principal stretches of a cell deformation (ase_relaxed.relaxed.tetragonal)."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from ase_relaxed.relaxed.tetragonal import diamond_cube, uniaxial_distortion


def stretched(cell: np.ndarray, axis: np.ndarray, ratio: float) -> np.ndarray:
    """cell deformed by U = 1 + (ratio − 1) n nᵀ (rows are lattice vectors: C = C₀ Uᵀ)."""
    n = axis / np.linalg.norm(axis)
    return cell @ (np.eye(3) + (ratio - 1) * np.outer(n, n)).T


@pytest.mark.parametrize("axis", [(0, 0, 1), (1, 0, 0), (0.36, 0.48, 0.8)])
@pytest.mark.parametrize("ratio", [0.96, 1.03])
def test_uniaxial_stretch_is_recovered_with_its_axis(axis, ratio):
    cube = np.array(diamond_cube(1, rattle=0).cell)
    distortion = uniaxial_distortion(stretched(cube, np.array(axis, float), ratio), cube)
    assert distortion.ratio == pytest.approx(ratio, abs=1e-12)
    assert distortion.angle_to(axis) < 1e-5
    assert uniaxial_distortion(stretched(cube, np.array(axis, float), ratio), cube, axis=axis).ratio == pytest.approx(
        ratio, abs=1e-12)


def test_rigid_rotation_and_isotropic_scaling_change_nothing():
    cube = np.array(diamond_cube(1, rattle=0).cell)
    deformed = stretched(cube, np.array([0.0, 0.0, 1.0]), 0.95) * 1.02
    rotated = deformed @ Rotation.random(random_state=3).as_matrix().T  # rotate every lattice vector
    distortion = uniaxial_distortion(rotated, cube)
    assert distortion.ratio == pytest.approx(0.95, abs=1e-12)
    assert distortion.angle_to([0, 0, 1]) < 1e-5  # the stretch axis lives in the reference frame


def test_axis_argument_reads_the_ratio_along_a_fixed_direction():
    cube = np.array(diamond_cube(1, rattle=0).cell)
    deformed = stretched(cube, np.array([1.0, 0.0, 0.0]), 0.9)
    assert uniaxial_distortion(deformed, cube, axis=[0, 0, 1]).ratio == pytest.approx(1 / 0.95, abs=1e-12)
    assert uniaxial_distortion(cube, cube).ratio == pytest.approx(1.0, abs=1e-12)
