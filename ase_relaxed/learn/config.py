"""Settings of on-the-fly learning (``ase-relaxed learn``): which tubes, how hot, when to call the reference.

Defaults follow issue 17 and SPARC's MLFF (Sharma, Kumar, Suryanarayana, arXiv:2408.07554): Langevin MD of
representative tubes (zigzag, armchair and chiral; none of carbon-gfn1's held-out (11,0), (6,6), (7,4)) at
100–1500 K under the kernel model (the 100 K episodes sample the near-harmonic forces that phonons need);
a reference call whenever the largest predicted
(model, epistemic) force σ exceeds

    σ_tol = max(threshold, threshold_factor × max σ at the last labelled frame, after the refit),

SPARC's rule (it re-sets σ_tol to 1.001–1.01 × the largest predicted error after each training; a larger
factor makes fewer calls), or every ``every`` steps since the last call when ``every`` > 0.

>>> LearnConfig(tubes=["8,0"], temperatures=[300.0], steps=10).episodes()
[('8,0', 300.0)]
"""

from __future__ import annotations

from pydantic import Field, field_validator

from ..configuration import Config
from ..reference.generate import Chirality, ReferenceMethod

__all__ = ["LearnConfig"]


class LearnConfig(Config):
    """What one on-the-fly run does (lengths Å, temperatures K, times fs, forces eV/Å).

    tubes: chiralities "n,m" to run MD on (segments of ≥ ``min_length`` with ``vacuum`` around, as the data
    generator builds them, so Γ-only GFN1-xTB is converged), each episode starting from the ideal tube with
    Gaussian displacements of ``rattle`` (so that even the first frame has forces to learn from).
    temperatures: each tube runs ``steps`` Langevin
    steps at each, coolest first for all tubes, then hotter. timestep, friction (1/fs): Langevin settings.
    threshold, threshold_factor, every: when to call the reference (module docstring). max_calls: stop
    learning after this many reference calls. min_distance: an episode whose atoms come closer than this has
    blown up and is ended (logged). reference: the labelling method. n_representative, energy_weight,
    selection: the kernel model (:class:`~ase_relaxed.kernel.KernelTrainingSet`); reselect_growth: choose the
    representatives again when the set has grown by this factor since the last choice.
    """

    tubes: list[Chirality] = Field(default_factory=lambda: ["8,0", "10,0", "12,0", "5,5", "7,7", "8,8", "6,3", "8,4"],
                                   min_length=1)
    temperatures: list[float] = Field(default_factory=lambda: [100.0, 300.0, 800.0, 1500.0], min_length=1)
    steps: int = Field(100, ge=1)
    rattle: float = Field(0.03, ge=0)
    timestep: float = Field(1.0, gt=0, le=5)
    friction: float = Field(0.01, gt=0)
    threshold: float = Field(0.02, ge=0)
    threshold_factor: float = Field(1.5, ge=1)
    every: int = Field(0, ge=0)
    max_calls: int = Field(150, ge=1)
    min_distance: float = Field(1.0, gt=0)
    reference: ReferenceMethod = "gfn1-xtb"
    electronic_temperature: float = Field(300.0, gt=0)
    min_length: float = Field(17.0, gt=0)
    vacuum: float = Field(6.0, ge=0)
    n_representative: int = Field(400, ge=1)
    energy_weight: float = Field(10.0, gt=0)
    selection: str = "cur"
    reselect_growth: float = Field(1.5, gt=1)
    seed: int = Field(0, ge=0)

    @field_validator("temperatures")
    @classmethod
    def _positive(cls, values: list[float]) -> list[float]:
        if min(values) <= 0:
            raise ValueError("temperatures must be > 0 K")
        return values

    @field_validator("selection")
    @classmethod
    def _known_selection(cls, selection: str) -> str:
        if selection not in ("cur", "fps", "random"):
            raise ValueError("selection must be 'cur', 'fps' or 'random'")
        return selection

    def episodes(self) -> list[tuple[str, float]]:
        """(tube, temperature) of every MD episode, in the order they run."""
        return [(tube, temperature) for temperature in sorted(self.temperatures) for tube in self.tubes]
