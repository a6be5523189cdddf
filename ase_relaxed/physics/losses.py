"""Physics-informed weak supervision: Taylor (PITC) and spatial (PISC) consistency losses.

Takamoto, Zaverkin & Niepert, "Physics-Informed Weakly Supervised Learning for
Interatomic Potentials", arXiv:2408.05215 (ICML 2025), Sec. 3 (the PITC and PISC
equations).  Written here from the equations, not from the authors' code.

From a configuration R draw two displacements δ₁, δ₂ ∈ R^{N×3} and set
C = R + δ₁, B = R + δ₂.  Per structure k (atoms i ∈ k, N_k atoms):

    r_k^TC = E_θ(C) − [E_θ(R) − Σ_i δ₁,i · F_θ,i(R)]                    (PITC residual)
    r_k^SC = E_θ(C) − [E_θ(B) − Σ_i (δ₁,i − δ₂,i) · F_θ,i(B)]           (PISC residual)

    L_PITC = mean_k (r_k^TC / N_k)²,    L_PISC = mean_k (r_k^SC / N_k)².

The PITC variant with labels (``use_labels=True``) puts E_ref(R), F_ref(R) on the
right-hand side.  **Normalisation**: each residual is divided by its structure's
atom count before squaring, exactly like the energy term of
:func:`ase_relaxed.train.loop.loss_terms`, so the weights of the weak terms are
comparable with ``energy_weight`` and batches of mixed sizes are balanced.  (The
paper uses a plain per-structure MSE; multiply by mean N² to compare.)

**δ⁴ scaling.**  If F = −∇E (a conservative, consistent model) Taylor's theorem gives
E(R+δ) = E(R) − Σ δ·F(R) + ½ δᵀH(R)δ + O(δ³), so both residuals are O(δ²) (the
curvature term) and the losses O(δ⁴); both vanish identically for a linear
potential.  If the forces are not the gradient of the energy, F = −∇E + G, a term
δ·G of order δ survives and the losses grow only like δ²: at small δ they mainly
penalise inconsistency between E and F, and otherwise act as a weak curvature
regulariser.  Loss weights therefore have to be chosen together with δ.

**Edges.**  Displaced graphs keep the edge list (and cell shifts) of R, which is what
the paper effectively does and avoids a neighbour search per step.  The model
restricted to a fixed edge list is a smooth (C²) function of the positions because
the radial envelope and its first two derivatives vanish at r_c (listed edges that
leave the cutoff contribute exactly zero), so the Taylor argument is exact for it.
It differs from the model with a fresh neighbour list only through pairs that enter
the cutoff, whose contribution is O((√3 δ / r_c)³) per pair: negligible against the
O(δ²) residual for δ ≪ r_c.

>>> import torch
>>> graph = {"positions": torch.zeros(2, 3, dtype=torch.float64), "batch": torch.zeros(2, dtype=torch.long),
...          "num_atoms": torch.tensor([2]), "cell": torch.zeros(1, 3, 3, dtype=torch.float64)}
>>> f0 = torch.tensor([0.3, -0.2, 0.1], dtype=torch.float64)
>>> def linear(g):  # E = −Σ F₀·r, F = F₀: Taylor-exact, both losses vanish
...     return -(g["positions"] @ f0).sum().reshape(1), f0.expand(2, 3)
>>> d1 = sample_displacements(graph["positions"], 0.02, torch.Generator().manual_seed(0))
>>> float(pitc_loss(linear, graph, d1)) < 1e-30
True
"""

from __future__ import annotations

from typing import Callable, Literal

import torch

from .. import keys

Distribution = Literal["centered", "uniform", "uniform_symmetric", "normal"]
DISTRIBUTIONS: tuple[str, ...] = ("centered", "uniform", "uniform_symmetric", "normal")
#: the δ scheme of the paper's accepted (ICML 2025) version, and its default size in Å
DEFAULT_DISTRIBUTION: Distribution = "centered"
DEFAULT_DELTA = 0.05
Graph = dict[str, torch.Tensor]
Prediction = tuple[torch.Tensor, torch.Tensor]
EnergyAndForces = Callable[[Graph], Prediction]
"""``energy_and_forces(graph) -> (E [n_graphs], F [n_atoms, 3])``."""


def sample_displacements(
    positions: torch.Tensor,
    delta: float,
    generator: torch.Generator | None = None,
    distribution: Distribution = DEFAULT_DISTRIBUTION,
    batch: torch.Tensor | None = None,
) -> torch.Tensor:
    """Random displacements, one per atom and Cartesian component, shaped like ``positions`` (float64).

    ``"centered"`` (default, the accepted version of the paper and its released code):
    δ_i = δ₀ (u_i − ū_k), u_i ~ U[−1, 1)³, ū_k the mean of u over the atoms of structure k
    (``batch``; all atoms form one structure when it is None), so no structure moves as a whole.
    ``"uniform"``: δ₀ U[0, 1) (the earlier version; not mean-zero), ``"uniform_symmetric"``:
    δ₀ U[−1, 1), ``"normal"``: N(0, δ₀²).  The draw is ``δ₀ × (unit draw)``, so a fixed
    generator seed gives displacements exactly proportional to δ₀.  Random numbers are
    drawn on the generator's device and moved to that of ``positions``.

    >>> d = sample_displacements(torch.zeros(4, 3), 0.05, torch.Generator().manual_seed(0))
    >>> bool(d.mean(0).abs().max() < 1e-15), bool(d.abs().max() <= 0.1)
    (True, True)
    """
    if distribution not in DISTRIBUTIONS:
        raise ValueError(f"unknown displacement distribution {distribution!r}; choose from {DISTRIBUTIONS}")
    if delta < 0:
        raise ValueError(f"delta must be non-negative, got {delta}")
    device = generator.device if generator is not None else positions.device
    shape, kw = tuple(positions.shape), dict(generator=generator, dtype=torch.float64, device=device)
    if distribution == "normal":
        unit = torch.randn(shape, **kw)
    else:
        unit = torch.rand(shape, **kw)
        if distribution in ("uniform_symmetric", "centered"):
            unit = 2.0 * unit - 1.0
        if distribution == "centered":
            index = torch.zeros(shape[0], dtype=torch.long, device=device) if batch is None else batch.to(device)
            count = torch.zeros(int(index.max()) + 1 if shape[0] else 0, dtype=torch.float64, device=device)
            count = count.index_add(0, index, torch.ones(shape[0], dtype=torch.float64, device=device))
            total = torch.zeros(count.shape[0], 3, dtype=torch.float64, device=device).index_add(0, index, unit)
            unit = unit - (total / count.clamp(min=1).unsqueeze(-1))[index]
    return (delta * unit).to(positions.device)


def displace(
    graph: Graph,
    delta: float,
    generator: torch.Generator | None = None,
    distribution: Distribution = DEFAULT_DISTRIBUTION,
    displacement: torch.Tensor | None = None,
) -> tuple[Graph, torch.Tensor]:
    """Return ``(graph with positions R + δ, δ)``; ``graph`` itself is not modified.

    Edges, cell shifts and every other entry are shared with ``graph`` (see the module
    docstring on why the edge list of R may be kept).  Pass ``displacement`` to use a
    given δ instead of drawing one.
    """
    positions = graph[keys.POSITIONS]
    if displacement is None:
        displacement = sample_displacements(positions, delta, generator, distribution, graph.get(keys.BATCH))
    moved = positions + displacement.to(dtype=positions.dtype, device=positions.device)
    return {**graph, keys.POSITIONS: moved}, displacement


def _per_structure(values: torch.Tensor, graph: Graph) -> torch.Tensor:
    """Σ over the atoms of each structure of a per-atom scalar."""
    num_graphs = graph[keys.NUM_ATOMS].shape[0]
    return values.new_zeros(num_graphs).index_add(0, graph[keys.BATCH], values)


def first_order_prediction(
    energy: torch.Tensor, forces: torch.Tensor, step: torch.Tensor, graph: Graph
) -> torch.Tensor:
    """E(X) − Σ_i step_i · F_i(X) per structure: the first-order Taylor estimate of E(X + step)."""
    work = (step.to(forces.dtype) * forces).sum(dim=1)
    return energy - _per_structure(work, graph)


def consistency_mse(energy: torch.Tensor, predicted: torch.Tensor, graph: Graph) -> torch.Tensor:
    """mean_k ((E_k − Ê_k) / N_k)²: the per-atom normalised MSE used by both losses."""
    n = graph[keys.NUM_ATOMS].to(energy.dtype)
    return (((energy - predicted) / n) ** 2).mean()


def _energy_at(energy_fn: EnergyAndForces, graph: Graph, displacement: torch.Tensor) -> torch.Tensor:
    moved, _ = displace(graph, 0.0, displacement=displacement)
    return energy_fn(moved)[0]


def pitc_loss(
    energy_fn: EnergyAndForces,
    graph: Graph,
    delta_1: torch.Tensor,
    *,
    prediction_at_r: Prediction | None = None,
    energy_at_c: torch.Tensor | None = None,
    use_labels: bool = False,
    reference: Prediction | None = None,
) -> torch.Tensor:
    """Physics-informed Taylor-expansion consistency (arXiv:2408.05215, PITC equation).

        L_PITC = mean_k ( (E_θ(R+δ₁)_k − [E(R)_k − Σ_{i∈k} δ₁,i · F_i(R)]) / N_k )²

    with E(R), F(R) the model's own prediction (``prediction_at_r`` if given, which
    saves a forward pass) or, for ``use_labels=True``, the labels: ``reference=(E, F)``
    or ``graph["energy"]``, ``graph["forces"]``.  ``energy_at_c`` = E_θ(R+δ₁) if it was
    already computed (shared with :func:`pisc_loss`).  Zero for a linear potential, O(δ⁴)
    for a smooth conservative one.
    """
    if use_labels:
        energy_r, forces_r = reference if reference is not None else (graph[keys.ENERGY], graph[keys.FORCES])
    else:
        energy_r, forces_r = prediction_at_r if prediction_at_r is not None else energy_fn(graph)
    if energy_at_c is None:
        energy_at_c = _energy_at(energy_fn, graph, delta_1)
    return consistency_mse(energy_at_c, first_order_prediction(energy_r, forces_r, delta_1, graph), graph)


def pisc_loss(
    energy_fn: EnergyAndForces,
    graph: Graph,
    delta_1: torch.Tensor,
    delta_2: torch.Tensor,
    *,
    energy_at_c: torch.Tensor | None = None,
    prediction_at_b: Prediction | None = None,
) -> torch.Tensor:
    """Physics-informed spatial consistency (arXiv:2408.05215, PISC equation).

        L_PISC = mean_k ( (E_θ(C)_k − [E_θ(B)_k − Σ_{i∈k} (δ₁,i − δ₂,i) · F_θ,i(B)]) / N_k )²,

    C = R + δ₁, B = R + δ₂: a Taylor step from B to C, both unlabelled.  Pass
    ``energy_at_c`` / ``prediction_at_b`` when already computed.  Zero for a linear
    potential, O(δ⁴) for a smooth conservative one, O(δ²) when F ≠ −∇E.
    """
    if energy_at_c is None:
        energy_at_c = _energy_at(energy_fn, graph, delta_1)
    if prediction_at_b is None:
        moved, _ = displace(graph, 0.0, displacement=delta_2)
        prediction_at_b = energy_fn(moved)
    energy_b, forces_b = prediction_at_b
    return consistency_mse(energy_at_c, first_order_prediction(energy_b, forces_b, delta_1 - delta_2, graph), graph)


def model_energy_and_forces(model: torch.nn.Module) -> EnergyAndForces:
    """Wrap an ase_relaxed model as ``graph -> (E, F)``.

    Forces are built with ``create_graph`` only in training mode (see
    :class:`ase_relaxed.models.output.ForceStressOutput`): call ``model.train()`` when
    the losses are to be back-propagated into the weights.
    """

    def energy_and_forces(graph: Graph) -> Prediction:
        out = model(graph, compute_forces=True)
        return out[keys.ENERGY], out[keys.FORCES]

    return energy_and_forces


def weak_supervision_losses(
    model: torch.nn.Module,
    batch: Graph,
    delta: float = DEFAULT_DELTA,
    generator: torch.Generator | None = None,
    distribution: Distribution = DEFAULT_DISTRIBUTION,
    use_labels: bool = False,
    prediction_at_r: dict[str, torch.Tensor] | Prediction | None = None,
    terms: tuple[str, ...] = ("pitc", "pisc"),
) -> dict[str, torch.Tensor]:
    """PITC and PISC of one batch for an ase_relaxed model: ``{"pitc": ..., "pisc": ...}``.

    Draws δ₁ (and δ₂ if PISC is wanted) from ``distribution`` scaled by ``delta`` (Å).
    ``prediction_at_r`` is the model output at R that the supervised loss already has
    (the dict returned by ``model(batch, compute_forces=True)``, or ``(E, F)``): it
    avoids a second forward pass at R.  Cost beyond that pass: one energy-only forward
    at C, plus (PISC) one forward with forces at B; the caller's single ``backward()``
    then runs through all of them (double backward for the force terms).  The model
    must be in training mode for gradients to reach its parameters through the forces.

    >>> # pred = model(batch, compute_forces=True); weak = weak_supervision_losses(model, batch, prediction_at_r=pred)
    >>> # loss = supervised + w_tc * weak["pitc"] + w_sc * weak["pisc"]
    """
    unknown = set(terms) - {"pitc", "pisc"}
    if unknown or not terms:
        raise ValueError(f"terms must be a non-empty subset of ('pitc', 'pisc'), got {terms}")
    energy_fn = model_energy_and_forces(model)
    if isinstance(prediction_at_r, dict):
        prediction_at_r = (prediction_at_r[keys.ENERGY], prediction_at_r[keys.FORCES])
    graph_c, delta_1 = displace(batch, delta, generator, distribution)
    energy_c = model(graph_c, compute_forces=False)[keys.ENERGY]  # forces at C are never needed
    losses: dict[str, torch.Tensor] = {}
    if "pitc" in terms:
        if not use_labels and prediction_at_r is None:
            prediction_at_r = energy_fn(batch)
        losses["pitc"] = pitc_loss(energy_fn, batch, delta_1, prediction_at_r=prediction_at_r,
                                   energy_at_c=energy_c, use_labels=use_labels)
    if "pisc" in terms:
        graph_b, delta_2 = displace(batch, delta, generator, distribution)
        losses["pisc"] = pisc_loss(energy_fn, batch, delta_1, delta_2, energy_at_c=energy_c,
                                   prediction_at_b=energy_fn(graph_b))
    return losses
