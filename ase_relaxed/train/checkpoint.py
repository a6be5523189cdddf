"""Training checkpoints: written atomically, read without unpickling code, and the log cut back to them.

A checkpoint holds the model, optimizer, scheduler and EMA state dicts and the loop's counters
(step, best validation score, evaluations without improvement, stopped); nothing depends on the
number of ranks that wrote it, so a run can resume at any world size. Tensors are read onto the CPU
(``map_location``), whatever device wrote them.

>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "c.pt"
>>> atomic_save({"x": torch.ones(1)}, path); sorted(p.name for p in path.parent.iterdir())
['c.pt']
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import torch

from ..errors import InputError

LOG_FIELDS = ["step", "lr", "loss", "loss_energy", "loss_forces", "loss_stress", "loss_theta", "loss_pitc", "loss_pisc",
              "val_energy_rmse_per_atom", "val_forces_rmse", "val_stress_rmse", "val_consistency_rms"]


def atomic_save(obj, path: Path) -> None:
    """``torch.save`` to a temporary file, then rename: a kill leaves the previous checkpoint whole."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:  # interrupted or failed: keep the previous checkpoint, leave no stray .tmp
        tmp.unlink(missing_ok=True)
        raise


def load_checkpoint(path: Path, model: torch.nn.Module) -> dict:
    """The saved training state, with the model's weights loaded; InputError for anything unusable."""
    try:
        saved = torch.load(path, weights_only=True, map_location="cpu")  # tensors and containers: never runs code
        keys_ok = isinstance(saved, dict) and {"model", "optimizer", "scheduler", "ema", "state"} <= set(saved)
    except Exception as error:  # noqa: BLE001 - torch raises many kinds for a damaged or foreign file
        raise InputError(f"{str(path)!r} is not a readable training checkpoint ({type(error).__name__}: "
                         f"{str(error).splitlines()[0] if str(error) else 'damaged file'}); it is never unpickled "
                         "beyond tensors. Start afresh in another out_dir") from None
    if not keys_ok:
        raise InputError(f"{str(path)!r} is not an ase_relaxed training checkpoint (missing entries)")
    try:
        model.load_state_dict(saved["model"])
    except (RuntimeError, KeyError, TypeError) as error:
        first = str(error).splitlines()[1].strip() if len(str(error).splitlines()) > 1 else str(error)
        raise InputError(f"{str(path)!r} was written for another model configuration ({first}); resume with the "
                         "config of that run, or start afresh in another out_dir") from None
    return saved


def truncate_log(path: Path, step: int) -> None:
    """Drop log rows written after the checkpoint we resume from (no duplicated rows)."""
    if not path.exists():
        return
    with open(path) as handle:
        rows = list(csv.DictReader(handle))
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, LOG_FIELDS)
        writer.writeheader()
        writer.writerows(r for r in rows if int(r["step"]) <= step)
