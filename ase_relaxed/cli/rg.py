"""``ase-relaxed rg sample | train | plot``: variational RG with stacked RBMs on the 2D Ising model.

    ase-relaxed rg sample --L 20 --coupling 0.408 --n-samples 20000 --out samples.npz
    ase-relaxed rg train samples.npz --layers 400,100,25 --epochs 20 --l1 0.03 --out stack.safetensors
    ase-relaxed rg plot stack.safetensors --samples samples.npz --out-dir rg-plots

``train`` checkpoints after every epoch; after a kill, the same command with ``--resume`` ends with the
same weights as an uninterrupted run.  Energies are per spin in units of J; lengths in lattice spacings.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time

from .common import NON_NEGATIVE_INT, POSITIVE, POSITIVE_INT, check_output, number


def _l1(text: str) -> float | list[float]:
    """``0.03`` (every layer) or ``0.03,0.03,0.01`` (one L1 strength per RBM), each >= 0."""
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = [math.nan]
    if not all(math.isfinite(v) and v >= 0 for v in values):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number >= 0 or a comma-separated list of them")
    return values[0] if len(values) == 1 else values


def _provenance(args: argparse.Namespace, command: str) -> dict:
    import numpy as np
    import torch

    from .._version import __version__

    options = {k: v for k, v in vars(args).items() if k not in ("func", "command", "rg_command", "quiet")}
    return {"command": f"ase-relaxed rg {command}", "options": options, "package_version": __version__,
            "numpy": np.__version__, "torch": torch.__version__, "python": platform.python_version(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def cmd_sample(args: argparse.Namespace) -> int:
    from ..errors import InputError
    from ..rg import abs_magnetisation, energy_per_spin, mean_and_error, sample_ising
    from ..rg.files import save_samples

    if args.L % 2 or args.L < 4:
        raise InputError(f"--L must be even (checkerboard sweeps) and at least 4 (2x2 blocks), got {args.L}")
    check_output(args.out, "--out")
    t = time.time()
    spins = sample_ising(args.L, args.coupling, args.n_samples, seed=args.seed, thin=args.thin,
                         burn_in=args.burn_in)
    m, m_err, m_tau = mean_and_error(abs_magnetisation(spins))
    e, e_err, e_tau = mean_and_error(energy_per_spin(spins))
    provenance = {**_provenance(args, "sample"), "sampler": "Wolff + checkerboard Metropolis",
                  "weight": "p(s) ~ exp(K sum_<ij> s_i s_j), periodic L x L",
                  "abs_m": [m, m_err], "energy_per_spin_J": [e, e_err], "seconds": time.time() - t}
    save_samples(args.out, spins, provenance)
    print(f"{args.n_samples} configurations of {args.L}x{args.L} at K = J/kT = {args.coupling:g} "
          f"({time.time() - t:.1f} s)")
    print(f"<|m|> = {m:.4f} ± {m_err:.4f}   <E/N> = {e:.4f} ± {e_err:.4f} J   "
          f"(1σ, τ_int = {m_tau:.2f} / {e_tau:.2f} samples)")
    print(f"wrote {args.out}")
    return 0


def _layers(text: str, L: int) -> list[int]:
    from ..errors import InputError

    try:
        sizes = [int(s) for s in text.split(",")]
    except ValueError:
        raise InputError(f"--layers must be comma-separated integers such as {L * L},100,25, got {text!r}") from None
    if len(sizes) < 2 or sizes[0] != L * L:
        raise InputError(f"--layers must start with L*L = {L * L} (the samples' lattice) and name at least one "
                         f"hidden layer, got {text!r}")
    if any(b >= a or b < 1 for a, b in zip(sizes, sizes[1:])):
        raise InputError(f"--layers must shrink layer by layer (coarse-graining) and stay >= 1, got {text!r}")
    return sizes


def cmd_train(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..errors import InputError
    from ..rg.files import load_samples
    from ..rg.training import train_stack

    spins, sample_provenance = load_samples(args.samples)
    sizes = _layers(args.layers, spins.shape[1])
    check_output(args.out, "--out")
    out = Path(args.out)
    if args.resume and not out.is_file():
        raise InputError(f"--resume: no checkpoint {args.out!r} to continue; run without --resume to start")
    if not args.resume and out.exists():
        raise InputError(f"--out {args.out!r} exists; pass --resume to continue it, or choose another --out")
    t = time.time()
    stack = train_stack(sizes, spins.reshape(len(spins), -1), out, epochs=args.epochs, seed=args.seed,
                        resume=args.resume, progress=not args.quiet, device=args.device,
                        provenance={**_provenance(args, "train"), "samples": sample_provenance},
                        lr=args.lr, batch_size=args.batch_size, k=args.k, persistent=args.persistent, l1=args.l1,
                        momentum=args.momentum)
    method = f"{'PCD' if args.persistent else 'CD'}-{args.k}"
    print(f"trained {'-'.join(map(str, sizes))} on {len(spins)} samples: {method}, {args.epochs} epochs per layer, "
          f"lr {args.lr:g}, L1 {args.l1} ({time.time() - t:.1f} s this run)")
    for i, rbm in enumerate(stack.layers):
        w = rbm.W.abs()
        print(f"layer {i + 1}: {rbm.n_visible} -> {rbm.n_hidden} units, mean |W| = {float(w.mean()):.4f}, "
              f"{100 * float((w < 1e-3).float().mean()):.0f} % of |W| < 1e-3")
    print(f"wrote {args.out}")
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..errors import InputError
    from ..rg.files import load_samples
    from ..rg.report import analyse, plot_locality, plot_receptive_fields, plot_reconstructions
    from ..rg.stack import RBMStack

    spins, sample_provenance = load_samples(args.samples)
    check_output(args.out_dir, "--out-dir", directory=True)
    stack = RBMStack.load(args.stack, device="cpu")
    L = spins.shape[1]
    if stack.sizes[0] != L * L:
        raise InputError(f"the stack has {stack.sizes[0]} visible units but the samples are {L}x{L}")
    if stack.metadata.get("trained_layers", stack.n_layers) < stack.n_layers:
        print(f"warning: {args.stack} is a checkpoint with {stack.metadata['trained_layers']} of "
              f"{stack.n_layers} layers trained", file=sys.stderr)
    folder = Path(args.out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    result = analyse(stack, spins, seed=args.seed, gibbs_steps=args.gibbs_steps, n_reconstruct=args.n_reconstruct)
    figures = plot_receptive_fields(stack, L, folder, "rg-fields", args.dpi)
    figures.append(plot_locality(result["layers"], folder / "rg-locality.png", args.dpi))
    figures.append(plot_reconstructions(stack, spins, folder / "rg-reconstructions.png", seed=args.seed,
                                        gibbs_steps=args.gibbs_steps, dpi=args.dpi))
    mc = result["monte_carlo"]
    print(f"samples: <|m|> = {mc['abs_m']['mean']:.4f} ± {mc['abs_m']['sigma']:.4f}, <E/N> = "
          f"{mc['energy']['mean']:.4f} ± {mc['energy']['sigma']:.4f} J, xi_2nd = {mc['xi_2nd']['value']:.2f} sites")
    print("layer units live    b  S(R=b) shuffled  R_1/2 (sites) live shuffled  recon <|m|>  recon <E/N> (J)")
    for d in result["layers"]:
        rec = d["reconstruction"]
        print(f"{d['layer']:5d} {d['units']:5d} {d['live_units']:4d} {d['block_scale']:4.1f} "
              f"{d['locality_at_block_scale']:7.3f} {d['locality_at_block_scale_shuffled']:8.3f} "
              f"{d['radius_half_median']:14.2f} {d['radius_half_median_live']:4.2f} {d['radius_half_shuffled']:8.2f} "
              f"{rec['abs_m']['mean']:12.4f} {rec['energy']['mean']:16.4f}")
    result.update(figures=figures, stack=str(args.stack), stack_metadata=stack.metadata,
                  definitions={"S(R)": "fraction of sum |f| within R of the field's periodic centre",
                               "b": "block scale L / sqrt(units)", "r_eff": "sqrt(sum |f| d^2 / sum |f|), sites",
                               "R_1/2": "median over units of the smallest distance holding half of sum |f|, sites",
                               "live": "units with own weight-column norm >= 0.1 x the layer's largest",
                               "energy": "per spin, units of J"},
                  provenance={**_provenance(args, "plot"), "samples": sample_provenance})
    summary = folder / "rg-summary.json"
    summary.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {len(figures)} figures and {summary} in {args.out_dir}")
    return 0


def add_parsers(sub) -> None:
    """``rg`` with the subcommands ``sample``, ``train`` and ``plot``."""
    from .common import OneLineParser

    rg = sub.add_parser("rg", help="variational RG with stacked RBMs on the 2D Ising model (Mehta & Schwab)",
                        description="Sample 2D Ising configurations, train a stack of ±1 RBMs on them layer by "
                        "layer, and plot what each layer learnt (receptive fields, locality, reconstructions).")
    rg_sub = rg.add_subparsers(dest="rg_command", metavar="STEP", required=True, parser_class=OneLineParser)

    p = rg_sub.add_parser("sample", help="Monte Carlo samples of the 2D Ising model (.npz)",
                          description="Wolff clusters + checkerboard Metropolis on a periodic L x L lattice, "
                          "p(s) ~ exp(K sum_<ij> s_i s_j); writes spins and provenance to an .npz file.")
    p.add_argument("--L", type=number(4, integer=True), default=20, help="lattice side, even, >= 4 (default: 20)")
    p.add_argument("--coupling", type=number(0), default=0.408,
                   help="K = J/kT, >= 0 (critical 0.4407; default: %(default)s)")
    p.add_argument("--n-samples", type=POSITIVE_INT, default=20000, help="configurations (default: %(default)s)")
    p.add_argument("--thin", type=POSITIVE_INT, default=2, help="updates between stored samples (default: 2)")
    p.add_argument("--burn-in", type=NON_NEGATIVE_INT, default=1000, help="updates discarded first (default: 1000)")
    p.add_argument("--seed", type=NON_NEGATIVE_INT, default=0, help="random seed (default: 0)")
    p.add_argument("--out", default="samples.npz", help="output .npz (default: %(default)s)")
    p.set_defaults(func=cmd_sample)

    t = rg_sub.add_parser("train", help="train a stack of RBMs layer by layer (resumable)",
                          description="Greedy layer-by-layer CD-k or PCD training with an L1 penalty on the weights; "
                          "a checkpoint after every epoch, --resume continues it to the same result.")
    t.add_argument("samples", help="samples .npz from `ase-relaxed rg sample`")
    t.add_argument("--layers", default="400,100,25", help="layer sizes, first = L*L, shrinking (default: %(default)s)")
    t.add_argument("--epochs", type=POSITIVE_INT, default=20, help="epochs per layer (default: %(default)s)")
    t.add_argument("--lr", type=POSITIVE, default=0.01, help="learning rate (default: %(default)s)")
    t.add_argument("--l1", type=_l1, default=0.03, help="L1 strength on W, one for all layers or one per RBM "
                   "(e.g. 0.03,0.03,0.01) (default: %(default)s)")
    t.add_argument("--k", type=POSITIVE_INT, default=1, help="Gibbs steps per update (default: 1)")
    t.add_argument("--persistent", action="store_true", help="persistent chains (PCD) instead of CD-k")
    t.add_argument("--momentum", type=number(0, 1, high_open=True), default=0.5,
                   help="momentum, in [0, 1) (default: %(default)s)")
    t.add_argument("--batch-size", type=POSITIVE_INT, default=100, help="mini-batch size (default: %(default)s)")
    t.add_argument("--seed", type=NON_NEGATIVE_INT, default=0, help="random seed (default: 0)")
    t.add_argument("--device", default=None, help="cpu or cuda (default: CUDA if available)")
    t.add_argument("--out", default="stack.safetensors", help="stack and checkpoint file (default: %(default)s)")
    t.add_argument("--resume", action="store_true", help="continue the checkpoint --out")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=cmd_train)

    q = rg_sub.add_parser("plot", help="receptive fields, locality and reconstructions of a trained stack",
                          description="Writes rg-fields-layer<l>.png, rg-locality.png, rg-reconstructions.png and "
                          "rg-summary.json (numbers, definitions, provenance) to --out-dir.")
    q.add_argument("stack", help="a .safetensors stack from `ase-relaxed rg train`")
    q.add_argument("--samples", required=True, help="the samples .npz the stack was trained on")
    q.add_argument("--out-dir", default="rg-plots", help="output folder (default: %(default)s)")
    q.add_argument("--gibbs-steps", type=NON_NEGATIVE_INT, default=0,
                   help="Gibbs steps in the top RBM before reconstructing (default: 0, one up-down pass)")
    q.add_argument("--n-reconstruct", type=POSITIVE_INT, default=2000,
                   help="samples reconstructed for the averages (default: %(default)s)")
    q.add_argument("--seed", type=NON_NEGATIVE_INT, default=0, help="random seed (default: 0)")
    q.add_argument("--dpi", type=POSITIVE_INT, default=80, help="figure resolution (default: %(default)s)")
    q.set_defaults(func=cmd_plot)
