"""The reference-data generator: real labels, determinism, crash-safe resume, clear errors."""

import json

import numpy as np
import pytest
from ase.io import read

from ase_relaxed import InputError
from ase_relaxed.cli import main
from ase_relaxed.reference.generate import DataConfig, generate_dataset, reference_calculator

SMALL = dict(method="brenner", chiralities=["5,0", "3,3"], n_structures=6, min_length=8.0, thermal_steps=5)


def test_labels_are_the_reference_methods(tmp_path):
    path = generate_dataset(tmp_path / "d.extxyz", DataConfig(**SMALL), progress=False)
    frames = read(path, index=":")
    assert len(frames) == 6
    calc, _ = reference_calculator("brenner")
    for atoms in frames:
        stored_e, stored_f = atoms.get_potential_energy(), atoms.get_forces()
        fresh = atoms.copy()
        fresh.calc = calc
        assert abs(fresh.get_potential_energy() - stored_e) < 1e-6
        np.testing.assert_allclose(fresh.get_forces(), stored_f, atol=1e-6)
        assert atoms.info["method"] == "brenner" and atoms.info["family"] in ("cnt(5,0)", "cnt(3,3)", "graphene")
        if atoms.info["family"].startswith("cnt"):
            assert atoms.pbc.tolist() == [False, False, True] and atoms.cell[2, 2] >= 8.0
        assert "stress" not in atoms.calc.results  # no frame here is 3D periodic
        settings = json.loads(atoms.info["method_settings"])  # the provenance survives the extxyz round trip
        assert settings["generator"]["seed"] == SMALL.get("seed", 0)
        assert settings["generator"]["config"]["chiralities"] == SMALL["chiralities"]
    assert {a.info["variant"] for a in frames} <= {"rattled", "strained", "thermal"}


def test_deterministic_and_resumable_after_a_crash(tmp_path):
    whole = generate_dataset(tmp_path / "whole.extxyz", DataConfig(**SMALL), progress=False)
    part = tmp_path / "part.extxyz"
    generate_dataset(part, DataConfig(**{**SMALL, "n_structures": 3}), progress=False)
    text = part.read_text()
    part.write_text(text[: int(len(text) * 0.8)])  # a crash mid-write leaves a torn frame
    generate_dataset(part, DataConfig(**SMALL), resume=True, progress=False)
    assert part.read_text() == whole.read_text()
    again = generate_dataset(tmp_path / "again.extxyz", DataConfig(**SMALL), progress=False)
    assert again.read_text() == whole.read_text()


def test_bad_requests_are_clear_errors(tmp_path):
    with pytest.raises(InputError, match="unknown reference method"):
        DataConfig(method="dft-for-free")
    with pytest.raises(InputError, match="should look like"):
        DataConfig(chiralities=["ten,zero"])
    path = generate_dataset(tmp_path / "d.extxyz", DataConfig(**{**SMALL, "n_structures": 1}), progress=False)
    with pytest.raises(InputError, match="--resume"):
        generate_dataset(path, DataConfig(**SMALL), progress=False)


def test_data_command(tmp_path, capsys):
    out = tmp_path / "cli.extxyz"
    args = ["data", "--method", "brenner", "--chiralities", "5,0", "-n", "2", "--min-length", "8", "--out", str(out),
            "--quiet"]
    assert main(args) == 0
    assert len(read(out, index=":")) == 2
    assert main(args) == 2 and "--resume" in capsys.readouterr().err


@pytest.mark.slow
def test_gfn1_xtb_labels_a_tube(tmp_path):
    config = DataConfig(method="gfn1-xtb", chiralities=["5,0"], include_graphene=False, n_structures=1)
    frames = read(generate_dataset(tmp_path / "x.extxyz", config, progress=False), index=":")
    assert np.isfinite(frames[0].get_forces()).all() and frames[0].info["method"] == "gfn1-xtb"
