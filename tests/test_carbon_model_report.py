"""scripts/carbon_model_report.py: its per-family table is ``ase-relaxed test``'s metrics, its frozen-phonon Raman
frequency is the Γ optical mode of a finite-difference Hessian, and its pass/fail reads the targets (tiny settings,
the random-weight demo-carbon-random model)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk, graphene, molecule
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import carbon_model_report as report  # noqa: E402
import gfn1_reference_properties as gfn1_props  # noqa: E402

from ase_relaxed import RelaxedCalculator  # noqa: E402
from ase_relaxed.models.resolve import resolve_model  # noqa: E402
from ase_relaxed.train.evaluate import test_model  # noqa: E402

MODEL = "demo-carbon-random"


def labelled_frames() -> list:
    """Two families with made-up labels: rattled C20-sized balls and a rattled periodic graphene sheet."""
    rng = np.random.default_rng(0)
    sheet = graphene(a=2.46, vacuum=5.0).repeat((3, 3, 1))
    sheet.pbc = True
    frames = []
    for family, base in (("ball", molecule("C60")), ("sheet", sheet)):
        for _ in range(3):
            atoms = base.copy()
            atoms.positions += rng.normal(scale=0.05, size=atoms.positions.shape)
            atoms.calc = SinglePointCalculator(atoms, energy=float(rng.normal(-7.0 * len(atoms), 1.0)),
                                               forces=rng.normal(scale=0.5, size=(len(atoms), 3)))
            atoms.info["family"] = family
            frames.append(atoms)
    return frames


def test_family_table_is_ase_relaxed_test_per_family(tmp_path):
    frames = labelled_frames()
    path = tmp_path / "labelled.extxyz"
    write(path, frames)
    table = report.family_table(resolve_model(MODEL), frames, ["ball"], seen={"ball", "sheet"})
    for family in ("ball", "sheet"):
        expected = test_model(MODEL, path, families=[family])
        for key in ("energy_rmse_per_atom", "forces_rmse", "energy_mae_per_atom"):
            assert table[family][key] == pytest.approx(expected[key], rel=1e-5)
        assert table[family]["frames"] == expected["structures"] == 3
    assert (table["ball"]["split"], table["sheet"]["split"]) == ("held out", "trained")
    assert table["all held out"]["forces_rmse"] == pytest.approx(table["ball"]["forces_rmse"], rel=1e-12)
    everything = test_model(MODEL, path)
    ball, sheet = table["ball"], table["sheet"]
    pooled = np.sqrt((3 * ball["energy_rmse_per_atom"] ** 2 + 3 * sheet["energy_rmse_per_atom"] ** 2) / 6)
    assert pooled == pytest.approx(everything["energy_rmse_per_atom"], rel=1e-5)
    unseen = report.family_table(resolve_model(MODEL), frames, ["ball"], seen={"ball"})
    assert unseen["sheet"]["split"] == "not in training data" and "all not in training data" in unseen


def test_frozen_phonon_raman_frequency_is_the_optical_mode_of_the_finite_difference_hessian(tmp_path):
    from ase.vibrations import Vibrations

    calc = RelaxedCalculator(MODEL, dtype="float64", device="cpu")
    cache = report.model_cache(lambda: calc)
    a = 3.55
    frozen = gfn1_props.optical_frequency(cache, 1, a)["frequency_cm-1"]
    # the model is local, so the Γ frozen phonon of a perfect crystal does not depend on the supercell
    assert gfn1_props.optical_frequency(cache, 2, a)["frequency_cm-1"] == pytest.approx(frozen, rel=1e-9)
    atoms = bulk("C", "diamond", a=a)  # 2-atom primitive cell: its Hessian is the Γ dynamical matrix
    atoms.calc = calc
    vib = Vibrations(atoms, name=str(tmp_path / "vib"), delta=0.01)
    vib.run()
    optical = np.sort(np.real(vib.get_frequencies()))[-3:]
    assert np.ptp(optical) < 1e-6 * optical[-1]  # triply degenerate
    assert frozen == pytest.approx(optical[-1], rel=2e-3)  # ±δ on both sublattices vs ±δ on one atom


def test_property_rows_targets_and_scan_edges():
    gfn1 = {"diamond": {"3x3x3": {"a0_angstrom": 3.545, "bulk_modulus_GPa": 530.0,
                                  "lattice_constants_scanned": [3.4, 3.5, 3.6, 3.7]}},
            "graphite": {"AB": {"interlayer_distance_angstrom": 3.19, "distances_scanned": [3.0, 3.5, 3.9]}}}
    model = {"diamond": {"3x3x3": {"a0_angstrom": 3.55, "bulk_modulus_GPa": 600.0,
                                   "lattice_constants_scanned": [3.4, 3.5, 3.6, 3.7]}},
             "graphite": {"AB": {"interlayer_distance_angstrom": 3.9, "distances_scanned": [3.0, 3.5, 3.9]}}}
    rows = {row["property"]: row for row in report.property_rows(model, gfn1)}
    assert rows["diamond a0 (3x3x3)"]["pass"] is True  # 0.14 % ≤ 0.5 %
    assert rows["diamond B0 (3x3x3)"]["pass"] is False  # 13 % > 10 %
    assert rows["graphite AB, 2 layers interlayer d"]["model_at_scan_edge"] == "high"
    assert rows["graphite AB, 2 layers interlayer d"]["pass"] is False
    model["graphite"]["AB"]["interlayer_distance_angstrom"] = 3.2
    rows = {row["property"]: row for row in report.property_rows(model, gfn1)}
    assert rows["graphite AB, 2 layers interlayer d"]["pass"] is True
    assert "graphite AA, 2 layers interlayer d" not in rows  # GFN1 holds no AA figure here
    assert "≥" not in report.markdown({"properties": {"rows": list(rows.values())}})
