"""MD physics and machinery: energy conservation, thermostat statistics, resume, guard, replicas, relax.

The model is the tiny random-weight potential of conftest with ``seed=5``: a random model has no
physics, but this one keeps a relaxed (5,0) nanotube bound at 300 K for ≥ 500 fs (the default
``seed=3`` collapses it in a few hundred steps), which is what an NVE test needs.
"""

import csv

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import read
from conftest import tiny_model

from ase_relaxed import InputError, RelaxedCalculator
from ase_relaxed.md import MDOptions, MDRunner, SimulationError, relax, run_md
from ase_relaxed.md.checkpoint import load_checkpoint
from ase_relaxed.md.outputs import CSVLog, TrajectoryWriter, truncate_log, truncate_trajectory
from ase_relaxed.structures import build_nanotube

MODEL_SEED = 5


@pytest.fixture(scope="module")
def model():
    return tiny_model("float64", seed=MODEL_SEED)


def make_calc(model):
    return RelaxedCalculator(model, device="cpu", on_close="ignore")  # overlaps are the guard's job


@pytest.fixture(scope="module")
def tube(model):
    """A (5,0) nanotube (20 atoms, periodic along z) relaxed with the test model."""
    result = relax(build_nanotube(5, 0, length=1), make_calc(model), fmax=0.01)
    assert result.converged
    return result.atoms


def options(tmp_path, name="run", **values):
    paths = dict(traj=str(tmp_path / f"{name}.extxyz"), log=str(tmp_path / f"{name}.csv"),
                 checkpoint=str(tmp_path / f"{name}.npz"))
    return MDOptions.from_sources({"quiet": True, "device": "cpu", **paths}, values)


def read_log(path) -> dict[str, np.ndarray]:
    with open(path) as handle:
        rows = list(csv.DictReader(handle))
    return {key: np.array([float(row[key]) if row[key] else np.nan for row in rows]) for key in rows[0]}


def energy_conservation(log: dict[str, np.ndarray], natoms: int) -> dict[str, float]:
    """Drift (slope of a linear fit × duration) and fluctuation (std about the fit) of E_tot per
    atom, and that fluctuation relative to the natural kinetic-energy fluctuation."""
    t, etot, ekin = log["time_fs"], log["etot"] / natoms, log["ekin"] / natoms
    slope, intercept = np.polyfit(t, etot, 1)
    residual = etot - (slope * t + intercept)
    return {"drift": float(slope * (t[-1] - t[0])), "fluctuation": float(residual.std()),
            "ratio": float(residual.std() / ekin.std())}


# Bounds, per atom.  kT(300 K) = 0.026 eV; a velocity-Verlet error is O((ω Δt)²) × kT and bounded,
# so a healthy run drifts < 1e-4 eV/atom and fluctuates < 1e-3 eV/atom; and the integrator noise
# must be < 1 % of the kinetic-energy fluctuation it conserves against (scale-free, fails at Δt × 20).
MAX_DRIFT, MAX_FLUCTUATION, MAX_RATIO = 1e-4, 1e-3, 1e-2


def conserves(stats: dict[str, float]) -> bool:
    return abs(stats["drift"]) < MAX_DRIFT and stats["fluctuation"] < MAX_FLUCTUATION and stats["ratio"] < MAX_RATIO


def test_nve_conserves_energy(tube, model, tmp_path):
    """1000 steps of 0.5 fs (500 fs) at 300 K in float64."""
    opts = options(tmp_path, ensemble="nve", temperature=300, timestep=0.5, steps=1000, interval=5, seed=0,
                   traj="none", checkpoint="none")
    start = tube.copy()
    MDRunner(tube, make_calc(model), opts).run()
    log = read_log(opts.log)
    stats = energy_conservation(log, len(tube))
    print("NVE", stats, "mean T", log["temperature"].mean())
    assert len(log["step"]) == 201 and log["step"][-1] == 1000
    assert conserves(stats), stats
    # the logged step-0 potential energy is the calculator's own energy of the starting structure
    assert log["epot"][0] == pytest.approx(make_calc(model).get_potential_energy(start), abs=1e-9)


class WrongSignForces(Calculator):
    """A broken force field: F = +∂E/∂r."""

    implemented_properties = ["energy", "forces"]

    def __init__(self, inner: Calculator) -> None:
        super().__init__()
        self.inner = inner

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.inner.calculate(self.atoms, ["energy", "forces"], all_changes)
        self.results = {"energy": self.inner.results["energy"], "forces": -self.inner.results["forces"]}


@pytest.mark.parametrize("broken", ["wrong-sign forces", "timestep x20"])
def test_broken_integration_fails_the_bounds(broken, tube, model, tmp_path):
    if broken == "wrong-sign forces":
        calc, timestep, steps = WrongSignForces(make_calc(model)), 0.5, 150
    else:
        calc, timestep, steps = make_calc(model), 10.0, 100
    opts = options(tmp_path, ensemble="nve", temperature=300, timestep=timestep, steps=steps, interval=5,
                   traj="none", checkpoint="none")
    MDRunner(tube, calc, opts).run()
    stats = energy_conservation(read_log(opts.log), len(tube))
    print(broken, stats)
    assert not conserves(stats), stats


def test_langevin_reaches_target_temperature(tube, model, tmp_path):
    """4 replicas start at 33 K, thermostat to 100 K (the random model stays bound at 100 K).

    Instantaneous T of N atoms fluctuates canonically with σ_T = T √(2 / 3N); the kinetic energy
    decorrelates in ≈ 2/γ (measured: ≈ 1/γ), so the second half holds n ≈ R t γ / 2 independent
    samples and its mean must lie within 3 σ_T / √n of the target; its spread within 30 % of σ_T.
    """
    target, friction, steps, replicas = 100.0, 0.1, 300, 4
    opts = options(tmp_path, ensemble="langevin", temperature=target, initial_temperature=target / 3,
                   friction=friction, timestep=1.0, steps=steps, interval=1, replicas=replicas, seed=1,
                   traj="none", checkpoint="none")
    MDRunner(tube, make_calc(model), opts).run()
    temperatures = np.array([read_log(opts.replica_path(opts.log, k))["temperature"] for k in range(replicas)])
    second_half = temperatures[:, steps // 2 + 1:]
    sigma = target * np.sqrt(2 / (3 * len(tube)))
    n_independent = replicas * (steps // 2) * opts.timestep * friction / 2
    bound = 3 * sigma / np.sqrt(n_independent)
    print(f"T start {temperatures[:, 0].mean():.1f} K, mean {second_half.mean():.2f} ± {bound / 3:.2f} K, "
          f"std {second_half.std():.2f} K (canonical {sigma:.2f} K)")
    assert temperatures[:, 0].mean() < 0.5 * target
    assert abs(second_half.mean() - target) < bound
    assert 0.7 < second_half.std() / sigma < 1.3


@pytest.mark.parametrize("ensemble,barostat", [
    ("nve", "isotropic"), ("langevin", "isotropic"), ("bussi", "isotropic"), ("nose-hoover", "isotropic"),
    ("npt", "isotropic"), ("npt", "anisotropic"),
])
def test_resume_continues_exactly(ensemble, barostat, tube, model, tmp_path):
    """Stop after 10 steps, resume to 20 with a new calculator: identical to a straight 20-step run,
    including thermostat/barostat variables and the random stream."""
    atoms = tube
    if ensemble == "npt":
        atoms = bulk("C", "diamond", cubic=True)
        atoms.rattle(0.02, seed=1)
    common = dict(ensemble=ensemble, barostat=barostat, timestep=1.0, interval=5, seed=3, pressure=1.0)
    straight = options(tmp_path, "a", steps=20, **common)
    MDRunner(atoms, make_calc(model), straight).run()
    MDRunner(atoms, make_calc(model), options(tmp_path, "b", steps=10, **common)).run()
    resumed = options(tmp_path, "b", steps=20, resume=True, **common)
    MDRunner.resume(make_calc(model), resumed).run()
    a, b = read(straight.traj, ":"), read(resumed.traj, ":")
    assert [f.info["step"] for f in b] == [0, 5, 10, 15, 20]
    for x, y in zip(a, b):
        np.testing.assert_allclose(y.positions, x.positions, rtol=0, atol=1e-12)
        np.testing.assert_allclose(y.get_momenta(), x.get_momenta(), rtol=0, atol=1e-12)
        np.testing.assert_allclose(y.cell.array, x.cell.array, rtol=0, atol=1e-12)
    np.testing.assert_allclose(read_log(resumed.log)["etot"], read_log(straight.log)["etot"], rtol=0, atol=1e-12)


def test_resume_refuses_changed_physics(tube, model, tmp_path):
    run_md(tube, make_calc(model), options(tmp_path, steps=2, interval=1))
    with pytest.raises(InputError, match="timestep: checkpoint 0.5, now 2.0"):
        MDRunner.resume(make_calc(model), options(tmp_path, steps=4, timestep=2.0, resume=True))


class NaNAfter(Calculator):
    """Delegates to ``inner`` for ``calls`` calculations, then returns NaN forces."""

    implemented_properties = ["energy", "forces"]

    def __init__(self, inner: Calculator, calls: int) -> None:
        super().__init__()
        self.inner, self.calls = inner, calls

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.inner.calculate(self.atoms, ["energy", "forces"], all_changes)
        self.calls -= 1
        forces = self.inner.results["forces"] * (np.nan if self.calls < 0 else 1.0)
        self.results = {"energy": self.inner.results["energy"], "forces": forces}


def assert_outputs_at(opts: MDOptions, step: int) -> None:
    assert load_checkpoint(opts.checkpoint).step == step
    assert read(opts.traj, -1).info["step"] == step
    assert read_log(opts.log)["step"][-1] == step


@pytest.mark.parametrize("blow_up", ["NaN forces", "collapse"])
def test_guard_stops_and_keeps_last_good_state(blow_up, tube, model, tmp_path):
    """NaN forces from step 23 on; or forces of the wrong sign, under which the tube collapses
    until two atoms are closer than 0.5 Å.  Outputs stay at the last good multiple of 10."""
    if blow_up == "NaN forces":
        calc, steps = NaNAfter(make_calc(model), calls=23), 50  # call 1 is step 0
    else:
        calc, steps = WrongSignForces(make_calc(model)), 400
    opts = options(tmp_path, ensemble="nve", timestep=0.5, steps=steps, interval=10, seed=0)
    with pytest.raises(SimulationError) as error:
        MDRunner(tube, calc, opts).run()
    message = str(error.value)
    print(message)
    failed = int(message.split("step ")[1].split(":")[0])
    assert ("NaN" in message) if blow_up == "NaN forces" else ("closer than --min-distance" in message)
    assert failed < steps and "last good state (step" in message
    assert_outputs_at(opts, (failed - 1) // 10 * 10)


@pytest.mark.parametrize("problem,values,match", [
    ("overlap", {}, "0.300 Å apart"),
    ("hot", {"max_temperature": 50.0}, "exceeds --max-temperature"),
    ("force", {"max_force": 1e-3}, "exceeds --max-force"),
])
def test_guard_rejects_bad_start(problem, values, match, tube, model, tmp_path):
    atoms = tube.copy()
    if problem == "overlap":
        atoms.positions[1] = atoms.positions[0] + [0.3, 0, 0]
    opts = options(tmp_path, ensemble="nve", steps=5, **values)
    with pytest.raises(SimulationError, match=match):
        MDRunner(atoms, make_calc(model), opts).run()
    assert not (tmp_path / "run.npz").exists()


def test_replicas_equal_separate_runs(tube, model, tmp_path):
    """Three Langevin replicas (seeds 11, 12, 13; 300/600/900 K) in lockstep with one batched
    evaluation per step give the trajectories of three separate runs."""
    temperatures, steps = [300.0, 600.0, 900.0], 15
    together = options(tmp_path, "rep", ensemble="langevin", temperatures=temperatures, steps=steps, interval=5,
                       seed=11, timestep=1.0)
    runner = MDRunner(tube, make_calc(model), together)
    runner.run()
    assert runner.evaluator.n_batches == steps + 1  # step 0 and one per step
    for k, temperature in enumerate(temperatures):
        alone = options(tmp_path, f"sep{k}", ensemble="langevin", temperature=temperature, steps=steps,
                        interval=5, seed=11 + k, timestep=1.0)
        MDRunner(tube, make_calc(model), alone).run()
        a, b = read(together.replica_path(together.traj, k), ":"), read(alone.traj, ":")
        assert len(a) == len(b) == 4
        for x, y in zip(a, b):
            np.testing.assert_allclose(x.positions, y.positions, rtol=0, atol=1e-10)
            np.testing.assert_allclose(x.get_momenta(), y.get_momenta(), rtol=0, atol=1e-10)
        assert not np.allclose(a[-1].positions, read(together.replica_path(together.traj, (k + 1) % 3), -1).positions)


def test_relax_positions_below_fmax(model):
    atoms = build_nanotube(5, 0, length=1)
    atoms.rattle(0.05, seed=1)
    result = relax(atoms, make_calc(model), optimizer="fire", fmax=0.01, steps=500)
    print("relax tube", result.fmax_initial, "->", result.fmax_final, result.energy_initial, "->", result.energy_final)
    assert result.converged and result.fmax_final < 0.01 < result.fmax_initial
    assert result.energy_final < result.energy_initial
    assert np.linalg.norm(result.atoms.get_forces(), axis=1).max() < 0.01


def test_truncation_removes_later_and_torn_records(tube, tmp_path):
    """Frames/rows after the checkpoint step, and a half-written last one, are cut on resume."""
    for suffix in (".extxyz", ".traj"):
        path = tmp_path / f"t{suffix}"
        writer = TrajectoryWriter(path)
        atoms = tube.copy()
        atoms.calc = SinglePointCalculator(atoms, energy=-1.0, forces=np.zeros((len(atoms), 3)))
        for step in (0, 5, 10, 15):
            writer.write(atoms, step, step * 0.5)
        writer.close()
        if suffix == ".extxyz":
            with open(path, "a") as handle:
                handle.write(f"{len(atoms)}\nstep=20 torn\nC 0 0")
        assert truncate_trajectory(path, 10) == 3
        assert [f.info["step"] for f in read(path, ":")] == [0, 5, 10]
    log = CSVLog(tmp_path / "l.csv", ["step", "epot"])
    for step in (0, 5, 10, 15):
        log.write({"step": step, "epot": -1.0})
    log.close()
    with open(tmp_path / "l.csv", "a") as handle:
        handle.write("20,-1.")
    assert truncate_log(tmp_path / "l.csv", 10) == 3
    assert (tmp_path / "l.csv").read_text().splitlines()[-1] == "10,-1.0"
