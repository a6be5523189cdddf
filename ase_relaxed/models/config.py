"""The model configuration: everything needed to rebuild a model from a file, checked when it is built.

>>> config = ModelConfig(species=["C"], cutoff=5.0, num_layers=3, channels=32, l_max=2)
>>> ModelConfig.from_dict(config.to_dict()) == config
True
>>> ModelConfig(species="CO")
Traceback (most recent call last):
...
ase_relaxed.errors.InputError: species: expected a list of chemical symbols such as [C, H], got 'CO'
"""

from __future__ import annotations

from typing import Annotated, Literal

from ase.data import atomic_numbers
from pydantic import AfterValidator, BeforeValidator, Field, ValidationInfo

from ..configuration import Config

DTYPES = ("float32", "float64")
Dtype = Literal["float32", "float64"]
#: how a model gets its forces: the energy's gradient, or an output head of their own
ForceKind = Literal["conservative", "direct"]


def _is_element(symbol: object) -> bool:
    return isinstance(symbol, str) and atomic_numbers.get(symbol, 0) > 0  # "X" (Z = 0) is ASE's dummy atom


def _as_symbol_list(value):
    """A lone symbol such as ``"C"`` is ``["C"]``; any other string (``"CO"``) is a mistake, never split."""
    if isinstance(value, str):
        if _is_element(value):
            return [value]
        raise ValueError("expected a list of chemical symbols such as [C, H]")
    return value


def _known_symbols(species: list[str]) -> list[str]:
    unknown = [s for s in species if not _is_element(s)]
    if unknown:
        raise ValueError(f"unknown chemical symbol(s) {unknown}")
    if len(set(species)) != len(species):
        raise ValueError("each chemical symbol may appear once")
    return species


#: the chemical symbols a model knows, in the order of its embedding (at least one, each once)
Species = Annotated[list[str], BeforeValidator(_as_symbol_list), Field(min_length=1), AfterValidator(_known_symbols)]


def _one_per_species(values: list[float] | None, info: ValidationInfo) -> list[float] | None:
    species = info.data.get("species")  # None when species itself failed its checks
    if values is not None and species is not None and len(values) != len(species):
        raise ValueError(f"needs one value per species {species}")
    return values


#: a list of finite numbers, one per entry of the ``species`` field declared before it (or None)
PerSpecies = Annotated[list[float] | None, AfterValidator(_one_per_species)]


class ModelConfig(Config):
    """Hyper-parameters of the equivariant potential.

    species: chemical symbols the model knows, in the order of its embedding.
    cutoff: neighbour cutoff r_c in Å (receptive field is num_layers × r_c).
    num_layers: interaction blocks.  channels: multiplicity of every irrep.
    l_max: highest spherical-harmonic degree of edges and hidden features.
    avg_num_neighbors: message normalisation (set from the data when training).
    energy_shift / energy_scale: per-species atomic energy E_i = scale·e_i + shift (eV).
    dtype: "float64" (default, for phonons and NVE) or "float32" (faster).
    relaxed: learnable symmetry-breaking weights θ in every layer (Hofgard et al. 2024),
        θ ∈ relaxed_multiplicity × (0e+0o+1o+1e+…+l_relaxed), exactly equivariant at initialisation.
    forces: "conservative" (default): F = −∂E/∂r by autograd, exactly consistent with the energy;
        "direct": F from an equivariant per-atom 1o head on the last interaction block, no backward
        pass at inference, not the gradient of E (see :class:`~ase_relaxed.models.output.DirectForceOutput`).
    """

    species: Species = Field(default_factory=lambda: ["C"])
    cutoff: float = Field(5.0, gt=0)
    num_layers: int = Field(3, ge=1)
    channels: int = Field(32, ge=1)
    l_max: int = Field(2, ge=0)
    num_radial_basis: int = Field(8, ge=1)
    radial_hidden: int = Field(64, ge=1)
    radial_layers: int = Field(2, ge=1)
    envelope_p: int = Field(6, ge=1)
    avg_num_neighbors: float = Field(16.0, gt=0)
    energy_shift: PerSpecies = None
    energy_scale: PerSpecies = None
    dtype: Dtype = "float64"
    seed: int = Field(0, ge=0)
    relaxed: bool = False
    l_relaxed: int = Field(2, ge=0)
    relaxed_multiplicity: int = Field(1, ge=1)
    forces: ForceKind = "conservative"
