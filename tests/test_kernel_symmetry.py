"""Symmetry-adapted kernel evaluation (fundamental domain + screw/cyclic images) equals the full one."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ase_relaxed import RelaxedCalculator
from ase_relaxed.graph import atoms_to_graph
from ase_relaxed.kernel.model import KernelConfig, build_kernel_model
from ase_relaxed.kernel.symmetry_adapted import SymmetryAdaptedKernel
from ase_relaxed.symmetry import line_group


@pytest.mark.parametrize("chirality", [(8, 0), (5, 5), (6, 3)], ids=["zigzag", "armchair", "chiral"])
def test_domain_evaluation_equals_full_tube(chirality):
    """E_dom = E_tube / N_domains and F on the domain atoms, against RelaxedCalculator on the whole tube."""
    torch.manual_seed(0)
    group = line_group(*chirality)
    group = group.with_domain(group.domain + np.random.default_rng(0).normal(0.0, 0.05, (2, 3)))
    atoms = group.to_atoms(1 if group.period > 11 else 3)
    model = build_kernel_model(KernelConfig(n_representative=8, energy_shift=[-7.0]))
    kernel = model.energy_model
    pool = kernel.descriptor(atoms_to_graph(atoms, kernel.config.cutoff)).detach()
    kernel.representatives.copy_(pool[torch.randperm(len(pool))[:8]])
    kernel.weights.copy_(torch.randn(8, dtype=torch.float64))
    atoms.calc = RelaxedCalculator(model, device="cpu")
    forces = atoms.get_forces()
    assert np.abs(forces).max() > 1e-3  # a test of something: the perturbed domain feels forces
    out = SymmetryAdaptedKernel.from_group(model, group).evaluate(group.domain)
    n_domains = len(atoms) // len(group.domain)
    assert out["energy"] == pytest.approx(atoms.get_potential_energy() / n_domains, abs=1e-10)
    assert np.abs(forces[: len(group.domain)] - out["forces"]).max() < 1e-8
