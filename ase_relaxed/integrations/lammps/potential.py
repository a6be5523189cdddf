"""Any ase_relaxed energy model as a LAMMPS ``pair_style mliap unified`` potential.

LAMMPS calls :meth:`MLIAPPotential.compute_forces` once per step on every MPI rank with that rank's
ML-IAP data (pairs i → j with i local, ``rij`` = x_j − x_i, the element of every local and ghost atom).
With the pair cutoff 2·``rcutfac`` set to the receptive field R = L·r_c, :mod:`.ghost_graph` rebuilds
every bond any local energy depends on, the model gives per-atom energies E_n on that graph, and

    E_rank = Σ_{i local} E_i,    g_n = ∂E_rank/∂x_n  (autograd),   f_p = Σ_{n ∈ subtree(p)} g_n

go back through ``data.eatoms``, ``data.energy`` and ``data.update_pair_forces``.  The result is exact
for any number of layers, any number of ranks and periodic images, on the plain (non-KOKKOS) coupling:
no exchange of ghost features is needed, at the price of a pair list of range L·r_c instead of r_c.

Models: anything :func:`~ase_relaxed.calculator.resolve_model` returns whose forces are −∂E/∂r
(``model.conservative``): the e3nn GNN, the relaxed GNN, the SOAP kernel model.  A direct-force model
is refused: its forces are not a gradient, and ML-IAP only accepts pair forces ∂E/∂r_ij whose sum is
zero on every rank, which direct forces are not.

The object is what ``ase-relaxed export-lammps`` pickles for LAMMPS (LAMMPS loads the file with
``pickle.load``, so only load files you wrote).  It pickles as the model's safetensors bytes plus
provenance, never as torch modules:

>>> import pickle
>>> from ase_relaxed import ModelConfig, build_model
>>> pot = MLIAPPotential(build_model(ModelConfig(species=["C"], channels=4, num_layers=2, cutoff=3.0)))
>>> pot.element_types, pot.rcutfac, pot.receptive_field
(['C'], 3.0, 6.0)
>>> pickle.loads(pickle.dumps(pot)).provenance["num_layers"]
2
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import numpy as np
import torch
from ase.data import atomic_numbers

from ... import keys
from ..._version import __version__
from ...calculator import resolve_model
from ...errors import InputError, ModelFileError
from ...models.io import file_sha256, load_model, save_model
from .ghost_graph import bonds, build_tree, pair_forces

#: the pickled state's format; a file with another one is refused with what to do
FORMAT = "ase_relaxed-lammps-mliap-v1"
#: the KOKKOS coupling (device arrays, ``update_pair_forces_gpu``) is untested here, so it is refused
KOKKOS_REFUSED = ("ase_relaxed's potential runs on LAMMPS's plain ML-IAP coupling, not the KOKKOS one "
                  "(pair_style mliap/kk): run without '-k on -sf kk'; the plain coupling is exact for "
                  "multi-layer models on any number of ranks")


def receptive_field(config: Any) -> float:
    """R = num_layers × cutoff for a message-passing model, the cutoff for a one-shot descriptor model.

    >>> from ase_relaxed import ModelConfig
    >>> receptive_field(ModelConfig(species=["C"], cutoff=4.5, num_layers=2))
    9.0
    """
    return float(getattr(config, "num_layers", 1)) * float(config.cutoff)


def _model_bytes(model: torch.nn.Module) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.safetensors")
        save_model(model, path)
        with open(path, "rb") as handle:
            return handle.read()


def _model_from_bytes(blob: bytes) -> torch.nn.Module:
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.safetensors")
        with open(path, "wb") as handle:
            handle.write(blob)
        return load_model(path)


class MLIAPPotential:
    """An ase_relaxed model behind LAMMPS's ``MLIAPUnified`` interface (registered as its subclass).

    ``model``: a module, a model file or a shipped name; ``dtype``: "float32"/"float64" (default: the
    model's own); ``element_types``: the LAMMPS element names in the model's order (default: its species).
    """

    def __init__(self, model: Any, dtype: str | None = None, name: str | None = None) -> None:
        source = model
        model = resolve_model(model)
        if not getattr(model, "conservative", True):
            raise InputError("a direct-force model cannot drive LAMMPS: ML-IAP needs pair forces ∂E/∂r_ij and its "
                             "forces are not −∂E/∂r; export a conservative model (config forces: conservative)")
        if dtype is not None:
            model = model.to(getattr(torch, dtype))
        self.interface = None
        self._setup(model.eval(), {
            "model": name or (str(source) if isinstance(source, (str, os.PathLike)) else type(model).__name__),
            "model_sha256": getattr(model, "sha256", None),
            "source_file": getattr(model, "source_file", None),
        })

    def _setup(self, model: torch.nn.Module, provenance: dict) -> None:
        self.model = model
        config = model.config
        self.cutoff = float(config.cutoff)
        self.receptive_field = receptive_field(config)
        self.element_types = list(config.species)
        self.ndescriptors, self.nparams = 1, 1
        self.rcutfac = 0.5 * self.receptive_field  # ML-IAP's pair cutoff is 2·rcutfac
        self._numbers = torch.tensor([atomic_numbers[s] for s in self.element_types], dtype=torch.long)
        self.provenance = {
            **provenance, "format": FORMAT, "package_version": __version__, "dtype": str(model.dtype).split(".")[-1],
            "species": self.element_types, "cutoff": self.cutoff, "num_layers": getattr(config, "num_layers", 1),
            "receptive_field": self.receptive_field, "model_kind": type(model.energy_model).__name__,
        }

    # ---- pickling: safetensors bytes + provenance, never torch modules --------------------------------
    def __getstate__(self) -> dict:
        return {"format": FORMAT, "model": _model_bytes(self.model), "provenance": self.provenance}

    def __setstate__(self, state: dict) -> None:
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            found = state.get("format") if isinstance(state, dict) else type(state).__name__
            raise ModelFileError(f"this LAMMPS potential file is {found!r}, not {FORMAT!r}: re-export it with "
                                 f"`ase-relaxed export-lammps` of ase_relaxed {__version__}")
        model = _model_from_bytes(state["model"])
        dtype = state["provenance"].get("dtype")
        if dtype:
            model = model.to(getattr(torch, dtype))
        self.interface = None
        self._setup(model.eval(), {k: state["provenance"].get(k) for k in ("model", "model_sha256", "source_file")})
        self.provenance = dict(state["provenance"])

    # ---- the MLIAPUnified interface ----------------------------------------------------------------------
    def compute_descriptors(self, data: Any) -> None:
        """Nothing: the model is its own descriptor."""

    def compute_gradients(self, data: Any) -> None:
        """Nothing: forces come from :meth:`compute_forces`."""

    def compute_forces(self, data: Any) -> None:
        """Per-atom energies, total energy and pair forces of one rank's ML-IAP ``data`` (see module doc)."""
        if hasattr(data, "forward_exchange"):
            raise InputError(KOKKOS_REFUSED)
        local = np.asarray(data.iatoms, dtype=np.int64)
        energies, fij = self.evaluate(np.asarray(data.pair_i), np.asarray(data.jatoms), np.asarray(data.rij),
                                      np.asarray(data.elems), local, int(data.ntotal), int(data.npairs))
        data.eatoms = energies
        data.energy = float(energies.sum())
        if fij.shape[0]:
            data.update_pair_forces(fij)

    def evaluate(self, pair_i: np.ndarray, pair_j: np.ndarray, rij: np.ndarray, elems: np.ndarray,
                 local: np.ndarray, ntotal: int, npairs: int) -> tuple[np.ndarray, np.ndarray]:
        """``(E_i for the local atoms in order, f_p (npairs, 3))`` from one rank's pair list (numpy in, out)."""
        elems = np.asarray(elems, dtype=np.int64)
        if elems.size and (elems.min() < 0 or elems.max() >= len(self.element_types)):
            raise InputError(f"LAMMPS passed element indices outside the model's {self.element_types}: "
                             "map every atom type to one of them in pair_coeff")
        tree = build_tree(pair_i[:npairs], pair_j[:npairs], rij[:npairs], local, ntotal)
        edges = torch.from_numpy(bonds(tree.positions, self.cutoff))
        dtype = self.model.dtype
        positions = torch.from_numpy(tree.positions).to(dtype).requires_grad_(True)
        n = positions.shape[0]
        data = {
            keys.POSITIONS: positions,
            keys.ATOMIC_NUMBERS: self._numbers[torch.from_numpy(elems[tree.nodes])],
            keys.CELL: torch.zeros(1, 3, 3, dtype=dtype),
            keys.PBC: torch.zeros(1, 3, dtype=torch.bool),
            keys.EDGE_INDEX: edges,
            keys.EDGE_SHIFT: torch.zeros(edges.shape[1], 3, dtype=dtype),
            keys.BATCH: torch.zeros(n, dtype=torch.long),
            keys.NUM_ATOMS: torch.tensor([n]),
        }
        atomic = self.model.energy_model(data)[keys.ATOMIC_ENERGY]
        is_local = torch.from_numpy(tree.is_local)
        energy = atomic[is_local].sum()
        (gradient,) = torch.autograd.grad(energy, positions, allow_unused=True)
        gradient = np.zeros((n, 3)) if gradient is None else gradient.detach().to(torch.float64).numpy()
        fij = pair_forces(tree, gradient, npairs)
        where = np.full(ntotal, -1, dtype=np.int64)
        where[tree.nodes] = np.arange(n)
        energies = atomic.detach().to(torch.float64).numpy()[where[local]]
        return np.ascontiguousarray(energies), np.ascontiguousarray(fij)


def register_with_lammps() -> bool:
    """Make :class:`MLIAPPotential` a virtual subclass of LAMMPS's ``MLIAPUnified`` (False without LAMMPS)."""
    try:
        from lammps.mliap.mliap_unified_abc import MLIAPUnified
    except Exception:  # noqa: BLE001 - no LAMMPS, or one whose python module fails to import
        return False
    MLIAPUnified.register(MLIAPPotential)
    return True


def write_potential(potential: MLIAPPotential, path: str | os.PathLike) -> str:
    """Pickle ``potential`` to ``path`` (``.pkl``) and return the file's SHA-256.

    Not ``.pt``: LAMMPS opens ``.pt``/``.pth`` files with ``torch.load``, which refuses pickles of objects.
    """
    import pickle

    path = os.fspath(path)
    if path.endswith((".pt", ".pth")):
        raise InputError(f"{path!r}: LAMMPS opens .pt/.pth files with torch.load, which refuses this file; "
                         "name it .pkl")
    with open(path, "wb") as handle:
        pickle.dump(potential, handle)
    return file_sha256(path)
