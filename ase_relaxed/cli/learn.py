"""``ase-relaxed learn``: learn the kernel force field on the fly from GFN1-xTB (resumable, also after SIGKILL).

    ase-relaxed learn RUN_DIR [--tubes 8,0 12,0 5,5 8,8 8,4] [--temperatures 300 800 1500] [--steps 100]
        [--threshold 0.02] [--threshold-factor 1.5] [--every K] [--max-calls 150] [--reference gfn1-xtb] ...

Running the same command again continues where it stopped (other settings are refused: use a new RUN_DIR).
The model is RUN_DIR/model.safetensors after every reference call; RUN_DIR/calls.jsonl logs each call.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from ..learn.config import LearnConfig

#: LearnConfig fields set from the command line: (flag, field, type, help)
OPTIONS = [
    ("--tubes", "tubes", str, "chiralities N,M to run MD on"),
    ("--temperatures", "temperatures", float, "Langevin temperatures in K, coolest first"),
    ("--steps", "steps", int, "MD steps per tube and temperature"),
    ("--timestep", "timestep", float, "MD time step in fs"),
    ("--friction", "friction", float, "Langevin friction in 1/fs"),
    ("--rattle", "rattle", float, "Gaussian displacement (Å) of every episode's starting tube"),
    ("--threshold", "threshold", float, "smallest σ_tol in eV/Å (model part of the largest force σ)"),
    ("--threshold-factor", "threshold_factor", float,
     "σ_tol = max(threshold, factor × σ at the last labelled frame); SPARC uses 1.001–1.01"),
    ("--every", "every", int, "also call the reference every K steps since the last call (0: only on σ)"),
    ("--max-calls", "max_calls", int, "stop after this many reference calls"),
    ("--min-distance", "min_distance", float, "end an episode whose atoms come closer than this (Å)"),
    ("--reference", "reference", str, "labelling method: gfn1-xtb, gfn2-xtb (tblite) or brenner (matscipy)"),
    ("--min-length", "min_length", float, "shortest periodic length of a segment in Å (Γ-only xTB: ≥ 17)"),
    ("--n-representative", "n_representative", int, "kernel representatives W (at most)"),
    ("--energy-weight", "energy_weight", float, "weight of the per-atom energy rows against the force rows"),
    ("--seed", "seed", int, "seed of the rattles, velocities and Langevin noise"),
]


def _config(args: argparse.Namespace) -> LearnConfig:
    values = {field: getattr(args, field) for _, field, _, _ in OPTIONS if getattr(args, field) is not None}
    return LearnConfig.from_dict(values)


def _report(run_dir: Path, state: dict) -> None:
    calls_path = run_dir / "calls.jsonl"
    records = [json.loads(line) for line in calls_path.read_text().splitlines()] if calls_path.exists() else []
    calls = [r for r in records if "call" in r]
    print(f"# on-the-fly learning in {run_dir}: {state['ended']}; {len(calls)} reference calls, "
          f"{state['md_steps']} MD steps in all")
    per_episode = Counter((r["tube"], r["temperature"]) for r in calls)
    for (tube, temperature), count in sorted(per_episode.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        print(f"  ({tube}) at {temperature:.0f} K: {count} calls")
    for tube, temperature, step in state.get("unstable", []):
        print(f"  ({tube}) at {temperature:.0f} K: ended at step {step}, atoms closer than the minimum distance")
    errors = [r["force_rmse_before"] for r in calls if "force_rmse_before" in r]
    if errors:
        print(f"  model force RMSE at the called frames, before adding them: first {errors[0]:.3f}, "
              f"last {errors[-1]:.3f} eV/Å")
    if calls:
        last = calls[-1]
        print(f"  model: {run_dir / 'model.safetensors'} ({last['frames']} frames, W = {last['n_representative']}, "
              f"training force RMSE {last['train_force_rmse']:.3f} eV/Å)")


def cmd_learn(args: argparse.Namespace) -> int:
    from ..learn.loop import learn_on_the_fly

    config = _config(args)
    run_dir = Path(args.run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        from ..errors import InputError

        raise InputError(f"RUN_DIR {str(run_dir)!r} exists and is not a directory")
    state = learn_on_the_fly(run_dir, config, progress=not args.quiet)
    _report(run_dir, state)
    return 0


def add_parsers(sub) -> None:
    """``learn``."""
    defaults = LearnConfig()
    p = sub.add_parser(
        "learn", help="learn the kernel force field on the fly (MD + GFN1-xTB where the model is unsure)",
        description="On-the-fly learning of the SOAP kernel force field (Sharma, Kumar & Suryanarayana, "
        "arXiv:2408.07554): Langevin MD of every tube at every temperature under the current model; when the "
        "largest Bayesian force σ exceeds σ_tol (or every K steps), the frame is labelled by the reference, "
        "added, and the model refitted by evidence maximisation. Resumable: run the same command again.",
        epilog="Writes RUN_DIR/model.safetensors (use it as --model anywhere), references.extxyz (every labelled "
        "frame), calls.jsonl (why each call was made, σ, the model's error there), checkpoint.json.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="run directory (created; an existing one is resumed)")
    for flag, field, kind, text in OPTIONS:
        default = getattr(defaults, field)
        many = isinstance(default, list)
        shown = " ".join(str(v) for v in default) if many else default
        metavar = {"tubes": "N,M", "temperatures": "T"}.get(field, field.upper())
        p.add_argument(flag, dest=field, type=kind, nargs="+" if many else None, default=None, metavar=metavar,
                       help=f"{text} (default: {shown})")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_learn)
