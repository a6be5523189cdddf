"""Markdown table of the direct-force learning-curve records (benchmarks/direct_force_curve.py).

    python benchmarks/direct_force_table.py                                   # every direct_force_*.json
    python benchmarks/direct_force_table.py benchmarks/results/direct_force_curve.json
    python benchmarks/direct_force_table.py --means                           # seed means, on against off

One row per record: the settings that vary between files (δ₀, scheme, PITC/PISC ratios to the energy weight,
budget) and the test figures (energy RMSE per atom, force RMSE, consistency RMS(F + ∇E), MD stability, NVE drift).
``--means``: one row per setting, mean ± standard deviation over its seeds, and for the weak losses on, the
change against the same model, N, labels and budget without them (ΔE in %, consistency off ÷ on), over the seeds
both have.
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


def _key(record: dict, weak_settings: bool = True) -> tuple:
    s = record["config"]["settings"]
    weak = (record["weak"], s["delta"], s["distribution"], s["pitc_ratio"], s["pisc_ratio"]) if record["weak"] else (
        False,)
    return (record["forces"], record["N"], record["labels"], record["steps"]) + (weak if weak_settings else ())


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value) of seed results.

    >>> mean_std([0.010, 0.014])
    (0.012, 0.00282842712474619)
    """
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0
    return mean, std


def _mean_std(values: list[float]) -> str:
    mean, std = mean_std(values)
    return f"{mean:.2f} ± {std:.2f}" if mean >= 1 else f"{mean:.3f} ± {std:.3f}"


def means(records: list[dict]) -> list[str]:
    """Markdown rows: seed means per setting; weak-on rows also against the matching weak-off setting."""
    groups: dict[tuple, dict[int, dict]] = {}
    for record in records:
        groups.setdefault(_key(record), {})[record["seed"]] = record
    lines = ["| forces | N | labels | steps | weak | δ₀ / Å | PITC, PISC ÷ w_E | seeds | E / meV/atom | F / eV/Å "
             "| RMS(F+∇E) / eV/Å | ΔE vs off (same seeds) | RMS(F+∇E) off ÷ on |", "|" + "---|" * 13]
    for key in sorted(groups, key=str):
        by_seed = groups[key]
        forces, n, labels, steps = key[:4]
        energy = [1e3 * r["energy_rmse_per_atom"] for r in by_seed.values()]
        first = next(iter(by_seed.values()))
        s = first["config"]["settings"]
        weak = key[4]
        delta, ratios, change, factor = "–", "–", "–", "–"
        if weak:
            delta, ratios = f"{s['delta']:g}", f"{s['pitc_ratio']:g}, {s['pisc_ratio']:g}"
            off = groups.get((forces, n, labels, steps, False), {})
            common = sorted(set(off) & set(by_seed))
            if common:
                e_on = sum(by_seed[k]["energy_rmse_per_atom"] for k in common)
                e_off = sum(off[k]["energy_rmse_per_atom"] for k in common)
                c_on = sum(by_seed[k]["consistency_rms"] for k in common)
                c_off = sum(off[k]["consistency_rms"] for k in common)
                change = f"{100 * (e_on / e_off - 1):+.0f} % ({len(common)})"
                factor = f"{c_off / c_on:.2f}×" if c_on > 0 else "–"
        lines.append(f"| {forces} | {n} | {labels} | {steps} | {'on' if weak else 'off'} | {delta} | {ratios} "
                     f"| {','.join(map(str, sorted(by_seed)))} | {_mean_std(energy)} "
                     f"| {_mean_std([r['forces_rmse'] for r in by_seed.values()])} "
                     f"| {_mean_std([r['consistency_rms'] for r in by_seed.values()])} | {change} | {factor} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", type=Path, help="record files (default: every direct_force_*.json)")
    parser.add_argument("--means", action="store_true", help="seed means per setting, weak on against off")
    args = parser.parse_args(argv)
    files = args.files or sorted(RESULTS.glob("direct_force_*.json"))
    records = [r for path in files for r in json.loads(path.read_text())]
    if not records:
        raise SystemExit(f"no records in {[str(f) for f in files]}")
    if args.means:
        print("\n".join(means(records)))
        return 0
    print(HEADER)
    print("|" + "---|" * (HEADER.count("|") - 1))
    for record in sorted(records, key=lambda r: (r["forces"], r["N"], r["labels"], r["steps"], r["weak"],
                                                 r["config"]["settings"]["delta"], r["seed"])):
        print(row(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
