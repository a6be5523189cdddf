"""Structures from files or from short builder specs used on the command line.

Specs: ``cnt:N,M[:length=L][:vacuum=V][:bond=B]`` (a nanotube periodic along z),
``diamond:SYMBOL[:size=K][:a=A]``, ``graphene[:size=K]``, ``molecule:NAME``.

>>> len(read_structures("cnt:10,0:length=2")[0])
80
"""

from __future__ import annotations

from pathlib import Path

from ase import Atoms

from .errors import InputError

SPECS = "cnt:N,M[:length=L][:vacuum=V][:bond=B] | diamond:SYMBOL[:size=K][:a=A] | graphene[:size=K] | molecule:NAME"


def _options(parts: list[str]) -> dict[str, str]:
    options = {}
    for part in parts:
        if "=" not in part:
            raise InputError(f"builder option {part!r} should look like key=value")
        key, value = part.split("=", 1)
        options[key] = value
    return options


def build_nanotube(n: int, m: int, length: int = 1, vacuum: float = 6.0, bond: float = 1.42) -> Atoms:
    """An (n, m) nanotube, periodic along z (pbc = F, F, T), centred in a vacuum box."""
    from ase.build import nanotube

    tube = nanotube(n, m, length=length, bond=bond)
    tube.pbc = [False, False, True]
    tube.center(vacuum=vacuum, axis=(0, 1))
    return tube


def from_spec(spec: str) -> Atoms:
    """Build a structure from a builder spec (see :data:`SPECS`)."""
    kind, *rest = spec.split(":")
    try:
        if kind == "cnt":
            if not rest:
                raise InputError("cnt needs a chirality, e.g. cnt:10,0")
            n, m = (int(x) for x in rest[0].split(","))
            o = _options(rest[1:])
            length, vacuum, bond = int(o.get("length", 1)), float(o.get("vacuum", 6.0)), float(o.get("bond", 1.42))
            return build_nanotube(n, m, length, vacuum, bond)
        if kind == "diamond":
            from ase.build import bulk

            symbol = rest[0] if rest else "C"
            o = _options(rest[1:])
            kwargs = {"a": float(o["a"])} if "a" in o else {}
            size = int(o.get("size", 1))
            return bulk(symbol, "diamond", cubic=True, **kwargs).repeat(size)
        if kind == "graphene":
            from ase.build import graphene

            o = _options(rest)
            size = int(o.get("size", 1))
            sheet = graphene(vacuum=6.0).repeat((size, size, 1))
            sheet.pbc = [True, True, False]
            return sheet
        if kind == "molecule":
            from ase.build import molecule

            return molecule(rest[0])
    except (ValueError, KeyError, IndexError) as error:
        raise InputError(f"cannot build {spec!r}: {error}; specs: {SPECS}") from None
    raise InputError(f"{spec!r} is neither an existing file nor a builder spec ({SPECS})")


def read_structures(source: str, index: str = ":") -> list[Atoms]:
    """All frames (``index``) of a file ASE can read, or one structure from a spec."""
    path = Path(source)
    if path.exists():
        from ase.io import read

        try:
            frames = read(str(path), index=index)
        except Exception as error:  # ASE raises many kinds for unreadable files
            raise InputError(f"cannot read structures from {source!r}: {error}") from None
        return frames if isinstance(frames, list) else [frames]
    if ":" in source or source in ("graphene",):
        return [from_spec(source)]
    raise InputError(f"file {source!r} does not exist (nor is it a builder spec: {SPECS})")
