"""``ase-relaxed train`` (a model from a YAML config) and ``ase-relaxed test`` (its errors on labelled data)."""

from __future__ import annotations

import argparse
import json
import os


def cmd_train(args: argparse.Namespace) -> int:
    from ..errors import InputError
    from ..train.config import TrainConfig
    from ..train.loop import train
    from .common import check_output

    config = TrainConfig.from_yaml(args.config)
    if args.out_dir:
        config.out_dir = args.out_dir
    check_output(config.out_dir, "out_dir", directory=True)
    if args.nproc is not None:
        if args.nproc < 1:
            raise InputError(f"--nproc must be >= 1, got {args.nproc}")
        if "WORLD_SIZE" in os.environ:
            raise InputError("--nproc starts its own ranks; under torchrun leave it out")
        if args.nproc > 1:
            return _launch(args, config)
    path = train(config, resume=args.resume, progress=not args.quiet)
    if os.environ.get("RANK", "0") == "0":
        print(f"best model: {path}")
    return 0


def _launch(args: argparse.Namespace, config) -> int:
    """``--nproc N``: bad input is reported here, once, before N ranks start."""
    from ..errors import InputError
    from ..train.distributed import check_world, choose_backend
    from ..train.launch import launch

    check_world(args.nproc, config.optim.batch_size, choose_backend(config.distributed.backend))
    checkpoint = os.path.join(config.out_dir, "checkpoint.pt")
    if args.resume != os.path.exists(checkpoint):
        raise InputError(f"no checkpoint to resume in {config.out_dir!r}" if args.resume else
                         f"{config.out_dir!r} already holds a run; pass --resume to continue it or choose another "
                         "out_dir")
    forwarded = [args.config, "--out-dir", config.out_dir] + ["--resume"] * args.resume + ["--quiet"] * args.quiet
    return launch(forwarded, args.nproc)


def cmd_test(args: argparse.Namespace) -> int:
    from ..calculator import resolve_model
    from ..provenance import provenance
    from ..train.evaluate import test_model
    from ..train.metrics import format_metrics
    from .common import check_output

    check_output(args.json, "--json")
    check_output(args.plots, "--plots", directory=True)
    module = resolve_model(args.model)  # loaded once, for the header and the test
    record = provenance(module, model=args.model, date=True)
    print(f"# model {record['model']} (sha256 {str(record['model_sha256'])[:12]}, {record['dtype']}), "
          f"ase_relaxed {record['ase_relaxed_version']}; data {args.data}")
    metrics = test_model(module, args.data, plot_dir=args.plots, families=args.families)
    for line in format_metrics({k: v for k, v in metrics.items() if k != "parity_plot"}):
        print(line)
    if "parity_plot" in metrics:
        print(f"# wrote {metrics['parity_plot']}: energy (eV/atom) and force components (eV/Å), model vs reference")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({**metrics, "provenance": record}, handle, indent=2)
        print(f"# wrote {args.json}: the metrics (eV/atom, eV/Å, eV/Å³) and their provenance")
    return 0


def add_parsers(sub) -> None:
    """``train`` and ``test``."""
    train = sub.add_parser(
        "train", help="train a model from a YAML config",
        description="Train a potential. CONFIG is YAML with sections data (path, split), model (ModelConfig "
        "fields), loss (weights) and optim (AdamW, schedule, EMA, checkpoints); unknown keys are errors. "
        "Writes OUT_DIR/model.safetensors (best EMA weights), log.csv, checkpoint.pt and test_metrics.json.",
    )
    train.add_argument("config", help="training config (YAML)")
    train.add_argument("--resume", action="store_true", help="continue from OUT_DIR/checkpoint.pt")
    train.add_argument("--out-dir", default=None, help="override the config's out_dir")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.add_argument("--nproc", type=int, default=None, metavar="N",
                       help="data-parallel training on N local ranks (DistributedDataParallel; gloo on CPU, nccl on "
                       "GPU); the same as torchrun --nproc-per-node N -m ase_relaxed train CONFIG")
    train.set_defaults(func=cmd_train)

    test = sub.add_parser(
        "test", help="errors of a model on a labelled file, with parity plots",
        description="Print energy MAE/RMSE per atom (meV/atom), force MAE/RMSE (eV/Å) and stress RMSE (meV/Å³) of "
        "MODEL on every frame of DATA (extxyz with energy and forces), and write a parity plot; --json keeps the "
        "numbers in eV/atom, eV/Å and eV/Å³ with the model, its sha256, the ase_relaxed version and the dtype.",
    )
    test.add_argument("model", help="a .safetensors model file or a shipped name")
    test.add_argument("data", help="labelled structures (extxyz)")
    test.add_argument("--plots", default="parity", help="folder for parity.png (default: %(default)s)")
    test.add_argument("--families", nargs="+", default=None, metavar="FAMILY",
                      help="only frames of these families (info['family'], e.g. 'cnt(11,0)')")
    test.add_argument("--json", default=None, help="also write the metrics to this JSON file")
    test.set_defaults(func=cmd_test)
