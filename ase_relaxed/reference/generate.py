"""Reference data from real methods that install from PyPI.

Methods: ``gfn1-xtb`` / ``gfn2-xtb`` (tblite; periodic cells are treated as 3D,
Γ point only, so tubes need ≥ ~17 Å along the axis), ``brenner`` (matscipy's
Tersoff–Brenner form of Brenner's first carbon parameter set, fast).

Structure k of a data set is built from its own generator ``default_rng([seed, k])``:
a family (a nanotube chirality or graphene), then a variant — ``rattled``
(Gaussian displacements), ``strained`` (random symmetric strain of the periodic
axes), or ``thermal`` (a short Langevin run at 300–2000 K propagated with the
cheap Brenner potential, the last frame labelled with the reference method).
Frames are appended to the extxyz file one by one, so a killed run keeps what
it computed and ``resume`` continues at frame k; the file is the same as an
uninterrupted run's.

>>> config = DataConfig(method="brenner", chiralities=["5,0"], n_structures=2, min_length=8.0)
>>> # generate_dataset("data.extxyz", config)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from ase import Atoms, units
from ase.calculators.singlepoint import SinglePointCalculator
from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from ..configuration import Config
from ..errors import InputError
from ..graph import is_3d_periodic
from ..structures import build_nanotube
from .frames import generator_record, write_frames

METHODS = ("gfn1-xtb", "gfn2-xtb", "brenner")
VARIANTS = ("rattled", "strained", "thermal")


def _a_pair(bounds):
    if isinstance(bounds, (list, tuple)) and len(bounds) != 2:
        raise ValueError("expected [low, high]")
    return bounds


def _ordered_range(bounds: tuple[float, float]) -> tuple[float, float]:
    if bounds[0] > bounds[1]:
        raise ValueError("needs low <= high")
    return bounds


#: (low, high) in K, both >= 0 (shared with the broken-symmetry data sets)
TemperatureRange = Annotated[tuple[Annotated[float, Field(ge=0)], Annotated[float, Field(ge=0)]],
                             BeforeValidator(_a_pair), AfterValidator(_ordered_range)]


def _n_m(chirality: str) -> str:
    parts = chirality.split(",")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts) or not int(parts[0]) + int(parts[1]):
        raise ValueError("should look like '10,0' (n, m >= 0, not both 0)")
    return chirality


#: a nanotube chirality "n,m"
Chirality = Annotated[str, AfterValidator(_n_m)]


def _known(method: str) -> str:
    if method not in METHODS:
        raise ValueError(f"unknown reference method; known: {list(METHODS)}")
    return method


#: the name of a labelling method of :func:`reference_calculator`
ReferenceMethod = Annotated[str, AfterValidator(_known)]


def reference_calculator(method: str, electronic_temperature: float = 300.0):
    """Return ``(calculator, metadata)`` for a reference method name."""
    if method == "brenner":
        import matscipy
        from matscipy.calculators.manybody import Manybody
        from matscipy.calculators.manybody.explicit_forms import TersoffBrenner
        from matscipy.calculators.manybody.explicit_forms.tersoff_brenner import Brenner_PRB_42_9458_C_I

        meta = {"method": "brenner", "package": f"matscipy {matscipy.__version__}",
                "parameters": "Brenner_PRB_42_9458_C_I (Tersoff-form part only)"}
        return Manybody(**TersoffBrenner(Brenner_PRB_42_9458_C_I)), meta
    if method in ("gfn1-xtb", "gfn2-xtb"):
        from importlib.metadata import version

        try:
            from tblite.ase import TBLite
        except ImportError:
            raise InputError(f"--method {method} needs tblite, which is not installed: "
                             "pip install 'ase_relaxed[peers]' (or pip install tblite)") from None

        name = "GFN1-xTB" if method == "gfn1-xtb" else "GFN2-xTB"
        calc = TBLite(method=name, electronic_temperature=electronic_temperature, verbosity=0)
        meta = {"method": method, "package": f"tblite {version('tblite')}", "hamiltonian": name,
                "electronic_temperature_K": electronic_temperature, "k_points": "Gamma only"}
        return calc, meta
    raise InputError(f"unknown reference method {method!r}; known: {list(METHODS)}")


class FrameSettings(Config):
    """What every labelled-frame generator shares: the method, the seed and how frames vary (Å, K)."""

    method: ReferenceMethod = "brenner"
    seed: int = Field(0, ge=0)
    variants: list[Literal[VARIANTS]] = Field(default_factory=lambda: list(VARIANTS), min_length=1)
    rattle_sigma: float = Field(0.05, ge=0)
    max_strain: float = Field(0.03, ge=0, lt=1)
    temperature_range: TemperatureRange = (300.0, 2000.0)
    thermal_steps: int = Field(20, ge=0)
    vacuum: float = Field(6.0, ge=0)
    min_length: float = Field(17.0, gt=0)


class DataConfig(FrameSettings):
    """What to generate.  ``min_length`` (Å) is the shortest periodic length of a tube cell."""

    chiralities: list[Chirality] = Field(default_factory=lambda: ["10,0", "6,6", "8,4"])
    include_graphene: bool = True
    n_structures: int = Field(20, ge=1)

    @model_validator(mode="after")
    def _something_to_generate(self) -> "DataConfig":
        if not self.chiralities and not self.include_graphene:
            raise ValueError("nothing to generate: no chiralities and no graphene")
        return self

    def families(self) -> list[str]:
        return [f"cnt({c})" for c in self.chiralities] + (["graphene"] if self.include_graphene else [])


def base_structure(family: str, config: DataConfig) -> Atoms:
    """The ideal structure of a family: a tube long enough for ``min_length``, or a graphene sheet."""
    if family == "graphene":
        from ase.build import graphene

        sheet = graphene(a=2.46, vacuum=config.vacuum)
        reps = max(1, int(np.ceil(config.min_length / 2.46)))
        return sheet.repeat((reps, reps, 1))
    n, m = (int(x) for x in family[4:-1].split(","))
    one = build_nanotube(n, m, length=1, vacuum=config.vacuum)
    cells = max(1, int(np.ceil(config.min_length / one.cell[2, 2])))
    return build_nanotube(n, m, length=cells, vacuum=config.vacuum)


def make_structure(k: int, config: DataConfig, md_calc) -> Atoms:
    """Structure number ``k``: deterministic for (seed, k).

    Thermal snapshots are propagated with ``md_calc`` (Brenner: cheap and
    carbon-like) and only the final frame is labelled with the reference method.
    """
    rng = np.random.default_rng([config.seed, k])
    families = config.families()
    family = families[k % len(families)]
    variant = config.variants[int(rng.integers(len(config.variants)))]
    atoms = base_structure(family, config)
    info = {"family": family, "variant": variant, "seed": config.seed, "index": k}
    return apply_variant(atoms, variant, rng, config, md_calc, info)


def apply_variant(atoms: Atoms, variant: str, rng: np.random.Generator, config, md_calc, info: dict) -> Atoms:
    """Perturb ``atoms`` in place as ``variant`` says and attach ``info``; ``config`` gives the amplitudes.

    ``strained``/``thermal``: a random symmetric strain (≤ ``max_strain``) of the periodic axes (all axes,
    about the centroid, for a molecule); every variant: Gaussian displacements (``rattle_sigma``);
    ``thermal``: then ``thermal_steps`` fs of Langevin at a random temperature with ``md_calc``.

    >>> from ase.build import bulk
    >>> atoms = bulk("C", "diamond", a=3.567, cubic=True)
    >>> config = DataConfig(rattle_sigma=0.0, max_strain=0.01)
    >>> info = {}
    >>> out = apply_variant(atoms, "strained", np.random.default_rng(0), config, None, info)
    >>> 0.97 < out.get_volume() / 3.567**3 < 1.03 and out.info["variant"] == "strained"
    True
    """
    info = {**info, "variant": variant}
    if variant in ("strained", "thermal"):
        strain = rng.uniform(-config.max_strain, config.max_strain, size=(3, 3))
        if atoms.pbc.any():
            strain = 0.5 * (strain + strain.T) * np.outer(atoms.pbc, atoms.pbc)
            atoms.set_cell(atoms.cell.array @ (np.eye(3) + strain), scale_atoms=True)
        else:
            centre = atoms.positions.mean(axis=0)
            atoms.positions = centre + (atoms.positions - centre) @ (np.eye(3) + 0.5 * (strain + strain.T))
    atoms.positions += rng.normal(scale=config.rattle_sigma, size=atoms.positions.shape)
    if variant == "thermal":
        from ase.md.langevin import Langevin
        from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

        temperature = float(rng.uniform(*config.temperature_range))
        info["temperature"] = temperature
        atoms.calc = md_calc
        MaxwellBoltzmannDistribution(atoms, temperature_K=temperature, rng=rng)
        dyn = Langevin(atoms, 1.0 * units.fs, temperature_K=temperature, friction=0.02, rng=rng, fixcm=False)
        dyn.run(config.thermal_steps)
        atoms.calc = None
        atoms.set_velocities(np.zeros_like(atoms.positions))
    atoms.info.update(info)
    return atoms


def label(atoms: Atoms, calc, meta: dict) -> Atoms:
    """Attach the reference energy, forces and (3D-periodic cells only) stress."""
    atoms.calc = calc
    results = {"energy": atoms.get_potential_energy(), "forces": atoms.get_forces()}
    if is_3d_periodic(atoms):
        results["stress"] = atoms.get_stress()
    atoms.calc = SinglePointCalculator(atoms, **results)
    atoms.info["method"] = meta["method"]
    atoms.info["method_settings"] = json.dumps(meta)
    return atoms


def generate_dataset(path: str | Path, config: DataConfig, resume: bool = False, progress: bool = True) -> Path:
    """Write ``config.n_structures`` labelled frames to ``path`` (extxyz), resumably (:func:`.frames.write_frames`)."""
    calc, meta = reference_calculator(config.method)
    md_calc = calc if config.method == "brenner" else reference_calculator("brenner")[0]
    meta["thermal_md"] = "Langevin with matscipy Brenner, then labelled with the reference method"
    meta["generator"] = generator_record(config)
    return write_frames(path, config.n_structures, lambda k: label(make_structure(k, config, md_calc), calc, meta),
                        meta["generator"], resume=resume, progress=progress, desc=f"data ({config.method})")
