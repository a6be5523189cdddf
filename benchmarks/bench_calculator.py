"""CPU benchmark: ase_relaxed's RelaxedCalculator against random-weight MACE and NequIP of matched size.

    python benchmarks/bench_calculator.py                # full run → benchmarks/results/calculator_cpu.json
    python benchmarks/bench_calculator.py --quick        # fewer repeats
    python benchmarks/bench_calculator.py --peers        # ours only (no peer venv needed)
    python benchmarks/bench_calculator.py --peers nequip # ours and NequIP only

Energy+forces seconds per call (median after warm-up, fresh rattled positions
every call so neither ASE's results cache nor the neighbour-list cache answers)
for (10,0) nanotubes of 40 and 1000 atoms in float32 and float64; and 100 rattled
40-atom tubes evaluated one by one against ``calculate_batch``.  Each peer runs
in its own venv on the very same structures and rattles: ``benchmarks/mace_peer.py``
in ``benchmarks/.venv-mace`` (mace-torch pins e3nn 0.4.4) and
``benchmarks/nequip_peer.py`` in ``benchmarks/.venv-nequip`` (nequip 0.19, eager
and AOTInductor-compiled).  See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import ase
import ase.io
import e3nn
import numpy as np
import torch
from ase import Atoms

import ase_relaxed
from ase_relaxed import ModelConfig, RelaxedCalculator, build_model
from ase_relaxed.structures import build_nanotube

HERE = Path(__file__).resolve().parent
DTYPES = ("float32", "float64")
TUBE_LENGTHS = (1, 25)  # (10,0) tube: 40 atoms per length unit → 40 and 1000 atoms
RATTLE = 0.01  # Å; std of the fresh displacement given before every timed call
N_IMAGES = 100


def software_versions() -> dict[str, str]:
    """Versions of the packages a timing depends on."""
    return {"ase_relaxed": ase_relaxed.__version__, "torch": torch.__version__, "e3nn": e3nn.__version__,
            "ase": ase.__version__, "numpy": np.__version__, "python": platform.python_version()}


def machine_info() -> dict[str, Any]:
    """CPU, OS, load and the git state of the checkout being measured."""
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    commit = subprocess.run(["git", "-C", str(HERE), "rev-parse", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", str(HERE.parent), "status", "--porcelain", "--", "ase_relaxed"],
                           capture_output=True, text=True)
    return {
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "affinity_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "platform": platform.platform(),
        "hostname": platform.node(),
        "git_commit": commit.stdout.strip() or None,
        "ase_relaxed_dirty": bool(dirty.stdout.strip()),
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def loadavg() -> list[float] | None:
    """1, 5 and 15 minute load averages (None where the OS has none)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def summary(times: list[float]) -> dict[str, Any]:
    """Median, min and all samples in seconds (same shape as mace_peer.summary)."""
    return {"median_s": statistics.median(times), "min_s": min(times), "samples_s": times}


def time_single(calc: RelaxedCalculator, base: Atoms, repeats: int, warmup: int, seed: int) -> list[float]:
    """Seconds per energy+forces call; positions = base + fresh N(0, RATTLE) noise each call."""
    atoms = base.copy()
    atoms.calc = calc
    rng = np.random.default_rng(seed)
    times = []
    for index in range(warmup + repeats):
        atoms.positions = base.positions + rng.normal(0.0, RATTLE, base.positions.shape)
        start = time.perf_counter()
        atoms.get_potential_energy()
        atoms.get_forces()
        elapsed = time.perf_counter() - start
        if index >= warmup:
            times.append(elapsed)
    return times


def time_loop(calc: RelaxedCalculator, images: list[Atoms], repeats: int) -> tuple[list[float], list[np.ndarray]]:
    """Seconds to evaluate all images one by one (consecutive images differ, so each is computed)."""
    times, forces = [], []
    for _ in range(repeats):
        forces = []
        start = time.perf_counter()
        for atoms in images:
            atoms.calc = calc
            atoms.get_potential_energy()
            forces.append(atoms.get_forces())
        times.append(time.perf_counter() - start)
        for atoms in images:
            atoms.calc = None
    return times, forces


def time_batch(calc: RelaxedCalculator, images: list[Atoms], repeats: int) -> tuple[list[float], list[dict]]:
    """Seconds for one ``calculate_batch`` over all images."""
    times, results = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        results = calc.calculate_batch(images, properties=("energy", "forces"))
        times.append(time.perf_counter() - start)
    return times, results


def run_ours(args: argparse.Namespace, structures: list[Atoms], images: list[Atoms]) -> dict[str, Any]:
    """Time RelaxedCalculator for every dtype, size and the batch case."""
    out: dict[str, Any] = {"single": {}, "batch": {}}
    for dtype in DTYPES:
        config = ModelConfig(species=["C"], cutoff=5.0, num_layers=args.num_layers, channels=args.channels,
                             l_max=args.l_max, dtype=dtype)
        model = build_model(config)
        out["config"] = {k: v for k, v in config.to_dict().items() if k != "dtype"}
        out["parameters"] = sum(p.numel() for p in model.parameters())
        calc = RelaxedCalculator(model, device="cpu", dtype=dtype)  # dtype=None would mean float64
        for base in structures:
            times = time_single(calc, base, args.repeats_for(len(base)), args.warmup_for(len(base)),
                                args.seed + len(base))
            out["single"].setdefault(dtype, {})[str(len(base))] = summary(times)
            print(f"ours {dtype} {len(base)} atoms: {statistics.median(times) * 1e3:.1f} ms", file=sys.stderr)
        time_loop(calc, images[:10], 1)  # warm-up at this size, both paths
        time_batch(calc, images[:10], 1)
        loop, loop_forces = time_loop(calc, images, args.batch_repeats)
        batch, batch_results = time_batch(calc, images, args.batch_repeats)
        diff = max(float(np.abs(r["forces"] - f).max()) for r, f in zip(batch_results, loop_forces))
        out["batch"][dtype] = {"n_images": len(images), "one_by_one": summary(loop), "batched": summary(batch),
                               "max_abs_force_diff_batch_vs_loop": diff}
        print(f"ours {dtype} {len(images)} images: loop {statistics.median(loop):.2f} s, "
              f"batch {statistics.median(batch):.2f} s", file=sys.stderr)
        if "compiled" in args.ours_modes:
            out.setdefault("compiled", {})[dtype] = time_compiled(args, model, dtype, structures)
    return out


def time_compiled(args: argparse.Namespace, model: torch.nn.Module, dtype: str,
                  structures: list[Atoms]) -> dict[str, Any]:
    """``RelaxedCalculator(compile=True)`` (torch.compile, inductor): seconds per call after compiling, the compile
    time (the first call at the first size) and the graphs built over all sizes (a recompile per size would show)."""
    calc = RelaxedCalculator(model, device="cpu", dtype=dtype, compile=True)
    first = structures[0].copy()
    first.calc = calc
    start = time.perf_counter()
    first.get_forces()
    result: dict[str, Any] = {"first_call_s": time.perf_counter() - start, "single": {}}
    for base in structures:
        times = time_single(calc, base, args.repeats_for(len(base)), args.warmup_for(len(base)),
                            args.seed + len(base))
        result["single"][str(len(base))] = summary(times)
        print(f"ours compiled {dtype} {len(base)} atoms: {statistics.median(times) * 1e3:.1f} ms", file=sys.stderr)
    result.update(compile_s=calc.compile_seconds, graphs=calc.compiled_graphs)
    return result


PEERS: dict[str, dict[str, Any]] = {
    "mace": {"script": "mace_peer.py", "venv": ".venv-mace", "install": "mace-torch==0.3.16 ase", "args": []},
    "nequip": {"script": "nequip_peer.py", "venv": ".venv-nequip", "install": "'nequip==0.19.*'",
               "args": ["--batch-dtypes", "float32", "--batch-modes", "eager", "--batch-repeats", "1"]},  # ~100x slower
}


def run_peer(name: str, args: argparse.Namespace, structures_file: Path, images_file: Path) -> dict[str, Any] | None:
    """Run the peer's script in its venv; its JSON, or None with a message when the venv is missing."""
    peer = PEERS[name]
    python = Path(getattr(args, f"{name}_python"))
    if not python.exists():
        print(f"\n{name} venv not found at {python}: skipping that side. Set it up with\n"
              f"  python -m venv benchmarks/{peer['venv']}\n"
              f"  benchmarks/{peer['venv']}/bin/pip install torch==2.13.0\n"
              f"  benchmarks/{peer['venv']}/bin/pip install {peer['install']}\n"
              f"or leave {name} out of --peers.\n", file=sys.stderr)
        return None
    command = [str(python), str(HERE / peer["script"]), "--structures", str(structures_file),
               "--batch", str(images_file), "--threads", str(args.threads), "--seed", str(args.seed),
               "--rattle", str(RATTLE), "--batch-repeats", str(args.batch_repeats),
               "--repeats", str(args.repeats_small), "--warmup", str(args.warmup_small),
               "--repeats-large", str(args.repeats_large), "--warmup-large", str(args.warmup_large), *peer["args"]]
    if name == "nequip":
        command += ["--modes", *args.nequip_modes]
    env = dict(os.environ, TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD="1", OMP_NUM_THREADS=str(args.threads))
    done = subprocess.run(command, stdout=subprocess.PIPE, stderr=None, text=True, env=env)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{peer['script']} failed (exit {done.returncode}); its stderr is above")
    return json.loads(lines[-1])


def ratio(ours: float | None, peer: float | None) -> str:
    """``ours/peer`` to two decimals, or a dash when either did not run."""
    return f"{ours / peer:.2f}" if ours and peer else "–"


def fmt(seconds: float | None) -> str:
    """A duration in ms below one second, else in s."""
    if seconds is None:
        return "–"
    return f"{seconds * 1e3:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def peer_columns(result: dict[str, Any]) -> list[tuple[str, Any]]:
    """(column name, getter(kind, dtype, n) → summary dict or None) for every peer that ran."""
    columns = []
    mace = result.get("mace")
    if mace:
        columns.append(("MACE", lambda kind, dtype, n, m=mace: (
            m.get("single", {}).get(dtype, {}).get(n) if kind == "single"
            else m.get("batch", {}).get(dtype, {}).get("one_by_one"))))
    nequip = result.get("nequip")
    for mode, label in (("eager", "NequIP"), ("aotinductor", "NequIP AOTI")):
        if nequip and mode in nequip.get("modes", {}):
            columns.append((label, lambda kind, dtype, n, e=nequip["modes"][mode]: (
                e.get(dtype, {}).get("single", {}).get(n) if kind == "single"
                else e.get(dtype, {}).get("batch", {}).get("one_by_one"))))
    return columns


def table(result: dict[str, Any]) -> str:
    """Markdown table of medians and ours/peer ratios of medians (of minima in brackets; < 1: ours is faster)."""
    ours = result["ours"]
    columns = peer_columns(result)
    head = ["case", "dtype", "ours", *[c for c, _ in columns], *[f"ours/{c}" for c, _ in columns]]
    rows = ["| " + " | ".join(head) + " |", "|---|---|" + "---:|" * (len(head) - 2)]

    def row(case: str, dtype: str, o: dict, kind: str, n: str | None) -> str:
        peers = [get(kind, dtype, n) or {} for _, get in columns]
        cells = [case, dtype, fmt(o["median_s"]), *[fmt(p.get("median_s")) for p in peers],
                 *[f"{ratio(o['median_s'], p.get('median_s'))} ({ratio(o['min_s'], p.get('min_s'))})"
                   if p else "–" for p in peers]]
        return "| " + " | ".join(cells) + " |"

    for dtype in DTYPES:
        for n, s in ours["single"][dtype].items():
            rows.append(row(f"{n} atoms, E+F per call", dtype, s, "single", n))
    for dtype in DTYPES:
        b = ours["batch"][dtype]
        n = b["n_images"]
        rows.append(row(f"{n}×40 atoms, one by one (total)", dtype, b["one_by_one"], "batch", None))
        rows.append(row(f"{n}×40 atoms, ours `calculate_batch` vs peers one by one", dtype, b["batched"], "batch",
                        None))
        loop, batch = b["one_by_one"], b["batched"]
        rows.append(f"| ours `calculate_batch` / ours one by one | {dtype} | "
                    f"{ratio(batch['median_s'], loop['median_s'])} ({ratio(batch['min_s'], loop['min_s'])}) |")
    params = [(result.get("mace") or {}).get("parameters")] if result.get("mace") else []
    params += [(result.get("nequip") or {}).get("parameters")] * (len(columns) - len(params))
    rows.append("| parameters | | " + " | ".join([f"{ours['parameters']:,}", *[f"{p:,}" if p else "–" for p in params],
                                                   *[ratio(ours["parameters"], p) for p in params]]) + " |")
    return "\n".join(rows)


def compiled_table(result: dict[str, Any]) -> str:
    """Eager against eager and compiled against compiled: ours and NequIP (AOTInductor) medians and ratios."""
    ours, nequip = result["ours"], (result.get("nequip") or {}).get("modes", {})
    rows = ["| case | dtype | ours eager | ours compiled | NequIP eager | NequIP AOTI | ours/NequIP eager | "
            "ours/NequIP compiled | ours compiled/eager |", "|---|---|" + "---:|" * 7]
    for dtype in DTYPES:
        for n, eager in ours["single"][dtype].items():
            compiled = ours.get("compiled", {}).get(dtype, {}).get("single", {}).get(n, {})
            peer_e = nequip.get("eager", {}).get(dtype, {}).get("single", {}).get(n, {})
            peer_c = nequip.get("aotinductor", {}).get(dtype, {}).get("single", {}).get(n, {})
            median = [eager["median_s"], compiled.get("median_s"), peer_e.get("median_s"), peer_c.get("median_s")]
            rows.append(f"| {n} atoms | {dtype} | " + " | ".join(fmt(m) for m in median) + " | "
                        f"{ratio(median[0], median[2])} | {ratio(median[1], median[3])} | "
                        f"{ratio(median[1], median[0])} |")
    return "\n".join(rows)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats (a smoke test, not for reporting)")
    parser.add_argument("--peers", nargs="*", choices=tuple(PEERS), default=list(PEERS),
                        help="peers to time next to ours (default: all; none given: ours only)")
    parser.add_argument("--skip-mace", action="store_true", help="leave MACE out of --peers")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads for both sides")
    parser.add_argument("--mace-python", default=str(HERE / ".venv-mace" / "bin" / "python"))
    parser.add_argument("--nequip-python", default=str(HERE / ".venv-nequip" / "bin" / "python"))
    parser.add_argument("--nequip-modes", nargs="+", default=["eager", "aotinductor"],
                        choices=("eager", "aotinductor"))
    parser.add_argument("--ours-modes", nargs="+", default=["eager", "compiled"], choices=("eager", "compiled"),
                        help="compiled: also time RelaxedCalculator(compile=True) (eager always runs)")
    parser.add_argument("--out", default=str(HERE / "results" / "calculator_cpu.json"))
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--l-max", type=int, default=3)
    parser.add_argument("--num-layers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.skip_mace and "mace" in args.peers:
        args.peers.remove("mace")
    args.repeats_small, args.warmup_small = (3, 1) if args.quick else (15, 3)
    args.repeats_large, args.warmup_large = (2, 1) if args.quick else (5, 1)
    args.batch_repeats = 1 if args.quick else 3
    args.repeats_for = lambda n: args.repeats_small if n < 500 else args.repeats_large
    args.warmup_for = lambda n: args.warmup_small if n < 500 else args.warmup_large
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    structures = [build_nanotube(10, 0, length=length) for length in TUBE_LENGTHS]
    rng = np.random.default_rng(args.seed)
    images = []
    for _ in range(N_IMAGES):
        image = structures[0].copy()
        image.positions += rng.normal(0.0, RATTLE, image.positions.shape)
        images.append(image)
    with tempfile.TemporaryDirectory() as tmp:
        structures_file, images_file = Path(tmp) / "structures.extxyz", Path(tmp) / "images.extxyz"
        ase.io.write(structures_file, structures)
        ase.io.write(images_file, images)
        structures, images = ase.io.read(structures_file, ":"), ase.io.read(images_file, ":")  # same as MACE's
        result: dict[str, Any] = {
            "benchmark": "energy+forces per call on CPU, ase_relaxed vs random-weight peers (MACE, NequIP)",
            "machine": machine_info(),
            "versions": software_versions(),
            "torch_threads": torch.get_num_threads(),
            "settings": {"quick": args.quick, "rattle_A": RATTLE, "repeats_40": args.repeats_small,
                         "warmup_40": args.warmup_small, "repeats_1000": args.repeats_large,
                         "warmup_1000": args.warmup_large, "batch_repeats": args.batch_repeats,
                         "n_images": N_IMAGES, "structures": "(10,0) CNT, pbc F,F,T, lengths 1 and 25",
                         "neighbor_list": "matscipy (all)", "peers": args.peers, "seed": args.seed},
            "loadavg": {"start": loadavg()},
        }
        result["ours"] = run_ours(args, structures, images)
        result["loadavg"]["after_ours"] = loadavg()
        for name in PEERS:
            result[name] = run_peer(name, args, structures_file, images_file) if name in args.peers else None
            result["loadavg"][f"after_{name}"] = loadavg()
        result["loadavg"]["end"] = loadavg()
    for name in set(PEERS) - set(args.peers):
        print(f"\n{name} not in --peers: that side not run.", file=sys.stderr)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(table(result))
    if result["ours"].get("compiled"):
        print("\n" + compiled_table(result))
    print(f"\nours: {args.num_layers} layers, {args.channels} channels, l_max {args.l_max}; "
          f"{args.threads} torch threads; load avg {result['loadavg']}; wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
