"""Options of an MD run: one dataclass, filled from defaults ← YAML config ← command-line flags.

The same names are used everywhere: as ``--flag-names`` on the command line, as ``flag_names``
(or ``flag-names``) keys in a ``--config`` YAML file, and as attributes here.  Unknown config keys
are errors, so a typo never silently falls back to a default.

>>> options = MDOptions.from_sources({"ensemble": "langevin"}, {"temperature": 500.0})
>>> options.ensemble, options.temperature, options.tdamp_fs
('langevin', 500.0, 50.0)
>>> MDOptions.from_sources({"temperatures": [300, 600]}).replica_path("md.extxyz", 1)
'md_r1.extxyz'
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from ..pretrained import DEFAULT_MODEL

ENSEMBLES = ("nve", "langevin", "bussi", "nose-hoover", "npt")
BAROSTATS = ("isotropic", "anisotropic")

# options that define the trajectory; a resumed run must not change them
PHYSICS_KEYS = (
    "structure", "index", "model", "dtype", "ensemble", "barostat", "temperature", "temperatures",
    "initial_temperature", "pressure", "timestep", "seed", "replicas", "friction", "tdamp", "pdamp",
    "traj", "log", "interval",
)


@dataclass
class MDOptions:
    """Everything an ``ase-relaxed md`` run needs (units: K, GPa, fs, 1/fs, eV/Å, Å).

    ``temperatures`` (one per replica) overrides ``temperature``; ``initial_temperature``
    (default: the target) sets the Maxwell–Boltzmann velocities; ``tdamp``/``pdamp`` default to
    100 and 1000 time steps.  Output paths equal to ``"none"`` switch that output off.
    """

    structure: str | None = None
    index: str = "-1"
    model: str = DEFAULT_MODEL
    device: str = "auto"
    dtype: str | None = None
    ensemble: str = "nve"
    barostat: str = "isotropic"
    temperature: float = 300.0
    temperatures: list[float] | None = None
    initial_temperature: float | None = None
    pressure: float = 0.0
    timestep: float = 0.5
    steps: int = 1000
    seed: int = 0
    replicas: int = 1
    friction: float = 0.01
    tdamp: float | None = None
    pdamp: float | None = None
    traj: str = "md.extxyz"
    log: str = "md.csv"
    checkpoint: str = "md.checkpoint.npz"
    interval: int = 10
    checkpoint_interval: int | None = None
    resume: bool = False
    max_force: float = 50.0
    min_distance: float = 0.5
    max_temperature: float | None = None
    quiet: bool = False

    # -- construction -------------------------------------------------------------
    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_sources(cls, *sources: dict | None) -> "MDOptions":
        """Merge mappings left to right (later wins); keys may use dashes or underscores."""
        known = set(cls.field_names())
        values: dict = {}
        for source in sources:
            for key, value in (source or {}).items():
                name = str(key).replace("-", "_")
                if name not in known:
                    raise InputError(f"unknown MD option {key!r}; known options: {sorted(known)}")
                values[name] = value
        options = cls(**values)
        options.validate()
        return options

    @staticmethod
    def read_config(path: str | Path) -> dict:
        """The mapping in a YAML config file (keys checked later by :meth:`from_sources`)."""
        import yaml

        path = Path(path)
        if not path.exists():
            raise InputError(f"config file {str(path)!r} does not exist")
        try:
            values = yaml.safe_load(path.read_text())
        except yaml.YAMLError as error:
            raise InputError(f"cannot parse {str(path)!r} as YAML: {error}") from None
        if values is None:
            return {}
        if not isinstance(values, dict):
            raise InputError(f"config {str(path)!r} must be a mapping of option: value")
        return values

    def to_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.field_names()}

    # -- checks --------------------------------------------------------------------
    def validate(self) -> None:
        """Types and ranges, with messages that name the flag."""
        try:
            for name in ("temperature", "pressure", "timestep", "friction", "max_force", "min_distance"):
                setattr(self, name, float(getattr(self, name)))
            for name in ("steps", "seed", "replicas", "interval"):
                setattr(self, name, int(getattr(self, name)))
            for name in ("tdamp", "pdamp", "initial_temperature", "max_temperature"):
                if getattr(self, name) is not None:
                    setattr(self, name, float(getattr(self, name)))
            if self.checkpoint_interval is not None:
                self.checkpoint_interval = int(self.checkpoint_interval)
            if self.temperatures is not None:
                values = self.temperatures if isinstance(self.temperatures, (list, tuple)) else [self.temperatures]
                self.temperatures = [float(t) for t in values]
            self.index = str(self.index)
        except (TypeError, ValueError) as error:
            raise InputError(f"bad MD option value: {error}") from None
        if self.ensemble not in ENSEMBLES:
            raise InputError(f"--ensemble must be one of {ENSEMBLES}, got {self.ensemble!r}")
        if self.barostat not in BAROSTATS:
            raise InputError(f"--barostat must be one of {BAROSTATS}, got {self.barostat!r}")
        if self.temperatures is not None:
            if not self.temperatures:
                raise InputError("--temperatures needs at least one value")
            if self.replicas not in (1, len(self.temperatures)):
                raise InputError(f"--replicas {self.replicas} but {len(self.temperatures)} --temperatures given")
            self.replicas = len(self.temperatures)
        checks = [
            (self.timestep > 0, "--timestep must be positive (fs)"),
            (self.steps >= 0, "--steps must be >= 0"),
            (self.replicas >= 1, "--replicas must be >= 1"),
            (self.interval >= 1, "--interval must be >= 1"),
            (self.checkpoint_interval is None or self.checkpoint_interval >= 1, "--checkpoint-interval must be >= 1"),
            (self.friction > 0, "--friction must be positive (1/fs)"),
            (self.tdamp is None or self.tdamp > 0, "--tdamp must be positive (fs)"),
            (self.pdamp is None or self.pdamp > 0, "--pdamp must be positive (fs)"),
            (min(self.target_temperatures) >= 0, "temperatures must be >= 0 K"),
            (self.max_force > 0 and self.min_distance >= 0, "--max-force must be > 0 and --min-distance >= 0"),
            (self.dtype in (None, "float32", "float64"), "--dtype must be float32 or float64"),
        ]
        for ok, message in checks:
            if not ok:
                raise InputError(message)
        if self.ensemble in ("langevin", "bussi", "nose-hoover", "npt") and min(self.target_temperatures) <= 0:
            raise InputError(f"--ensemble {self.ensemble} needs a target temperature > 0 K")

    # -- derived values ----------------------------------------------------------------
    @property
    def n_replicas(self) -> int:
        return len(self.temperatures) if self.temperatures else self.replicas

    @property
    def target_temperatures(self) -> list[float]:
        """Target temperature of every replica (K)."""
        return list(self.temperatures) if self.temperatures else [self.temperature] * self.replicas

    @property
    def tdamp_fs(self) -> float:
        """Thermostat time constant (fs): ``--tdamp`` or 100 time steps."""
        return self.tdamp if self.tdamp is not None else 100.0 * self.timestep

    @property
    def pdamp_fs(self) -> float:
        """Barostat time constant (fs): ``--pdamp`` or 1000 time steps."""
        return self.pdamp if self.pdamp is not None else 1000.0 * self.timestep

    @property
    def temperature_limit(self) -> float:
        """Runaway threshold (K): ``--max-temperature`` or max(10 × hottest target, 10000 K)."""
        if self.max_temperature is not None:
            return self.max_temperature
        return max(10.0 * max(self.target_temperatures), 10_000.0)

    @property
    def checkpoint_every(self) -> int:
        return self.checkpoint_interval or self.interval

    def seed_of(self, replica: int) -> int:
        return self.seed + replica

    def replica_path(self, path: str | None, replica: int) -> str | None:
        """``md.extxyz`` → ``md_r{k}.extxyz`` when there are several replicas; ``None`` for "none"."""
        if path is None or str(path).lower() == "none" or str(path) == "":
            return None
        if self.n_replicas == 1:
            return str(path)
        p = Path(path)
        return str(p.with_name(f"{p.stem}_r{replica}{p.suffix}"))

    def resume_mismatches(self, saved: dict) -> list[str]:
        """Physics options that differ from those of the checkpointed run."""
        return [
            f"{key}: checkpoint {saved.get(key)!r}, now {getattr(self, key)!r}"
            for key in PHYSICS_KEYS
            if key in saved and saved[key] != getattr(self, key)
        ]
