"""Plot and tabulate the weak-supervision learning curve written by ``piwsl_learning_curve.py``.

    python benchmarks/piwsl_plot.py                     # benchmarks/results/piwsl_learning_curve.{json → png}
    python benchmarks/piwsl_plot.py --results r.json --png r.png

The figure has three panels against the number N of labelled structures: test energy RMSE per atom and test
force RMSE (log-log), and the MD stable fraction; markers are means over seeds, bars one standard deviation;
colour = label type, solid = with PITC + PISC, dashed = without.  The markdown table on stdout gives mean ± std
per (labels, N) without and with the weak losses, and the relative change of the mean energy RMSE,
100 × (with / without − 1) %: negative means the losses helped.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_RESULTS = ROOT / "benchmarks" / "results" / "piwsl_learning_curve.json"
COLOURS = {"energy": "tab:blue", "energy+forces": "tab:red"}
METRICS = (("energy_rmse_per_atom", 1e3, "test energy RMSE (meV/atom)", True),
           ("forces_rmse", 1.0, "test force RMSE (eV/Å)", True),
           ("md_stable_fraction", 1.0, "MD stable fraction", False))


def group(records: list[dict]) -> dict[tuple[str, int, bool], list[dict]]:
    """Records by (labels, N, weak)."""
    groups: dict[tuple[str, int, bool], list[dict]] = defaultdict(list)
    for record in records:
        groups[(str(record["labels"]), int(record["N"]), bool(record["weak"]))].append(record)
    return dict(groups)


def stats(records: list[dict], name: str, scale: float = 1.0) -> tuple[float, float]:
    """Mean and (population) standard deviation of a metric over records (seeds); NaN if there are none."""
    values = np.array([float(r[name]) * scale for r in records], dtype=float)
    if not len(values):
        return float("nan"), float("nan")
    return float(values.mean()), float(values.std())


def _cell(records: list[dict], name: str, scale: float, digits: int) -> str:
    mean, std = stats(records, name, scale)
    return "–" if np.isnan(mean) else f"{mean:.{digits}f} ± {std:.{digits}f}"


def markdown_table(records: list[dict]) -> str:
    """One row per (labels, N): metrics without | with the weak losses, and the relative energy change."""
    groups = group(records)
    keys = sorted({(labels, n) for labels, n, _ in groups}, key=lambda k: (k[0], k[1]))
    lines = ["| labels | N | seeds | E RMSE w/o (meV/atom) | E RMSE with | ΔE | F RMSE w/o (eV/Å) | F RMSE with "
             "| MD stable w/o | MD stable with |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for labels, n in keys:
        off, on = groups.get((labels, n, False), []), groups.get((labels, n, True), [])
        e_off, e_on = stats(off, "energy_rmse_per_atom")[0], stats(on, "energy_rmse_per_atom")[0]
        change = f"{100 * (e_on / e_off - 1):+.1f} %" if off and on and e_off > 0 else "–"
        lines.append(
            f"| {labels} | {n} | {len(off)}/{len(on)} | {_cell(off, 'energy_rmse_per_atom', 1e3, 2)} "
            f"| {_cell(on, 'energy_rmse_per_atom', 1e3, 2)} | {change} | {_cell(off, 'forces_rmse', 1, 3)} "
            f"| {_cell(on, 'forces_rmse', 1, 3)} | {_cell(off, 'md_stable_fraction', 1, 2)} "
            f"| {_cell(on, 'md_stable_fraction', 1, 2)} |"
        )
    return "\n".join(lines)


def plot(records: list[dict], png: Path) -> Path:
    """Write the three-panel learning-curve figure to ``png``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, NullFormatter

    plain = FuncFormatter(lambda value, _: f"{value:g}")
    groups = group(records)
    all_sizes = sorted({n for _, n, _ in groups})
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    for ax, (name, scale, label, log) in zip(axes, METRICS):
        for labels in sorted({k[0] for k in groups}):
            for weak in (False, True):
                sizes = sorted(n for lab, n, w in groups if lab == labels and w == weak)
                if not sizes:
                    continue
                values = np.array([stats(groups[(labels, n, weak)], name, scale) for n in sizes])
                ax.errorbar(sizes, values[:, 0], yerr=values[:, 1], color=COLOURS.get(labels, "k"),
                            ls="-" if weak else "--", marker="o" if weak else "s", capsize=3,
                            label=f"{labels}, {'with' if weak else 'without'} PITC+PISC")
        ax.set_xscale("log")
        ax.set_xticks(all_sizes)
        ax.xaxis.set_major_formatter(plain)
        ax.xaxis.set_minor_formatter(NullFormatter())
        if log:
            ax.set_yscale("log")
            ax.yaxis.set_major_formatter(plain)
            ax.yaxis.set_minor_formatter(plain)
            ax.tick_params(axis="y", which="minor", labelsize=7)
        else:
            ax.set_ylim(-0.05, 1.05)
        ax.set(xlabel="labelled structures N", ylabel=label)
        ax.grid(alpha=0.3, which="both")
    axes[0].legend(fontsize=8)
    seeds = sorted({int(r["seed"]) for r in records})
    fig.suptitle(f"Physics-informed weak supervision on Brenner carbon nanotubes (seeds {seeds}, "
                 f"{records[0]['steps'] if records else '?'} steps)")
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=120)
    plt.close(fig)
    return png


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="the JSON list of run records")
    parser.add_argument("--png", type=Path, help="figure path (default: the results path with .png)")
    args = parser.parse_args(argv)
    if not args.results.exists():
        print(f"no results at {args.results}; run benchmarks/piwsl_learning_curve.py first", file=sys.stderr)
        return 1
    records = json.loads(args.results.read_text())
    if not records:
        print(f"{args.results} holds no runs yet", file=sys.stderr)
        return 1
    png = plot(records, args.png or args.results.with_suffix(".png"))
    print(markdown_table(records))
    print(f"\nfigure: {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
