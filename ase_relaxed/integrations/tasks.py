"""One job on ONE structure → one result record: the unit of work that farms run, serially or on Dask.

Every job kind is a plain function ``job(atoms_or_spec, calc, **settings) -> (atoms, values, data)``:

* ``eval``: energy, forces (and stress where the cell is 3D periodic);
* ``relax``: :func:`ase_relaxed.md.relax.relax` (positions, optionally the cell);
* ``phonons``: phonopy finite displacements (Γ frequencies in cm⁻¹), optionally after a BFGS relaxation;
* ``helical``: line-group phonons of a ``cnt:N,M`` spec (:func:`~ase_relaxed.phonons.helical_phonons`),
  with the RBM/G classification of :func:`~ase_relaxed.phonons.gamma_modes`;
* ``md``: an :class:`~ase_relaxed.md.runner.MDRunner` run without files (final state and observables).

``values`` are scalars (searchable columns of the database), ``data`` arrays and nested lists. The farm and
the serial path both call :func:`run_job`, so a farm result is a serial result by construction. The
calculator is built once per process (:func:`calculator`) and reused by every job there, so a Dask
worker loads the model once instead of receiving a pickled one with each task.

>>> from ase.build import bulk
>>> record = run_job("eval", "Cu", bulk("Cu"), {}, {"model": "demo-carbon-random", "device": "cpu"})
>>> record["status"], record["error"].split(":")[0]
('failed', 'InputError')
"""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np
from ase import Atoms

#: calculators of this process, by (model, device, dtype, on_close, compile)
_CALCULATORS: dict[tuple, Any] = {}


def calculator(model: str, device: str = "cpu", dtype: str | None = None, on_close: str = "error",
               compile: bool = False):
    """The :class:`~ase_relaxed.RelaxedCalculator` of these options, built (and compiled) once per process."""
    from ..calculator import RelaxedCalculator

    key = (model, device, dtype, on_close, compile)
    if key not in _CALCULATORS:
        _CALCULATORS[key] = RelaxedCalculator(model, device=device, dtype=dtype, on_close=on_close, compile=compile)
    return _CALCULATORS[key]


def set_threads(n: int) -> int:
    """Limit torch's intra-op threads in this process (a farm worker takes one core); returns ``n``."""
    import torch

    torch.set_num_threads(int(n))
    return int(n)


def default_supercell(atoms: Atoms, interaction_range: float | None) -> list[int]:
    """3D: 2 2 2. Otherwise 1 along vacuum axes and, along periodic ones, the fewest repeats whose width is
    ≥ 2 × the interaction range (20 Å when unknown), so that phonopy's supercell holds every Φ(0, R).

    >>> from ase.build import bulk
    >>> default_supercell(bulk("C", "diamond"), 8.0)
    [2, 2, 2]
    """
    import math

    from ..errors import InputError

    if atoms.pbc.all():
        return [2, 2, 2]
    if atoms.cell.rank < 3:
        raise InputError(f"phonons need a cell, but this structure (pbc={atoms.pbc.tolist()}) has a "
                         f"{atoms.cell.rank}D one; give it a vacuum box (e.g. molecule:CH4:vacuum=6)")
    needed = 2 * interaction_range if interaction_range else 20.0
    widths = 1.0 / np.linalg.norm(np.linalg.inv(atoms.cell.array), axis=0)
    return [max(1, math.ceil(needed / w - 1e-9)) if p else 1 for w, p in zip(widths, atoms.pbc)]


def relax_positions(atoms: Atoms, calc, fmax: float, steps: int) -> tuple[Atoms, bool, float]:
    """BFGS on the positions (cell fixed): the relaxed copy, whether it converged, and the final max |F| (eV/Å)."""
    from ase.optimize import BFGS

    atoms = atoms.copy()
    atoms.calc = calc
    converged = bool(BFGS(atoms, logfile=None).run(fmax=fmax, steps=steps))
    residual = float(np.linalg.norm(atoms.get_forces(), axis=1).max(initial=0.0))
    atoms.calc = None
    return atoms, converged, residual


def _single_point(atoms: Atoms, calc) -> Atoms:
    """A copy of ``atoms`` holding energy, forces (and stress if 3D periodic) in a SinglePointCalculator."""
    from ase.calculators.singlepoint import SinglePointCalculator

    from ..graph import is_3d_periodic

    atoms = atoms.copy()
    properties = ["energy", "forces"] + (["stress"] if is_3d_periodic(atoms) else [])
    calc.calculate(atoms, properties)
    atoms.calc = SinglePointCalculator(atoms, **{k: calc.results[k] for k in properties})
    return atoms


def eval_job(atoms: Atoms, calc) -> tuple[Atoms, dict, dict]:
    """Single point: the structure with energy/forces/stress attached (ASE's own database columns)."""
    result = _single_point(atoms, calc)
    forces = result.calc.results["forces"]
    return result, {"e_per_atom": float(result.calc.results["energy"]) / len(atoms),
                    "max_force": float(np.linalg.norm(forces, axis=1).max(initial=0.0))}, {}


def relax_job(atoms: Atoms, calc, cell: bool = False, optimizer: str = "fire", fmax: float = 0.01,
              steps: int = 1000) -> tuple[Atoms, dict, dict]:
    """:func:`~ase_relaxed.md.relax.relax`; values: initial/final energy (eV), final max |F| (eV/Å), steps."""
    from ..md.relax import relax

    result = relax(atoms, calc, cell=cell, optimizer=optimizer, fmax=fmax, steps=steps, logfile=None)
    values = {"e_initial": float(result.energy_initial), "e_final": float(result.energy_final),
              "fmax_final": float(result.fmax_final), "converged": bool(result.converged),
              "opt_steps": int(result.steps)}
    return result.atoms, values, {}


def phonons_job(atoms: Atoms, calc, supercell: list[int] | None = None, distance: float = 0.01,
                primitive: str = "auto", relax: bool = False, fmax: float = 1e-3, steps: int = 500,
                subtract_residual_forces: bool = False, interaction_range: float | None = None,
                ) -> tuple[Atoms, dict, dict]:
    """phonopy phonons; data: Γ frequencies (cm⁻¹) and the supercell; values: lowest and highest Γ mode."""
    from .. import phonons as ph
    from ..graph import check_atoms

    check_atoms(atoms, calc.species)
    interaction_range = interaction_range or ph.get_interaction_range(calc)
    values: dict = {}
    if relax:
        atoms, converged, residual = relax_positions(atoms, calc, fmax, steps)
        values.update(converged=converged, fmax_final=residual)
    supercell = supercell or default_supercell(atoms, interaction_range)
    phonon = ph.compute_phonons(atoms, calc, supercell, distance=distance,
                                primitive_matrix="auto" if primitive == "auto" and atoms.pbc.all() else None,
                                progress=False, subtract_residual_forces=subtract_residual_forces)
    gamma = np.asarray(ph.gamma_frequencies(phonon), dtype=float)
    values.update(gamma_min_cm=float(gamma.min()), gamma_max_cm=float(gamma.max()),
                  n_imaginary=int((gamma < -5.0).sum()))
    return _single_point(atoms, calc), values, {"gamma_frequencies_cm": gamma, "supercell": np.array(supercell)}


def helical_summary(ph, n_q: int = 41, n_dos: int = 600) -> dict:
    """What the nanotube survey keeps of one HelicalPhonons result (frequencies in cm⁻¹ rounded to 0.01)."""
    from ..phonons import gamma_modes

    lg = ph.line_group
    gamma = ph.gamma_frequencies
    q = np.linspace(0.0, 0.5, n_q)
    grid, dos = ph.dos(frequencies_grid=np.linspace(-20.0, 1700.0, n_dos), sigma=5.0, n_eta=600)
    modes = gamma_modes(ph)
    return {
        "n": lg.n, "m": lg.m, "diameter_A": 2 * lg.radius, "period_A": lg.period,
        "atoms_per_cell": lg.atoms_per_cell, "cyclic_order": lg.cyclic_order, "n_cells": ph.n_cells,
        "segment_atoms": lg.atoms_per_cell * ph.n_cells, "segment_length_A": ph.n_cells * lg.period,
        "n_relax_evaluations": ph.n_relax_evaluations, "n_force_evaluations": ph.n_force_evaluations,
        "domain": lg.domain.tolist(), "gamma_frequencies": np.round(gamma, 2).tolist(), "g_top": float(gamma.max()),
        "a_block": modes, "rbm": modes["rbm"], "rbm_overlap": modes["rbm_overlap"],
        "g_plus_axial": modes["g_plus_axial"], "g_minus_circumferential": modes["g_minus_circumferential"],
        "bands_q": q.tolist(), "bands": np.round(ph.frequencies(q), 2).tolist(),
        "dos_grid": grid.tolist(), "dos": np.round(dos, 6).tolist(),
    }


def parse_cnt(spec: str) -> tuple[int, int, float | None]:
    """(n, m, bond or None) of a ``cnt:N,M[:bond=B]`` spec; a clear error for anything else.

    >>> parse_cnt("cnt:10,0"), parse_cnt("cnt:6,6:bond=1.44")
    ((10, 0, None), (6, 6, 1.44))
    """
    from ..errors import InputError

    kind, *rest = spec.split(":")
    try:
        if kind != "cnt" or not rest:
            raise ValueError
        n, m = (int(x) for x in rest[0].split(","))
        options = dict(part.split("=", 1) for part in rest[1:])
        bond = float(options["bond"]) if "bond" in options else None
    except ValueError:
        raise InputError(f"--helical needs a nanotube builder spec such as cnt:10,0 (cnt:N,M[:bond=B]), "
                         f"got {spec!r}") from None
    return n, m, bond


def helical_job(spec: str, calc, relax: bool = True, relax_period: bool = True, fmax: float = 1e-3,
                distance: float = 0.01, interaction_range: float | None = None) -> tuple[Atoms, dict, dict]:
    """Helical phonons of ``spec``; the segment's atoms, RBM/G values (cm⁻¹) and the survey summary as data."""
    from ..errors import InputError
    from ..phonons import get_interaction_range, helical_phonons

    n, m, bond = parse_cnt(spec)
    interaction_range = interaction_range or get_interaction_range(calc)
    try:
        ph = helical_phonons(n, m, calc, bond_length=bond, interaction_range=interaction_range,
                             displacement=distance, relax=relax, fmax=fmax, relax_period=relax_period)
    except RuntimeError as error:  # the symmetry-adapted relaxation did not converge
        raise InputError(f"{error}; loosen --fmax or run without --relax") from None
    summary = helical_summary(ph)
    values = {key: float(summary[key]) for key in ("rbm", "g_plus_axial", "g_minus_circumferential", "g_top",
                                                   "diameter_A")}
    values.update(n_force_calls=int(ph.n_force_evaluations), n_relax_calls=int(ph.n_relax_evaluations))
    atoms = Atoms("C" * len(ph.line_group.positions(ph.n_cells)), positions=ph.line_group.positions(ph.n_cells))
    return atoms, values, {"summary": summary}


def md_job(atoms: Atoms, calc, **options) -> tuple[Atoms, dict, dict]:
    """An MD run of ``options`` (:class:`~ase_relaxed.md.options.MDOptions` fields) without files."""
    from ..md.options import MDOptions
    from ..md.runner import MDRunner

    md = MDOptions(**{**options, "traj": "none", "log": "none", "checkpoint": "none", "quiet": True})
    runner = MDRunner(atoms, calc, md)
    result = runner.run()
    rows = [runner.observables(replica) for replica in runner.replicas]
    final = result.atoms[0] if result.atoms else runner.replicas[0].atoms
    values = {"md_steps": int(result.step), "epot_final": rows[0]["epot"], "temperature_final": rows[0]["temperature"],
              "steps_per_s": float(result.steps_per_s)}
    out = final.copy()
    out.calc = None
    return out, values, {"observables": rows}


JOBS: dict[str, Callable[..., tuple[Atoms, dict, dict]]] = {
    "eval": eval_job, "relax": relax_job, "phonons": phonons_job, "helical": helical_job, "md": md_job,
}


def one_line(error: BaseException) -> str:
    """``Type: message`` on one line (what the database records of a failed job)."""
    text = " ".join(str(error).split()) or "(no message)"
    return f"{type(error).__name__}: {text}"


def run_job(kind: str, key: str, atoms: Atoms | None, settings: dict, model: dict) -> dict:
    """Run job ``kind`` on one structure and return its record; a failure becomes a record, never a raise.

    ``key`` names the structure (a spec or ``file@frame``), ``atoms`` is it (None for ``helical``, which builds
    from the spec), ``model`` the calculator options (``model``, ``device``, ``dtype``, ``on_close``). The record:
    ``key``, ``kind``, ``status`` ("ok" / "failed"), ``error`` (one line), ``atoms``, ``values``, ``data``,
    ``host`` (host:pid that ran it), ``setup_s`` (building the calculator, once per process) and ``wall_s``
    (the job itself).
    """
    import os
    import socket

    start = time.perf_counter()
    record = {"key": key, "kind": kind, "status": "ok", "error": "", "atoms": atoms, "values": {}, "data": {},
              "host": f"{socket.gethostname()}:{os.getpid()}", "setup_s": 0.0}
    try:
        calc = calculator(**model)
        record["setup_s"] = time.perf_counter() - start  # > 0 only where this process loads the model
        start = time.perf_counter()
        out, values, data = JOBS[kind](key if kind == "helical" else atoms, calc, **settings)
        record.update(atoms=out, values=values, data=data)
    except Exception as error:  # noqa: BLE001 - one structure's failure must not stop a farm
        record.update(status="failed", error=one_line(error))
    record["wall_s"] = time.perf_counter() - start
    return record
