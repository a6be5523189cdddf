"""``ase-relaxed export-lammps MODEL OUT``: the file LAMMPS's ``pair_style mliap unified`` loads.

    ase-relaxed export-lammps carbon-gfn1 carbon.pkl [--dtype float64] [--elements C] [--data in.data]
                              [--check-lammps]

Writes OUT (a pickle of :class:`~ase_relaxed.integrations.lammps.MLIAPPotential`: the model's safetensors
bytes plus provenance) and prints the provenance, the element order and the LAMMPS input lines.
``--elements`` is the pair_coeff order (one element per atom type; default: the model's species);
``--data`` checks it against a LAMMPS data file's atom types and masses; ``--check-lammps`` checks that
the ``lammps`` Python module here has ML-IAP with its Python coupling. Bad input is one line, exit 2.

>>> parser = argparse.ArgumentParser(); sub = parser.add_subparsers()
>>> add_parsers(sub)
>>> parser.parse_args(["export-lammps", "carbon-gfn1", "c.pkl", "--elements", "C"]).elements
['C']
"""

from __future__ import annotations

import argparse
import os

from ..errors import InputError
from .common import NON_NEGATIVE_INT, POSITIVE, check_output, number


def cmd_export_lammps(args: argparse.Namespace) -> int:
    from ..integrations.lammps import MLIAPPotential, write_potential
    from ..integrations.lammps.setup import check_element_order, input_lines, lammps_problem, read_data_types, site_dir

    if not args.out.endswith(".pkl"):
        raise InputError(f"OUT {args.out!r} must end in .pkl (LAMMPS unpickles .pkl files; it opens .pt/.pth "
                         "with torch.load, which refuses them)")
    if args.run_dir and not args.structure:
        raise InputError("--run-dir needs --structure (a file ASE reads or a builder spec such as cnt:10,0:length=25)")
    if args.structure and not args.run_dir:
        raise InputError("--structure is written only with --run-dir DIR (the folder for structure.data, in.lammps)")
    check_output(args.out, "OUT")
    if args.run_dir:
        check_output(args.run_dir, "--run-dir", directory=True)
    if args.check_lammps:
        problem = lammps_problem()
        if problem:
            raise InputError(problem)
    potential = MLIAPPotential(args.model, dtype=args.dtype, name=args.model)
    elements = args.elements or potential.element_types
    ntypes, masses = read_data_types(args.data) if args.data else (None, None)
    check_element_order(elements, potential.element_types, masses, ntypes)
    digest = write_potential(potential, args.out)
    p = potential.provenance
    print(f"# wrote {args.out} (sha256 {digest[:12]}): model {p['model']} (sha256 {str(p['model_sha256'])[:12]}, "
          f"{p['model_kind']}, {p['dtype']}), ase_relaxed {p['package_version']}, format {p['format']}")
    print(f"# element order (atom type 1, 2, ...): {' '.join(elements)}; the model knows {potential.element_types}")
    print(f"# receptive field {p['receptive_field']:g} Å ({p['num_layers']} layer(s) × {p['cutoff']:g} Å): the pair "
          "cutoff LAMMPS uses, exact on any number of MPI ranks")
    print("# for a LAMMPS with ML-IAP + PYTHON (scripts/build_lammps.sh); with mpirun -np N set OMP_NUM_THREADS "
          "to cores/N (torch threads per rank). Input lines:")
    for line in input_lines(os.path.abspath(args.out), elements, site_dir()):
        print(line)
    if args.run_dir:
        write_run_dir(args, elements)
    return 0


def write_run_dir(args: argparse.Namespace, elements: list[str]) -> None:
    """``--run-dir``: the structure as a LAMMPS data file and an NVE input next to it, ready for mpirun."""
    from pathlib import Path

    import ase.io

    from ..integrations.lammps.setup import run_input, site_dir
    from .common import read_one

    atoms = read_one(args.structure, "-1")
    unknown = sorted(set(atoms.get_chemical_symbols()) - set(elements))
    if unknown:
        raise InputError(f"--structure {args.structure!r} has element(s) {unknown} that the element order "
                         f"{elements} (--elements) does not name")
    folder = Path(args.run_dir)
    folder.mkdir(parents=True, exist_ok=True)
    ase.io.write(folder / "structure.data", atoms, format="lammps-data", specorder=elements, masses=True,
                 units="metal")
    text = run_input(os.path.abspath(args.out), elements, "structure.data", tuple(bool(p) for p in atoms.pbc),
                     temperature=args.temperature, timestep_fs=args.timestep, steps=args.steps, site=site_dir())
    (folder / "in.lammps").write_text(text)
    print(f"# wrote {folder / 'structure.data'} ({len(atoms)} atoms, pbc {''.join('TF'[not p] for p in atoms.pbc)}) "
          f"and {folder / 'in.lammps'} (NVE, {args.steps} steps of {args.timestep:g} fs from {args.temperature:g} K)")
    print(f"# run it: cd {folder} && OMP_NUM_THREADS=1 mpirun -np 2 lmp -in in.lammps   (or: lmp -in in.lammps)")


def add_parsers(sub) -> None:
    """``export-lammps``."""
    export = sub.add_parser(
        "export-lammps",
        help="write a model as a LAMMPS `pair_style mliap unified` file",
        description="Write MODEL as the file `pair_style mliap unified OUT 0` loads and print the LAMMPS input "
        "lines. Exact for multi-layer models on any number of MPI ranks (docs/lammps.md).",
    )
    export.add_argument("model", help="a shipped model name (see `ase-relaxed models`) or a .safetensors file")
    export.add_argument("out", help="the file to write (.pkl)")
    export.add_argument("--dtype", choices=["float32", "float64"], default=None,
                        help="compute in this dtype inside LAMMPS (default: the model file's own)")
    export.add_argument("--elements", nargs="+", default=None, metavar="SYMBOL",
                        help="pair_coeff element order, one per atom type (default: the model's species)")
    export.add_argument("--data", default=None, help="a LAMMPS data file to check the element order against "
                        "(its atom types and Masses)")
    export.add_argument("--check-lammps", action="store_true",
                        help="also check that `import lammps` here gives ML-IAP with its Python coupling")
    run = export.add_argument_group("a ready-to-run NVE input (optional)")
    run.add_argument("--run-dir", default=None, metavar="DIR",
                     help="write DIR/structure.data (from --structure) and DIR/in.lammps (NVE, velocities from "
                     "--temperature) for `lmp -in in.lammps` or `mpirun -np N lmp -in in.lammps`")
    run.add_argument("--structure", default=None, help="with --run-dir: a file ASE reads or a builder spec "
                     "(cnt:10,0:length=25, diamond:C:size=4)")
    run.add_argument("--temperature", type=number(0), default=300.0, help="initial temperature, K (default: 300)")
    run.add_argument("--timestep", type=POSITIVE, default=0.5, help="time step, fs (default: 0.5)")
    run.add_argument("--steps", type=NON_NEGATIVE_INT, default=1000, help="NVE steps (default: 1000)")
    export.set_defaults(func=cmd_export_lammps)
