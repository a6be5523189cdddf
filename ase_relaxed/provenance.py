"""What produced a result: the model, the SHA-256 of its file, the ase_relaxed version and the dtype.

Every file the package writes records these four fields, taken from one place, :func:`provenance`:
extxyz and ``.traj`` frames in ``atoms.info`` (:func:`provenance_info`), JSON files under ``"provenance"``,
phonopy's YAML files as top-level keys and its ``.dat``/``FORCE_SETS`` files as ``#`` lines, and an MD log
(CSV, kept plain for ``csv``/numpy/pandas readers) in ``LOG.provenance.json`` next to it. ``date`` (UTC,
ISO 8601) tells when; no git state is read, so installed copies record the same as a checkout.

>>> from ase_relaxed import RelaxedCalculator
>>> record = provenance(RelaxedCalculator("demo-carbon-random", device="cpu"))
>>> record["model"], record["dtype"], len(record["model_sha256"])
('demo-carbon-random', 'float64', 64)
>>> from ase.calculators.emt import EMT
>>> provenance_info(EMT())["model"]  # any ASE calculator: its name, no file, no dtype
'emt'
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from ._version import __version__

__all__ = ["KEYS", "provenance", "provenance_info"]

#: the fields every result records
KEYS = ("model", "model_sha256", "ase_relaxed_version", "dtype")


def provenance(source: Any, model: str | None = None, date: bool = False) -> dict[str, str | None]:
    """``model``, ``model_sha256``, ``ase_relaxed_version`` and ``dtype`` of what produced a result.

    ``source``: a :class:`~ase_relaxed.RelaxedCalculator` (read from its ``todict()``), a model loaded from a
    file (its ``source_file``, ``sha256`` and ``dtype``), or any other ASE calculator (its name; no file hash
    or dtype: None). ``model`` replaces the recorded name (e.g. the shipped name a user gave); ``date=True``
    adds ``date``, now in UTC (ISO 8601, seconds).
    """
    todict = getattr(source, "todict", None)
    info = todict() if callable(todict) else {}
    if "model_sha256" in info:  # an ase_relaxed calculator
        name, sha256, dtype = info.get("model"), info.get("model_sha256"), info.get("dtype")
    elif hasattr(source, "sha256") or hasattr(source, "source_file"):  # a loaded model module
        name, sha256 = getattr(source, "source_file", None) or "in-memory module", getattr(source, "sha256", None)
        dtype = getattr(source, "dtype", None)
    else:
        name = getattr(source, "name", None) or type(source).__name__
        sha256, dtype = None, getattr(source, "dtype", None)
    record = {"model": str(model or name), "model_sha256": sha256, "ase_relaxed_version": __version__,
              "dtype": None if dtype is None else str(dtype).removeprefix("torch.")}
    if date:
        record["date"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return record


def provenance_info(source: Any, model: str | None = None) -> dict[str, str]:
    """:func:`provenance` for ``atoms.info`` (extxyz, ``.traj``): the fields that are known, as strings
    (extxyz would read a field without a value back as ``True``)."""
    return {key: value for key, value in provenance(source, model).items() if value is not None}
