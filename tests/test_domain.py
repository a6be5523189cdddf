"""The training-domain check: descriptor distances to the training environments, stored with the model,
reported per atom by the calculator, with one warning naming the atoms outside."""

import warnings

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk
from conftest import TINY, tiny_model

from ase_relaxed import ModelConfig, RelaxedCalculator, build_model
from ase_relaxed.errors import ModelFileError, OutOfDomainWarning
from ase_relaxed.models import load_model, save_model
from ase_relaxed.models.domain import Domain, environment_descriptors, fit_domain
from ase_relaxed.structures import build_nanotube


def rattled_tube(n, m, seed, sigma=0.05):
    tube = build_nanotube(n, m, length=3)
    tube.positions += np.random.default_rng(seed).normal(scale=sigma, size=tube.positions.shape)
    return tube


def chain():
    atoms = Atoms("C6", positions=[[0, 0, 1.28 * i] for i in range(6)], cell=[10, 10, 1.28 * 6],
                  pbc=[False, False, True])
    atoms.center(axis=(0, 1))
    return atoms


@pytest.fixture(scope="module")
def model_with_domain():
    model = build_model(ModelConfig(**{**TINY, "species": ["C"]}))
    train = [rattled_tube(n, m, seed) for seed, (n, m) in enumerate([(8, 0), (10, 0), (5, 5), (6, 3)] * 6)]
    model.domain = fit_domain(environment_descriptors(model, train), n_reference=256, info={"fitted_on": "tubes"})
    return model


def test_farthest_point_sample_covers_every_training_environment():
    x = torch.randn(300, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    domain = fit_domain(x, n_reference=40)
    distances = domain.distances(x)
    assert domain.reference.shape == (40, 5)
    assert distances.max() == pytest.approx(1.0) and distances.min() == 0.0  # ρ is attained; references sit at 0
    with pytest.raises(ValueError, match="components"):
        domain.distances(x[:, :3])


def test_tubes_are_in_domain_diamond_and_a_chain_are_not(model_with_domain):
    calc = RelaxedCalculator(model_with_domain, device="cpu")
    held_out = rattled_tube(7, 0, seed=99)
    with warnings.catch_warnings():
        warnings.simplefilter("error", OutOfDomainWarning)
        held_out.calc = calc
        held_out.get_potential_energy()
    assert calc.domain_distance.shape == (len(held_out),) and "domain_distance" not in calc.results
    assert calc.domain_distance.max() < model_with_domain.domain.factor
    for atoms in (bulk("C", "diamond", a=3.567, cubic=True), chain()):
        fresh = RelaxedCalculator(model_with_domain, device="cpu")
        with pytest.warns(OutOfDomainWarning, match=r"atoms \[0, 1"):
            fresh.get_potential_energy(atoms)
        assert (fresh.domain_distance > model_with_domain.domain.factor).all()


def test_warned_once_and_batched_results_carry_the_distance(model_with_domain):
    calc = RelaxedCalculator(model_with_domain, device="cpu")
    images = [rattled_tube(7, 0, seed=5), bulk("C", "diamond", a=3.567, cubic=True), chain()]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = calc.calculate_batch(images)
        calc.calculate_batch(images)
    assert sum(issubclass(w.category, OutOfDomainWarning) for w in caught) == 1
    assert "image 1" in str(next(w for w in caught if issubclass(w.category, OutOfDomainWarning)).message)
    single = RelaxedCalculator(model_with_domain, device="cpu")
    assert len(results) == len(calc.batch_domain_distance) == 3
    for atoms, distance in zip(images, calc.batch_domain_distance):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            single.get_potential_energy(atoms.copy())
        np.testing.assert_allclose(distance, single.domain_distance, atol=1e-9)


def test_domain_travels_with_the_model_file(model_with_domain, tmp_path):
    save_model(model_with_domain, tmp_path / "m.safetensors")
    loaded = load_model(tmp_path / "m.safetensors")
    assert torch.equal(loaded.domain.reference, model_with_domain.domain.reference)
    assert loaded.domain.radius == model_with_domain.domain.radius and loaded.domain.info["fitted_on"] == "tubes"
    calc = RelaxedCalculator(tmp_path / "m.safetensors", device="cpu")
    assert calc.todict()["domain"]["n_reference"] == 256
    unchecked = RelaxedCalculator(tmp_path / "m.safetensors", device="cpu", check_domain=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", OutOfDomainWarning)
        unchecked.get_potential_energy(chain())  # out of domain, but the check is off
    assert unchecked.domain_distance is None and unchecked.todict()["domain"] is None
    plain = tmp_path / "plain.safetensors"
    save_model(tiny_model("float64"), plain)
    calc = RelaxedCalculator(plain, device="cpu")
    calc.get_potential_energy(chain())
    assert calc.domain is None and calc.domain_distance is None and calc.todict()["domain"] is None


def test_a_damaged_domain_record_is_a_model_file_error(model_with_domain, tmp_path):
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    path = tmp_path / "m.safetensors"
    save_model(model_with_domain, path)
    with safe_open(str(path), framework="pt") as handle:
        header = handle.metadata()
    tensors = load_file(str(path))
    del tensors["domain.scale"]
    save_file(tensors, str(path), metadata=header)
    with pytest.raises(ModelFileError, match="training-domain"):
        load_model(path)


def _held_out_and_probes(config_name: str, every: int):
    import sys
    from pathlib import Path

    from ase.io import read

    from ase_relaxed.train.config import TrainConfig

    root = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(root / "scripts"))
    from fit_model_domain import probe_structures

    config = TrainConfig.from_yaml(root / "configs" / config_name)
    frames = [a for path in [config.data.path, *config.data.extra_paths] for a in read(path, ":")]
    held_out = [a for family in config.data.test_families for a in
                [b for b in frames if b.info["family"] == family][::every]]
    return held_out, config.data.test_families, probe_structures()


@pytest.mark.parametrize("name, config_name", [("carbon-gfn1", "carbon_gfn1.yaml"),
                                               ("carbon-gfn1-v1", "carbon_gfn1_v1.yaml")])
def test_shipped_carbon_models_flag_what_they_never_saw_and_not_their_held_out_families(name, config_name):
    """Each shipped carbon model's held-out families (never trained on; every 4th frame here, all of them in
    benchmarks/results/NAME_domain.json) are in domain; a carbon chain and diamond at ~200 GPa are not; and the
    tube-only carbon-gfn1-v1 also flags diamond at ambient pressure, which the default carbon-gfn1 has learned."""
    held_out, families, probes = _held_out_and_probes(config_name, every=4)
    calc = RelaxedCalculator(name, device="cpu")
    assert calc.domain is not None
    with warnings.catch_warnings():
        warnings.simplefilter("error", OutOfDomainWarning)
        calc.calculate_batch(held_out)
    assert {a.info["family"] for a in held_out} == set(families)
    assert max(d.max() for d in calc.batch_domain_distance) < calc.domain.factor
    outside = ["carbon chain (sp, 1.28 Å)", "diamond a = 3.25 Å (~200 GPa)"]
    for probe in outside + (["diamond a = 3.567 Å"] if name == "carbon-gfn1-v1" else []):
        fresh = RelaxedCalculator(name, device="cpu")
        with pytest.warns(OutOfDomainWarning):
            fresh.get_potential_energy(probes[probe])
    if name == "carbon-gfn1":
        with warnings.catch_warnings():
            warnings.simplefilter("error", OutOfDomainWarning)
            RelaxedCalculator(name, device="cpu").get_potential_energy(probes["diamond a = 3.567 Å"])


def test_models_listing_says_what_each_shipped_model_is():
    """The registry's kind of forces and domain check agree with the model files themselves."""
    from ase_relaxed.pretrained import _registry, list_pretrained, pretrained_path

    for name, entry in _registry().items():
        model = load_model(pretrained_path(name))
        assert entry["forces"] == getattr(model.config, "forces", "conservative")  # kernel models: −∂E/∂r
        assert entry["domain_check"] == (getattr(model, "domain", None) is not None)
        line = list_pretrained()[name]
        assert ("direct forces" in line) == (entry["forces"] == "direct")
        assert ("training domain" in line) == entry["domain_check"]


def test_eval_prints_the_domain_figure_and_writes_provenance(tmp_path, capsys):
    from ase.io import read, write

    from ase_relaxed.cli import main

    out, structure = tmp_path / "e.extxyz", tmp_path / "chain.extxyz"
    write(structure, chain())
    with pytest.warns(OutOfDomainWarning):
        assert main(["eval", str(structure), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "domain max (outside)" in printed and "coverage radius" in printed
    frame = read(out)
    assert (frame.arrays["domain_distance"] > RelaxedCalculator("carbon-gfn1").domain.factor).all()
    assert frame.info["model"] == "carbon-gfn1" and len(frame.info["model_sha256"]) == 64
    assert frame.info["dtype"] == "float64" and frame.info["forces_kind"] == "conservative"


def test_whitening_sees_a_direction_the_training_data_never_vary_in():
    """Two correlated descriptor components (y ≈ x): a point with x and y each in their training range but
    y = −x is inside per-component standardisation and outside the whitened domain; a file without the
    whitening matrix (fitted before) keeps standardising."""
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(2000, 1, generator=generator, dtype=torch.float64)
    train = torch.cat([x, x + 0.01 * torch.randn(2000, 1, generator=generator, dtype=torch.float64)], dim=1)
    probe = torch.tensor([[1.0, -1.0]], dtype=torch.float64)
    whitened, standardised = fit_domain(train, n_reference=4), fit_domain(train, n_reference=4, whiten=False)
    assert whitened.whitening is not None and standardised.whitening is None
    assert float(standardised.distances(probe)) < standardised.factor < float(whitened.distances(probe))
    assert float(whitened.distances(train).max()) <= 1.0 + 1e-9
    parts = {k: v for k, v in whitened.tensors().items() if k != "domain.whitening"}
    legacy = Domain.from_file_parts(parts, whitened.metadata())
    assert legacy.whitening is None and "whitened" in whitened.metadata()["descriptor"]
