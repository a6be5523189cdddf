"""The model configuration: everything needed to rebuild a model from a file.

>>> config = ModelConfig(species=["C"], cutoff=5.0, num_layers=3, channels=32, l_max=2)
>>> ModelConfig.from_dict(config.to_dict()) == config
True
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from ase.data import atomic_numbers

from ..errors import InputError

DTYPES = ("float32", "float64")


def dataclass_from_dict(cls, values: dict | None, where: str):
    """Build dataclass ``cls`` from a mapping, naming unknown keys and the section they are in."""
    values = values or {}
    if not isinstance(values, dict):
        raise InputError(f"config section '{where}' must be a mapping, got {type(values).__name__}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise InputError(f"unknown config key(s) {unknown} in section '{where}'; known keys: {sorted(known)}")
    return cls(**values)


@dataclass
class ModelConfig:
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
    """

    species: list[str] = field(default_factory=lambda: ["C"])
    cutoff: float = 5.0
    num_layers: int = 3
    channels: int = 32
    l_max: int = 2
    num_radial_basis: int = 8
    radial_hidden: int = 64
    radial_layers: int = 2
    envelope_p: int = 6
    avg_num_neighbors: float = 16.0
    energy_shift: list[float] | None = None
    energy_scale: list[float] | None = None
    dtype: str = "float64"
    seed: int = 0
    relaxed: bool = False
    l_relaxed: int = 2
    relaxed_multiplicity: int = 1

    def __post_init__(self) -> None:
        self.species = list(self.species)
        unknown = [s for s in self.species if s not in atomic_numbers]
        if unknown or not self.species:
            raise InputError(f"species must be chemical symbols, got {self.species}")
        if self.dtype not in DTYPES:
            raise InputError(f"dtype must be one of {DTYPES}, got {self.dtype!r}")
        if self.l_relaxed < 0 or self.relaxed_multiplicity < 1:
            raise InputError("l_relaxed must be >= 0 and relaxed_multiplicity >= 1")
        if self.cutoff <= 0 or self.num_layers < 1 or self.channels < 1 or self.l_max < 0:
            raise InputError("cutoff, num_layers and channels must be positive and l_max >= 0")
        for name in ("energy_shift", "energy_scale"):
            value = getattr(self, name)
            if value is not None and len(value) != len(self.species):
                raise InputError(f"{name} needs one value per species ({len(self.species)})")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "ModelConfig":
        return dataclass_from_dict(cls, values, "model")
