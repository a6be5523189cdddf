"""Peak memory of energy+forces (CPU, float32 unless said), measured, against the package's own estimate (issue 21).

    python benchmarks/bench_memory.py            # ≈ 2 min on 2 cores; writes benchmarks/results/memory.json
    python benchmarks/bench_memory.py --quick    # 1k and 4k atoms only

Every measurement runs in a fresh subprocess: the peak resident set size during one ``atoms.get_forces()``
(sampled every millisecond from /proc/self/statm) minus the RSS just before it (model loaded, graph built
once), so the figure is what the evaluation itself allocates. Measured:

* (10,0) nanotubes of 1k, 4k, 10k atoms with ``carbon-gfn1`` (float32, also float64 at 4k), and 4k atoms
  with two other model sizes (``demo-carbon-random``: 16 channels; ``diamond-uniaxial-strict``: l_max = 3),
  which fix the constants of :mod:`ase_relaxed.models.memory`;
* a 100k-atom tube: the estimate, and whether the calculator refuses it up front on this machine;
* ``calculate_batch`` of 40 × 1000-atom tubes at ``max_edges_per_batch`` 4 000 (the CPU default) and 400 000:
  the chunk bounds the peak, whatever the number of structures;
* the largest (10,0) tube a machine with 24 GB free evaluates, from the estimate.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHILD = r"""
import json, resource, sys, threading, time
import torch
torch.set_num_threads(2)
from ase_relaxed import RelaxedCalculator
from ase_relaxed.graph import atoms_to_graph
from ase_relaxed.models.memory import estimate_bytes
from ase_relaxed.structures import build_nanotube
cells, model, dtype, batch, max_edges = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
atoms = build_nanotube(10, 0, length=cells)
calc = RelaxedCalculator(model, dtype=dtype, max_edges_per_batch=max_edges)
edges = int(atoms_to_graph(atoms, calc.model.config.cutoff)["edge_index"].shape[1])
def rss():  # resident set size now, kB
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * resource.getpagesize() // 1024
peak, done = [0], threading.Event()
def sample():  # the true peak during the call (ru_maxrss would include earlier transients)
    while not done.is_set():
        peak[0] = max(peak[0], rss())
        time.sleep(0.001)
images = [atoms.copy() for _ in range(batch)]
before = rss()
sampler = threading.Thread(target=sample, daemon=True)
sampler.start()
if batch == 1:
    atoms.calc = calc
    atoms.get_forces()
else:
    calc.calculate_batch(images)
done.set()
sampler.join()
peak = max(peak[0], rss())
per_chunk = max(1, max_edges // edges) if batch > 1 else 1  # whole structures per chunk of calculate_batch
chunk_edges = edges * min(batch, per_chunk)
print(json.dumps({"atoms": len(atoms), "edges": edges, "model": model, "dtype": dtype, "batch": batch,
                  "max_edges_per_batch": max_edges, "edges_per_pass": chunk_edges,
                  "measured_MB": (peak - before) / 1024,
                  "estimate_MB": estimate_bytes(calc.model.config, chunk_edges, dtype) / 2**20}))
"""


def measure(cells: int, model: str = "carbon-gfn1", dtype: str = "float32", batch: int = 1,
            max_edges: int = 4000) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(cells), model, dtype, str(batch), str(max_edges)],
                         capture_output=True, text=True, check=True, env={"OMP_NUM_THREADS": "2", "PATH": ""})
    record = json.loads(out.stdout.strip().splitlines()[-1])
    record["kB_per_edge"] = 1024 * record["measured_MB"] / record["edges_per_pass"]
    record["measured_over_estimate"] = record["measured_MB"] / record["estimate_MB"]
    print(json.dumps(record), flush=True)
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "memory.json")
    args = parser.parse_args()
    from ase_relaxed import RelaxedCalculator
    from ase_relaxed.models.memory import available_bytes, estimate_bytes

    sizes = [25, 100] if args.quick else [25, 100, 250]  # 1k, 4k, 10k atoms
    records = [measure(c) for c in sizes]
    records += [measure(100, dtype="float64"), measure(100, "demo-carbon-random"),
                measure(100, "diamond-uniaxial-strict")]
    if not args.quick:
        records += [measure(25, batch=40, max_edges=4000), measure(25, batch=40, max_edges=400_000)]
    config = RelaxedCalculator("carbon-gfn1").model.config
    per_atom = estimate_bytes(config, 24, "float32")  # a (10,0) tube has 24 edges per atom at 4.5 Å
    big = {"atoms": 100_000, "edges": 2_400_000, "estimate_GB": estimate_bytes(config, 2_400_000, "float32") / 2**30,
           "free_GB_here": (available_bytes() or 0) / 2**30}
    big["refused_here"] = big["estimate_GB"] > 0.9 * big["free_GB_here"]
    result = {"machine": "2 CPU cores, torch 2.13 CPU; peak RSS of one energy+forces call above the loaded process",
              "records": records, "tube_100k": big,
              "largest_tube_atoms_with_24GB_free": int(0.9 * 24 * 2**30 / per_atom)}
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(big), f"largest tube in 24 GB: {result['largest_tube_atoms_with_24GB_free']:,} atoms")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
