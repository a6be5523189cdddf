"""Training from the command line: errors before training, learning, kill-and-resume, evaluation."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
import yaml
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import read, write

from ase_relaxed import InputError, RelaxedCalculator, keys, load_model
from ase_relaxed.structures import build_nanotube
from ase_relaxed.train.config import TrainConfig
from ase_relaxed.train.evaluate import test_model
from ase_relaxed.train.loop import train


def brenner():
    from matscipy.calculators.manybody import Manybody
    from matscipy.calculators.manybody.explicit_forms import TersoffBrenner
    from matscipy.calculators.manybody.explicit_forms.tersoff_brenner import Brenner_PRB_42_9458_C_I

    return Manybody(**TersoffBrenner(Brenner_PRB_42_9458_C_I))


def labelled_frames(n=18, seed=0):
    calc, rng, frames = brenner(), np.random.default_rng(seed), []
    for k in range(n):
        if k % 3 == 2:
            atoms, family = bulk("C", "diamond", a=3.57, cubic=True), "diamond"
        else:
            (a, b), length = [((5, 0), 2), ((3, 3), 3)][k % 3]
            atoms, family = build_nanotube(a, b, length=length), f"cnt({a},{b})"
        atoms.positions += rng.normal(scale=0.05, size=atoms.positions.shape)
        atoms.calc = calc
        results = {"energy": atoms.get_potential_energy(), "forces": atoms.get_forces()}
        if atoms.pbc.all():
            results["stress"] = atoms.get_stress()
        atoms.calc = SinglePointCalculator(atoms, **results)
        atoms.info["family"] = family
        frames.append(atoms)
    return frames


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "data.extxyz"
    write(path, labelled_frames())
    return path


def write_config(folder, data_path, **optim):
    config = {
        "data": {"path": str(data_path), "val_fraction": 0.2, "split_by": "family", "test_families": ["cnt(3,3)"]},
        "model": {"species": ["C"], "cutoff": 3.0, "num_layers": 2, "channels": 8, "l_max": 1, "radial_hidden": 16},
        "loss": {"energy_weight": 1.0, "forces_weight": 10.0, "stress_weight": 1.0},
        "optim": {"lr": 0.01, "max_steps": 40, "batch_size": 3, "eval_every": 10, "checkpoint_every": 5, **optim},
        "out_dir": str(folder / "run"),
    }
    path = folder / "train.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def read_log(path):
    with open(path) as handle:
        return list(csv.DictReader(handle))


def test_training_lowers_the_loss_and_writes_everything(tmp_path, data_file):
    config = TrainConfig.from_yaml(write_config(tmp_path, data_file, max_steps=60))
    model_path = train(config, progress=False)
    rows = read_log(tmp_path / "run" / "log.csv")
    assert [int(r["step"]) for r in rows] == list(range(1, 61))
    first = np.mean([float(r["loss"]) for r in rows[:5]])
    last = np.mean([float(r["loss"]) for r in rows[-5:]])
    assert last < 0.5 * first
    model = load_model(model_path)
    assert model.training_info["test_families"] == ["cnt(3,3)"]
    test_metrics = json.loads((tmp_path / "run" / "test_metrics.json").read_text())
    assert test_metrics["forces_rmse"] > 0
    assert test_metrics["provenance"]["model_sha256"] == model.sha256
    # the energy shift was fitted: a per-atom shift near the mean cohesive energy
    assert -8.0 < float(model.energy_model.energy_shift[0]) < -6.0


def test_killed_run_resumes_to_the_same_model(tmp_path, data_file):
    reference_dir, killed_dir = tmp_path / "reference", tmp_path / "killed"
    reference_dir.mkdir(), killed_dir.mkdir()
    train(TrainConfig.from_yaml(write_config(reference_dir, data_file)), progress=False)

    config_path = write_config(killed_dir, data_file)
    command = [sys.executable, "-m", "ase_relaxed", "train", str(config_path), "--quiet"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = killed_dir / "run" / "log.csv"
    deadline = time.time() + 240
    while time.time() < deadline and process.poll() is None:
        if log.exists() and len(read_log(log)) >= 17:
            break
        time.sleep(0.05)
    assert process.poll() is None, "training finished before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert len(read_log(log)) < 40
    resumed = subprocess.run(command + ["--resume"], capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr

    rows = read_log(log)
    assert [int(r["step"]) for r in rows] == list(range(1, 41))  # no step lost or duplicated
    a = torch.load(reference_dir / "run" / "checkpoint.pt", weights_only=True)["model"]
    b = torch.load(killed_dir / "run" / "checkpoint.pt", weights_only=True)["model"]
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=1e-9, atol=1e-12)
    ref_rows = read_log(reference_dir / "run" / "log.csv")
    assert float(ref_rows[-1]["loss"]) == pytest.approx(float(rows[-1]["loss"]), rel=1e-9)


def test_evaluation_command_prints_metrics_and_plots(tmp_path, data_file):
    model_path = train(TrainConfig.from_yaml(write_config(tmp_path, data_file, max_steps=10)), progress=False)
    out = subprocess.run(
        [sys.executable, "-m", "ase_relaxed", "test", str(model_path), str(data_file),
         "--plots", str(tmp_path / "plots"), "--json", str(tmp_path / "m.json")],
        capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "forces_rmse" in out.stdout and "energy_rmse_per_atom" in out.stdout
    lines = {line.split()[0]: line for line in out.stdout.splitlines() if line.strip()}
    assert lines["energy_rmse_per_atom"].endswith("meV/atom") and lines["forces_rmse"].endswith("eV/Å")
    assert (tmp_path / "plots" / "parity.png").stat().st_size > 1000
    everything = json.loads((tmp_path / "m.json").read_text())
    # an independent oracle: the shipped calculator on every frame, against the file's reference forces
    calc = RelaxedCalculator(str(model_path))
    frames = read(data_file, ":")
    reference = np.concatenate([f.get_forces() for f in frames])
    predicted = np.concatenate([calc.get_forces(f.copy()) for f in frames])
    assert everything["forces_rmse"] == pytest.approx(np.sqrt(((predicted - reference) ** 2).mean()), rel=1e-6)
    assert everything["forces_std"] == pytest.approx(reference.std(), rel=1e-9)

    held_out = test_model(model_path, data_file, families=["cnt(3,3)"])
    expected = sum(a.info["family"] == "cnt(3,3)" for a in read(data_file, ":"))
    assert 0 < held_out["structures"] == expected < everything["structures"]
    with pytest.raises(InputError, match=r"cnt\(9,9\).*not in"):
        test_model(model_path, data_file, families=["cnt(9,9)"])


def test_bad_inputs_fail_before_training(tmp_path, data_file):
    frames = labelled_frames(3)
    unlabelled = [f.copy() for f in frames]  # copies carry no calculator: no labels
    write(tmp_path / "unlabelled.extxyz", unlabelled)
    with pytest.raises(InputError, match="no energy"):
        train(TrainConfig.from_yaml(write_config(tmp_path, tmp_path / "unlabelled.extxyz")), progress=False)
    with pytest.raises(InputError, match="does not exist"):
        train(TrainConfig.from_yaml(write_config(tmp_path, tmp_path / "missing.extxyz")), progress=False)
    config = yaml.safe_load(write_config(tmp_path, data_file).read_text())
    config["optim"]["learning_rate"] = 0.1
    with pytest.raises(InputError, match=r"unknown config key\(s\) \['learning_rate'\] in section 'optim'"):
        TrainConfig.from_dict(config)
    config = yaml.safe_load(write_config(tmp_path, data_file).read_text())
    config["model"]["species"] = ["H"]
    with pytest.raises(InputError, match="not in the model"):
        train(TrainConfig.from_dict(config), progress=False)
    config = yaml.safe_load(write_config(tmp_path, data_file).read_text())
    config["data"]["test_families"] = ["cnt(9,9)"]
    with pytest.raises(InputError, match="not in the data"):
        train(TrainConfig.from_dict(config), progress=False)
    config["data"]["test_families"] = ["cnt(3,3)", "cnt(5,0)", "diamond"]
    with pytest.raises(InputError, match="training split is empty"):
        train(TrainConfig.from_dict(config), progress=False)
    assert not (tmp_path / "run").exists()  # nothing was started


def weak_losses_of(model_path, data_file, seed=123):
    """PITC and PISC of a trained model on every training frame, with fixed displacements."""
    from ase_relaxed.physics.losses import weak_supervision_losses
    from ase_relaxed.train.dataset import batch_labelled, labelled_graph

    model = load_model(model_path).train()  # training mode: forces keep their graph, as in the loop
    frames = read(data_file, ":")
    batch = batch_labelled([labelled_graph(a, model.config.cutoff) for a in frames])
    generator = torch.Generator().manual_seed(seed)
    weak = weak_supervision_losses(model, batch, delta=0.05, generator=generator)
    return {k: float(v.detach()) for k, v in weak.items()}


def test_weak_supervision_losses_are_logged_and_lower_when_trained(tmp_path, data_file):
    """Energy-only training (forces_weight 0) with and without PITC + PISC, same budget and batches."""
    results = {}
    for name, weights in [("plain", {}), ("weak", {"pitc_weight": 1e4, "pisc_weight": 1e4, "weak_delta": 0.05})]:
        folder = tmp_path / name
        folder.mkdir()
        config = TrainConfig.from_yaml(write_config(folder, data_file, max_steps=30))
        config.loss = config.loss.replace(forces_weight=0.0, stress_weight=0.0, **weights)
        results[name] = weak_losses_of(train(config, progress=False), data_file)
        rows = read_log(folder / "run" / "log.csv")
        logged = [float(r["loss_pitc"]) for r in rows]
        assert all(v > 0 for v in logged) if weights else all(v == 0 for v in logged)
    assert results["weak"]["pitc"] < 0.5 * results["plain"]["pitc"]
    assert results["weak"]["pisc"] < 0.5 * results["plain"]["pisc"]


def test_energy_only_training_selects_on_the_energy_not_on_placeholder_forces(tmp_path, data_file):
    """Zeroed force labels (an energy-only data set) must not steer model selection towards small forces."""
    frames = read(data_file, ":")
    for atoms in frames:
        atoms.calc = SinglePointCalculator(atoms, energy=atoms.get_potential_energy(),
                                           forces=np.zeros((len(atoms), 3)))
    write(tmp_path / "energy_only.extxyz", frames)
    config = TrainConfig.from_yaml(write_config(tmp_path, tmp_path / "energy_only.extxyz", max_steps=60,
                                                eval_every=5, patience=100))
    config.loss = config.loss.replace(forces_weight=0.0, stress_weight=0.0)
    model = load_model(train(config, progress=False))
    rows = [r for r in read_log(tmp_path / "run" / "log.csv") if r["val_energy_rmse_per_atom"]]
    best = min(rows, key=lambda r: float(r["val_energy_rmse_per_atom"]))
    assert model.training_info["step"] == int(best["step"])


def test_weak_supervision_config_errors(tmp_path, data_file):
    path = write_config(tmp_path, data_file)
    values = yaml.safe_load(path.read_text())
    values["loss"]["weak_distribution"] = "gaussian"
    with pytest.raises(InputError, match="weak_distribution"):
        TrainConfig.from_dict(values)
    values["loss"].update(weak_distribution="normal", pitc_weight=-1.0)
    with pytest.raises(InputError, match=">= 0"):
        TrainConfig.from_dict(values)


def test_extra_data_files_are_relative_to_the_config_and_split_with_the_main_file(tmp_path, data_file):
    from ase_relaxed.train.loop import prepare

    frames = read(data_file, ":")
    (tmp_path / "data").mkdir()
    write(tmp_path / "data" / "tubes.extxyz", [a for a in frames if a.info["family"] != "diamond"])
    write(tmp_path / "data" / "diamond.extxyz", [a for a in frames if a.info["family"] == "diamond"])
    path = write_config(tmp_path, "data/tubes.extxyz")
    values = yaml.safe_load(path.read_text())
    values["data"]["extra_paths"] = ["data/diamond.extxyz"]
    path.write_text(yaml.safe_dump(values))
    config = TrainConfig.from_yaml(path)
    assert config.data.extra_paths == [str((tmp_path / "data" / "diamond.extxyz").resolve())]
    graphs, split, _ = prepare(config)
    assert len(graphs) == len(frames) == sum(len(v) for v in split.values())
    diamond_count = sum(a.info["family"] == "diamond" for a in frames)
    assert diamond_count > 0
    assert sum(len(g[keys.POSITIONS]) == 8 for g in graphs) == diamond_count  # the second file was read
