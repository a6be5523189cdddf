"""scripts/rg_ising_experiment.py: a tiny run writes its JSON and checkpoints, and a rerun resumes from them."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "rg_ising_experiment.py"


def run(tmp_path, *extra):
    args = [sys.executable, str(SCRIPT), "--L", "4", "--sizes", "16,4,2", "--samples", "300", "--epochs", "2",
            "--batch-size", "50", "--results", str(tmp_path / "runs"), "--json", str(tmp_path / "rg.json"),
            "--figures", str(tmp_path / "fig"), *extra]
    out = subprocess.run(args, capture_output=True, text=True, timeout=300, env={"OMP_NUM_THREADS": "1",
                                                                                  "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    return out.stdout, json.loads((tmp_path / "rg.json").read_text())


@pytest.mark.slow
def test_experiment_runs_and_resumes(tmp_path):
    first, result = run(tmp_path)
    assert "sampled 300" in first and "layer 2 trained" in first
    assert (tmp_path / "runs" / "samples.npz").is_file() and (tmp_path / "runs" / "stack.safetensors").is_file()
    assert [layer["units"] for layer in result["layers"]] == [4, 2]
    assert len(result["figures"]) == 2 and all(Path(f).is_file() for f in result["figures"])
    # the Monte Carlo <|m|> of 4x4 at K = 0.408 is a valid magnetisation; reconstructions are too
    assert 0 < result["monte_carlo"]["abs_m"]["mean"] <= 1
    second, again = run(tmp_path)
    assert "resuming: 2 of 2 layers trained" in second and "sampled" not in second
    assert again["layers"] == result["layers"]  # same checkpoint, same seed: identical analysis
