"""The weak-supervision learning-curve benchmark: records, resumability and the plot, in --quick mode."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "piwsl_learning_curve.py"
PLOT = ROOT / "benchmarks" / "piwsl_plot.py"
FIELDS = ("N", "labels", "weak", "seed", "energy_rmse_per_atom", "forces_rmse", "md_stable_fraction", "steps",
          "wall_s", "config")


def run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=240, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    return out


def test_quick_grid_is_recorded_resumable_and_plotted(tmp_path):
    data, results = tmp_path / "data.extxyz", tmp_path / "results.json"
    args = [str(SCRIPT), "--quick", "--data", str(data), "--out", str(results), "--work", str(tmp_path / "runs"),
            "--n", "4", "8", "--seeds", "0", "--steps", "10"]
    first = run(*args)
    assert data.exists()
    records = json.loads(results.read_text())
    assert len(records) == 8 == first.stdout.count("MD stable")
    keys = {(r["N"], r["labels"], r["weak"], r["seed"]) for r in records}
    assert keys == {(n, labels, weak, 0) for n in (4, 8) for labels in ("energy", "energy+forces")
                    for weak in (False, True)}
    for record in records:
        assert set(FIELDS) <= set(record)
        for name in ("energy_rmse_per_atom", "forces_rmse", "wall_s"):
            assert math.isfinite(record[name]) and record[name] > 0
        assert 0.0 <= record["md_stable_fraction"] <= 1.0 and record["steps"] == 10
        loss = record["config"]["train"]["loss"]
        assert (loss["forces_weight"] > 0) == (record["labels"] == "energy+forces")
        assert (loss["pitc_weight"] > 0) == (loss["pisc_weight"] > 0) == record["weak"]
        assert (record["final_train_losses"]["loss_pitc"] > 0) == record["weak"]  # the losses were really on
    assert not (tmp_path / "runs").exists()  # run folders are removed once recorded

    second = run(*args)  # resumable: every run is found and skipped
    assert second.stdout.count("skip (done)") == 8 and "MD stable" not in second.stdout
    assert json.loads(results.read_text()) == records

    png = tmp_path / "curve.png"
    plotted = run(str(PLOT), "--results", str(results), "--png", str(png))
    assert png.stat().st_size > 10_000
    assert "| energy+forces | 8 | 1/1 |" in plotted.stdout and "ΔE" in plotted.stdout
