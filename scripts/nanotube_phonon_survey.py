"""Phonon survey of carbon nanotubes with the default model ``carbon-gfn1`` (issue 7, item 6).

    python scripts/nanotube_phonon_survey.py                      # everything; cached tubes are skipped
    python scripts/nanotube_phonon_survey.py --tubes 8,0 5,5 --no-reference
    python scripts/nanotube_phonon_survey.py --reference 6,6 11,0 # GFN1-xTB reference for two held-out tubes
    python scripts/nanotube_phonon_survey.py --force              # recompute cached entries
    python scripts/nanotube_phonon_survey.py --scheduler local:2  # the model farm on 2 Dask workers

The model part is one farm (:mod:`ase_relaxed.integrations.farm`, docs/farms.md), the same as

    ase-relaxed phonons cnt:8,0 cnt:10,0 ... --helical --relax --fixed-period --fmax 1e-5 --db survey.db

whose rows (one per tube, resumable after a kill) become the "model" entries of the JSON below.

For every tube (n, m) the helical route (:func:`ase_relaxed.symmetry.helical_phonons`: symmetry-adapted
relaxation of the 2-atom fundamental domain, then 12 force calls on one periodic segment of length
≥ 2 × 18 Å + 1 Å, the receptive-field range 2·L·r_c of the model) gives the force constants, and from them

* the Γ spectrum (k = 0 of the translational zone, 3 × atoms-per-cell frequencies, cm⁻¹);
* the totally symmetric block D(η = 0, μ = 0) (6 × 6), whose eigenvectors ε = (ε_1, ε_2) are mode
  patterns of the domain atoms, repeated on every atom as u_{a,g} = R_g ε_a. Projecting ε onto the local
  frame of each domain atom (radial r̂, circumferential φ̂, axial ẑ) classifies the six A modes:
  z translation and twist (ω = 0), the radial breathing mode (RBM: ε_a ∥ r̂_a, in phase; the largest
  overlap with the breathing pattern (r̂_1, r̂_2)/√2), the out-of-phase radial optical mode, and the two
  tangential optical modes, G⁺ (axial) and G⁻ (circumferential), that make up the totally symmetric
  G band;
* the unfolded dispersion on a coarse k grid and the DOS (stored for plotting).

Physics checks: an elastic cylinder of diameter d breathes at ω_RBM = (1/π d) √(Y / ρ (1 − ν²)) ∝ 1/d,
so log ω_RBM = log C − log d is a line of slope −1 (C ≈ 220–250 cm⁻¹ nm in experiments and DFT); the G
band lies near the graphene E2g (Raman G) frequency, ≈ 1580 cm⁻¹ in experiment.

Reference: the SAME helical route run directly on tblite GFN1-xTB (the method the model was trained on)
for held-out chiralities ((6,6), (11,0), (7,4) were never in training or validation). GFN1-xTB in tblite
samples only k = Γ, so its segment is the shortest whole number of cells ≥ 17 Å (the length of the
training cells). Each method relaxes its own domain (the frequencies are compared at each method's own
stationary point), and the sorted Γ frequencies are compared (RMS and max over the non-zero modes).
The model is also run on the reference's short segment ("model_short"): its Γ frequencies agree with the
long segment's to 0.01 cm⁻¹, as they must (a k = 0 mode of the tube is a k = 0 mode of any commensurate
periodic segment, the images fold in exactly), so the Γ comparison is free of segment-length effects; only the
k ≠ 0 bands need the long segment. (GFN1-xTB's own electronic Γ-only sampling of a ≥ 17 Å cell is part of
the reference, as it was of the training data.)

Results go to ``benchmarks/results/nanotube_phonon_survey.json`` (rewritten after every tube, so an
interrupted run resumes where it stopped; a GFN1 relaxation is cached before its force calls), figures to
``docs/figures/rbm_vs_diameter.png`` and ``docs/figures/gamma_model_vs_gfn1.png``. Run with
``OMP_NUM_THREADS=1`` on a shared CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from math import ceil
from pathlib import Path

import numpy as np

from ase_relaxed.integrations.tasks import helical_summary

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "nanotube_phonon_survey.json"
FIGURES = ROOT / "docs" / "figures"
MODEL = "carbon-gfn1"
TUBES = ["8,0", "10,0", "12,0", "14,0", "5,5", "6,6", "7,7", "9,9", "11,0", "7,4"]
REFERENCE_TUBES = ["6,6", "11,0", "7,4"]
REFERENCE_MIN_LENGTH = 17.0  # Å, Γ-only GFN1-xTB: the periodic length of the training cells
N_ZERO = 4  # 3 translations + the twist (sum rules)
N_Q, N_DOS = 41, 600
#: the published survey's helical settings: relaxed domain at the rolled-graphene period (relax_period=False,
#: the default now relaxes the period too), fmax 1e-5 eV/Å, 0.01 Å steps, the model's range 2·L·r_c
SETTINGS = {"distance": 0.01, "relax": True, "fmax": 1e-5, "interaction_range": None, "relax_period": False}
FARM_MODEL = {"model": MODEL, "device": "cpu", "dtype": "float64", "on_close": "error"}


def parse_tube(text: str) -> tuple[int, int]:
    n, m = (int(x) for x in text.replace("(", "").replace(")", "").split(","))
    return n, m


def tube_key(n: int, m: int) -> str:
    return f"{n},{m}"


def summarize(ph, seconds: float, method: str) -> dict:
    """What the survey keeps of one HelicalPhonons result (frequencies rounded to 0.01 cm⁻¹)."""
    return entry(method, helical_summary(ph, n_q=N_Q, n_dos=N_DOS), seconds)


def plain(value):
    """JSON-ready copy: numpy arrays and scalars (as ase.db returns them) to lists and Python numbers."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [plain(v) for v in value]
    return value.item() if isinstance(value, np.generic) else value


def entry(method: str, summary: dict, seconds: float) -> dict:
    """A survey entry: method, helical summary and wall time (s), keys in the order of the published JSON."""
    items = list(plain(summary).items())
    split = [k for k, _ in items].index("n_force_evaluations") + 1
    return {"method": method, **dict(items[:split]), "wall_s": round(seconds, 1), **dict(items[split:])}


class Cache:
    """The survey JSON: {"model": {...}, "model_short": {...}, "gfn1": {...}, "gfn1_relaxed": {...}, "fit": ...}."""

    def __init__(self, path: Path):
        self.path = path
        self.data = json.loads(path.read_text()) if path.exists() else {}
        for section in ("model", "model_short", "gfn1", "gfn1_relaxed"):
            self.data.setdefault(section, {})

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.data, separators=(",", ":")))  # compact: mostly band and DOS arrays
        os.replace(tmp, self.path)


def model_calculator():
    from ase_relaxed import RelaxedCalculator

    return RelaxedCalculator(MODEL, device="cpu", dtype="float64")


def run_model(cache: Cache, tubes: list[str], force: bool, db: str, scheduler: str | None = None) -> None:
    """The model survey is one farm: ``ase-relaxed phonons cnt:8,0 ... --helical --relax --fixed-period
    --fmax 1e-5 --db DB [--scheduler local:2]`` (docs/farms.md); its rows become the JSON's "model" entries."""
    import ase.db

    from ase_relaxed.integrations.farm import run_farm

    todo = [key for key in tubes if force or key not in cache.data["model"]]
    for key in tubes:
        if key not in todo:
            print(f"model  ({key}) cached: RBM {cache.data['model'][key]['rbm']:.1f} cm⁻¹", flush=True)
    if not todo:
        return
    if force:  # recompute: drop the farm's rows of these tubes
        connection = ase.db.connect(db)
        stale = [row.id for row in connection.select(job="helical") if row.structure in {f"cnt:{k}" for k in todo}]
        if stale:
            connection.delete(stale)

    def store(record: dict) -> None:
        key = record["key"].removeprefix("cnt:")
        if record["status"] != "ok":
            print(f"model  ({key}) FAILED: {record['error']}", flush=True)
            return
        e = cache.data["model"][key] = entry(MODEL, record["data"]["summary"], record["wall_s"])
        cache.save()
        print(f"model  ({key}) d = {e['diameter_A'] / 10:.3f} nm, RBM {e['rbm']:.1f} cm⁻¹ "
              f"(overlap {e['rbm_overlap']:.3f}), G+ {e['g_plus_axial']:.1f} cm⁻¹, "
              f"G- {e['g_minus_circumferential']:.1f} cm⁻¹, top {e['g_top']:.1f} cm⁻¹; "
              f"{e['segment_atoms']} atoms, {e['n_relax_evaluations']}+{e['n_force_evaluations']} calls, "
              f"{e['wall_s']:.1f} s", flush=True)

    result = run_farm("helical", [(f"cnt:{key}", None) for key in todo], SETTINGS, FARM_MODEL, db,
                      scheduler=scheduler, progress=False, on_record=store)
    # tubes a previous (killed) run of the farm finished: their rows were skipped, read them back
    for row in ase.db.connect(db).select(job="helical", status="ok", settings_hash=result.meta["settings_hash"],
                                         model_sha256=result.meta["model_sha256"]):
        key = row.structure.removeprefix("cnt:")
        if key in todo and key not in cache.data["model"]:
            cache.data["model"][key] = entry(MODEL, row.data["summary"], row.wall_s)
    cache.save()


def run_reference(cache: Cache, tubes: list[str], force: bool) -> None:
    """GFN1-xTB (tblite) with the helical route on a ≥ 17 Å segment, and the model on that same segment."""
    from ase_relaxed.phonons import helical_phonons
    from ase_relaxed.phonons.helical import relax_line_group
    from ase_relaxed.reference.generate import reference_calculator
    from ase_relaxed.symmetry.line_groups import line_group

    gfn1, meta = reference_calculator("gfn1-xtb")
    cache.data["gfn1_meta"] = meta
    for key in tubes:
        n, m = parse_tube(key)
        lg = line_group(n, m)
        n_cells = int(ceil(REFERENCE_MIN_LENGTH / lg.period - 1e-9))
        if key not in cache.data["gfn1"] or force:
            relaxed = cache.data["gfn1_relaxed"].get(key)
            if relaxed is None or force:
                start = time.perf_counter()
                # fmax 1e-4 eV/Å: the SCF noise of tblite sits not far below; 1e-5 only costs BFGS steps
                lg_gfn1, calls = relax_line_group(lg, gfn1, n_cells=n_cells, fmax=1e-4, steps=200, relax_period=False)
                relaxed = {"domain": lg_gfn1.domain.tolist(), "calls": calls,
                           "wall_s": round(time.perf_counter() - start, 1)}
                cache.data["gfn1_relaxed"][key] = relaxed
                cache.save()
                print(f"gfn1   ({key}) relaxed in {calls} calls, {relaxed['wall_s']:.0f} s", flush=True)
            start = time.perf_counter()
            ph = helical_phonons(n, m, gfn1, line_group=lg.with_domain(np.array(relaxed["domain"])),
                                 n_cells=n_cells, relax=False)
            ph.n_relax_evaluations = relaxed["calls"]
            entry = summarize(ph, time.perf_counter() - start + relaxed["wall_s"], "gfn1-xtb (tblite)")
            cache.data["gfn1"][key] = entry
            cache.save()
        entry = cache.data["gfn1"][key]
        print(f"gfn1   ({key}) RBM {entry['rbm']:.1f} cm⁻¹, G+ {entry['g_plus_axial']:.1f}, "
              f"G- {entry['g_minus_circumferential']:.1f}; {entry['segment_atoms']} atoms, "
              f"{entry['n_relax_evaluations']}+{entry['n_force_evaluations']} calls, {entry['wall_s']:.0f} s",
              flush=True)
        if key not in cache.data["model_short"] or force:
            calc = model_calculator()
            start = time.perf_counter()
            ph = helical_phonons(n, m, calc, n_cells=n_cells, relax=True, relax_period=False)
            cache.data["model_short"][key] = summarize(ph, time.perf_counter() - start, MODEL)
            cache.save()


def gamma_deviation(a, b) -> dict:
    """RMS, max |Δω|, mean Δω and count over the sorted Γ spectra a − b without the 4 zero modes."""
    diff = np.sort(a)[N_ZERO:] - np.sort(b)[N_ZERO:]
    return {"rms": float(np.sqrt(np.mean(diff**2))), "max": float(np.abs(diff).max()), "n_modes": int(diff.size),
            "mean": float(diff.mean())}


def compare(a: dict, b: dict) -> dict:
    """:func:`gamma_deviation` of two survey entries, and their RBM and G shifts (a − b)."""
    return {**gamma_deviation(a["gamma_frequencies"], b["gamma_frequencies"]), "rbm": a["rbm"] - b["rbm"],
            "g_plus": a["g_plus_axial"] - b["g_plus_axial"],
            "g_minus": a["g_minus_circumferential"] - b["g_minus_circumferential"], "g_top": a["g_top"] - b["g_top"]}


def fit_rbm(entries: list[dict]) -> dict:
    """Least-squares line log ω_RBM = log C + p log d (d in nm), and the C of a forced p = −1 fit."""
    d = np.array([e["diameter_A"] / 10 for e in entries])
    w = np.array([e["rbm"] for e in entries])
    if len(d) > 3:
        (slope, intercept), cov = np.polyfit(np.log(d), np.log(w), 1, cov=True)
    else:  # too few tubes for a covariance
        (slope, intercept), cov = np.polyfit(np.log(d), np.log(w), 1), None
    c_forced = float(np.exp(np.mean(np.log(w * d))))
    return {"slope": float(slope), "slope_stderr": float(np.sqrt(cov[0, 0])) if len(d) > 3 else None,
            "C_cm_nm": float(np.exp(intercept)), "C_cm_nm_at_slope_minus_1": c_forced, "n_tubes": len(d),
            "max_rel_dev_from_C_over_d": float(np.abs(w * d / c_forced - 1).max())}


def figures(cache: Cache, folder: Path = FIGURES) -> list[Path]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    folder.mkdir(parents=True, exist_ok=True)
    out = []
    model, fit = cache.data["model"], cache.data.get("fit")
    if model and fit:
        fig = Figure(figsize=(6, 4.5))
        FigureCanvasAgg(fig)
        ax = fig.subplots()
        for family, marker in (("zigzag", "o"), ("armchair", "s"), ("chiral", "^")):
            sel = [e for e in model.values()
                   if {"zigzag": e["m"] == 0, "armchair": e["n"] == e["m"]}.get(family, 0 < e["m"] != e["n"])]
            if sel:
                ax.loglog([e["diameter_A"] / 10 for e in sel], [e["rbm"] for e in sel], marker, label=f"{MODEL}, "
                          f"{family}")
        for e in cache.data["gfn1"].values():
            ax.loglog(e["diameter_A"] / 10, e["rbm"], "kx", ms=9, mew=2,
                      label="GFN1-xTB (tblite)" if e is next(iter(cache.data["gfn1"].values())) else None)
        d = np.geomspace(min(e["diameter_A"] for e in model.values()) / 10 * 0.9,
                         max(e["diameter_A"] for e in model.values()) / 10 * 1.1, 50)
        ax.loglog(d, fit["C_cm_nm"] * d ** fit["slope"], "k-", lw=0.8,
                  label=f"fit: {fit['C_cm_nm']:.0f} · d^{fit['slope']:.3f}")
        ax.loglog(d, fit["C_cm_nm_at_slope_minus_1"] / d, "k:", lw=0.8,
                  label=f"{fit['C_cm_nm_at_slope_minus_1']:.0f} cm⁻¹ nm / d")
        ax.set(xlabel="diameter d (nm)", ylabel="ω_RBM (cm⁻¹)", title="Radial breathing mode, helical phonons")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(folder / "rbm_vs_diameter.png", dpi=120)
        out.append(folder / "rbm_vs_diameter.png")
    refs = [k for k in cache.data["gfn1"] if k in model]
    if refs:
        fig = Figure(figsize=(11, 4.8))
        FigureCanvasAgg(fig)
        ax_p, ax_r = fig.subplots(1, 2)
        low = 0.0
        for i, key in enumerate(refs):
            ref = np.sort(cache.data["gfn1"][key]["gamma_frequencies"])[N_ZERO:]
            ours = np.sort(model[key]["gamma_frequencies"])[N_ZERO:]
            c = cache.data["comparison"][key]["model"]
            label = f"({key}): RMS {c['rms']:.1f}, max {c['max']:.1f} cm⁻¹"
            ax_p.plot(ref, ours, "osd^v"[i % 5], ms=4, mfc="none", label=label)
            low = min(low, float(np.min(ours - ref)))
            ax_r.plot(ref, ours - ref, "osd^v"[i % 5], ms=4, mfc="none", label=label)
        top = max(max(cache.data["gfn1"][k]["gamma_frequencies"]) for k in refs) * 1.04
        ax_p.plot([0, top], [0, top], "k-", lw=0.6)
        ax_p.set(xlim=(0, top), ylim=(0, top), xlabel="GFN1-xTB Γ frequency (cm⁻¹)",
                 ylabel=f"{MODEL} Γ frequency (cm⁻¹)", title="held-out tubes at Γ (sorted, zero modes left out)")
        ax_r.set_ylim(bottom=low - 8 * len(refs))  # room for the legend
        ax_r.axhline(0, color="k", lw=0.6)
        ax_r.set(xlim=(0, top), xlabel="GFN1-xTB Γ frequency (cm⁻¹)", ylabel=f"{MODEL} − GFN1-xTB (cm⁻¹)",
                 title="each method at its own relaxed geometry")
        ax_p.legend(fontsize=8, loc="upper left")
        ax_r.legend(fontsize=8, loc="lower right")
        fig.tight_layout()
        fig.savefig(folder / "gamma_model_vs_gfn1.png", dpi=120)
        out.append(folder / "gamma_model_vs_gfn1.png")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tubes", nargs="+", default=TUBES, help="chiralities n,m for the model survey")
    parser.add_argument("--reference", nargs="+", default=REFERENCE_TUBES,
                        help="held-out chiralities to run with GFN1-xTB itself")
    parser.add_argument("--no-reference", action="store_true", help="skip the GFN1-xTB reference")
    parser.add_argument("--force", action="store_true", help="recompute cached entries")
    parser.add_argument("--json", type=Path, default=RESULTS, help="cache / result file")
    parser.add_argument("--db", default="nanotube_phonon_survey.db",
                        help="ASE database of the model farm (resumable; default: %(default)s in this folder)")
    parser.add_argument("--figures", type=Path, default=FIGURES, help="folder of the figures (default: docs/figures)")
    parser.add_argument("--scheduler", default=None, help="Dask scheduler of the model farm: local:N or an address")
    args = parser.parse_args()

    cache = Cache(args.json)
    tubes = [tube_key(*parse_tube(t)) for t in args.tubes]
    refs = [] if args.no_reference else [tube_key(*parse_tube(t)) for t in args.reference]
    run_model(cache, tubes + [r for r in refs if r not in tubes], args.force, args.db, args.scheduler)
    if refs:
        run_reference(cache, refs, args.force)

    entries = sorted(cache.data["model"].values(), key=lambda e: e["diameter_A"])
    if len(entries) >= 2:
        cache.data["fit"] = fit_rbm(entries)
    cache.data["comparison"] = {
        key: {section: compare(cache.data[section][key], ref)
              for section in ("model", "model_short") if key in cache.data[section]}
        for key, ref in cache.data["gfn1"].items()}
    cache.save()

    print(f"\n{'tube':>7} {'d (nm)':>7} {'RBM':>7} {'RBM·d':>7} {'G-':>7} {'G+':>7} {'Γ top':>7} {'wall s':>7}")
    for e in entries:
        d = e["diameter_A"] / 10
        print(f"({e['n']:2d},{e['m']:2d}) {d:7.3f} {e['rbm']:7.1f} {e['rbm'] * d:7.1f}"
              f" {e['g_minus_circumferential']:7.1f} {e['g_plus_axial']:7.1f} {e['g_top']:7.1f} {e['wall_s']:7.1f}")
    if "fit" in cache.data:
        fit = cache.data["fit"]
        print(f"log-log slope of ω_RBM(d): {fit['slope']:.4f} ± {fit['slope_stderr'] or float('nan'):.4f} "
              f"over {fit['n_tubes']} tubes; ω_RBM = {fit['C_cm_nm_at_slope_minus_1']:.1f} cm⁻¹ nm / d "
              f"to within {100 * fit['max_rel_dev_from_C_over_d']:.1f} %")
    for key, comp in cache.data["comparison"].items():
        for section, c in comp.items():
            print(f"({key}) {section:11s} vs GFN1-xTB: Γ RMS {c['rms']:.2f} cm⁻¹, max {c['max']:.2f} cm⁻¹ "
                  f"({c['n_modes']} modes), ΔRBM {c['rbm']:+.2f}, ΔG+ {c['g_plus']:+.2f}, ΔG- {c['g_minus']:+.2f}")
    for path in figures(cache, args.figures):
        print("wrote", path)


if __name__ == "__main__":
    main()
