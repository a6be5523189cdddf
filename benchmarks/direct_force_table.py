"""Markdown table of the direct-force learning-curve records (benchmarks/direct_force_curve.py).

    python benchmarks/direct_force_table.py                                   # every direct_force_*.json
    python benchmarks/direct_force_table.py benchmarks/results/direct_force_curve.json

One row per record: the settings that vary between files (δ₀, scheme, PITC/PISC ratios to the energy weight,
budget) and the test figures (energy RMSE per atom, force RMSE, consistency RMS(F + ∇E), MD stability, NVE drift).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
HEADER = ("| forces | N | labels | weak | δ₀ / Å | PITC, PISC ÷ w_E | steps (best) | E / meV/atom | F / eV/Å "
          "| RMS(F+∇E) / eV/Å | MD stable | NVE drift / meV/atom/ps |")


def row(record: dict) -> str:
    s = record["config"]["settings"]
    weak = "on" if record["weak"] else "off"
    ratios = f"{s['pitc_ratio']:g}, {s['pisc_ratio']:g}" if record["weak"] else "–"
    delta = f"{s['delta']:g} ({s['distribution']})" if record["weak"] else "–"
    drift = record.get("nve_drift_meV_per_atom_ps")
    drift_text = "–" if drift is None else ("blew up" if math.isinf(drift) else f"{drift:.0f}")
    return (f"| {record['forces']} | {record['N']} | {record['labels']} | {weak} | {delta} | {ratios} "
            f"| {record['steps']} ({record['best_step']}) | {1e3 * record['energy_rmse_per_atom']:.2f} "
            f"| {record['forces_rmse']:.3f} | {record['consistency_rms']:.3f} | {record['md_stable_fraction']:.2f} "
            f"| {drift_text} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", type=Path, help="record files (default: every direct_force_*.json)")
    args = parser.parse_args(argv)
    files = args.files or sorted(RESULTS.glob("direct_force_*.json"))
    records = [r for path in files for r in json.loads(path.read_text())]
    if not records:
        raise SystemExit(f"no records in {[str(f) for f in files]}")
    print(HEADER)
    print("|" + "---|" * (HEADER.count("|") - 1))
    for record in sorted(records, key=lambda r: (r["forces"], r["N"], r["labels"], r["steps"], r["weak"],
                                                 r["config"]["settings"]["delta"], r["seed"])):
        print(row(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
