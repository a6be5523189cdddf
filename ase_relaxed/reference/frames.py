"""Resumable extxyz data files: frames appended one by one, resumed only by the generator that made them.

Frame k of a data set is a function of (generator settings, k) alone, so a killed or interrupted run is
continued by appending frames ``done … n-1``. Every frame records its generator (``method_settings``
→ ``generator``: seed and settings, without the frame count, which a resume may raise); a resume
refuses a file whose generator differs (another seed would mix two data sets) or that it cannot read
(it is never shortened, except for its own torn last frame).

>>> import tempfile
>>> from pathlib import Path
>>> from ase import Atoms
>>> path = Path(tempfile.mkdtemp()) / "d.extxyz"
>>> def frame(k):
...     atoms = Atoms("C", positions=[[0.0, 0.0, float(k)]])
...     atoms.info["method_settings"] = json.dumps({"generator": {"seed": 0}})
...     return atoms
>>> _ = write_frames(path, 3, frame, {"seed": 0}, progress=False)
>>> _ = write_frames(path, 5, frame, {"seed": 0}, resume=True, progress=False)
>>> count_frames(path)
5
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from ase import Atoms

from ..errors import InputError, Interrupted
from ..interrupt import deferred_stop, stop_requested


def generator_record(config) -> dict:
    """What makes frame k of a data set: the seed and every setting but the number of frames."""
    settings = {k: v for k, v in config.to_dict().items() if k != "n_structures"}
    # as it reads back from the file (tuples become lists); a nested dict, since a JSON string here gets mangled
    return json.loads(json.dumps({"seed": config.seed, "config": settings}))


def count_frames(path: Path) -> int:
    """Complete frames in an extxyz file; a half-written last frame is cut off so appending continues cleanly.

    A non-empty file whose first frame cannot be parsed is not ours to shorten: InputError, file untouched.
    """
    if not path.exists() or path.stat().st_size == 0:
        return 0
    try:
        lines = path.read_text().splitlines()
    except UnicodeDecodeError:
        lines = None
    count, position, good_end = 0, 0, 0
    while lines is not None and position < len(lines):
        try:
            n = int(lines[position].strip())
        except ValueError:
            break
        if position + 2 + n > len(lines):
            break
        position += 2 + n
        count, good_end = count + 1, position
    if count == 0:
        raise InputError(f"cannot read {str(path)!r} as a data set written by `ase-relaxed data` (no complete "
                         "extxyz frame); it was left untouched: choose another --out")
    if good_end < len(lines):
        path.write_text("\n".join(lines[:good_end]) + "\n")
    return count


def check_resumable(path: Path, generator: dict) -> None:
    """Refuse to extend ``path`` with frames of another generator: other method, seed or settings."""
    from ase.io import read

    try:
        saved = json.loads(read(path, index=0).info["method_settings"])["generator"]
    except Exception:  # noqa: BLE001 - any parse or key error means: not one of our data sets
        raise InputError(f"{str(path)!r} does not record how its frames were made (no method_settings); "
                         "--resume only continues files written by `ase-relaxed data`") from None
    if saved != generator:
        old, new = saved.get("config", saved), generator.get("config", generator)
        changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k)) or ["seed"]
        raise InputError(f"{str(path)!r} was made with other settings ("
                         + "; ".join(f"{k} {old.get(k)!r} there, {new.get(k)!r} now" for k in changed)
                         + "): resuming would mix two data sets")


def write_frames(path: str | Path, n_total: int, make_frame: Callable[[int], Atoms], generator: dict, *,
                 resume: bool = False, progress: bool = True, desc: str = "data") -> Path:
    """Append frames ``make_frame(k)`` for k = done … n_total−1 to ``path``; stop cleanly on SIGINT/SIGTERM."""
    from ase.io import write

    path = Path(path)
    if not resume and path.exists() and path.stat().st_size > 0:
        raise InputError(f"{str(path)!r} exists; pass --resume to continue it or choose another --out")
    done = count_frames(path) if resume else 0
    if done:
        check_resumable(path, generator)
    path.parent.mkdir(parents=True, exist_ok=True)
    indices = range(done, n_total)
    if progress:
        from tqdm.auto import tqdm

        indices = tqdm(indices, total=n_total, initial=done, desc=desc, unit="frame")
    with deferred_stop():
        for k in indices:
            atoms = make_frame(k)
            with open(path, "a") as handle:
                write(handle, atoms, format="extxyz")
                handle.flush()
            if stop_requested() and k + 1 < n_total:
                raise Interrupted(f"{stop_requested()} after {k + 1} of {n_total} frames; {str(path)!r} holds them: "
                                  "rerun the same command with --resume to continue")
    return path
