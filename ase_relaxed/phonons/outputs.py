"""Phonon outputs: a band-structure + DOS figure and the files phonopy's own tools read.

Companion of :mod:`ase_relaxed.phonons` (which computes); here the results are written:
``phonopy.yaml`` (displacements and forces, ``phonopy.load`` reads it), ``FORCE_SETS``,
``band.yaml`` and a PNG with frequencies in cm⁻¹ (ν̃ = ν / c, 1 THz = 33.356 cm⁻¹); with a ``comment``
(:func:`ase_relaxed.provenance.provenance`) each file records it where phonopy's readers ignore it
(:func:`record_provenance`).

>>> # write_phonopy_outputs(phonon, "out"); plot_bands_and_dos(phonon, "out/bands_dos.png")
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from phonopy import Phonopy

from .phonopy_bridge import THZ_TO_CM, run_band_structure, run_dos

__all__ = ["plot_bands_and_dos", "record_provenance", "write_phonopy_outputs"]


def _ticks(band) -> tuple[list[float], list[str]]:
    """x positions and labels of the path's end points (a jump shows as "X|U")."""
    labels = list(band.labels or [])
    ticks, names, k = [float(band.distances[0][0])], [labels[0] if labels else ""], 1
    for segment, connected in zip(band.distances, band.path_connections):
        ticks.append(float(segment[-1]))
        names.append(labels[k] if k < len(labels) else "")
        k += 1
        if not connected and k < len(labels):
            names[-1] += "|" + labels[k]
            k += 1
    return ticks, names


def plot_bands_and_dos(phonon: Phonopy, path_png: str | os.PathLike, title: str | None = None) -> Path:
    """Band structure (cm⁻¹, labelled high-symmetry points) with the total DOS beside it, as a PNG.
    Runs :func:`run_band_structure` / :func:`run_dos` with defaults where they were not run before."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if phonon.band_structure is None:
        run_band_structure(phonon)
    if phonon.total_dos is None:
        run_dos(phonon)
    band = phonon.band_structure
    fig = Figure(figsize=(8, 5))
    FigureCanvasAgg(fig)
    ax_b, ax_d = fig.subplots(1, 2, sharey=True, gridspec_kw={"width_ratios": [3, 1], "wspace": 0.12})
    for distances, frequencies in zip(band.distances, band.frequencies):
        ax_b.plot(distances, np.asarray(frequencies) * THZ_TO_CM, color="C0", lw=0.7)
    ticks, names = _ticks(band)
    for x in ticks:
        ax_b.axvline(x, color="0.7", lw=0.5)
    ax_b.axhline(0.0, color="0.5", lw=0.5, ls=":")
    ax_b.set_xticks(ticks, names)
    ax_b.set(xlim=(ticks[0], ticks[-1]), ylabel="frequency (cm⁻¹)", title=title)
    dos = phonon.total_dos
    ax_d.plot(np.asarray(dos.dos) / THZ_TO_CM, np.asarray(dos.frequency_points) * THZ_TO_CM, color="C1", lw=0.8)
    ax_d.set(xlabel="DOS (states / cm⁻¹)")
    ax_d.set_xlim(left=0)
    fig.savefig(path_png, dpi=120, bbox_inches="tight")
    return Path(path_png)


def record_provenance(path: str | os.PathLike, comment: dict) -> Path:
    """Add ``comment`` (what produced the file) to a file phonopy wrote, where phonopy's readers skip it:
    top-level keys at the end of a ``.yaml``, ``# key: value`` lines after the data of ``FORCE_SETS`` (its
    reader stops after the last force) and after the ``#`` header of other text files (``.dat``)."""
    import yaml

    path = Path(path)
    text = path.read_text()
    if path.suffix == ".yaml":
        path.write_text(text.rstrip("\n") + "\n" + yaml.safe_dump(comment, default_flow_style=False, sort_keys=False))
        return path
    lines = [f"# {key}: {value}" for key, value in comment.items()]
    body = text.splitlines()
    head = len(body) if path.name == "FORCE_SETS" else next(
        (k for k, line in enumerate(body) if not line.startswith("#")), len(body))
    path.write_text("\n".join(body[:head] + lines + body[head:]) + "\n")
    return path


def write_phonopy_outputs(phonon: Phonopy, out_dir: str | os.PathLike, comment: dict | None = None) -> dict[str, Path]:
    """Write ``phonopy.yaml`` (structure, supercell, displacements and forces; ``phonopy.load`` reads it),
    ``FORCE_SETS`` and, if a band structure was run, ``band.yaml`` into ``out_dir``, each with ``comment``
    (:func:`record_provenance`; band.yaml: phonopy's own comment keys at the top); returns name → path."""
    from phonopy.file_IO import write_FORCE_SETS

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"phonopy.yaml": out / "phonopy.yaml", "FORCE_SETS": out / "FORCE_SETS"}
    phonon.save(paths["phonopy.yaml"], settings={"force_sets": True, "displacements": True,
                                                  "force_constants": False})
    write_FORCE_SETS(phonon.dataset, filename=paths["FORCE_SETS"])
    if comment:
        for name in ("phonopy.yaml", "FORCE_SETS"):
            record_provenance(paths[name], comment)
    if phonon.band_structure is not None:
        paths["band.yaml"] = out / "band.yaml"
        phonon.write_yaml_band_structure(comment=comment or None, filename=paths["band.yaml"])
    return paths
