"""More carbon for the reference data (issue 15): diamond, graphite, fullerenes, defects, amorphous carbon.

Each *family* is a named ideal structure (its ``info["family"]`` label), built once per config:

============================  ====================================================================
``diamond``                   bulk diamond, a fcc-primitive or conventional supercell (``diamond_cell``)
``diamond-vacancy``           the same with one atom removed, relaxed with Brenner
``diamond(100)-slab``         an unreconstructed (100) slab, ``slab_layers`` atomic layers, vacuum both sides
``diamond(111)-slab``         the same for (111)
``graphite-AB`` / ``-AA``     two layers per cell, ``graphite_repeat``² in-plane
``fullerene-C60``, ``-C20``   molecules in vacuum (no periodicity)
``cnt(N,M)-stone-wales``      one bond of the tube turned by 90° (a 5-7-7-5 defect), relaxed with Brenner
``cnt(N,M)-vacancy``          one atom removed, relaxed with Brenner
``graphene-stone-wales``      the same defects in the graphene sheet of :mod:`.generate`
``graphene-vacancy``
``amorphous``                 a melt of random atoms quenched with Brenner (:mod:`.amorphous`), new for each frame
============================  ====================================================================

Frame k (deterministic for (seed, k), as in :mod:`.generate`) takes family ``k mod len(families)`` and
one of that family's variants: ``rattled``, ``strained``, ``thermal`` (:func:`.generate.apply_variant`),
for graphite also ``interlayer`` (the layer distance drawn from ``interlayer_range``), for amorphous
carbon only ``quenched``. Tubes and graphene sheets are those of :mod:`.generate` (same vacuum, length).

Sizes (tblite is Γ-only, so a cell is also its k-point mesh): diamond 3×3×3 conventional (216 atoms; at the
same a GFN1 puts the 64-atom cell 36 meV/atom and the 128-atom fcc 4×4×4 23 meV/atom above it), slabs 5×5
surface cells × 6 layers (150 atoms), graphite 6×6 × 2 layers (144 atoms; 6 is a multiple of 3, so graphene's
K point folds onto Γ), amorphous 128 atoms. Lattice constants default to GFN1-xTB's own
(``scripts/gfn1_reference_properties.py``).

>>> config = FamiliesConfig(families=["fullerene-C20"], variants=["rattled"], n_structures=1)
>>> atoms = make_family_structure(0, config, md_calc=None)
>>> atoms.info["family"], len(atoms), bool(atoms.pbc.any())
('fullerene-C20', 20, False)
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
from ase import Atoms
from pydantic import Field, field_validator

from .amorphous import MeltQuench, melt_quench
from .frames import generator_record, write_frames
from .generate import (
    DataConfig,
    FrameSettings,
    _n_m,
    apply_variant,
    base_structure,
    label,
    reference_calculator,
)

FIXED_FAMILIES = ("diamond", "diamond-vacancy", "diamond(100)-slab", "diamond(111)-slab", "graphite-AB",
                  "graphite-AA", "fullerene-C60", "fullerene-C20", "graphene-stone-wales", "graphene-vacancy",
                  "amorphous")
TUBE_DEFECTS = ("stone-wales", "vacancy")


def _interval(bounds: tuple[float, float]) -> tuple[float, float]:
    if not 0 < bounds[0] <= bounds[1]:
        raise ValueError("needs 0 < low <= high")
    return bounds


class FamiliesConfig(FrameSettings):
    """What to generate.  Lengths in Å, temperatures in K, densities in g/cm³."""

    families: list[str] = Field(default_factory=lambda: default_families())
    n_structures: int = Field(13, ge=1)
    diamond_a: float = Field(3.545, gt=0)  # GFN1-xTB's own (3×3×3 cell, benchmarks/results/gfn1_properties.json)
    diamond_cell: Literal["primitive", "conventional"] = "conventional"
    diamond_repeat: int = Field(3, ge=1)
    slab_repeat: int = Field(5, ge=1)
    slab_layers: int = Field(6, ge=2)
    graphite_a: float = Field(2.458, gt=0)  # GFN1-xTB graphene, 6×6 sheet
    graphite_distance: float = Field(3.19, gt=0)  # GFN1-xTB AB, 6×6 × 2 layers
    graphite_repeat: int = Field(6, ge=1)
    interlayer_range: tuple[float, float] = (2.9, 4.5)
    fullerene_box: float = Field(20.0, gt=0)
    amorphous: MeltQuench = Field(default_factory=MeltQuench)
    relax_steps: int = Field(300, ge=0)

    @field_validator("families")
    @classmethod
    def _known_families(cls, families: list[str]) -> list[str]:
        if not families:
            raise ValueError("needs at least one family")
        for family in families:
            host, defect = split_defect(family)
            if family not in FIXED_FAMILIES and not (host.startswith("cnt(") and host.endswith(")") and defect):
                raise ValueError(f"unknown family {family!r}; known: {list(FIXED_FAMILIES)} and "
                                 f"cnt(N,M)-{{{','.join(TUBE_DEFECTS)}}}")
            if host.startswith("cnt("):
                _n_m(host[4:-1])
        return families

    _interlayer = field_validator("interlayer_range")(lambda cls, v: _interval(v))

    def tubes(self) -> DataConfig:
        """The settings of :mod:`.generate` that shape its tubes and sheets."""
        return DataConfig(vacuum=self.vacuum, min_length=self.min_length)


def default_families() -> list[str]:
    """Every family, with the defects on the (10,0) tube.

    >>> len(default_families())
    13
    """
    fixed = list(FIXED_FAMILIES)
    return fixed[:8] + [f"cnt(10,0)-{d}" for d in TUBE_DEFECTS] + fixed[8:]


def split_defect(family: str) -> tuple[str, str]:
    """``("cnt(10,0)", "stone-wales")`` for ``"cnt(10,0)-stone-wales"``; ``(family, "")`` without a defect.

    >>> split_defect("graphene-vacancy"), split_defect("diamond")
    (('graphene', 'vacancy'), ('diamond', ''))
    """
    for defect in TUBE_DEFECTS:
        if family.endswith("-" + defect):
            return family[: -len(defect) - 1], defect
    return family, ""


def family_variants(family: str, config: FamiliesConfig) -> list[str]:
    """The variants a family is drawn from."""
    if family == "amorphous":
        return ["quenched"]
    return list(config.variants) + (["interlayer"] if family.startswith("graphite") else [])


# --- ideal structures ------------------------------------------------------------------------------------


def diamond_bulk(config: FamiliesConfig) -> Atoms:
    from ase.build import bulk

    cubic = config.diamond_cell == "conventional"
    return bulk("C", "diamond", a=config.diamond_a, cubic=cubic).repeat(config.diamond_repeat)


def diamond_slab(face: str, config: FamiliesConfig) -> Atoms:
    """Unreconstructed slab, ``slab_repeat``² surface cells, ``slab_layers`` layers, ``vacuum`` on each side.

    (111): the bulk-terminated slab with one dangling bond per surface atom (the singly bonded outer
    layers that ASE's ``diamond111`` ends with are dropped).
    """
    from ase.build import diamond100, diamond111
    from ase.neighborlist import neighbor_list

    layers = config.slab_layers + (2 if face == "111" else 0)
    build = diamond100 if face == "100" else diamond111
    slab = build("C", size=(config.slab_repeat, config.slab_repeat, layers), a=config.diamond_a,
                 vacuum=config.vacuum, orthogonal=face == "100")
    if face == "111":
        del slab[np.bincount(neighbor_list("i", slab, 1.8), minlength=len(slab)) < 2]
        slab.center(vacuum=config.vacuum, axis=2)
    slab.pbc = [True, True, False]
    return slab


def graphite(config: FamiliesConfig, stacking: str, distance: float | None = None) -> Atoms:
    """Two layers per cell, AB (Bernal: the second shifted by one bond) or AA, 3D periodic."""
    from ase.build import graphene

    layer = graphene(a=config.graphite_a)
    d = config.graphite_distance if distance is None else distance
    cell = layer.cell.array.copy()
    cell[2, 2] = 2 * d
    shift = (2 * cell[0] + cell[1]) / 3.0 if stacking == "AB" else np.zeros(3)  # A over B, B over a hollow
    positions = np.vstack([layer.positions, layer.positions + shift + [0.0, 0.0, d]])
    atoms = Atoms("C4", positions=positions, cell=cell, pbc=True)
    atoms.wrap()
    return atoms.repeat((config.graphite_repeat, config.graphite_repeat, 1))


def c20_dodecahedron(bond: float = 1.45) -> Atoms:
    """The cage C20: a regular dodecahedron (edges 2/φ in its textbook coordinates), scaled to ``bond``.

    >>> atoms = c20_dodecahedron()
    >>> round(float(np.sort(atoms.get_all_distances()[0])[1]), 3)
    1.45
    """
    phi = (1 + np.sqrt(5)) / 2
    cube = [[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)]
    rest = [v for a in (-1 / phi, 1 / phi) for b in (-phi, phi) for v in ([0, a, b], [a, b, 0], [b, 0, a])]
    return Atoms("C20", positions=np.array(cube + rest) * bond / (2 / phi))


def fullerene(name: str, config: FamiliesConfig) -> Atoms:
    from ase.build import molecule

    atoms = molecule("C60") if name == "C60" else c20_dodecahedron()
    atoms.cell = np.eye(3) * config.fullerene_box
    atoms.center()
    atoms.pbc = False
    return atoms


def surface_normal(atoms: Atoms, point: np.ndarray) -> np.ndarray:
    """z for a sheet; the radial direction at ``point`` for a tube along z."""
    if atoms.pbc[0]:
        return np.array([0.0, 0.0, 1.0])
    radial = point - atoms.cell.array.diagonal() / 2
    radial[2] = 0.0
    return radial / np.linalg.norm(radial)


def central_atom(atoms: Atoms) -> int:
    """The atom nearest the middle of the cell (for a tube along z: nearest its middle height)."""
    gap = atoms.positions - atoms.cell.array.sum(axis=0) / 2
    if not atoms.pbc[0]:
        gap[:, :2] = 0.0
    return int(np.argmin(np.linalg.norm(gap, axis=1)))


def stone_wales(atoms: Atoms) -> Atoms:
    """Turn the bond of the central atom with its first neighbour by 90° about the surface normal."""
    from ase.neighborlist import neighbor_list

    atoms = atoms.copy()
    i = central_atom(atoms)
    first, second, vectors = neighbor_list("ijD", atoms, 1.6)
    j_index = np.flatnonzero(first == i)[0]
    bond = vectors[j_index]
    middle = atoms.positions[i] + bond / 2
    normal = surface_normal(atoms, middle)
    turned = np.cross(normal, bond)
    turned *= np.linalg.norm(bond) / np.linalg.norm(turned)
    atoms.positions[i] = middle - turned / 2
    atoms.positions[second[j_index]] = middle + turned / 2
    atoms.wrap()
    return atoms


def vacancy(atoms: Atoms) -> Atoms:
    atoms = atoms.copy()
    del atoms[central_atom(atoms)]
    return atoms


def relaxed(atoms: Atoms, steps: int) -> Atoms:
    """Positions relaxed with Brenner at fixed cell (FIRE, fmax 0.05 eV/Å, at most ``steps``)."""
    from ase.optimize import FIRE

    atoms.calc = reference_calculator("brenner")[0]
    FIRE(atoms, logfile=None).run(fmax=0.05, steps=steps)
    atoms.calc = None
    return atoms


@lru_cache(maxsize=64)
def _ideal(family: str, config_json: str) -> Atoms:
    config = FamiliesConfig.model_validate_json(config_json)
    if family == "diamond":
        return diamond_bulk(config)
    if family == "diamond-vacancy":
        return relaxed(vacancy(diamond_bulk(config)), config.relax_steps)
    if family.startswith("diamond("):
        return diamond_slab(family[8:11], config)
    if family.startswith("graphite-"):
        return graphite(config, family[-2:])
    if family.startswith("fullerene-"):
        return fullerene(family[10:], config)
    host, defect = split_defect(family)
    sheet = base_structure(host, config.tubes())
    return relaxed(vacancy(sheet) if defect == "vacancy" else stone_wales(sheet), config.relax_steps)


def ideal_structure(family: str, config: FamiliesConfig) -> Atoms:
    """The unperturbed structure of a family (a fresh copy; built once per config)."""
    return _ideal(family, config.model_dump_json()).copy()


def make_family_structure(k: int, config: FamiliesConfig, md_calc) -> Atoms:
    """Structure number ``k``: deterministic for (seed, k); thermal and amorphous frames use ``md_calc``."""
    rng = np.random.default_rng([config.seed, k])
    family = config.families[k % len(config.families)]
    variants = family_variants(family, config)
    variant = variants[int(rng.integers(len(variants)))]
    info = {"family": family, "variant": variant, "seed": config.seed, "index": k}
    if family == "amorphous":
        atoms, settings = melt_quench(config.amorphous, rng, md_calc)
        atoms.info.update({**info, **settings})
        return atoms
    if variant == "interlayer":
        distance = float(rng.uniform(*config.interlayer_range))
        info["interlayer_distance"] = distance
        atoms = graphite(config, family[-2:], distance)
        atoms.positions += rng.normal(scale=config.rattle_sigma, size=atoms.positions.shape)
        atoms.info.update(info)
        return atoms
    return apply_variant(ideal_structure(family, config), variant, rng, config, md_calc, info)


def generate_families(path: str | Path, config: FamiliesConfig, resume: bool = False, progress: bool = True) -> Path:
    """Write ``config.n_structures`` labelled frames to ``path`` (extxyz), resumably (:func:`.frames.write_frames`).

    Every frame's ``info`` has ``family``, ``variant``, ``method`` and ``method_settings`` (the method, its
    package version and settings, and the generator: seed and config), as :func:`.generate.generate_dataset`.
    """
    calc, meta = reference_calculator(config.method)
    md_calc = calc if config.method == "brenner" else reference_calculator("brenner")[0]
    meta["thermal_md"] = "Langevin with matscipy Brenner, then labelled with the reference method"
    meta["amorphous"] = "melt and quench with matscipy Brenner (Langevin), then labelled with the reference method"
    meta["generator"] = generator_record(config)
    meta["generator"]["kind"] = "carbon_families"

    def frame(k: int) -> Atoms:
        return label(make_family_structure(k, config, md_calc), calc, meta)

    return write_frames(path, config.n_structures, frame, meta["generator"], resume=resume, progress=progress,
                        desc=f"families ({config.method})")
