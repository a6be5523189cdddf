"""Shared fixtures: tiny random-weight models and three kinds of structure."""

import numpy as np
import pytest
import torch
from ase.build import bulk, molecule, nanotube

from ase_relaxed import ModelConfig, RelaxedCalculator, build_model

TINY = dict(species=["C", "H"], cutoff=3.5, num_layers=2, channels=8, l_max=2, radial_hidden=16, seed=3)


def tiny_model(dtype: str = "float64", **overrides):
    model = build_model(ModelConfig(**{**TINY, "dtype": dtype, **overrides}))
    # random non-trivial per-species shifts so that species matter
    model.energy_model.energy_shift.copy_(model.energy_model.energy_shift.new_tensor([-1.3, -0.4]))
    return model


@pytest.fixture(scope="session")
def models():
    return {"float64": tiny_model("float64"), "float32": tiny_model("float32")}


def make_tube():
    tube = nanotube(10, 0, length=1, bond=1.42)
    tube.pbc = [False, False, True]
    tube.center(vacuum=4.0, axis=(0, 1))
    rng = np.random.default_rng(1)
    tube.positions += rng.normal(scale=0.05, size=tube.positions.shape)
    return tube


def make_bulk():
    crystal = bulk("C", "diamond", a=3.57)  # 2 atoms, cell smaller than the cutoff
    crystal.positions += np.random.default_rng(2).normal(scale=0.05, size=crystal.positions.shape)
    crystal.cell = crystal.cell.array @ (np.eye(3) + 0.01 * np.random.default_rng(3).normal(size=(3, 3)))
    return crystal


def make_molecule():
    mol = molecule("C6H6")
    mol.positions += np.random.default_rng(4).normal(scale=0.05, size=mol.positions.shape)
    return mol


def make_sheet():
    """A rattled, sheared 2 × 2 graphene slab (pbc T, T, F) in a vacuum box: stress counts the vacuum."""
    from ase.build import graphene

    sheet = graphene(vacuum=4.0).repeat((2, 2, 1))
    sheet.pbc = [True, True, False]
    sheet.positions += np.random.default_rng(5).normal(scale=0.05, size=sheet.positions.shape)
    sheet.cell = sheet.cell.array @ (np.eye(3) + 0.01 * np.random.default_rng(6).normal(size=(3, 3)))
    return sheet


SYSTEMS = {"tube": make_tube, "bulk": make_bulk, "molecule": make_molecule}


@pytest.fixture(params=sorted(SYSTEMS))
def system(request):
    return request.param, SYSTEMS[request.param]()


NO_CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
CALC_PARAMS = [
    pytest.param(("float64", "cpu"), id="float64"),
    pytest.param(("float32", "cpu"), id="float32"),
    pytest.param(("float64", "cuda"), id="float64-cuda", marks=[pytest.mark.gpu, NO_CUDA]),
    pytest.param(("float32", "cuda"), id="float32-cuda", marks=[pytest.mark.gpu, NO_CUDA]),
]


@pytest.fixture(params=CALC_PARAMS)
def calc(request, models):
    """The physics suite runs on every (dtype, device); CUDA ones only with ``-m gpu``."""
    dtype, device = request.param
    return RelaxedCalculator(models[dtype], device=device, dtype=dtype)  # dtype=None would mean float64


def brenner_kernel_model(tube=(5, 5), frames: int = 4, cutoff: float = 3.0):
    """A small kernel model fitted to Brenner-labelled, rattled (n, m) tubes (4 cells): kernel tests' physics."""
    from ase.calculators.singlepoint import SinglePointCalculator
    from matscipy.calculators.manybody import Manybody
    from matscipy.calculators.manybody.explicit_forms import TersoffBrenner
    from matscipy.calculators.manybody.explicit_forms.tersoff_brenner import Brenner_PRB_42_9458_C_I

    from ase_relaxed.kernel import KernelConfig
    from ase_relaxed.kernel.training_set import KernelTrainingSet
    from ase_relaxed.structures import build_nanotube

    brenner = Manybody(**TersoffBrenner(Brenner_PRB_42_9458_C_I))
    training = KernelTrainingSet(KernelConfig(n_representative=30, cutoff=cutoff, n_max=4, l_max=3),
                                 energy_weight=10.0)
    for seed in range(frames):
        atoms = build_nanotube(*tube, length=4)
        atoms.positions += np.random.default_rng(seed).normal(0.0, 0.03, atoms.positions.shape)
        atoms.calc = brenner
        atoms.calc = SinglePointCalculator(atoms, energy=atoms.get_potential_energy(), forces=atoms.get_forces())
        training.add(atoms)
    return training.fit()


def run_phonons_cli(argv, capsys):
    """``ase-relaxed phonons ARGV`` through its own parser; returns what it printed."""
    import argparse

    from ase_relaxed.cli.phonons import add_parsers

    parser = argparse.ArgumentParser()
    add_parsers(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["phonons", *argv])
    assert args.func(args) == 0
    return capsys.readouterr().out
