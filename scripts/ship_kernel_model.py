"""Evaluate an on-the-fly kernel run head to head with carbon-gfn1, and ship it as ``carbon-gfn1-kernel`` (issue 17).

    ase-relaxed learn runs/carbon-gfn1-kernel                     # the run (GFN1-xTB, resumable), defaults
    python scripts/ship_kernel_model.py runs/carbon-gfn1-kernel   # this script: figures, then ship
    python scripts/ship_kernel_model.py RUN --no-ship --out x.json  # figures only

Measured, for the kernel model and for carbon-gfn1 in the same run:

* held-out energy/force RMSE on the frames carbon-gfn1 was tested on (data/carbon_gfn1.extxyz, chiralities
  (11,0), (6,6), (7,4), 60 frames, GFN1-xTB); for the kernel also the calibration of its predictive force σ
  (fraction of components with |ΔF| ≤ σ and ≤ 2σ; 0.683 / 0.954 for a calibrated Gaussian);
* Γ phonons of the held-out tubes by the helical route against GFN1-xTB's own helical phonons
  (benchmarks/results/nanotube_phonon_survey.json, same segment, period fixed, each method at its own relaxed
  domain): RMS and max over the sorted non-zero modes, G⁺/G⁻ splitting, and for the kernel the posterior
  σ of every mode (``--samples`` draws) with its 1σ/2σ coverage of the GFN1 frequencies, as drawn and with
  the posterior widened by κ (:func:`posterior_scale`, from the run's own out-of-sample force errors);
* the run's cost: GFN1 calls, reference and fit time; evaluation time of one energy+forces call on a 160-atom
  (10,0) tube (median of 5): kernel full tube, kernel domain (symmetry-adapted), carbon-gfn1.

Writes benchmarks/results/carbon-gfn1-kernel.json (or ``--out``); shipping also copies the run's labelled frames to
data/carbon_gfn1_kernel_references.extxyz and its call log to benchmarks/results/carbon-gfn1-kernel_calls.jsonl.
Run with OMP_NUM_THREADS=2 on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from shipping import ROOT, register  # noqa: E402

TEST = ["cnt(11,0)", "cnt(6,6)", "cnt(7,4)"]
N_ZERO = 4  # 3 translations + the twist


def held_out_errors(calc_factory, frames) -> dict:
    de, df, fref, z = [], [], [], []
    for atoms in frames:
        copy = atoms.copy()
        copy.calc = calc_factory()
        de.append((copy.get_potential_energy() - atoms.get_potential_energy()) / len(atoms))
        error = copy.get_forces() - atoms.get_forces()
        df.append(error.ravel())
        fref.append(atoms.get_forces().ravel())
        if "forces_std" in copy.calc.results:
            z.append(np.abs(error.ravel()) / copy.calc.results["forces_std"].ravel())
    de, df, fref = np.array(de), np.concatenate(df), np.concatenate(fref)
    out = {"structures": len(frames), "energy_rmse_per_atom": float(np.sqrt(np.mean(de**2))),
           "energy_mae_per_atom": float(np.abs(de).mean()), "forces_rmse": float(np.sqrt(np.mean(df**2))),
           "forces_mae": float(np.abs(df).mean()), "forces_std": float(fref.std())}
    out["forces_rmse_over_std"] = out["forces_rmse"] / out["forces_std"]
    if z:
        z = np.concatenate(z)
        out["forces_sigma_calibration"] = {"within_1sigma": float(np.mean(z <= 1)),
                                           "within_2sigma": float(np.mean(z <= 2))}
    return out


def posterior_scale(calls: list[dict]) -> float:
    """κ ≥ 1 with which the posterior S, scaled to κ²S, explains the out-of-sample force errors of the run.

    At every call (after the first) the model's RMSE at the new frame, before adding it, is known, together with
    the RMS of its model σ there and the noise 1/√β_F of the model in use: κ² = mean(rmse² − 1/β_F) / mean(σ²).
    BLR takes the 3N force rows of a frame as independent; they are not, so S comes out too narrow. κ uses only
    the training run, never the held-out tubes.
    """
    excess, variance = [], []
    for previous, call in zip(calls, calls[1:]):
        if "force_rmse_before" in call and call.get("sigma_model_rms"):
            excess.append(call["force_rmse_before"] ** 2 - 1.0 / previous["beta"])
            variance.append(call["sigma_model_rms"] ** 2)
    return float(np.sqrt(max(1.0, np.mean(excess) / np.mean(variance)))) if variance else 1.0


def phonon_comparison(model, gnn, survey: dict, samples: int, kappa: float = 1.0) -> dict:
    from carbon_model_report import phonon_figures

    from ase_relaxed import RelaxedCalculator
    from ase_relaxed.phonons import gamma_modes, helical_phonons
    from ase_relaxed.phonons.helical_uncertainty import calibration, helical_phonons_with_error_bars

    out = {}
    for key in ("11,0", "6,6", "7,4"):
        n, m = (int(x) for x in key.split(","))
        ref = survey["gfn1"][key]
        gfn1 = np.sort(ref["gamma_frequencies"])
        start = time.perf_counter()
        post = helical_phonons_with_error_bars(n, m, model, n_samples=samples, n_cells=ref["n_cells"],
                                               relax_period=False)
        seconds = time.perf_counter() - start
        ours = np.sort(post.gamma_frequencies)
        modes = gamma_modes(post.mean)
        diff = ours[N_ZERO:] - gfn1[N_ZERO:]
        std = post.gamma_std[np.argsort(post.gamma_frequencies)]  # the calibrated model's: κ² S
        gnn_ph = helical_phonons(n, m, RelaxedCalculator(gnn, dtype="float64"), n_cells=ref["n_cells"],
                                 relax_period=False)
        split = lambda e: e["g_minus_circumferential"] - e["g_plus_axial"]  # noqa: E731
        out[key] = {
            "kernel": {"rms": float(np.sqrt(np.mean(diff**2))), "max": float(np.abs(diff).max()),
                       "rbm": modes["rbm"], "g_plus": modes["g_plus_axial"],
                       "g_minus": modes["g_minus_circumferential"],
                       "g_splitting": split(modes), "seconds": seconds, "n_samples": samples,
                       "calibration_raw": calibration(ours, std / kappa, gfn1), "kappa": kappa,
                       "calibration": calibration(ours, std, gfn1),
                       "gamma": ours.tolist(), "gamma_std": std.tolist()},
            "carbon-gfn1": phonon_figures(gnn_ph, ref),
            "gfn1": {"rbm": ref["rbm"], "g_plus": ref["g_plus_axial"], "g_minus": ref["g_minus_circumferential"],
                     "g_splitting": split(ref), "gamma": gfn1.tolist()},
        }
        k, g = out[key]["kernel"], out[key]["gfn1"]
        print(f"({key}) Γ RMS kernel {k['rms']:.2f} cm⁻¹ (max {k['max']:.1f}), carbon-gfn1 "
              f"{out[key]['carbon-gfn1']['rms']:.2f}; G splitting kernel {k['g_splitting']:.1f}, GFN1 "
              f"{g['g_splitting']:.1f} cm⁻¹; GFN1 within 1σ {k['calibration']['within_1sigma']:.2f}, 2σ "
              f"{k['calibration']['within_2sigma']:.2f} (mean σ {k['calibration']['mean_std']:.2f} cm⁻¹, κ = "
              f"{kappa:.2f}); uncalibrated (κ = 1): {k['calibration_raw']['within_1sigma']:.2f}, "
              f"{k['calibration_raw']['within_2sigma']:.2f}", flush=True)
    return out


def per_episode(calls: list[dict]) -> dict:
    episodes = sorted({(r["tube"], r["temperature"]) for r in calls}, key=lambda x: (x[1], x[0]))
    return {f"({t}) {T:.0f} K": sum(1 for r in calls if (r["tube"], r["temperature"]) == (t, T)) for t, T in episodes}


def median_time(calc, atoms, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats + 1):
        copy = atoms.copy()
        calc.reset()  # forget the last results (and cached design rows): every call computes
        getattr(calc, "rows_cache", {}).clear()
        copy.calc = calc
        start = time.perf_counter()
        copy.get_forces()
        times.append(time.perf_counter() - start)
    return float(np.median(times[1:]))


def speed(model, gnn) -> dict:
    from ase_relaxed import RelaxedCalculator
    from ase_relaxed.kernel.rows_calculator import KernelRowsCalculator
    from ase_relaxed.kernel.symmetry_calculator import SymmetryAdaptedCalculator
    from ase_relaxed.symmetry import build_from_domain

    atoms = build_from_domain(10, 0, n_cells=4)
    return {"atoms": len(atoms), "structure": "(10,0) tube, 4 cells",
            "kernel_full_s": median_time(RelaxedCalculator(model), atoms),
            "kernel_rows_with_sigma_s": median_time(KernelRowsCalculator(model), atoms),
            "kernel_domain_s": median_time(SymmetryAdaptedCalculator(model, uncertainty=False), atoms),
            "carbon_gfn1_float32_s": median_time(RelaxedCalculator(gnn, dtype="float32"), atoms),
            "carbon_gfn1_float64_s": median_time(RelaxedCalculator(gnn, dtype="float64"), atoms)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--name", default="carbon-gfn1-kernel")
    parser.add_argument("--samples", type=int, default=64, help="posterior draws for the phonon error bars")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "carbon-gfn1-kernel.json")
    parser.add_argument("--no-ship", action="store_true", help="measure only; do not copy into pretrained/")
    args = parser.parse_args()

    import torch
    from ase.io import read

    from ase_relaxed import load_model
    from ase_relaxed.kernel.rows_calculator import KernelRowsCalculator
    from ase_relaxed.learn.state import CALLS, CONFIG
    from ase_relaxed.models.io import save_model
    from ase_relaxed.pretrained import pretrained_path

    torch.set_num_threads(2)
    log = [json.loads(line) for line in (args.run_dir / CALLS).read_text().splitlines()]
    calls = [r for r in log if "call" in r]
    kappa = posterior_scale(calls)
    model = load_model(args.run_dir / "model.safetensors")
    raw = load_model(args.run_dir / "model.safetensors")
    model.energy_model.posterior_scale.fill_(kappa)  # calibrated on the run's own out-of-sample errors
    model.training_info["posterior_scale"] = {"kappa": kappa, "from": "out-of-sample force errors at the run's "
                                              "reference calls (scripts/ship_kernel_model.py posterior_scale)"}
    calibrated = args.run_dir / "model_calibrated.safetensors"
    save_model(model, calibrated)
    gnn = load_model(pretrained_path("carbon-gfn1-v1"))  # the GNN of the README table (tubes only, like the kernel)
    frames = [a for a in read(ROOT / "data" / "carbon_gfn1.extxyz", ":") if a.info.get("family") in TEST]
    from ase_relaxed import RelaxedCalculator

    result = {
        "run": {"dir": str(args.run_dir), "config": json.loads((args.run_dir / CONFIG).read_text()),
                "reference_calls": len(calls), "reference_s": sum(r["reference_s"] for r in calls),
                "fit_s": sum(r["fit_s"] for r in calls), "n_representative": calls[-1]["n_representative"],
                "unstable_episodes": [r for r in log if r.get("event") == "unstable"],
                "calls_per_episode": per_episode(calls)},
        "held_out": {"set": "data/carbon_gfn1.extxyz, held-out CNT (11,0), (6,6), (7,4)",
                     "kernel": held_out_errors(lambda: KernelRowsCalculator(model), frames),
                     "kernel_uncalibrated": held_out_errors(lambda: KernelRowsCalculator(raw), frames),
                     "carbon-gfn1": held_out_errors(lambda: RelaxedCalculator(gnn, dtype="float64"), frames)},
    }
    for who in ("kernel", "kernel_uncalibrated", "carbon-gfn1"):
        e = result["held_out"][who]
        print(f"held-out {who}: E {1e3 * e['energy_rmse_per_atom']:.2f} meV/atom, F {e['forces_rmse']:.3f} eV/Å "
              f"{e.get('forces_sigma_calibration', '')}", flush=True)
    survey = json.loads((ROOT / "benchmarks" / "results" / "nanotube_phonon_survey.json").read_text())
    result["posterior_scale_kappa"] = kappa
    result["phonons"] = phonon_comparison(model, gnn, survey, args.samples, kappa)
    result["speed"] = speed(model, gnn)
    print("speed (s per energy+forces):", result["speed"], flush=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    if not args.no_ship:
        reference = "GFN1-xTB (tblite), learned on the fly (ase-relaxed learn)"
        register(args.name, calibrated, reference, ["C"], float(model.config.cutoff),
                 result["held_out"]["kernel"], "held-out CNT (11,0), (6,6), (7,4) of data/carbon_gfn1.extxyz",
                 f"kernel (SOAP + BLR), {len(calls)} GFN1 calls; made by ase-relaxed learn + "
                 f"scripts/ship_kernel_model.py; forces_std from its posterior, widened by κ = {kappa:.2f}")
        import shutil

        shutil.copyfile(args.run_dir / "references.extxyz", ROOT / "data" / "carbon_gfn1_kernel_references.extxyz")
        shutil.copyfile(args.run_dir / CALLS, ROOT / "benchmarks" / "results" / f"{args.name}_calls.jsonl")
        print(f"shipped {args.name}; its GFN1-xTB frames are data/carbon_gfn1_kernel_references.extxyz, its call "
              f"log benchmarks/results/{args.name}_calls.jsonl")
    return 0


if __name__ == "__main__":
    sys.exit(main())
