"""High-throughput farms: one job per structure, run serially or on Dask, results into an ASE database.

A farm is ``(kind, settings, model)`` applied to many structures. Each structure is one task
(:func:`.tasks.run_job`, the same function the serial path runs). Rows of the database (``ase.db``: SQLite
by default, any URL ASE supports) are keyed by

    (structure key, job kind, settings hash, model sha256)

and hold the result Atoms (with energy/forces where the job has them), the job's scalar values as columns,
its arrays as ``data``, the model name, sha256 and package version, the settings (``data["settings"]``),
``status`` ("ok" or "failed"), the one-line ``error`` and the task's ``wall_s``. Only this (client) process
writes the database, one row as each task finishes, so killing a farm loses at most the running tasks.

Resume: a rerun skips structures whose row is ``ok``; ``failed`` ones are retried (their old row is
replaced), since a failure may be a lost worker or a fixed input; a structure that fails again is
recorded again. Scheduler: None runs in this process; ``local:N`` starts a :class:`distributed.LocalCluster`
of N single-thread worker processes; anything with ``://`` or ``host:port`` connects to a running scheduler
(e.g. one started by ``dask-jobqueue`` on SLURM). Workers build the calculator once each.

>>> settings_hash({"fmax": 0.01, "cell": False}) == settings_hash({"cell": False, "fmax": 0.01})
True
>>> parse_scheduler("local:2"), parse_scheduler("tcp://10.0.0.1:8786")
(('local', 2), ('address', 'tcp://10.0.0.1:8786'))
"""

from __future__ import annotations

import glob
import hashlib
import json
import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from ase import Atoms

from ..errors import InputError
from . import tasks

EXTRA = "pip install 'ase_relaxed[distributed]'"
GLOB = re.compile(r"[*?\[]")


def settings_hash(settings: dict) -> str:
    """16 hex digits of the SHA-256 of the settings as sorted JSON (what a database row is keyed by)."""
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def model_sha256(model: str) -> str:
    """SHA-256 of the model file: a path, or the file of a shipped name."""
    from ..models.io import file_sha256
    from ..pretrained import pretrained_path

    path = Path(model)
    return file_sha256(path if path.is_file() else pretrained_path(model))


def parse_scheduler(text: str | None) -> tuple[str, object]:
    """``None`` → ("serial", None); ``local[:N]`` → ("local", N); an address → ("address", text)."""
    if text is None or text in ("", "none", "serial"):
        return ("serial", None)
    if text == "local" or text.startswith("local:"):
        count = text.partition(":")[2] or "2"
        if not count.isdigit() or int(count) < 1:
            raise InputError(f"--scheduler {text!r}: local:N needs a positive number of workers, e.g. local:2")
        return ("local", int(count))
    if "://" in text or re.fullmatch(r"[\w.\-]+:\d+", text):
        return ("address", text)
    raise InputError(f"unknown --scheduler {text!r}; use local:N (a LocalCluster of N workers) or the address "
                     "of a running Dask scheduler such as tcp://host:8786")


def expand_sources(sources: Iterable[str], index: str = "-1") -> list[tuple[str, Atoms]]:
    """(key, Atoms) for every structure of ``sources``: files, globs (sorted) and builder specs.

    A file with several frames selected by ``index`` gives one key ``path@k`` per frame; a glob that
    matches no file is an error, as is a key given twice.
    """
    from ..structures import read_structures

    jobs: list[tuple[str, Atoms]] = []
    for source in sources:
        paths = [source]
        if GLOB.search(source) and not Path(source).exists():
            paths = sorted(glob.glob(source))
            if not paths:
                raise InputError(f"the pattern {source!r} matches no file")
        for path in paths:
            frames = read_structures(path, index)
            jobs += [(path if len(frames) == 1 else f"{path}@{k}", atoms) for k, atoms in enumerate(frames)]
    keys = [key for key, _ in jobs]
    twice = sorted({key for key in keys if keys.count(key) > 1})
    if twice:
        raise InputError(f"structure(s) given twice: {', '.join(twice)}")
    return jobs


def connect_db(url: str):
    """``ase.db.connect(url)`` after checking that a local file can be created there (one-line errors)."""
    import tempfile

    import ase.db

    local = "://" not in url
    if local:
        path = Path(url)
        if path.is_dir():
            raise InputError(f"--db {url!r} is a folder; give a file name such as results.db")
        if not path.parent.is_dir():
            raise InputError(f"--db {url!r}: the folder {str(path.parent)!r} does not exist")
        try:
            with tempfile.TemporaryFile(dir=path.parent):
                pass
        except OSError as error:
            raise InputError(f"--db {url!r}: cannot write in {str(path.parent)!r} ({error.strerror})") from None
    try:
        db = ase.db.connect(url)
        db.count()
    except Exception as error:  # noqa: BLE001 - sqlite3, network and parse errors all mean "not a database"
        raise InputError(f"--db {url!r} is not a database ASE can open: {tasks.one_line(error)}") from None
    return db


@dataclass
class FarmResult:
    """What a farm did: counts of the structures skipped (already ok), done ok and failed, and the wall time."""

    total: int
    skipped: int
    ok: int = 0
    failed: int = 0
    wall_s: float = 0.0
    records: list[dict] = field(default_factory=list)
    meta: dict = field(default_factory=dict)  # job, settings_hash, model, model_sha256, version, dtype of the rows


def _row_values(record: dict, meta: dict) -> dict:
    from ase.db.core import reserved_keys

    values = {**meta, "structure": record["key"], "status": record["status"], "error": record["error"],
              "wall_s": float(record["wall_s"]), "setup_s": float(record.get("setup_s", 0.0)),
              "host": record.get("host", "")}
    for name, value in record["values"].items():
        if name in reserved_keys:
            raise ValueError(f"job value {name!r} is a reserved ase.db key")
        values[name] = value
    return values


class FarmDB:
    """The rows of one farm (kind, settings, model) in an ASE database."""

    def __init__(self, url: str, kind: str, settings: dict, model: dict):
        from .._version import __version__

        self.db = connect_db(url)
        self.url = url
        # what changes the numbers: the job's settings and the model's dtype (None is float64), not the device
        self.settings = {**settings, "dtype": model.get("dtype") or "float64"}
        self.meta = {"job": kind, "settings_hash": settings_hash(self.settings), "model": str(model["model"]),
                     "model_sha256": model_sha256(model["model"]), "version": __version__,
                     "dtype": self.settings["dtype"]}

    def _select(self, **extra):
        keys = ("job", "settings_hash", "model_sha256")
        return self.db.select(**{k: self.meta[k] for k in keys}, **extra)

    def done(self) -> set[str]:
        """Structure keys whose row is ok."""
        return {row.structure for row in self._select(status="ok")}

    def write(self, record: dict) -> int:
        """Store one record (replacing a failed row of the same structure); returns the row id."""
        stale = [row.id for row in self._select(structure=record["key"])]
        atoms = record["atoms"] if record["atoms"] is not None else Atoms()
        row_id = self.db.write(atoms, key_value_pairs=_row_values(record, self.meta),
                               data={**record["data"], "settings": self.settings})
        if stale:
            self.db.delete(stale)
        return row_id


def start_client(scheduler: tuple[str, object], timeout: float | str | None = None):
    """A ``distributed.Client`` for a parsed scheduler (a LocalCluster of 1-thread workers, or an address).

    ``timeout`` to reach an address: default Dask's ``distributed.comm.timeouts.connect`` (30 s).
    """
    try:
        import dask
        from distributed import Client, LocalCluster
    except ImportError:
        raise InputError(f"--scheduler needs Dask's distributed scheduler: {EXTRA}") from None
    kind, value = scheduler
    if kind == "local":
        try:
            cluster = LocalCluster(n_workers=int(value), threads_per_worker=1, processes=True,
                                   dashboard_address=None, silence_logs=logging.ERROR)
        except RuntimeError as error:  # typically a script without an `if __name__ == "__main__":` guard
            raise InputError(f"cannot start a LocalCluster of {value} workers ({tasks.one_line(error)}); a "
                             "script that starts one needs an `if __name__ == \"__main__\":` guard") from None
        client = Client(cluster)
        client.run(tasks.set_threads, 1)  # one core per worker: no torch oversubscription
        return client
    try:
        return Client(str(value), timeout=timeout or dask.config.get("distributed.comm.timeouts.connect"))
    except (OSError, TimeoutError) as error:
        raise InputError(f"cannot reach the Dask scheduler at {value!r}: {tasks.one_line(error)}") from None


def _serial(kind, jobs, settings, model) -> Iterable[dict]:
    for key, atoms in jobs:
        yield tasks.run_job(kind, key, atoms, settings, model)


def _dask(client, kind, jobs, settings, model) -> Iterable[dict]:
    from distributed import as_completed

    futures = {client.submit(tasks.run_job, kind, key, atoms, settings, model, pure=False): (key, atoms)
               for key, atoms in jobs}
    for future in as_completed(futures):
        try:
            yield future.result()
        except Exception as error:  # noqa: BLE001 - a lost worker (KilledWorker) fails only its task
            key, atoms = futures[future]
            yield {"key": key, "kind": kind, "status": "failed", "error": tasks.one_line(error), "atoms": atoms,
                   "values": {}, "data": {}, "wall_s": 0.0}


def run_farm(kind: str, jobs: list[tuple[str, Atoms | None]], settings: dict, model: dict, db: str,
             scheduler: str | None = None, progress: bool = True,
             on_record: Callable[[dict], None] | None = None) -> FarmResult:
    """Run ``kind`` on every (key, atoms) of ``jobs`` not yet ok in ``db``; rows are written as tasks finish.

    ``model``: calculator options (``model`` name or file, ``device``, ``dtype``, ``on_close``);
    ``on_record`` is called after each row is written (the CLI prints a line).
    """
    from tqdm import tqdm

    if kind not in tasks.JOBS:
        raise InputError(f"unknown job kind {kind!r}; one of {', '.join(tasks.JOBS)}")
    keys = [key for key, _ in jobs]
    if len(set(keys)) != len(keys):
        raise InputError(f"structure(s) given twice: {', '.join(sorted({k for k in keys if keys.count(k) > 1}))}")
    parsed = parse_scheduler(scheduler)
    store = FarmDB(db, kind, settings, model)
    done = store.done()
    todo = [(key, atoms) for key, atoms in jobs if key not in done]
    result = FarmResult(total=len(jobs), skipped=len(jobs) - len(todo), meta=dict(store.meta))
    start = time.perf_counter()
    client = None
    try:
        if todo and parsed[0] != "serial":
            client = start_client(parsed)
            records = _dask(client, kind, todo, settings, model)
        else:
            records = _serial(kind, todo, settings, model)
        with tqdm(total=len(todo), unit="task", disable=not progress, desc=kind) as bar:
            for record in records:
                store.write(record)
                result.records.append(record)
                result.ok += record["status"] == "ok"
                result.failed += record["status"] != "ok"
                bar.update(1)
                if on_record is not None:
                    on_record(record)
    finally:
        if client is not None:
            cluster = client.cluster if parsed[0] == "local" else None
            client.close()
            if cluster is not None:
                cluster.close()
    result.wall_s = time.perf_counter() - start
    return result
