"""Model files: bit-exact round trip, safe loading, clear errors."""

import json
import os
import pickle

import numpy as np
import pytest
import torch
from conftest import SYSTEMS, tiny_model

from ase_relaxed import ModelFileError, RelaxedCalculator, load_model, save_model
from ase_relaxed.models import read_model_file


def test_round_trip_is_bit_exact(tmp_path):
    model = tiny_model("float32")
    path = tmp_path / "model.safetensors"
    save_model(model, path, training={"method": "none", "note": "unit test"})
    loaded = load_model(path)
    assert loaded.config == model.config
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert a.dtype == b.dtype and torch.equal(a, b), name
    atoms = SYSTEMS["tube"]()
    e = [RelaxedCalculator(m, device="cpu").get_potential_energy(atoms) for m in (model, loaded)]
    assert e[0] == e[1]


def test_metadata_says_what_the_model_is(tmp_path):
    path = tmp_path / "model.safetensors"
    save_model(tiny_model(), path, training={"method": "none"})
    config, metadata, _ = read_model_file(path)
    assert metadata["species"] == ["C", "H"] and metadata["cutoff"] == config.cutoff
    assert metadata["units"]["energy"] == "eV" and metadata["training"] == {"method": "none"}
    assert "package_version" in metadata


class Payload:
    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickle_with_payload_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "payload_ran"
    Payload.marker = marker
    path = tmp_path / "evil.safetensors"
    path.write_bytes(pickle.dumps({"state_dict": Payload()}))
    torch_path = tmp_path / "evil.pt"
    torch.save({"x": Payload()}, torch_path)
    for p in (path, torch_path):
        with pytest.raises(ModelFileError, match="not a readable ase_relaxed model"):
            load_model(p)
    assert not marker.exists()


def test_truncated_file_gives_clear_error(tmp_path):
    path = tmp_path / "model.safetensors"
    save_model(tiny_model(), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="corrupt, truncated"):
        load_model(path)


def test_damaged_config_gives_clear_error(tmp_path):
    from safetensors.torch import load_file, save_file

    path = tmp_path / "model.safetensors"
    save_model(tiny_model(), path)
    config, metadata, _ = read_model_file(path)
    bad = {**config.to_dict(), "no_such_key": 1}
    header = {"format": "ase_relaxed-model-v1", "ase_relaxed.config": json.dumps(bad),
              "ase_relaxed.metadata": json.dumps(metadata)}
    save_file(load_file(path), path, metadata=header)
    with pytest.raises(ModelFileError, match="no_such_key"):
        load_model(path)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_weights_are_refused(tmp_path, bad):
    from safetensors.torch import load_file, safe_open, save_file

    path = tmp_path / "model.safetensors"
    save_model(tiny_model(), path)
    with safe_open(str(path), framework="pt") as handle:
        header = handle.metadata()
    tensors = load_file(path)
    name = sorted(k for k, t in tensors.items() if t.is_floating_point() and t.numel() > 1)[0]
    tensors[name][1] = bad
    save_file(tensors, path, metadata=header)
    with pytest.raises(ModelFileError, match=f"NaN or infinite weights in 1 tensor\\(s\\) \\({name}\\)"):
        load_model(path)
    with pytest.raises(ModelFileError, match="NaN or infinite"):
        RelaxedCalculator(str(path), device="cpu")


def test_missing_file_and_unknown_name():
    with pytest.raises(ModelFileError, match="does not exist"):
        load_model("no/such/model.safetensors")
    with pytest.raises(ModelFileError, match="no shipped model named"):
        RelaxedCalculator("no-such-model")


def test_shipped_demo_model_loads_by_name():
    calc = RelaxedCalculator("demo-carbon-random", device="cpu")
    atoms = SYSTEMS["tube"]()
    atoms.calc = calc
    assert np.isfinite(atoms.get_potential_energy())
