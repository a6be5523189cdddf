"""The MD loop: replicas as state, :meth:`MDRunner.step` to advance them, :meth:`MDRunner.run` to drive.

A run is a list of :class:`Replica` (atoms with positions, momenta and cell; an ASE integrator;
a numpy ``Generator``; its outputs).  One *step* advances every replica by Δt in lockstep,
with their forces from one batched evaluation (:mod:`.replicas`), then checks them
(:mod:`.guard`).  Every ``interval`` steps a log row and a trajectory frame are written per
replica; every ``checkpoint_interval`` steps (and at the end) a checkpoint.  The loop order

    step → guard → log + frame → checkpoint

means a failed guard never writes the bad state, and a kill at any point leaves a checkpoint
no newer than the outputs (which ``--resume`` cuts back to it).

Initial velocities: ``p`` drawn from the Maxwell–Boltzmann distribution at the initial
temperature with ``numpy.random.default_rng(seed + k)``, centre-of-mass momentum removed.
Thermostat noise comes from a second generator, ``default_rng([seed + k, 1])``, whose state is
checkpointed, so a resumed Langevin or Bussi run continues the same random sequence.

Throughput: ``ns/day = (steps/s) × Δt[fs] × 86400 s/day × 10⁻⁶ ns/fs``.

>>> from ase.build import bulk
>>> from ase.calculators.emt import EMT
>>> options = MDOptions(ensemble="nve", steps=20, traj="none", log="none", checkpoint="none", quiet=True)
>>> result = MDRunner(bulk("Cu", cubic=True), EMT(), options).run()
>>> result.step
20
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from ase import Atoms, units
from ase.calculators.calculator import Calculator
from ase.md.md import MolecularDynamics

from ..calculator import warn_if_not_conservative
from ..errors import InputError, Interrupted
from ..interrupt import deferred_stop, stop_requested
from ..provenance import provenance, provenance_info
from .checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from .ensembles import conserved_energy, dynamics_state, make_dynamics, restore_dynamics_state, state_kind
from .guard import Guard, SimulationError
from .options import MDOptions
from .outputs import LOG_COLUMNS, NPT_COLUMNS, CSVLog, TrajectoryWriter, truncate_log, truncate_trajectory
from .replicas import BatchedReplicaEvaluator, ReplicaCalculator


@dataclass
class Replica:
    """One independent trajectory and its outputs."""

    index: int
    atoms: Atoms
    dynamics: MolecularDynamics
    rng: np.random.Generator
    temperature: float
    seed: int
    log: CSVLog | None = None
    traj: TrajectoryWriter | None = None


@dataclass
class MDResult:
    """What a finished (or stopped) run reports."""

    step: int
    steps_run: int
    wall_s: float
    atoms: list[Atoms] = field(default_factory=list)
    timestep_fs: float = 0.0

    @property
    def steps_per_s(self) -> float:
        return self.steps_run / self.wall_s if self.wall_s > 0 else float("nan")

    @property
    def ns_per_day(self) -> float:
        return ns_per_day(self.steps_per_s, self.timestep_fs)


def ns_per_day(steps_per_s: float, timestep_fs: float) -> float:
    """Simulated nanoseconds per wall-clock day: steps/s × Δt[fs] × 86400 × 1e-6."""
    return steps_per_s * timestep_fs * 86400 * 1e-6


def integrator_rng(seed: int) -> np.random.Generator:
    """The thermostat's generator of replica seed ``seed`` (distinct from the velocity generator)."""
    return np.random.default_rng([seed, 1])


def initialise_velocities(atoms: Atoms, temperature_K: float, seed: int) -> None:
    """Maxwell–Boltzmann momenta at ``temperature_K`` from ``default_rng(seed)``; zero total momentum."""
    from ase.md.velocitydistribution import Stationary, thermalize_momenta

    if temperature_K <= 0:
        atoms.set_momenta(np.zeros((len(atoms), 3)))
        return
    thermalize_momenta(atoms, temperature_K, rng=np.random.default_rng(seed))
    Stationary(atoms)


class MDRunner:
    """Build replicas from ``structures`` (one Atoms for all, or one per replica) or, with
    ``checkpoint``, from a saved run; ``calc`` is any ASE calculator (batched if it has
    ``calculate_batch``)."""

    def __init__(
        self,
        structures: Atoms | Sequence[Atoms] | None,
        calc: Calculator,
        options: MDOptions,
        checkpoint: Checkpoint | None = None,
    ) -> None:
        self.options = options  # checked when built and on every assignment (a Config)
        self.kind = state_kind(options.ensemble, options.barostat)
        self.guard = Guard(options.max_force, options.min_distance, options.temperature_limit)
        n = options.n_replicas
        if options.ensemble == "nve":
            warn_if_not_conservative(calc, "NVE", "the total energy is not conserved and drifts")
        self.evaluator = BatchedReplicaEvaluator(calc, n)
        #: what produced the run (model, model_sha256, ase_relaxed_version, dtype, date), recorded in every output
        self.provenance = provenance(calc, date=True)
        self._frame_info = provenance_info(calc)  # the same without date, for every trajectory frame
        self.step_count = checkpoint.step if checkpoint else 0
        self.last_checkpoint: int | None = checkpoint.step if checkpoint else None
        if checkpoint is not None:
            images = [atoms.copy() for atoms in checkpoint.atoms]
            if len(images) != n:
                raise InputError(f"checkpoint has {len(images)} replicas, options ask for {n}")
        else:
            if structures is None:
                raise InputError("no structure given")
            images = [structures] * n if isinstance(structures, Atoms) else list(structures)
            if len(images) != n:
                raise InputError(f"{len(images)} structures for {n} replicas")
            images = [atoms.copy() for atoms in images]
        initial = options.initial_temperature
        self.replicas: list[Replica] = []
        for k, (atoms, temperature) in enumerate(zip(images, options.target_temperatures)):
            seed = options.seed_of(k)
            if checkpoint is None:
                initialise_velocities(atoms, temperature if initial is None else initial, seed)
            atoms.calc = ReplicaCalculator(self.evaluator, k, stress=options.ensemble == "npt")
            rng = integrator_rng(seed)
            dynamics = make_dynamics(
                atoms, options.ensemble, options.timestep, temperature, friction_per_fs=options.friction,
                tdamp_fs=options.tdamp_fs, pdamp_fs=options.pdamp_fs, pressure_GPa=options.pressure,
                barostat=options.barostat, rng=rng,
            )
            if checkpoint is not None:
                saved = checkpoint.replica_state[k]
                rng.bit_generator.state = saved["rng"]
                restore_dynamics_state(dynamics, self.kind, saved["dynamics"])
            self.replicas.append(Replica(k, atoms, dynamics, rng, temperature, seed))
        self._open_outputs(resume_step=checkpoint.step if checkpoint else None)

    @classmethod
    def resume(cls, calc: Calculator, options: MDOptions) -> "MDRunner":
        """Continue the run saved in ``options.checkpoint`` (physics options must match it)."""
        checkpoint = load_checkpoint(options.checkpoint)
        mismatches = options.resume_mismatches(checkpoint.options)
        if mismatches:
            raise InputError("--resume with options that differ from the checkpointed run: " + "; ".join(mismatches))
        if checkpoint.step > options.steps:
            raise InputError(f"the checkpoint is at step {checkpoint.step}, beyond --steps {options.steps}")
        return cls(None, calc, options, checkpoint=checkpoint)

    # -- outputs ---------------------------------------------------------------------------
    def _open_outputs(self, resume_step: int | None) -> None:
        columns = LOG_COLUMNS + (NPT_COLUMNS if self.options.ensemble == "npt" else [])
        for replica in self.replicas:
            log = self.options.replica_path(self.options.log, replica.index)
            traj = self.options.replica_path(self.options.traj, replica.index)
            if resume_step is not None:
                if log:
                    truncate_log(log, resume_step)
                if traj:
                    truncate_trajectory(traj, resume_step)
            append = resume_step is not None
            replica.log = CSVLog(log, columns, append=append, provenance=self.provenance) if log else None
            replica.traj = TrajectoryWriter(traj, append=append, info=self._frame_info) if traj else None

    def observables(self, replica: Replica) -> dict:
        """The log row of ``replica`` at the current step."""
        atoms = replica.atoms
        epot, ekin = atoms.get_potential_energy(), atoms.get_kinetic_energy()
        econs = conserved_energy(replica.dynamics, self.kind)
        row = {
            "step": self.step_count, "time_fs": self.step_count * self.options.timestep,
            "epot": float(epot), "ekin": float(ekin), "etot": float(epot + ekin),
            "econs": None if math.isnan(econs) else econs, "temperature": float(atoms.get_temperature()),
        }
        if self.options.ensemble == "npt":
            stress = atoms.get_stress(include_ideal_gas=True)
            row["volume"] = float(atoms.get_volume())
            row["pressure"] = float(-stress[:3].sum() / 3 / units.GPa)
        return row

    def write_outputs(self) -> list[dict]:
        rows = []
        for replica in self.replicas:
            row = self.observables(replica)
            rows.append(row)
            if replica.log:
                replica.log.write(row)
            if replica.traj:
                replica.traj.write(replica.atoms, self.step_count, row["time_fs"])
        return rows

    def save_checkpoint(self) -> None:
        path = self.options.checkpoint
        if not path or str(path).lower() == "none":
            return
        states = [
            (r.atoms, {"temperature": r.temperature, "seed": r.seed, "rng": r.rng.bit_generator.state,
                       "dynamics": dynamics_state(r.dynamics, self.kind)})
            for r in self.replicas
        ]
        save_checkpoint(path, self.step_count, self.step_count * self.options.timestep, self.options.to_dict(), states,
                        provenance=self.provenance)
        self.last_checkpoint = self.step_count

    def close(self) -> None:
        for replica in self.replicas:
            for output in (replica.log, replica.traj):
                if output is not None:
                    output.close()
            replica.log = replica.traj = None
        self.evaluator.close()

    # -- dynamics ----------------------------------------------------------------------------
    def _label(self, k: int) -> str:
        return f"replica {k}: " if len(self.replicas) > 1 else ""

    def _step_replica(self, k: int) -> None:
        try:
            self.replicas[k].dynamics.step()
        except InputError as error:  # e.g. NaN positions rejected by the calculator
            raise SimulationError(f"{self._label(k)}step {self.step_count + 1}: {error}") from None

    def _forces_replica(self, k: int) -> None:
        try:
            self.replicas[k].atoms.get_forces()
        except InputError as error:
            raise SimulationError(f"{self._label(k)}step {self.step_count}: {error}") from None

    def check(self) -> None:
        """Apply the guard to every replica at the current step."""
        for replica in self.replicas:
            self.guard.check(replica.atoms, self.step_count, self._label(replica.index))

    def step(self) -> None:
        """Advance every replica by one time step (one batched force evaluation), then check them."""
        self.evaluator.run_lockstep(self._step_replica)
        self.step_count += 1
        self.check()

    def run(self, progress: bool | None = None) -> MDResult:
        """Step until ``options.steps``; write outputs and checkpoints; show a progress bar."""
        from tqdm.auto import tqdm

        opts = self.options
        start, t0 = self.step_count, time.perf_counter()
        show = (not opts.quiet) if progress is None else progress
        bar = tqdm(total=opts.steps, initial=start, unit="step", disable=not show, dynamic_ncols=True,
                   desc=f"{opts.ensemble} x{len(self.replicas)}" if len(self.replicas) > 1 else opts.ensemble)
        try:
            with deferred_stop():
                if self.last_checkpoint is None:  # a fresh run: evaluate, check and record step 0
                    self.evaluator.run_lockstep(self._forces_replica)
                    self.check()
                    self._postfix(bar, self.write_outputs(), start, t0)
                    self.save_checkpoint()
                while self.step_count < opts.steps:
                    self.step()
                    n = self.step_count
                    if n % opts.interval == 0 or n == opts.steps:
                        self._postfix(bar, self.write_outputs(), start, t0)
                    if n % opts.checkpoint_every == 0 or n == opts.steps:
                        self.save_checkpoint()
                    bar.update(1)
                    if stop_requested() and n < opts.steps:
                        self._stop(stop_requested())
        except SimulationError as error:
            where = (f"the checkpoint {opts.checkpoint!r} and the outputs hold the last good state (step "
                     f"{self.last_checkpoint})" if self.last_checkpoint is not None else "nothing was checkpointed")
            raise SimulationError(f"{error}; the run stopped; {where}") from None
        finally:
            bar.close()
            self.close()
        wall = time.perf_counter() - t0
        return MDResult(self.step_count, self.step_count - start, wall, [r.atoms for r in self.replicas],
                        opts.timestep)

    def _stop(self, signal_name: str) -> None:
        """Checkpoint the state after the step just completed, then raise :class:`Interrupted`."""
        opts = self.options
        if not opts.checkpoint or str(opts.checkpoint).lower() == "none":
            raise Interrupted(f"{signal_name} at step {self.step_count} of {opts.steps}; no checkpoint was asked for "
                              "(--checkpoint none), so the run cannot be resumed")
        if self.last_checkpoint != self.step_count:
            self.save_checkpoint()
        raise Interrupted(f"{signal_name} at step {self.step_count} of {opts.steps}; {opts.checkpoint!r} holds that "
                          "step: rerun the same command with --resume to continue")

    def _postfix(self, bar, rows: list[dict], start: int, t0: float) -> None:
        if bar.disable:
            return
        natoms = sum(len(r.atoms) for r in self.replicas)
        elapsed = time.perf_counter() - t0
        rate = (self.step_count - start) / elapsed if elapsed > 0 else 0.0
        bar.set_postfix(
            {"ns/day": f"{ns_per_day(rate, self.options.timestep):.3g}",
             "T/K": f"{np.mean([r['temperature'] for r in rows]):.1f}",
             "Epot/atom": f"{sum(r['epot'] for r in rows) / natoms:.4f}",
             "Etot/atom": f"{sum(r['etot'] for r in rows) / natoms:.4f}"},
            refresh=False,
        )


def run_md(structures: Atoms | Sequence[Atoms] | None, calc: Calculator, options: MDOptions | None = None,
           **overrides) -> MDResult:
    """Run (or with ``resume=True`` continue) an MD simulation; keyword arguments override ``options``.

    >>> from ase.build import bulk
    >>> from ase.calculators.emt import EMT
    >>> run_md(bulk("Cu", cubic=True), EMT(), ensemble="langevin", steps=5, checkpoint="none",
    ...        traj="none", log="none", quiet=True).step
    5
    """
    values = {**(options.to_dict() if options else {}), **overrides}
    options = MDOptions.from_sources(values)
    runner = MDRunner.resume(calc, options) if options.resume else MDRunner(structures, calc, options)
    return runner.run()
