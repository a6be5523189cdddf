"""Batched Langevin MD of many small systems at once with torch-sim, against our ``--replicas`` runner.

    python examples/torch_sim_batched_md.py                                  # seconds: tiny random model
    python examples/torch_sim_batched_md.py --model carbon-gfn1 --systems 32 --steps 100 --size 1

Needs ``pip install 'ase_relaxed[torchsim]'``.  N rattled copies of an 8·size³-atom diamond cell
are integrated together: torch-sim's BAOAB Langevin (one batched model call per step through
:class:`ase_relaxed.integrations.torch_sim.TorchSimModel`) and our MD runner with N replicas
(ASE's Langevin per replica, forces from one batched ``calculate_batch`` per step), with the same
model, dtype, time step, temperature and friction, one after the other in this process, after one
untimed warm-up call each.
Throughput is atom-steps/s = (atoms per system × systems × steps) / wall time, the wall time
including the step-0 force call on both sides.  The default model is a tiny random-weight graph
network so that the script runs in seconds (it is not physics); benchmarks/bench_torch_sim.py
makes the recorded comparison with the shipped carbon model.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from ase.build import bulk

from ase_relaxed import ModelConfig, RelaxedCalculator, build_model
from ase_relaxed.integrations.torch_sim import TorchSimModel, atoms_to_state, langevin
from ase_relaxed.md import MDOptions, MDRunner


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=None, help="shipped name or .safetensors (default: tiny random model)")
    parser.add_argument("--systems", type=int, default=8, help="number of systems / replicas (default 8)")
    parser.add_argument("--size", type=int, default=1, help="diamond cell repeats: 8·size³ atoms (default 1)")
    parser.add_argument("--steps", type=int, default=10, help="MD steps (default 10)")
    parser.add_argument("--temperature", type=float, default=300.0, help="K (default 300)")
    parser.add_argument("--timestep", type=float, default=0.5, help="fs (default 0.5)")
    parser.add_argument("--friction", type=float, default=0.01, help="1/fs (default 0.01)")
    parser.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default 1: our replicas step in worker threads, and on a busy "
                             "machine two OpenMP threads in the main thread run several times slower)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    model = args.model or build_model(ModelConfig(species=["C"], cutoff=2.0, num_layers=1, channels=4, l_max=1))
    crystal = bulk("C", "diamond", a=3.57, cubic=True).repeat(args.size)
    crystal.rattle(0.02, seed=0)
    n_atoms = len(crystal) * args.systems
    atom_steps = n_atoms * args.steps

    ours = TorchSimModel(model, device=args.device, dtype=args.dtype, compute_stress=False)  # NVT: no stress
    state = atoms_to_state([crystal] * args.systems, ours)
    calc = RelaxedCalculator(model, device=args.device, dtype=args.dtype)
    ours(state), calc.calculate_batch([crystal] * args.systems)  # warm-up, untimed: first calls pay for set-up
    start = time.perf_counter()
    final, temperatures = langevin(ours, state, args.steps, args.temperature, args.timestep, args.friction, seed=0)
    torch_sim_wall = time.perf_counter() - start
    print(f"torch-sim Langevin: {args.systems} systems x {len(crystal)} atoms, {args.steps} steps of "
          f"{args.timestep:g} fs on {ours.device.type} ({ours.dtype}) in {torch_sim_wall:.2f} s")
    print(f"  T per system at the end: {np.round(temperatures[-1], 1).tolist()} K "
          f"(mean over the run {temperatures.mean():.1f} K, target {args.temperature:g} K)")
    print(f"  energies at the end: {np.round(ours(final)['energy'].cpu().numpy() / len(crystal), 4).tolist()} eV/atom")

    options = MDOptions(ensemble="langevin", replicas=args.systems, steps=args.steps, temperature=args.temperature,
                        timestep=args.timestep, friction=args.friction, traj="none", log="none",
                        checkpoint="none", quiet=True)
    result = MDRunner(crystal, calc, options).run()
    print(f"our runner, {args.systems} replicas: {args.steps} steps in {result.wall_s:.2f} s")

    rates = {"torch-sim": atom_steps / torch_sim_wall, "--replicas": atom_steps / result.wall_s}
    for name, rate in rates.items():
        print(f"  {name:11s} {rate:10.0f} atom-steps/s")
    print(f"  torch-sim / replicas = {rates['torch-sim'] / rates['--replicas']:.2f}x (one run, this machine)")


if __name__ == "__main__":
    main()
