"""Training configuration as typed, checked sections, read from YAML.

A config file has four sections (and an optional fifth, ``distributed``); every key and value is
checked, and an unknown key or a bad value is an error, naming the file and the key, before any training starts::

    data:  {path: data.extxyz, val_fraction: 0.1, test_fraction: 0.1, split_by: family,
            test_families: ["cnt(6,3)"], seed: 0}
    model: {species: [C], cutoff: 5.0, num_layers: 3, channels: 32, l_max: 2}
    loss:  {energy_weight: 1.0, forces_weight: 10.0, stress_weight: 0.0}
    optim: {lr: 0.005, max_steps: 2000, batch_size: 4, ema_decay: 0.99, ...}
    distributed: {backend: auto, timeout_s: 600}   # only read under torchrun / --nproc
    out_dir: runs/carbon

>>> cfg = TrainConfig.from_dict({"data": {"path": "x.extxyz"}, "model": {"species": ["C"]}})
>>> cfg.optim.batch_size
4
>>> TrainConfig.from_dict({"data": {}, "model": {}, "optim": {"batch_size": 0}}, where="train.yaml")
Traceback (most recent call last):
...
ase_relaxed.errors.InputError: train.yaml: optim.batch_size: must be >= 1, got 0
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from ..configuration import Config
from ..models.config import ModelConfig


class DataSection(Config):
    """Where the labelled structures are and how they are split."""

    path: str = ""
    extra_paths: list[str] = Field(default_factory=list)  # more labelled files, appended to path's frames
    val_path: str = ""  # validation structures from this file (val_fraction is then not used)
    val_fraction: float = Field(0.1, ge=0, lt=1)
    test_fraction: float = Field(0.1, ge=0, lt=1)
    split_by: Literal["random", "family"] = "random"  # "family": whole families held out
    test_families: list[str] = Field(default_factory=list)  # with split_by=family: these form the test set
    seed: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _something_left_to_train_on(self) -> "DataSection":
        if self.val_fraction + self.test_fraction >= 1:
            raise ValueError(f"val_fraction + test_fraction must be < 1, got {self.val_fraction} + "
                             f"{self.test_fraction}")
        return self


class LossSection(Config):
    """L = w_E Σ((E−E_ref)/N)² + w_F Σ|F−F_ref|²/(3N) + w_S Σ|σ−σ_ref|²/9 (batch means)
    (+ for relaxed models: w_θ2 Σ_layers ‖θ − θ₀‖² + w_θG Σ_layers Σ_blocks≠0e ‖θ_block‖)."""

    energy_weight: float = Field(1.0, ge=0)
    forces_weight: float = Field(10.0, ge=0)
    stress_weight: float = Field(0.0, ge=0)
    theta_l2_weight: float = Field(0.0, ge=0)  # Hofgard et al. use 1e-6 (shape task)
    theta_group_weight: float = Field(0.0, ge=0)  # ... and 1e-4 (EM task)
    # physics-informed weak supervision (Takamoto et al. 2024): + w_TC PITC + w_SC PISC, see physics/losses.py.
    # The paper's ratios to the energy weight (1.2 and 0.01, unit-free) suggest pitc_weight = 1.2 energy_weight
    # and pisc_weight = 0.01 energy_weight; 0 switches a term off.
    pitc_weight: float = Field(0.0, ge=0)
    pisc_weight: float = Field(0.0, ge=0)
    weak_delta: float = Field(0.05, gt=0)  # Å: δ₀, the paper's; displacements are δ₀ × a draw of weak_distribution
    # "centered": U[−1, 1) minus the structure's mean (the accepted version), "uniform": U[0, 1) (an earlier
    # version), "uniform_symmetric": U[−1, 1), "normal": N(0, 1)
    weak_distribution: Literal["centered", "uniform", "uniform_symmetric", "normal"] = "centered"
    weak_use_labels: bool = False  # PITC right-hand side from the labels E_ref(R), F_ref(R)


class OptimSection(Config):
    """AdamW with linear warm-up and cosine decay, EMA of weights, clipping, early stopping."""

    lr: float = Field(5e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    max_steps: int = Field(1000, ge=1)
    warmup_steps: int = Field(20, ge=0)
    min_lr_ratio: float = Field(0.05, ge=0, le=1)
    batch_size: int = Field(4, ge=1)
    ema_decay: float = Field(0.99, ge=0, le=1)
    grad_clip: float = Field(10.0, gt=0)
    eval_every: int = Field(50, ge=1)
    checkpoint_every: int = Field(50, ge=1)
    patience: int = Field(20, ge=1)  # evaluations without validation improvement before stopping
    seed: int = Field(0, ge=0)


class DistributedSection(Config):
    """Data-parallel runs (``torchrun`` or ``ase-relaxed train --nproc N``); ignored by a single process.

    ``backend``: ``auto`` takes $ASE_RELAXED_DDP_BACKEND if set, else nccl with CUDA and gloo without.
    """

    backend: Literal["auto", "gloo", "nccl"] = "auto"
    timeout_s: float = Field(600.0, gt=0)  # a rank waiting longer than this for the others fails


class TrainConfig(Config):
    """The four sections and the output folder; ``data`` and ``model`` must be given."""

    data: DataSection
    model: ModelConfig
    loss: LossSection = Field(default_factory=LossSection)
    optim: OptimSection = Field(default_factory=OptimSection)
    distributed: DistributedSection = Field(default_factory=DistributedSection)
    out_dir: str = "run"

    @field_validator("data", "model", "loss", "optim", "distributed", mode="before")
    @classmethod
    def _empty_section_is_defaults(cls, value):
        return {} if value is None else value  # "loss:" with nothing under it in YAML

    @field_validator("out_dir", mode="before")
    @classmethod
    def _path_as_text(cls, value):
        return str(value) if isinstance(value, Path) else value

    @classmethod
    def from_yaml(cls, path: str | Path) -> "TrainConfig":
        """Read ``path``; relative data paths and ``out_dir`` are taken from the file's folder."""
        config = super().from_yaml(path)
        folder = Path(path).parent
        for name in ("path", "val_path"):
            value = getattr(config.data, name)
            if value and not Path(value).is_absolute():
                setattr(config.data, name, str((folder / value).resolve()))
        config.data.extra_paths = [p if Path(p).is_absolute() else str((folder / p).resolve())
                                   for p in config.data.extra_paths]
        if not Path(config.out_dir).is_absolute():
            config.out_dir = str((folder / config.out_dir).resolve())
        return config
