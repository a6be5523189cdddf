"""Figures of the shipped kernel model (issue 17): the on-the-fly run and the Γ phonons with error bars.

    python scripts/plot_kernel_model.py [--calls FILE] [--result benchmarks/results/carbon-gfn1-kernel.json]

Writes docs/figures/kernel_on_the_fly.png (every reference call: the largest predicted σ that triggered it
against σ_tol, and the model's force RMSE at that frame before adding it) and
docs/figures/kernel_phonons_error_bars.png (kernel Γ frequencies ± posterior σ against GFN1-xTB's for the
held-out tubes, and the deviations with their error bars).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ROOT / "docs" / "figures"


def plot_run(calls_path: Path, path: Path) -> None:
    calls = [r for r in map(json.loads, calls_path.read_text().splitlines()) if "call" in r]
    index = np.arange(len(calls))
    sigma = np.array([r["sigma"] if r["sigma"] is not None else np.nan for r in calls])
    tol = np.array([r["tol"] for r in calls])
    error = np.array([r.get("force_rmse_before", np.nan) for r in calls])
    temperature = np.array([r["temperature"] for r in calls])
    fig = Figure(figsize=(10, 4))
    FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2)
    scatter = left.scatter(index, sigma, c=temperature, cmap="plasma", s=14, label="max σ_F (model) at the call")
    left.plot(index, tol, color="0.4", lw=0.8, label="σ_tol")
    left.set(xlabel="reference call", ylabel="eV/Å", title="what triggered each GFN1-xTB call")
    left.legend(fontsize=8)
    fig.colorbar(scatter, ax=left, label="T (K)")
    right.scatter(index, error, c=temperature, cmap="plasma", s=14)
    right.set(xlabel="reference call", ylabel="force RMSE before adding the frame (eV/Å)",
              title="out-of-sample error at every call")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def plot_phonons(result: dict, path: Path) -> None:
    fig = Figure(figsize=(10, 4.2))
    FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2)
    for k, (tube, entry) in enumerate(result["phonons"].items()):
        ours, std = np.array(entry["kernel"]["gamma"]), np.array(entry["kernel"]["gamma_std"])
        ref = np.array(entry["gfn1"]["gamma"])
        keep = np.abs(ref) > 1.0
        label = f"({tube}): RMS {entry['kernel']['rms']:.1f} cm⁻¹"
        left.errorbar(ref[keep], ours[keep], yerr=std[keep], fmt="o", ms=2.5, lw=0.6, color=f"C{k}", label=label)
        right.errorbar(ref[keep], (ours - ref)[keep], yerr=2 * std[keep], fmt="o", ms=2.5, lw=0.6, color=f"C{k}")
    top = max(max(e["gfn1"]["gamma"]) for e in result["phonons"].values())
    left.plot([0, top], [0, top], color="0.5", lw=0.6)
    left.set(xlabel="GFN1-xTB Γ frequency (cm⁻¹)", ylabel="kernel (cm⁻¹), ± 1σ",
             title="held-out tubes, helical route")
    left.legend(fontsize=8)
    right.axhline(0.0, color="0.5", lw=0.6)
    right.set(xlabel="GFN1-xTB Γ frequency (cm⁻¹)", ylabel="kernel − GFN1-xTB (cm⁻¹), ± 2σ",
              title="deviations and posterior error bars")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    results = ROOT / "benchmarks" / "results"
    parser.add_argument("--calls", type=Path, default=results / "carbon-gfn1-kernel_calls.jsonl")
    parser.add_argument("--result", type=Path, default=results / "carbon-gfn1-kernel.json")
    args = parser.parse_args()
    FIGURES.mkdir(parents=True, exist_ok=True)
    plot_run(args.calls, FIGURES / "kernel_on_the_fly.png")
    plot_phonons(json.loads(args.result.read_text()), FIGURES / "kernel_phonons_error_bars.png")
    print(f"wrote {FIGURES / 'kernel_on_the_fly.png'} and {FIGURES / 'kernel_phonons_error_bars.png'}")


if __name__ == "__main__":
    main()
