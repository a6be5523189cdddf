"""Phonons of a carbon nanotube with the default model: dispersion, DOS, radial breathing mode and G band.

    python examples/nanotube_phonons.py [N M]      # default: the (10,0) tube, about 15 s on one core

The helical route relaxes the 2-atom fundamental domain, then makes 12 force calls on one periodic
segment (length ≥ 2 × 18 Å, the model's force-constant range 2·L·r_c). The totally symmetric block
D(η = 0, μ = 0) holds the radial breathing mode (RBM: every atom moves along its own radial direction r̂,
in phase; ω_RBM ∝ 1/d for a thin elastic cylinder of diameter d) and the two tangential optical modes of
the G band (G⁺ along the axis, G⁻ around the circumference). Writes ``nanotube-N-M-phonons.png`` into the
current directory. If ``scripts/nanotube_phonon_survey.py`` has been run, its RBM-vs-diameter table is
printed as well.
"""

import json
import sys
import time
from pathlib import Path

from ase_relaxed import RelaxedCalculator
from ase_relaxed.phonons import get_interaction_range, helical_phonons
from ase_relaxed.phonons.modes import gamma_modes

SURVEY = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "nanotube_phonon_survey.json"


n, m = (int(x) for x in sys.argv[1:3]) if len(sys.argv) > 2 else (10, 0)
start = time.perf_counter()
calc = RelaxedCalculator("carbon-gfn1", device="cpu", dtype="float64")
ph = helical_phonons(n, m, calc, interaction_range=get_interaction_range(calc), relax=True)
seconds = time.perf_counter() - start
lg = ph.line_group
d_nm = 2 * lg.radius / 10
print(f"({n},{m}) tube: d = {d_nm:.3f} nm, N = {lg.cyclic_order}, {lg.atoms_per_cell} atoms per cell, "
      f"segment of {ph.n_cells} cells; {ph.n_relax_evaluations} relaxation + {ph.n_force_evaluations} force calls, "
      f"{seconds:.1f} s")

modes = gamma_modes(ph)
print("totally symmetric Γ modes (cm⁻¹):", " ".join(f"{f:.1f}" for f in modes["frequencies"]))
print(f"RBM {modes['rbm']:.1f} cm⁻¹ (breathing overlap {modes['rbm_overlap']:.3f}); "
      f"ω_RBM·d = {modes['rbm'] * d_nm:.0f} cm⁻¹ nm")
print(f"G band: G+ (axial) {modes['g_plus_axial']:.1f} cm⁻¹, G- (circumferential) "
      f"{modes['g_minus_circumferential']:.1f} cm⁻¹, top of the Γ spectrum {ph.gamma_frequencies.max():.1f} cm⁻¹")
print("wrote", ph.plot(f"nanotube-{n}-{m}-phonons.png"))

if SURVEY.exists():
    survey = json.loads(SURVEY.read_text())
    print(f"\nsurvey ({SURVEY.name}):\n{'tube':>8} {'d (nm)':>7} {'RBM':>7} {'RBM·d':>7} {'G+':>7}")
    for e in sorted(survey["model"].values(), key=lambda e: e["diameter_A"]):
        print(f"({e['n']:2d},{e['m']:2d})  {e['diameter_A'] / 10:7.3f} {e['rbm']:7.1f} "
              f"{e['rbm'] * e['diameter_A'] / 10:7.1f} {e['g_plus_axial']:7.1f}")
    if "fit" in survey:
        print(f"log-log slope of ω_RBM against d: {survey['fit']['slope']:.3f} (elastic shell: -1)")
    for key, comp in survey.get("comparison", {}).items():
        if "model" in comp:
            print(f"({key}) vs GFN1-xTB at Γ: RMS {comp['model']['rms']:.1f} cm⁻¹, max {comp['model']['max']:.1f} cm⁻¹")
else:
    print("(run scripts/nanotube_phonon_survey.py for the RBM-vs-diameter survey)")
