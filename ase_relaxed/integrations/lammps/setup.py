"""The LAMMPS side: input lines for an exported potential, element-order checks, and the LAMMPS check.

LAMMPS atom types are numbers; ``pair_coeff * * C H`` names the element of type 1, 2, ….  A data file
does not name elements, only masses, so :func:`check_element_order` compares each type's mass with the
element the order gives it (the usual way to get the order wrong):

>>> check_element_order(["H", "C"], ["C", "H"], masses={1: 12.011, 2: 1.008})
Traceback (most recent call last):
...
ase_relaxed.errors.InputError: atom type 1 has mass 12.011 (C) but the pair_coeff order gives it H: ... C H'
>>> print("\\n".join(input_lines("/tmp/c.pkl", ["C"])))
units metal
atom_style atomic
newton on
pair_style mliap unified /tmp/c.pkl 0
pair_coeff * * C
"""

from __future__ import annotations

import os
import re
from typing import Sequence

from ase.data import atomic_masses, atomic_numbers, chemical_symbols

from ...errors import InputError

#: largest |mass − element mass| (amu) that still counts as that element (isotopes, rounding)
MASS_TOLERANCE = 0.6


def input_lines(path: str | os.PathLike, elements: Sequence[str], site_dir: str | None = None) -> list[str]:
    """The lines a LAMMPS input needs (metal units: eV, Å, ps) for the potential file ``path``.

    ``site_dir``: a site-packages folder that holds ase_relaxed (e.g. a virtual environment's), added to the
    Python embedded in ``lmp`` with ``site.addsitedir`` (which, unlike PYTHONPATH, also runs its ``.pth``
    files: editable installs need that) before the pair style unpickles the potential.
    """
    lines = []
    if site_dir:
        lines.append(f'python source here "import site; site.addsitedir({os.fspath(site_dir)!r})"')
    return lines + ["units metal", "atom_style atomic", "newton on",
                    f"pair_style mliap unified {os.fspath(path)} 0", "pair_coeff * * " + " ".join(elements)]


def run_input(potential: str | os.PathLike, elements: Sequence[str], data: str, pbc: Sequence[bool],
              temperature: float = 300.0, timestep_fs: float = 0.5, steps: int = 1000, seed: int = 12345,
              site: str | None = None) -> str:
    """A complete LAMMPS input: NVE from Maxwell–Boltzmann velocities at ``temperature`` (K) for ``steps`` steps.

    Directions that are not periodic in ``pbc`` are shrink-wrapped (``boundary s``), so no image is seen
    there; thermo every 10 steps (energies eV, temperature K, pressure bar); a trajectory dump every 100.

    >>> text = run_input("c.pkl", ["C"], "tube.data", (False, False, True), steps=10)
    >>> [line for line in text.splitlines() if line.startswith(("boundary", "run"))]
    ['boundary s s p', 'run 10']
    """
    lines = input_lines(potential, elements, site)
    boundary = "boundary " + " ".join("p" if periodic else "s" for periodic in pbc)
    at = lines.index("newton on") + 1
    lines[at:at] = [boundary, f"read_data {data}"]
    masses = [f"mass {t} {atomic_masses[atomic_numbers[e]]:.6g}" for t, e in enumerate(elements, start=1)]
    velocity = [f"velocity all create {temperature:g} {seed} mom yes rot no dist gaussian"] if temperature > 0 else []
    return "\n".join([
        "# written by ase-relaxed export-lammps: NVE in metal units (eV, Å, ps; thermo: eV, K, bar)", *lines,
        *masses, *velocity, f"timestep {timestep_fs / 1000:g}", "fix integrate all nve",
        "thermo_style custom step time temp pe ke etotal press", "thermo 10",
        "dump trajectory all custom 100 trajectory.lammpstrj id type x y z fx fy fz", f"run {steps}", ""])


def site_dir() -> str:
    """The site-packages folder ase_relaxed is installed into (what ``lmp``'s embedded Python must see)."""
    import sysconfig

    return sysconfig.get_paths()["purelib"]


def _closest_element(mass: float) -> str:
    best = min(range(1, len(chemical_symbols)), key=lambda z: abs(atomic_masses[z] - mass))
    return chemical_symbols[best]


def check_element_order(elements: Sequence[str], species: Sequence[str], masses: dict[int, float] | None = None,
                        ntypes: int | None = None) -> None:
    """Raise :class:`InputError` when ``elements`` (pair_coeff order) does not fit the model or the data file.

    ``species``: the model's elements; ``masses``: atom type → mass from the data file (``Masses``);
    ``ntypes``: the data file's number of atom types.
    """
    unknown = [e for e in elements if e not in species]
    if unknown:
        raise InputError(f"element(s) {unknown} in the pair_coeff order are not known to the model, which knows "
                         f"{list(species)}: use a model trained on them, or map those types to known elements")
    ntypes = ntypes if ntypes is not None else (max(masses) if masses else None)
    if ntypes is not None and ntypes != len(elements):
        hint = " ".join(_closest_element(masses[t]) if masses and t in masses else "?" for t in range(1, ntypes + 1))
        raise InputError(f"pair_coeff names {len(elements)} element(s) {list(elements)} but the data file has "
                         f"{ntypes} atom types (masses suggest 'pair_coeff * * {hint}'): give one element per type")
    for atom_type, mass in sorted((masses or {}).items()):
        element = elements[atom_type - 1]
        if abs(atomic_masses[atomic_numbers[element]] - mass) > MASS_TOLERANCE:
            guess = _closest_element(mass)
            order = " ".join(_closest_element(m) for _, m in sorted(masses.items()))
            raise InputError(f"atom type {atom_type} has mass {mass:g} ({guess}) but the pair_coeff order gives it "
                             f"{element}: list the elements in the order of the data file's types, "
                             f"e.g. 'pair_coeff * * {order}'")


def read_data_types(path: str | os.PathLike) -> tuple[int, dict[int, float]]:
    """``(number of atom types, {type: mass})`` from a LAMMPS data file's header and ``Masses`` section.

    >>> import tempfile
    >>> f = tempfile.NamedTemporaryFile("w", suffix=".data", delete=False)
    >>> _ = f.write("x\\n\\n2 atoms\\n1 atom types\\n\\nMasses\\n\\n1 12.011\\n\\nAtoms # atomic\\n\\n"); f.close()
    >>> read_data_types(f.name)
    (1, {1: 12.011})
    """
    try:
        with open(path) as handle:
            text = handle.read()
    except UnicodeDecodeError:
        raise InputError(f"{os.fspath(path)!r} is not a LAMMPS data file (not text)") from None
    found = re.search(r"^\s*(\d+)\s+atom\s+types\s*$", text, flags=re.MULTILINE)
    if not found:
        raise InputError(f"{os.fspath(path)!r} is not a LAMMPS data file (no 'N atom types' line in its header)")
    ntypes = int(found.group(1))
    masses: dict[int, float] = {}
    section = re.search(r"^\s*Masses\s*(#.*)?$\n\s*\n((?:\s*\d+\s+[-+.\deE]+.*\n?)+)", text, flags=re.MULTILINE)
    if section:
        for line in section.group(2).splitlines():
            parts = line.split()
            if len(parts) >= 2:
                masses[int(parts[0])] = float(parts[1])
    return ntypes, masses


def lammps_problem() -> str | None:
    """None if ``import lammps`` gives a LAMMPS that can run the potential, else what is wrong and what to do."""
    build = "build one with scripts/build_lammps.sh and `. PREFIX/env.sh`"
    try:
        import lammps
    except ImportError:
        return f"no LAMMPS Python module (import lammps failed): {build}"
    try:
        lmp = lammps.lammps(cmdargs=["-nocite", "-log", "none", "-screen", "none"])
    except Exception as error:  # noqa: BLE001 - a broken install shows up here in many ways
        return f"the LAMMPS Python module cannot start LAMMPS ({error}): {build}"
    try:
        missing = [p for p in ("ML-IAP", "PYTHON") if not lmp.has_package(p)]
        if missing:
            return f"this LAMMPS lacks the package(s) {missing} that `pair_style mliap unified` needs: {build}"
        if not hasattr(lmp.lib, "PyInit_mliap_unified_couple"):
            return f"this LAMMPS has ML-IAP without its Python coupling (MLIAP_ENABLE_PYTHON off): {build}"
    finally:
        lmp.close()
    return None
