"""``ase-relaxed md`` and ``ase-relaxed relax``.

    ase-relaxed md STRUCTURE [--model M] [--ensemble {nve,langevin,bussi,nose-hoover,npt}]
        [--barostat {isotropic,anisotropic}] [--temperature K] [--temperatures T1 T2 ...]
        [--pressure GPa] [--timestep fs] [--steps N] [--seed S] [--replicas N]
        [--friction 1/fs] [--tdamp fs] [--pdamp fs] [--traj FILE] [--log FILE] [--interval K]
        [--checkpoint FILE] [--checkpoint-interval K] [--resume] [--config FILE.yaml]
        [--max-force eV/Å] [--min-distance Å] [--max-temperature K] [--device D] [--dtype T] [--compile]
    ase-relaxed relax STRUCTURE [--model M] [--cell] [--optimizer {fire,bfgs}] [--fmax 0.01]
        [--steps N] [--out relaxed.extxyz]

Examples::

    ase-relaxed md cnt:10,0:length=4 --ensemble langevin --temperature 300 --steps 20000
    ase-relaxed md diamond:C:size=2 --ensemble npt --barostat anisotropic --pressure 1
    ase-relaxed md cnt:6,6:length=4 --temperatures 300 600 900 --ensemble bussi   # 3 replicas
    ase-relaxed md cnt:10,0:length=4 --steps 40000 --resume                       # after a crash
    ase-relaxed relax diamond:C:size=2 --cell --fmax 0.005 --out relaxed.extxyz

Options of ``md`` may also come from ``--config run.yaml`` (keys as the flag names, with
``-`` or ``_``); flags on the command line win; unknown keys are errors.
"""

from __future__ import annotations

import argparse
import sys

from ..errors import InputError
from ..md.options import BAROSTATS, ENSEMBLES, MDOptions
from ..md.outputs import LOG_COLUMNS, NPT_COLUMNS, provenance_path
from .common import (
    NON_NEGATIVE_INT,
    POSITIVE,
    add_farm_options,
    add_model_options,
    check_output,
    farm_mode,
    make_calculator,
    read_one,
    run_farm_command,
)

D = MDOptions()  # defaults, shown in the help


def md_options(args: argparse.Namespace) -> MDOptions:
    """defaults ← (checkpoint, on --resume) ← --config ← flags given on the command line."""
    given = {k: v for k, v in vars(args).items() if k not in ("func", "command", "config", "db", "scheduler")}
    structures = given.pop("structure", [])
    structures = [structures] if isinstance(structures, str) else structures
    if len(structures) > 1:
        raise InputError(f"one MD run takes one structure, got {len(structures)} (several run as a farm)")
    if structures:
        given["structure"] = structures[0]
    config = MDOptions.read_config(args.config) if getattr(args, "config", None) else {}
    options = MDOptions.from_sources(config, given)
    if options.resume:
        from ..md.checkpoint import load_checkpoint

        saved = load_checkpoint(options.checkpoint).options
        options = MDOptions.from_sources(saved, config, given)
        options.resume = True
    return options


#: MD options that are not physics: where files go and how the run is shown (left out of a farm's settings)
NOT_SETTINGS = ("structure", "index", "model", "device", "dtype", "compile", "traj", "log", "checkpoint",
                "checkpoint_interval", "resume", "quiet", "interval")


def _md_farm(args: argparse.Namespace, structures: list[str]) -> int:
    """Several structures (or --db/--scheduler): one file-less MD run each, final state into the database."""
    from ..integrations.farm import expand_sources

    options = md_options(args)
    if options.resume:
        raise InputError("--resume continues one run from its checkpoint; a farm resumes from its --db instead")
    settings = {k: v for k, v in options.model_dump().items() if k not in NOT_SETTINGS}
    farm = argparse.Namespace(model=options.model, device=options.device, dtype=options.dtype,
                              compile=options.compile, quiet=options.quiet,
                              db=getattr(args, "db", None), scheduler=getattr(args, "scheduler", None),
                              command="md")
    return run_farm_command(farm, "md", expand_sources(structures, options.index), settings, on_close="ignore")


def cmd_md(args: argparse.Namespace) -> int:
    from ..md.runner import MDRunner

    structures = getattr(args, "structure", [])
    if structures and farm_mode(args, structures):
        del args.structure
        return _md_farm(args, structures)
    options = md_options(args)
    if not options.resume and options.structure is None:
        raise InputError("md needs a STRUCTURE (a file or a builder spec such as cnt:10,0:length=4)")
    outputs = options.output_files()
    for name, path in outputs:
        check_output(path, f"--{name}")
    # overlapping atoms are the MD guard's business (it reports them with the step)
    calc = make_calculator(options, on_close="ignore")
    if options.resume:
        runner = MDRunner.resume(calc, options)
        print(f"# resuming {options.checkpoint} at step {runner.step_count} of {options.steps}")
    else:
        runner = MDRunner(read_one(options.structure, options.index), calc, options)
    atoms = runner.replicas[0].atoms
    temperatures = ", ".join(f"{t:g}" for t in options.target_temperatures)
    print(f"# md {options.ensemble} | {len(atoms)} atoms x {options.n_replicas} replica(s) | T = {temperatures} K | "
          f"dt = {options.timestep:g} fs | model {options.model} ({calc.dtype}, {calc.device})")
    result = runner.run()
    print(f"# done: step {result.step} ({result.steps_run} steps in {result.wall_s:.1f} s, "
          f"{result.steps_per_s:.3g} steps/s, {result.ns_per_day:.3g} ns/day)")
    if outputs:
        logs = [provenance_path(path) for name, path in outputs if name == "log"]
        print("# wrote " + ", ".join(path for _, path in outputs)
              + (f" (provenance of the log in {', '.join(map(str, logs))})" if logs else ""))
    return 0



def cmd_relax(args: argparse.Namespace) -> int:
    from ase.io import write

    from ..md.relax import relax

    if farm_mode(args, args.structure):
        from ..integrations.farm import expand_sources

        settings = {"cell": args.cell, "optimizer": args.optimizer, "fmax": args.fmax, "steps": args.steps}
        return run_farm_command(args, "relax", expand_sources(args.structure, args.index), settings)
    args.structure = args.structure[0]
    atoms = read_one(args.structure, args.index)
    check_output(args.out, "--out")
    check_output(args.traj, "--traj")
    calc = make_calculator(args)
    log = None if args.quiet else "-"
    print(f"# relax {len(atoms)} atoms | {args.optimizer.upper()} | cell {'on' if args.cell else 'off'} | "
          f"model {args.model} ({calc.dtype}, {calc.device})")
    result = relax(atoms, calc, cell=args.cell, optimizer=args.optimizer, fmax=args.fmax, steps=args.steps,
                   trajectory=args.traj, logfile=log)
    n = len(atoms)
    for label, energy, fmax, cell in (
        ("initial", result.energy_initial, result.fmax_initial, atoms.cell.lengths()),
        ("final", result.energy_final, result.fmax_final, result.atoms.cell.lengths()),
    ):
        print(f"{label:8s} E = {energy:.6f} eV ({energy / n:.6f} eV/atom)  fmax = {fmax:.5f} eV/Å  "
              f"cell = {cell[0]:.4f} {cell[1]:.4f} {cell[2]:.4f} Å")
    write(args.out, result.atoms, format="extxyz")
    status = f"converged in {result.steps} steps" if result.converged else f"NOT converged after {result.steps} steps"
    print(f"# {status} (fmax {args.fmax:g} eV/Å); wrote {args.out}")
    if not result.converged:
        print(f"ase-relaxed relax: warning: not converged; raise --steps (now {args.steps})", file=sys.stderr)
        return 1
    return 0


def add_parsers(sub) -> None:
    """Add the ``md`` and ``relax`` subcommands to an argparse subparsers object."""
    S = argparse.SUPPRESS
    md = sub.add_parser(
        "md", help="molecular dynamics (NVE, Langevin, Bussi, Nosé–Hoover, NPT), resumable, batched replicas",
        description="Run MD on STRUCTURE with ASE integrators. Writes a CSV log (columns: "
        + ", ".join(LOG_COLUMNS) + "; npt adds " + ", ".join(NPT_COLUMNS) + "; energies in eV for the whole "
        "system, temperature in K, time in fs, volume in Å³, pressure in GPa), a trajectory (.traj = ASE binary, "
        "else extxyz) every --interval steps, and an atomic checkpoint (npz) that --resume continues from; the "
        "log's model, its sha256, the ase_relaxed version and the dtype go to LOG.provenance.json, every frame's to "
        "its info. "
        "Several replicas (_r{k} suffixes) share one batched model evaluation per step.",
    )
    md.add_argument("structure", nargs="*", default=S, help="a file ASE can read, or a builder spec "
                    "(cnt:10,0:length=4, diamond:C:size=2); optional with --resume or a config naming it; several, "
                    "or globs, run as a farm of file-less runs into --db (docs/farms.md)")
    add_farm_options(md)
    md.add_argument("--config", default=None, help="YAML file with any of these options (flags override it)")
    add_model_options(md, index="-1", suppress=True)
    md.add_argument("--ensemble", choices=ENSEMBLES, default=S, help=f"(default: {D.ensemble})")
    md.add_argument("--barostat", choices=BAROSTATS, default=S, help="npt cell fluctuations: isotropic (volume "
                    "only) or anisotropic (full cell, for symmetry-broken crystals) (default: isotropic)")
    md.add_argument("--temperature", "-T", type=float, default=S,
                    help=f"target temperature, K (default: {D.temperature:g})")
    md.add_argument("--temperatures", type=float, nargs="+", default=S, metavar="T",
                    help="one target temperature per replica (sets --replicas)")
    md.add_argument("--initial-temperature", type=float, default=S,
                    help="Maxwell–Boltzmann temperature of the initial velocities, K (default: the target)")
    md.add_argument("--pressure", type=float, default=S, help=f"npt external pressure, GPa (default: {D.pressure:g})")
    md.add_argument("--timestep", "--dt", type=float, default=S, help=f"time step, fs (default: {D.timestep:g})")
    md.add_argument("--steps", "-n", type=int, default=S, help=f"total number of steps (default: {D.steps})")
    md.add_argument("--seed", type=int, default=S, help="seed of velocities and thermostat noise; replica k "
                    f"uses seed+k (default: {D.seed})")
    md.add_argument("--replicas", type=int, default=S, help="independent copies run together (default: 1)")
    md.add_argument("--friction", type=float, default=S, help=f"Langevin friction, 1/fs (default: {D.friction:g})")
    md.add_argument("--tdamp", type=float, default=S, help="thermostat time constant, fs (default: 100 steps)")
    md.add_argument("--pdamp", type=float, default=S, help="barostat time constant, fs (default: 1000 steps)")
    md.add_argument("--traj", default=S, help=f"trajectory file, .traj or extxyz; 'none' for no output "
                    f"(default: {D.traj})")
    md.add_argument("--log", default=S, help=f"CSV log; 'none' for no log (default: {D.log})")
    md.add_argument("--interval", type=int, default=S,
                    help=f"write log and frames every K steps (default: {D.interval})")
    md.add_argument("--checkpoint", default=S, help=f"checkpoint file (npz); 'none' for none (default: {D.checkpoint})")
    md.add_argument("--checkpoint-interval", type=int, default=S, help="checkpoint every K steps (default: --interval)")
    md.add_argument("--resume", action="store_true", default=S, help="continue the run saved in --checkpoint up to "
                    "--steps; log and trajectory are cut back to the checkpoint")
    md.add_argument("--max-force", type=float, default=S,
                    help=f"stop if any |F| exceeds this, eV/Å (default: {D.max_force:g})")
    md.add_argument("--min-distance", type=float, default=S,
                    help=f"stop if atoms come closer, Å (default: {D.min_distance:g})")
    md.add_argument("--max-temperature", type=float, default=S, help="stop above this temperature, K "
                    "(default: max(10 x target, 10000))")
    md.add_argument("--quiet", "-q", action="store_true", default=S, help="no progress bar")
    md.set_defaults(func=cmd_md)

    relax = sub.add_parser(
        "relax", help="relax positions (and with --cell the cell) with FIRE or BFGS",
        description="Relax STRUCTURE until max |F| < --fmax; with --cell the periodic axes of the cell too (ase."
        "filters.FrechetCellFilter, masked by pbc: a tube relaxes its period, a slab its in-plane cell, a crystal "
        "all of it; the cell needs a volume, vacuum counted, as in ASE's numerical stress). Prints initial/final "
        "energy, fmax and cell lengths and writes the relaxed structure (extxyz, with energy and forces). Exit "
        "status 1 if not converged.",
    )
    relax.add_argument("structure", nargs="+", help="a file ASE can read, or a builder spec (e.g. diamond:C:size=2); "
                       "several, or globs, run as a farm into --db (docs/farms.md)")
    add_model_options(relax, index="-1")
    add_farm_options(relax)
    relax.add_argument("--cell", action="store_true", help="relax the periodic axes of the cell as well (a tube's "
                       "period, a slab's in-plane cell, a crystal's whole cell)")
    relax.add_argument("--optimizer", choices=["fire", "bfgs"], default="fire", help="(default: %(default)s)")
    relax.add_argument("--fmax", type=POSITIVE, default=0.01, help="force threshold, eV/Å (default: %(default)s)")
    relax.add_argument("--steps", type=NON_NEGATIVE_INT, default=1000,
                       help="maximum optimizer steps (default: %(default)s)")
    relax.add_argument("--out", "-o", default="relaxed.extxyz", help="relaxed structure (default: %(default)s)")
    relax.add_argument("--traj", default=None, help="optional ASE .traj of the optimisation")
    relax.add_argument("--quiet", "-q", action="store_true", help="no per-step optimizer log")
    relax.set_defaults(func=cmd_relax)

