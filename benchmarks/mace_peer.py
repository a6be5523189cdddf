"""MACE side of ``bench_calculator.py``; runs in its own venv (mace-torch 0.3.16 pins e3nn 0.4.4).

    benchmarks/.venv-mace/bin/python benchmarks/mace_peer.py --structures S.extxyz --batch B.extxyz

Builds a random-weight MACE of the size used in the MACE papers (hidden irreps
64x0e+64x1o, 2 interactions, r_max 5 Å, max_ell 3, correlation 3, 8 Bessel
functions, polynomial cutoff p=5, radial MLP [64, 64, 64], carbon only) in code
(no download), wraps it in ``mace.calculators.MACECalculator`` and times
energy+forces per call on the structures the driver wrote, with the same
per-call rattles as the driver uses for our calculator.  Prints one JSON object
on stdout (everything else goes to stderr).
"""

from __future__ import annotations

import os

os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")  # e3nn 0.4.4 + torch >= 2.6

import argparse
import contextlib
import copy
import json
import statistics
import sys
import time
import warnings
from typing import Any

import numpy as np

warnings.filterwarnings("ignore")

MACE_HYPERS: dict[str, Any] = {
    "hidden_irreps": "64x0e+64x1o",
    "num_interactions": 2,
    "r_max": 5.0,
    "max_ell": 3,
    "correlation": 3,
    "num_bessel": 8,
    "num_polynomial_cutoff": 5,
    "radial_MLP": [64, 64, 64],
    "MLP_irreps": "16x0e",
    "interaction_first": "RealAgnosticInteractionBlock",
    "interaction": "RealAgnosticResidualInteractionBlock",
    "avg_num_neighbors": 16.0,
    "atomic_numbers": [6],
    "model_class": "ScaleShiftMACE",
}


def build_mace(seed: int = 0):
    """A random-weight ScaleShiftMACE with :data:`MACE_HYPERS` (float32 parameters)."""
    import torch
    from e3nn import o3
    from mace import modules

    torch.manual_seed(seed)
    h = MACE_HYPERS
    return modules.ScaleShiftMACE(
        r_max=h["r_max"],
        num_bessel=h["num_bessel"],
        num_polynomial_cutoff=h["num_polynomial_cutoff"],
        max_ell=h["max_ell"],
        interaction_cls=modules.interaction_classes[h["interaction"]],
        interaction_cls_first=modules.interaction_classes[h["interaction_first"]],
        num_interactions=h["num_interactions"],
        num_elements=len(h["atomic_numbers"]),
        hidden_irreps=o3.Irreps(h["hidden_irreps"]),
        MLP_irreps=o3.Irreps(h["MLP_irreps"]),
        atomic_energies=np.zeros(len(h["atomic_numbers"])),
        avg_num_neighbors=h["avg_num_neighbors"],
        atomic_numbers=h["atomic_numbers"],
        correlation=h["correlation"],
        gate=torch.nn.functional.silu,
        radial_MLP=h["radial_MLP"],
        atomic_inter_scale=1.0,
        atomic_inter_shift=0.0,
    )


def make_calculator(model, dtype: str):
    """``MACECalculator`` around a private copy of ``model`` converted to ``dtype``."""
    import torch
    from mace.calculators import MACECalculator
    from mace.tools import torch_tools

    torch_tools.set_default_dtype(dtype)
    model = copy.deepcopy(model).to(getattr(torch, dtype))
    return MACECalculator(models=model, device="cpu", default_dtype=dtype)


def time_single(calc, base, repeats: int, warmup: int, rattle: float, seed: int) -> list[float]:
    """Seconds per energy+forces call on fresh rattled positions (the driver's exact recipe)."""
    atoms = base.copy()
    atoms.calc = calc
    rng = np.random.default_rng(seed)
    times = []
    for index in range(warmup + repeats):
        atoms.positions = base.positions + rng.normal(0.0, rattle, base.positions.shape)
        start = time.perf_counter()
        atoms.get_potential_energy()
        atoms.get_forces()
        elapsed = time.perf_counter() - start
        if index >= warmup:
            times.append(elapsed)
    return times


def time_loop(calc, images, repeats: int) -> list[float]:
    """Seconds to evaluate all ``images`` one by one, ``repeats`` times (consecutive images differ)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for atoms in images:
            atoms.calc = calc
            atoms.get_potential_energy()
            atoms.get_forces()
        times.append(time.perf_counter() - start)
        for atoms in images:
            atoms.calc = None
    return times


def summary(times: list[float]) -> dict[str, Any]:
    """Median, min and all samples in seconds."""
    return {"median_s": statistics.median(times), "min_s": min(times), "samples_s": times}


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Everything the driver needs, as a JSON-able dict."""
    import ase
    import ase.io
    import e3nn
    import mace
    import torch

    torch.set_num_threads(args.threads)
    structures = ase.io.read(args.structures, ":")
    images = ase.io.read(args.batch, ":") if args.batch else []
    model = build_mace(args.seed)
    result: dict[str, Any] = {
        "versions": {
            "mace": getattr(mace, "__version__", "unknown"),
            "torch": torch.__version__,
            "e3nn": e3nn.__version__,
            "ase": ase.__version__,
            "numpy": np.__version__,
            "python": sys.version.split()[0],
        },
        "torch_threads": torch.get_num_threads(),
        "hypers": MACE_HYPERS,
        "parameters": sum(p.numel() for p in model.parameters()),
        "single": {},
        "batch": {},
        "notes": [
            "MACECalculator always computes stress (and so the virial gradient) for model_type MACE",
        ],
    }
    for dtype in args.dtypes:
        calc = make_calculator(model, dtype)
        for base in structures:
            large = len(base) >= 500
            repeats, warmup = (args.repeats_large, args.warmup_large) if large else (args.repeats, args.warmup)
            times = time_single(calc, base, repeats, warmup, args.rattle, args.seed + len(base))
            result["single"].setdefault(dtype, {})[str(len(base))] = summary(times)
            print(f"mace {dtype} {len(base)} atoms: {statistics.median(times) * 1e3:.1f} ms", file=sys.stderr)
        if images and dtype in args.batch_dtypes:
            time_loop(calc, images[: min(10, len(images))], 1)  # warm-up at this size
            loop = time_loop(calc, images, args.batch_repeats)
            result["batch"][dtype] = {"n_images": len(images), "one_by_one": summary(loop)}
            print(f"mace {dtype} {len(images)} images one by one: {statistics.median(loop):.2f} s", file=sys.stderr)
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--structures", required=True, help="extxyz with the base structures for per-call timing")
    parser.add_argument("--batch", default=None, help="extxyz with the images evaluated one by one")
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float64"])
    parser.add_argument("--batch-dtypes", nargs="+", default=["float32", "float64"])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats-large", type=int, default=5, help="repeats for structures of >= 500 atoms")
    parser.add_argument("--warmup-large", type=int, default=1)
    parser.add_argument("--batch-repeats", type=int, default=3)
    parser.add_argument("--rattle", type=float, default=0.01, help="Å, std of the per-call displacement")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def print_json_result(run_fn, args: argparse.Namespace) -> int:
    """Run ``run_fn(args)`` with its prints on stderr (mace/e3nn print notices) and its result as JSON on stdout."""
    stdout = sys.stdout
    with contextlib.redirect_stdout(sys.stderr):
        result = run_fn(args)
    stdout.write(json.dumps(result) + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    return print_json_result(run, parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
