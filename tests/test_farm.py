"""Farms (ase_relaxed.integrations.farm) on a 2-worker Dask LocalCluster: results equal a serial run, an
interrupted run resumes without redoing finished structures, a failing structure is recorded with its error
and does not stop the others; the CLI's farm mode and its bad inputs (one line, exit status 2)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from ase import Atoms
from ase.io import write
from conftest import make_bulk, make_tube

from ase_relaxed import RelaxedCalculator, save_model
from ase_relaxed.cli import main
from ase_relaxed.integrations import farm

distributed = pytest.importorskip("distributed", reason="farms on Dask need the [distributed] extra")
ase_db = pytest.importorskip("ase.db")


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    from conftest import tiny_model

    path = tmp_path_factory.mktemp("farm_model") / "tiny.safetensors"
    save_model(tiny_model("float64"), path)
    return str(path)


@pytest.fixture(scope="module")
def cluster():
    """One 2-worker LocalCluster (processes, 1 thread each) for the module; tests reach it by its address."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as local:
        with distributed.Client(local) as client:
            client.run(farm.tasks.set_threads, 1)
        yield local.scheduler_address


@pytest.fixture(scope="module")
def structures(tmp_path_factory):
    """Six structures: builder specs and a two-frame file (keys file@0, file@1)."""
    folder = tmp_path_factory.mktemp("farm_structures")
    frames = folder / "two.extxyz"
    write(frames, [make_tube(), make_bulk()])
    return ["cnt:5,0", "diamond:C", "graphene:size=2", "molecule:C6H6:vacuum=3", str(frames)]


def model_options(path: str) -> dict:
    return {"model": path, "device": "cpu", "dtype": None, "on_close": "error"}


def rows(db: str) -> dict:
    return {row.structure: row for row in ase_db.connect(db).select()}


def test_farm_on_two_workers_equals_serial_and_the_calculator(tmp_path, model_path, cluster, structures):
    jobs = farm.expand_sources(structures, ":")
    assert len(jobs) == 6 and {f"{structures[-1]}@0", f"{structures[-1]}@1"} <= {key for key, _ in jobs}
    serial = farm.run_farm("eval", jobs, {}, model_options(model_path), str(tmp_path / "serial.db"), progress=False)
    dask = farm.run_farm("eval", jobs, {}, model_options(model_path), str(tmp_path / "dask.db"),
                         scheduler=cluster, progress=False)
    assert (serial.ok, serial.failed, dask.ok, dask.failed) == (6, 0, 6, 0)
    a, b = rows(str(tmp_path / "serial.db")), rows(str(tmp_path / "dask.db"))
    assert sorted(a) == sorted(b) == sorted(key for key, _ in jobs)
    calc = RelaxedCalculator(model_path, device="cpu")
    for key, atoms in jobs:
        assert b[key].status == "ok" and b[key].model_sha256 == a[key].model_sha256 != ""
        assert b[key].host.split(":")[1] != str(os.getpid())  # it ran on a worker
        np.testing.assert_allclose(b[key].energy, a[key].energy, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(b[key].forces, a[key].forces, rtol=1e-10, atol=1e-12)
        atoms = atoms.copy()
        atoms.calc = calc
        np.testing.assert_allclose(b[key].energy, atoms.get_potential_energy(), rtol=1e-12, atol=1e-12)


def test_relax_farm_equals_serial(tmp_path, model_path, cluster):
    jobs = farm.expand_sources(["cnt:5,0", "diamond:C"])
    settings = {"cell": False, "optimizer": "fire", "fmax": 0.05, "steps": 30}
    for name, scheduler in (("serial", None), ("dask", cluster)):
        result = farm.run_farm("relax", jobs, settings, model_options(model_path), str(tmp_path / f"{name}.db"),
                               scheduler=scheduler, progress=False)
        assert result.ok == 2
    a, b = rows(str(tmp_path / "serial.db")), rows(str(tmp_path / "dask.db"))
    for key in a:
        np.testing.assert_allclose(b[key].positions, a[key].positions, atol=1e-9)
        assert b[key].e_final == pytest.approx(a[key].e_final, abs=1e-9) and b[key].e_final <= b[key].e_initial
        assert b[key].data["settings"] == {**settings, "dtype": "float64"}


def test_md_and_phonon_farms_equal_serial(tmp_path, model_path, cluster):
    """Seeded Langevin MD and phonopy phonons give the same rows on the workers as in this process."""
    from ase_relaxed.md.options import MDOptions

    md = {k: v for k, v in MDOptions(ensemble="langevin", steps=6, temperature=500.0).model_dump().items()
          if k not in ("structure", "index", "model", "device", "dtype", "traj", "log", "checkpoint", "quiet")}
    phonons = {"distance": 0.01, "relax": False, "fmax": 1e-3, "interaction_range": None, "supercell": [1, 1, 1],
               "primitive": "none", "steps": 10, "subtract_residual_forces": False}
    for kind, settings in (("md", md), ("phonons", phonons)):
        jobs = farm.expand_sources(["cnt:5,0", "diamond:C"])
        for name, scheduler in (("serial", None), ("dask", cluster)):
            result = farm.run_farm(kind, jobs, settings, {**model_options(model_path), "on_close": "ignore"},
                                   str(tmp_path / f"{kind}-{name}.db"), scheduler=scheduler, progress=False)
            assert (result.ok, result.failed) == (2, 0), [r["error"] for r in result.records]
        a, b = rows(str(tmp_path / f"{kind}-serial.db")), rows(str(tmp_path / f"{kind}-dask.db"))
        for key in a:
            if kind == "md":
                assert b[key].md_steps == 6 and np.abs(b[key].positions - dict(jobs)[key].positions).max() > 1e-4
                np.testing.assert_allclose(b[key].positions, a[key].positions, atol=1e-9)
                assert b[key].temperature_final == pytest.approx(a[key].temperature_final, rel=1e-8)
            else:
                gamma = b[key].data["gamma_frequencies_cm"]
                assert len(gamma) == 3 * a[key].natoms and gamma.max() > 10.0  # cm⁻¹: not all zero modes
                np.testing.assert_allclose(gamma, a[key].data["gamma_frequencies_cm"], atol=1e-6)


def test_failing_structure_is_recorded_and_retried(tmp_path, model_path, cluster):
    bad = tmp_path / "overlap.extxyz"
    write(bad, Atoms("C2", positions=[[5, 5, 5], [5, 5, 5.1]], cell=[10, 10, 10], pbc=True))
    jobs = farm.expand_sources(["cnt:5,0", str(bad), "diamond:C"])
    db = str(tmp_path / "f.db")
    result = farm.run_farm("eval", jobs, {}, model_options(model_path), db, scheduler=cluster, progress=False)
    assert (result.ok, result.failed) == (2, 1)
    table = rows(db)
    assert table[str(bad)].status == "failed" and "InputError" in table[str(bad)].error
    assert "0.1" in table[str(bad)].error  # the distance of the two atoms is named
    assert {table[k].status for k in ("cnt:5,0", "diamond:C")} == {"ok"}
    again = farm.run_farm("eval", jobs, {}, model_options(model_path), db, progress=False)
    assert (again.skipped, again.ok, again.failed) == (2, 0, 1)  # ok rows skipped, the failed one retried
    retried = rows(db)
    assert len(ase_db.connect(db)) == 3 and retried[str(bad)].id != table[str(bad)].id


def test_interrupted_run_resumes_without_redoing_finished_structures(tmp_path, model_path, cluster):
    jobs = farm.expand_sources(["cnt:5,0", "cnt:6,0", "diamond:C", "graphene", "graphene:size=2"])
    db = str(tmp_path / "r.db")
    written = []

    def kill_after_two(record):
        written.append(record["key"])
        if len(written) == 2:
            raise KeyboardInterrupt  # as a SIGINT after two rows were committed

    with pytest.raises(KeyboardInterrupt):
        farm.run_farm("eval", jobs, {}, model_options(model_path), db, progress=False, on_record=kill_after_two)
    before = rows(db)
    assert sorted(before) == sorted(written)
    resumed = farm.run_farm("eval", jobs, {}, model_options(model_path), db, scheduler=cluster, progress=False)
    assert (resumed.skipped, resumed.ok, resumed.failed) == (2, 3, 0)
    assert not {r["key"] for r in resumed.records} & set(written)
    after = rows(db)
    assert len(after) == len(ase_db.connect(db)) == 5
    for key in written:  # untouched: same row, same modification time
        assert (after[key].id, after[key].mtime) == (before[key].id, before[key].mtime)


def test_other_settings_or_dtype_are_other_rows(tmp_path, model_path):
    jobs = farm.expand_sources(["diamond:C"])
    db = str(tmp_path / "s.db")
    for dtype in (None, "float32"):
        assert farm.run_farm("eval", jobs, {}, {**model_options(model_path), "dtype": dtype}, db,
                             progress=False).ok == 1
    table = list(ase_db.connect(db).select())
    assert len(table) == 2 and len({row.settings_hash for row in table}) == 2
    assert abs(table[0].energy - table[1].energy) < 1e-4  # float32 vs float64 of the same model


def test_cli_farm_prints_units_and_provenance_and_skips_on_rerun(tmp_path, model_path, cluster, capsys):
    db = str(tmp_path / "cli.db")
    argv = ["relax", "cnt:5,0", "diamond:C", "--model", model_path, "--device", "cpu", "--fmax", "0.05",
            "--steps", "20", "--db", db, "--quiet"]
    assert main(argv + ["--scheduler", cluster]) == 0
    out = capsys.readouterr().out
    assert out.count("ok     ") == 2 and "eV/Å" in out and "sha256" in out and "ase_relaxed" in out
    assert main(argv) == 0
    assert "2 already in" in capsys.readouterr().out


def test_the_survey_script_and_the_cli_command_share_rows():
    """scripts/nanotube_phonon_survey.py's settings are those of the command docs/farms.md shows."""
    import importlib.util
    from pathlib import Path

    from ase_relaxed.cli import build_parser
    from ase_relaxed.cli.phonons import farm_settings

    path = Path(__file__).resolve().parents[1] / "scripts" / "nanotube_phonon_survey.py"
    spec = importlib.util.spec_from_file_location("nanotube_phonon_survey", path)
    survey = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(survey)
    args = build_parser().parse_args(["phonons", *[f"cnt:{t}" for t in survey.TUBES], "--helical", "--relax",
                                      "--fixed-period", "--fmax", "1e-5", "--db", "survey.db"])
    assert farm_settings(args) == survey.SETTINGS
    assert (args.dtype or "float64") == survey.FARM_MODEL["dtype"] and args.model == survey.FARM_MODEL["model"]
    default = build_parser().parse_args(["phonons", "cnt:5,5", "--helical", "--relax"])
    assert farm.settings_hash(farm_settings(default)) != farm.settings_hash(survey.SETTINGS)


def test_cli_single_structure_without_farm_options_is_unchanged(tmp_path, model_path, capsys):
    out = tmp_path / "one.extxyz"
    assert main(["eval", "diamond:C", "--model", model_path, "--device", "cpu", "--out", str(out)]) == 0
    assert out.exists() and "# farm" not in capsys.readouterr().out


@pytest.mark.parametrize("extra, fragment", [
    (["--scheduler", "slurm"], "unknown --scheduler 'slurm'"),
    (["--scheduler", "local:0"], "positive number of workers"),
    (["--db", "{tmp}/missing/x.db"], "does not exist"),
    (["--db", "{tmp}"], "is a folder"),
    (["--db", "{tmp}/garbage.db"], "not a database"),
])
def test_farm_bad_inputs_are_one_line_with_exit_status_2(extra, fragment, tmp_path, model_path, capsys):
    (tmp_path / "garbage.db").write_text("not sqlite at all " * 100)
    argv = ["eval", "cnt:5,0", "diamond:C", "--model", model_path, "--device", "cpu"]
    assert main(argv + [part.format(tmp=tmp_path) for part in extra]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and fragment in err


def test_a_glob_matching_nothing_is_an_error(tmp_path, model_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["eval", "nothing-*.extxyz", "--model", model_path]) == 2
    assert "matches no file" in capsys.readouterr().err
    write(tmp_path / "a-1.extxyz", make_bulk())
    write(tmp_path / "a-2.extxyz", make_bulk())
    assert [key for key, _ in farm.expand_sources(["a-*.extxyz"])] == ["a-1.extxyz", "a-2.extxyz"]


def test_unreachable_scheduler_is_one_line(tmp_path, model_path, capsys):
    import dask

    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        assert main(["eval", "cnt:5,0", "--model", model_path, "--scheduler", "tcp://127.0.0.1:9",
                     "--db", str(tmp_path / "u.db")]) == 2
    err = capsys.readouterr().err
    assert "cannot reach the Dask scheduler" in err and len(err.strip().splitlines()) == 1


def test_missing_dask_names_the_extra(tmp_path, model_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed now raises ImportError
    assert main(["eval", "cnt:5,0", "--model", model_path, "--scheduler", "local:2",
                 "--db", str(tmp_path / "x.db")]) == 2
    assert "pip install 'ase_relaxed[distributed]'" in capsys.readouterr().err


@pytest.mark.slow
def test_killed_client_process_resumes(tmp_path, model_path):
    """SIGKILL the CLI after some rows are committed; the rerun does only the rest."""
    tubes = [f"cnt:{n},0:length=3" for n in range(5, 13)]
    db = str(tmp_path / "k.db")
    argv = [sys.executable, "-m", "ase_relaxed", "relax", *tubes, "--model", model_path, "--device", "cpu",
            "--fmax", "1e-4", "--steps", "200", "--db", db, "--quiet"]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.time() + 300
    while time.time() < deadline and (not os.path.exists(db) or len(ase_db.connect(db)) < 2):
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    before = rows(db)
    assert 2 <= len(before) < len(tubes), "the run finished before it could be killed; use slower tasks"
    resumed = farm.run_farm("relax", farm.expand_sources(tubes),
                            {"cell": False, "optimizer": "fire", "fmax": 1e-4, "steps": 200},
                            model_options(model_path), db, progress=False)
    assert resumed.skipped == len(before) and resumed.ok == len(tubes) - len(before)
    after = rows(db)
    assert len(after) == len(tubes) and all(after[k].mtime == before[k].mtime for k in before)


@pytest.mark.slow
def test_helical_farm_equals_the_helical_route(tmp_path, model_path, cluster):
    from ase_relaxed.phonons import get_interaction_range, helical_phonons

    settings = {"distance": 0.01, "relax": True, "fmax": 1e-3, "interaction_range": None, "relax_period": False}
    result = farm.run_farm("helical", [("cnt:5,0", None), ("cnt:3,3", None)], settings, model_options(model_path),
                           str(tmp_path / "h.db"), scheduler=cluster, progress=False)
    assert result.ok == 2
    row = rows(str(tmp_path / "h.db"))["cnt:5,0"]
    calc = RelaxedCalculator(model_path, device="cpu")
    direct = helical_phonons(5, 0, calc, interaction_range=get_interaction_range(calc), relax=True, fmax=1e-3,
                             relax_period=False)
    np.testing.assert_allclose(row.data["summary"]["gamma_frequencies"], np.round(direct.gamma_frequencies, 2),
                               atol=0.011)
    assert row.rbm == pytest.approx(row.data["summary"]["rbm"])
