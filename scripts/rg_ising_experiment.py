"""Mehta & Schwab's deep variational RG experiment, scaled: stacked ±1 RBMs on 2D Ising samples near criticality.

A thin driver over :mod:`ase_relaxed.rg` (the same code as ``ase-relaxed rg sample/train/plot``). Resumable:
samples (``samples.npz``) and the stack, checkpointed after every epoch (``stack.safetensors``), live in
``--results``; a rerun continues from what is there. Writes a JSON summary (``--json``) and receptive-field
figures (``--figures``).

    python scripts/rg_ising_experiment.py --L 20 --sizes 400,100,25 --epochs 100 --l1 0.03 \\
        --results benchmarks/results/rg_ising.runs/L20  # the committed 20x20 run
    python scripts/rg_ising_experiment.py --L 40 --sizes 1600,400,100,25 --l1 0.03 \\
        --results benchmarks/results/rg_ising.runs/L40 --json benchmarks/results/rg_ising_L40.json --dpi 50
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from ase_relaxed import __version__
from ase_relaxed.rg import sample_ising
from ase_relaxed.rg.report import analyse, plot_receptive_fields
from ase_relaxed.rg.stack import RBMStack
from ase_relaxed.rg.training import train_stack


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--L", type=int, default=20)
    p.add_argument("--coupling", type=float, default=0.408)
    p.add_argument("--samples", type=int, default=20000)
    p.add_argument("--thin", type=int, default=2)
    p.add_argument("--sizes", default="400,100,25")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--l1", type=lambda t: [float(v) for v in t.split(",")] if "," in t else float(t), default=0.03,
                   help="L1 strength, one value or one per RBM (0.03,0.03,0.01)")
    p.add_argument("--momentum", type=float, default=0.5)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--k", type=int, default=1)
    p.add_argument("--persistent", action="store_true", help="PCD instead of CD-k")
    p.add_argument("--gibbs-steps", type=int, default=0, help="Gibbs steps in the top RBM before reconstructing")
    p.add_argument("--n-reconstruct", type=int, default=None, help="reconstruct only the first N samples")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--results", default="benchmarks/results/rg_ising.runs/L20")
    p.add_argument("--json", default="benchmarks/results/rg_ising.json")
    p.add_argument("--figures", default="docs/figures")
    p.add_argument("--dpi", type=int, default=80)
    return p.parse_args()


def log(msg: str) -> None:
    print(time.strftime("%H:%M:%S"), msg, flush=True)


def samples(args, folder: Path, timing: dict) -> np.ndarray:
    path = folder / "samples.npz"
    if path.is_file():
        return np.load(path)["spins"]
    t = time.time()
    spins = sample_ising(args.L, args.coupling, args.samples, seed=args.seed, thin=args.thin, burn_in=1000)
    timing["sampling_s"] = time.time() - t
    np.savez_compressed(path, spins=spins)
    log(f"sampled {args.samples} configurations in {timing['sampling_s']:.1f} s")
    return spins


def train(args, folder: Path, data: np.ndarray, sizes: list[int], timing: dict) -> RBMStack:
    path = folder / "stack.safetensors"
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if path.is_file():
        done = int(RBMStack.load(path, device="cpu").metadata.get("trained_layers", 0))
        log(f"resuming: {done} of {len(sizes) - 1} layers trained")
    start = [time.time()]

    def checkpoint(layer: int, epoch: int, s: RBMStack) -> None:
        if epoch == args.epochs - 1:
            timing[f"layer{layer}_s"] = timing.get(f"layer{layer}_s", 0.0) + time.time() - start[0]
            start[0] = time.time()
            (folder / "timing.json").write_text(json.dumps(timing))
            log(f"layer {layer + 1} trained ({timing[f'layer{layer}_s']:.1f} s), checkpoint {path}")

    return train_stack(sizes, data, path, epochs=args.epochs, seed=args.seed, resume=True, device=device,
                       on_epoch=checkpoint, lr=args.lr, l1=args.l1, momentum=args.momentum,
                       batch_size=args.batch_size, k=args.k, persistent=args.persistent)


def main() -> None:
    args = parse()
    wall = time.time()
    sizes = [int(s) for s in args.sizes.split(",")]
    if sizes[0] != args.L * args.L:
        raise SystemExit(f"--sizes must start with L*L = {args.L * args.L}, got {sizes[0]}")
    folder = Path(args.results)
    folder.mkdir(parents=True, exist_ok=True)
    timing: dict = {}
    if (folder / "timing.json").is_file():
        timing = json.loads((folder / "timing.json").read_text())
    spins = samples(args, folder, timing)
    (folder / "timing.json").write_text(json.dumps(timing))
    stack = train(args, folder, spins.reshape(len(spins), -1), sizes, timing)
    result = analyse(stack, spins, seed=args.seed, gibbs_steps=args.gibbs_steps,
                     n_reconstruct=args.n_reconstruct)
    mc = result["monte_carlo"]
    for d in result["layers"]:
        rec = d["reconstruction"]
        log(f"layer {d['layer']}: locality (R = b = {d['block_scale']:g}) {d['locality_at_block_scale']:.3f} vs "
            f"shuffled {d['locality_at_block_scale_shuffled']:.3f}; (R = L/4) {d['locality']:.3f} vs "
            f"{d['locality_shuffled']:.3f}; R_1/2 {d['radius_half_median']:.2f} (live {d['live_units']}: "
            f"{d['radius_half_median_live']:.2f}) vs {d['radius_half_shuffled']:.2f}; r_eff {d['radius']:.2f} vs "
            f"{d['radius_shuffled']:.2f}; recon |m| {rec['abs_m']['mean']:.4f} E/N {rec['energy']['mean']:.4f} "
            f"xi {rec['xi_2nd']['value']:.2f} (MC {mc['abs_m']['mean']:.4f}, {mc['energy']['mean']:.4f}, "
            f"xi {mc['xi_2nd']['value']:.2f})")
    figs = plot_receptive_fields(stack, args.L, args.figures, f"rg-ising-L{args.L}", args.dpi)
    out = {
        "experiment": "deep variational RG with stacked ±1 RBMs on 2D Ising (Mehta & Schwab, arXiv:1410.3831)",
        "L": args.L, "coupling": args.coupling, "n_samples": int(len(spins)), "thin": args.thin,
        "sizes": sizes, "seed": args.seed,
        "training": {"method": f"{'PCD' if args.persistent else 'CD'}-{args.k}", "epochs": args.epochs,
                     "lr": args.lr, "l1": args.l1, "momentum": args.momentum, "batch_size": args.batch_size,
                     "dtype": "float32", "device": str(stack.layers[0].W.device)},
        **result, "figures": figs,
        "timing_s": {**timing, "this_run_wall": time.time() - wall},
        "versions": {"ase_relaxed": __version__, "torch": torch.__version__, "numpy": np.__version__,
                     "python": platform.python_version()},
        "cpu_threads": torch.get_num_threads(),
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=1) + "\n")
    log(f"wrote {args.json}")


if __name__ == "__main__":
    main()
