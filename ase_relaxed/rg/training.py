"""Resumable layer-by-layer training of an :class:`~ase_relaxed.rg.stack.RBMStack`, checkpointed every epoch.

Layer :math:`l` is trained for ``epochs`` epochs of :class:`~ase_relaxed.rg.rbm.CDTrainer` on
:meth:`RBMStack.hidden_data` (hidden spins of the layers below, drawn with fixed seeds).  After every epoch the
weights, the trainer state (momentum, random generator, persistent chains) and the progress
(``metadata["progress"] = {"layer", "epochs_done"}``) are written atomically to one ``.safetensors`` file, so a
run killed at any moment (SIGKILL included) and restarted with ``resume=True`` ends with the same weights, bit
for bit, as an uninterrupted one.  SIGINT/SIGTERM under :func:`ase_relaxed.interrupt.graceful_stop` stop after
the current epoch's checkpoint.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .._version import __version__
from ..errors import InputError, Interrupted
from ..interrupt import deferred_stop, stop_requested
from ._checks import check_int
from .rbm import CDTrainer
from .stack import RBMStack

HYPER_KEYS = ("lr", "batch_size", "k", "persistent", "l1", "momentum")


def data_fingerprint(data: np.ndarray) -> str:
    """First 16 hex digits of the SHA-256 of the ±1 data as int8 (checks that a resume uses the same samples).

    >>> data_fingerprint(np.ones((2, 3))) == data_fingerprint(np.ones((2, 3), dtype=np.int8))
    True
    """
    return hashlib.sha256(np.ascontiguousarray(np.asarray(data), dtype=np.int8).tobytes()).hexdigest()[:16]


def train_stack(sizes: list[int], data: np.ndarray, path: str | os.PathLike, epochs: int, seed: int = 0,
                resume: bool = False, progress: bool = False, device: str | torch.device | None = None,
                provenance: dict | None = None, on_epoch: Callable[[int, int, RBMStack], None] | None = None,
                **hyper) -> RBMStack:
    """Train (or with ``resume``, continue) a stack of ``sizes`` on ±1 ``data`` ``(n, sizes[0])``; return it.

    ``hyper``: :class:`CDTrainer` options (``lr``, ``batch_size``, ``k``, ``persistent``, ``l1``, ``momentum``;
    ``l1`` may be a list, one strength per RBM);
    a resume must use the same sizes, data, seed, epochs and options.  ``on_epoch(layer, epoch, stack)`` runs
    after each checkpoint.  The final file has ``metadata["trained_layers"] == len(sizes) - 1``.

    >>> import tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "s.safetensors")
    >>> s = train_stack([4, 2], np.ones((20, 4)), p, epochs=2, batch_size=10, device="cpu")
    >>> s.metadata["trained_layers"], s.metadata["progress"], RBMStack.load(p).extra
    (1, {'layer': 1, 'epochs_done': 0}, {})
    """
    epochs = check_int("epochs", epochs, 1)
    unknown = set(hyper) - set(HYPER_KEYS)
    if unknown:
        raise InputError(f"unknown training options {sorted(unknown)}; known: {', '.join(HYPER_KEYS)}")
    l1 = hyper.get("l1", 0.0)
    per_layer = [float(v) for v in l1] if isinstance(l1, (list, tuple)) else None
    if per_layer is not None:
        if len(per_layer) != len(sizes) - 1:
            raise InputError(f"l1 needs one value per RBM ({len(sizes) - 1}) or one for all, got {len(per_layer)}")
        hyper = {**hyper, "l1": per_layer}
    x = np.asarray(data)
    settings = {"sizes": [int(s) for s in sizes], "epochs": epochs, "seed": int(seed),
                "train": dict(sorted(hyper.items())), "data_sha256_16": data_fingerprint(x),
                "n_samples": int(x.shape[0])}
    path = Path(path)
    if resume and path.is_file():
        stack = RBMStack.load(path, device=device)
        saved = {key: stack.metadata.get(key) for key in settings}
        if saved != settings:
            diff = [key for key in settings if saved[key] != settings[key]]
            raise InputError(f"cannot resume {str(path)!r}: it was trained with other {', '.join(diff)} "
                             f"({', '.join(f'{k}={saved[k]!r}' for k in diff)})")
    else:
        stack = RBMStack(settings["sizes"], seed=seed, device=device)
        stack.metadata = {**settings, "trained_layers": 0, "progress": {"layer": 0, "epochs_done": 0}}
    stack.metadata["provenance"] = {**stack.metadata.get("provenance", {}), **(provenance or {}),
                                    "package_version": __version__}
    start = stack.metadata["progress"]
    with deferred_stop():
        for layer in range(start["layer"], stack.n_layers):
            options = {**hyper, "l1": per_layer[layer]} if per_layer is not None else hyper
            trainer = CDTrainer(stack.layers[layer], stack.hidden_data(x, layer, seed), seed=seed + layer, **options)
            if layer == start["layer"] and start["epochs_done"]:
                trainer.load_state(stack.extra)
            _train_layer(stack, trainer, layer, epochs, path, progress, on_epoch)
    return stack


def _train_layer(stack: RBMStack, trainer: CDTrainer, layer: int, epochs: int, path: Path, progress: bool,
                 on_epoch) -> None:
    from tqdm.auto import tqdm

    with tqdm(total=epochs, initial=trainer.epoch, desc=f"layer {layer + 1}/{stack.n_layers}", unit="epoch",
              disable=not progress, dynamic_ncols=True) as bar:
        while trainer.epoch < epochs:
            trainer.run_epoch()
            done = trainer.epoch == epochs
            stack.metadata["trained_layers"] = layer + int(done)
            stack.metadata["progress"] = ({"layer": layer + 1, "epochs_done": 0} if done
                                          else {"layer": layer, "epochs_done": trainer.epoch})
            stack.extra = {} if done else trainer.state()
            stack.save(path, extra=stack.extra)
            bar.update(1)
            bar.set_postfix(mean_abs_W=f"{float(stack.layers[layer].W.abs().mean()):.4f}")
            if on_epoch is not None:
                on_epoch(layer, trainer.epoch - 1, stack)
            signal = stop_requested()
            if signal is not None and not (done and layer == stack.n_layers - 1):
                raise Interrupted(f"{signal} after epoch {trainer.epoch} of layer {layer + 1}; checkpoint "
                                  f"{str(path)!r} kept, rerun with --resume to continue")
