"""The bad-input catalogue of the command line: every case ends in ONE line on stderr and exit status 2.

Kinds covered (each with several cases): builder specs and structure files, models and devices, output
paths (missing or read-only folders, folders named as files, a full disk, two outputs in one file),
values (counts, steps, tolerances, NaN/inf), training configs, damaged checkpoints of training and MD,
physics a command cannot do (NPT of a tube, phonons of a molecule without a box), data generation.
Expected fragments are regular expressions matched against the error line (case-insensitive).
"""

from __future__ import annotations

import importlib.util
import json
import re

import numpy as np
import pytest
import yaml
from ase import Atoms
from ase.io import write

from ase_relaxed import ModelConfig, build_model, save_model
from ase_relaxed.cli import main

TRAIN_BAD = [  # (name, (section, key, value), fragment) of one bad value in a training config
    ("batch-size-zero", ("optim", "batch_size", 0), "batch_size.*0"),
    ("batch-size-negative", ("optim", "batch_size", -1), "batch_size.*-1"),
    ("eval-every-zero", ("optim", "eval_every", 0), "eval_every.*0"),
    ("lr-negative", ("optim", "lr", -1), "lr.*-1"),
    ("cutoff-text", ("model", "cutoff", "far"), "cutoff.*far"),
    ("species-string", ("model", "species", "CO"), "species.*CO"),
    ("unknown-key", ("optim", "bacth_size", 4), "bacth_size"),
]

SPEC_CASES = [
    ("cnt-zero", "cnt:0,0", "chirality"),
    ("cnt-negative", "cnt:-3,2", "chirality"),
    ("cnt-misspelt-option", "cnt:5,0:lenght=4", "unknown option 'lenght'"),
    ("cnt-length-zero", "cnt:5,0:length=0", "length"),
    ("cnt-length-text", "cnt:5,0:length=x", "length.*not a number"),
    ("cnt-negative-vacuum", "cnt:5,0:vacuum=-20", "vacuum"),
    ("cnt-bond-zero", "cnt:5,0:bond=0", "bond"),
    ("cnt-too-large", "cnt:10,0:length=100000", "4,000,000 atoms"),
    ("diamond-negative-a", "diamond:C:a=-3", "a="),
    ("diamond-unknown-element", "diamond:Xx", "not a chemical symbol"),
    ("graphene-size-zero", "graphene:size=0", "size"),
    ("unknown-molecule", "molecule:NotAMolecule", "g2"),
    ("unknown-builder", "foo:1", "neither an existing file nor a builder spec"),
    ("missing-file", "{tmp}/missing.xyz", "does not exist"),
    ("garbage-cif", "{files}/garbage.cif", "cannot read structures|holds no atoms"),
    ("empty-file", "{files}/empty.extxyz", "cannot read structures|no atoms"),
    ("folder-as-structure", "{files}", "directory"),
    ("unknown-element-for-model", "molecule:CH4", r"\['H'\] not in the model"),
]

CASES = [
    *[(name, ["eval", spec, "--model", "{model}", "--out", "{tmp}/o.extxyz"], frag) for name, spec, frag in SPEC_CASES],
    # models and devices
    ("unknown-shipped-model", ["eval", "cnt:5,0", "--model", "no-such-model"], "no shipped model"),
    ("missing-model-file", ["eval", "cnt:5,0", "--model", "{tmp}/missing.safetensors"], "does not exist"),
    ("random-bytes-model", ["eval", "cnt:5,0", "--model", "{files}/garbage.safetensors"], "not a readable"),
    ("unknown-device", ["eval", "cnt:5,0", "--model", "{model}", "--device", "tpu"], "device"),
    ("index-out-of-range", ["eval", "{files}/one.extxyz", "--model", "{model}", "--index", "7"], "cannot read|index"),
    # output paths: checked before any work
    ("eval-out-missing-folder", ["eval", "cnt:5,0", "--model", "{model}", "--out", "{tmp}/no/o.extxyz"],
     "does not exist"),
    ("eval-out-read-only", ["eval", "cnt:5,0", "--model", "{model}", "--out", "/proc/o.extxyz"], "cannot write"),
    ("eval-out-is-folder", ["eval", "cnt:5,0", "--model", "{model}", "--out", "{tmp}"], "folder"),
    ("eval-out-full-disk", ["eval", "cnt:5,0", "--model", "{model}", "--out", "/dev/full"], "no space left"),
    ("relax-out-missing-folder", ["relax", "cnt:5,0", "--model", "{model}", "--out", "{tmp}/no/r.extxyz"],
     "does not exist"),
    ("relax-traj-missing-folder", ["relax", "cnt:5,0", "--model", "{model}", "--traj", "{tmp}/no/r.traj"],
     "--traj.*does not exist"),
    ("md-traj-missing-folder", ["md", "cnt:5,0", "--model", "{model}", "--traj", "{tmp}/no/md.extxyz"], "--traj"),
    ("md-log-read-only", ["md", "cnt:5,0", "--model", "{model}", "--log", "/proc/md.csv"], "--log.*cannot write"),
    ("md-checkpoint-is-folder", ["md", "cnt:5,0", "--model", "{model}", "--checkpoint", "{tmp}"], "folder"),
    ("md-log-equals-traj", ["md", "cnt:5,0", "--model", "{model}", "--log", "{tmp}/x", "--traj", "{tmp}/x"],
     "same file"),
    ("phonons-out-is-file", ["phonons", "cnt:5,0", "--model", "{model}", "--out", "{files}/one.extxyz"],
     "not a folder"),
    ("symmetry-json-missing-folder", ["symmetry", "{model}", "--json", "{tmp}/no/s.json"], "does not exist"),
    ("symmetry-plot-read-only", ["symmetry", "{model}", "--plot", "/proc/theta.png"], "cannot write"),
    ("test-json-missing-folder", ["test", "{model}", "{files}/labelled.extxyz", "--json", "{tmp}/no/m.json"],
     "does not exist"),
    ("data-out-missing-folder", ["data", "--method", "brenner", "--out", "{tmp}/no/d.extxyz"], "does not exist"),
    # values
    ("md-replicas-zero", ["md", "cnt:5,0", "--model", "{model}", "--replicas", "0"], "replicas"),
    ("md-seed-negative", ["md", "cnt:5,0", "--model", "{model}", "--seed", "-1"], "seed"),
    ("md-timestep-zero", ["md", "cnt:5,0", "--model", "{model}", "--timestep", "0"], "timestep"),
    ("md-steps-negative", ["md", "cnt:5,0", "--model", "{model}", "--steps", "-5"], "steps"),
    ("md-temperature-negative", ["md", "cnt:5,0", "--model", "{model}", "--temperature", "-5"], "temperature"),
    ("md-interval-zero", ["md", "cnt:5,0", "--model", "{model}", "--interval", "0"], "interval"),
    ("md-timestep-nan", ["md", "cnt:5,0", "--model", "{model}", "--timestep", "nan"], "timestep"),
    ("relax-fmax-inf", ["relax", "cnt:5,0", "--model", "{model}", "--fmax", "inf"], "fmax"),
    ("relax-fmax-negative", ["relax", "cnt:5,0", "--model", "{model}", "--fmax", "-1"], "fmax"),
    ("relax-steps-negative", ["relax", "cnt:5,0", "--model", "{model}", "--steps", "-1"], "steps"),
    ("phonons-npoints-zero", ["phonons", "cnt:5,0", "--model", "{model}", "--npoints", "0"], "npoints"),
    ("phonons-distance-zero", ["phonons", "cnt:5,0", "--model", "{model}", "--distance", "0"], "distance"),
    ("phonons-supercell-zero", ["phonons", "cnt:5,0", "--model", "{model}", "--supercell", "0", "1", "1"],
     "supercell"),
    ("phonons-helical-not-a-tube", ["phonons", "diamond:C", "--model", "{model}", "--helical"], "helical"),
    ("symmetry-floor-nan", ["symmetry", "{model}", "--floor", "nan"], "floor"),
    ("symmetry-tol-too-large", ["symmetry", "{model}", "--tol", "2"], "tol"),
    ("data-count-negative", ["data", "--method", "brenner", "-n", "-5", "--out", "{tmp}/d.extxyz"], "n_structures|-n"),
    ("data-size-zero", ["data", "--method", "tersoff", "--size", "0", "--out", "{tmp}/d.extxyz"], "size"),
    ("data-vacuum-negative", ["data", "--method", "brenner", "--vacuum", "-1", "--out", "{tmp}/d.extxyz"], "vacuum"),
    # physics a command cannot do
    ("npt-on-a-tube", ["md", "cnt:5,0", "--model", "{model}", "--ensemble", "npt", "--steps", "2"], "3D-periodic"),
    ("phonons-of-a-bare-molecule", ["phonons", "{files}/c2.xyz", "--model", "{model}", "--out", "{tmp}/ph"],
     "vacuum box"),
    # MD checkpoints and configs
    ("md-resume-without-checkpoint", ["md", "--resume", "--checkpoint", "{tmp}/none.npz", "--model", "{model}"],
     "no checkpoint"),
    ("md-checkpoint-edited", ["md", "--resume", "--checkpoint", "{files}/edited.npz", "--model", "{model}"],
     "modified or damaged"),
    ("md-checkpoint-nan", ["md", "--resume", "--checkpoint", "{files}/nan.npz", "--model", "{model}"], "non-finite"),
    ("md-config-missing", ["md", "cnt:5,0", "--model", "{model}", "--config", "{tmp}/missing.yaml"], "missing.yaml"),
    ("md-config-unknown-key", ["md", "cnt:5,0", "--model", "{model}", "--config", "{files}/md_typo.yaml"],
     "temprature"),
    # training configs and checkpoints
    ("train-config-missing", ["train", "{tmp}/missing.yaml"], "missing.yaml"),
    ("train-config-not-a-mapping", ["train", "{files}/list.yaml"], "mapping"),
    *[(f"train-{name}", ["train", "{files}/" + name + ".yaml"], fragment) for name, _, fragment in TRAIN_BAD],
    ("train-resume-random-bytes", ["train", "{files}/run_bytes.yaml", "--resume"], "not a readable training"),
    ("train-resume-truncated", ["train", "{files}/run_truncated.yaml", "--resume"], "not a readable training"),
    ("train-resume-pickle", ["train", "{files}/run_pickle.yaml", "--resume"], "not a readable training checkpoint"),
    ("train-resume-foreign-size", ["train", "{files}/run_foreign.yaml", "--resume"], "another model configuration"),
    ("train-resume-nothing", ["train", "{files}/run_empty.yaml", "--resume"], "no checkpoint"),
    # data generation
    ("data-resume-garbage", ["data", "--method", "brenner", "-n", "2", "--resume", "--out",
                             "{files}/garbage_data.extxyz"], "cannot read|not a data set"),
    ("data-resume-other-seed", ["data", "--method", "brenner", "-n", "3", "--seed", "5", "--resume", "--out",
                                "{files}/data_seed0.extxyz"], "seed"),
    # variational RG (ase-relaxed rg)
    ("rg-sample-L-odd", ["rg", "sample", "--L", "7", "--out", "{tmp}/s.npz"], "even"),
    ("rg-sample-L-too-small", ["rg", "sample", "--L", "2", "--out", "{tmp}/s.npz"], "--L.*>= 4"),
    ("rg-sample-coupling-negative", ["rg", "sample", "--coupling", "-0.4", "--out", "{tmp}/s.npz"], "coupling"),
    ("rg-sample-no-folder", ["rg", "sample", "--L", "4", "--out", "{tmp}/no/s.npz"], "does not exist"),
    ("rg-train-missing-samples", ["rg", "train", "{tmp}/missing.npz"], "does not exist"),
    ("rg-train-garbage-samples", ["rg", "train", "{files}/garbage.cif"], "not a readable"),
    ("rg-train-layers-not-shrinking", ["rg", "train", "{files}/rg4.npz", "--layers", "16,8,8"], "shrink"),
    ("rg-train-layers-wrong-lattice", ["rg", "train", "{files}/rg4.npz", "--layers", "400,100"], r"L\*L = 16"),
    ("rg-train-layers-text", ["rg", "train", "{files}/rg4.npz", "--layers", "16,four"], "integers"),
    ("rg-train-l1-negative", ["rg", "train", "{files}/rg4.npz", "--l1", "-1"], "l1"),
    ("rg-train-l1-per-layer-count", ["rg", "train", "{files}/rg4.npz", "--layers", "16,4", "--l1", "0.1,0.1",
                                     "--out", "{tmp}/s.safetensors"], "one value per RBM"),
    ("rg-train-resume-nothing", ["rg", "train", "{files}/rg4.npz", "--layers", "16,4", "--resume", "--out",
                                 "{tmp}/none.safetensors"], "no checkpoint"),
    ("rg-plot-missing-stack", ["rg", "plot", "{tmp}/none.safetensors", "--samples", "{files}/rg4.npz", "--out-dir",
                               "{tmp}/p"], "does not exist"),
    ("rg-plot-garbage-stack", ["rg", "plot", "{files}/garbage.safetensors", "--samples", "{files}/rg4.npz",
                               "--out-dir", "{tmp}/p"], "safetensors|damaged|not a"),
]


def _train_config(files, data, name: str, **sections) -> str:
    config = {"data": {"path": str(data)}, "model": {"species": ["C"], "cutoff": 3.0, "num_layers": 1, "channels": 4},
              "optim": {"max_steps": 2, "batch_size": 2}, "out_dir": str(files / f"out_{name}")}
    for section, values in sections.items():
        config[section].update(values)
    path = files / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Every broken file the catalogue needs, made once."""
    import torch

    from ase_relaxed.md.checkpoint import save_checkpoint
    from ase_relaxed.reference.generate import DataConfig, generate_dataset

    folder = tmp_path_factory.mktemp("bad_inputs")
    model = folder / "tiny.safetensors"
    save_model(build_model(ModelConfig(species=["C"], cutoff=3.0, num_layers=1, channels=4)), model)
    (folder / "garbage.cif").write_bytes(b"data_nothing\n_cell_length_a x\nloop_\n\x00\x01 garbage")
    (folder / "empty.extxyz").write_text("")
    (folder / "garbage.safetensors").write_bytes(np.random.default_rng(0).bytes(512))
    from ase_relaxed.rg.files import save_samples

    save_samples(folder / "rg4.npz", np.ones((10, 4, 4)), {"L": 4})  # valid 4x4 samples for the rg cases
    write(folder / "c2.xyz", Atoms("C2", positions=[[0, 0, 0], [1.3, 0, 0]]))  # a molecule without a cell
    write(folder / "one.extxyz", Atoms("C2", positions=[[0, 0, 0], [1.4, 0, 0]], cell=[6, 6, 6], pbc=True))
    labelled = generate_dataset(folder / "labelled.extxyz", DataConfig(method="brenner", n_structures=10, seed=0),
                                progress=False)
    (folder / "data_seed0.extxyz").write_bytes(labelled.read_bytes())
    (folder / "garbage_data.extxyz").write_bytes(b"\x00\x01 not a data set")
    # MD checkpoints: one edited after writing, one holding NaN positions
    atoms = Atoms("C2", positions=[[0, 0, 0], [1.4, 0, 0]], cell=[6, 6, 6], pbc=True)
    save_checkpoint(folder / "edited.npz", 4, 2.0, {"structure": "cnt:5,0"}, [(atoms, {})])
    with np.load(folder / "edited.npz") as data:
        arrays = {k: data[k] for k in data.files}
    arrays["meta"] = np.array(str(arrays["meta"]).replace('"step": 4', '"step": 3'))
    np.savez(folder / "edited.npz", **arrays)
    atoms.positions[0, 0] = np.nan
    save_checkpoint(folder / "nan.npz", 4, 2.0, {"structure": "cnt:5,0"}, [(atoms, {})])
    (folder / "md_typo.yaml").write_text("temprature: 300\n")
    (folder / "list.yaml").write_text("- 1\n- 2\n")
    for name, (section, key, value), _ in TRAIN_BAD:
        _train_config(folder, labelled, name, **{section: {key: value}})
    for name, content in [("bytes", np.random.default_rng(1).bytes(300)), ("truncated", None), ("pickle", None),
                          ("foreign", None), ("empty", None)]:
        _train_config(folder, labelled, f"run_{name}")
        out = folder / f"out_run_{name}"
        if name == "empty":
            continue
        out.mkdir()
        if name == "bytes":
            (out / "checkpoint.pt").write_bytes(content)
        elif name == "pickle":
            torch.save({"model": Atoms("C")}, out / "checkpoint.pt")  # an arbitrary object: must never unpickle
        else:
            other = build_model(ModelConfig(species=["C"], cutoff=3.0, num_layers=1, channels=6))
            torch.save({"model": other.state_dict(), "optimizer": {}, "scheduler": {}, "ema": {}, "state": {}},
                       out / "checkpoint.pt")
            if name == "truncated":
                blob = (out / "checkpoint.pt").read_bytes()
                (out / "checkpoint.pt").write_bytes(blob[: len(blob) // 2])
        (out / "config.json").write_text('{"kept": true}')
    return {"folder": folder, "model": model}


@pytest.mark.parametrize("name, argv, fragment", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_with_exit_status_2(name, argv, fragment, files, tmp_path, capsys):
    fill = {"model": str(files["model"]), "files": str(files["folder"]), "tmp": str(tmp_path)}
    status = main([part.format(**fill) for part in argv])
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert status == 2, captured.err
    assert len(lines) == 1 and "Traceback" not in captured.err + captured.out, captured.err
    assert re.search(fragment, lines[0], re.IGNORECASE), lines[0]


def test_the_catalogue_is_large_enough():
    assert len(CASES) >= 60


def test_failed_resumes_touch_nothing(files, capsys):
    """A refused resume leaves the run's files as they were: config.json, the data file."""
    folder = files["folder"]
    main(["train", str(folder / "run_foreign.yaml"), "--resume"])
    assert json.loads((folder / "out_run_foreign" / "config.json").read_text()) == {"kept": True}
    before = (folder / "garbage_data.extxyz").read_bytes()
    main(["data", "--method", "brenner", "-n", "2", "--resume", "--out", str(folder / "garbage_data.extxyz")])
    assert (folder / "garbage_data.extxyz").read_bytes() == before
    capsys.readouterr()


@pytest.mark.skipif(importlib.util.find_spec("tblite") is not None, reason="checks the message shown without tblite")
def test_missing_reference_method_names_the_extra(tmp_path, capsys):
    assert main(["data", "--method", "gfn1-xtb", "-n", "1", "--out", str(tmp_path / "d.extxyz")]) == 2
    assert re.search(r"pip install .*\[peers\]", capsys.readouterr().err)


def test_internal_errors_are_one_line_with_exit_status_1(monkeypatch, capsys):
    import ase_relaxed.cli.evaluate as evaluate

    def broken(args):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(evaluate, "cmd_models", broken)
    assert main(["models"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--debug" in err and "ZeroDivisionError" in err
    with pytest.raises(ZeroDivisionError):
        main(["models", "--debug"])
