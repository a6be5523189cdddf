"""``ase-relaxed symmetry MODEL``: which symmetry did a relaxed model's θ break?"""

from __future__ import annotations

import argparse
import json

from .common import FRACTION, check_output, number


def cmd_symmetry(args: argparse.Namespace) -> int:
    from ..calculator import resolve_model
    from ..provenance import provenance
    from ..relaxed.report import symmetry_breaking_report

    check_output(args.plot, "--plot")
    check_output(args.json, "--json")

    model = resolve_model(args.model)
    report = symmetry_breaking_report(model, floor=args.floor, tol=args.tol)
    print(report.format())
    if args.scan is not None:
        from ..relaxed.report import tolerance_scan

        tolerances = args.scan or (0.01, 0.02, 0.05, 0.1, 0.2)
        rows = tolerance_scan(model, tolerances, floor=args.floor)
        print("tolerance scan: " + " · ".join(f"{row['tol']:g} → {row['schoenflies']}" for row in rows))
    if args.plot:
        print(f"wrote {report.plot(args.plot)}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({**report.to_dict(), "provenance": provenance(model, model=args.model, date=True)}, handle,
                      indent=2)
        print(f"wrote {args.json}")
    return 0


def add_parsers(sub) -> None:
    parser = sub.add_parser(
        "symmetry", help="read back the symmetry a relaxed model broke",
        description="Print the norm of every θ block per layer of a relaxed model (Hofgard et al. 2024), the "
        "largest point group that leaves all θ unchanged (Schoenflies and Hermann-Mauguin names) and its "
        "principal axis; optionally plot the blocks and their l=1, l=2 parts as spherical signals.",
    )
    parser.add_argument("model", help="a relaxed .safetensors model or a shipped name")
    parser.add_argument("--floor", type=number(0, 1, high_open=True), default=0.02,
                        help="blocks with norm below FLOOR × |θ_0e| count as zero (default: %(default)s)")
    parser.add_argument("--tol", type=FRACTION, default=0.05,
                        help="relative tolerance of D(g)θ = θ (default: %(default)s)")
    parser.add_argument("--scan", type=FRACTION, nargs="*", default=None, metavar="TOL",
                        help="also print the group at each of these tolerances (bare --scan: 0.01 0.02 0.05 "
                        "0.1 0.2), to see how far θ is from a higher symmetry")
    parser.add_argument("--plot", default=None, metavar="PNG", help="write the θ plot here")
    parser.add_argument("--json", default=None, help="also write the report as JSON")
    parser.set_defaults(func=cmd_symmetry)
