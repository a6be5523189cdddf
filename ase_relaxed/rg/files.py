"""Ising sample files: ``.npz`` with ``spins`` (int8 ±1, ``(n, L, L)``) and ``provenance`` (a JSON string).

Read with ``allow_pickle=False``: a file never executes code.  Provenance records how the samples were made
(``L``, ``coupling`` :math:`K=\\beta J`, seed, sampler settings, package and numpy versions, time).
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np

from ..errors import InputError


def save_samples(path: str | os.PathLike, spins: np.ndarray, provenance: dict) -> None:
    """Write ``spins`` and ``provenance`` to ``path`` (``.npz``, written to a temporary name then renamed).

    >>> import tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "s.npz"); save_samples(p, np.ones((2, 4, 4)), {"L": 4})
    >>> load_samples(p)[0].shape, load_samples(p)[1]["L"]
    ((2, 4, 4), 4)
    """
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, spins=np.asarray(spins, dtype=np.int8), provenance=np.array(json.dumps(provenance)))
    os.replace(tmp, path)


def load_samples(path: str | os.PathLike) -> tuple[np.ndarray, dict]:
    """``(spins, provenance)`` of a file written by :func:`save_samples` (or any ``.npz`` with ±1 ``spins``).

    >>> load_samples("/nonexistent.npz")
    Traceback (most recent call last):
    ...
    ase_relaxed.errors.InputError: samples file '/nonexistent.npz' does not exist
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"samples file {str(path)!r} does not exist")
    try:
        with np.load(path, allow_pickle=False) as f:
            if "spins" not in f:
                raise InputError(f"samples file {str(path)!r} has no 'spins' array (keys: {sorted(f.files)})")
            spins = np.asarray(f["spins"])
            provenance = json.loads(str(f["provenance"])) if "provenance" in f else {}
    except (ValueError, OSError, zipfile.BadZipFile, json.JSONDecodeError) as error:
        raise InputError(f"samples file {str(path)!r} is not a readable .npz of spins ({error})") from None
    if spins.ndim != 3 or spins.shape[1] != spins.shape[2] or len(spins) == 0 or not np.all(np.abs(spins) == 1):
        raise InputError(f"samples file {str(path)!r}: spins must be a non-empty (n, L, L) array of +1/-1, "
                         f"got shape {spins.shape}")
    return spins.astype(np.int8), provenance
