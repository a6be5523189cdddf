"""Every file the command line writes records the model, its file's sha256, the package version and the dtype
(issue 15, "Provenance"); ``ase-relaxed test`` prints a unit with every number."""

import csv
import json
import re

import numpy as np
import pytest
import yaml
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import read, write

from ase_relaxed import __version__
from ase_relaxed.cli import main
from ase_relaxed.models.io import file_sha256
from ase_relaxed.pretrained import pretrained_path
from ase_relaxed.provenance import KEYS, provenance

MODEL = "demo-carbon-random"
CPU = ["--model", MODEL, "--device", "cpu"]


def expected(model: str = MODEL, dtype: str = "float64") -> dict:
    return {"model": model, "model_sha256": file_sha256(pretrained_path(model)), "ase_relaxed_version": __version__,
            "dtype": dtype}


def recorded(record: dict, model: str = MODEL, dtype: str = "float64") -> bool:
    return {key: record.get(key) for key in KEYS} == expected(model, dtype)


def comment_lines(path) -> dict:
    """The ``# key: value`` lines of a text file."""
    pairs = (line[2:].split(": ", 1) for line in open(path) if line.startswith("# ") and ": " in line)
    return {key: value.strip() for key, value in pairs}


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_provenance_of_a_calculator_and_of_a_model():
    from ase_relaxed import RelaxedCalculator
    from ase_relaxed.calculator import resolve_model

    assert recorded(provenance(RelaxedCalculator(MODEL, device="cpu")))
    assert recorded(provenance(RelaxedCalculator(MODEL, device="cpu", dtype="float32")), dtype="float32")
    model = resolve_model(MODEL)
    assert recorded(provenance(model, model=MODEL), dtype=str(model.dtype).removeprefix("torch."))
    assert "date" in provenance(model, date=True) and "date" not in provenance(model)


def test_eval_md_and_relax_files(here, capsys):
    assert main(["eval", "diamond:C", *CPU, "--out", "eval.extxyz"]) == 0
    assert recorded(read("eval.extxyz").info)

    assert main(["md", "diamond:C", *CPU, "--steps", "2", "--interval", "1", "--quiet", "--traj", "md.extxyz",
                 "--log", "md.csv", "--checkpoint", "md.npz"]) == 0
    assert "provenance of the log in md.csv.provenance.json" in capsys.readouterr().out
    frames = read("md.extxyz", ":")
    assert [f.info["step"] for f in frames] == [0, 1, 2] and all(recorded(f.info) for f in frames)
    rows = list(csv.DictReader(open("md.csv")))  # the log stays plain CSV
    assert [int(r["step"]) for r in rows] == [0, 1, 2]
    sidecar = json.loads(open("md.csv.provenance.json").read())
    assert recorded(sidecar) and sidecar["log"] == "md.csv" and sidecar["date"]
    with np.load("md.npz") as data:
        assert recorded(json.loads(str(data["meta"]))["provenance"])
    assert main(["md", "diamond:C", *CPU, "--steps", "3", "--interval", "1", "--quiet", "--traj", "md.extxyz",
                 "--log", "md.csv", "--checkpoint", "md.npz", "--resume"]) == 0
    sidecar = json.loads(open("md.csv.provenance.json").read())
    assert recorded(sidecar) and len(sidecar["resumed"]) == 1 and recorded(sidecar["resumed"][0])
    assert [int(r["step"]) for r in csv.DictReader(open("md.csv"))] == [0, 1, 2, 3]
    assert all(recorded(f.info) for f in read("md.extxyz", ":"))
    assert main(["md", "diamond:C", *CPU, "--steps", "1", "--quiet", "--traj", "md.traj", "--log", "none",
                 "--checkpoint", "none"]) == 0
    assert all(recorded(f.info) for f in read("md.traj", ":"))  # ASE's binary trajectory too

    assert main(["relax", "diamond:C", *CPU, "--cell", "--steps", "2", "--quiet", "--out", "relaxed.extxyz",
                 "--traj", "relax.traj"]) in (0, 1)  # 1: not converged in 2 steps, files written all the same
    assert recorded(read("relaxed.extxyz").info)
    assert all(recorded(f.info) for f in read("relax.traj", ":"))


def test_phonopy_files_record_it_and_phonopy_still_reads_them(here, capsys):
    import phonopy
    from phonopy.file_IO import parse_FORCE_SETS

    assert main(["phonons", "diamond:C", *CPU, "--supercell", "1", "1", "1", "--dos", "--pdos", "--thermal",
                 "--mesh", "2", "2", "2", "--npoints", "3", "--quiet", "--out", "ph"]) == 0
    for name in ("phonopy.yaml", "band.yaml", "thermal_properties.yaml"):
        data = yaml.safe_load(open(f"ph/{name}"))
        assert recorded(data) and data["date"], name
    for name in ("FORCE_SETS", "total_dos.dat", "projected_dos.dat"):
        assert recorded(comment_lines(f"ph/{name}")), name
    assert phonopy.load("ph/phonopy.yaml").dataset is not None
    assert len(parse_FORCE_SETS("ph/FORCE_SETS")["first_atoms"]) == 1
    assert np.loadtxt("ph/total_dos.dat").shape[1] == 2
    assert len(yaml.safe_load(open("ph/thermal_properties.yaml"))["thermal_properties"]) == 101

    assert main(["phonons", "cnt:5,0", "--helical", "--dos", "--thermal", *CPU, "--out", "hel"]) == 0
    assert recorded(json.loads(open("hel/helical_phonons.json").read())["provenance"])
    assert recorded(yaml.safe_load(open("hel/band.yaml")))
    for name in ("total_dos.dat", "thermal_properties.yaml"):
        assert recorded(comment_lines(f"hel/{name}")), name


def test_test_and_symmetry_json_and_units(here, capsys):
    from ase_relaxed.train.metrics import METRIC_UNITS

    rng = np.random.default_rng(0)
    frames = []
    for k in range(2):
        crystal = bulk("C", "diamond", a=3.57)
        crystal.rattle(0.05, seed=k)
        crystal.calc = SinglePointCalculator(crystal, energy=-9.0 + 0.1 * k, forces=rng.normal(size=(2, 3)),
                                             stress=0.01 * rng.normal(size=6))
        frames.append(crystal)
    write("labelled.extxyz", frames)
    capsys.readouterr()
    assert main(["test", MODEL, "labelled.extxyz", "--plots", "plots", "--json", "m.json"]) == 0
    out = capsys.readouterr().out
    metrics = json.loads(open("m.json").read())
    assert recorded(metrics["provenance"]) and metrics["provenance"]["date"]
    lines = [line for line in out.splitlines() if line.strip() and not line.startswith("#")]
    assert {line.split()[0] for line in lines} >= {"energy_rmse_per_atom", "forces_rmse", "stress_rmse"}
    for line in lines:  # every figure: NAME NUMBER UNIT, the unit the metric is defined with
        name, number, unit = re.fullmatch(r"(\S+)\s+(-?[\d.]+(?:e[-+]?\d+)?)\s+(.+)", line).groups()
        assert unit == METRIC_UNITS[name][0], line
    assert any(line.startswith("# model demo-carbon-random (sha256 ") for line in out.splitlines())

    assert main(["symmetry", "diamond-uniaxial-relaxed", "--json", "s.json"]) == 0
    assert recorded(json.loads(open("s.json").read())["provenance"], "diamond-uniaxial-relaxed", "float32")
