"""Error metrics of a model on labelled graphs.

    energy RMSE per atom = sqrt(mean_k ((E_k − E_k^ref) / N_k)²)
    force RMSE           = sqrt(mean_{i,α} (F_iα − F_iα^ref)²)
    stress RMSE          = sqrt(mean over 3D-periodic structures and 9 components)
    consistency RMS      = sqrt(mean_{i,α} (F_iα + ∂E/∂r_iα)²)       direct-force models only

The consistency error is zero by construction for a conservative model (F = −∇E); for a direct-force
model (:class:`~ase_relaxed.models.DirectForceOutput`) it is what the physics-informed losses PITC/PISC
(Takamoto, Zaverkin & Niepert 2024) push down: at small δ their residual is δ·(F + ∇E) to first order.

>>> from ase_relaxed import ModelConfig, build_model
>>> from ase_relaxed.structures import build_nanotube
>>> from ase.calculators.singlepoint import SinglePointCalculator
>>> from .dataset import labelled_graph
>>> tube = build_nanotube(5, 0)
>>> tube.calc = SinglePointCalculator(tube, energy=0.0, forces=tube.positions * 0)
>>> graphs = [labelled_graph(tube, 4.0)]
>>> direct = build_model(ModelConfig(species=["C"], channels=4, num_layers=1, forces="direct"))
>>> error_metrics(predict(direct, graphs))["consistency_rms"] > 0
True
>>> "consistency_rms" in error_metrics(predict(build_model(ModelConfig(species=["C"], channels=4)), graphs))
False
"""

from __future__ import annotations

import numpy as np
import torch

from .. import keys
from .dataset import STRESS_MASK, batch_labelled


def predict(model: torch.nn.Module, graphs: list[dict], batch_size: int = 16, stress: bool = True) -> dict:
    """Predictions and labels for ``graphs`` as numpy arrays (model in eval mode)."""
    was_training = model.training
    model.eval()
    direct = not getattr(model, "conservative", True)
    out = {k: [] for k in ("e", "e_ref", "n", "f", "f_ref", "f_grad", "s", "s_ref", "s_mask")}
    for start in range(0, len(graphs), batch_size):
        batch = batch_labelled(graphs[start : start + batch_size])
        want_stress = stress and bool(batch[STRESS_MASK].any())
        extra = {"compute_gradient_forces": True} if direct else {}
        pred = model(batch, compute_forces=True, compute_stress=want_stress, **extra)
        if direct:
            out["f_grad"].append(pred[keys.GRADIENT_FORCES].numpy())
        out["e"].append(pred[keys.ENERGY].numpy())
        out["e_ref"].append(batch[keys.ENERGY].numpy())
        out["n"].append(batch[keys.NUM_ATOMS].numpy())
        out["f"].append(pred[keys.FORCES].numpy())
        out["f_ref"].append(batch[keys.FORCES].numpy())
        if want_stress:
            mask = batch[STRESS_MASK].numpy()
            out["s"].append(pred[keys.STRESS].numpy()[mask])
            out["s_ref"].append(batch[keys.STRESS].numpy()[mask])
    model.train(was_training)
    return {k: np.concatenate(v) if v else np.zeros(0) for k, v in out.items()}


def error_metrics(prediction: dict) -> dict[str, float]:
    """Energy MAE/RMSE per atom (eV/atom), force MAE/RMSE (eV/Å), stress RMSE (eV/Å³) and, for direct-force
    models, the consistency RMS of F + ∇E (eV/Å)."""
    de = (prediction["e"] - prediction["e_ref"]) / prediction["n"]
    df = prediction["f"] - prediction["f_ref"]
    metrics = {
        "energy_mae_per_atom": float(np.abs(de).mean()),
        "energy_rmse_per_atom": float(np.sqrt((de**2).mean())),
        "forces_mae": float(np.abs(df).mean()),
        "forces_rmse": float(np.sqrt((df**2).mean())),
        "forces_std": float(prediction["f_ref"].std()),
        "forces_rmse_over_std": float(np.sqrt((df**2).mean()) / max(prediction["f_ref"].std(), 1e-300)),
        "structures": int(len(de)),
    }
    if len(prediction.get("f_grad", ())):
        metrics["consistency_rms"] = float(np.sqrt(((prediction["f"] - prediction["f_grad"]) ** 2).mean()))
    if len(prediction["s"]):
        metrics["stress_rmse"] = float(np.sqrt(((prediction["s"] - prediction["s_ref"]) ** 2).mean()))
    return metrics


#: how ``ase-relaxed test`` prints each metric: (unit, factor from the stored SI-like ASE unit)
METRIC_UNITS = {
    "energy_mae_per_atom": ("meV/atom", 1e3), "energy_rmse_per_atom": ("meV/atom", 1e3),
    "forces_mae": ("eV/Å", 1.0), "forces_rmse": ("eV/Å", 1.0), "forces_std": ("eV/Å", 1.0),
    "forces_rmse_over_std": ("% of the label spread σ_F", 100.0), "structures": ("structures", 1),
    "stress_rmse": ("meV/Å³", 1e3), "consistency_rms": ("eV/Å (RMS of F + ∂E/∂r)", 1.0),
}


def format_metrics(metrics: dict) -> list[str]:
    """One line per metric with its unit (stored values are eV/atom, eV/Å, eV/Å³; printed in the unit shown).

    >>> format_metrics({"energy_rmse_per_atom": 0.0015, "forces_rmse": 0.12, "structures": 60})
    ... # doctest: +NORMALIZE_WHITESPACE
    ['energy_rmse_per_atom     1.5000 meV/atom', 'forces_rmse              0.1200 eV/Å',
     'structures               60 structures']
    """
    lines = []
    for key, value in metrics.items():
        unit, factor = METRIC_UNITS.get(key, ("", 1.0))
        if isinstance(value, int) and not isinstance(value, bool):
            text = f"{value * factor}"
        elif isinstance(value, float):
            text = f"{value * factor:.4f}"
        else:
            text = str(value)
        lines.append(f"{key:24s} {text} {unit}".rstrip())
    return lines
