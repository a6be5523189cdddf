"""GFN1-xTB helical Γ phonons of validation tubes: in neither the kernel run's training tubes nor the held-out set.

    OMP_NUM_THREADS=2 python scripts/gfn1_validation_phonons.py 9,0     # ≈ 1–2 min per small tube

The same route as the held-out reference of scripts/nanotube_phonon_survey.py: the shortest whole number of
cells ≥ 17 Å (Γ-only GFN1-xTB), the domain relaxed with the period fixed (fmax 1e-4 eV/Å), 12 force calls.
Used to choose the kernel model's descriptor settings without looking at the held-out tubes (issue 17).
Results: benchmarks/results/gfn1_validation_phonons.json (one entry per tube; existing entries are kept).
"""

from __future__ import annotations

import json
import sys
import time
from math import ceil
from pathlib import Path

import numpy as np

from ase_relaxed.phonons import gamma_modes, helical_phonons
from ase_relaxed.phonons.helical import relax_line_group
from ase_relaxed.reference.generate import reference_calculator
from ase_relaxed.symmetry.line_groups import line_group

OUT = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "gfn1_validation_phonons.json"


def main(tubes: list[str]) -> None:
    data = json.loads(OUT.read_text()) if OUT.exists() else {}
    gfn1, meta = reference_calculator("gfn1-xtb")
    for key in tubes:
        if key in data:
            continue
        n, m = (int(x) for x in key.split(","))
        lg = line_group(n, m)
        n_cells = int(ceil(17.0 / lg.period - 1e-9))
        start = time.perf_counter()
        lg, calls = relax_line_group(lg, gfn1, n_cells=n_cells, fmax=1e-4, steps=200, relax_period=False)
        ph = helical_phonons(n, m, gfn1, line_group=lg, n_cells=n_cells, relax=False)
        modes = gamma_modes(ph)
        data[key] = {"n_cells": n_cells, "segment_atoms": int(len(lg.positions(n_cells))), "relax_calls": calls,
                     "domain": lg.domain.tolist(), "gamma_frequencies": np.sort(ph.gamma_frequencies).tolist(),
                     "rbm": modes["rbm"], "g_plus_axial": modes["g_plus_axial"],
                     "g_minus_circumferential": modes["g_minus_circumferential"],
                     "wall_s": round(time.perf_counter() - start, 1), "reference": meta}
        OUT.write_text(json.dumps(data, indent=1) + "\n")
        print(f"({key}): {calls} relaxation calls, {data[key]['wall_s']} s; RBM {modes['rbm']:.1f}, "
              f"G+ {modes['g_plus_axial']:.1f}, G- {modes['g_minus_circumferential']:.1f} cm⁻¹", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:] or ["9,0"])
