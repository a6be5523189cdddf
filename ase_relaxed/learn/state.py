"""The files of an on-the-fly run, written so that a SIGKILL at any instant loses nothing already computed.

    RUN_DIR/config.json        the LearnConfig, written once; a resume with other settings is refused
    RUN_DIR/references.extxyz  every labelled frame, appended and fsync'ed before anything else uses it
    RUN_DIR/calls.jsonl        one line per reference call (why, σ, the model's error there, times)
    RUN_DIR/checkpoint.json    where the MD is (episode, step, positions, momenta, forces, RNG state)
    RUN_DIR/model.safetensors  the current kernel model (rebuilt from references.extxyz on resume)

Every file but the append-only two is replaced atomically (write to a temporary file, fsync, rename).

>>> import tempfile
>>> with tempfile.TemporaryDirectory() as d:
...     write_json_atomic(Path(d) / "x.json", {"a": 1}); read_json(Path(d) / "x.json")
{'a': 1}
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.io import read, write

from ..errors import InputError
from .config import LearnConfig

__all__ = ["CONFIG", "CALLS", "CHECKPOINT", "MODEL", "REFERENCES", "append_frame", "append_log", "check_config",
           "read_json", "read_references", "write_json_atomic"]

CONFIG, REFERENCES, CALLS, CHECKPOINT, MODEL = (
    "config.json", "references.extxyz", "calls.jsonl", "checkpoint.json", "model.safetensors")


def _fsync_append(path: Path, text: str) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def write_json_atomic(path: Path, data: dict) -> None:
    """Replace ``path`` by ``data`` as JSON, so that a reader sees the old or the new file, never half of one."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(data, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def read_json(path: Path) -> dict | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def check_config(run_dir: Path, config: LearnConfig) -> None:
    """Write ``config.json`` in a new run; in an existing one, refuse settings that differ from it."""
    run_dir.mkdir(parents=True, exist_ok=True)
    stored = read_json(run_dir / CONFIG)
    if stored is None:
        write_json_atomic(run_dir / CONFIG, config.to_dict())
        return
    differ = sorted(k for k, v in config.to_dict().items() if stored.get(k) != v)
    if differ:
        raise InputError(f"{run_dir} was started with other settings ({', '.join(differ)}); "
                         "resume with the same ones (see its config.json) or choose a new run directory")


def append_frame(run_dir: Path, atoms: Atoms) -> Atoms:
    """Append one labelled frame to references.extxyz, fsync it, and return it as the file holds it.

    Training on the frame read back (extxyz keeps 8 decimals) makes a resumed run's model, rebuilt from the
    file, the same as the uninterrupted run's.
    """
    from io import StringIO

    buffer = StringIO()
    write(buffer, atoms, format="extxyz")
    _fsync_append(run_dir / REFERENCES, buffer.getvalue())
    return read(StringIO(buffer.getvalue()), format="extxyz")


def read_references(run_dir: Path) -> list[Atoms]:
    """The labelled frames so far; a last frame cut short by a kill is dropped (and cut from the file)."""
    path = run_dir / REFERENCES
    if not path.exists() or path.stat().st_size == 0:
        return []
    try:
        return read(path, ":", format="extxyz")
    except Exception:  # a partial last frame: keep the whole ones, rewrite the file without the torn tail
        frames, text = [], path.read_text(encoding="utf-8")
        lines, start = text.splitlines(keepends=True), 0
        while start < len(lines):
            try:
                count = int(lines[start])
            except ValueError:
                break
            if start + 2 + count > len(lines):
                break
            start += 2 + count
        kept = "".join(lines[:start])
        path.write_text(kept, encoding="utf-8")
        from io import StringIO

        frames = read(StringIO(kept), ":", format="extxyz") if kept else []
        return frames


def append_log(run_dir: Path, record: dict) -> None:
    """One JSON line in calls.jsonl (numbers as plain floats)."""
    clean = {k: (float(v) if isinstance(v, (np.floating, np.integer)) else v) for k, v in record.items()}
    _fsync_append(run_dir / CALLS, json.dumps(clean) + "\n")
