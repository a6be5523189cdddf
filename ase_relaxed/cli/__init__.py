"""The ``ase-relaxed`` command line (also ``python -m ase_relaxed``): thin subcommands over the package.

    ase-relaxed --version
    ase-relaxed models
    ase-relaxed eval FILE_OR_SPEC --model NAME_OR_PATH [--out results.extxyz]
    ase-relaxed md | relax | phonons | data | train | test | symmetry ...   (see --help of each)

One module per command (:mod:`.evaluate`, :mod:`.md`, :mod:`.phonons`, :mod:`.data`, :mod:`.train`,
:mod:`.symmetry`); the options they share are declared once in :mod:`.common`.

Every failure is one line on stderr: exit status 2 for bad input (an
:class:`~ase_relaxed.errors.AseRelaxedError`, an unreadable or unwritable file, too little memory),
1 for an internal error, with the hint to rerun with ``--debug`` (anywhere on the line) or
``ASE_RELAXED_DEBUG=1`` for the traceback; 130 when SIGINT/SIGTERM stopped a run, which MD, training
and data generation do at a safe point after saving a checkpoint that ``--resume`` continues.

>>> build_parser().parse_args(["models"]).command
'models'
"""

from __future__ import annotations

import argparse
import os
import sys

from .._version import __version__
from ..errors import AseRelaxedError, Interrupted
from ..interrupt import graceful_stop
from . import data, evaluate, lammps, learn, md, phonons, rg, symmetry, train
from .common import OneLineParser

DEBUG_ENV = "ASE_RELAXED_DEBUG"


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="ase-relaxed",
        description="Relaxed-equivariant machine-learned potentials for ASE and phonopy.",
        epilog="Structures are any file ASE can read, or a builder spec such as cnt:10,0:length=4 or diamond:C:size=2. "
        f"Errors are one line (exit 2 for bad input, 1 for a bug); --debug or {DEBUG_ENV}=1 shows the traceback.",
    )
    parser.add_argument("--version", action="version", version=f"ase-relaxed {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in (evaluate, md, phonons, data, train, symmetry, rg, lammps, learn):
        module.add_parsers(sub)
    return parser


def _file_error(error: OSError) -> str:
    if error.filename:
        return f"cannot use {error.filename!r}: {error.strerror or error}"
    return f"{error.strerror or error} (while reading or writing a file)"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv or os.environ.get(DEBUG_ENV, "") not in ("", "0")
    argv = [a for a in argv if a != "--debug"]
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help, --version, or a usage error already printed on one line
        return int(stop.code or 0) if not isinstance(stop.code, str) else 2
    if args.command is None:
        parser.print_help()
        return 0
    name = f"ase-relaxed {args.command}"
    try:
        with graceful_stop():
            return args.func(args)
    except Interrupted as error:
        print(f"{name}: interrupted: {error}", file=sys.stderr)
        return 130
    except KeyboardInterrupt as error:
        print(f"{name}: interrupted by {error or 'SIGINT'} (checkpoints written so far are kept)", file=sys.stderr)
        return 130
    except AseRelaxedError as error:
        if debug:
            raise
        print(f"{name}: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        if debug:
            raise
        print(f"{name}: error: {_file_error(error)}", file=sys.stderr)
        return 2
    except MemoryError:
        if debug:
            raise
        print(f"{name}: error: out of memory; try a smaller structure, --dtype float32, or fewer replicas",
              file=sys.stderr)
        return 2
    except Exception as error:  # noqa: BLE001 - the one place that turns bugs into one line
        if debug:
            raise
        print(f"{name}: internal error: {type(error).__name__}: {error} (a bug: rerun with --debug or "
              f"{DEBUG_ENV}=1 for the traceback, and please report it)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
