"""The ``ase-relaxed`` command line: thin subcommands over the package.

    ase-relaxed --version
    ase-relaxed models
    ase-relaxed eval FILE_OR_SPEC --model NAME_OR_PATH [--out results.extxyz]
    ase-relaxed md | relax | phonons | data | train | test | symmetry ...   (see --help of each)
"""

from __future__ import annotations

import argparse
import sys

from . import __version__
from .errors import AseRelaxedError

MODEL_HELP = "model: a shipped name (see `ase-relaxed models`) or a .safetensors file (default: %(default)s)"


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", "-m", default="carbon-gfn1", help=MODEL_HELP)
    parser.add_argument("--device", default="auto", help="auto (CUDA if available), cpu or cuda (default: auto)")
    parser.add_argument("--dtype", choices=["float32", "float64"], default=None, help="override the model's dtype")
    parser.add_argument(
        "--allow-close", action="store_true", help="evaluate even if atoms are closer than 0.5 Å (warn only)"
    )


def cmd_models(args: argparse.Namespace) -> int:
    from .pretrained import list_pretrained

    for name, description in list_pretrained().items():
        print(f"{name:24s} {description}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from ase import units
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.io import write

    from .calculator import RelaxedCalculator
    from .graph import is_3d_periodic
    from .structures import read_structures

    frames = read_structures(args.structure, args.index)
    calc = RelaxedCalculator(
        args.model, device=args.device, dtype=args.dtype, on_close="warn" if args.allow_close else "error"
    )
    print(f"# model {args.model} ({calc.dtype}, {calc.device}); {len(frames)} structure(s)")
    print(f"{'frame':>5} {'atoms':>6} {'energy/eV':>14} {'E/atom/eV':>11} {'max|F|/(eV/Å)':>14} "
          f"{'stress/GPa (xx yy zz)':>24}")
    results = []
    for k, atoms in enumerate(frames):
        atoms = atoms.copy()
        atoms.calc = calc
        properties = ["energy", "forces"] + (["stress"] if is_3d_periodic(atoms) else [])
        try:
            calc.calculate(atoms, properties)
        except AseRelaxedError as error:
            raise type(error)(f"frame {k}: {error}") from None
        atoms.calc = SinglePointCalculator(atoms, **calc.results)
        energy = calc.results["energy"]
        fmax = float((calc.results["forces"] ** 2).sum(axis=1).max() ** 0.5)
        stress = "n/a (not 3D periodic)"
        if "stress" in calc.results:
            s = calc.results["stress"][:3] / units.GPa
            stress = " ".join(f"{x:7.3f}" for x in s)
        print(f"{k:5d} {len(atoms):6d} {energy:14.6f} {energy / len(atoms):11.6f} {fmax:14.6f} {stress:>24}")
        results.append(atoms)
    write(args.out, results, format="extxyz")
    print(f"# wrote {args.out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ase-relaxed",
        description="Relaxed-equivariant machine-learned potentials for ASE and phonopy.",
        epilog="Structures are any file ASE can read, or a builder spec such as cnt:10,0:length=4 or diamond:C:size=2.",
    )
    parser.add_argument("--version", action="version", version=f"ase-relaxed {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    models = sub.add_parser("models", help="list the shipped models")
    models.set_defaults(func=cmd_models)

    evaluate = sub.add_parser(
        "eval",
        help="single-point energy, forces and stress of every frame of a file",
        description="Evaluate every frame of STRUCTURE: prints energy, energy per atom, the largest force and "
        "(for 3D-periodic cells) the diagonal stress; writes an extxyz with the results.",
    )
    evaluate.add_argument("structure", help="a file ASE can read, or a builder spec (e.g. cnt:10,0:length=4)")
    evaluate.add_argument("--index", default=":", help="frames to read, ASE syntax (default: all, ':')")
    evaluate.add_argument("--out", "-o", default="results.extxyz", help="output extxyz (default: %(default)s)")
    _add_common(evaluate)
    evaluate.set_defaults(func=cmd_eval)

    from .md.md_cli import add_md_parsers
    from .phonons_cli import add_phonons_parser
    from .relaxed.symmetry_cli import add_symmetry_parser
    from .train.train_cli import add_data_parser, add_train_parsers

    add_md_parsers(sub)
    add_phonons_parser(sub)
    add_data_parser(sub)
    add_train_parsers(sub)
    add_symmetry_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return args.func(args)
    except AseRelaxedError as error:
        print(f"ase-relaxed {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
