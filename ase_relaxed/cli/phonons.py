"""``ase-relaxed phonons``: phonopy finite-displacement phonons, or helical-symmetry phonons of a nanotube.

    ase-relaxed phonons STRUCTURE [--model M] [--supercell N1 N2 N3] [--primitive {auto,none}]
        [--distance 0.01] [--band auto|PATH] [--npoints 101] [--dos] [--pdos] [--mesh N1 N2 N3] [--thermal]
        [--subtract-residual-forces] [--relax] [--fmax 1e-3] [--steps 500] [--helical]
        [--interaction-range Å] [--batch-size K] [--index K] [--device D] [--dtype T] [--compile] [--quiet] --out DIR

Examples::

    ase-relaxed phonons cnt:10,0 --relax --out cnt10                # supercell 1 1 N from the model's range
    ase-relaxed phonons diamond:C --supercell 2 2 2 --dos --thermal --out diamond
    ase-relaxed phonons cnt:10,0 --helical --relax --out cnt10_helical   # 12 force calls, any chirality
    ase-relaxed phonons cnt:6,3 --helical --relax --dos --thermal --out cnt63  # + phonopy's band.yaml, DOS, thermal
    ase-relaxed phonons cnt:8,0 cnt:5,5 cnt:6,6 --helical --relax --scheduler local:2 --db tubes.db  # a farm
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..integrations.tasks import default_supercell, parse_cnt, relax_positions
from .common import (
    NON_NEGATIVE_INT,
    POSITIVE,
    POSITIVE_INT,
    add_farm_options,
    add_model_options,
    check_output,
    farm_mode,
    make_calculator,
    number,
    read_one,
    run_farm_command,
)

__all__ = ["add_parsers", "cmd_phonons", "default_supercell"]


def _ints(values: list[str] | None, flag: str) -> list[int] | None:
    if values is None:
        return None
    try:
        numbers = [int(v) for v in values]
    except ValueError:
        numbers = []
    if len(numbers) != 3 or min(numbers) < 1:
        raise InputError(f"{flag} needs 3 positive integers (e.g. {flag} 1 1 4), got {' '.join(values)!r}")
    return numbers


def _table(frequencies: np.ndarray, per_line: int = 6) -> str:
    lines = []
    for start in range(0, len(frequencies), per_line):
        chunk = frequencies[start:start + per_line]
        lines.append(f"  {start + 1:4d}-{start + len(chunk):<4d}" + "".join(f"{f:10.2f}" for f in chunk))
    return "\n".join(lines)


def _report_gamma(frequencies: np.ndarray) -> None:
    n_imaginary = int((frequencies < -5.0).sum())
    print(f"# Γ-point frequencies (cm⁻¹; negative = imaginary): {len(frequencies)} modes, "
          f"{n_imaginary} below -5 cm⁻¹")
    print(_table(frequencies))


def _relax(atoms, calc, fmax: float, steps: int):
    atoms, converged, residual = relax_positions(atoms, calc, fmax, steps)
    state = "converged" if converged else "NOT converged (phonons may show imaginary modes)"
    print(f"# relaxed positions (BFGS, cell fixed): {state}, max|F| = {residual:.2e} eV/Å")
    return atoms


def _provenance(args: argparse.Namespace, calc, n: int, m: int, result) -> dict:
    """What produced the helical outputs: tube, model (name, sha256, dtype), package version, date, force calls."""
    from ..provenance import provenance

    return {"method": "helical (line-group) phonons, ase_relaxed.phonons.helical_phonons", "tube": f"({n},{m})",
            **provenance(calc, model=str(args.model), date=True),
            "n_force_evaluations": result.n_force_evaluations, "segment_cells": result.n_cells,
            "relaxed": bool(args.relax)}


def _helical_files(args: argparse.Namespace, result, out: Path, provenance: dict) -> list[tuple[Path, str]]:
    """band.yaml always, total_dos.dat with --dos, thermal_properties.yaml with --thermal (as the ordinary
    route), all per translational cell in phonopy's formats; returns (path, description) pairs."""
    from ..phonons import helical_outputs as ho

    written = [(ho.write_helical_band_yaml(result, out / "band.yaml", comment=provenance),
                "bands Γ–Z in phonopy's band.yaml (THz; distance in 1/Å; phonopy-bandplot reads it)")]
    if args.dos:
        written.append((ho.write_helical_total_dos(result, out / "total_dos.dat", comment=provenance),
                        "total DOS per translational cell (THz, states/THz; σ = 0.1 THz)"))
    if args.thermal:
        n_q = ho.default_n_q(result)
        path = ho.write_helical_thermal_yaml(result, out / "thermal_properties.yaml", n_q=n_q, comment=provenance)
        written.append((path, f"F (kJ/mol), S and C_v (J/K/mol) per translational cell, 0–1000 K, {n_q} k points"))
        thermal = ho.helical_thermal_properties(result, [100.0, 300.0, 500.0, 1000.0], n_q=n_q)
        print(f"# thermal properties per translational cell ({len(result.line_group.positions(1))} atoms)\n"
              f"  {'T/K':>6} {'F/(kJ/mol)':>11} {'S/(J/K/mol)':>12} {'Cv/(J/K/mol)':>13}")
        for k, t in enumerate(thermal["temperatures"]):
            print(f"  {t:6.0f} {thermal['free_energy'][k]:11.4f} {thermal['entropy'][k]:12.4f} "
                  f"{thermal['heat_capacity'][k]:13.4f}")
    return written


def _helical(args: argparse.Namespace, calc, interaction_range: float | None) -> int:
    from ..phonons import helical_phonons

    if Path(args.structure).exists():
        raise InputError(f"--helical needs a nanotube builder spec such as cnt:10,0, got {args.structure!r}")
    n, m, bond = parse_cnt(args.structure)
    if args.supercell is not None:
        raise InputError("--supercell does not apply to --helical (the segment follows --interaction-range)")
    if args.pdos or args.mesh is not None:
        raise InputError("--pdos and --mesh do not apply to --helical (DOS and thermal properties sample the "
                         "helical zone on their own grids)")
    options = dict(bond_length=bond, interaction_range=interaction_range, displacement=args.distance,
                   relax=args.relax, fmax=args.fmax, relax_period=not args.fixed_period)
    std = None
    try:
        if args.error_bars:
            from ..phonons.helical_uncertainty import helical_phonons_with_error_bars

            posterior = helical_phonons_with_error_bars(n, m, calc.model, n_samples=args.error_bars, **options)
            result, std = posterior.mean, posterior.gamma_std
        else:
            result = helical_phonons(n, m, calc, **options)
    except RuntimeError as error:  # the symmetry-adapted relaxation did not converge
        raise InputError(f"{error}; loosen --fmax or run without --relax") from None
    lg = result.line_group
    print(f"# helical phonons of the ({n},{m}) tube: {result.n_force_evaluations} force evaluations on a segment of "
          f"{result.n_cells} translational cells ({len(lg.positions(result.n_cells))} atoms); "
          f"{result.n_relax_evaluations} relaxation calls")
    gamma = result.gamma_frequencies
    _report_gamma(gamma)
    if std is not None:
        print(f"# posterior σ of the Γ frequencies over {args.error_bars} weight draws (cm⁻¹, same order)")
        print(_table(std))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    provenance = _provenance(args, calc, n, m, result)
    written = [(result.plot(out / "helical_bands_dos.png"), "bands and DOS figure (cm⁻¹)")]
    q = np.linspace(0.0, 0.5, 51)
    data = {"n": n, "m": m, "n_force_evaluations": result.n_force_evaluations, "n_cells": result.n_cells,
            "n_relax_evaluations": result.n_relax_evaluations, "interaction_range": interaction_range,
            "gamma_frequencies_cm": gamma.tolist(), "q_reduced": q.tolist(),
            "frequencies_cm": result.frequencies(q).tolist(), "provenance": provenance}
    if std is not None:
        data.update(gamma_std_cm=std.tolist(), posterior_samples=args.error_bars)
    path = out / "helical_phonons.json"
    path.write_text(json.dumps(data, indent=1))
    written.append((path, "Γ frequencies and the dispersion on 51 q = kT/2π (cm⁻¹), with provenance"))
    written += _helical_files(args, result, out, provenance)
    for path, what in written:
        print(f"# wrote {path}: {what}")
    return 0


def _farm(args: argparse.Namespace) -> int:
    """Many structures (or --db/--scheduler): one task each; the database keeps Γ frequencies (and helical data)."""
    from ..integrations.farm import expand_sources

    if args.dos or args.pdos or args.thermal or args.mesh is not None:
        raise InputError("--dos, --pdos, --thermal and --mesh write files per structure; a farm (several "
                         "structures, --db or --scheduler) stores Γ frequencies in the database only")
    if args.helical:
        for spec in args.structure:
            parse_cnt(spec)  # every spec is checked before any work
        if args.supercell is not None:
            raise InputError("--supercell does not apply to --helical (the segment follows --interaction-range)")
        return run_farm_command(args, "helical", [(spec, None) for spec in args.structure], farm_settings(args))
    return run_farm_command(args, "phonons", expand_sources(args.structure, args.index), farm_settings(args))


def farm_settings(args: argparse.Namespace) -> dict:
    """The settings of a phonon farm's tasks (what its database rows are keyed by, with the dtype)."""
    common = {"distance": args.distance, "relax": args.relax, "fmax": args.fmax,
              "interaction_range": args.interaction_range}
    if args.helical:
        return {**common, "relax_period": not args.fixed_period}
    return {**common, "supercell": _ints(args.supercell, "--supercell"), "primitive": args.primitive,
            "steps": args.steps, "subtract_residual_forces": args.subtract_residual_forces}


def cmd_phonons(args: argparse.Namespace) -> int:
    from .. import phonons as ph
    from ..phonons.outputs import record_provenance
    from ..provenance import provenance

    if args.error_bars and not args.helical:
        raise InputError("--error-bars needs --helical (posterior phonon σ comes from the helical route)")
    if farm_mode(args, args.structure):
        if args.error_bars:
            raise InputError("--error-bars works on one tube at a time, not in a farm")
        return _farm(args)
    args.structure = args.structure[0]
    check_output(args.out, "--out", directory=True)
    args.supercell = _ints(args.supercell, "--supercell")
    mesh = _ints(args.mesh, "--mesh")
    atoms = None if args.helical else read_one(args.structure, args.index)
    calc = make_calculator(args)
    if atoms is not None:
        from ..graph import check_atoms

        check_atoms(atoms, calc.species)  # before phonopy builds and evaluates any supercell
    interaction_range = args.interaction_range or ph.get_interaction_range(calc)
    print(f"# model {args.model} ({calc.dtype}, {calc.device}); interaction range {interaction_range or 0:g} Å")
    if args.helical:
        return _helical(args, calc, interaction_range)
    if args.relax:
        atoms = _relax(atoms, calc, args.fmax, args.steps)
    supercell = args.supercell or default_supercell(atoms, interaction_range)
    primitive = "auto" if args.primitive == "auto" and atoms.pbc.all() else None
    phonon = ph.compute_phonons(atoms, calc, supercell, distance=args.distance, primitive_matrix=primitive,
                             max_images_per_batch=args.batch_size, progress=not args.quiet,
                             subtract_residual_forces=args.subtract_residual_forces)
    info = ph.evaluation_info(phonon)
    print(f"# {len(atoms)} atoms, supercell {' '.join(map(str, supercell))} ({info.n_atoms} atoms), "
          f"{len(phonon.primitive)} in the primitive cell; {info.n_images} supercells evaluated in {info.n_calls} "
          f"{'batched' if info.batched else 'single'} call(s), {info.seconds:.2f} s")
    widths = 1.0 / np.linalg.norm(np.linalg.inv(phonon.supercell.cell), axis=0)
    needed = 2 * (interaction_range or 0.0)
    short = [f"{'abc'[i]} {widths[i]:.1f} Å" for i in range(3) if atoms.pbc[i] and widths[i] < needed]
    if short:
        print(f"# note: supercell narrower than 2 × interaction range ({needed:g} Å) along "
              f"{', '.join(short)}: long-range force constants are folded; raise --supercell")
    ph.run_band_structure(phonon, args.band, npoints=args.npoints)
    ph.run_dos(phonon, mesh, with_pdos=args.pdos)
    out = Path(args.out)
    record = provenance(calc, model=str(args.model), date=True)
    paths = ph.write_phonopy_outputs(phonon, out, comment=record)
    paths["bands_dos.png"] = ph.plot_bands_and_dos(phonon, out / "bands_dos.png", title=args.structure)
    if args.dos:
        paths["total_dos.dat"] = out / "total_dos.dat"
        phonon.write_total_dos(filename=paths["total_dos.dat"])
        record_provenance(paths["total_dos.dat"], record)
    if args.pdos:
        paths["projected_dos.dat"] = out / "projected_dos.dat"
        phonon.write_projected_dos(filename=paths["projected_dos.dat"])
        record_provenance(paths["projected_dos.dat"], record)
    _report_gamma(ph.gamma_frequencies(phonon))
    if args.thermal:
        thermal = ph.run_thermal(phonon, 0.0, 1000.0, 10.0)
        paths["thermal_properties.yaml"] = out / "thermal_properties.yaml"
        phonon.write_yaml_thermal_properties(filename=paths["thermal_properties.yaml"])
        record_provenance(paths["thermal_properties.yaml"], record)
        print(f"# thermal properties per primitive cell\n  {'T/K':>6} {'F/(kJ/mol)':>11} {'S/(J/K/mol)':>12} "
              f"{'Cv/(J/K/mol)':>13}")
        for t in (100.0, 300.0, 500.0, 1000.0):
            k = int(np.argmin(np.abs(thermal["temperatures"] - t)))
            print(f"  {thermal['temperatures'][k]:6.0f} {thermal['free_energy'][k]:11.4f} "
                  f"{thermal['entropy'][k]:12.4f} {thermal['heat_capacity'][k]:13.4f}")
    print("# wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


def add_parsers(sub) -> None:
    """Add the ``phonons`` subcommand to an argparse subparsers object."""
    p = sub.add_parser(
        "phonons", help="phonons with phonopy (batched displacements) or helical symmetry (nanotubes)",
        description="Harmonic phonons of STRUCTURE by finite displacements: phonopy generates the displaced "
        "supercells, the model evaluates them in a few batched forward passes, and phonopy builds the force "
        "constants. Writes phonopy.yaml (displacements + forces; `phonopy.load` and phonopy's own tools carry on), "
        "FORCE_SETS, band.yaml and bands_dos.png into --out (the text files record the model, its sha256, the "
        "ase_relaxed version and the dtype) and prints the Γ-point frequencies (cm⁻¹). "
        "Nanotubes (pbc F F T) keep their vacuum box and repeat only along the tube axis. Phonons at a "
        "non-stationary geometry have imaginary (negative) modes: use --relax (or relax first with "
        "`ase-relaxed relax`).",
        epilog="--helical computes phonons of a cnt:N,M tube from its 2-atom fundamental domain with line-group "
        "(screw + rotation) symmetry: 12 force evaluations for any chirality; writes helical_bands_dos.png, "
        "helical_phonons.json (Γ frequencies and the dispersion on a q grid) and phonopy's band.yaml (Γ–Z, THz), "
        "with --dos total_dos.dat (THz, states/THz) and with --thermal thermal_properties.yaml (kJ/mol, J/K/mol), "
        "all per translational cell and readable by phonopy's tools (phonopy-bandplot); --pdos and --mesh do not "
        "apply.",
    )
    p.add_argument("structure", nargs="+", help="a file ASE can read, or a builder spec (cnt:10,0, diamond:C, "
                   "...); several, or globs, run as a farm into --db (docs/farms.md)")
    add_model_options(p, index="-1")
    add_farm_options(p)
    p.add_argument("--out", "-o", default="phonons", help="output folder (default: %(default)s)")
    p.add_argument("--supercell", nargs="+", default=None, metavar="N",
                   help="3 repeats of the cell (default: 2 2 2 for 3D crystals; 1 1 N for tubes with the supercell "
                   "length ≥ 2 × the interaction range); must be 1 along non-periodic axes")
    p.add_argument("--primitive", choices=["auto", "none"], default="auto",
                   help="3D: find the primitive cell (auto) or use the given cell (none); others: always the given")
    p.add_argument("--distance", type=POSITIVE, default=0.01, help="displacement in Å (default: %(default)s)")
    p.add_argument("--band", default="auto",
                   help="band path: auto (tubes Γ–Z; crystals seekpath/ASE) or an ASE path string such as "
                   "GXWKGL,UX (default: auto)")
    p.add_argument("--npoints", type=number(2, integer=True), default=101,
                   help="q-points per band segment (default: %(default)s)")
    p.add_argument("--dos", action="store_true", help="also write total_dos.dat (THz, states/THz; "
                   "--helical: per translational cell)")
    p.add_argument("--pdos", action="store_true", help="also write projected_dos.dat (per atom)")
    p.add_argument("--mesh", nargs="+", default=None, metavar="N",
                   help="q mesh for DOS/thermal (default: 1 along vacuum axes, ~400 Å / a along a tube)")
    p.add_argument("--thermal", action="store_true",
                   help="harmonic free energy, entropy and heat capacity 0–1000 K → thermal_properties.yaml "
                   "(--helical: per translational cell, ~400 Å / T k points)")
    p.add_argument("--subtract-residual-forces", action="store_true",
                   help="subtract the forces of the undisplaced supercell (phonopy --fz)")
    p.add_argument("--relax", action="store_true",
                   help="relax the positions first (BFGS, cell fixed); phonons at a non-stationary geometry "
                   "have imaginary modes")
    p.add_argument("--fmax", type=POSITIVE, default=1e-3,
                   help="--relax: force threshold in eV/Å (default: %(default)g)")
    p.add_argument("--steps", type=NON_NEGATIVE_INT, default=500,
                   help="--relax: maximum BFGS steps (default: %(default)s)")
    p.add_argument("--helical", action="store_true",
                   help="line-group phonons of a cnt:N,M spec from its 2-atom domain (see below)")
    p.add_argument("--error-bars", type=POSITIVE_INT, default=None, metavar="N",
                   help="--helical with a kernel model: also the posterior σ of every Γ frequency from N draws of "
                   "the regression weights (e.g. 64)")
    p.add_argument("--fixed-period", action="store_true",
                   help="--helical --relax: keep the rolled-graphene period, relax only the domain (the survey's "
                   "setting)")
    p.add_argument("--interaction-range", type=POSITIVE, default=None,
                   help="range of the force constants in Å (default: num_layers × cutoff of the model)")
    p.add_argument("--batch-size", type=POSITIVE_INT, default=None,
                   help="displaced supercells per batched call (default: all; the calculator splits by memory)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_phonons)
