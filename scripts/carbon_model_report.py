"""How a shipped carbon model compares with GFN1-xTB, the method it was trained on (issue 15, part 2).

    OMP_NUM_THREADS=1 python scripts/carbon_model_report.py                          # carbon-gfn1, all parts
    OMP_NUM_THREADS=1 python scripts/carbon_model_report.py --name carbon-gfn1-v1 \\
        --also data/carbon_gfn1_families.extxyz                                     # v1, also on the new families
    python scripts/carbon_model_report.py --model runs/carbon-gfn1/model.safetensors --parts families

Three parts (``--parts``), each against GFN1-xTB (tblite) and nothing else:

* ``families``: energy RMSE (meV/atom), force RMSE (eV/Å) and, for 3D-periodic frames, stress RMSE (meV/Å³) of
  every family of the training config's data (``data.path`` + ``data.extra_paths``, family =
  ``atoms.info["family"]``), with whether the family was held out whole (``data.test_families``) or in the
  train/val split; computed as ``ase-relaxed test`` does (``ase_relaxed.train.metrics.predict`` and
  ``error_metrics``) one family at a time. ``--also FILE`` adds families the config never saw.
* ``properties``: diamond a₀, B₀ (Birch–Murnaghan) and Γ optical (Raman) frequency (frozen phonon), graphene a,
  graphite AB/AA interlayer distance and binding, C60 6:6/5:6 bonds after relaxation: the protocol of
  ``scripts/gfn1_reference_properties.py`` (its own functions) run with the model's calculator, against GFN1's
  values stored in ``benchmarks/results/gfn1_properties.json``, with issue 15's targets (a₀ within 0.5 %, B₀
  within 10 %, graphite interlayer distance within 2 %).
* ``phonons``: Γ phonons of the held-out tubes (11,0), (6,6), (7,4) by the helical route, as
  ``scripts/ship_kernel_model.py`` does for its README table: RMS over the sorted non-zero Γ modes against
  GFN1-xTB's (``benchmarks/results/nanotube_phonon_survey.json``, same segment, period fixed, each method at its
  own relaxed domain), RBM, and the G⁻ − G⁺ splitting.

Writes ``benchmarks/results/<name>_report.json`` (parts run now replace those of an earlier report) with
provenance (model file and its SHA-256, ase_relaxed version, dtype, git commit, date), and prints Markdown tables.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gfn1_reference_properties as gfn1_props  # noqa: E402
from ship_carbon_model import CONFIGS  # noqa: E402
from shipping import ROOT  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
PARTS = ("families", "properties", "phonons")
TUBES = ("11,0", "6,6", "7,4")
#: issue 15's targets: relative difference to GFN1-xTB (%) per property key
TARGETS = {"a0": 0.5, "B0": 10.0, "graphite_d": 2.0}


# ----------------------------------------------------------------------------------------------- families
def family_table(module, frames: list, test_families: list[str], seen: set[str], batch_size: int = 1) -> dict:
    """Per family (and for all held-out / all trained frames): ``ase-relaxed test``'s metrics and its split.

    ``seen``: the families of the training config's data; those not in ``test_families`` were trained on.
    ``batch_size`` 1: on CPU, batches of 16 frames spent more time in the kernel (allocations) than computing.
    """
    from ase_relaxed.train.dataset import family_of, labelled_graph
    from ase_relaxed.train.metrics import error_metrics, predict

    by_family: dict[str, list] = {}
    for atoms in frames:
        by_family.setdefault(family_of(atoms), []).append(atoms)
    table, predictions = {}, {"held out": [], "trained": [], "not in training data": []}
    for family in sorted(by_family):
        graphs = [labelled_graph(a, module.config.cutoff) for a in by_family[family]]
        prediction = predict(module, graphs, batch_size=batch_size)
        split = ("held out" if family in test_families else "trained") if family in seen else "not in training data"
        table[family] = {"split": split, "frames": len(graphs), "atoms": int(prediction["n"].sum()),
                         **error_metrics(prediction)}
        predictions[split].append(prediction)
    for split, parts in predictions.items():
        if parts:
            merged = {k: np.concatenate([p[k] for p in parts if len(p[k])]) if any(len(p[k]) for p in parts)
                      else np.zeros(0) for k in parts[0]}
            table[f"all {split}"] = {"split": split, "frames": len(merged["e"]), "atoms": int(merged["n"].sum()),
                                     **error_metrics(merged)}
    return table


def run_families(model_path: Path, dtype: str, config, also: list[Path]) -> dict:
    import torch

    from ase_relaxed.models.resolve import resolve_model
    from ase_relaxed.train.dataset import family_of, read_labelled

    module = resolve_model(model_path).to(getattr(torch, dtype))
    species = list(module.config.species)
    frames = [a for path in [config.data.path, *config.data.extra_paths] for a in read_labelled(path, species)]
    seen = {family_of(a) for a in frames}
    frames += [a for path in also for a in read_labelled(path, species) if family_of(a) not in seen]
    return {"data": [rel(p) for p in [config.data.path, *config.data.extra_paths]],
            "also": [rel(p) for p in also], "test_families": list(config.data.test_families),
            "note": "'trained' families were split at random into train and val (val_fraction "
                    f"{config.data.val_fraction}); their RMSE is over both",
            "table": family_table(module, frames, list(config.data.test_families), seen)}


# --------------------------------------------------------------------------------------------- properties
def model_cache(calc_factory: Callable[[], object]) -> gfn1_props.Cache:
    """gfn1_reference_properties' single-point cache, in memory, with the model's calculator."""
    calc = calc_factory()  # one calculator for every point: the model is loaded (and warns off-domain) once
    return gfn1_props.Cache(None, calculator=lambda: calc)


def run_properties(calc_factory: Callable[[], object], diamond_sizes: list[int], graphene_sizes: list[int]) -> dict:
    """The GFN1 protocol (every part of gfn1_reference_properties.PARTS) with the model; a failed part is recorded."""
    cache, results, errors = model_cache(calc_factory), {}, {}
    for part in gfn1_props.PARTS:
        try:
            gfn1_props.measure(cache, [part], results, diamond_sizes, graphene_sizes, check_c=True)
        except Exception as error:  # e.g. no minimum in the scanned range for a model far from GFN1
            errors[part] = f"{type(error).__name__}: {error}"
            print(f"  {part} failed: {errors[part]}", flush=True)
    return {"results": results, "errors": errors, "single_points": cache.calls,
            "model_seconds": round(cache.seconds, 1)}


def property_rows(model: dict, gfn1: dict) -> list[dict]:
    """(property, unit, model, GFN1, Δ %, target %, pass) for each figure both results hold."""
    def get(tree: dict, *path: str):
        for key in path:
            tree = tree.get(key) if isinstance(tree, dict) else None
        return tree if isinstance(tree, (int, float)) else None

    specs = []
    for size in [k for k in gfn1.get("diamond", {}) if "x" in k and k in model.get("diamond", {})]:
        specs += [(f"diamond a0 ({size})", "Å", ("diamond", size, "a0_angstrom"), "a0"),
                  (f"diamond B0 ({size})", "GPa", ("diamond", size, "bulk_modulus_GPa"), "B0"),
                  (f"diamond Γ optical (Raman) ({size})", "cm⁻¹",
                   ("diamond_gamma_optical", size, "frequency_cm-1"), None)]
    for size in gfn1.get("graphene", {}):
        specs.append((f"graphene a ({size})", "Å", ("graphene", size, "a0_angstrom"), None))
    for stacking, label in (("AB", "AB, 2 layers"), ("AA", "AA, 2 layers"), ("AB_2cells_c", "AB, 4 layers"),
                            ("AA_2cells_c", "AA, 4 layers")):
        specs.append((f"graphite {label} interlayer d", "Å", ("graphite", stacking, "interlayer_distance_angstrom"),
                      "graphite_d"))
    specs += [("graphite AB binding vs layers 8 Å apart", "meV/atom",
               ("graphite", "AB", "binding_meV_per_atom_vs_far_layers"), None),
              ("C60 6:6 bond", "Å", ("c60", "bond_6_6_angstrom"), None),
              ("C60 5:6 bond", "Å", ("c60", "bond_5_6_angstrom"), None)]
    def edge(tree: dict, path: tuple[str, ...]) -> str | None:
        """"low"/"high" when the minimum the figure comes from is an end of its scan: no minimum inside it."""
        parent = tree
        for key in path[:-1]:
            parent = parent.get(key, {})
        scan = parent.get("distances_scanned", parent.get("lattice_constants_scanned"))
        value = parent.get("interlayer_distance_angstrom", parent.get("a0_angstrom"))
        if value is None or not scan:
            return None
        return "low" if value <= min(scan) + 1e-6 else "high" if value >= max(scan) - 1e-6 else None

    rows = []
    for name, unit, path, target in specs:
        ours, ref = get(model, *path), get(gfn1, *path)
        if ref is None:
            continue
        diff = None if ours is None else 100.0 * (ours - ref) / abs(ref)
        tol, at_edge = TARGETS.get(target), edge(model, path)
        passed = None if tol is None or diff is None else bool(abs(diff) <= tol and at_edge is None)
        rows.append({"property": name, "unit": unit, "model": ours, "gfn1": ref, "relative_difference_percent": diff,
                     "target_percent": tol, "pass": passed, "model_at_scan_edge": at_edge,
                     "scanned": path[-1] in ("a0_angstrom", "interlayer_distance_angstrom")})
    return rows


# ------------------------------------------------------------------------------------------------ phonons
def phonon_figures(ph, ref: dict) -> dict:
    """Γ RMS/max of helical phonons ``ph`` against GFN1's ``ref`` (a nanotube_phonon_survey.json entry), its RBM,
    G⁺, G⁻ and G⁻ − G⁺ (cm⁻¹); shared with ship_kernel_model.phonon_comparison."""
    from ship_kernel_model import N_ZERO

    from ase_relaxed.phonons import gamma_modes

    modes = gamma_modes(ph)
    diff = np.sort(ph.gamma_frequencies)[N_ZERO:] - np.sort(ref["gamma_frequencies"])[N_ZERO:]
    return {"rms": float(np.sqrt(np.mean(diff**2))), "max": float(np.abs(diff).max()), "rbm": modes["rbm"],
            "g_plus": modes["g_plus_axial"], "g_minus": modes["g_minus_circumferential"],
            "g_splitting": modes["g_minus_circumferential"] - modes["g_plus_axial"]}


def tube_phonons(calc, survey: dict, tubes: tuple[str, ...] = TUBES) -> dict:
    """:func:`phonon_figures` of ``calc`` per held-out tube, helical route at GFN1's segment length."""
    from ase_relaxed.phonons import helical_phonons

    out = {}
    for key in tubes:
        n, m = (int(x) for x in key.split(","))
        ref = survey["gfn1"][key]
        start = time.perf_counter()
        ph = helical_phonons(n, m, calc, n_cells=ref["n_cells"], relax_period=False)
        out[key] = {**phonon_figures(ph, ref),
                    "gfn1": {"rbm": ref["rbm"], "g_plus": ref["g_plus_axial"],
                             "g_minus": ref["g_minus_circumferential"],
                             "g_splitting": ref["g_minus_circumferential"] - ref["g_plus_axial"]},
                    "n_cells": ref["n_cells"], "seconds": round(time.perf_counter() - start, 1)}
        print(f"  ({key}) Γ RMS {out[key]['rms']:.2f} cm⁻¹, RBM {out[key]['rbm']:.1f} cm⁻¹ (GFN1 {ref['rbm']:.1f}), "
              f"G⁻ − G⁺ {out[key]['g_splitting']:.1f} cm⁻¹ (GFN1 {out[key]['gfn1']['g_splitting']:.1f})", flush=True)
    return out


# ------------------------------------------------------------------------------------------------- output
def rel(path) -> str:
    path = Path(path).resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def clean(value):
    """JSON-safe: non-finite floats → None, numpy scalars → Python."""
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else None
    return value.item() if isinstance(value, np.generic) else value


def fmt(value, unit: str, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f} {unit}"


def markdown(report: dict) -> str:
    lines = []
    if "families" in report:
        lines += ["| family | split | frames | E RMSE | F RMSE | stress RMSE |", "|---|---|---:|---:|---:|---:|"]
        for family, row in report["families"]["table"].items():
            lines.append(f"| {family} | {row['split']} | {row['frames']} frames | "
                         f"{fmt(1e3 * row['energy_rmse_per_atom'], 'meV/atom')} | {fmt(row['forces_rmse'], 'eV/Å', 3)}"
                         f" | {fmt(1e3 * row['stress_rmse'] if 'stress_rmse' in row else None, 'meV/Å³')} |")
        lines.append("")
    if "properties" in report:
        lines += ["| property | model | GFN1-xTB | Δ | target | pass |", "|---|---:|---:|---:|---:|---|"]
        for row in report["properties"]["rows"]:
            digits = 4 if row["unit"] == "Å" else 1
            passed = {None: "–", True: "pass", False: "**fail**"}[row["pass"]]
            ours = fmt(row["model"], row["unit"], digits)
            if row.get("model_at_scan_edge") and row["scanned"]:  # minimum at an end of the scan: a bound
                ours = f"{'≤' if row['model_at_scan_edge'] == 'low' else '≥'} {ours} (scan edge)"
            elif row.get("model_at_scan_edge"):
                ours += " (at the scan edge)"
            lines.append(f"| {row['property']} | {ours} | "
                         f"{fmt(row['gfn1'], row['unit'], digits)} | {fmt(row['relative_difference_percent'], '%')}"
                         f" | {fmt(row['target_percent'], '%', 1)} | {passed} |")
        lines.append("")
    if report.get("phonons", {}).get("tubes"):
        lines += ["| tube | Γ RMS vs GFN1 | max | RBM (model / GFN1) | G⁻ − G⁺ (model / GFN1) |",
                  "|---|---:|---:|---:|---:|"]
        for key, row in report["phonons"]["tubes"].items():
            lines.append(f"| ({key}) | {fmt(row['rms'], 'cm⁻¹', 1)} | {fmt(row['max'], 'cm⁻¹', 1)} | "
                         f"{fmt(row['rbm'], 'cm⁻¹', 1)} / {fmt(row['gfn1']['rbm'], 'cm⁻¹', 1)} | "
                         f"{fmt(row['g_splitting'], 'cm⁻¹', 1)} / {fmt(row['gfn1']['g_splitting'], 'cm⁻¹', 1)} |")
    elif "phonons" in report:
        lines.append(f"phonons: {report['phonons'].get('skipped')}")
    return "\n".join(lines)


def git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    except OSError:
        return "unknown"


def timed(label: str, function: Callable[[], dict]) -> tuple[dict, float, list[str]]:
    """``function()``, its wall time (s) and the distinct warnings it raised (recorded, printed once)."""
    print(f"== {label}", flush=True)
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = function()
    messages = sorted({f"{w.category.__name__}: {w.message}"[:300] for w in caught})
    for message in messages:
        print(f"  warning: {message}", flush=True)
    seconds = time.perf_counter() - start
    print(f"== {label}: {seconds:.1f} s", flush=True)
    return result, seconds, messages


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--name", default="carbon-gfn1", help="shipped model (default %(default)s); names the report")
    parser.add_argument("--model", type=Path, default=None, help="a .safetensors file instead of the shipped --name")
    parser.add_argument("--config", type=Path, default=None,
                        help=f"training config (default: that of --name in ship_carbon_model.CONFIGS, "
                             f"{sorted(CONFIGS)})")
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS), help="what to measure")
    parser.add_argument("--also", type=Path, nargs="*", default=[], metavar="FILE",
                        help="labelled files whose families the config does not hold (families part)")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float64")
    parser.add_argument("--diamond-sizes", type=int, nargs="+", default=[2, 3], metavar="N",
                        help="conventional n×n×n diamond supercells, as for GFN1 (default %(default)s)")
    parser.add_argument("--graphene-sizes", type=int, nargs="+", default=[6, 9], metavar="N",
                        help="n×n graphene sheets, as for GFN1; the first fixes graphite's a (default %(default)s)")
    parser.add_argument("--out", type=Path, default=None, help="default benchmarks/results/<name>_report.json")
    args = parser.parse_args(argv)

    import ase_relaxed
    from ase_relaxed import RelaxedCalculator
    from ase_relaxed.models.io import file_sha256
    from ase_relaxed.models.resolve import model_file
    from ase_relaxed.train.config import TrainConfig

    model_path = args.model if args.model is not None else model_file(args.name)
    if args.config is None and args.name not in CONFIGS:
        parser.error(f"no training config known for {args.name!r}; pass --config")
    config_path = args.config if args.config is not None else CONFIGS[args.name]
    out = args.out if args.out is not None else RESULTS / f"{args.name}_report.json"
    report = json.loads(out.read_text()) if out.exists() else {}
    report["provenance"] = {
        "model": args.name, "model_file": rel(model_path), "model_sha256": file_sha256(model_path),
        "config": rel(config_path), "ase_relaxed": ase_relaxed.__version__, "dtype": args.dtype, "device": "cpu",
        "git_commit": git("rev-parse", "HEAD"), "git_dirty": bool(git("status", "--porcelain")),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "python scripts/carbon_model_report.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "reference": "GFN1-xTB (tblite), as stored in benchmarks/results (never run here)",
    }
    report.setdefault("seconds", {})
    report.setdefault("warnings", {})

    def calc_factory() -> RelaxedCalculator:
        return RelaxedCalculator(str(model_path), dtype=args.dtype, device="cpu")

    if "families" in args.parts:
        config = TrainConfig.from_yaml(config_path)
        report["families"], report["seconds"]["families"], report["warnings"]["families"] = timed(
            "families", lambda: run_families(model_path, args.dtype, config, args.also))
    if "properties" in args.parts:
        gfn1 = json.loads((RESULTS / "gfn1_properties.json").read_text())
        measured, report["seconds"]["properties"], report["warnings"]["properties"] = timed(
            "properties", lambda: run_properties(calc_factory, args.diamond_sizes, args.graphene_sizes))
        report["properties"] = {
            "protocol": "scripts/gfn1_reference_properties.py (measure), with the model's calculator",
            "gfn1": "benchmarks/results/gfn1_properties.json", "gfn1_provenance": gfn1["provenance"],
            "diamond_supercells": [f"{n}x{n}x{n} conventional" for n in args.diamond_sizes],
            "graphene_supercells": [f"{n}x{n}" for n in args.graphene_sizes],
            "supercell_note": "the same supercells as GFN1's (the model is local, so its per-atom energy of a "
                              "perfect crystal does not depend on the supercell; GFN1's, Γ-only, does)",
            "rows": property_rows(measured["results"], gfn1["results"]), **measured}
    if "phonons" in args.parts:
        survey_path = RESULTS / "nanotube_phonon_survey.json"
        survey = json.loads(survey_path.read_text()) if survey_path.exists() else {}
        missing = [t for t in TUBES if t not in survey.get("gfn1", {})]
        if missing:
            report["phonons"] = {"skipped": f"no GFN1-xTB helical Γ phonons stored for {missing} in "
                                            f"{rel(survey_path)}; not run (GFN1 is not run here)"}
            print(f"== phonons skipped: {report['phonons']['skipped']}", flush=True)
        else:
            tubes, report["seconds"]["phonons"], report["warnings"]["phonons"] = timed(
                "phonons", lambda: tube_phonons(calc_factory(), survey))
            report["phonons"] = {"reference": f"{rel(survey_path)} ['gfn1'] ({survey['gfn1_meta']['package']})",
                                 "protocol": "helical_phonons(n, m, calc, n_cells=GFN1's, relax_period=False); RMS "
                                             "over the sorted Γ modes without the 4 zero ones "
                                             "(scripts/ship_kernel_model.py phonon_comparison)",
                                 "tubes": tubes}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(clean(report), indent=2, ensure_ascii=False) + "\n")
    print(f"\n{args.name} ({args.dtype}) against GFN1-xTB\n\n{markdown(clean(report))}\n\nwrote {rel(out)}")
    return report


if __name__ == "__main__":
    main()
