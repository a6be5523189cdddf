"""The ``ase-relaxed`` command line (also ``python -m ase_relaxed``): thin subcommands over the package.

    ase-relaxed --version
    ase-relaxed models
    ase-relaxed eval FILE_OR_SPEC --model NAME_OR_PATH [--out results.extxyz]
    ase-relaxed md | relax | phonons | data | train | test | symmetry ...   (see --help of each)

One module per command (:mod:`.evaluate`, :mod:`.md`, :mod:`.phonons`, :mod:`.data`, :mod:`.train`,
:mod:`.symmetry`); the options they share are declared once in :mod:`.common`.

>>> build_parser().parse_args(["models"]).command
'models'
"""

from __future__ import annotations

import argparse
import sys

from .._version import __version__
from ..errors import AseRelaxedError
from . import data, evaluate, md, phonons, symmetry, train


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ase-relaxed",
        description="Relaxed-equivariant machine-learned potentials for ASE and phonopy.",
        epilog="Structures are any file ASE can read, or a builder spec such as cnt:10,0:length=4 or diamond:C:size=2.",
    )
    parser.add_argument("--version", action="version", version=f"ase-relaxed {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in (evaluate, md, phonons, data, train, symmetry):
        module.add_parsers(sub)
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
