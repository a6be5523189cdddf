"""phonopy's files from the helical route, read back by phonopy's own readers, against phonopy's ordinary route.

The (5,0) tube with matscipy's Brenner carbon, relaxed once by the symmetry-adapted relaxation; the ordinary
route is phonopy's finite displacements on the supercell 1 × 1 × n_cells of the same relaxed cell.
"""


import numpy as np
import pytest
import yaml
from conftest import run_phonons_cli
from matscipy.calculators.manybody import Manybody
from matscipy.calculators.manybody.explicit_forms.tersoff_brenner import Brenner_PRB_42_9458_C_I, TersoffBrenner
from phonopy.cui.phonopy_bandplot_script import _read_band_yaml, _read_dos_dat

from ase_relaxed.errors import InputError
from ase_relaxed.phonons import THZ_TO_CM, compute_phonons, helical_phonons
from ase_relaxed.phonons.helical_outputs import (
    helical_thermal_properties,
    write_helical_band_yaml,
    write_helical_thermal_yaml,
    write_helical_total_dos,
)

R_GAS = 8.314462618  # J/(K mol)
N_ATOMS = 20  # atoms per translational cell of the (5,0) tube


@pytest.fixture(scope="module")
def tube():
    """(helical result, phonopy on the 1 × 1 × n_cells supercell of the same relaxed cell)."""
    brenner = Manybody(**TersoffBrenner(Brenner_PRB_42_9458_C_I))
    helical = helical_phonons(5, 0, brenner, interaction_range=4.0)
    cell = helical.line_group.to_atoms(1, vacuum=6.0)
    return helical, compute_phonons(cell, brenner, [1, 1, helical.n_cells], progress=False)


def test_band_yaml_read_by_phonopy_bandplot(tube, tmp_path):
    helical, _ = tube
    path = write_helical_band_yaml(helical, tmp_path / "band.yaml", n_q=11, comment={"model": "brenner"})
    distances, frequencies, qpoints, segments, labels = _read_band_yaml(path)
    q = np.linspace(0.0, 0.5, 11)
    np.testing.assert_allclose(frequencies * THZ_TO_CM, helical.frequencies(q), atol=1e-6)
    np.testing.assert_allclose(qpoints, np.stack([0 * q, 0 * q, q], axis=1), atol=1e-7)
    np.testing.assert_allclose(distances, q / helical.line_group.period, atol=1e-7)  # 1/Å, no 2π
    assert segments.tolist() == [11] and labels == [[r"$\Gamma$", "Z"]]
    data = yaml.safe_load(path.read_text())
    assert data["natom"] == N_ATOMS and len(data["points"]) == N_ATOMS and data["model"] == "brenner"
    assert data["lattice"][2][2] == pytest.approx(helical.line_group.period)


def test_total_dos_integrates_to_the_modes_per_cell(tube, tmp_path):
    helical, _ = tube
    path = write_helical_total_dos(helical, tmp_path / "total_dos.dat", sigma=0.1, n_eta=400)
    assert path.read_text().startswith("# Sigma = 0.100000\n")
    frequencies, dos = _read_dos_dat(path)
    assert dos.shape[1] == 2 and dos.min() >= 0  # phonopy appends the total as the last column
    assert np.trapezoid(dos[:, -1], frequencies) == pytest.approx(3 * N_ATOMS, rel=1e-3)


def test_dulong_petit(tube):
    """High T: C_v → 3 N R per cell, less the 4 rigid modes left out at Γ (1/n_q of a mode each)."""
    helical, _ = tube
    for shift, rigid in ((0.0, 4), (0.5, 0)):
        cv = helical_thermal_properties(helical, [1e5], n_q=10, shift=shift)["heat_capacity"][0]
        assert cv == pytest.approx((3 * N_ATOMS - rigid / 10) * R_GAS, rel=1e-4)


def test_thermal_properties_agree_with_phonopy_route(tube):
    """Same mesh 1 × 1 × 20 by both routes. Shifted by ½ (no Γ): the frequencies agree to 0.2 cm⁻¹ (measured
    ≤ 0.1; tests/test_helical_phonons.py), which moves F by ≲ Σ (n + ½) h δν ≈ 0.05 kJ/mol and S by
    ≲ k_B Σ δν/ν ≈ 0.05 J/K/mol (measured 0.022 and 0.025). Γ-centred: phonopy zeroes only the 3 translations,
    its twist (≈ 1 cm⁻¹) enters the sum: C_v differs by one classical mode, R / n_q (± the 0.01 above)."""
    helical, phonon = tube
    temperatures = [100.0, 300.0, 1000.0]
    for shift in (0.5, 0.0):
        ours = helical_thermal_properties(helical, temperatures, n_q=20, shift=shift)
        phonon.run_mesh([1, 1, 20], shift=[0, 0, shift], is_gamma_center=True)
        phonon.run_thermal_properties(temperatures=temperatures, exclude_gamma_acoustic=True)
        tp = phonon.thermal_properties
        if shift:
            np.testing.assert_allclose(ours["free_energy"], tp.free_energy, atol=0.05)
            np.testing.assert_allclose(ours["entropy"], tp.entropy, atol=0.05)
            np.testing.assert_allclose(ours["heat_capacity"], tp.heat_capacity, atol=0.01)
        else:
            np.testing.assert_allclose(tp.heat_capacity - ours["heat_capacity"], R_GAS / 20, atol=0.01)
            assert ours["zero_point_energy"] == pytest.approx(tp.zero_point_energy, abs=0.05)


def test_thermal_yaml_in_phonopys_layout(tube, tmp_path):
    helical, _ = tube
    path = write_helical_thermal_yaml(helical, tmp_path / "thermal_properties.yaml", n_q=8,
                                      comment={"model": "brenner"})
    data = yaml.safe_load(path.read_text())
    assert data["unit"] == {"temperature": "K", "free_energy": "kJ/mol", "entropy": "J/K/mol",
                            "heat_capacity": "J/K/mol"}
    assert data["natom"] == N_ATOMS and data["num_modes"] == 8 * 3 * N_ATOMS
    assert data["num_integrated_modes"] == 8 * 3 * N_ATOMS - 4 and "# model: brenner" in path.read_text()
    rows = data["thermal_properties"]
    assert len(rows) == 101 and rows[0]["temperature"] == 0 and rows[-1]["temperature"] == 1000
    ours = helical_thermal_properties(helical, [300.0], n_q=8)
    assert rows[30]["heat_capacity"] == pytest.approx(ours["heat_capacity"][0], abs=1e-6)
    assert rows[0]["free_energy"] == pytest.approx(data["zero_point_energy"], abs=1e-6)


@pytest.mark.parametrize("call, match", [
    (lambda h, p: helical_thermal_properties(h, [-1.0]), "temperatures"),
    (lambda h, p: helical_thermal_properties(h, [np.nan]), "temperatures"),
    (lambda h, p: helical_thermal_properties(h, []), "temperatures"),
    (lambda h, p: helical_thermal_properties(h, [300.0], n_q=0), "n_q"),
    (lambda h, p: helical_thermal_properties(h, [300.0], shift=1.0), "shift"),
    (lambda h, p: helical_thermal_properties(h, [300.0], cutoff_frequency=-1.0), "cutoff"),
    (lambda h, p: write_helical_band_yaml(h, p / "band.yaml", n_q=1), "n_q"),
    (lambda h, p: write_helical_total_dos(h, p / "dos.dat", sigma=0.0), "sigma"),
])
def test_bad_input(tube, tmp_path, call, match):
    with pytest.raises(InputError, match=match) as error:
        call(tube[0], tmp_path)
    assert "\n" not in str(error.value)


run_cli = run_phonons_cli


def test_cli_helical_writes_phonopy_files(tmp_path, capsys):
    out = run_cli(["--model", "demo-carbon-random", "cnt:5,0", "--helical", "--dos", "--thermal",
                   "--out", str(tmp_path)], capsys)
    for name in ("band.yaml", "total_dos.dat", "thermal_properties.yaml", "helical_phonons.json"):
        assert f"# wrote {tmp_path / name}: " in out
    assert "thermal properties per translational cell (20 atoms)" in out
    distances, frequencies, _, _, _ = _read_band_yaml(tmp_path / "band.yaml")
    assert frequencies.shape == (51, 60) and np.isfinite(frequencies).all()
    band = yaml.safe_load((tmp_path / "band.yaml").read_text())
    assert band["model"] == "demo-carbon-random" and band["tube"] == "(5,0)" and band["ase_relaxed_version"]
    frequencies, dos = _read_dos_dat(tmp_path / "total_dos.dat")
    assert np.trapezoid(dos[:, -1], frequencies) == pytest.approx(60, rel=1e-2)
    thermal = yaml.safe_load((tmp_path / "thermal_properties.yaml").read_text())
    assert len(thermal["thermal_properties"]) == 101
    assert "# model: demo-carbon-random" in (tmp_path / "thermal_properties.yaml").read_text()


@pytest.mark.parametrize("flag", [["--pdos"], ["--mesh", "1", "1", "8"]])
def test_cli_helical_rejects_ordinary_only_flags(flag, tmp_path, capsys):
    with pytest.raises(InputError, match="do not apply to --helical"):
        run_cli(["--model", "demo-carbon-random", "cnt:5,0", "--helical", *flag, "--out", str(tmp_path)], capsys)
