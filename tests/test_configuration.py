"""One configuration mechanism: bad values, bad files and unknown keys are one InputError line naming them."""

import math
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

import ase_relaxed.pretrained
from ase_relaxed import InputError, load_model
from ase_relaxed.cli import main
from ase_relaxed.configuration import read_yaml
from ase_relaxed.kernel import KernelConfig
from ase_relaxed.md import MDOptions
from ase_relaxed.models import ModelConfig
from ase_relaxed.reference.broken_symmetry import BrokenCrystalConfig
from ase_relaxed.reference.generate import DataConfig
from ase_relaxed.train.config import DataSection, LossSection, OptimSection, TrainConfig

PRETRAINED_DIR = Path(ase_relaxed.pretrained.__file__).parent
GOOD_TRAIN = {"data": {"path": "data.extxyz"}, "model": {"species": ["C"]}}


def write_yaml(folder, values, name="train.yaml"):
    path = folder / name
    path.write_text(yaml.safe_dump(values))
    return path


@pytest.mark.parametrize(
    "section, key, value, message",
    [
        ("optim", "batch_size", 0, "optim.batch_size: must be >= 1, got 0"),
        ("optim", "batch_size", -1, "optim.batch_size: must be >= 1, got -1"),
        ("optim", "eval_every", 0, "optim.eval_every: must be >= 1, got 0"),
        ("optim", "lr", -1, "optim.lr: must be > 0, got -1"),
        ("optim", "lr", math.nan, "optim.lr: expected a finite number, got nan"),
        ("model", "cutoff", "far", "model.cutoff: expected a number, got 'far'"),
        ("model", "cutoff", math.inf, "model.cutoff: expected a finite number, got inf"),
        ("model", "species", "CO", "model.species: expected a list of chemical symbols such as [C, H], got 'CO'"),
        ("model", "species", ["C", "Xx"], "model.species: unknown chemical symbol(s) ['Xx'], got ['C', 'Xx']"),
        ("model", "num_layers", 2.5, "model.num_layers: expected an integer, got 2.5"),
        ("model", "dtype", "float16", "model.dtype: must be 'float32' or 'float64', got 'float16'"),
        ("loss", "pitc_weight", -1.0, "loss.pitc_weight: must be >= 0, got -1.0"),
        ("data", "split_by", "chirality", "data.split_by: must be 'random' or 'family', got 'chirality'"),
        ("data", "val_fraction", 1.0, "data.val_fraction: must be < 1, got 1.0"),
    ],
)
def test_bad_training_value_names_file_key_and_value(tmp_path, section, key, value, message):
    values = {**GOOD_TRAIN, section: {**GOOD_TRAIN.get(section, {}), key: value}}
    path = write_yaml(tmp_path, values)
    with pytest.raises(InputError) as error:
        TrainConfig.from_yaml(path)
    assert str(error.value) == f"{path}: {message}"


def test_several_problems_are_one_line_and_unknown_keys_list_the_known_ones(tmp_path):
    path = write_yaml(tmp_path, {**GOOD_TRAIN, "optim": {"learning_rate": 0.1, "batch_size": 0}})
    with pytest.raises(InputError) as error:
        TrainConfig.from_yaml(path)
    text = str(error.value)
    assert "\n" not in text and text.startswith(f"{path}: ")
    assert "unknown config key(s) ['learning_rate'] in section 'optim'" in text
    assert f"known keys: {list(OptimSection.model_fields)}" in text
    assert "optim.batch_size: must be >= 1, got 0" in text
    with pytest.raises(InputError, match=r"unknown config key\(s\) \['optimizer'\]; known keys: \['data', 'model'"):
        TrainConfig.from_dict({**GOOD_TRAIN, "optimizer": {}})
    with pytest.raises(InputError, match=r"^data: is required$"):
        TrainConfig.from_dict({"model": {}})


@pytest.mark.parametrize(
    "values, message",
    [
        ({"replicas": 0}, "replicas: must be >= 1, got 0"),
        ({"seed": -1}, "seed: must be >= 0, got -1"),
        ({"timestep": 0}, "timestep: must be > 0, got 0"),
        ({"timestep": -0.5}, "timestep: must be > 0, got -0.5"),
        ({"steps": -1}, "steps: must be >= 0, got -1"),
        ({"interval": 0}, "interval: must be >= 1, got 0"),
        ({"checkpoint-interval": 0}, "checkpoint_interval: must be >= 1, got 0"),
        ({"temperature": -1}, "temperature: must be >= 0, got -1"),
        ({"temperature": math.nan}, "temperature: expected a finite number, got nan"),
        ({"temperatures": [300, -1]}, "temperatures: must all be >= 0 K, got [300, -1]"),
        ({"temperatures": []}, "temperatures: needs at least 1 value(s), got []"),
        ({"friction": 0}, "friction: must be > 0, got 0"),
        ({"max-force": "big"}, "max_force: expected a number, got 'big'"),
        ({"ensemble": "nvt"}, "ensemble: must be 'nve', 'langevin', 'bussi', 'nose-hoover' or 'npt', got 'nvt'"),
        ({"barostat": "cubic"}, "barostat: must be 'isotropic' or 'anisotropic', got 'cubic'"),
        ({"replicas": 2, "temperatures": [300, 400, 500]}, "replicas 2 but 3 temperatures given"),
        ({"ensemble": "langevin", "temperature": 0}, "ensemble langevin needs a target temperature > 0 K, got [0.0]"),
    ],
)
def test_bad_md_option_names_key_and_value(values, message):
    with pytest.raises(InputError) as error:
        MDOptions.from_sources(values)
    assert str(error.value) == message


def test_md_config_file_errors_name_the_file_and_wait_for_flags_on_cross_checks(tmp_path):
    path = write_yaml(tmp_path, {"timestep": -1}, "run.yaml")
    with pytest.raises(InputError) as error:
        MDOptions.read_config(path)
    assert str(error.value) == f"{path}: timestep: must be > 0, got -1"
    path = write_yaml(tmp_path, {"ensemble": "langevin", "temperature": 0, "max-force": 9}, "run.yaml")
    values = MDOptions.read_config(path)  # a flag may still set the temperature
    assert values == {"ensemble": "langevin", "temperature": 0, "max_force": 9}
    assert MDOptions.from_sources(values, {"temperature": 400}).temperature == 400.0
    with pytest.raises(InputError, match=r"unknown MD option\(s\) \['time-step'\]; known options: \['structure'"):
        MDOptions.from_sources({"time-step": 1})


def test_assignment_is_checked_and_a_rejected_value_is_not_kept():
    options = MDOptions()
    with pytest.raises(InputError, match=r"^steps: must be >= 0, got -3$"):
        options.steps = -3
    assert options.steps == 1000
    config = ModelConfig(species=["C", "H"])
    with pytest.raises(InputError, match=r"energy_shift: needs one value per species \['C', 'H'\], got \[1.0\]"):
        config.energy_shift = [1.0]
    assert config.energy_shift is None


@pytest.mark.parametrize(
    "cls, values, message",
    [
        (DataConfig, {"n_structures": 0}, "n_structures: must be >= 1, got 0"),
        (DataConfig, {"n_structures": -5}, "n_structures: must be >= 1, got -5"),
        (DataConfig, {"vacuum": -1.0}, "vacuum: must be >= 0, got -1.0"),
        (DataConfig, {"min_length": math.inf}, "min_length: expected a finite number, got inf"),
        (DataConfig, {"variants": ["melted"]}, "variants[0]: must be 'rattled', 'strained' or 'thermal', got 'melted'"),
        (DataConfig, {"temperature_range": [900, 300]}, "temperature_range: needs low <= high, got [900, 300]"),
        (BrokenCrystalConfig, {"size": 0}, "size: must be >= 1, got 0"),
        (BrokenCrystalConfig, {"n_structures": 0}, "n_structures: must be >= 1, got 0"),
        (BrokenCrystalConfig, {"direction": [0, 0, 0]}, "direction: expected a non-zero 3-vector, got [0, 0, 0]"),
        (BrokenCrystalConfig, {"strength": math.nan}, "strength: expected a finite number, got nan"),
        (KernelConfig, {"zeta": 0}, "zeta: must be >= 1, got 0"),
        (KernelConfig, {"model_kind": "gnn"}, "model_kind: must be 'kernel-soap', got 'gnn'"),
        (ModelConfig, {"species": []}, "species: needs at least 1 value(s), got []"),
        (ModelConfig, {"l_relaxed": -1}, "l_relaxed: must be >= 0, got -1"),
    ],
)
def test_bad_value_in_the_constructor_is_one_input_error(cls, values, message):
    with pytest.raises(InputError) as error:
        cls(**values)
    assert str(error.value) == message


def test_data_command_refuses_a_negative_count_before_writing(tmp_path, capsys):
    out = tmp_path / "d.extxyz"
    for args in (["data", "-n", "-5"], ["data", "--method", "tersoff", "--size", "0"]):
        try:
            code = main([*args, "--out", str(out), "--quiet"])
        except SystemExit as stop:  # rejected already by the argument parser
            code = stop.code
        captured = capsys.readouterr()
        assert code == 2 and "wrote" not in captured.out and not out.exists()
        assert args[-1] in captured.err


@pytest.mark.parametrize(
    "text, message",
    [
        (None, "does not exist"),
        ("model: [unclosed\n", "is not valid YAML: .*line"),
        ("- a\n- list\n", "must hold a mapping of key: value, got a list"),
    ],
)
def test_yaml_file_problem_is_one_line_naming_the_file(tmp_path, text, message):
    path = tmp_path / "config.yaml"
    if text is not None:
        path.write_text(text)
    for read in (read_yaml, TrainConfig.from_yaml, MDOptions.read_config):
        with pytest.raises(InputError, match=f"config file '{path}' {message}") as error:
            read(path)
        assert "\n" not in str(error.value)


def test_empty_yaml_file_is_all_defaults(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("")
    assert read_yaml(path) == {} and MDOptions.read_config(path) == {}
    assert MDOptions.from_yaml(path) == MDOptions()


@pytest.mark.parametrize(
    "config",
    [
        ModelConfig(species=["C", "H"], energy_shift=[-1.0, -2.0], relaxed=True),
        KernelConfig(species=["C"], n_representative=5, energy_shift=[-7.0]),
        TrainConfig.from_dict({**GOOD_TRAIN, "loss": {"pitc_weight": 1.0}, "optim": {"batch_size": 2}}),
        DataSection(split_by="family", test_families=["cnt(5,0)"]),
        LossSection(weak_distribution="normal"),
        OptimSection(lr=1e-3),
        MDOptions.from_sources({"temperatures": [300, 600], "ensemble": "bussi", "index": 0}),
        DataConfig(chiralities=["5,0"], temperature_range=[100, 200]),
        BrokenCrystalConfig(direction=[1.0, 1.0, 0.0], random_orientation=True),
    ],
    ids=lambda c: type(c).__name__,
)
def test_round_trip_through_a_dict_is_equal(config):
    again = type(config).from_dict(config.to_dict())
    assert again == config and again.to_dict() == config.to_dict()
    assert yaml.safe_load(yaml.safe_dump(config.to_dict())) is not None  # plain values only


def test_replace_is_a_checked_copy():
    config = ModelConfig(channels=8)
    changed = config.replace(channels=4)
    assert (config.channels, changed.channels, changed.species) == (8, 4, ["C"])
    with pytest.raises(InputError, match="channels: must be >= 1, got 0"):
        config.replace(channels=0)


@pytest.mark.parametrize("path", sorted(PRETRAINED_DIR.glob("*.safetensors")), ids=lambda p: p.stem)
def test_shipped_models_load_bit_exactly(path):
    model = load_model(path)
    assert type(model.config).from_dict(model.config.to_dict()) == model.config
    stored = load_file(str(path))
    loaded = model.state_dict()
    if getattr(model, "domain", None) is not None:  # the training-domain record travels in the same file
        loaded = {**loaded, **model.domain.tensors()}
    assert set(stored) == set(loaded)
    for name, tensor in stored.items():
        assert loaded[name].dtype == tensor.dtype and torch.equal(loaded[name], tensor), name
