"""Kernel energy model: SOAP + polynomial kernel, the force field of Sharma, Kumar, Suryanarayana.

Sharma, Kumar, Suryanarayana, "Cyclic and helical symmetry-informed machine learned force fields"
(arXiv:2408.07554; SPARC's MLFF): atomic energies are a linear model in kernel features

    E_i = Σ_w α_w k(p_i, p_w) δ(z_i, z_w) + μ_{z_i},      k(p, q) = (p · q)^ζ,  ζ = 4,
    E   = Σ_i E_i,

where p_i is the normalised SOAP power spectrum of atom i (Bartók, Kondor, Csányi, PRB 87,
184115 (2013)): by default the standard one from featomic (:mod:`ase_relaxed.kernel.featomic_soap`,
``descriptor="featomic"``), or the package's own torch SOAP (:mod:`ase_relaxed.kernel.soap`,
``descriptor="torch"``, a local-basis approximation; model files written before this option existed
load with it), p_w are W representative environments chosen
from the training set, α_w the Bayesian-linear-regression weights and μ a per-species shift.
Forces and stress follow by autograd through :class:`~ase_relaxed.models.output.ForceStressOutput`,
exactly as for the graph networks, so the model plugs into :class:`~ase_relaxed.RelaxedCalculator`.

The posterior of the weights (covariance S, noise precision β, prior precision α) is stored
with the model, so :func:`ase_relaxed.kernel.fit.predict_with_uncertainty` works on a loaded model.

>>> model = build_kernel_model(KernelConfig(n_representative=4))
>>> type(model).__name__, model.dtype
('ForceStressOutput', torch.float64)
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import torch
from ase import Atoms
from ase.data import atomic_numbers
from pydantic import Field, model_validator

from .. import keys
from ..configuration import Config
from ..models.config import Dtype, PerSpecies, Species
from ..models.output import ForceStressOutput
from .featomic_soap import FeatomicSOAP
from .soap import BOHR, SOAPDescriptor

MODEL_KIND = "kernel-soap"


class KernelConfig(Config):
    """Hyper-parameters of the SOAP/polynomial-kernel force field (defaults as in SPARC).

    species: chemical symbols (one SOAP density channel each).  cutoff: r_c in Å (10 Bohr).
    n_max, l_max: radial functions and highest angular degree (8 × 6).  sigma: Gaussian width (Å).
    descriptor: "featomic" (standard SOAP, GTO basis, the default) or "torch" (the local-basis torch SOAP).
    smoothing: width (Å) of featomic's shifted-cosine cutoff (the torch SOAP's cosine spans all of r_c).
    center_atom_weight, radial_scale r₀ (Å, None: off), radial_exponent m: featomic's density weights, the centre's
    own Gaussian and u(r) = 1/(1 + (r/r₀)^m) on neighbours (Willatt, Musil, Ceriotti, PCCP 20, 29661 (2018)).
    The defaults (0, 1.5 Å, 4) bring the Brenner held-out fit of tests/test_kernel.py from 49 to <1 meV/atom;
    featomic files written before these fields existed load with (1, None), featomic's plain density.
    zeta: polynomial-kernel exponent ζ.  n_representative: number W of representative environments.
    energy_shift: per-species atomic energy μ (eV).  dtype: "float64" or "float32".
    model_kind: always "kernel-soap"; it tells a model file which class to rebuild.
    """

    species: Species = Field(default_factory=lambda: ["C"])
    cutoff: float = Field(10 * BOHR, gt=0)
    n_max: int = Field(8, ge=1)
    l_max: int = Field(6, ge=0)
    sigma: float = Field(BOHR, gt=0)
    zeta: int = Field(4, ge=1)
    n_representative: int = Field(200, ge=1)
    energy_shift: PerSpecies = None
    dtype: Dtype = "float64"
    seed: int = Field(0, ge=0)
    descriptor: Literal["featomic", "torch"] = "featomic"
    smoothing: float = Field(0.5, gt=0)
    center_atom_weight: float = Field(0.0, ge=0)
    radial_scale: float | None = Field(1.5, gt=0)
    radial_exponent: int = Field(4, ge=1)
    model_kind: Literal[MODEL_KIND] = MODEL_KIND

    @model_validator(mode="before")
    @classmethod
    def _legacy_descriptor(cls, values: Any) -> Any:
        """A model file (it carries ``model_kind``) without ``descriptor`` predates featomic: torch SOAP; one
        without ``center_atom_weight`` predates the density weights: featomic's unweighted density."""
        if isinstance(values, dict) and "model_kind" in values and "descriptor" not in values:
            values = {**values, "descriptor": "torch"}
        if isinstance(values, dict) and "model_kind" in values and "center_atom_weight" not in values:
            values = {**values, "center_atom_weight": 1.0, "radial_scale": None}  # featomic's plain density
        return values


def build_descriptor(config: KernelConfig) -> torch.nn.Module:
    """The SOAP module named by ``config.descriptor``: p̂_i of every atom, shape (n_atoms, dimension)."""
    if config.descriptor == "featomic":
        return FeatomicSOAP(config.species, config.cutoff, config.n_max, config.l_max, config.sigma, config.smoothing,
                            config.center_atom_weight, config.radial_scale, config.radial_exponent)
    return SOAPDescriptor(config.species, config.cutoff, config.n_max, config.l_max, config.sigma)


class KernelEnergyModel(torch.nn.Module):
    """Per-atom and total energies of a (batched) graph: same contract as ``EnergyModel``.

    State: ``weights`` α_w (an ``nn.Parameter`` with ``requires_grad=False``, so that
    ``ForceStressOutput.dtype`` and the calculator's device check, which look at
    ``parameters()``, work), and buffers ``representatives`` p_w (W, D),
    ``representative_species`` (W,), ``energy_shift`` μ (n_species,), ``posterior_covariance``
    S (W, W), ``noise_precision`` β (per-atom energy rows), ``force_noise_precision`` β_F (force rows),
    ``prior_precision`` α and ``posterior_scale`` κ (scalars; σ uses κ² S, :attr:`predictive_covariance`).
    """

    def __init__(self, config: KernelConfig) -> None:
        super().__init__()
        self.config = config
        self.descriptor = build_descriptor(config)
        lookup = torch.full((119,), -1, dtype=torch.long)
        for index, symbol in enumerate(config.species):
            lookup[atomic_numbers[symbol]] = index
        self.register_buffer("species_lookup", lookup)
        n_rep, dim = config.n_representative, self.descriptor.dimension
        self.weights = torch.nn.Parameter(torch.zeros(n_rep, dtype=torch.float64), requires_grad=False)
        self.register_buffer("representatives", torch.zeros(n_rep, dim, dtype=torch.float64))
        self.register_buffer("representative_species", torch.zeros(n_rep, dtype=torch.long))
        shift = config.energy_shift or [0.0] * len(config.species)
        self.register_buffer("energy_shift", torch.tensor(shift, dtype=torch.float64))
        self.register_buffer("posterior_covariance", torch.zeros(n_rep, n_rep, dtype=torch.float64))
        self.register_buffer("noise_precision", torch.tensor(1.0, dtype=torch.float64))
        self.register_buffer("force_noise_precision", torch.tensor(1.0, dtype=torch.float64))
        self.register_buffer("prior_precision", torch.tensor(1.0, dtype=torch.float64))
        self.register_buffer("posterior_scale", torch.tensor(1.0, dtype=torch.float64))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        # files written before β_F was stored: the fit used one noise precision for all rows
        if prefix + "noise_precision" in state_dict and prefix + "force_noise_precision" not in state_dict:
            state_dict[prefix + "force_noise_precision"] = state_dict[prefix + "noise_precision"].clone()
        if prefix + "posterior_covariance" in state_dict and prefix + "posterior_scale" not in state_dict:
            state_dict[prefix + "posterior_scale"] = torch.tensor(1.0, dtype=torch.float64)  # uncalibrated
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forces_std(self, atoms: Atoms, include_noise: bool = True) -> np.ndarray:
        """Posterior force σ_ic = √(φ_icᵀ S φ_ic + 1/β_F) (n, 3), eV/Å (arXiv:2408.07554's Bayesian force error).

        The hook a calculator looks for to fill ``results["forces_std"]``
        (:func:`ase_relaxed.kernel.uncertainty.force_std`).
        """
        from .uncertainty import force_std

        return force_std(self, atoms, include_noise)

    @property
    def predictive_covariance(self) -> torch.Tensor:
        """κ² S: the weight covariance every σ of this model uses.

        κ (``posterior_scale``, 1 after a fit) widens a posterior that BLR makes too narrow by treating the 3N
        force rows of a frame as independent. It is calibrated on out-of-sample errors, for example those of an
        on-the-fly run at its reference calls (``scripts/ship_kernel_model.py``).
        """
        return self.posterior_covariance * self.posterior_scale**2

    def species_index(self, atomic_numbers_: torch.Tensor) -> torch.Tensor:
        return self.species_lookup[atomic_numbers_]

    def kernel_matrix(self, descriptors: torch.Tensor, species: torch.Tensor) -> torch.Tensor:
        """K_iw = (p_i · p_w)^ζ δ(z_i, z_w), shape (n_atoms, W)."""
        reps = self.representatives.to(descriptors.dtype)
        same = species[:, None] == self.representative_species[None, :]
        return torch.where(same, (descriptors @ reps.T) ** self.config.zeta, torch.zeros((), dtype=reps.dtype))

    def features(self, data: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Kernel matrix K (n_atoms, W) and species index (n_atoms,) of a graph dict."""
        species = self.species_index(data[keys.ATOMIC_NUMBERS])
        return self.kernel_matrix(self.descriptor(data), species), species

    def forward(self, data: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        dtype = data[keys.POSITIONS].dtype
        kernel, species = self.features(data)
        atomic = kernel @ self.weights.to(dtype) + self.energy_shift[species].to(dtype)
        num_graphs = data[keys.CELL].shape[0]
        energy = torch.zeros(num_graphs, dtype=dtype, device=atomic.device).index_add(0, data[keys.BATCH], atomic)
        return {**data, keys.ATOMIC_ENERGY: atomic, keys.ENERGY: energy}


def build_kernel_model(config: KernelConfig) -> ForceStressOutput:
    """An (unfitted, all-zero-weight) kernel model wrapped for forces and stress, in eval mode."""
    model = ForceStressOutput(KernelEnergyModel(config))
    return model.to(getattr(torch, config.dtype)).eval()
