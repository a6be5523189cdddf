"""The MD log (CSV) and trajectory (extxyz or ASE ``.traj``), crash-safe and resumable.

Log columns (one row every ``--interval`` steps, flushed at once):

==============  ==========================================================================
step            MD step (0 is the starting structure)
time_fs         simulated time, step × Δt (fs)
epot            potential energy (eV, whole system)
ekin            kinetic energy Σ p²/2m (eV)
etot            epot + ekin (eV)
econs           the integrator's conserved quantity (eV; etot for NVE, empty for Langevin)
temperature     2 ekin / (N_f k_B) (K)
volume          cell volume (Å³; npt only)
pressure        −tr(σ)/3 including the kinetic (ideal-gas) term (GPa; npt only)
==============  ==========================================================================

Every trajectory frame carries ``step`` and ``time_fs`` in its info, plus energy, forces and
momenta, and what produced it (:func:`ase_relaxed.provenance.provenance_info`: model, model_sha256,
ase_relaxed_version, dtype). The log stays plain CSV (``csv.DictReader``, ``numpy.genfromtxt(names=True)``
and pandas read it as it is); its provenance is ``LOG.provenance.json`` beside it (:func:`provenance_path`),
with one entry under ``resumed`` per ``--resume``. On ``--resume`` both files are cut back to the checkpoint
step: rows and frames with a larger step, or a torn last line/frame, are removed, so no frame is lost or
duplicated.

>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "md.csv")
>>> log = CSVLog(path, ["step", "epot"]); log.write({"step": 0, "epot": -1.0}); log.write({"step": 1, "epot": -2.0})
>>> log.close(); truncate_log(path, step=0)
1
>>> open(path).read()
'step,epot\\n0,-1.0\\n'
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Sequence

from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

LOG_COLUMNS = ["step", "time_fs", "epot", "ekin", "etot", "econs", "temperature"]
NPT_COLUMNS = ["volume", "pressure"]
_STEP = re.compile(r"(?:^|\s)step=(\d+)")


def provenance_path(path: str | os.PathLike) -> Path:
    """Where the provenance of the log ``path`` is kept: ``md.csv`` → ``md.csv.provenance.json``."""
    return Path(path).with_name(Path(path).name + ".provenance.json")


def _write_provenance(path: Path, provenance: dict, new: bool) -> None:
    """The log's sidecar: ``provenance`` for a new log; a resumed one adds it under ``resumed``."""
    sidecar = provenance_path(path)
    record = dict(provenance)
    if not new and sidecar.exists():
        record = json.loads(sidecar.read_text())
        record["resumed"] = [*record.get("resumed", []), provenance]
    tmp = sidecar.with_name(sidecar.name + ".tmp")
    tmp.write_text(json.dumps({"log": path.name, **record}, indent=1) + "\n")
    os.replace(tmp, sidecar)


class CSVLog:
    """Append rows to a CSV file (header written when the file is new or empty), flushing each row;
    ``provenance`` (a dict) goes to :func:`provenance_path`."""

    def __init__(self, path: str | os.PathLike, columns: Sequence[str], append: bool = False,
                 provenance: dict | None = None) -> None:
        self.path = Path(path)
        self.columns = list(columns)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        new = not append or not self.path.exists() or self.path.stat().st_size == 0
        self._handle = open(self.path, "w" if new else "a")
        if new:
            self._handle.write(",".join(self.columns) + "\n")
            self._handle.flush()
        if provenance is not None:
            _write_provenance(self.path, provenance, new)

    def write(self, row: dict) -> None:
        values = []
        for column in self.columns:
            value = row.get(column, "")
            values.append("" if value is None else (repr(float(value)) if isinstance(value, float) else str(value)))
        self._handle.write(",".join(values) + "\n")
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()


class TrajectoryWriter:
    """Frames to ``.traj`` (ASE's binary format) or, for any other extension, appended extxyz; ``info``
    (e.g. :func:`~ase_relaxed.provenance.provenance_info`) goes into every frame's ``atoms.info``."""

    def __init__(self, path: str | os.PathLike, append: bool = False, info: dict | None = None) -> None:
        self.path = Path(path)
        self.info = dict(info or {})
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.binary = self.path.suffix == ".traj"
        mode = "a" if append and self.path.exists() else "w"
        if self.binary:
            from ase.io.trajectory import Trajectory

            self._handle = Trajectory(str(self.path), mode)
        else:
            self._handle = open(self.path, mode)

    def write(self, atoms: Atoms, step: int, time_fs: float) -> None:
        frame = atoms.copy()
        calc = atoms.calc
        results = {key: calc.results[key] for key in ("energy", "forces", "stress") if key in calc.results}
        frame.calc = SinglePointCalculator(frame, **results)
        frame.info.update(self.info)
        frame.info["step"] = int(step)
        frame.info["time_fs"] = float(time_fs)
        if self.binary:
            self._handle.write(frame)  # ulm syncs (and flushes) after every frame
        else:
            from ase.io import write

            write(self._handle, frame, format="extxyz")
            self._handle.flush()

    def close(self) -> None:
        self._handle.close()


def truncate_log(path: str | os.PathLike, step: int) -> int:
    """Keep the header and the complete rows with ``step ≤ step``; return the rows kept."""
    path = Path(path)
    if not path.exists():
        return 0
    kept, offset = 0, 0
    with open(path, "rb") as handle:
        header = handle.readline()
        if not header.endswith(b"\n"):
            offset = 0
        else:
            offset = len(header)
            for line in handle:
                try:
                    row_step = int(line.split(b",", 1)[0])
                except ValueError:
                    break
                if not line.endswith(b"\n") or row_step > step:
                    break
                offset += len(line)
                kept += 1
    os.truncate(path, offset)
    return kept


def _truncate_extxyz(path: Path, step: int) -> int:
    kept, offset = 0, 0
    with open(path, "rb") as handle:
        while True:
            first = handle.readline()
            if not first.strip():
                break
            try:
                natoms = int(first)
            except ValueError:
                break
            comment = handle.readline()
            match = _STEP.search(comment.decode(errors="replace"))
            lines = [handle.readline() for _ in range(natoms)]
            complete = comment.endswith(b"\n") and all(line.endswith(b"\n") for line in lines)
            if not complete or match is None or int(match.group(1)) > step:
                break
            offset += len(first) + len(comment) + sum(len(line) for line in lines)
            kept += 1
    os.truncate(path, offset)
    return kept


def _truncate_traj(path: Path, step: int) -> int:
    from ase.io.trajectory import Trajectory

    frames = []
    try:
        with Trajectory(str(path)) as reader:
            for k in range(len(reader)):
                atoms = reader[k]
                if atoms.info.get("step", step + 1) > step:
                    break
                frames.append(atoms)
    except Exception:  # a torn last frame: keep the good ones before it
        pass
    tmp = path.with_name(path.name + ".tmp")
    with Trajectory(str(tmp), "w") as writer:
        for atoms in frames:
            writer.write(atoms)
    os.replace(tmp, path)
    return len(frames)


def truncate_trajectory(path: str | os.PathLike, step: int) -> int:
    """Keep the complete frames with ``info['step'] ≤ step``; return how many were kept."""
    path = Path(path)
    if not path.exists():
        return 0
    return _truncate_traj(path, step) if path.suffix == ".traj" else _truncate_extxyz(path, step)
