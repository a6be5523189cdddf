"""NequIP side of ``bench_calculator.py``; runs in its own venv (``benchmarks/.venv-nequip``, nequip 0.19).

    benchmarks/.venv-nequip/bin/python benchmarks/nequip_peer.py --structures S.extxyz --batch B.extxyz

Builds a random-weight NequIP (``nequip.model.NequIPGNNModel``) with the hyper-parameters of our
benchmark model (2 layers, 64 channels, l_max 3 for edges and hidden features with the
``(-1)^l`` parities, 8 Bessel functions, polynomial envelope p=6, radial MLP 2×64, r_max 5 Å,
avg_num_neighbors 16, carbon only) in code, wraps it in ``nequip.integrations.ase.NequIPCalculator``
with the matscipy neighbour list, and times energy+forces per call on the structures the driver
wrote, with the same per-call rattles, warm-ups and repeats as the MACE peer (the timing helpers
are ``mace_peer``'s).  Modes: ``eager`` (the ``GraphModel`` as built) and ``aotinductor`` (what
``nequip-compile --mode aotinductor --target ase`` does, done in-process on the random model:
``aot_export_model`` on the 40-atom tube with dynamic node/edge counts, loaded with
``NequIPCalculator.from_compiled_model``).  TorchScript, nequip's other compile mode, refuses
torch >= 2.10.  A mode that fails records its error in the JSON instead of times.  Prints one JSON
object on stdout (everything else goes to stderr).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path
from typing import Any

from mace_peer import print_json_result, summary, time_loop, time_single

warnings.filterwarnings("ignore")

#: keyword arguments of ``NequIPGNNModel`` (besides seed, model_dtype), matched to ours in bench_calculator.py
NEQUIP_HYPERS: dict[str, Any] = {
    "type_names": ["C"],
    "r_max": 5.0,
    "num_layers": 2,
    "l_max": 3,
    "parity": False,  # hidden irreps 64x0e+64x1o+64x2e+64x3o, as ours
    "num_features": 64,
    "radial_mlp_depth": 2,
    "radial_mlp_width": 64,
    "num_bessels": 8,
    "polynomial_cutoff_p": 6,
    "avg_num_neighbors": 16.0,
    "per_type_energy_scales": 1.0,
    "per_type_energy_shifts": 0.0,
}
MODES = ("eager", "aotinductor")


def build_nequip(dtype: str, seed: int = 0):
    """A random-weight ``NequIPGNNModel`` with :data:`NEQUIP_HYPERS` in ``dtype``, in eval mode."""
    from nequip.model import NequIPGNNModel
    from nequip.utils.global_state import set_global_state

    set_global_state(allow_tf32=False)
    model = NequIPGNNModel(seed=seed, model_dtype=dtype, **NEQUIP_HYPERS)
    return model.eval()


def eager_calculator(model):
    """``NequIPCalculator`` around the eager model, matscipy neighbour list (as both other sides)."""
    from nequip.integrations.ase import NequIPCalculator
    from nequip.integrations.utils import basic_transforms

    types = NEQUIP_HYPERS["type_names"]
    transforms = basic_transforms(model.metadata, NEQUIP_HYPERS["r_max"], types, {t: t for t in types},
                                  neighborlist_backend="matscipy")
    return NequIPCalculator(model, device="cpu", transforms=transforms)


def aoti_calculator(model, example, workdir: Path):
    """``nequip-compile --mode aotinductor --target ase``, in-process: export, compile, load.

    ``example`` (an ASE Atoms) gives the tracing shapes; node and edge counts stay dynamic.
    Returns the calculator and the seconds the export + C++ compile took.
    """
    import torch
    from nequip.data import AtomicDataDict
    from nequip.integrations.ase import NequIPCalculator
    from nequip.scripts._compile_utils import AOTI_ASE_TARGET, COMPILE_TARGET_DICT
    from nequip.scripts.compile import _AOT_METADATA_KEY, _COMPILE_SEED
    from nequip.utils.aot import aot_export_model
    from nequip.utils.aoti_metadata import NEQUIP_AOTI_INPUTS_KEY, NEQUIP_AOTI_OUTPUTS_KEY, serialize_aoti_keys
    from nequip.utils.global_state import get_latest_global_state

    target = COMPILE_TARGET_DICT[AOTI_ASE_TARGET]
    data = target["data_settings"](AtomicDataDict.to_(eager_calculator(model).atoms_to_data(example), "cpu"))
    dim = torch.export.dynamic_shapes.Dim
    batch_map = target["batch_map_settings"]({"graph": dim("num_frames", min=2, max=torch.inf),
                                              "node": dim("num_nodes", min=2, max=torch.inf),
                                              "edge": dim("num_edges", min=2, max=torch.inf)})
    metadata = dict(model.metadata)
    metadata.update(get_latest_global_state(only_metadata_related=True))
    metadata = {k: str(int(v)) if isinstance(v, bool) else str(v) for k, v in metadata.items()}
    metadata[NEQUIP_AOTI_INPUTS_KEY] = serialize_aoti_keys(target["input"])
    metadata[NEQUIP_AOTI_OUTPUTS_KEY] = serialize_aoti_keys(target["output"])
    path = str(workdir / f"model_{model.metadata['model_dtype']}.nequip.pt2")
    start = time.perf_counter()
    aot_export_model(model=model, device="cpu", input_fields=target["input"], output_fields=target["output"],
                     data=data, batch_map=batch_map, output_path=path,
                     inductor_configs={_AOT_METADATA_KEY: metadata}, seed=_COMPILE_SEED)
    seconds = time.perf_counter() - start
    calc = NequIPCalculator.from_compiled_model(path, device="cpu", chemical_species_to_atom_type_map=True,
                                                neighborlist_backend="matscipy")
    return calc, seconds


def time_mode(calc, structures, images, dtype: str, mode: str, args: argparse.Namespace) -> dict[str, Any]:
    """Per-call times on every structure, and the one-by-one loop when asked for this dtype."""
    out: dict[str, Any] = {"single": {}}
    for base in structures:
        large = len(base) >= 500
        repeats, warmup = (args.repeats_large, args.warmup_large) if large else (args.repeats, args.warmup)
        times = time_single(calc, base, repeats, warmup, args.rattle, args.seed + len(base))
        out["single"][str(len(base))] = summary(times)
        print(f"nequip {mode} {dtype} {len(base)} atoms: {statistics.median(times) * 1e3:.1f} ms", file=sys.stderr)
    if images and dtype in args.batch_dtypes and mode in args.batch_modes:
        time_loop(calc, images[: min(10, len(images))], 1)  # warm-up at this size
        loop = time_loop(calc, images, args.batch_repeats)
        out["batch"] = {"n_images": len(images), "one_by_one": summary(loop)}
        print(f"nequip {mode} {dtype} {len(images)} images one by one: {statistics.median(loop):.2f} s",
              file=sys.stderr)
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Everything the driver needs, as a JSON-able dict: ``modes[mode][dtype]`` holds times or an error."""
    import ase
    import ase.io
    import e3nn
    import nequip
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    structures = ase.io.read(args.structures, ":")
    images = ase.io.read(args.batch, ":") if args.batch else []
    result: dict[str, Any] = {
        "versions": {"nequip": nequip.__version__, "torch": torch.__version__, "e3nn": e3nn.__version__,
                     "ase": ase.__version__, "numpy": np.__version__, "python": sys.version.split()[0]},
        "torch_threads": torch.get_num_threads(),
        "hypers": NEQUIP_HYPERS,
        "modes": {},
        "notes": ["NequIP's ForceStressOutput also computes the stress (virial) in every call",
                  "aotinductor: compiled once per dtype on the 40-atom tube, dynamic node and edge counts"],
    }
    models = {dtype: build_nequip(dtype, args.seed) for dtype in args.dtypes}
    result["parameters"] = sum(p.numel() for p in models[args.dtypes[0]].parameters())
    with tempfile.TemporaryDirectory() as tmp:
        for mode in args.modes:  # every dtype eager first: the compile takes minutes per dtype
            entry = result["modes"].setdefault(mode, {})
            for dtype, model in models.items():
                try:
                    if mode == "eager":
                        calc, compile_s = eager_calculator(model), None
                    else:
                        calc, compile_s = aoti_calculator(model, structures[0], Path(tmp))
                        print(f"nequip aotinductor {dtype}: compiled in {compile_s:.0f} s", file=sys.stderr)
                    entry[dtype] = time_mode(calc, structures, images, dtype, mode, args)
                    entry[dtype]["compile_s"] = compile_s
                except Exception as error:  # record, and go on with the other modes
                    traceback.print_exc()
                    lines = traceback.format_exception_only(type(error), error)
                    entry[dtype] = {"error": "".join(lines).strip()[-2000:]}
                    print(f"nequip {mode} {dtype} failed: {lines[-1].strip()[:300]}", file=sys.stderr)
                print(f"nequip partial {mode} {dtype}: {json.dumps(entry[dtype])}", file=sys.stderr)  # if cut short
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--structures", required=True, help="extxyz with the base structures for per-call timing")
    parser.add_argument("--batch", default=None, help="extxyz with the images evaluated one by one")
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float64"])
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    parser.add_argument("--batch-dtypes", nargs="*", default=["float32"])
    parser.add_argument("--batch-modes", nargs="*", default=["eager"])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats-large", type=int, default=5, help="repeats for structures of >= 500 atoms")
    parser.add_argument("--warmup-large", type=int, default=1)
    parser.add_argument("--batch-repeats", type=int, default=3)
    parser.add_argument("--rattle", type=float, default=0.01, help="Å, std of the per-call displacement")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    return print_json_result(run, parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
