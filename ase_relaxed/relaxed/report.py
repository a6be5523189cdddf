"""Read back which symmetry a trained relaxed model broke (Hofgard et al., arXiv:2407.20471, Sec. 4).

A relaxed model with weights θ⁽ᵗ⁾ in layers t = 1…T keeps exactly the operations that leave every
layer's θ unchanged,

    G = ∩_t Stab(θ⁽ᵗ⁾) = Stab(θ⁽¹⁾ ⊕ … ⊕ θ⁽ᵀ⁾),

so the report stacks all layers' blocks (as extra multiplicity rows) and asks
:func:`~ase_relaxed.relaxed.stabilizer` for the largest point group left.  Blocks whose norm is
below ``floor`` × ‖θ_0e‖ are treated as zero ("near zero beyond 0e" → the full symmetry O(3)).

>>> from ase_relaxed import ModelConfig, build_model
>>> model = build_model(ModelConfig(species=["C"], channels=4, num_layers=1, relaxed=True))
>>> symmetry_breaking_report(model).group
'O(3)'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from .stabilizer import StabilizerResult, plot_theta, stabilizer


@dataclass
class SymmetryReport:
    """Per-layer block norms of θ, the blocks kept, and the stabiliser of all of them."""

    layer_norms: list[dict[str, float]]
    kept_blocks: list[str]
    result: StabilizerResult
    floor: float
    theta: list[dict[str, np.ndarray]] = field(repr=False)

    @property
    def group(self) -> str:
        return self.result.schoenflies

    @property
    def hermann_mauguin(self) -> str:
        return self.result.hermann_mauguin

    @property
    def axis(self) -> np.ndarray | None:
        return self.result.axis

    def axis_angle_to(self, direction) -> float:
        """Angle in degrees between the principal axis and ``direction`` (sign ignored)."""
        if self.axis is None:
            raise InputError(f"the group {self.group} has no unique principal axis")
        n = np.asarray(direction, dtype=float)
        cosine = abs(float(self.axis @ n)) / np.linalg.norm(n)
        return float(np.degrees(np.arccos(min(1.0, cosine))))

    def format(self) -> str:
        names = list(self.layer_norms[0])
        lines = ["θ block norms (rows: layers)", "layer " + " ".join(f"{n:>9s}" for n in names)]
        for t, norms in enumerate(self.layer_norms):
            lines.append(f"{t:5d} " + " ".join(f"{norms[n]:9.2e}" for n in names))
        lines.append(f"blocks above {self.floor:g} × |θ_0e|: {', '.join(self.kept_blocks) or 'none'}")
        order = "infinite" if self.result.order is None else str(self.result.order)
        lines.append(f"symmetry kept: {self.result.schoenflies} ({self.result.hermann_mauguin}), order {order}")
        if self.axis is not None:
            lines.append("principal axis: [" + ", ".join(f"{x:+.4f}" for x in self.axis) + "]")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {
            "layer_norms": self.layer_norms, "kept_blocks": self.kept_blocks, "floor": self.floor,
            "schoenflies": self.result.schoenflies, "hermann_mauguin": self.result.hermann_mauguin,
            "order": self.result.order, "axis": None if self.axis is None else [float(x) for x in self.axis],
        }

    def plot(self, path: str | Path) -> Path:
        """Bar chart of the block norms and the l=1, l=2 parts as spherical signals (PNG)."""
        return plot_theta({f"layer {t}": theta for t, theta in enumerate(self.theta)}, path)


def symmetry_breaking_report(model, floor: float = 0.02, tol: float = 0.05) -> SymmetryReport:
    """Block norms of θ in every layer and the point group they keep (see module docstring)."""
    energy_model = getattr(model, "energy_model", model)
    filters = energy_model.relaxed_filters() if hasattr(energy_model, "relaxed_filters") else []
    if not filters:
        raise InputError("this model has no symmetry-breaking weights (it was built with relaxed=False); "
                         "it is exactly E(3)-equivariant")
    theta = [{name: block.double().cpu().numpy() for name, block in layer.theta_blocks().items()}
             for layer in filters]
    norms = [{name: float(np.linalg.norm(block)) for name, block in blocks.items()} for blocks in theta]
    stacked: dict[str, list[np.ndarray]] = {}
    kept = set()
    for blocks in theta:
        scale = float(np.linalg.norm(blocks["0e"]))
        for name, block in blocks.items():
            if name == "0e" or np.linalg.norm(block) > floor * scale:
                stacked.setdefault(name, []).append(block)
                kept.add(name)
    result = stabilizer({name: np.concatenate(rows) for name, rows in stacked.items()}, tol=tol)
    ordered = [name for name in theta[0] if name in kept and name != "0e"]
    return SymmetryReport(norms, ordered, result, floor, theta)


def tolerance_scan(model, tolerances=(0.01, 0.02, 0.05, 0.1, 0.2), floor: float = 0.02) -> list[dict]:
    """The group θ keeps at each relative tolerance, like a ``symprec`` scan in spglib.

    A learned θ is never exactly symmetric: an axial group at a tolerance slightly above the default
    says that the data's symmetry breaking is that of the axial group, up to residual anisotropy of the
    size of that tolerance (relative to the symmetry-breaking part of θ).

    >>> from ase_relaxed import ModelConfig, build_model
    >>> model = build_model(ModelConfig(species=["C"], channels=4, num_layers=1, relaxed=True))
    >>> [row["schoenflies"] for row in tolerance_scan(model, (0.01, 0.1))]
    ['O(3)', 'O(3)']
    """
    rows = []
    for tol in tolerances:
        report = symmetry_breaking_report(model, floor=floor, tol=tol)
        rows.append({"tol": tol, "schoenflies": report.group, "hermann_mauguin": report.hermann_mauguin,
                     "axis": None if report.axis is None else [float(x) for x in report.axis]})
    return rows
