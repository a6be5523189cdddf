"""The 10-tube helical phonon survey as a farm: serial (this process) vs a 2-worker Dask LocalCluster.

    OMP_NUM_THREADS=1 python benchmarks/bench_farm.py                    # -> benchmarks/results/farm.json
    python benchmarks/bench_farm.py --tubes 5,5 6,6 --out /tmp/farm.json  # a quick look

Both runs go through :func:`ase_relaxed.integrations.farm.run_farm` with the survey's settings
(``scripts/nanotube_phonon_survey.py``: carbon-gfn1, float64, relaxed domain at the rolled-graphene period,
fmax 1e-5 eV/Å), each into a fresh database, so both do all 10 tubes. Serial runs them one after the other
in this process with torch's intra-op threads set to ``--serial-threads`` (default: the number of cores, what
a serial run uses by default); ``local:2`` starts 2 worker processes with 1 thread each and includes the
cluster's start-up and each worker's model load in its wall time. The speed-up is serial / farm wall time.
Both runs' Γ spectra are compared with each other and with the published survey JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "scripts"))

from bench_calculator import loadavg, machine_info, software_versions  # noqa: E402
from nanotube_phonon_survey import FARM_MODEL, RESULTS, SETTINGS, TUBES  # noqa: E402


def run(tubes: list[str], db: str, scheduler: str | None) -> tuple[float, dict]:
    """Wall time (s) of the farm and the per-tube rows (Γ frequencies in cm⁻¹, task wall and setup s)."""
    import ase.db

    from ase_relaxed.integrations.farm import run_farm

    start = time.perf_counter()
    result = run_farm("helical", [(f"cnt:{t}", None) for t in tubes], SETTINGS, FARM_MODEL, db, scheduler=scheduler,
                      progress=False)
    wall = time.perf_counter() - start
    assert result.failed == 0, [r["error"] for r in result.records if r["status"] != "ok"]
    rows = {row.structure.removeprefix("cnt:"): {"gamma": np.asarray(row.data["summary"]["gamma_frequencies"]),
                                                 "rbm": float(row.rbm), "task_s": float(row.wall_s),
                                                 "setup_s": float(row.setup_s), "host": row.host}
            for row in ase.db.connect(db).select(job="helical")}
    return wall, rows


def max_gamma_difference(a: dict, b: dict, keys: list[str]) -> float:
    return float(max(np.abs(np.sort(a[k]["gamma"]) - np.sort(b[k]["gamma"])).max() for k in keys))


def main() -> None:
    import dask
    import distributed
    import torch

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tubes", nargs="+", default=TUBES, help="chiralities n,m (default: the survey's 10)")
    parser.add_argument("--workers", type=int, default=2, help="LocalCluster workers (default: %(default)s)")
    parser.add_argument("--serial-threads", type=int, default=os.cpu_count(),
                        help="torch threads of the serial run (default: all cores)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "farm.json")
    args = parser.parse_args()

    load_before = loadavg()
    with tempfile.TemporaryDirectory() as folder:
        torch.set_num_threads(args.serial_threads)
        serial_s, serial = run(args.tubes, f"{folder}/serial.db", None)
        print(f"serial ({args.serial_threads} torch threads): {serial_s:.1f} s for {len(args.tubes)} tubes", flush=True)
        farm_s, farm = run(args.tubes, f"{folder}/farm.db", f"local:{args.workers}")
        print(f"local:{args.workers} (1 thread each): {farm_s:.1f} s; speed-up {serial_s / farm_s:.2f}x", flush=True)
    published = {k: {"gamma": np.asarray(v["gamma_frequencies"])}
                 for k, v in json.loads(RESULTS.read_text())["model"].items()}
    keys = [k for k in args.tubes if k in published]
    result = {
        "what": "10-tube helical phonon survey (scripts/nanotube_phonon_survey.py settings) as a farm: serial vs "
                "a Dask LocalCluster; wall times in s include the cluster start-up and model loads",
        "settings": SETTINGS, "model": FARM_MODEL["model"], "tubes": args.tubes,
        "serial": {"wall_s": round(serial_s, 2), "torch_threads": args.serial_threads,
                   "task_s": {k: round(v["task_s"], 2) for k, v in serial.items()}},
        "farm": {"scheduler": f"local:{args.workers}", "threads_per_worker": 1, "wall_s": round(farm_s, 2),
                 "task_s": {k: round(v["task_s"], 2) for k, v in farm.items()},
                 "model_load_s": {k: round(v["setup_s"], 2) for k, v in farm.items() if v["setup_s"] > 0.05},
                 "workers_used": len({v["host"] for v in farm.values()})},
        "speedup": round(serial_s / farm_s, 3),
        "max_abs_gamma_difference_cm": {
            "farm_vs_serial": max_gamma_difference(farm, serial, args.tubes),
            "serial_vs_published_survey": max_gamma_difference(serial, published, keys) if keys else None},
        "machine": machine_info(), "versions": {**software_versions(), "dask": dask.__version__,
                                                       "distributed": distributed.__version__}, "cores": os.cpu_count(),
        "loadavg_before": load_before, "loadavg_after": loadavg(),
        "command": "OMP_NUM_THREADS=1 python benchmarks/bench_farm.py " + " ".join(sys.argv[1:]),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(json.dumps({k: result[k] for k in ("speedup", "max_abs_gamma_difference_cm", "loadavg_before",
                                             "loadavg_after")}, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
