"""Harmonic phonons with phonopy: displaced supercells → one batched force evaluation → bands, DOS, thermal.

Finite displacements. Phonopy displaces symmetry-inequivalent atoms of the supercell by ±h and fits

    Φ_{iα,jβ} = ∂²E / ∂u_{iα} ∂u_{jβ} = −∂F_{jβ} / ∂u_{iα} ≈ −[F_{jβ}(u_{iα} = +h) − F_{jβ}(u_{iα} = −h)] / 2h

(central differences; a single +h where symmetry maps +h onto −h). The dynamical matrix of wave vector q,

    D_{iα,jβ}(q) = Σ_R Φ_{iα,jβ}(0, R) e^{i q·(R + r_j − r_i)} / √(m_i m_j),

has eigenvalues ω²; phonopy reports ν = ω / 2π in THz, here also in cm⁻¹ (1 THz = 33.35641 cm⁻¹).
Imaginary modes come out as negative numbers (phonopy's convention).

All displaced supercells go to the calculator at once: ``calc.calculate_batch(images)`` of
:class:`~ase_relaxed.calculator.RelaxedCalculator` evaluates them in a few memory-bounded forward passes;
any other ASE calculator (matscipy, a reference method, ...) is called one image at a time.

Nanotubes and other low-dimensional systems (``pbc`` False on some axes) keep their ASE cell: the vacuum
axes are ordinary lattice vectors for phonopy, the supercell repeats only the periodic axes, and the
calculator sees every image with the original ``pbc``.

The helpers follow phonopy's verbs: ``run_band_structure``, ``run_dos``, ``run_thermal``,
``gamma_frequencies``; :mod:`ase_relaxed.phonons.outputs` has ``plot_bands_and_dos`` and ``write_phonopy_outputs``.

>>> from ase.build import bulk
>>> from matscipy.calculators.manybody import Manybody
>>> from matscipy.calculators.manybody.explicit_forms.tersoff_brenner import (
...     TersoffBrenner, Brenner_PRB_42_9458_C_I)
>>> phonon = compute_phonons(bulk("C", "diamond", a=3.567), Manybody(**TersoffBrenner(Brenner_PRB_42_9458_C_I)),
...                          [3, 3, 3], progress=False)
>>> [round(float(f)) for f in gamma_frequencies(phonon)]
[0, 0, 0, 991, 991, 991]
"""

from __future__ import annotations

import time
import warnings
import weakref
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator
from numpy.typing import ArrayLike
from phonopy import Phonopy
from phonopy.structure.atoms import PhonopyAtoms

from ..calculator import NOT_A_HESSIAN, warn_if_not_conservative
from ..errors import InputError

__all__ = [
    "THZ_TO_CM", "EvaluationInfo", "compute_phonons", "default_mesh", "evaluate_forces", "evaluation_info",
    "gamma_frequencies", "get_interaction_range", "run_band_structure", "run_dos", "run_thermal",
]

#: 1 THz in cm⁻¹ (10¹² / c, c in cm/s); phonopy's THzToCm.
THZ_TO_CM = 33.3564095198152
GAMMA = r"$\Gamma$"


@dataclass
class EvaluationInfo:
    """How the forces of a :func:`compute_phonons` run were obtained."""

    pbc: tuple[bool, bool, bool]
    n_images: int  # displaced supercells (+1 with the residual-force subtraction)
    n_atoms: int  # atoms per supercell
    n_calls: int  # calculate_batch calls, or single calls on the fallback path
    batched: bool
    seconds: float


_INFO: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def evaluation_info(phonon: Phonopy) -> EvaluationInfo | None:
    """The :class:`EvaluationInfo` of a phonon object made by :func:`compute_phonons` (None otherwise)."""
    return _INFO.get(phonon)


def get_interaction_range(calc: Calculator) -> float | None:
    """Range of the force constants in Å: ``2 × num_layers × cutoff`` for a message-passing model, else
    ``calc.interaction_range`` or ``calc.cutoff``; None if unknown.

    F_i depends on every atom within the receptive field L·r_c of every atom k whose energy E_k depends
    on r_i (itself within L·r_c of i), so Φ_ij = −∂F_i/∂r_j can be non-zero up to |r_ij| = 2 L r_c.
    """
    config = getattr(getattr(calc, "model", None), "config", None)
    if config is not None and hasattr(config, "num_layers") and hasattr(config, "cutoff"):
        return 2.0 * float(config.num_layers) * float(config.cutoff)
    for name in ("interaction_range", "cutoff"):
        if isinstance(getattr(calc, name, None), (int, float)):
            return float(getattr(calc, name))
    return None


# -- structures ---------------------------------------------------------------------------------------------
def _supercell_matrix(atoms: Atoms, supercell_matrix: ArrayLike) -> np.ndarray:
    """3 ints (diagonal) or a 3×3 int matrix; non-periodic axes must not be repeated or mixed."""
    matrix = np.asarray(supercell_matrix)
    if matrix.shape == (3,):
        matrix = np.diag(matrix)
    if matrix.shape != (3, 3) or not np.all(np.equal(np.round(matrix), matrix)):
        raise InputError(f"supercell must be 3 integers or a 3x3 integer matrix, got {supercell_matrix!r}")
    matrix = np.round(matrix).astype(int)
    if round(np.linalg.det(matrix)) < 1:
        raise InputError(f"supercell matrix {matrix.tolist()} must have a positive determinant")
    for axis in np.flatnonzero(~atoms.pbc):
        unit = np.eye(3, dtype=int)[axis]
        if not (np.array_equal(matrix[axis], unit) and np.array_equal(matrix[:, axis], unit)):
            raise InputError(
                f"the structure is not periodic along axis {'abc'[axis]} (pbc={atoms.pbc.tolist()}), so the "
                f"supercell must be 1 along it; got {matrix.tolist()} (e.g. use 1 1 N for a tube along c)"
            )
    return matrix


def _prepare(atoms: Atoms) -> Atoms:
    """A copy centred along its vacuum axes, checked so that phonopy's minimum images are the real ones."""
    atoms = atoms.copy()
    vacuum_axes = np.flatnonzero(~atoms.pbc)
    if len(vacuum_axes) == 0:
        return atoms
    if atoms.cell.rank < 3 or atoms.cell.volume < 1e-6:
        raise InputError(
            f"phonopy needs a 3D cell, but this structure (pbc={atoms.pbc.tolist()}) has none along its "
            "non-periodic axes; give it a vacuum box, e.g. atoms.center(vacuum=6.0, axis=(0, 1))"
        )
    atoms.center(axis=tuple(int(a) for a in vacuum_axes))
    scaled = np.linalg.solve(atoms.cell.array.T, atoms.positions.T).T
    for axis in vacuum_axes:
        extent = np.ptp(scaled[:, axis])
        if extent >= 0.5:
            raise InputError(
                f"the structure spans {extent:.2f} of its cell along the non-periodic axis {'abc'[axis]}; phonopy "
                "would mistake periodic images for neighbours: add vacuum (at least the structure's own width)"
            )
    return atoms


def _to_phonopy(atoms: Atoms) -> PhonopyAtoms:
    return PhonopyAtoms(symbols=atoms.get_chemical_symbols(), cell=atoms.cell.array,
                        scaled_positions=atoms.get_scaled_positions(wrap=False), masses=atoms.get_masses())


def _to_ase(cell: PhonopyAtoms, pbc: Sequence[bool]) -> Atoms:
    return Atoms(cell.symbols, cell=cell.cell, scaled_positions=cell.scaled_positions, masses=cell.masses, pbc=pbc)


# -- forces -------------------------------------------------------------------------------------------------
def evaluate_forces(images: Sequence[Atoms], calc: Calculator, max_images_per_batch: int | None = None,
                    progress: bool = True) -> tuple[list[np.ndarray], int, bool]:
    """Forces (eV/Å) of every image: ``calc.calculate_batch`` in chunks of ``max_images_per_batch`` (None: one
    call; the calculator splits it by memory), else one ASE call per image. Returns (forces, calls, batched)."""
    from tqdm.auto import tqdm

    images = list(images)
    if max_images_per_batch is not None and int(max_images_per_batch) < 1:
        raise InputError(f"max_images_per_batch must be a positive integer, got {max_images_per_batch!r}")
    batched = callable(getattr(calc, "calculate_batch", None))
    size = len(images) if batched and max_images_per_batch is None else int(max_images_per_batch or 1)
    size = max(size if batched else 1, 1)
    forces: list[np.ndarray] = []
    calls = 0
    with tqdm(total=len(images), desc="forces", unit="image", disable=not progress) as bar:
        for start in range(0, len(images), size):
            chunk = images[start:start + size]
            if batched:
                results = calc.calculate_batch(chunk, ["energy", "forces"])
                forces += [np.array(r["forces"], dtype=float) for r in results]
            else:
                chunk[0].calc = calc
                forces.append(np.array(chunk[0].get_forces(), dtype=float))
                chunk[0].calc = None
            calls += 1
            bar.update(len(chunk))
    return forces, calls, batched


def compute_phonons(atoms: Atoms, calc: Calculator, supercell_matrix: ArrayLike, distance: float = 0.01,
                    primitive_matrix: str | ArrayLike | None = None, symmetrize: bool = True,
                    max_images_per_batch: int | None = None, progress: bool = True, *,
                    subtract_residual_forces: bool = False, plusminus: bool | str = "auto",
                    symprec: float = 1e-5) -> Phonopy:
    """Force constants of ``atoms`` with ``calc`` by finite displacements of ``distance`` Å in a supercell.

    ``supercell_matrix``: 3 ints or a 3×3 matrix, 1 along non-periodic axes (a tube along c: ``[1, 1, N]``).
    ``primitive_matrix``: None → the given cell is the primitive cell; ``"auto"`` or a matrix as in phonopy
    (3D only). ``subtract_residual_forces``: also evaluate the undisplaced supercell and subtract its forces
    from every displaced one (phonopy's ``--fz``; for geometries that are not exactly stationary).
    ``symmetrize``: impose translational invariance and index symmetry on Φ. Returns the phonopy object
    with force constants (and its displacement dataset, for :func:`write_phonopy_outputs`).

    >>> from ase.build import bulk
    >>> from ase.calculators.emt import EMT
    >>> phonon = compute_phonons(bulk("Cu", a=3.6), EMT(), [2, 2, 2], progress=False)
    >>> phonon.force_constants.shape
    (8, 8, 3, 3)
    """
    if not distance > 0:
        raise InputError(f"displacement distance must be positive, got {distance!r}")
    warn_if_not_conservative(calc, "phonons", NOT_A_HESSIAN)
    atoms = _prepare(atoms)
    matrix = _supercell_matrix(atoms, supercell_matrix)
    if not atoms.pbc.all() and primitive_matrix is not None and not np.array_equal(primitive_matrix, np.eye(3)):
        raise InputError(f"primitive_matrix is for 3D crystals only; this structure has pbc={atoms.pbc.tolist()}")
    primitive = "P" if primitive_matrix is None else primitive_matrix  # None means 'auto' to phonopy 4
    with warnings.catch_warnings():  # phonopy 4 warns that 'auto' (asked for here) may differ from phonopy 3
        warnings.filterwarnings("ignore", message="primitive_matrix defaulted to 'auto'")
        phonon = Phonopy(_to_phonopy(atoms), supercell_matrix=matrix, primitive_matrix=primitive, symprec=symprec)
    phonon.generate_displacements(distance=distance, is_plusminus=plusminus)
    pbc = tuple(bool(p) for p in atoms.pbc)
    images = [_to_ase(cell, pbc) for cell in phonon.supercells_with_displacements]
    if subtract_residual_forces:
        images.insert(0, _to_ase(phonon.supercell, pbc))
    start = time.perf_counter()
    forces, calls, batched = evaluate_forces(images, calc, max_images_per_batch, progress)
    seconds = time.perf_counter() - start
    if subtract_residual_forces:
        residual, forces = forces[0], forces[1:]
        forces = [f - residual for f in forces]
    phonon.forces = np.array(forces)
    phonon.produce_force_constants(show_drift=False)
    if symmetrize:
        phonon.symmetrize_force_constants(show_drift=False)
    _INFO[phonon] = EvaluationInfo(pbc, len(images), len(phonon.supercell), calls, batched, seconds)
    return phonon


# -- phonopy verbs ------------------------------------------------------------------------------------------
def _pbc(phonon: Phonopy, atoms: Atoms | None) -> np.ndarray:
    if atoms is not None:
        return np.array(atoms.pbc, dtype=bool)
    info = evaluation_info(phonon)
    return np.array(info.pbc if info is not None else (True, True, True), dtype=bool)


def _label(name: str) -> str:
    return GAMMA if name in ("G", "Γ", "GAMMA") else name


def _ase_path(phonon: Phonopy, pbc: np.ndarray, path: str | None) -> tuple[list[list[np.ndarray]], list[str]]:
    from ase.cell import Cell
    from ase.dft.kpoints import parse_path_string

    default = Cell(phonon.primitive.cell).bandpath(npoints=0, pbc=pbc)  # identifies the Bravais lattice
    points, groups = default.special_points, parse_path_string(path or default.path)
    unknown = {name for group in groups for name in group} - set(points)
    if unknown:
        raise InputError(f"unknown special points {sorted(unknown)} in path {path!r} of this "
                         f"{default.cell.get_bravais_lattice().longname} cell; known: {''.join(sorted(points))} "
                         f"(default path {default.path})")
    return [[np.asarray(points[n]) for n in group] for group in groups], [_label(n) for g in groups for n in g]


def _seekpath_applies(phonon: Phonopy) -> bool:
    """True if seekpath is installed and phonopy's primitive cell is seekpath's standard one (phonopy's
    ``auto_band_structure`` uses seekpath's reduced q-points as they are, valid only for that cell)."""
    try:
        import seekpath
    except ImportError:
        return False
    cell = phonon.primitive
    result = seekpath.get_path((cell.cell, cell.scaled_positions, cell.numbers))
    return np.allclose(result["primitive_lattice"], cell.cell, atol=1e-5)


def run_band_structure(phonon: Phonopy, path: str | Sequence = "auto", npoints: int = 101,
                       atoms: Atoms | None = None, labels: Sequence[str] | None = None):
    """Band structure along a path of the primitive cell's Brillouin zone; returns phonopy's BandStructure.

    ``path``: ``"auto"`` → 1D: Γ → Z = (0, 0, ½) along the periodic axis; 2D: ASE's path of the 2D lattice;
    3D: seekpath through phonopy's ``auto_band_structure`` where it applies, else ASE's ``cell.bandpath()``;
    ``"ase"`` or an ASE path string such as ``"GXWKGL,UX"``: ASE's special points of the primitive cell;
    a list of connected sets of reduced q-points ``[[q0, q1, q2], [q3, q4]]`` (with ``labels``).
    ``atoms`` gives the pbc when the phonon object does not come from :func:`compute_phonons`.
    """
    from phonopy.phonon.band_structure import get_band_qpoints_and_path_connections

    pbc = _pbc(phonon, atoms)
    if isinstance(path, str) and path == "auto" and pbc.all() and _seekpath_applies(phonon):
        phonon.auto_band_structure(npoints=npoints)
        return phonon.band_structure
    if isinstance(path, str):
        if pbc.sum() == 0:
            raise InputError("a structure without periodic axes has no band structure (only Γ)")
        if path == "auto" and pbc.sum() == 1:
            zone_edge = np.where(pbc, 0.5, 0.0)
            band_paths, labels = [[np.zeros(3), zone_edge]], [GAMMA, "XYZ"[int(np.flatnonzero(pbc)[0])]]
        else:
            band_paths, labels = _ase_path(phonon, pbc, None if path in ("auto", "ase") else path)
    else:
        band_paths = [[np.asarray(q, dtype=float) for q in group] for group in path]
        if any(len(group) < 2 or any(q.shape != (3,) for q in group) for group in band_paths):
            raise InputError("a band path is a list of connected sets of ≥ 2 reduced q-points (3 numbers each)")
    qpoints, connections = get_band_qpoints_and_path_connections(
        band_paths, npoints=npoints, rec_lattice=np.linalg.inv(phonon.primitive.cell))
    phonon.run_band_structure(qpoints, path_connections=connections, labels=labels)
    return phonon.band_structure


def default_mesh(phonon: Phonopy, pbc: ArrayLike) -> list[int]:
    """A Γ-centred q mesh: ~L/|a_i| points along periodic axes (L = 50, 100, 400 Å for 3D, 2D, 1D), 1 else."""
    pbc = np.asarray(pbc, dtype=bool)
    length = {3: 50.0, 2: 100.0, 1: 400.0, 0: 1.0}[int(pbc.sum())]
    reciprocal = np.linalg.norm(np.linalg.inv(phonon.primitive.cell), axis=0)  # |b_i| without 2π
    return [max(4, int(np.ceil(length * b))) if p else 1 for b, p in zip(reciprocal, pbc)]


def run_dos(phonon: Phonopy, mesh: Sequence[int] | None = None, with_pdos: bool = False,
            sigma: float | None = None, atoms: Atoms | None = None) -> dict:
    """Phonon DOS per primitive cell on a Γ-centred ``mesh`` (integrates to 3 × atoms of the primitive cell).

    Default mesh: :func:`default_mesh` (1 along non-periodic axes, e.g. ``[1, 1, 100]`` for a tube).
    ``sigma`` (THz): Gaussian smearing; default: tetrahedra in 3D, 0.1 THz (3.3 cm⁻¹) otherwise.
    Returns ``frequency_points`` (THz), ``total_dos`` (states/THz) and ``projected_dos`` (per atom) if asked.
    """
    pbc = _pbc(phonon, atoms)
    mesh = default_mesh(phonon, pbc) if mesh is None else [int(n) for n in mesh]
    if len(mesh) != 3 or min(mesh) < 1 or any(n != 1 for n, p in zip(mesh, pbc) if not p):
        raise InputError(f"mesh must be 3 positive integers with 1 along non-periodic axes, got {mesh}")
    if sigma is None and not pbc.all():
        sigma = 0.1
    tetrahedra = sigma is None
    phonon.run_mesh(mesh, is_gamma_center=True, with_eigenvectors=with_pdos, is_mesh_symmetry=not with_pdos)
    phonon.run_total_dos(sigma=sigma, use_tetrahedron_method=tetrahedra)
    result = {"mesh": mesh, "frequency_points": np.array(phonon.total_dos.frequency_points),
              "total_dos": np.array(phonon.total_dos.dos)}
    if with_pdos:
        phonon.run_projected_dos(sigma=sigma, use_tetrahedron_method=tetrahedra)
        result["projected_dos"] = np.array(phonon.projected_dos.projected_dos)
    return result


def run_thermal(phonon: Phonopy, t_min: float = 0.0, t_max: float = 1000.0, t_step: float = 10.0,
                mesh: Sequence[int] | None = None, atoms: Atoms | None = None,
                exclude_gamma_acoustic: bool = True) -> dict:
    """Harmonic free energy F = Σ_qν [ħω/2 + k T ln(1 − e^{−ħω/kT})] (kJ/mol), entropy and heat capacity
    (J/K/mol) per primitive cell on the q mesh (run with :func:`default_mesh` unless one was run before);
    imaginary modes are left out, and so are the ω → 0 acoustic modes at Γ unless ``exclude_gamma_acoustic``
    is False (their ln ω terms are a finite-mesh artefact)."""
    if mesh is not None or phonon.mesh is None:
        pbc = _pbc(phonon, atoms)
        phonon.run_mesh(default_mesh(phonon, pbc) if mesh is None else list(mesh), is_gamma_center=True)
    phonon.run_thermal_properties(t_min=t_min, t_max=t_max, t_step=t_step,
                                  exclude_gamma_acoustic=exclude_gamma_acoustic)
    tp = phonon.thermal_properties
    return {"temperatures": np.array(tp.temperatures), "free_energy": np.array(tp.free_energy),
            "entropy": np.array(tp.entropy), "heat_capacity": np.array(tp.heat_capacity)}


def gamma_frequencies(phonon: Phonopy) -> np.ndarray:
    """Frequencies at Γ in cm⁻¹, sorted (imaginary modes as negative numbers)."""
    phonon.dynamical_matrix.run(np.zeros(3))
    eigenvalues = np.linalg.eigvalsh(phonon.dynamical_matrix.dynamical_matrix)
    factor = phonon.unit_conversion_factor * THZ_TO_CM
    return np.sort(np.sign(eigenvalues) * np.sqrt(np.abs(eigenvalues)) * factor)
