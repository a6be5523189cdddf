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


def cmd_export_lammps(args: argparse.Namespace) -> int:
    from ..errors import InputError
    from ..integrations.lammps import MLIAPPotential, write_potential
    from ..integrations.lammps.setup import check_element_order, input_lines, lammps_problem, read_data_types, site_dir

    if not args.out.endswith(".pkl"):
        raise InputError(f"OUT {args.out!r} must end in .pkl (LAMMPS unpickles .pkl files; it opens .pt/.pth "
                         "with torch.load, which refuses them)")
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
    return 0


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
    export.set_defaults(func=cmd_export_lammps)
