"""Learning the kernel force field on the fly: MD under the model, a reference call where it does not know.

The loop of Sharma, Kumar & Suryanarayana (arXiv:2408.07554; SPARC's MLFF) on full periodic tube segments:
for every (tube, temperature) episode of :class:`~ase_relaxed.learn.config.LearnConfig`, Langevin MD (ASE)
runs under the kernel model, whose weights α have the posterior N(m, S). At every step the force rows Φ_F
give the forces Φ_F m and the model's σ_ic = √(φ_icᵀ S φ_ic) in one evaluation
(:class:`~ase_relaxed.kernel.rows_calculator.KernelRowsCalculator`). When max σ > σ_tol (or every K steps),
the current frame is labelled by the reference (GFN1-xTB through tblite on the same segment, Γ only), added
to the training set, and the weights and hyper-parameters (α, β) are refitted by evidence maximisation
(:class:`~ase_relaxed.kernel.training_set.KernelTrainingSet`); the representatives are chosen again by CUR
when the set has grown by ``reselect_growth``. σ_tol is then re-set from σ at the new frame (SPARC's rule).
The MD goes on from the labelled frame with its reference forces.

Nothing is lost on SIGKILL (:mod:`.state`): a labelled frame is on disk before it is used, the MD state is
checkpointed after every call and every ``checkpoint_every`` steps, and a resume rebuilds the identical model
from the frames (same order, same reselection points).

>>> # summary = learn_on_the_fly("run", LearnConfig(tubes=["8,0"], reference="brenner", steps=20))
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from ase import Atoms, units
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution
from ase.neighborlist import neighbor_list

from ..errors import Interrupted
from ..interrupt import deferred_stop, stop_requested
from ..kernel.model import KernelConfig
from ..kernel.rows_calculator import KernelRowsCalculator
from ..kernel.training_set import KernelTrainingSet
from ..models.io import save_model
from ..reference.generate import base_structure, label, reference_calculator
from .config import LearnConfig
from .state import (
    CHECKPOINT,
    MODEL,
    append_frame,
    append_log,
    check_config,
    read_json,
    read_references,
    write_json_atomic,
)

__all__ = ["learn_on_the_fly"]


class _Learner:
    """The training set, its model and the reference of one run directory."""

    def __init__(self, run_dir: Path, config: LearnConfig, checkpoint: dict | None) -> None:
        self.run_dir, self.config = run_dir, config
        self.training = KernelTrainingSet(KernelConfig(species=["C"], n_representative=config.n_representative),
                                          energy_weight=config.energy_weight, selection=config.selection,
                                          seed=config.seed)
        self.last_select = int(checkpoint["last_select"]) if checkpoint else 0
        frames = read_references(run_dir)
        if frames:  # the same model as before the stop: select at the same point, then add the rest in order
            self.training.extend(frames[: max(self.last_select, 1)])
            self.training.select()
            self.last_select = max(self.last_select, 1)
            self.training.extend(frames[self.last_select:])
            self.training.fit(reselect=False)
        self.reference, self.reference_meta = reference_calculator(config.reference, config.electronic_temperature)

    @property
    def model(self):
        return self.training.model if len(self.training) else None

    def calculator(self) -> KernelRowsCalculator | None:
        return None if self.model is None else KernelRowsCalculator(self.model)

    def call(self, atoms: Atoms, record: dict) -> tuple[Atoms, float]:
        """Label ``atoms``, store it, refit; returns the labelled frame and σ_max of the new model there."""
        start = time.perf_counter()
        frame = label(atoms.copy(), self.reference, self.reference_meta)
        record["reference_s"] = time.perf_counter() - start
        reference_forces = frame.get_forces()
        if "predicted_forces" in record:  # the model's error at the frame it was unsure about
            error = record.pop("predicted_forces") - reference_forces
            z = error / record.pop("predicted_std")  # out of sample: the frame is not in the model yet
            record["force_rmse_before"] = float(np.sqrt(np.mean(error**2)))
            record["max_force_error_before"] = float(np.abs(error).max())
            record["within_1sigma_before"] = float(np.mean(np.abs(z) <= 1.0))
        frame.info.update({k: v for k, v in record.items() if k in ("tube", "temperature", "episode", "step")})
        frame.info["call"] = record["call"]
        frame = append_frame(self.run_dir, frame)
        start = time.perf_counter()
        self.training.add(frame)
        reselect = len(self.training) >= self.config.reselect_growth * self.last_select
        if reselect:
            self.last_select = len(self.training)
        model = self.training.fit(reselect=reselect)
        record.update(fit_s=time.perf_counter() - start, reselected=reselect, frames=len(self.training),
                      n_representative=model.energy_model.config.n_representative,
                      alpha=model.training_info["alpha"], beta=model.training_info["beta"],
                      train_force_rmse=model.training_info["train_force_rmse"])
        model.training_info["on_the_fly"] = {"config": self.config.to_dict(), "reference_calls": len(self.training),
                                             "reference": self.reference_meta}
        tmp = self.run_dir / (MODEL + ".tmp")
        save_model(model, tmp)
        tmp.replace(self.run_dir / MODEL)
        calc = KernelRowsCalculator(model)
        probe = frame.copy()
        probe.calc = calc
        probe.get_forces()
        sigma = float(calc.results["forces_std_model"].max())
        record["sigma_after"] = sigma
        append_log(self.run_dir, record)
        return frame, sigma


def _too_close(atoms: Atoms, distance: float) -> bool:
    return len(neighbor_list("i", atoms, distance)) > 0


def _checkpoint(run_dir: Path, state: dict, atoms: Atoms | None, forces, dyn: Langevin | None) -> None:
    data = dict(state)
    if atoms is not None:
        data.update(positions=atoms.positions.tolist(), momenta=atoms.get_momenta().tolist(),
                    cell=atoms.cell.array.tolist(), forces=None if forces is None else np.asarray(forces).tolist(),
                    rng=dyn.rng.bit_generator.state)
    write_json_atomic(run_dir / CHECKPOINT, data)


def learn_on_the_fly(run_dir: str | Path, config: LearnConfig, progress: bool = True,
                     checkpoint_every: int = 10) -> dict:
    """Run (or resume) on-the-fly learning in ``run_dir``; returns the final state (calls, steps, why it ended).

    The model is ``run_dir/model.safetensors`` after every call; ``calls.jsonl`` logs each call.
    """
    run_dir = Path(run_dir)
    check_config(run_dir, config)
    checkpoint = read_json(run_dir / CHECKPOINT)
    learner = _Learner(run_dir, config, checkpoint)
    episodes = config.episodes()
    state = {"episode": 0, "step": 0, "calls": len(learner.training), "tol": config.threshold, "last_call": 0,
             "md_steps": 0, "ended": None, "unstable": [], "last_select": learner.last_select}
    if checkpoint:
        state.update({k: checkpoint[k] for k in state if k in checkpoint})
        state["calls"] = len(learner.training)  # a frame written just before a kill counts
    if state["ended"]:
        return state
    total = len(episodes) * config.steps
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, initial=min(total, state["episode"] * config.steps + state["step"]),
                   desc="learn (MD steps)", unit="step")
    with deferred_stop():
        while state["episode"] < len(episodes):
            tube, temperature = episodes[state["episode"]]
            atoms = base_structure(f"cnt({tube})", config)
            rng = np.random.default_rng([config.seed, state["episode"]])
            forces = None
            resumed = checkpoint is not None and "positions" in checkpoint and checkpoint["episode"] == state["episode"]
            if resumed:
                atoms.positions, atoms.cell = np.array(checkpoint["positions"]), np.array(checkpoint["cell"])
                atoms.set_momenta(np.array(checkpoint["momenta"]))
                rng.bit_generator.state = checkpoint["rng"]
                forces = None if checkpoint["forces"] is None else np.array(checkpoint["forces"])
            else:
                atoms.positions += rng.normal(scale=config.rattle, size=atoms.positions.shape)
                MaxwellBoltzmannDistribution(atoms, temperature_K=temperature, rng=rng)
                state.update(step=0, last_call=0)
            checkpoint = None
            dyn = Langevin(atoms, config.timestep * units.fs, temperature_K=temperature,
                           friction=config.friction / units.fs, rng=rng, fixcm=False)
            atoms.calc = learner.calculator()
            while state["step"] < config.steps:
                record = {"call": state["calls"], "tube": tube, "temperature": temperature,
                          "episode": state["episode"], "step": state["step"], "tol": state["tol"]}
                if atoms.calc is None:
                    record.update(reason="no model yet", sigma=None)
                else:
                    predicted = atoms.get_forces()
                    sigma = float(atoms.calc.results["forces_std_model"].max())
                    every = config.every and state["step"] - state["last_call"] >= config.every
                    if sigma > state["tol"] or every:
                        results = atoms.calc.results
                        record.update(reason="sigma" if sigma > state["tol"] else "every", sigma=sigma,
                                      predicted_forces=predicted, predicted_std=results["forces_std"],
                                      sigma_model_rms=float(np.sqrt(np.mean(results["forces_std_model"] ** 2))))
                if "reason" in record:
                    if state["calls"] >= config.max_calls:
                        state["ended"] = f"max_calls ({config.max_calls}) reached"
                        break
                    frame, sigma_after = learner.call(atoms, record)
                    forces = frame.get_forces()
                    state.update(calls=state["calls"] + 1, last_call=state["step"], last_select=learner.last_select,
                                 tol=max(config.threshold, config.threshold_factor * sigma_after))
                    atoms.calc = learner.calculator()
                    _checkpoint(run_dir, state, atoms, forces, dyn)
                    if bar is not None:
                        bar.set_postfix(calls=state["calls"], sigma=f"{record['sigma'] or 0:.3f} eV/Å")
                forces = dyn.step(forces)
                state["step"] += 1
                state["md_steps"] += 1
                if bar is not None:
                    bar.update(1)
                if _too_close(atoms, config.min_distance):
                    state["unstable"].append([tube, temperature, state["step"]])
                    append_log(run_dir, {"event": "unstable", "tube": tube, "temperature": temperature,
                                         "step": state["step"], "min_distance": config.min_distance})
                    break
                if state["step"] % checkpoint_every == 0:
                    _checkpoint(run_dir, state, atoms, forces, dyn)
                signal = stop_requested()
                if signal:
                    _checkpoint(run_dir, state, atoms, forces, dyn)
                    raise Interrupted(f"{signal}: on-the-fly learning stopped after {state['calls']} reference calls; "
                                      f"everything is in {run_dir}; run the same command again to resume")
            if state["ended"]:
                break
            state.update(episode=state["episode"] + 1, step=0, last_call=0)
            _checkpoint(run_dir, state, None, None, None)
    if bar is not None:
        bar.close()
    state["ended"] = state["ended"] or "all episodes done"
    _checkpoint(run_dir, state, None, None, None)
    return state
