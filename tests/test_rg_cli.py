"""``ase-relaxed rg sample | train | plot`` on tiny lattices: files with provenance, numbers with units, and a
training killed with SIGKILL that ``--resume`` finishes with the same weights as an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from ase_relaxed.cli import main
from ase_relaxed.rg import abs_magnetisation
from ase_relaxed.rg.files import load_samples
from ase_relaxed.rg.stack import RBMStack


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    path = tmp_path_factory.mktemp("rg") / "s.npz"
    assert main(["rg", "sample", "--L", "8", "--coupling", "0.3", "--n-samples", "400", "--seed", "3",
                 "--out", str(path)]) == 0
    return path


def test_sample_writes_spins_and_provenance(samples, capsys):
    spins, provenance = load_samples(samples)
    assert spins.shape == (400, 8, 8) and set(np.unique(spins)) == {-1, 1}
    assert provenance["command"] == "ase-relaxed rg sample" and provenance["options"]["coupling"] == 0.3
    assert provenance["options"]["seed"] == 3 and "package_version" in provenance
    m, m_err = provenance["abs_m"]
    assert abs(m - abs_magnetisation(spins).mean()) < 1e-12 and m_err > 0
    # the same seed gives the same samples; the printed line names its units
    again = samples.parent / "again.npz"
    assert main(["rg", "sample", "--L", "8", "--coupling", "0.3", "--n-samples", "400", "--seed", "3",
                 "--out", str(again)]) == 0
    assert np.array_equal(load_samples(again)[0], spins)
    out = capsys.readouterr().out
    assert "K = J/kT = 0.3" in out and "<E/N> = " in out and " J " in out


def test_train_then_plot(samples, tmp_path, capsys):
    stack_path = tmp_path / "stack.safetensors"
    assert main(["rg", "train", str(samples), "--layers", "64,16,4", "--epochs", "3", "--batch-size", "50",
                 "--l1", "0.01", "--quiet", "--out", str(stack_path)]) == 0
    out = capsys.readouterr().out
    assert "trained 64-16-4 on 400 samples: CD-1, 3 epochs" in out
    stack = RBMStack.load(stack_path)
    assert stack.sizes == [64, 16, 4] and stack.metadata["trained_layers"] == 2 and stack.extra == {}
    assert stack.metadata["provenance"]["samples"]["command"] == "ase-relaxed rg sample"
    # refusing to overwrite without --resume; --resume of a finished run changes nothing
    assert main(["rg", "train", str(samples), "--layers", "64,16,4", "--out", str(stack_path)]) == 2
    before = stack_path.read_bytes()
    assert main(["rg", "train", str(samples), "--layers", "64,16,4", "--epochs", "3", "--batch-size", "50",
                 "--l1", "0.01", "--quiet", "--resume", "--out", str(stack_path)]) == 0
    assert torch.equal(RBMStack.load(stack_path).layers[1].W, stack.layers[1].W)
    assert stack_path.read_bytes() == before
    # a resume with other options is refused
    assert main(["rg", "train", str(samples), "--layers", "64,16,4", "--epochs", "3", "--batch-size", "50",
                 "--l1", "0.02", "--quiet", "--resume", "--out", str(stack_path)]) == 2
    assert "l1" in capsys.readouterr().err

    plots = tmp_path / "plots"
    assert main(["rg", "plot", str(stack_path), "--samples", str(samples), "--out-dir", str(plots),
                 "--n-reconstruct", "100", "--dpi", "30"]) == 0
    summary = json.loads((plots / "rg-summary.json").read_text())
    assert [d["units"] for d in summary["layers"]] == [16, 4]
    assert [d["block_scale"] for d in summary["layers"]] == [2.0, 4.0]
    assert all(os.path.getsize(f) > 0 for f in summary["figures"]) and len(summary["figures"]) == 4
    assert summary["provenance"]["command"] == "ase-relaxed rg plot" and "energy" in summary["definitions"]
    for d in summary["layers"]:
        assert 0 < d["reconstruction"]["abs_m"]["mean"] <= 1 and d["n_reconstructed"] == 100
        assert 0 <= d["locality_at_block_scale"] <= 1


def _train_argv(samples, out, epochs):
    return ["rg", "train", str(samples), "--layers", "64,16,4", "--epochs", str(epochs), "--batch-size", "50",
            "--persistent", "--k", "2", "--l1", "0.003", "--quiet", "--out", str(out)]


def test_resume_after_sigkill_gives_the_same_weights(samples, tmp_path):
    epochs = 60
    reference = tmp_path / "reference.safetensors"
    assert main(_train_argv(samples, reference, epochs)) == 0

    killed = tmp_path / "killed.safetensors"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "ase_relaxed", *_train_argv(samples, killed, epochs)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while not killed.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    partial = RBMStack.load(killed)
    progress = partial.metadata["progress"]
    assert partial.metadata["trained_layers"] < 2, "the run finished before it could be killed"
    assert progress["layer"] < 2 and "generator" in partial.extra and "chains" in partial.extra

    assert main([*_train_argv(samples, killed, epochs), "--resume"]) == 0
    done, ref = RBMStack.load(killed), RBMStack.load(reference)
    assert done.metadata["trained_layers"] == 2
    for a, b in zip(done.layers, ref.layers):
        assert torch.equal(a.W, b.W) and torch.equal(a.a, b.a) and torch.equal(a.b, b.b)
