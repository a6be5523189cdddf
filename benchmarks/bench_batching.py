"""Does ``calculate_batch`` ever lose to a loop of single calls? The chunk-size curve behind its default (issue 21).

    flock /tmp/bench.lock python benchmarks/bench_batching.py          # ≈ 6 min on 2 cores; quiet machine
    python benchmarks/bench_batching.py --quick                        # a smoke run

For each model (``carbon-gfn1``, 2 × 32 channels, l ≤ 2; ``demo-carbon-random``; with ``--models bench`` the
64-channel l ≤ 3 model of bench_calculator.py) in float32 on CPU, and each image set

* ``100x40``: 100 rattled (5,0)-sized 40-atom tubes (the case batching is for),
* ``mixed``: 30 tubes of 40–1000 atoms in random order,
* ``10x1000``: ten 1000-atom tubes,

it times ``calculate_batch`` at ``max_edges_per_batch`` in {1k, 2k, 4k, 8k, 16k, 32k, 64k} and at the
calculator's default, each right after a loop of single calls (so that drifts of the machine hit both), and
reports the median over 3 repeats of the paired ratio loop time / batch time; it checks that both give the
same forces. Then phonopy's displaced supercells of a (10,0) tube through
``compute_phonons``, batched against one image per call. Writes benchmarks/results/batching.json: for every case
the ratio loop time / batch time (> 1: batching wins) per chunk size.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from ase_relaxed import RelaxedCalculator
from ase_relaxed.structures import build_nanotube

ROOT = Path(__file__).resolve().parents[1]
CHUNKS = [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 64_000]


def image_sets(quick: bool) -> dict[str, list]:
    rng = np.random.default_rng(0)

    def tube(cells: int):
        atoms = build_nanotube(5, 0, length=cells) if cells <= 4 else build_nanotube(10, 0, length=cells)
        atoms.positions += rng.normal(0.0, 0.02, atoms.positions.shape)
        return atoms

    sets = {"100x40": [tube(2) for _ in range(20 if quick else 100)]}  # (5,0): 20 atoms per cell
    sizes = rng.choice([2, 5, 10, 25], size=8 if quick else 30)  # 40, 200, 400, 1000 atoms
    sets["mixed"] = [tube(int(c)) for c in sizes]
    sets["10x1000"] = [tube(25) for _ in range(3 if quick else 10)]
    return sets


def loop_time(calc, images) -> tuple[float, list]:
    start = time.perf_counter()
    forces = []
    for atoms in images:
        copy = atoms.copy()
        copy.calc = calc
        forces.append(copy.get_forces())
    return time.perf_counter() - start, forces


def batch_time(calc, images) -> tuple[float, list]:
    start = time.perf_counter()
    results = calc.calculate_batch(images, properties=("energy", "forces"))
    return time.perf_counter() - start, [r["forces"] for r in results]


def bench_model() -> torch.nn.Module:
    """bench_calculator.py's random-weight model (2 layers, 64 channels, l_max 3, 5 Å)."""
    from ase_relaxed import ModelConfig, build_model

    return build_model(ModelConfig(species=["C"], cutoff=5.0, num_layers=2, channels=64, l_max=3, dtype="float32"))


def run_case(model, images: list, repeats: int, chunks: list[int]) -> dict:
    calcs = {chunk: RelaxedCalculator(model, dtype="float32", max_edges_per_batch=chunk) for chunk in chunks}
    single = RelaxedCalculator(model, dtype="float32")
    calcs["default"] = single  # the calculator's own default chunk (models/memory.py: default_batch_edges)
    loop_time(single, images[:3])  # warm-up
    loops, batches, ratios = [], {chunk: [] for chunk in calcs}, {chunk: [] for chunk in calcs}
    worst = 0.0
    for _ in range(repeats):
        for chunk, calc in calcs.items():  # a loop right before each batch: a drift of the machine hits both
            loop_seconds, reference = loop_time(single, images)
            loops.append(loop_seconds)
            seconds, forces = batch_time(calc, images)
            batches[chunk].append(seconds)
            ratios[chunk].append(loop_seconds / seconds)
            worst = max(worst, max(float(np.abs(f - r).max()) for f, r in zip(forces, reference)))
    loop = statistics.median(loops)
    curve = {str(chunk): {"batch_s": statistics.median(t), "loop_over_batch": statistics.median(ratios[chunk])}
             for chunk, t in batches.items()}
    return {"images": len(images), "atoms": sum(len(a) for a in images), "loop_s": loop, "chunks": curve,
            "default_chunk_edges": single.max_edges_per_batch, "max_abs_force_diff": worst}


def phonopy_case(repeats: int) -> dict:
    from ase_relaxed.phonons import compute_phonons

    atoms = build_nanotube(10, 0, length=1)
    calc = RelaxedCalculator("carbon-gfn1", dtype="float32")
    times = {"batched": [], "one_by_one": []}
    for _ in range(repeats):
        for mode, per_batch in (("batched", None), ("one_by_one", 1)):
            start = time.perf_counter()
            compute_phonons(atoms, calc, [1, 1, 3], max_images_per_batch=per_batch, progress=False)
            times[mode].append(time.perf_counter() - start)
    batched, single = statistics.median(times["batched"]), statistics.median(times["one_by_one"])
    return {"structure": "(10,0) tube, supercell 1x1x3 (120 atoms)", "batched_s": batched, "one_by_one_s": single,
            "one_by_one_over_batched": single / batched}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "batching.json")
    parser.add_argument("--models", nargs="+", choices=("carbon-gfn1", "demo-carbon-random", "bench"),
                        default=["carbon-gfn1", "demo-carbon-random"],
                        help="bench: bench_calculator.py's 64-channel l_max 3 model (default: the two shipped ones)")
    parser.add_argument("--chunks", type=int, nargs="+", default=CHUNKS, help="max_edges_per_batch values to time")
    parser.add_argument("--no-phonopy", action="store_true", help="skip the phonopy case")
    parser.add_argument("--repeats", type=int, help="paired timings per chunk size (default 3; 1 with --quick)")
    parser.add_argument("--sets", nargs="+", choices=("100x40", "mixed", "10x1000"), help="image sets (default all)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    repeats = args.repeats or (1 if args.quick else 3)
    result = {"machine": {"cpu": platform.processor() or platform.machine(), "threads": args.threads,
                          "torch": torch.__version__}, "dtype": "float32", "chunks": args.chunks, "repeats": repeats,
              "cases": {}}
    for model in args.models:
        for name, images in image_sets(args.quick).items():
            if args.sets and name not in args.sets:
                continue
            key = f"{model}/{name}"
            result["cases"][key] = record = run_case(bench_model() if model == "bench" else model, images, repeats,
                                                     args.chunks)
            best = max(record["chunks"].items(), key=lambda kv: kv[1]["loop_over_batch"])
            print(f"{key}: {record['images']} images, loop {record['loop_s']:.2f} s; loop/batch by chunk: "
                  + ", ".join(f"{c} {v['loop_over_batch']:.2f}" for c, v in record["chunks"].items())
                  + f" (best {best[0]}; default {record['default_chunk_edges']} edges)", flush=True)
    if not args.no_phonopy:
        result["phonopy"] = phonopy_case(repeats)
        print(f"phonopy displacements: one by one / batched = {result['phonopy']['one_by_one_over_batched']:.2f}")
    result["loadavg_end"] = list(map(float, Path("/proc/loadavg").read_text().split()[:3]))
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
