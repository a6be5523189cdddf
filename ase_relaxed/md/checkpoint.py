"""MD checkpoints: one ``.npz`` file, written atomically, readable without pickle.

Layout (``numpy.load(path, allow_pickle=False)`` reads it):

* ``meta``: a 0-d string array holding JSON: format/version, ``step``, ``time_fs``, the run's
  ``options`` and, per replica, its target temperature, the integrator state (Nosé–Hoover
  chain, barostat; see :mod:`.ensembles`) and the state of its numpy ``Generator``
  (``rng.bit_generator.state``; JSON floats and big integers round-trip exactly), and ``provenance``
  (model, model_sha256, ase_relaxed_version, dtype, date: :func:`ase_relaxed.provenance.provenance`);
* ``r{k}_numbers``, ``r{k}_positions``, ``r{k}_momenta``, ``r{k}_masses``, ``r{k}_cell``,
  ``r{k}_pbc`` for every replica ``k``.

The file is written to ``PATH.tmp``, flushed and fsynced, then renamed over ``PATH``
(``os.replace`` is atomic on POSIX), so a kill at any moment leaves either the old or the new
checkpoint, never a torn one. A ``sha256`` entry (over the metadata and every array) makes an edited
or damaged file an error instead of "the last good state", and so do non-finite positions, momenta or
cells and a negative step.

>>> import tempfile, os
>>> from ase.build import bulk
>>> path = os.path.join(tempfile.mkdtemp(), "run.npz")
>>> save_checkpoint(path, step=5, time_fs=2.5, options={}, replicas=[(bulk("C"), {})])
>>> checkpoint = load_checkpoint(path)
>>> checkpoint.step, len(checkpoint.atoms[0])
(5, 2)
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from ase import Atoms

from ..errors import InputError

FORMAT = "ase_relaxed.md.checkpoint"
VERSION = 2
_ARRAYS = ("numbers", "positions", "momenta", "masses", "cell", "pbc")


@dataclass
class Checkpoint:
    """A loaded checkpoint: the step, the options, and per replica its atoms and extra state."""

    step: int
    time_fs: float
    options: dict
    atoms: list[Atoms]
    replica_state: list[dict]


def save_checkpoint(
    path: str | os.PathLike, step: int, time_fs: float, options: dict, replicas: Sequence[tuple[Atoms, dict]],
    provenance: dict | None = None,
) -> None:
    """Write ``replicas`` (pairs of atoms and a JSON-ready state dict) atomically to ``path``; ``provenance``
    (what produced the run) is kept in the metadata, read by nothing here."""
    path = Path(path)
    arrays: dict[str, np.ndarray] = {}
    states = []
    for k, (atoms, state) in enumerate(replicas):
        arrays[f"r{k}_numbers"] = atoms.numbers.astype(np.int64)
        arrays[f"r{k}_positions"] = atoms.positions.astype(np.float64)
        arrays[f"r{k}_momenta"] = atoms.get_momenta().astype(np.float64)
        arrays[f"r{k}_masses"] = atoms.get_masses().astype(np.float64)
        arrays[f"r{k}_cell"] = atoms.cell.array.astype(np.float64)
        arrays[f"r{k}_pbc"] = atoms.pbc.astype(bool)
        states.append(state)
    meta = {"format": FORMAT, "version": VERSION, "step": int(step), "time_fs": float(time_fs),
            "options": options, "replicas": states, "provenance": provenance or {}}
    arrays["meta"] = np.array(json.dumps(meta))
    arrays["sha256"] = np.array(_digest(arrays))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:  # interrupted or failed: leave the previous checkpoint and no stray .tmp
        tmp.unlink(missing_ok=True)
        raise


def _digest(arrays: dict[str, np.ndarray]) -> str:
    """sha256 over every entry but ``sha256`` itself: names, dtypes, shapes and bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(k for k in arrays if k != "sha256"):
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}|{array.dtype.str}|{array.shape}|".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def _check_values(path: Path, meta: dict, images: list[Atoms]) -> None:
    step = meta.get("step")
    if not isinstance(step, int) or step < 0 or not np.isfinite(meta.get("time_fs", np.nan)):
        raise InputError(f"checkpoint {str(path)!r} has an invalid step {step!r} or time")
    for k, atoms in enumerate(images):
        for name, values in (("positions", atoms.positions), ("momenta", atoms.get_momenta()),
                             ("cell", atoms.cell.array)):
            if not np.isfinite(values).all():
                raise InputError(f"checkpoint {str(path)!r} holds non-finite {name} (replica {k}): it is not a "
                                 "state a run can continue from")


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint` (never unpickles anything)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"no checkpoint at {str(path)!r}; start the run without --resume")
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            if meta.get("format") != FORMAT:
                raise InputError(f"{str(path)!r} is not an ase_relaxed MD checkpoint")
            if meta.get("version") != VERSION:
                raise InputError(f"checkpoint {str(path)!r} has version {meta.get('version')}, expected {VERSION} "
                                 "(written by another version of ase_relaxed); start the run afresh")
            if "sha256" not in data.files or str(data["sha256"]) != _digest({k: data[k] for k in data.files}):
                raise InputError(f"checkpoint {str(path)!r} was modified or damaged after it was written "
                                 "(sha256 mismatch); it cannot be trusted as the last good state")
            images = []
            for k in range(len(meta["replicas"])):
                a = {name: data[f"r{k}_{name}"] for name in _ARRAYS}
                atoms = Atoms(numbers=a["numbers"], positions=a["positions"], cell=a["cell"], pbc=a["pbc"],
                              masses=a["masses"])
                atoms.set_momenta(a["momenta"])
                images.append(atoms)
    except InputError:
        raise
    except Exception as error:  # zip, key or JSON errors: a damaged file
        raise InputError(f"cannot read checkpoint {str(path)!r}: {error}") from None
    _check_values(path, meta, images)
    return Checkpoint(int(meta["step"]), float(meta["time_fs"]), meta["options"], images, meta["replicas"])
