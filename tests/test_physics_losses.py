"""PITC / PISC weak-supervision losses (Takamoto, Zaverkin & Niepert, arXiv:2408.05215)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms
from conftest import make_bulk, make_molecule, tiny_model

from ase_relaxed import keys
from ase_relaxed.graph import atoms_to_graph, batch_graphs
from ase_relaxed.physics import displace, pisc_loss, pitc_loss, sample_displacements, weak_supervision_losses

DELTAS = np.geomspace(1e-3, 3e-2, 7)


def cluster_graph() -> dict[str, torch.Tensor]:
    """Two small distorted clusters (4 and 6 atoms) batched; edges are irrelevant for the analytic potentials."""
    rng = np.random.default_rng(11)
    tetra = Atoms("C4", positions=1.1 * np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], float))
    octa = Atoms("C6", positions=1.6 * np.vstack([np.eye(3), -np.eye(3)]))
    graphs = []
    for atoms in (tetra, octa):
        atoms.positions += rng.normal(scale=0.1, size=atoms.positions.shape)
        graphs.append(atoms_to_graph(atoms, cutoff=3.0, backend="ase"))
    return batch_graphs(graphs)


def morse_energy(positions: torch.Tensor, batch: torch.Tensor, num_graphs: int) -> torch.Tensor:
    """Σ over intra-structure pairs of D (1 − e^{−a(r − r0)})² − D."""
    i, j = torch.triu_indices(len(positions), len(positions), offset=1)
    same = batch[i] == batch[j]
    i, j = i[same], j[same]
    r = torch.linalg.norm(positions[j] - positions[i], dim=1)
    pair = 0.8 * (1 - torch.exp(-1.7 * (r - 1.5))) ** 2 - 0.8
    return positions.new_zeros(num_graphs).index_add(0, batch[i], pair)


def morse_fn(curl: float = 0.0):
    """(E, F) with F = −∇E, plus an optional non-conservative rotational field curl · ẑ × (r − r̄)."""

    def energy_and_forces(graph):
        pos = graph[keys.POSITIONS].detach().requires_grad_(True)
        energy = morse_energy(pos, graph[keys.BATCH], len(graph[keys.NUM_ATOMS]))
        forces = -torch.autograd.grad(energy.sum(), pos)[0]
        if curl:
            centred = pos.detach() - pos.detach().mean(0)
            forces = forces + curl * torch.linalg.cross(centred.new_tensor([0.0, 0.0, 1.0]).expand_as(centred), centred)
        return energy.detach(), forces

    return energy_and_forces


def both_losses(energy_fn, graph, delta: float, seed: int = 0, distribution: str = "uniform"):
    gen = torch.Generator().manual_seed(seed)
    d1 = sample_displacements(graph[keys.POSITIONS], delta, gen, distribution)
    d2 = sample_displacements(graph[keys.POSITIONS], delta, gen, distribution)
    return float(pitc_loss(energy_fn, graph, d1)), float(pisc_loss(energy_fn, graph, d1, d2))


def loglog_slope(values) -> float:
    return float(np.polyfit(np.log(DELTAS), np.log(values), 1)[0])


# ---------------------------------------------------------------- displacements


def test_displace_moves_positions_and_keeps_everything_else():
    graph = cluster_graph()
    before = graph[keys.POSITIONS].clone()
    moved, delta = displace(graph, 0.02, torch.Generator().manual_seed(0))
    assert torch.equal(graph[keys.POSITIONS], before)
    assert torch.allclose(moved[keys.POSITIONS] - before, delta)
    assert moved[keys.EDGE_INDEX] is graph[keys.EDGE_INDEX] and moved[keys.EDGE_SHIFT] is graph[keys.EDGE_SHIFT]


@pytest.mark.parametrize("distribution", ["uniform", "uniform_symmetric", "normal"])
def test_displacement_distributions(distribution):
    positions = torch.zeros(4000, 3, dtype=torch.float64)
    d = sample_displacements(positions, 0.02, torch.Generator().manual_seed(1), distribution)
    if distribution == "uniform":
        assert d.min() >= 0 and d.max() < 0.02 and abs(float(d.mean()) - 0.01) < 5e-4
    elif distribution == "uniform_symmetric":
        assert d.min() >= -0.02 and d.max() < 0.02 and abs(float(d.mean())) < 5e-4
    else:
        assert abs(float(d.std()) - 0.02) < 1e-3 and abs(float(d.mean())) < 5e-4
    with pytest.raises(ValueError):
        sample_displacements(positions, 0.02, distribution="cauchy")


def test_centered_displacements_move_no_structure_as_a_whole():
    """The accepted version's δ = δ₀(U[−1,1) − per-structure mean): every structure of a batch keeps its
    centroid, components stay within 2δ₀ and spread like U[−δ₀, δ₀) (std δ₀/√3)."""
    batch = torch.repeat_interleave(torch.arange(3), torch.tensor([5, 2000, 1]))
    d = sample_displacements(torch.zeros(len(batch), 3), 0.05, torch.Generator().manual_seed(2), "centered", batch)
    for k in range(3):
        assert d[batch == k].mean(0).abs().max() < 1e-15
    assert d.abs().max() < 0.1 and abs(float(d[batch == 1].std()) - 0.05 / 3**0.5) < 1e-3
    assert torch.equal(d[batch == 2], torch.zeros(1, 3))  # one atom: nothing but a translation to remove
    unbatched = sample_displacements(torch.zeros(6, 3), 0.05, torch.Generator().manual_seed(2), "centered")
    assert unbatched.mean(0).abs().max() < 1e-15


# ---------------------------------------------------------------- analytic potentials


@pytest.mark.parametrize("delta", [0.02, 0.5])
def test_linear_potential_gives_zero(delta):
    graph = cluster_graph()
    f0 = torch.randn(graph[keys.POSITIONS].shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64)

    def linear(g):  # E = 5 − Σ_i F0_i · r_i, F = F0 exactly
        work = (g[keys.POSITIONS] * f0).sum(1)
        return 5.0 - torch.zeros(2, dtype=torch.float64).index_add(0, g[keys.BATCH], work), f0

    scale = float((((linear(graph)[0]) / graph[keys.NUM_ATOMS]) ** 2).mean())
    for distribution in ("uniform", "normal"):
        pitc, pisc = both_losses(linear, graph, delta, distribution=distribution)
        assert pitc <= 1e-20 * scale and pisc <= 1e-20 * scale


def test_smooth_potential_scales_as_delta_to_the_fourth():
    graph = cluster_graph()
    values = np.array([both_losses(morse_fn(), graph, d) for d in DELTAS])
    slopes = [loglog_slope(values[:, k]) for k in range(2)]
    print(f"Morse slopes PITC {slopes[0]:.3f} PISC {slopes[1]:.3f}; at 0.02: {both_losses(morse_fn(), graph, 0.02)}")
    assert all(abs(s - 4.0) < 0.3 for s in slopes)


def test_non_conservative_forces_are_penalised():
    graph = cluster_graph()
    conservative = both_losses(morse_fn(), graph, 0.02)
    curl = both_losses(morse_fn(curl=0.2), graph, 0.02)
    print(f"δ=0.02 conservative (PITC, PISC) = {conservative}; with curl 0.2: {curl}")
    assert curl[0] > 100 * conservative[0] and curl[1] > 100 * conservative[1]
    # a force error linear in δ survives: the losses fall only like δ²
    values = np.array([both_losses(morse_fn(curl=0.2), graph, d) for d in DELTAS])
    slopes = [loglog_slope(values[:, k]) for k in range(2)]
    print(f"non-conservative slopes PITC {slopes[0]:.3f} PISC {slopes[1]:.3f}")
    assert all(abs(s - 2.0) < 0.3 for s in slopes)


def test_use_labels_reads_the_labels():
    graph = cluster_graph()
    energy_fn = morse_fn()
    d1 = sample_displacements(graph[keys.POSITIONS], 0.02, torch.Generator().manual_seed(5))
    energy, forces = energy_fn(graph)
    graph[keys.ENERGY], graph[keys.FORCES] = energy, forces
    own = float(pitc_loss(energy_fn, graph, d1))
    exact_labels = float(pitc_loss(energy_fn, graph, d1, use_labels=True))
    assert exact_labels == pytest.approx(own, rel=1e-10)
    shifted = float(pitc_loss(energy_fn, graph, d1, use_labels=True, reference=(energy + 0.1, forces)))
    graph[keys.FORCES] = forces + 0.5
    bad_forces = float(pitc_loss(energy_fn, graph, d1, use_labels=True))
    assert shifted > 10 * own and bad_forces > 10 * own
    assert float(pitc_loss(energy_fn, graph, d1)) == own  # the model's own prediction ignores the labels


# ---------------------------------------------------------------- the ase_relaxed model


def model_batch(labels: bool = False) -> dict[str, torch.Tensor]:
    graphs = [atoms_to_graph(a, cutoff=3.5) for a in (make_molecule(), make_bulk())]
    batch = batch_graphs(graphs)
    if labels:
        batch[keys.ENERGY] = torch.tensor([-60.0, -18.0], dtype=torch.float64)
        batch[keys.FORCES] = 0.1 * torch.ones_like(batch[keys.POSITIONS])
    return batch


def weak(model, batch, seed: int, distribution: str = "uniform", **kw) -> dict[str, torch.Tensor]:
    """The losses with the earlier version's δ = 0.02·U[0, 1) Å that these tests were written for."""
    return weak_supervision_losses(model, batch, delta=0.02, generator=torch.Generator().manual_seed(seed),
                                   distribution=distribution, **kw)


def test_model_losses_are_differentiable_and_gradients_are_right():
    model, batch = tiny_model().train(), model_batch()
    losses = weak(model, batch, seed=0)
    total = losses["pitc"] + losses["pisc"]
    total.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert all(torch.isfinite(g).all() for g in grads)
    norm = float(torch.sqrt(sum((g**2).sum() for g in grads)))
    assert norm > 0
    nonzero = sum(bool(g.abs().max() > 0) for g in grads)
    assert nonzero >= 0.8 * sum(1 for _ in model.parameters())  # nearly every tensor receives a gradient
    # the gradient includes the path through the forces (double backward): compare with finite differences
    param = max(model.parameters(), key=lambda p: float(p.grad.abs().max()) if p.grad is not None else 0.0)
    index = int(param.grad.abs().argmax())
    h, values = 1e-6, []
    with torch.no_grad():
        for sign in (1, -1):
            param.view(-1)[index] += sign * h
            with torch.enable_grad():
                values.append(float(sum(weak(model, batch, seed=0).values()).detach()))
            param.view(-1)[index] -= sign * h
    numeric = (values[0] - values[1]) / (2 * h)
    print(f"losses {({k: float(v.detach()) for k, v in losses.items()})}, |grad| {norm:.3e}, "
          f"d/dθ analytic {float(param.grad.view(-1)[index]):.6e} numeric {numeric:.6e}")
    assert float(param.grad.view(-1)[index]) == pytest.approx(numeric, rel=1e-4)


def test_model_losses_reproducible_and_reuse_prediction():
    model, batch = tiny_model().train(), model_batch(labels=True)
    def values(seed: int, **kw) -> dict[str, float]:
        return {k: float(v.detach()) for k, v in weak(model, batch, seed, **kw).items()}

    a, b, c = values(7), values(7), values(8)
    assert a == b and all(a[k] != c[k] for k in a)
    reused = values(7, prediction_at_r=model(batch, compute_forces=True))
    assert all(reused[k] == pytest.approx(a[k], rel=1e-12) for k in a)
    labelled = values(7, use_labels=True, terms=("pitc",))
    assert set(labelled) == {"pitc"} and labelled["pitc"] != a["pitc"]


def test_model_losses_scale_as_delta_to_the_fourth():
    model, batch = tiny_model().eval(), model_batch()

    def energy_fn(g):
        out = model(g, compute_forces=True)
        return out[keys.ENERGY], out[keys.FORCES]

    values = np.array([both_losses(energy_fn, batch, d) for d in DELTAS])
    slopes = [loglog_slope(values[:, k]) for k in range(2)]
    print(f"tiny-model slopes PITC {slopes[0]:.3f} PISC {slopes[1]:.3f}")
    assert all(abs(s - 4.0) < 0.3 for s in slopes)


def test_adam_on_weak_losses_reduces_them():
    """Adam on PITC+PISC alone, with fixed displacements (seed 0): the objective falls steadily,
    and so does the loss at displacements never trained on (seed 99)."""
    model, batch = tiny_model().train(), model_batch()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-2)

    def total(seed: int) -> torch.Tensor:
        return sum(weak(model, batch, seed).values())

    held_out_start, history = float(total(99).detach()), []
    for _ in range(12):
        loss = total(0)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history.append(float(loss.detach()))
    final, held_out = float(total(0).detach()), float(total(99).detach())
    print(f"PITC+PISC: {history[0]:.3e} -> {final:.3e} after 12 Adam steps; "
          f"held-out {held_out_start:.3e} -> {held_out:.3e}")
    assert all(b < a for a, b in zip(history, history[1:]))
    assert final < 0.6 * history[0] and held_out < 0.7 * held_out_start
