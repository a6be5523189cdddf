"""``ase-relaxed models`` and ``ase-relaxed eval``: the shipped models, and single points of every frame.

``eval`` with several structures, a glob, ``--db`` or ``--scheduler`` is a farm (one task per frame into an
ASE database, :mod:`ase_relaxed.integrations.farm`; docs/farms.md).
"""

from __future__ import annotations

import argparse

from ..errors import AseRelaxedError
from .common import add_farm_options, add_model_options, check_output, farm_mode, make_calculator, run_farm_command


def cmd_models(args: argparse.Namespace) -> int:
    from ..pretrained import list_pretrained

    for name, description in list_pretrained().items():
        print(f"{name:24s} {description}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from ase import units
    from ase.calculators.calculator import all_properties
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.io import write

    from ..graph import is_3d_periodic
    from ..provenance import provenance_info
    from ..structures import read_structures

    if farm_mode(args, args.structure):
        from ..integrations.farm import expand_sources

        jobs = expand_sources(args.structure, args.index)
        return run_farm_command(args, "eval", jobs, {},
                                on_close="warn" if args.allow_close else "error")
    args.structure = args.structure[0]
    check_output(args.out, "--out")
    frames = read_structures(args.structure, args.index)
    calc = make_calculator(args, on_close="warn" if args.allow_close else "error")
    provenance, frame_info = calc.todict(), provenance_info(calc)
    print(f"# model {args.model} (sha256 {str(provenance['model_sha256'])[:12]}, {provenance['forces']} forces, "
          f"{calc.dtype}, {calc.device}), ase_relaxed {provenance['version']}; {len(frames)} structure(s)")
    if calc.domain is not None:
        print(f"# domain: largest descriptor distance of the frame's atoms to the training environments, in units of "
              f"their coverage radius; above {calc.domain.factor:g} an atom is outside what the model has seen")
    domain_header = f" {'domain max (outside)':>21}" if calc.domain is not None else ""
    if calc.has_forces_std:
        print("# max σ_F: the largest posterior force standard deviation of the frame (per component), eV/Å")
        domain_header += f" {'max σ_F/(eV/Å)':>14}"
    print(f"{'frame':>5} {'atoms':>6} {'energy/eV':>14} {'E/atom/eV':>11} {'max|F|/(eV/Å)':>14} "
          f"{'stress/GPa (xx yy zz)':>24}{domain_header}")
    results = []
    for k, atoms in enumerate(frames):
        atoms = atoms.copy()
        atoms.calc = calc
        properties = ["energy", "forces"] + (["stress"] if is_3d_periodic(atoms) else [])
        properties += ["forces_std"] if calc.has_forces_std else []
        try:
            calc.calculate(atoms, properties)
        except AseRelaxedError as error:
            raise type(error)(f"frame {k}: {error}") from None
        # ASE's properties only: the calculator may add its own results (e.g. domain_distance)
        atoms.calc = SinglePointCalculator(atoms, **{k: v for k, v in calc.results.items() if k in all_properties})
        energy = calc.results["energy"]
        fmax = float((calc.results["forces"] ** 2).sum(axis=1).max() ** 0.5)
        stress = "n/a (not 3D periodic)"
        if "stress" in calc.results:
            s = calc.results["stress"][:3] / units.GPa
            stress = " ".join(f"{x:7.3f}" for x in s)
        domain = ""
        if calc.domain_distance is not None:
            atoms.arrays["domain_distance"] = calc.domain_distance
            outside = int((calc.domain_distance > calc.domain.factor).sum())
            domain = f" {calc.domain_distance.max():12.2f} ({outside:5d})"
        if "forces_std" in calc.results:
            atoms.arrays["forces_std"] = calc.results["forces_std"]
            domain += f" {calc.results['forces_std'].max():14.6f}"
        atoms.info.update({**frame_info, "forces_kind": provenance["forces"]})
        print(f"{k:5d} {len(atoms):6d} {energy:14.6f} {energy / len(atoms):11.6f} {fmax:14.6f} {stress:>24}{domain}")
        results.append(atoms)
    write(args.out, results, format="extxyz")
    print(f"# wrote {args.out}")
    return 0


def add_parsers(sub) -> None:
    """``models`` and ``eval``."""
    models = sub.add_parser("models", help="list the shipped models")
    models.set_defaults(func=cmd_models)

    evaluate = sub.add_parser(
        "eval",
        help="single-point energy, forces and stress of every frame of a file",
        description="Evaluate every frame of STRUCTURE: prints energy, energy per atom, the largest force and "
        "(for 3D-periodic cells) the diagonal stress; writes an extxyz with the results.",
    )
    evaluate.add_argument("structure", nargs="+", help="a file ASE can read, or a builder spec (e.g. "
                          "cnt:10,0:length=4); several, or globs, run as a farm (one task per frame, --db)")
    evaluate.add_argument("--out", "-o", default="results.extxyz", help="output extxyz (default: %(default)s)")
    add_model_options(evaluate, index=":", allow_close=True)
    add_farm_options(evaluate, quiet=True)
    evaluate.set_defaults(func=cmd_eval)
