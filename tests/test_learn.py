"""On-the-fly learning (``ase-relaxed learn``): the files agree with each other, a stopped run resumes to the
same result as an uninterrupted one, a SIGKILL loses no labelled frame, bad settings are one line.

The reference is matscipy's Brenner potential here (milliseconds per call); the shipped run uses GFN1-xTB."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from ase.io import read

import ase_relaxed.learn.loop as loop
from ase_relaxed import RelaxedCalculator
from ase_relaxed.cli import main
from ase_relaxed.errors import Interrupted
from ase_relaxed.learn import LearnConfig, learn_on_the_fly
from ase_relaxed.models.io import load_model

SMALL = dict(tubes=["5,0"], temperatures=[300.0, 1200.0], steps=12, reference="brenner", n_representative=30)
FLAGS = ["--tubes", "5,0", "--temperatures", "300", "1200", "--steps", "12", "--reference", "brenner",
         "--n-representative", "30", "--quiet"]


def calls(run_dir: Path) -> list[dict]:
    return [r for r in map(json.loads, (run_dir / "calls.jsonl").read_text().splitlines()) if "call" in r]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("learn") / "run"
    state = learn_on_the_fly(run_dir, LearnConfig(**SMALL), progress=False)
    return run_dir, state


def test_a_run_leaves_frames_log_and_model_that_agree(finished) -> None:
    run_dir, state = finished
    frames, log = read(run_dir / "references.extxyz", ":"), calls(run_dir)
    assert state["ended"] == "all episodes done" and state["calls"] == len(frames) == len(log) >= 2
    assert log[0]["reason"] == "no model yet" and all(r["reason"] in ("sigma", "every") for r in log[1:])
    assert all(r["sigma"] > r["tol"] for r in log[1:] if r["reason"] == "sigma")  # σ_tol really was exceeded
    assert all(np.isfinite(r["force_rmse_before"]) for r in log[1:])  # the model's error where it was unsure
    assert [f.info["call"] for f in frames] == list(range(len(frames)))
    model = load_model(run_dir / "model.safetensors")
    assert model.training_info["frames"] == len(frames)
    assert model.training_info["on_the_fly"]["reference"]["method"] == "brenner"
    atoms = frames[-1].copy()
    atoms.calc = RelaxedCalculator(model, device="cpu")
    error = atoms.get_forces() - frames[-1].get_forces()  # a training frame: fitted well within its force scale
    assert np.sqrt(np.mean(error**2)) < 0.5 * frames[-1].get_forces().std()


def test_a_stopped_run_resumes_to_the_uninterrupted_result(finished, tmp_path, monkeypatch) -> None:
    reference_dir, _ = finished
    run_dir = tmp_path / "run"
    asked = {"n": 0}

    def stop_after_15_steps():
        asked["n"] += 1
        return "SIGTERM" if asked["n"] == 15 else None

    monkeypatch.setattr(loop, "stop_requested", stop_after_15_steps)
    with pytest.raises(Interrupted, match="run the same command again to resume"):
        learn_on_the_fly(run_dir, LearnConfig(**SMALL), progress=False)
    monkeypatch.undo()
    state = learn_on_the_fly(run_dir, LearnConfig(**SMALL), progress=False)
    assert state["ended"] == "all episodes done"
    assert (run_dir / "references.extxyz").read_text() == (reference_dir / "references.extxyz").read_text()
    ours, theirs = (load_model(d / "model.safetensors").energy_model.weights for d in (run_dir, reference_dir))
    assert np.array_equal(ours.numpy(), theirs.numpy())


def test_sigkill_loses_no_labelled_frame(tmp_path) -> None:
    run_dir = tmp_path / "run"
    command = [sys.executable, "-m", "ase_relaxed", "learn", str(run_dir), *FLAGS]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and process.poll() is None:
        log = run_dir / "calls.jsonl"
        if log.exists() and len(log.read_text().splitlines()) >= 2:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    before = (run_dir / "references.extxyz").read_text()
    assert before.count("Properties=") >= 2
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (run_dir / "references.extxyz").read_text().startswith(before)  # every frame made before the kill
    assert "reference calls" in done.stdout and "model:" in done.stdout


def test_other_settings_and_bad_values_are_one_line(finished, capsys) -> None:
    run_dir, _ = finished
    assert main(["learn", str(run_dir), *FLAGS, "--steps", "13"]) == 2  # the last --steps wins
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "other settings (steps)" in err
    assert main(["learn", str(run_dir.parent / "new"), "--tubes", "5,x"]) == 2
    assert "tubes[0]: should look like '10,0'" in capsys.readouterr().err
    assert main(["learn", str(run_dir.parent / "new2"), "--threshold-factor", "0.5"]) == 2
    assert "threshold_factor: must be >= 1" in capsys.readouterr().err


def test_learning_stops_at_max_calls(tmp_path) -> None:
    state = learn_on_the_fly(tmp_path / "run", LearnConfig(**{**SMALL, "max_calls": 2, "threshold_factor": 1.0,
                                                               "threshold": 0.0}), progress=False)
    assert state["ended"] == "max_calls (2) reached" and state["calls"] == 2
    assert len(read(tmp_path / "run" / "references.extxyz", ":")) == 2
