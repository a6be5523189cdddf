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
momenta.  On ``--resume`` both files are cut back to the checkpoint step: rows and frames with a
larger step, or a torn last line/frame, are removed, so no frame is lost or duplicated.

>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "md.csv")
>>> log = CSVLog(path, ["step", "epot"]); log.write({"step": 0, "epot": -1.0}); log.write({"step": 1, "epot": -2.0})
>>> log.close(); truncate_log(path, step=0)
1
>>> open(path).read()
'step,epot\\n0,-1.0\\n'
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Sequence

from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

LOG_COLUMNS = ["step", "time_fs", "epot", "ekin", "etot", "econs", "temperature"]
NPT_COLUMNS = ["volume", "pressure"]
_STEP = re.compile(r"(?:^|\s)step=(\d+)")


class CSVLog:
    """Append rows to a CSV file (header written when the file is new or empty), flushing each row."""

    def __init__(self, path: str | os.PathLike, columns: Sequence[str], append: bool = False) -> None:
        self.path = Path(path)
        self.columns = list(columns)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        new = not append or not self.path.exists() or self.path.stat().st_size == 0
        self._handle = open(self.path, "w" if new else "a")
        if new:
            self._handle.write(",".join(self.columns) + "\n")
            self._handle.flush()

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
    """Frames to ``.traj`` (ASE's binary format) or, for any other extension, appended extxyz."""

    def __init__(self, path: str | os.PathLike, append: bool = False) -> None:
        self.path = Path(path)
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
