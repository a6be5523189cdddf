"""``ase-relaxed md`` / ``relax`` from the command line, including resume after a real SIGKILL."""

import argparse
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from ase.build import bulk
from ase.io import read, write
from conftest import tiny_model

from ase_relaxed import InputError, RelaxedCalculator, save_model
from ase_relaxed.cli import main
from ase_relaxed.cli.md import add_parsers as add_md_parsers
from ase_relaxed.cli.md import md_options
from ase_relaxed.md import relax
from ase_relaxed.md.checkpoint import load_checkpoint
from ase_relaxed.structures import build_nanotube

MODEL_SEED = 5  # see tests/test_md.py


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A tiny model file and a relaxed (5,0) tube file."""
    folder = tmp_path_factory.mktemp("md_cli")
    model = tiny_model("float64", seed=MODEL_SEED)
    save_model(model, folder / "tiny.safetensors")
    tube = relax(build_nanotube(5, 0, length=1), RelaxedCalculator(model, device="cpu")).atoms
    write(folder / "tube.extxyz", tube)
    return {"model": str(folder / "tiny.safetensors"), "tube": str(folder / "tube.extxyz")}


def parse(argv):
    parser = argparse.ArgumentParser()
    add_md_parsers(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def last_log_step(path) -> int:
    try:
        lines = [line for line in open(path).read().splitlines() if line and line[0].isdigit()]
    except FileNotFoundError:
        return -1
    return int(lines[-1].split(",")[0]) if lines else -1


def test_resume_after_sigkill_matches_uninterrupted_run(files, tmp_path):
    """NVE is deterministic: kill a run with SIGKILL mid-way (after a checkpoint, with log rows
    past it), resume it, and get exactly the frames of a run that was never interrupted."""
    def command(folder, steps, *extra):
        folder.mkdir(exist_ok=True)
        return ["md", files["tube"], "--model", files["model"], "--device", "cpu", "--ensemble", "nve",
                "--temperature", "300", "--timestep", "0.5", "--seed", "4", "--interval", "2",
                "--checkpoint-interval", "10", "--quiet", "--steps", str(steps), "--traj", str(folder / "md.extxyz"),
                "--log", str(folder / "md.csv"), "--checkpoint", str(folder / "md.npz"), *extra]

    killed = tmp_path / "killed"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen([sys.executable, "-m", "ase_relaxed", *command(killed, 100_000)],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 180
    try:
        while process.poll() is None and time.monotonic() < deadline:
            if (killed / "md.npz").exists():
                step = load_checkpoint(killed / "md.npz").step
                if step >= 20 and last_log_step(killed / "md.csv") > step:
                    break
            time.sleep(0.005)
        assert process.poll() is None, f"the run ended before it could be killed: {process.stderr.read()}"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == -signal.SIGKILL
    checkpoint_step = load_checkpoint(killed / "md.npz").step
    logged = last_log_step(killed / "md.csv")
    print(f"killed with the checkpoint at step {checkpoint_step} and the log at step {logged}")
    assert 20 <= checkpoint_step < 80 and logged >= checkpoint_step

    resumed = subprocess.run([sys.executable, "-m", "ase_relaxed", *command(killed, 80, "--resume")],
                             env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming {killed / 'md.npz'} at step {checkpoint_step}" in resumed.stdout

    straight = tmp_path / "straight"
    assert main(command(straight, 80)) == 0
    a, b = read(straight / "md.extxyz", ":"), read(killed / "md.extxyz", ":")
    assert [f.info["step"] for f in b] == list(range(0, 81, 2)) == [f.info["step"] for f in a]
    for x, y in zip(a, b):
        np.testing.assert_allclose(y.positions, x.positions, rtol=0, atol=1e-9)
        np.testing.assert_allclose(y.get_momenta(), x.get_momenta(), rtol=0, atol=1e-9)
    log_a = np.loadtxt(straight / "md.csv", delimiter=",", skiprows=1, usecols=(0, 2, 3))
    log_b = np.loadtxt(killed / "md.csv", delimiter=",", skiprows=1, usecols=(0, 2, 3))
    np.testing.assert_allclose(log_b, log_a, rtol=0, atol=1e-9)


def test_config_file_and_flag_precedence(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("ensemble: langevin\ntemperature: 500\ntime-step: 1\n")
    with pytest.raises(InputError, match=r"unknown MD option\(s\) \['time-step'\]"):
        md_options(parse(["md", "cnt:5,0", "--config", str(config)]))
    config.write_text("ensemble: langevin\ntemperature: 500\ntimestep: 1.0\nsteps: 7\n")
    options = md_options(parse(["md", "cnt:5,0", "--config", str(config), "--temperature", "400"]))
    assert (options.ensemble, options.temperature, options.timestep, options.steps) == ("langevin", 400.0, 1.0, 7)
    assert options.tdamp_fs == 100.0 and options.structure == "cnt:5,0" and options.model == "carbon-gfn1"
    defaults = md_options(parse(["md", "cnt:5,0"]))
    assert (defaults.ensemble, defaults.timestep, defaults.barostat, defaults.temperature_limit) == (
        "nve", 0.5, "isotropic", 10_000.0)


def test_md_cli_replicas_and_npt_outputs(files, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = ["md", files["tube"], "--model", files["model"], "--device", "cpu", "--replicas", "2", "--steps", "4",
            "--interval", "2", "--ensemble", "bussi", "--quiet"]
    assert main(argv) == 0
    for k in range(2):
        assert [f.info["step"] for f in read(f"md_r{k}.extxyz", ":")] == [0, 2, 4]
        assert open(f"md_r{k}.csv").readline().strip() == "step,time_fs,epot,ekin,etot,econs,temperature"
    assert load_checkpoint("md.checkpoint.npz").step == 4
    crystal = bulk("C", "diamond", cubic=True)
    write("diamond.extxyz", crystal)
    argv = ["md", "diamond.extxyz", "--model", files["model"], "--device", "cpu", "--ensemble", "npt",
            "--barostat", "anisotropic", "--pressure", "2", "--steps", "2", "--interval", "1", "--quiet",
            "--log", "npt.csv", "--traj", "npt.traj"]
    assert main(argv) == 0
    log = np.genfromtxt("npt.csv", delimiter=",", names=True)
    assert log.dtype.names[-2:] == ("volume", "pressure") and len(log) == 3
    assert np.isclose(log["volume"][0], crystal.get_volume())
    assert [f.info["step"] for f in read("npt.traj", ":")] == [0, 1, 2]
    assert "wrote npt.traj, npt.csv, md.checkpoint.npz" in capsys.readouterr().out


def test_md_cli_errors_are_one_line(files, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["md", files["tube"], "--model", files["model"], "--device", "cpu", "--ensemble", "npt"]) == 2
    assert "npt needs a 3D-periodic cell" in capsys.readouterr().err
    assert main(["md", "--resume", "--checkpoint", "missing.npz"]) == 2
    assert "no checkpoint at 'missing.npz'" in capsys.readouterr().err
    assert main(["relax", "molecule:CH4", "--model", files["model"], "--device", "cpu", "--cell"]) == 2
    assert "--cell needs a periodic axis to relax" in capsys.readouterr().err


def test_relax_cli_tube_cell(files, tmp_path, capsys, monkeypatch):
    """--cell on a tube relaxes its period (the only periodic axis); the vacuum box stays."""
    monkeypatch.chdir(tmp_path)
    argv = ["relax", files["tube"], "--model", files["model"], "--device", "cpu", "--cell", "--quiet", "--out",
            "tube.extxyz"]
    assert main(argv) == 0
    assert "cell on" in capsys.readouterr().out
    start, relaxed = read(files["tube"]), read("tube.extxyz")
    assert abs(relaxed.cell[2, 2] / start.cell[2, 2] - 1) > 0.01
    np.testing.assert_array_equal(relaxed.cell.array[:2], start.cell.array[:2])
    assert abs(relaxed.get_stress()[2]) * relaxed.get_volume() / len(relaxed) < 0.01


def test_relax_cli_cell(files, tmp_path, capsys, monkeypatch):
    """A rattled, 2 % expanded diamond cell relaxes (positions and cell) below fmax."""
    monkeypatch.chdir(tmp_path)
    crystal = bulk("C", "diamond", cubic=True)
    crystal.rattle(0.05, seed=2)
    crystal.set_cell(crystal.cell * 1.02, scale_atoms=True)
    write("start.extxyz", crystal)
    argv = ["relax", "start.extxyz", "--model", files["model"], "--device", "cpu", "--cell", "--fmax", "0.01",
            "--out", "relaxed.extxyz", "--quiet"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    print(out)
    assert "initial" in out and "final" in out and "converged in" in out
    relaxed = read("relaxed.extxyz")
    assert np.linalg.norm(relaxed.get_forces(), axis=1).max() < 0.01
    volume = relaxed.get_volume()
    assert np.abs(relaxed.get_stress()).max() * volume / len(relaxed) < 0.01  # FrechetCellFilter's criterion
    assert not np.allclose(relaxed.cell.array, crystal.cell.array)
