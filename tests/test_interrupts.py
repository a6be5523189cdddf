"""SIGINT and SIGTERM during MD, training and data generation: one line, exit 130, a resumable checkpoint.

Each test starts the real command in a subprocess, waits until it has done some work, sends the
signal, and then resumes the run to its end from what was saved.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from ase.io import read

from ase_relaxed import ModelConfig, build_model, save_model


def _start(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "ase_relaxed", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _wait_for(condition, process: subprocess.Popen, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            raise AssertionError(f"the command ended early: {process.communicate()}")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError("the command did no work in time")
        time.sleep(0.2)


def _stop(process: subprocess.Popen, sig: signal.Signals) -> str:
    process.send_signal(sig)
    _, err = process.communicate(timeout=120)
    lines = [line for line in err.splitlines() if line.strip() and "\r" not in line and "%|" not in line]
    assert process.returncode == 130, err
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("interrupt") / "tiny.safetensors"
    save_model(build_model(ModelConfig(species=["C"], cutoff=3.0, num_layers=1, channels=4)), path)
    return path


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_md_stops_with_a_checkpoint_and_resumes(sig, model_file, tmp_path):
    from ase_relaxed.md.checkpoint import load_checkpoint

    files = ["--traj", str(tmp_path / "md.extxyz"), "--log", str(tmp_path / "md.csv"), "--checkpoint",
             str(tmp_path / "md.npz"), "--interval", "5"]
    run = ["md", "cnt:5,0:length=2", "--model", str(model_file), "--ensemble", "langevin", "--quiet", *files]
    process = _start([*run, "--steps", "1000000"])
    _wait_for(lambda: (tmp_path / "md.npz").exists() and load_checkpoint(tmp_path / "md.npz").step >= 10, process)
    line = _stop(process, sig)
    step = load_checkpoint(tmp_path / "md.npz").step
    assert sig.name in line and f"step {step}" in line and "--resume" in line
    assert not list(tmp_path.glob("*.tmp"))
    resumed = subprocess.run([sys.executable, "-m", "ase_relaxed", *run, "--steps", str(step + 10), "--resume"],
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert load_checkpoint(tmp_path / "md.npz").step == step + 10


def test_training_stops_with_a_checkpoint_and_resumes(tmp_path):
    import torch

    from ase_relaxed.reference.generate import DataConfig, generate_dataset

    data = generate_dataset(tmp_path / "data.extxyz", DataConfig(method="brenner", n_structures=10, seed=0),
                            progress=False)
    config = {"data": {"path": str(data)}, "out_dir": str(tmp_path / "run"),
              "model": {"species": ["C"], "cutoff": 3.0, "num_layers": 1, "channels": 4},
              "optim": {"max_steps": 1000000, "batch_size": 2, "eval_every": 5, "checkpoint_every": 1000}}
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump(config))
    process = _start(["train", str(path), "--quiet"])
    log = tmp_path / "run" / "log.csv"
    _wait_for(lambda: log.exists() and len(log.read_text().splitlines()) > 8, process)
    line = _stop(process, signal.SIGTERM)
    saved = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)["state"]["step"]
    assert f"step {saved}" in line and "--resume" in line and saved >= 7
    assert not (tmp_path / "run" / "checkpoint.pt.tmp").exists()
    config["optim"]["max_steps"] = saved + 3
    path.write_text(yaml.safe_dump(config))
    resumed = subprocess.run([sys.executable, "-m", "ase_relaxed", "train", str(path), "--resume", "--quiet"],
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert len(log.read_text().splitlines()) == saved + 3 + 1  # header + one row per step, none twice


def test_data_generation_stops_after_a_frame_and_resumes(tmp_path):
    out = tmp_path / "data.extxyz"
    run = ["data", "--method", "brenner", "--seed", "3", "--out", str(out), "--quiet"]
    process = _start([*run, "-n", "100000"])
    _wait_for(lambda: out.exists() and out.read_text().count("Lattice=") >= 3, process)
    line = _stop(process, signal.SIGINT)
    frames = len(read(out, ":"))
    assert f"{frames} of 100000" in line and "--resume" in line
    resumed = subprocess.run([sys.executable, "-m", "ase_relaxed", *run, "-n", str(frames + 2), "--resume"],
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert len(read(out, ":")) == frames + 2
