"""``ase-relaxed data``, ``train`` and ``test`` subcommands."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import InputError


def cmd_train(args: argparse.Namespace) -> int:
    from .config import TrainConfig
    from .loop import train

    config = TrainConfig.from_yaml(args.config)
    if args.out_dir:
        config.out_dir = args.out_dir
    path = train(config, resume=args.resume, progress=not args.quiet)
    print(f"best model: {path}")
    return 0


def cmd_test(args: argparse.Namespace) -> int:
    from .evaluate import test_model

    metrics = test_model(args.model, args.data, plot_dir=args.plots, families=args.families)
    for key, value in metrics.items():
        print(f"{key:24s} {value}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(metrics, handle, indent=2)
    return 0


def add_train_parsers(sub) -> None:
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
    train.set_defaults(func=cmd_train)

    test = sub.add_parser(
        "test", help="errors of a model on a labelled file, with parity plots",
        description="Print energy MAE/RMSE per atom, force MAE/RMSE and stress RMSE of MODEL on every frame "
        "of DATA (extxyz with energy and forces), and write a parity plot.",
    )
    test.add_argument("model", help="a .safetensors model file or a shipped name")
    test.add_argument("data", help="labelled structures (extxyz)")
    test.add_argument("--plots", default="parity", help="folder for parity.png (default: %(default)s)")
    test.add_argument("--families", nargs="+", default=None, metavar="FAMILY",
                      help="only frames of these families (info['family'], e.g. 'cnt(11,0)')")
    test.add_argument("--json", default=None, help="also write the metrics to this JSON file")
    test.set_defaults(func=cmd_test)


def cmd_data(args: argparse.Namespace) -> int:
    if args.method in ("tersoff-uniaxial", "tersoff"):
        from .broken_symmetry_data import BrokenCrystalConfig, generate_broken_crystal

        config = BrokenCrystalConfig(
            strength=args.strength if args.method == "tersoff-uniaxial" else 0.0, direction=list(args.direction),
            size=args.size, n_structures=args.n_structures, seed=args.seed,
            random_orientation=args.random_orientation,
        )
        if Path(args.out).exists() and not args.resume:
            raise InputError(f"{args.out!r} exists; choose another --out")
        path = generate_broken_crystal(args.out, config, progress=not args.quiet)
        print(f"wrote {config.n_structures} frames to {path}")
        return 0
    from .reference_data import DataConfig, generate_dataset

    config = DataConfig(
        method=args.method, chiralities=args.chiralities, include_graphene=args.graphene,
        n_structures=args.n_structures, seed=args.seed, min_length=args.min_length, vacuum=args.vacuum,
    )
    path = generate_dataset(args.out, config, resume=args.resume, progress=not args.quiet)
    print(f"wrote {config.n_structures} frames to {path}")
    return 0


def add_data_parser(sub) -> None:
    data = sub.add_parser(
        "data", help="generate labelled reference data (xTB or Brenner)",
        description="Generate nanotube/graphene structures (rattled, strained, thermal) and label them with a "
        "reference method; frames are appended one by one, so --resume continues a killed run.",
    )
    data.add_argument("--method", default="brenner",
                      choices=["gfn1-xtb", "gfn2-xtb", "brenner", "tersoff-uniaxial", "tersoff"],
                      help="reference method: tblite GFN1/GFN2-xTB or matscipy Brenner for nanotubes and graphene; "
                      "tersoff-uniaxial (Tersoff + hidden λ Σ (r̂·n)² bond term) or plain tersoff for the diamond "
                      "crystal of the symmetry-breaking study (default: %(default)s)")
    data.add_argument("--chiralities", nargs="+", default=["10,0", "6,6", "8,4"], metavar="N,M",
                      help="nanotube chiralities (default: %(default)s)")
    data.add_argument("--graphene", action=argparse.BooleanOptionalAction, default=True, help="include graphene")
    data.add_argument("-n", "--n-structures", type=int, default=20, help="number of frames (default: %(default)s)")
    data.add_argument("--seed", type=int, default=0, help="generator seed; the data are a function of it")
    data.add_argument("--min-length", type=float, default=17.0,
                      help="shortest periodic length in Å (xTB is Γ-only: keep ≥ 17) (default: %(default)s)")
    data.add_argument("--vacuum", type=float, default=6.0, help="vacuum around tubes, Å; one per data set")
    data.add_argument("--strength", type=float, default=1.0,
                      help="tersoff-uniaxial: λ of the hidden term in eV (default: %(default)s)")
    data.add_argument("--direction", type=float, nargs=3, default=[0.0, 0.0, 1.0], metavar=("NX", "NY", "NZ"),
                      help="tersoff-uniaxial: the broken axis n (default: z)")
    data.add_argument("--size", type=int, default=2, help="diamond: cubic cells per edge (default: %(default)s)")
    data.add_argument("--random-orientation", action="store_true",
                      help="diamond: turn every frame's crystal by its own random rotation (n stays fixed), so "
                      "the data keep only the hidden term's D∞h(n) symmetry, not the crystal's")
    data.add_argument("--out", "-o", required=True, help="extxyz file to write")
    data.add_argument("--resume", action="store_true", help="continue an existing file")
    data.add_argument("--quiet", action="store_true", help="no progress bar")
    data.set_defaults(func=cmd_data)
