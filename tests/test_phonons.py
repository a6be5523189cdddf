"""phonopy bridge: batched ≡ one-by-one force constants, Brenner diamond and nanotube physics, the CLI."""

import json

import numpy as np
import phonopy
import pytest
import yaml
from ase import Atoms
from ase.build import bulk
from conftest import make_bulk, run_phonons_cli, tiny_model
from matscipy.calculators.manybody import Manybody
from matscipy.calculators.manybody.explicit_forms import TersoffBrenner
from matscipy.calculators.manybody.explicit_forms.tersoff_brenner import Brenner_PRB_42_9458_C_I
from phonopy.file_IO import parse_FORCE_SETS

from ase_relaxed import RelaxedCalculator
from ase_relaxed.cli.phonons import default_supercell
from ase_relaxed.errors import InputError
from ase_relaxed.phonons import (
    THZ_TO_CM,
    compute_phonons,
    evaluate_forces,
    evaluation_info,
    gamma_frequencies,
    get_interaction_range,
    helical_phonons,
    run_band_structure,
    run_dos,
    run_thermal,
)
from ase_relaxed.phonons.outputs import plot_bands_and_dos, write_phonopy_outputs
from ase_relaxed.structures import read_structures

R_GAS = 8.314462618  # J/(K mol)


@pytest.fixture(scope="module")
def brenner():
    return Manybody(**TersoffBrenner(Brenner_PRB_42_9458_C_I))


@pytest.fixture(scope="module")
def diamond(brenner):
    return compute_phonons(bulk("C", "diamond", a=3.567), brenner, [3, 3, 3], progress=False)


class SingleOnly(RelaxedCalculator):
    """The same model without calculate_batch: compute_phonons must fall back to one ASE call per image."""

    calculate_batch = None


def _count(monkeypatch, calc, name):
    calls, original = [], getattr(calc, name)

    def counted(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(calc, name, counted)
    return calls


def test_batched_equals_one_by_one(monkeypatch):
    crystal = make_bulk()  # rattled, strained: only inversion (atom 1 ↔ 2) left, so 3 directions × ± = 6 displacements
    calc = RelaxedCalculator(tiny_model("float64"), device="cpu")
    batch_calls, single_calls = _count(monkeypatch, calc, "calculate_batch"), _count(monkeypatch, calc, "calculate")
    batched = compute_phonons(crystal, calc, [2, 2, 2], symmetrize=False, progress=False)
    assert len(batched.supercells_with_displacements) == 6
    assert len(batch_calls) == 1 and len(batch_calls[0][0]) == 6 and not single_calls
    info = evaluation_info(batched)
    assert (info.batched, info.n_calls, info.n_images, info.n_atoms) == (True, 1, 6, 16)

    single = SingleOnly(tiny_model("float64"), device="cpu")
    single_calls = _count(monkeypatch, single, "calculate")
    one_by_one = compute_phonons(crystal, single, [2, 2, 2], symmetrize=False, progress=False)
    assert len(single_calls) == 6 and not evaluation_info(one_by_one).batched
    assert np.abs(batched.force_constants - one_by_one.force_constants).max() <= 1e-10
    assert np.abs(batched.force_constants).max() > 1e-3  # not trivially zero

    chunked = compute_phonons(crystal, calc, [2, 2, 2], symmetrize=False, max_images_per_batch=4, progress=False)
    assert [len(c[0]) for c in batch_calls[1:]] == [4, 2]
    assert np.abs(chunked.force_constants - batched.force_constants).max() <= 1e-10


def test_fallback_for_any_ase_calculator(brenner):
    images = [bulk("C", "diamond", a=3.567) for _ in range(3)]
    forces, calls, batched = evaluate_forces(images, brenner, progress=False)
    assert (calls, batched) == (3, False) and all(f.shape == (2, 3) for f in forces)


def test_brenner_diamond_gamma_bands_dos_thermal(diamond):
    gamma = gamma_frequencies(diamond)  # cm⁻¹
    assert np.abs(gamma[:3]).max() < 1e-2  # acoustic sum rule (symmetrized)
    np.testing.assert_allclose(gamma[3:], gamma[3], rtol=1e-8)  # triply degenerate Γ25' optical mode
    assert 950 < gamma[3] < 1050  # Brenner's diamond (the experiment: 1332 cm⁻¹)
    band = run_band_structure(diamond, "auto", npoints=31)  # seekpath: Γ-X-U|K-Γ-L-W-X
    assert band.labels[0] == r"$\Gamma$" and len(band.labels) == (2 - np.array(band.path_connections)).sum()
    assert all(np.isfinite(f).all() for f in band.frequencies)
    np.testing.assert_allclose(np.sort(band.frequencies[0][0]) * THZ_TO_CM, gamma, atol=1e-6)
    assert run_band_structure(diamond, "ase", npoints=11).labels[:3] == [r"$\Gamma$", "X", "W"]  # ASE's fcc path
    run_band_structure(diamond, "GXL", npoints=11)  # an ASE path string
    assert diamond.band_structure.labels == [r"$\Gamma$", "X", "L"]
    x_point = np.sort(diamond.band_structure.frequencies[0][-1])
    np.testing.assert_allclose(x_point, np.sort(diamond.band_structure.frequencies[1][0]))
    dos = run_dos(diamond)  # tetrahedra on the default mesh
    assert np.isfinite(dos["total_dos"]).all() and dos["total_dos"].min() >= 0
    assert np.trapezoid(dos["total_dos"], dos["frequency_points"]) == pytest.approx(6.0, rel=1e-2)  # 3N, N = 2
    pdos = run_dos(diamond, mesh=[8, 8, 8], with_pdos=True)  # pdos needs the full mesh: keep it small
    np.testing.assert_allclose(pdos["projected_dos"].sum(axis=0), pdos["total_dos"], rtol=1e-6, atol=1e-8)
    thermal = run_thermal(diamond, 0, 2000, 100)
    cv = thermal["heat_capacity"]
    assert np.isfinite(thermal["free_energy"]).all() and np.all(np.diff(cv) > 0)
    assert cv[-1] < 6 * R_GAS and cv[-1] > 0.9 * 6 * R_GAS  # → Dulong–Petit 3N R from below


@pytest.fixture(scope="module")
def relaxed_tube(brenner):
    helical = helical_phonons(5, 0, brenner, interaction_range=4.0)  # relaxes the 2-atom domain first
    tube = helical.line_group.to_atoms(1, vacuum=6.0)
    return helical, compute_phonons(tube, brenner, [1, 1, helical.n_cells], progress=False)


def without_twist(gamma):
    """Γ frequencies without the rigid twist about the tube axis (the 4th-smallest |ω|): phonopy imposes only
    the translational sum rule, so its twist is ≈ 0 only at a stationary geometry in a long supercell."""
    return np.delete(gamma, np.argsort(np.abs(gamma))[3])


def test_tube_supercell_agrees_with_helical_symmetry(relaxed_tube):
    helical, phonon = relaxed_tube
    gamma, reference = gamma_frequencies(phonon), helical.gamma_frequencies
    assert np.sort(np.abs(gamma))[2] < 1e-2 and np.sort(np.abs(gamma))[3] < 3.0  # 3 translations + the twist
    assert np.abs(without_twist(gamma) - without_twist(reference)).max() < 0.2
    for q in (0.25, 0.5):
        phonon.run_qpoints([[0, 0, q]])
        assert np.abs(np.sort(phonon.qpoints.frequencies[0]) * THZ_TO_CM - helical.frequencies([q])[0]).max() < 0.2


def test_tube_bands_dos_and_outputs(relaxed_tube, tmp_path):
    _, phonon = relaxed_tube
    band = run_band_structure(phonon, npoints=21)
    assert band.labels == [r"$\Gamma$", "Z"] and np.allclose(band.qpoints[0][-1], [0, 0, 0.5])
    dos = run_dos(phonon)
    assert dos["mesh"][:2] == [1, 1] and dos["mesh"][2] > 50
    assert np.trapezoid(dos["total_dos"], dos["frequency_points"]) == pytest.approx(60.0, rel=1e-2)  # 3 × 20 atoms
    assert np.isfinite(run_thermal(phonon)["entropy"]).all()
    paths = write_phonopy_outputs(phonon, tmp_path)
    png = plot_bands_and_dos(phonon, tmp_path / "bands_dos.png")
    assert png.stat().st_size > 10_000 and set(paths) == {"phonopy.yaml", "FORCE_SETS", "band.yaml"}
    loaded = phonopy.load(paths["phonopy.yaml"], log_level=0)
    np.testing.assert_allclose(gamma_frequencies(loaded), gamma_frequencies(phonon), atol=0.05)
    assert len(parse_FORCE_SETS(filename=str(paths["FORCE_SETS"]))["first_atoms"]) == len(phonon.dataset["first_atoms"])
    assert yaml.safe_load(paths["band.yaml"].read_text())["nqpoint"] == 21


def test_residual_forces_are_subtracted(brenner):
    tube = read_structures("cnt:5,0")[0]  # ideal rolled graphene: radial residual forces
    plain = compute_phonons(tube, brenner, [1, 1, 3], progress=False)
    subtracted = compute_phonons(tube, brenner, [1, 1, 3], progress=False, subtract_residual_forces=True)
    cell = plain.supercell  # phonopy's atom order
    perfect = Atoms(cell.symbols, cell=cell.cell, scaled_positions=cell.scaled_positions, pbc=tube.pbc)
    residual = evaluate_forces([perfect], brenner, progress=False)[0][0]
    assert np.abs(residual).max() > 0.1
    assert evaluation_info(subtracted).n_images == evaluation_info(plain).n_images + 1
    np.testing.assert_allclose(subtracted.forces, plain.forces - residual, atol=1e-10)


def test_input_errors(brenner):
    tube = read_structures("cnt:5,0")[0]
    for supercell in ([2, 1, 4], [[1, 1, 0], [0, 1, 0], [0, 0, 2]], [1, 1], [1, 1, 0], [1.5, 1, 1]):
        with pytest.raises(InputError):
            compute_phonons(tube, brenner, supercell, progress=False)
    with pytest.raises(InputError, match="3D crystals"):
        compute_phonons(tube, brenner, [1, 1, 2], primitive_matrix="auto", progress=False)
    with pytest.raises(InputError, match="vacuum"):
        squeezed = tube.copy()
        squeezed.cell[0, 0] = squeezed.cell[1, 1] = 6.0
        compute_phonons(squeezed, brenner, [1, 1, 2], progress=False)
    with pytest.raises(InputError, match="distance"):
        compute_phonons(tube, brenner, [1, 1, 2], distance=0.0, progress=False)


def test_interaction_range_and_default_supercell(brenner):
    calc = RelaxedCalculator(tiny_model("float64"), device="cpu")
    assert get_interaction_range(calc) == pytest.approx(14.0)  # force constants reach 2 × 2 layers × 3.5 Å
    assert get_interaction_range(brenner) is None
    tube = read_structures("cnt:5,0")[0]  # period 4.26 Å
    assert default_supercell(tube, 8.0) == [1, 1, 4] and default_supercell(tube, None) == [1, 1, 5]
    assert default_supercell(bulk("C", "diamond"), 8.0) == [2, 2, 2]


run_cli = run_phonons_cli


def test_cli_tube_and_helical_agree(tmp_path, capsys):
    out = run_cli(["--model", "demo-carbon-random", "cnt:5,0", "--out", str(tmp_path / "sc"), "--quiet", "--dos",
                   "--pdos", "--thermal"], capsys)
    assert "supercell 1 1 8 (160 atoms)" in out and "batched call(s)" in out and "Γ-point frequencies" in out
    files = ["phonopy.yaml", "FORCE_SETS", "band.yaml", "bands_dos.png", "total_dos.dat", "projected_dos.dat",
             "thermal_properties.yaml"]
    assert all((tmp_path / "sc" / name).stat().st_size > 0 for name in files)
    gamma = gamma_frequencies(phonopy.load(tmp_path / "sc" / "phonopy.yaml", log_level=0))
    assert len(gamma) == 60 and np.isfinite(gamma).all()

    out = run_cli(["--model", "demo-carbon-random", "cnt:5,0", "--helical", "--out", str(tmp_path / "hel")], capsys)
    assert "12 force evaluations" in out
    data = json.loads((tmp_path / "hel" / "helical_phonons.json").read_text())
    assert data["n_force_evaluations"] == 12 and np.shape(data["frequencies_cm"]) == (51, 60)
    assert (tmp_path / "hel" / "helical_bands_dos.png").stat().st_size > 10_000
    # the same random model, unrelaxed geometry: supercell phonopy and line-group symmetry give the same Γ modes
    assert np.abs(without_twist(np.array(data["gamma_frequencies_cm"])) - without_twist(gamma)).max() < 0.5


def test_cli_diamond_relax_and_path(tmp_path, capsys):
    out = run_cli(["--model", "demo-carbon-random", "diamond:C", "--relax", "--band", "GXMR", "--primitive", "none",
                   "--out", str(tmp_path),
                   "--quiet"], capsys)
    assert "relaxed positions (BFGS, cell fixed): converged" in out and "supercell 2 2 2 (64 atoms)" in out
    assert "8 in the primitive cell" in out and "note: supercell narrower" in out
    assert len(yaml.safe_load((tmp_path / "band.yaml").read_text())["phonon"]) > 0
    with pytest.raises(InputError, match="unknown special points"):  # L is no point of the simple cubic cell
        run_cli(["--model", "demo-carbon-random", "diamond:C", "--band", "GXL", "--primitive", "none",
                 "--out", str(tmp_path), "--quiet"], capsys)


@pytest.mark.parametrize("argv, match", [
    (["cnt:5,0", "--supercell", "2", "1", "4"], "periodic"),
    (["cnt:5,0", "--supercell", "1", "1"], "3 positive integers"),
    (["cnt:5,0", "--supercell", "1", "1", "x"], "3 positive integers"),
    (["diamond:C", "--helical"], "nanotube builder spec"),
    (["cnt:5,0", "--helical", "--supercell", "1", "1", "4"], "does not apply"),
    (["cnt:5,0", "--mesh", "1", "1"], "--mesh"),
])
def test_cli_errors(argv, match, tmp_path, capsys):
    with pytest.raises(InputError, match=match):
        run_cli(["--model", "demo-carbon-random", *argv, "--out", str(tmp_path), "--quiet"], capsys)


def test_cli_rejects_a_negative_displacement_while_parsing(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:  # the option's type refuses it: argparse's usage error, exit 2
        run_cli(["--model", "demo-carbon-random", "cnt:5,0", "--distance", "-0.1", "--out", str(tmp_path)], capsys)
    assert stop.value.code == 2 and "--distance" in capsys.readouterr().err
