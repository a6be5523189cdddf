"""The curvature floor of PITC: its residual for an exactly conservative model, against δ₀ (issue 16).

    python benchmarks/pitc_curvature_floor.py        # → benchmarks/results/pitc_curvature_floor.json

For F = −∇E the Taylor residual E(R+δ) − E(R) + δ·F(R) is ½δᵀHδ + O(δ³): no model can remove it, it grows
like δ₀², while the signal PITC is meant to see, δ·(F + ∇E) of an inconsistent model, grows like δ₀.  This
measures the floor with the shipped conservative ``carbon-gfn1`` (float64) on six held-out GFN1-xTB (11,0)
frames (176 atoms), centred δ (the default scheme), three draws per δ₀: the RMS per-atom residual
sqrt(L_PITC).  Compare it with the first-order signal of a direct model with consistency error ε,
≈ (δ₀/√3) ε √(3/N) per atom (ε = 1.35 eV/Å, N = 176: 5.1 meV/atom at δ₀ = 0.05 Å).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
DELTAS = (0.003, 0.005, 0.01, 0.02, 0.05)


def main() -> int:
    from ase.io import read

    from ase_relaxed import __version__, load_model
    from ase_relaxed.physics.losses import weak_supervision_losses
    from ase_relaxed.pretrained import pretrained_path
    from ase_relaxed.train.dataset import batch_labelled, labelled_graph

    torch.set_num_threads(2)
    model = load_model(pretrained_path("carbon-gfn1")).double()
    frames = [a for a in read(ROOT / "data" / "carbon_gfn1.extxyz", ":") if a.info["family"] == "cnt(11,0)"][:6]
    batch = batch_labelled([labelled_graph(a, model.config.cutoff) for a in frames])
    rows = []
    for delta in DELTAS:
        losses = [float(weak_supervision_losses(model, batch, delta=delta, generator=torch.Generator().manual_seed(k),
                                                terms=("pitc",))["pitc"]) for k in range(3)]
        floor = math.sqrt(sum(losses) / len(losses))
        signal = delta / math.sqrt(3) * 1.35 * math.sqrt(3 / 176)
        rows.append({"delta0_A": delta, "floor_meV_per_atom": 1e3 * floor,
                     "first_order_signal_meV_per_atom_at_1.35_eV_per_A": 1e3 * signal})
        print(f"δ₀ = {delta:5.3f} Å: curvature floor {1e3 * floor:7.3f} meV/atom, first-order signal of a direct model "
              f"with RMS(F+∇E) = 1.35 eV/Å ≈ {1e3 * signal:6.3f} meV/atom")
    out = ROOT / "benchmarks" / "results" / "pitc_curvature_floor.json"
    out.write_text(json.dumps({"model": "carbon-gfn1", "frames": "6 held-out GFN1-xTB cnt(11,0) frames",
                               "distribution": "centered", "ase_relaxed": __version__, "rows": rows}, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
