"""Figure of the direct-force learning curve (benchmarks/direct_force_curve.py records, issue 16).

    python benchmarks/direct_force_plot.py            # every direct_force_*.json → docs/figures/direct_force_curve.png
    python benchmarks/direct_force_plot.py --labels energy    # → docs/figures/direct_force_curve_energy.png
    python benchmarks/direct_force_plot.py --delta 0.003 --pitc-ratio 333 --min-steps 1200 --png out.png

One setting of the weak losses (δ₀, PITC ratio to w_E, budget floor; default the one of docs/weak-supervision.md,
"The learning curve: three seeds at δ₀ = 0.003 Å") and its weak-off control, for one label set.  Three panels
against the number N of labelled structures, log-log: test energy RMSE per atom, test force RMSE, and the
consistency error RMS(F + ∇E) of the direct model (zero by construction for a conservative one).  Markers are
seed means, bars one sample standard deviation; colour = model kind, solid = with PITC + PISC, dashed = without.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from direct_force_table import RESULTS, mean_std

ROOT = RESULTS.parents[1]
PANELS = (("energy_rmse_per_atom", 1e3, "test energy RMSE (meV/atom)"),
          ("forces_rmse", 1.0, "test force RMSE (eV/Å)"),
          ("consistency_rms", 1.0, "RMS(F + ∇E) (eV/Å)"))
COLOURS = {"direct": "tab:red", "conservative": "tab:blue"}


def selected(records: list[dict], delta: float, pitc_ratio: float, min_steps: int,
             labels: str = "energy+forces") -> list[dict]:
    """The records of one weak-loss setting, and every weak-off record (which δ₀ and the ratios do not touch),
    of one label type and budget floor."""
    def keep(record: dict) -> bool:
        s = record["config"]["settings"]
        weak_matches = not record["weak"] or (math.isclose(s["delta"], delta)
                                              and math.isclose(s["pitc_ratio"], pitc_ratio))
        return record["labels"] == labels and s["min_steps"] == min_steps and weak_matches
    return [r for r in records if keep(r)]


def curves(records: list[dict], name: str, scale: float = 1.0) -> dict[tuple[str, bool], list[tuple]]:
    """(forces, weak) → sorted [(N, mean, sample std, seeds)] of ``name`` × ``scale``.

    >>> r = [{"forces": "direct", "weak": True, "N": 8, "seed": s, "energy_rmse_per_atom": e}
    ...      for s, e in ((0, 0.010), (1, 0.014))]
    >>> curves(r, "energy_rmse_per_atom", 1e3)[("direct", True)][0][:3]
    (8, 12.0, 2.8284271247461903)
    """
    values: dict[tuple[str, bool, int], dict[int, float]] = {}
    for r in records:
        values.setdefault((r["forces"], bool(r["weak"]), int(r["N"])), {})[r["seed"]] = scale * float(r[name])
    out: dict[tuple[str, bool], list[tuple]] = {}
    for (forces, weak, n), by_seed in sorted(values.items()):
        mean, std = mean_std(list(by_seed.values()))
        out.setdefault((forces, weak), []).append((n, mean, std, len(by_seed)))
    return out


def plot(records: list[dict], png: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, axes = plt.subplots(1, len(PANELS), figsize=(4.2 * len(PANELS), 3.8), constrained_layout=True)
    for ax, (name, scale, label) in zip(axes, PANELS):
        for (forces, weak), points in curves(records, name, scale).items():
            if name == "consistency_rms" and forces == "conservative":
                continue  # zero by construction
            n, mean, std, seeds = zip(*points)
            ax.errorbar(n, mean, yerr=std, color=COLOURS.get(forces, "k"), ls="-" if weak else "--",
                        marker="o" if weak else "s", mfc=None if weak else "none", capsize=3,
                        label=f"{forces}, {'with' if weak else 'without'} PITC+PISC ({max(seeds)} seeds)")
        ax.set(xscale="log", yscale="log", xlabel="labelled structures N", ylabel=label)
        ns = sorted({int(r["N"]) for r in records})
        ax.set_xticks(ns, [str(v) for v in ns])
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))  # 0.2, not 2 × 10⁻¹
        ax.yaxis.set_minor_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=130)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", type=Path, help="record files (default: every direct_force_*.json)")
    parser.add_argument("--delta", type=float, default=0.003, help="δ₀ in Å of the weak-on runs (default 0.003)")
    parser.add_argument("--pitc-ratio", type=float, default=333.0, help="PITC weight / w_E (default 333)")
    parser.add_argument("--min-steps", type=int, default=1200, help="budget floor of the runs (default 1200)")
    parser.add_argument("--labels", choices=("energy+forces", "energy"), default="energy+forces",
                        help="label set of the runs (default energy+forces)")
    parser.add_argument("--png", type=Path, help="default docs/figures/direct_force_curve.png, "
                        "direct_force_curve_energy.png for --labels energy")
    args = parser.parse_args(argv)
    png = args.png or ROOT / "docs" / "figures" / (
        "direct_force_curve.png" if args.labels == "energy+forces" else "direct_force_curve_energy.png")
    files = args.files or sorted(RESULTS.glob("direct_force_*.json"))
    records = selected([r for path in files for r in json.loads(path.read_text())],
                       args.delta, args.pitc_ratio, args.min_steps, args.labels)
    if not any(r["weak"] for r in records):
        print(f"error: no {args.labels} records with δ₀ = {args.delta} Å, PITC ratio {args.pitc_ratio} and budget "
              f"floor {args.min_steps} steps in {len(files)} files", file=sys.stderr)
        return 2
    title = (f"GFN1-xTB carbon, held-out tubes (11,0), (6,6), (7,4); {args.labels} labels; δ₀ = {args.delta:g} Å "
             f"centred, PITC {args.pitc_ratio:g}× w_E; ≥ {args.min_steps} steps")
    plot(records, png, title)
    print(f"{len(records)} records → {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
