"""``relax(..., cell=True)`` relaxes the periodic axes of tubes and slabs (stress counts the vacuum), not only crystals.

The checks are physical and independent of the analytic stress that drives the relaxation: at the end, ASE's
central-difference stress (``calculate_numerical_stress``) of the periodic components, as a per-atom virial
V |σ_ij| / N, is below the force threshold (FrechetCellFilter's criterion); the periodic axes moved; the vacuum box
(the non-periodic axes) did not.
"""

import numpy as np
import pytest
from ase.build import graphene, molecule
from ase.calculators.fd import calculate_numerical_stress
from conftest import tiny_model

from ase_relaxed import InputError, RelaxedCalculator
from ase_relaxed.cli import main
from ase_relaxed.md import relax
from ase_relaxed.md.relax import cell_mask
from ase_relaxed.structures import build_nanotube

FMAX = 0.01


@pytest.fixture(scope="module")
def calc():
    return RelaxedCalculator(tiny_model("float64", seed=5), device="cpu", on_close="ignore")  # see tests/test_md.py


def per_atom_virial(atoms, calc) -> np.ndarray:
    """V σ / N (eV) by central differences of the energy, as a 3 × 3 matrix."""
    probe = atoms.copy()
    probe.calc = calc
    return calculate_numerical_stress(probe, eps=1e-5, voigt=False) * probe.get_volume() / len(probe)


def test_tube_relaxes_its_period(calc):
    tube = build_nanotube(5, 0, length=1)
    before = per_atom_virial(tube, calc)[2, 2]
    result = relax(tube, calc, cell=True, fmax=FMAX / 2, steps=1000)
    assert result.converged
    after = per_atom_virial(result.atoms, calc)
    print(f"\n(5,0) tube: period {tube.cell[2, 2]:.4f} → {result.atoms.cell[2, 2]:.4f} Å, "
          f"V σ_zz / N {before:.4f} → {after[2, 2]:.2e} eV")
    assert abs(before) > 5 * FMAX and abs(after[2, 2]) < FMAX
    assert abs(result.atoms.cell[2, 2] / tube.cell[2, 2] - 1) > 0.01  # the period changed
    np.testing.assert_array_equal(result.atoms.cell.array[:2], tube.cell.array[:2])  # the box did not
    np.testing.assert_allclose(result.stress_final, per_atom_virial(result.atoms, calc).flat[[0, 4, 8, 5, 2, 1]]
                               * len(tube) / result.atoms.get_volume(), atol=1e-8)


def test_slab_relaxes_in_plane(calc):
    sheet = graphene(vacuum=6.0).repeat((2, 2, 1))
    sheet.pbc = [True, True, False]
    sheet.rattle(0.05, seed=2)
    result = relax(sheet, calc, cell=True, fmax=FMAX / 2, steps=1000)
    assert result.converged
    in_plane = per_atom_virial(result.atoms, calc)[:2, :2]
    print(f"\ngraphene slab: cell {np.round(sheet.cell.cellpar(), 3)} → {np.round(result.atoms.cell.cellpar(), 3)}")
    assert np.abs(in_plane).max() < FMAX
    assert not np.allclose(result.atoms.cell.array[:2], sheet.cell.array[:2], atol=1e-3)  # the plane moved
    np.testing.assert_array_equal(result.atoms.cell.array[2], sheet.cell.array[2])  # the vacuum axis did not


def test_cell_masks_and_clear_errors(calc):
    assert cell_mask([False, False, True]).sum() == 1 and cell_mask([True, True, False]).sum() == 4
    with pytest.raises(InputError, match="needs a periodic axis"):
        relax(molecule("CH4"), calc, cell=True)
    bare = build_nanotube(5, 0, length=1)
    bare.cell[0, 0] = bare.cell[1, 1] = 0.0  # periodic along z, but no box: no volume, no stress
    with pytest.raises(InputError, match="needs a cell with a volume"):
        relax(bare, calc, cell=True)


@pytest.mark.slow
def test_relax_cli_tube_cell(tmp_path, capsys, monkeypatch):
    """``ase-relaxed relax cnt:8,0:length=2 --cell`` with the shipped default model, end to end."""
    from ase.io import read

    monkeypatch.chdir(tmp_path)
    assert main(["relax", "cnt:8,0:length=2", "--cell", "--device", "cpu", "--quiet", "--out", "tube.extxyz"]) == 0
    out = capsys.readouterr().out
    assert "cell on" in out and "converged in" in out
    relaxed, start = read("tube.extxyz"), build_nanotube(8, 0, length=2)
    assert relaxed.cell[2, 2] < 0.998 * start.cell[2, 2]  # the rolled-graphene period is ~0.5 % too long here
