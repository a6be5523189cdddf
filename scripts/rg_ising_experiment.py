"""Mehta & Schwab's deep variational RG experiment, scaled: stacked ±1 RBMs on 2D Ising samples near criticality.

Resumable: samples (``samples.npz``) and the stack after each trained layer (``stack.safetensors``, whose header
records how many layers are trained) live in ``--results``; a rerun continues from what is there.  Writes a
JSON summary (``--json``) and receptive-field figures (``--figures``).

    python scripts/rg_ising_experiment.py --L 20 --sizes 400,100,25 --epochs 100 \\
        --results benchmarks/results/rg_ising.runs/L20_e100  # the committed 20x20 run
    python scripts/rg_ising_experiment.py --L 40 --sizes 1600,400,100,25 \\
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
from ase_relaxed.rg import abs_magnetisation, blocking_error, energy_per_spin, mean_and_error, sample_ising
from ase_relaxed.rg.analysis import summarize_fields
from ase_relaxed.rg.blocks import correlation_length, majority_rule
from ase_relaxed.rg.stack import RBMStack


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--L", type=int, default=20)
    p.add_argument("--coupling", type=float, default=0.408)
    p.add_argument("--samples", type=int, default=20000)
    p.add_argument("--thin", type=int, default=2)
    p.add_argument("--sizes", default="400,100,25")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--l1", type=float, default=2e-4)
    p.add_argument("--momentum", type=float, default=0.5)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--k", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--radius", type=float, default=None, help="locality disc radius (default L/4)")
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
        stack = RBMStack.load(path, device=device)
        done = int(stack.metadata.get("trained_layers", 0))
        log(f"resuming: {done} of {stack.n_layers} layers trained")
    else:
        stack = RBMStack(sizes, seed=args.seed, dtype=torch.float32, device=device)
        done = 0
    hyper = dict(epochs=args.epochs, lr=args.lr, l1=args.l1, momentum=args.momentum, batch_size=args.batch_size,
                 k=args.k)

    def checkpoint(layer: int, s: RBMStack) -> None:
        timing[f"layer{layer}_s"] = time.time() - start[0]
        start[0] = time.time()
        s.metadata = {"trained_layers": layer + 1, "coupling": args.coupling, "L": args.L, "train": hyper,
                      "seed": args.seed, "timing": timing}
        s.save(path)
        log(f"layer {layer + 1} trained ({timing[f'layer{layer}_s']:.1f} s), checkpoint {path}")

    start = [time.time()]
    if done < stack.n_layers:
        stack.fit(data, start_layer=done, callback=checkpoint, seed=args.seed, **hyper)
    timing.update({k: v for k, v in stack.metadata.get("timing", {}).items() if k not in timing})
    return stack


def figures(stack: RBMStack, L: int, folder: Path, dpi: int = 80) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for layer in range(1, stack.n_layers + 1):
        fields = stack.receptive_fields(layer).cpu().double().numpy()
        n = min(fields.shape[1], 25)
        cols = int(np.ceil(np.sqrt(n)))
        rows = int(np.ceil(n / cols))
        fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.6 * rows), squeeze=False)
        for j, ax in enumerate(axes.flat):
            ax.axis("off")
            if j < n:
                f = fields[:, j].reshape(L, L)
                lim = np.abs(f).max()
                ax.imshow(f, cmap="RdBu_r", vmin=-lim, vmax=lim)
        fig.suptitle(f"receptive fields, layer {layer} ({stack.sizes[layer]} units, first {n})")
        fig.tight_layout()
        name = folder / f"rg-ising-L{L}-layer{layer}.png"
        fig.savefig(name, dpi=dpi)
        plt.close(fig)
        names.append(str(name))
    return names


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
    data = spins.reshape(len(spins), -1).astype(np.float32)
    stack = train(args, folder, data, sizes, timing)
    (folder / "timing.json").write_text(json.dumps(timing))

    radius = args.radius if args.radius is not None else args.L / 4
    mc = {}
    for name, fn in (("abs_m", abs_magnetisation), ("energy", energy_per_spin)):
        mean, sigma, tau = mean_and_error(fn(spins))
        mc[name] = {"mean": mean, "sigma": sigma, "tau_int_samples": tau}
    xi, xi_err = blocking_error(spins, correlation_length)
    mc["xi_2nd"] = {"value": xi, "sigma": xi_err}
    for b in (2, 4):
        if args.L % b == 0 and args.L // b >= 2:
            xb, xb_err = blocking_error(majority_rule(spins, b, seed=args.seed), correlation_length)
            mc[f"majority_b{b}_xi_2nd_times_b"] = {"value": b * xb, "sigma": b * xb_err}
    layers = []
    for layer in range(1, stack.n_layers + 1):
        summary = summarize_fields(stack.receptive_fields(layer).cpu().double().numpy(), args.L, radius,
                                   seed=args.seed)
        with torch.no_grad():
            rec = stack.reconstruct(data, layer, seed=args.seed).cpu().numpy().reshape(spins.shape)
        recon = {name: {"mean": float(fn(rec).mean()), "std_of_mean": float(fn(rec).std() / np.sqrt(len(rec)))}
                 for name, fn in (("abs_m", abs_magnetisation), ("energy", energy_per_spin))}
        rxi, rxi_err = blocking_error(rec, correlation_length)
        recon["xi_2nd"] = {"value": rxi, "sigma": rxi_err}
        layers.append({"layer": layer, "units": sizes[layer], **summary, "reconstruction": recon})
        log(f"layer {layer}: locality {summary['locality']:.3f} vs shuffled {summary['locality_shuffled']:.3f}, "
            f"radius {summary['radius']:.2f} vs {summary['radius_shuffled']:.2f}; "
            f"recon |m| {recon['abs_m']['mean']:.4f} E {recon['energy']['mean']:.4f} "
            f"xi {rxi:.2f} (MC {mc['abs_m']['mean']:.4f}, {mc['energy']['mean']:.4f}, xi {xi:.2f})")
    figs = figures(stack, args.L, Path(args.figures), args.dpi)
    result = {
        "experiment": "deep variational RG with stacked ±1 RBMs on 2D Ising (Mehta & Schwab, arXiv:1410.3831)",
        "L": args.L, "coupling": args.coupling, "n_samples": int(len(spins)), "thin": args.thin,
        "sizes": sizes, "seed": args.seed, "locality_radius": radius,
        "training": {"method": f"CD-{args.k}", "epochs": args.epochs, "lr": args.lr, "l1": args.l1,
                     "momentum": args.momentum, "batch_size": args.batch_size, "dtype": "float32",
                     "device": str(stack.layers[0].W.device)},
        "monte_carlo": mc, "layers": layers, "figures": figs,
        "timing_s": {**timing, "this_run_wall": time.time() - wall},
        "versions": {"ase_relaxed": __version__, "torch": torch.__version__, "numpy": np.__version__,
                     "python": platform.python_version()},
        "cpu_threads": torch.get_num_threads(),
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    log(f"wrote {args.json}")


if __name__ == "__main__":
    main()
