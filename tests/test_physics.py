"""The physics suite: equivariance, finite differences, stress, batching, images, locality.

Tolerances are tight in float64 and loose (single-precision round-off) in float32.
"""

import numpy as np
import pytest
from ase import Atoms
from ase.build import molecule
from conftest import SYSTEMS, make_sheet, tiny_model

from ase_relaxed import RelaxedCalculator
from ase_relaxed.testing import (
    assert_batch_equals_single,
    assert_equivariant,
    assert_forces_finite_differences,
    assert_local,
    assert_periodic_images,
    assert_stress_numerical,
)

ATOL = {  # (equivariance, finite-difference forces, stress, batch) per dtype
    "float64": dict(equi=1e-10, fd=1e-6, stress=1e-9, batch=1e-10, images=1e-9),
    "float32": dict(equi=2e-4, fd=5e-2, stress=5e-3, batch=2e-4, images=2e-4),
}


def tol(calc, name):
    return ATOL["float64" if calc.dtype.is_floating_point and calc.dtype.itemsize == 8 else "float32"][name]


def test_equivariance(calc, system):
    name, atoms = system
    stress = name == "bulk"
    error = assert_equivariant(calc, atoms, np.random.default_rng(7), stress=stress, atol=tol(calc, "equi"))
    assert np.isfinite(error)


def test_forces_match_finite_differences(calc, system):
    _, atoms = system
    eps = 1e-4 if calc.dtype.itemsize == 8 else 1e-2
    assert_forces_finite_differences(calc, atoms, indices=[0, len(atoms) - 1], eps=eps, atol=tol(calc, "fd"))


@pytest.mark.parametrize("name", ["bulk", "tube", "sheet"])
def test_stress_matches_numerical_stress(calc, name):
    """σ = (1/V) ∂E/∂ε against ASE's central differences, for a crystal and, with V counting the vacuum,
    a tube (pbc F, F, T) and a graphene slab (T, T, F)."""
    atoms = make_sheet() if name == "sheet" else SYSTEMS[name]()
    eps = 1e-5 if calc.dtype.itemsize == 8 else 1e-3
    atoms.calc = calc
    assert np.abs(atoms.get_stress()).max() > 1e-4  # not trivially zero
    assert_stress_numerical(calc, atoms, eps=eps, atol=tol(calc, "stress"))


def test_batch_equals_single(calc):
    images = [SYSTEMS[k]() for k in ("tube", "bulk", "molecule")]
    assert_batch_equals_single(calc, images, atol=tol(calc, "batch"))
    with_volume = [SYSTEMS["bulk"](), SYSTEMS["bulk"]().repeat((2, 1, 1)), SYSTEMS["tube"](), make_sheet()]
    assert_batch_equals_single(calc, with_volume, stress=True, atol=tol(calc, "batch"))


def test_batch_chunking_matches_one_chunk(models):
    images = [SYSTEMS["bulk"]() for _ in range(5)]
    whole = RelaxedCalculator(models["float64"], device="cpu").calculate_batch(images)
    tiny_chunks = RelaxedCalculator(models["float64"], device="cpu", max_edges_per_batch=1).calculate_batch(images)
    for a, b in zip(whole, tiny_chunks):
        assert abs(a["energy"] - b["energy"]) < 1e-10
        np.testing.assert_allclose(a["forces"], b["forces"], atol=1e-10)


@pytest.mark.parametrize("name", ["tube", "bulk"])
def test_periodic_images(calc, name):
    assert_periodic_images(calc, SYSTEMS[name](), np.random.default_rng(5), atol=tol(calc, "images"))


def test_locality(models):
    model = models["float64"]
    calc = RelaxedCalculator(model, device="cpu")
    cutoff = model.config.cutoff
    a, b = molecule("C6H6"), molecule("CH4")
    assert_local(calc, a, b, receptive_field=cutoff, atol=1e-10)
    # the check can fail: closer than one cutoff, the fragments interact
    with pytest.raises(AssertionError):
        assert_local(calc, a, b, receptive_field=1.5, atol=1e-10)


def test_receptive_field_is_num_layers_times_cutoff(models):
    """Along a chain, E_0 feels atom k through intermediates iff |r_0k| < L r_c."""
    model = models["float64"]
    calc = RelaxedCalculator(model, device="cpu")
    spacing = 0.8 * model.config.cutoff
    chain = Atoms("C8", positions=[[k * spacing, 0.0, 0.0] for k in range(8)])
    chain.calc = calc
    reference = chain.get_potential_energies()[0]
    field = model.config.num_layers * model.config.cutoff
    for k in range(1, 8):
        moved = chain.copy()
        moved.positions[k] += [0.0, 0.3, 0.0]
        moved.calc = calc
        changed = abs(moved.get_potential_energies()[0] - reference) > 1e-12
        assert changed == (k * spacing < field), f"atom {k} at {k * spacing:.2f} Å, field {field} Å"


def test_equivariant_at_larger_l_max():
    calc = RelaxedCalculator(tiny_model("float64", l_max=3, num_layers=3), device="cpu")
    assert_equivariant(calc, SYSTEMS["tube"](), np.random.default_rng(11), atol=1e-10)


def test_forces_sum_to_zero_and_energy_extensive(models):
    calc = RelaxedCalculator(models["float64"], device="cpu")
    atoms = SYSTEMS["tube"]()
    atoms.calc = calc
    assert np.abs(atoms.get_forces().sum(axis=0)).max() < 1e-10
    assert abs(atoms.get_potential_energy() - atoms.get_potential_energies().sum()) < 1e-10
