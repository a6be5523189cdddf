"""What every subcommand shares: the model options, reading one structure, making the calculator.

The options ``--model/--device/--dtype/--compile`` (and ``--index`` where a command reads one frame) are declared
here once; each subcommand module calls :func:`add_model_options`.

>>> import argparse
>>> parser = argparse.ArgumentParser()
>>> add_model_options(parser)
>>> parser.parse_args([]).model
'carbon-gfn1'
"""

from __future__ import annotations

import argparse
import math
from typing import Callable

from ..errors import InputError
from ..pretrained import DEFAULT_MODEL

MODEL_HELP = (f"model: a shipped name (see `ase-relaxed models`) or a .safetensors file (default: {DEFAULT_MODEL}, "
              "the GFN1-xTB carbon model; demo-carbon-random has random weights, for smoke tests only)")
DTYPE_HELP = ("float64 (default, whatever the model file stores: float32 round-off ruins finite differences, "
              "phonons and tight relaxations) or float32 (opt-in, 1.6-2.3x faster on CPU; "
              "benchmarks/results/dtype_cost.json)")
COMPILE_HELP = ("run the model through torch.compile (inductor): the first evaluation compiles (about a minute on "
                "CPU), later ones reuse it for any positions and atom count; pays off for long MD and large "
                "structures (benchmarks/results/compile.json). Not for kernel models")


def add_model_options(parser: argparse.ArgumentParser, *, index: str | None = None, suppress: bool = False,
                      allow_close: bool = False) -> None:
    """``--model/-m``, ``--device``, ``--dtype``, ``--compile``; ``--index`` when ``index`` gives its default;
    ``--allow-close``.

    ``suppress=True`` leaves unset options out of the namespace (``md`` merges them with a config file and a
    checkpoint, so that only flags actually given override those).
    """
    default = (lambda value: argparse.SUPPRESS) if suppress else (lambda value: value)
    parser.add_argument("--model", "-m", default=default(DEFAULT_MODEL), help=MODEL_HELP)
    parser.add_argument("--device", default=default("auto"), help="auto (CUDA if available), cpu or cuda "
                        "(default: auto)")
    parser.add_argument("--dtype", choices=["float32", "float64"], default=default(None), help=DTYPE_HELP)
    parser.add_argument("--compile", action="store_true", default=default(False), help=COMPILE_HELP)
    if index is not None:
        what = "all, ':'" if index == ":" else f"{index}, the last" if index == "-1" else index
        parser.add_argument("--index", default=default(index),
                            help=f"frames to read from a multi-frame file, ASE syntax (default: {what})")
    if allow_close:
        parser.add_argument("--allow-close", action="store_true",
                            help="evaluate even if atoms are closer than 0.5 Å (warn only)")


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (``PROG: error: ...``) with exit status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def number(low: float | None = None, high: float | None = None, *, low_open: bool = False, high_open: bool = False,
           integer: bool = False) -> Callable[[str], float]:
    """An argparse ``type`` for a finite number in [low, high] (open ends with ``low_open``/``high_open``).

    >>> number(0, low_open=True)("0.5"), number(1, integer=True)("3")
    (0.5, 3)
    >>> number(0, low_open=True)("inf")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: 'inf' is not a finite number > 0
    """
    parts = [f"{'>' if low_open else '>='} {low:g}" if low is not None else "",
             f"{'<' if high_open else '<='} {high:g}" if high is not None else ""]
    what = ("an integer" if integer else "a finite number") + "".join(f" {p}" for p in parts if p)
    what = what.replace(" <", " and <") if low is not None and high is not None else what

    def parse(text: str) -> float:
        try:
            value = int(text) if integer else float(text)
        except ValueError:
            value = math.nan
        ok = math.isfinite(value) and (low is None or value > low or (not low_open and value == low)) and (
            high is None or value < high or (not high_open and value == high))
        if not ok:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
        return value

    parse.__name__ = what  # argparse names the type in its messages
    return parse


POSITIVE = number(0, low_open=True)
POSITIVE_INT = number(1, integer=True)
NON_NEGATIVE_INT = number(0, integer=True)
FRACTION = number(0, 1, low_open=True, high_open=True)


def read_one(structure: str, index: str):
    """The one frame ``index`` of ``structure`` (a file or a builder spec); a clear error for several."""
    from ..structures import read_structures

    frames = read_structures(structure, index)
    if len(frames) != 1:
        raise InputError(f"--index {index!r} selects {len(frames)} frames of {structure!r}; pick one (e.g. -1)")
    return frames[0]


def make_calculator(options, **kwargs):
    """A :class:`~ase_relaxed.RelaxedCalculator` from parsed options (``model``, ``device``, ``dtype``, ``compile``)."""
    from ..calculator import RelaxedCalculator

    return RelaxedCalculator(options.model, device=options.device, dtype=options.dtype,
                             compile=bool(getattr(options, "compile", False)), **kwargs)


def check_output(path: str | None, flag: str, directory: bool = False) -> None:
    """Fail before any work when ``path`` (given with ``flag``) cannot be written.

    A file needs an existing, writable parent folder and must not be a folder; a folder (``directory``)
    must not be a file, and its nearest existing ancestor must be writable. Writability is probed by
    creating a temporary file there (root passes permission checks, a read-only file system does not).
    ``None`` and ``"none"`` mean no output.
    """
    import tempfile
    from pathlib import Path

    if path is None or str(path).lower() == "none":
        return
    target = Path(path)
    if directory:
        if target.exists() and not target.is_dir():
            raise InputError(f"{flag} {str(path)!r} exists and is not a folder")
        parent = target
        while not parent.exists():
            parent = parent.parent
    else:
        if target.is_dir():
            raise InputError(f"{flag} {str(path)!r} is a folder; give a file name")
        parent = target.parent
        if not parent.is_dir():
            raise InputError(f"{flag} {str(path)!r}: the folder {str(parent)!r} does not exist")
    try:
        with tempfile.TemporaryFile(dir=parent):
            pass
    except OSError as error:
        raise InputError(f"{flag} {str(path)!r}: cannot write in {str(parent)!r} ({error.strerror})") from None


# -- farms: many structures, a scheduler, an ASE database ---------------------------------------------------
FARM_UNITS = {"e_per_atom": "eV/atom", "max_force": "eV/Å", "e_initial": "eV", "e_final": "eV", "fmax_final": "eV/Å",
              "gamma_min_cm": "cm⁻¹", "gamma_max_cm": "cm⁻¹", "rbm": "cm⁻¹", "g_plus_axial": "cm⁻¹",
              "g_minus_circumferential": "cm⁻¹", "g_top": "cm⁻¹", "diameter_A": "Å", "epot_final": "eV",
              "temperature_final": "K", "steps_per_s": "steps/s"}


def add_farm_options(parser: argparse.ArgumentParser, quiet: bool = False) -> None:
    """``--db`` and ``--scheduler`` (and ``--quiet`` with ``quiet``): one task per structure into an ASE database."""
    parser.add_argument("--db", default=None, help="farm mode: ASE database of the results, a file (SQLite) or "
                        "any URL ase.db supports; rows already ok are skipped on a rerun (default with several "
                        "structures or --scheduler: farm.db)")
    parser.add_argument("--scheduler", default=None, help="farm mode: local:N (a Dask LocalCluster of N "
                        "single-thread workers) or the address of a running Dask scheduler (tcp://host:8786); "
                        "default: this process, one structure after the other")
    if quiet:
        parser.add_argument("--quiet", "-q", action="store_true", help="farm mode: no progress bar")


def farm_mode(args: argparse.Namespace, structures: list[str]) -> bool:
    """Farm when several structures, a glob, ``--db`` or ``--scheduler`` are given; else the one-structure path."""
    import re
    from pathlib import Path

    globbed = any(re.search(r"[*?\[]", s) and not Path(s).exists() for s in structures)
    return len(structures) > 1 or globbed or getattr(args, "db", None) is not None or \
        getattr(args, "scheduler", None) is not None


def _describe(record: dict) -> str:
    values = dict(record["values"])
    atoms = record["atoms"]
    parts = []
    if atoms is not None and atoms.calc is not None and "energy" in atoms.calc.results:
        parts.append(f"E {atoms.calc.results['energy']:.6f} eV")
    for name, value in values.items():
        if isinstance(value, float) and name in FARM_UNITS:
            parts.append(f"{name} {value:.6g} {FARM_UNITS[name]}")
        elif isinstance(value, bool):
            parts.append(f"{name} {value}")
    return ", ".join(parts)


def run_farm_command(args: argparse.Namespace, kind: str, jobs: list, settings: dict, on_close: str = "error") -> int:
    """Run a farm of ``kind`` from parsed options; one line per finished task, a summary with provenance.

    Exit status 0 when every task is ok, 1 when some failed (their rows hold the error).
    """
    import sys

    from tqdm import tqdm

    from .._version import __version__
    from ..integrations import farm

    db = args.db or "farm.db"
    farm.parse_scheduler(args.scheduler)  # a bad scheduler fails before any work
    model = {"model": args.model, "device": args.device, "dtype": args.dtype, "on_close": on_close}
    if getattr(args, "compile", False):  # not a setting: the numbers are the eager ones
        model["compile"] = True

    def report(record: dict) -> None:
        status = "ok" if record["status"] == "ok" else "FAILED"
        detail = _describe(record) if record["status"] == "ok" else record["error"]
        tqdm.write(f"{status:6s} {record['key']}: {detail} ({record['wall_s']:.1f} s)")  # above the progress bar

    quiet = getattr(args, "quiet", False)
    result = farm.run_farm(kind, jobs, settings, model, db, scheduler=args.scheduler, progress=not quiet,
                           on_record=report)
    print(f"# farm {kind}: {result.total} structure(s), {result.skipped} already in {db} (skipped), "
          f"{result.ok} ok, {result.failed} failed in {result.wall_s:.1f} s on {args.scheduler or 'this process'} | "
          f"model {args.model} (sha256 {result.meta['model_sha256'][:12]}), ase_relaxed {__version__}, "
          f"settings {result.meta['settings_hash']}")
    if result.failed:
        print(f"ase-relaxed {args.command}: warning: {result.failed} task(s) failed; their rows in {db} hold the "
              "error (a rerun retries them)", file=sys.stderr)
        return 1
    return 0
