"""What every subcommand shares: the model options, reading one structure, making the calculator.

The options ``--model/--device/--dtype`` (and ``--index`` where a command reads one frame) are declared
here once; each subcommand module calls :func:`add_model_options`.

>>> import argparse
>>> parser = argparse.ArgumentParser()
>>> add_model_options(parser)
>>> parser.parse_args([]).model
'carbon-gfn1'
"""

from __future__ import annotations

import argparse

from ..errors import InputError
from ..pretrained import DEFAULT_MODEL

MODEL_HELP = (f"model: a shipped name (see `ase-relaxed models`) or a .safetensors file (default: {DEFAULT_MODEL}, "
              "the GFN1-xTB carbon model; demo-carbon-random has random weights, for smoke tests only)")
DTYPE_HELP = "override the model's dtype (float64 recommended for phonons, relaxation and NVE)"


def add_model_options(parser: argparse.ArgumentParser, *, index: str | None = None, suppress: bool = False,
                      allow_close: bool = False) -> None:
    """``--model/-m``, ``--device``, ``--dtype``; ``--index`` when ``index`` gives its default; ``--allow-close``.

    ``suppress=True`` leaves unset options out of the namespace (``md`` merges them with a config file and a
    checkpoint, so that only flags actually given override those).
    """
    default = (lambda value: argparse.SUPPRESS) if suppress else (lambda value: value)
    parser.add_argument("--model", "-m", default=default(DEFAULT_MODEL), help=MODEL_HELP)
    parser.add_argument("--device", default=default("auto"), help="auto (CUDA if available), cpu or cuda "
                        "(default: auto)")
    parser.add_argument("--dtype", choices=["float32", "float64"], default=default(None), help=DTYPE_HELP)
    if index is not None:
        what = "all, ':'" if index == ":" else f"{index}, the last" if index == "-1" else index
        parser.add_argument("--index", default=default(index),
                            help=f"frames to read from a multi-frame file, ASE syntax (default: {what})")
    if allow_close:
        parser.add_argument("--allow-close", action="store_true",
                            help="evaluate even if atoms are closer than 0.5 Å (warn only)")


def read_one(structure: str, index: str):
    """The one frame ``index`` of ``structure`` (a file or a builder spec); a clear error for several."""
    from ..structures import read_structures

    frames = read_structures(structure, index)
    if len(frames) != 1:
        raise InputError(f"--index {index!r} selects {len(frames)} frames of {structure!r}; pick one (e.g. -1)")
    return frames[0]


def make_calculator(options, **kwargs):
    """A :class:`~ase_relaxed.RelaxedCalculator` from parsed options (``model``, ``device``, ``dtype``)."""
    from ..calculator import RelaxedCalculator

    return RelaxedCalculator(options.model, device=options.device, dtype=options.dtype, **kwargs)
