"""phonopy run directly on the reference method, GFN1-xTB (tblite), for a held-out tube (issue 7, item 6).

    python scripts/phonopy_gfn1_check.py            # (6,6), about 10 min on one core
    python scripts/phonopy_gfn1_check.py --tube 11,0

The survey (``scripts/nanotube_phonon_survey.py``) compares the model with GFN1-xTB through the helical
route. This script closes the loop with the *ordinary* route: phonopy's finite displacements (its own
site-symmetry reduction, ± displacements of 0.01 Å) in a supercell of ``n_cells`` translational cells,
every displaced supercell labelled by tblite GFN1-xTB, on the same GFN1-relaxed geometry and the same
periodic length (≥ 17 Å, Γ-only electrons as in the training data) as the survey's helical GFN1 run.
It reports

* phonopy(GFN1) vs helical(GFN1): the two routes on the same method (should agree to < 0.5 cm⁻¹ except
  the rigid twist, which phonopy's translational sum rule alone does not pin to zero);
* phonopy(GFN1) vs the model ``carbon-gfn1``: RMS and max |Δω| of the sorted Γ frequencies without the
  4 zero modes (3 translations + twist), the number the paper quotes against DFT (4.8 cm⁻¹);
* the force evaluations and wall time of each route.

Results: ``benchmarks/results/phonopy_gfn1_check.json``. Needs the survey's cached GFN1 relaxation
(``gfn1_relaxed`` in ``nanotube_phonon_survey.json``); run the survey with ``--reference TUBE`` first.
"""

from __future__ import annotations

import argparse
import json
import time
from math import ceil
from pathlib import Path

import numpy as np
from nanotube_phonon_survey import N_ZERO, gamma_deviation

ROOT = Path(__file__).resolve().parents[1]
SURVEY = ROOT / "benchmarks" / "results" / "nanotube_phonon_survey.json"
RESULTS = ROOT / "benchmarks" / "results" / "phonopy_gfn1_check.json"
MIN_LENGTH = 17.0  # Å, as in the survey's GFN1 reference


def main() -> None:
    from ase_relaxed.phonons import compute_phonons, evaluation_info, gamma_frequencies
    from ase_relaxed.reference.generate import reference_calculator
    from ase_relaxed.symmetry.line_groups import line_group

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tube", default="6,6", help="held-out chirality n,m (default 6,6)")
    args = parser.parse_args()
    n, m = (int(x) for x in args.tube.split(","))
    key = f"{n},{m}"

    survey = json.loads(SURVEY.read_text())
    if key not in survey["gfn1_relaxed"] or key not in survey["gfn1"]:
        raise SystemExit(f"no GFN1 reference for ({key}) in {SURVEY}; run "
                         f"`python scripts/nanotube_phonon_survey.py --reference {key}` first")
    lg = line_group(n, m).with_domain(np.array(survey["gfn1_relaxed"][key]["domain"]))
    n_cells = int(ceil(MIN_LENGTH / lg.period - 1e-9))
    unit_cell = lg.to_atoms(1, vacuum=8.0)

    gfn1, meta = reference_calculator("gfn1-xtb")
    start = time.perf_counter()
    phonon = compute_phonons(unit_cell, gfn1, supercell_matrix=np.diag([1, 1, n_cells]), distance=0.01,
                             subtract_residual_forces=True)
    wall = time.perf_counter() - start
    info = evaluation_info(phonon)
    phonopy_gamma = gamma_frequencies(phonon)

    helical = np.array(survey["gfn1"][key]["gamma_frequencies"])
    model = np.array(survey["model"][key]["gamma_frequencies"])
    result = {
        "tube": key, "method": meta, "n_cells": n_cells, "supercell_atoms": len(unit_cell) * n_cells,
        "phonopy": {"n_displacements": len(phonon.displacements),
                    "n_force_evaluations": None if info is None else info.n_images,
                    "wall_s": round(wall, 1), "gamma_frequencies": np.round(phonopy_gamma, 2).tolist(),
                    "lowest_four": np.round(phonopy_gamma[:N_ZERO], 2).tolist()},
        "helical": {"n_force_evaluations": survey["gfn1"][key]["n_force_evaluations"],
                    "wall_s_including_relaxation": survey["gfn1"][key]["wall_s"]},
        "phonopy_gfn1_vs_helical_gfn1": gamma_deviation(phonopy_gamma, helical),
        "model_vs_phonopy_gfn1": gamma_deviation(model, phonopy_gamma),
    }
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k not in ("phonopy",)}, indent=1))
    print("phonopy:", {k: v for k, v in result["phonopy"].items() if k != "gamma_frequencies"})
    print("wrote", RESULTS.relative_to(ROOT))


if __name__ == "__main__":
    main()
