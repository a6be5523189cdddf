"""Options of an MD run: one checked config, filled from defaults ← YAML config ← command-line flags.

The same names are used everywhere: as ``--flag-names`` on the command line, as ``flag_names``
(or ``flag-names``) keys in a ``--config`` YAML file, and as attributes here.  Unknown config keys
are errors, so a typo never silently falls back to a default.

>>> options = MDOptions.from_sources({"ensemble": "langevin"}, {"temperature": 500.0})
>>> options.ensemble, options.temperature, options.tdamp_fs
('langevin', 500.0, 50.0)
>>> MDOptions.from_sources({"temperatures": [300, 600]}).replica_path("md.extxyz", 1)
'md_r1.extxyz'
>>> MDOptions.from_sources({"replicas": 0})
Traceback (most recent call last):
...
ase_relaxed.errors.InputError: replicas: must be >= 1, got 0
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from ..configuration import Config, read_yaml
from ..pretrained import DEFAULT_MODEL

ENSEMBLES = ("nve", "langevin", "bussi", "nose-hoover", "npt")
BAROSTATS = ("isotropic", "anisotropic")
THERMOSTATTED = ("langevin", "bussi", "nose-hoover", "npt")

# options that define the trajectory; a resumed run must not change them
PHYSICS_KEYS = (
    "structure", "index", "model", "dtype", "ensemble", "barostat", "temperature", "temperatures",
    "initial_temperature", "pressure", "timestep", "seed", "replicas", "friction", "tdamp", "pdamp",
    "traj", "log", "interval",
)


class MDOptions(Config):
    """Everything an ``ase-relaxed md`` run needs (units: K, GPa, fs, 1/fs, eV/Å, Å).

    ``temperatures`` (one per replica) overrides ``temperature``; ``initial_temperature``
    (default: the target) sets the Maxwell–Boltzmann velocities; ``tdamp``/``pdamp`` default to
    100 and 1000 time steps.  Output paths equal to ``"none"`` switch that output off.
    Values are checked when the options are built and when one is assigned.
    """

    key_noun: ClassVar[str] = "MD option"

    structure: str | None = None
    index: str = "-1"
    model: str = DEFAULT_MODEL
    device: str = "auto"
    dtype: Literal["float32", "float64"] | None = None
    compile: bool = False  # torch.compile the model (RelaxedCalculator(compile=True)); may change on resume
    ensemble: Literal[ENSEMBLES] = "nve"
    barostat: Literal[BAROSTATS] = "isotropic"
    temperature: float = Field(300.0, ge=0)
    temperatures: list[float] | None = Field(None, min_length=1)
    initial_temperature: float | None = Field(None, ge=0)
    pressure: float = 0.0
    timestep: float = Field(0.5, gt=0)
    steps: int = Field(1000, ge=0)
    seed: int = Field(0, ge=0)
    replicas: int = Field(1, ge=1)
    friction: float = Field(0.01, gt=0)
    tdamp: float | None = Field(None, gt=0)
    pdamp: float | None = Field(None, gt=0)
    traj: str = "md.extxyz"
    log: str = "md.csv"
    checkpoint: str = "md.checkpoint.npz"
    interval: int = Field(10, ge=1)
    checkpoint_interval: int | None = Field(None, ge=1)
    resume: bool = False
    max_force: float = Field(50.0, gt=0)
    min_distance: float = Field(0.5, ge=0)
    max_temperature: float | None = Field(None, gt=0)
    quiet: bool = False

    # -- construction -------------------------------------------------------------
    @classmethod
    def field_names(cls) -> list[str]:
        return list(cls.model_fields)

    @classmethod
    def option_name(cls, key: object) -> str:
        """``max-force`` → ``max_force``; a key that names no option is kept as given (for the error)."""
        name = str(key).replace("-", "_")
        return name if name in cls.model_fields else str(key)

    @classmethod
    def from_sources(cls, *sources: dict | None) -> "MDOptions":
        """Merge mappings left to right (later wins); keys may use dashes or underscores."""
        values: dict = {}
        for source in sources:
            values.update({cls.option_name(key): value for key, value in (source or {}).items()})
        return cls.from_dict(values)

    @classmethod
    def read_config(cls, path: str | Path) -> dict:
        """The options in a YAML config file, each key and value checked (errors name the file); the checks
        across options wait for :meth:`from_sources`, since flags may still change them."""
        values = read_yaml(path)
        cls.from_dict(values, where=str(path), context={"partial": True})
        return {cls.option_name(key): value for key, value in values.items()}

    # -- checks --------------------------------------------------------------------
    @model_validator(mode="before")
    @classmethod
    def _underscored_keys(cls, values):
        return {cls.option_name(k): v for k, v in values.items()} if isinstance(values, dict) else values

    @field_validator("index", mode="before")
    @classmethod
    def _index_as_text(cls, value):
        return str(value) if isinstance(value, int) else value  # YAML "index: 0" is an integer

    @field_validator("temperatures", mode="before")
    @classmethod
    def _one_temperature_is_a_list(cls, value):
        return [value] if isinstance(value, (int, float)) else value

    @field_validator("temperatures")
    @classmethod
    def _temperatures_not_negative(cls, value: list[float] | None) -> list[float] | None:
        if value is not None and min(value) < 0:
            raise ValueError("must all be >= 0 K")
        return value

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> "MDOptions":
        if (info.context or {}).get("partial"):  # one source of several: other sources may still change these
            return self
        if self.temperatures is not None:
            if self.replicas not in (1, len(self.temperatures)):
                raise ValueError(f"replicas {self.replicas} but {len(self.temperatures)} temperatures given")
            self.__dict__["replicas"] = len(self.temperatures)  # set without re-running this check
        if self.ensemble in THERMOSTATTED and min(self.target_temperatures) <= 0:
            raise ValueError(f"ensemble {self.ensemble} needs a target temperature > 0 K, got "
                             f"{self.target_temperatures}")
        seen: dict[Path, str] = {}
        for name, path in self.output_files():
            if Path(path).resolve() in seen:
                raise ValueError(f"{seen[Path(path).resolve()]} and {name} name the same file {path!r}; give each "
                                 "output its own file")
            seen[Path(path).resolve()] = name
        return self

    def output_files(self) -> list[tuple[str, str]]:
        """(option, path) of every file the run writes: trajectory and log per replica, and the checkpoint."""
        files = [(name, self.replica_path(path, k)) for name, path in (("traj", self.traj), ("log", self.log))
                 for k in range(self.n_replicas)]
        files = [(name, path) for name, path in files if path]
        if self.checkpoint and self.checkpoint.lower() != "none":
            files.append(("checkpoint", self.checkpoint))
        return files

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
