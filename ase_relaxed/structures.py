"""Structures from files or from short builder specs used on the command line.

Specs: ``cnt:N,M[:length=L][:vacuum=V][:bond=B]`` (a nanotube periodic along z),
``diamond:SYMBOL[:size=K][:a=A]``, ``graphene[:size=K][:vacuum=V]``, ``molecule:NAME[:vacuum=V]``.
Every option is checked where the spec is read: unknown or misspelt options, non-numbers,
non-positive sizes and lengths, negative vacuum and structures larger than :data:`MAX_ATOMS`
are one clear :class:`~ase_relaxed.errors.InputError`, never a silent default.

An (n, m) tube has 2N_c = 4(n² + nm + m²)/d_R atoms per translational cell, d_R = gcd(2n+m, 2m+n)
(:func:`ase_relaxed.symmetry.atoms_per_cell`), so its size is known before it is built:

>>> len(read_structures("cnt:10,0:length=2")[0])
80
>>> from_spec("cnt:5,0:lenght=4")
Traceback (most recent call last):
...
ase_relaxed.errors.InputError: cnt:5,0:lenght=4: unknown option 'lenght'; cnt takes length, vacuum, bond
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
from ase import Atoms

from .errors import InputError
from .symmetry import atoms_per_cell

SPECS = ("cnt:N,M[:length=L][:vacuum=V][:bond=B] | diamond:SYMBOL[:size=K][:a=A] | graphene[:size=K][:vacuum=V] "
         "| molecule:NAME[:vacuum=V]")
#: the largest structure a spec may build (memory: a million atoms and their neighbour list take a few GB)
MAX_ATOMS = 1_000_000


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError("must be a positive integer")
    return value


def _float_at_least(minimum: float, strict: bool) -> Callable[[str], float]:
    def parse(text: str) -> float:
        value = float(text)
        if not np.isfinite(value) or value < minimum or (strict and value == minimum):
            raise ValueError(f"must be a finite number {'>' if strict else '>='} {minimum:g}")
        return value

    return parse


# option name -> (parser, default) for every builder
OPTIONS: dict[str, dict[str, tuple[Callable[[str], object], object]]] = {
    "cnt": {"length": (_positive_int, 1), "vacuum": (_float_at_least(0.0, False), 6.0),
            "bond": (_float_at_least(0.0, True), 1.42)},
    "diamond": {"size": (_positive_int, 1), "a": (_float_at_least(0.0, True), None)},
    "graphene": {"size": (_positive_int, 1), "vacuum": (_float_at_least(0.0, False), 6.0)},
    "molecule": {"vacuum": (_float_at_least(0.0, False), None)},
}


def _options(spec: str, kind: str, parts: list[str]) -> dict[str, object]:
    """Typed options of a spec: ``key=value`` parts checked against :data:`OPTIONS` ``[kind]``."""
    known = OPTIONS[kind]
    values = {key: default for key, (_, default) in known.items()}
    for part in parts:
        key, sep, text = part.partition("=")
        if not sep:
            raise InputError(f"{spec}: builder option {part!r} should look like key=value")
        if key not in known:
            raise InputError(f"{spec}: unknown option {key!r}; {kind} takes {', '.join(known)}")
        try:
            values[key] = known[key][0](text)
        except ValueError as error:
            reason = str(error) if str(error).startswith("must") else "is not a number"
            raise InputError(f"{spec}: {key}={text!r} {reason}") from None
    return values


def _check_size(spec: str, n_atoms: int) -> None:
    if n_atoms > MAX_ATOMS:
        raise InputError(f"{spec} would have {n_atoms:,} atoms, more than the {MAX_ATOMS:,} a spec may build "
                         "(memory); build it in Python if you mean it")


def build_nanotube(n: int, m: int, length: int = 1, vacuum: float = 6.0, bond: float = 1.42) -> Atoms:
    """An (n, m) nanotube, periodic along z (pbc = F, F, T), centred in a vacuum box."""
    from ase.build import nanotube

    tube = nanotube(n, m, length=length, bond=bond)
    tube.pbc = [False, False, True]
    tube.center(vacuum=vacuum, axis=(0, 1))
    return tube


def _chirality(spec: str, rest: list[str]) -> tuple[int, int]:
    if not rest or not rest[0]:
        raise InputError(f"{spec}: cnt needs a chirality, e.g. cnt:10,0")
    try:
        n, m = (int(x) for x in rest[0].split(","))
    except ValueError:
        raise InputError(f"{spec}: the chirality must be two integers N,M (e.g. cnt:10,0), got {rest[0]!r}") from None
    if n < 0 or m < 0 or n + m == 0:
        raise InputError(f"{spec}: chirality ({n},{m}) must have N, M >= 0 and not both 0")
    return n, m


def _cnt(spec: str, rest: list[str]) -> Atoms:
    n, m = _chirality(spec, rest)
    o = _options(spec, "cnt", rest[1:])
    _check_size(spec, atoms_per_cell(n, m) * o["length"])
    return build_nanotube(n, m, o["length"], o["vacuum"], o["bond"])


def _diamond(spec: str, rest: list[str]) -> Atoms:
    from ase.build import bulk
    from ase.data import atomic_numbers

    symbol = rest[0] if rest and rest[0] else "C"
    if symbol not in atomic_numbers:
        raise InputError(f"{spec}: {symbol!r} is not a chemical symbol")
    o = _options(spec, "diamond", rest[1:])
    _check_size(spec, 8 * o["size"] ** 3)
    try:
        crystal = bulk(symbol, "diamond", cubic=True, **({"a": o["a"]} if o["a"] else {}))
    except (ValueError, KeyError) as error:
        raise InputError(f"{spec}: {error} (give the lattice constant, e.g. {spec}:a=5.43)") from None
    return crystal.repeat(o["size"])


def _graphene(spec: str, rest: list[str]) -> Atoms:
    from ase.build import graphene

    o = _options(spec, "graphene", rest)
    _check_size(spec, 2 * o["size"] ** 2)
    sheet = graphene(vacuum=o["vacuum"]).repeat((o["size"], o["size"], 1))
    sheet.pbc = [True, True, False]
    return sheet


def _molecule(spec: str, rest: list[str]) -> Atoms:
    from ase.build import molecule
    from ase.collections import g2

    if not rest or rest[0] not in g2.names:
        raise InputError(f"{spec}: molecule needs a name from ASE's g2 set (e.g. molecule:CH4, molecule:C6H6)")
    o = _options(spec, "molecule", rest[1:])
    atoms = molecule(rest[0])
    if o["vacuum"] is not None:
        atoms.center(vacuum=o["vacuum"])
    return atoms


BUILDERS: dict[str, Callable[[str, list[str]], Atoms]] = {
    "cnt": _cnt, "diamond": _diamond, "graphene": _graphene, "molecule": _molecule,
}


def from_spec(spec: str) -> Atoms:
    """Build a structure from a builder spec (see :data:`SPECS`)."""
    kind, *rest = spec.split(":")
    if kind not in BUILDERS:
        raise InputError(f"{spec!r} is neither an existing file nor a builder spec ({SPECS})")
    return BUILDERS[kind](spec, rest)


def _read_file(path: Path, index: str) -> list[Atoms]:
    from ase.io import read

    try:
        frames = read(str(path), index=index)
    except Exception as error:  # ASE raises many kinds for unreadable files
        reason = str(error) or f"not a valid {path.suffix or 'structure'} file ({type(error).__name__})"
        raise InputError(f"cannot read structures from {str(path)!r}: {reason}") from None
    frames = frames if isinstance(frames, list) else [frames]
    if not frames or any(len(atoms) == 0 for atoms in frames):
        raise InputError(f"{str(path)!r} holds no atoms (an empty or unreadable file, or --index {index!r} "
                         "selects no frame)")
    return frames


def read_structures(source: str, index: str = ":") -> list[Atoms]:
    """All frames (``index``) of a file ASE can read, or one structure from a spec."""
    path = Path(source)
    if path.is_dir():
        raise InputError(f"{source!r} is a directory, not a structure file")
    if path.exists():
        return _read_file(path, index)
    if ":" in source or source in BUILDERS:
        return [from_spec(source)]
    raise InputError(f"file {source!r} does not exist (nor is it a builder spec: {SPECS})")
