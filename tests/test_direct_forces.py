"""Direct-force models (``ModelConfig(forces="direct")``): forces from an equivariant 1o head.

The symmetry suite holds for them exactly as for conservative models (rotation, reflection,
translation, permutation, batch ≡ single, periodic images); what differs is tested as such: the
forces are not −∂E/∂r (but ``gradient_forces`` are), stress is still (1/V)∂E/∂ε, inference needs no
autograd, PITC scales like δ² instead of δ⁴, and NVE or phonons with them warn once.
"""

import warnings

import numpy as np
import pytest
import torch
from ase.calculators.fd import calculate_numerical_forces
from conftest import SYSTEMS, tiny_model

from ase_relaxed import RelaxedCalculator, keys
from ase_relaxed.errors import NonConservativeForcesWarning
from ase_relaxed.graph import atoms_to_graph
from ase_relaxed.md import MDOptions, MDRunner
from ase_relaxed.models import load_model, save_model
from ase_relaxed.phonons import compute_phonons
from ase_relaxed.physics.losses import weak_supervision_losses
from ase_relaxed.testing import (
    assert_batch_equals_single,
    assert_equivariant,
    assert_periodic_images,
    assert_stress_numerical,
)

TOL = {"float64": 1e-10, "float32": 2e-4}


@pytest.fixture(scope="module")
def direct_models():
    return {dtype: tiny_model(dtype, forces="direct") for dtype in ("float64", "float32")}


@pytest.fixture(params=["float64", "float32"])
def direct_calc(request, direct_models):
    return RelaxedCalculator(direct_models[request.param], device="cpu", dtype=request.param)


def _tol(calc):
    return TOL["float64" if calc.dtype == torch.float64 else "float32"]


@pytest.mark.parametrize("name", sorted(SYSTEMS))
def test_direct_forces_are_equivariant(direct_calc, name):
    atoms = SYSTEMS[name]()
    atoms.calc = direct_calc
    assert np.abs(atoms.get_forces()).max() > 1e-3  # the head is not trivially zero at random weights
    assert_equivariant(direct_calc, atoms, np.random.default_rng(11), stress=name == "bulk", atol=_tol(direct_calc))


def test_direct_batch_equals_single_and_images(direct_calc):
    images = [SYSTEMS[k]() for k in ("tube", "bulk", "molecule")]
    assert_batch_equals_single(direct_calc, images, atol=_tol(direct_calc))
    assert_batch_equals_single(direct_calc, [SYSTEMS["bulk"](), SYSTEMS["tube"]()], stress=True, atol=_tol(direct_calc))
    assert_periodic_images(direct_calc, SYSTEMS["bulk"](), np.random.default_rng(3), atol=10 * _tol(direct_calc))


def test_direct_forces_are_not_the_energy_gradient_but_gradient_forces_are(direct_models):
    model = direct_models["float64"]
    calc = RelaxedCalculator(model, device="cpu")
    atoms = SYSTEMS["bulk"]()
    atoms.calc = calc
    numerical = calculate_numerical_forces(atoms, eps=1e-4)
    direct = atoms.get_forces()
    out = model(atoms_to_graph(atoms, model.config.cutoff), compute_gradient_forces=True)
    np.testing.assert_allclose(out[keys.GRADIENT_FORCES].numpy(), numerical, atol=1e-6)
    np.testing.assert_allclose(out[keys.FORCES].numpy(), direct, atol=1e-12)
    assert np.abs(direct - numerical).max() > 1e-3  # a direct head at random weights is far from −∇E


def test_direct_stress_is_the_strain_derivative_of_the_energy(direct_models):
    calc = RelaxedCalculator(direct_models["float64"], device="cpu")
    atoms = SYSTEMS["bulk"]()
    atoms.calc = calc
    assert np.abs(atoms.get_stress()).max() > 1e-4
    assert_stress_numerical(calc, atoms, eps=1e-5, atol=1e-9)


def test_direct_inference_needs_no_autograd(direct_models):
    """Energy and forces of a direct model come out under inference mode, where a conservative model,
    which differentiates its energy, cannot run."""
    graph = atoms_to_graph(SYSTEMS["tube"](), 3.5)
    with torch.inference_mode():
        out = direct_models["float64"](graph)
        assert out[keys.FORCES].shape == graph[keys.POSITIONS].shape
        with pytest.raises(RuntimeError):
            tiny_model("float64")(graph)


def test_direct_model_file_round_trip(direct_models, tmp_path):
    model = direct_models["float64"]
    save_model(model, tmp_path / "direct.safetensors")
    loaded = load_model(tmp_path / "direct.safetensors")
    assert loaded.config.forces == "direct" and not loaded.conservative
    graph = atoms_to_graph(SYSTEMS["molecule"](), 3.5)
    assert torch.equal(loaded(graph)[keys.FORCES], model(graph)[keys.FORCES])
    assert RelaxedCalculator(tmp_path / "direct.safetensors", device="cpu").todict()["forces"] == "direct"


def _pitc(model, graph, delta):
    generator = torch.Generator().manual_seed(5)
    return float(weak_supervision_losses(model, graph, delta=delta, generator=generator,
                                         distribution="uniform_symmetric", terms=("pitc",))["pitc"])


def test_pitc_scales_as_delta_squared_for_direct_and_delta_to_the_fourth_for_conservative(direct_models):
    """Taylor residual E(R+δ) − E(R) + δ·F: O(δ²) for a conservative model (losses ∝ δ⁴), O(δ) when
    F ≠ −∇E (losses ∝ δ²), which is why PITC/PISC can only help direct models."""
    graph = atoms_to_graph(SYSTEMS["bulk"](), 3.5)
    direct = _pitc(direct_models["float64"], graph, 1e-3) / _pitc(direct_models["float64"], graph, 5e-4)
    conservative = _pitc(tiny_model("float64"), graph, 1e-3) / _pitc(tiny_model("float64"), graph, 5e-4)
    assert direct == pytest.approx(4.0, rel=0.05)
    assert conservative == pytest.approx(16.0, rel=0.05)


def _warnings_of(action):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        action()
    return [w for w in caught if issubclass(w.category, NonConservativeForcesWarning)]


def test_nve_and_phonons_with_direct_forces_warn_once(direct_models, models):
    direct = RelaxedCalculator(direct_models["float64"], device="cpu")
    atoms = SYSTEMS["bulk"]()

    def md(calc, ensemble):
        options = MDOptions(ensemble=ensemble, steps=1, temperature=300, traj="none", log="none",
                            checkpoint="none", quiet=True)
        return lambda: MDRunner(atoms, calc, options).run()

    first = _warnings_of(md(direct, "nve"))
    assert len(first) == 1 and "NVE" in str(first[0].message)
    assert _warnings_of(md(direct, "nve")) == []  # once per calculator
    assert _warnings_of(md(direct, "langevin")) == []  # a thermostat absorbs the drift: no warning
    phonons = _warnings_of(lambda: compute_phonons(atoms, direct, [1, 1, 1], progress=False))
    assert len(phonons) == 1 and "phonons" in str(phonons[0].message)
    conservative = RelaxedCalculator(models["float64"], device="cpu")
    assert _warnings_of(md(conservative, "nve")) == []


def test_training_a_direct_model_logs_consistency_and_pitc_lowers_it(tmp_path):
    """Energy-only labels, 40 steps: a direct model's force head learns nothing from the labels, and only
    PITC/PISC tie it to −∇E; the validation file (``data.val_path``) is the one the log reports on."""
    from ase.io import write
    from test_training import labelled_frames, read_log

    from ase_relaxed.train.config import TrainConfig
    from ase_relaxed.train.loop import train

    frames = labelled_frames(n=9)
    write(tmp_path / "train.extxyz", frames[:6])
    write(tmp_path / "val.extxyz", frames[6:])
    final = {}
    for name, weak in (("plain", 0.0), ("weak", 1e3)):
        config = TrainConfig.from_dict({
            "data": {"path": str(tmp_path / "train.extxyz"), "val_path": str(tmp_path / "val.extxyz"),
                     "test_fraction": 0.0},
            "model": {"species": ["C"], "cutoff": 3.0, "num_layers": 1, "channels": 4, "l_max": 1,
                      "radial_hidden": 8, "forces": "direct"},
            "loss": {"energy_weight": 1.0, "forces_weight": 0.0, "pitc_weight": weak, "pisc_weight": weak},
            "optim": {"lr": 0.01, "max_steps": 40, "batch_size": 3, "eval_every": 10, "patience": 100},
            "out_dir": str(tmp_path / name),
        })
        model = load_model(train(config, progress=False))
        assert model.training_info["sizes"] == {"train": 6, "val": 3, "test": 0}
        rows = [r for r in read_log(tmp_path / name / "log.csv") if r["val_consistency_rms"]]
        assert len(rows) == 4 and all(float(r["val_consistency_rms"]) > 0 for r in rows)
        final[name] = float(rows[-1]["val_consistency_rms"])
    assert final["weak"] < 0.5 * final["plain"], final
