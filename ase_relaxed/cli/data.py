"""``ase-relaxed data``: labelled reference frames (GFN1/GFN2-xTB, Brenner, Tersoff), resumable."""

from __future__ import annotations

import argparse


def cmd_data(args: argparse.Namespace) -> int:
    from .common import check_output

    check_output(args.out, "--out")
    if args.method in ("tersoff-uniaxial", "tersoff"):
        from ..reference.broken_symmetry import BrokenCrystalConfig, generate_broken_crystal

        config = BrokenCrystalConfig(
            strength=args.strength if args.method == "tersoff-uniaxial" else 0.0, direction=list(args.direction),
            size=args.size, n_structures=args.n_structures, seed=args.seed,
            random_orientation=args.random_orientation,
        )
        path = generate_broken_crystal(args.out, config, progress=not args.quiet, resume=args.resume)
        print(f"wrote {config.n_structures} frames to {path}")
        return 0
    if args.families is not None:
        from ..reference.carbon_families import FamiliesConfig, default_families, generate_families

        config = FamiliesConfig(
            method=args.method, families=args.families if args.families not in ([], ["all"]) else default_families(),
            n_structures=args.n_structures, seed=args.seed, min_length=args.min_length, vacuum=args.vacuum,
        )
        path = generate_families(args.out, config, resume=args.resume, progress=not args.quiet)
        print(f"wrote {config.n_structures} frames to {path}")
        return 0
    from ..reference.generate import DataConfig, generate_dataset

    config = DataConfig(
        method=args.method, chiralities=args.chiralities, include_graphene=args.graphene,
        n_structures=args.n_structures, seed=args.seed, min_length=args.min_length, vacuum=args.vacuum,
    )
    path = generate_dataset(args.out, config, resume=args.resume, progress=not args.quiet)
    print(f"wrote {config.n_structures} frames to {path}")
    return 0


def add_parsers(sub) -> None:
    """``data``."""
    data = sub.add_parser(
        "data", help="generate labelled reference data (xTB or Brenner)",
        description="Generate nanotube/graphene structures (rattled, strained, thermal) and label them with a "
        "reference method; frames are appended one by one, so --resume continues a killed run.",
    )
    data.add_argument("--method", default="brenner",
                      choices=["gfn1-xtb", "gfn2-xtb", "brenner", "tersoff-uniaxial", "tersoff"],
                      help="reference method: tblite GFN1/GFN2-xTB or matscipy Brenner for nanotubes and graphene; "
                      "tersoff-uniaxial (Tersoff + hidden λ Σ (r̂·n)² bond term) or plain tersoff for the diamond "
                      "crystal of the symmetry-breaking study (default: %(default)s)")
    data.add_argument("--chiralities", nargs="+", default=["10,0", "6,6", "8,4"], metavar="N,M",
                      help="nanotube chiralities (default: %(default)s)")
    data.add_argument("--families", nargs="*", metavar="FAMILY",
                      help="instead of tubes and graphene, the carbon families of issue 15 (no name or 'all': every "
                      "one): diamond, diamond-vacancy, diamond(100)-slab, diamond(111)-slab, graphite-AB, "
                      "graphite-AA, fullerene-C60, fullerene-C20, cnt(N,M)-stone-wales, cnt(N,M)-vacancy, "
                      "graphene-stone-wales, graphene-vacancy, amorphous (Brenner melt-quench)")
    data.add_argument("--graphene", action=argparse.BooleanOptionalAction, default=True, help="include graphene")
    data.add_argument("-n", "--n-structures", type=int, default=20, help="number of frames (default: %(default)s)")
    data.add_argument("--seed", type=int, default=0, help="generator seed; the data are a function of it")
    data.add_argument("--min-length", type=float, default=17.0,
                      help="shortest periodic length in Å (xTB is Γ-only: keep ≥ 17) (default: %(default)s)")
    data.add_argument("--vacuum", type=float, default=6.0, help="vacuum around tubes, Å; one per data set")
    data.add_argument("--strength", type=float, default=1.0,
                      help="tersoff-uniaxial: λ of the hidden term in eV (default: %(default)s)")
    data.add_argument("--direction", type=float, nargs=3, default=[0.0, 0.0, 1.0], metavar=("NX", "NY", "NZ"),
                      help="tersoff-uniaxial: the broken axis n (default: z)")
    data.add_argument("--size", type=int, default=2, help="diamond: cubic cells per edge (default: %(default)s)")
    data.add_argument("--random-orientation", action="store_true",
                      help="diamond: turn every frame's crystal by its own random rotation (n stays fixed), so "
                      "the data keep only the hidden term's D∞h(n) symmetry, not the crystal's")
    data.add_argument("--out", "-o", required=True, help="extxyz file to write")
    data.add_argument("--resume", action="store_true", help="continue an existing file")
    data.add_argument("--quiet", action="store_true", help="no progress bar")
    data.set_defaults(func=cmd_data)
