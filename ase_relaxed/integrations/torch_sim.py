"""A torch-sim ``ModelInterface`` over any ase_relaxed model: batched MD of many systems at once.

torch-sim (Radical AI, ``pip install 'ase_relaxed[torchsim]'``) integrates a whole batch of
systems with one model call per step.  :class:`TorchSimModel` is that model call for every model
kind the registry loads (the e3nn graph networks, the SOAP kernel model, ...): it turns a
``SimState`` (positions, column-vector cells, ``system_idx``, atomic numbers, one ``pbc`` flag)
into our batched graph (our neighbour list per system, :func:`~ase_relaxed.graph.batch_graphs`),
runs the model's ``ForceStressOutput`` once, and hands back

    energy (n_systems,) eV,  forces (n_atoms, 3) eV/Å,  stress (n_systems, 3, 3) eV/Å³,

with the stress σ = (1/V) ∂E/∂ε of ASE's sign convention, in the model's dtype.  Unknown elements
raise the calculator's :class:`~ase_relaxed.errors.InputError`, naming them.

Periodicity: ``SimState.pbc`` is one bool for the whole batch in torch-sim 0.3.0, so a tube
(periodic along z only) cannot be told apart from a crystal.  Our tubes already live in a 3D box
with vacuum, so :func:`atoms_to_state` states them as ``pbc=True`` after checking that the vacuum
is wider than the model's cutoff plus a margin in every non-periodic direction: then no atom sees a
periodic image across the vacuum and energies, forces and stress equal those of the calculator
with ``pbc=[False, False, True]`` exactly (tests/test_torch_sim.py).  Too little vacuum is an error.

>>> from ase.build import bulk
>>> from ase_relaxed.structures import build_nanotube
>>> model = TorchSimModel("demo-carbon-random", device="cpu")
>>> state = atoms_to_state([bulk("C", "diamond", a=3.57), build_nanotube(5, 0)], model)
>>> out = model(state)
>>> tuple(out["energy"].shape), tuple(out["forces"].shape), tuple(out["stress"].shape)
((2,), (22, 3), (2, 3, 3))
"""

from __future__ import annotations

import copy
import os
from typing import Any, Sequence

import numpy as np
import torch
from ase import Atoms

from .. import keys
from ..calculator import resolve_device, resolve_dtype, resolve_model
from ..errors import AseRelaxedError, InputError
from ..graph import atoms_to_graph, batch_graphs, check_atoms, check_distances, has_volume, neighbor_list
from ..pretrained import DEFAULT_MODEL

EXTRA = "pip install 'ase_relaxed[torchsim]'"
#: Å of vacuum beyond the cutoff that :func:`atoms_to_state` asks for in non-periodic directions (atoms move in MD)
VACUUM_MARGIN = 1.0


class MissingExtraError(AseRelaxedError, ImportError):
    """An optional dependency that is not installed; the message names the extra to install."""


def require_torch_sim() -> Any:
    """Import torch-sim, or raise :class:`MissingExtraError` naming the ``[torchsim]`` extra (one line)."""
    try:
        import torch_sim
        from torch_sim.models.interface import ModelInterface  # noqa: F401
    except ImportError as error:
        raise MissingExtraError(f"torch-sim is needed for ase_relaxed.integrations.torch_sim but could not be "
                                f"imported ({error}): {EXTRA}") from None
    return torch_sim


ts = require_torch_sim()
from torch_sim.models.interface import ModelInterface  # noqa: E402


def _pbc_rows(pbc: Any, n_systems: int) -> np.ndarray:
    """torch-sim's pbc (one bool in 0.3.0; a (3,) or (n_systems, 3) tensor elsewhere) as (n_systems, 3) bools."""
    rows = np.asarray(pbc.detach().cpu() if isinstance(pbc, torch.Tensor) else pbc, dtype=bool)
    return np.broadcast_to(rows if rows.ndim == 0 else rows.reshape(-1, 3), (n_systems, 3)).copy()


class TorchSimModel(ModelInterface):
    """torch-sim model over an ase_relaxed model (a module, a model file or a shipped name).

    ``device`` ("auto": CUDA when available, else CPU), ``dtype`` (None: float64, or "float32"),
    ``neighbor_list`` (our backends: "matscipy", "vesin", "ase"), ``skin`` (Å; > 0 keeps the
    neighbour list while no atom moved more than skin/2, the calculator's Verlet criterion),
    ``min_distance``/``on_close`` as in :class:`~ase_relaxed.RelaxedCalculator`.  A module passed
    in is never converted or moved in place.  Memory scales with atoms × density (a radial cutoff).

    >>> model = TorchSimModel("demo-carbon-random", device="cpu", dtype="float32")
    >>> model.dtype, model.device.type, model.compute_stress, model.memory_scales_with
    (torch.float32, 'cpu', True, 'n_atoms_x_density')
    """

    def __init__(
        self,
        model: torch.nn.Module | str | os.PathLike = DEFAULT_MODEL,
        *,
        device: str | torch.device = "auto",
        dtype: str | torch.dtype | None = None,
        compute_forces: bool = True,
        compute_stress: bool = True,
        neighbor_list: str = "matscipy",
        skin: float = 0.0,
        min_distance: float = 0.5,
        on_close: str = "error",
    ) -> None:
        super().__init__()
        device, dtype = resolve_device(device), resolve_dtype(dtype)
        module = resolve_model(model)
        if module.dtype != dtype or next(module.parameters()).device != device:
            owned = not isinstance(model, torch.nn.Module)
            module = (module if owned else copy.deepcopy(module)).to(device=device, dtype=dtype)
        self.model = module.eval()
        #: False for direct-force models (forces from an output head, not −∂E/∂r: Langevin yes, NVE drifts)
        self.conservative = bool(getattr(module, "conservative", True))
        self._device, self._dtype = device, dtype
        self._compute_forces, self._compute_stress = bool(compute_forces), bool(compute_stress)
        self._memory_scales_with = "n_atoms_x_density"
        self.species = list(self.model.config.species)
        self.cutoff = float(self.model.config.cutoff)
        if skin < 0 or min_distance < 0:
            raise InputError(f"skin and min_distance must be >= 0 Å, got {skin!r} and {min_distance!r}")
        if on_close not in ("error", "warn", "ignore"):
            raise InputError(f"on_close must be 'error', 'warn' or 'ignore', got {on_close!r}")
        self.neighbor_backend, self.skin = neighbor_list, float(skin)
        self.min_distance, self.on_close = float(min_distance), on_close
        self.neighbor_list_builds = 0
        self._cache: tuple | None = None

    # torch-sim's validate_model_outputs sets these when they are off; a flag is all they are
    @ModelInterface.compute_stress.setter
    def compute_stress(self, value: bool) -> None:
        self._compute_stress = bool(value)

    @ModelInterface.compute_forces.setter
    def compute_forces(self, value: bool) -> None:
        self._compute_forces = bool(value)

    # -- state -> graph ---------------------------------------------------------------------------
    @staticmethod
    def _unpack(state: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, Any]:
        """positions, row-vector cells (ASE convention), system_idx, atomic numbers, pbc of a state."""
        get = state.get if isinstance(state, dict) else lambda name, default=None: getattr(state, name, default)
        positions, cell, numbers = get("positions"), get("cell"), get("atomic_numbers")
        if positions is None or cell is None or numbers is None:
            raise InputError("a torch-sim state needs positions, cell and atomic_numbers")
        system_idx = get("system_idx")
        if system_idx is None:
            system_idx = torch.zeros(len(positions), dtype=torch.long, device=positions.device)
        cell = cell.reshape(-1, 3, 3).transpose(1, 2)  # torch-sim stores lattice vectors as columns
        return positions, cell, system_idx, numbers, get("pbc", True)

    def _edges(self, images: list[Atoms]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Neighbour lists of ``images``, reused while nothing but positions changed by < skin/2."""
        snapshot = [(a.numbers, a.cell.array, a.pbc) for a in images]
        positions = [a.positions for a in images]
        if self._cache is not None and self.skin > 0:
            old_snapshot, old_positions, edges = self._cache
            same = len(old_snapshot) == len(snapshot) and all(
                all(np.array_equal(x, y) for x, y in zip(old, new)) for old, new in zip(old_snapshot, snapshot))
            if same:
                moved = max(float(np.linalg.norm(p - q, axis=1).max(initial=0.0))
                            for p, q in zip(positions, old_positions))
                if 2 * moved < self.skin:
                    return edges
        edges = [neighbor_list(a, self.cutoff + self.skin, self.neighbor_backend) for a in images]
        self.neighbor_list_builds += 1
        if self.skin > 0:
            self._cache = ([(n.copy(), c.copy(), p.copy()) for n, c, p in snapshot],
                           [p.copy() for p in positions], edges)
        return edges

    def graph(self, state: Any) -> dict[str, torch.Tensor]:
        """The batched float64 graph (on the model's device) of a ``SimState`` or state dict."""
        positions, cell, system_idx, numbers, pbc = self._unpack(state)
        self.model.check_species(numbers.long())
        counts = torch.bincount(system_idx.long(), minlength=int(cell.shape[0])).tolist()
        if len(counts) != cell.shape[0] or 0 in counts:
            raise InputError(f"system_idx must number {cell.shape[0]} systems 0..n-1, each with atoms")
        pos = positions.detach().to("cpu", torch.float64).numpy()
        cells = cell.detach().to("cpu", torch.float64).numpy()
        z = numbers.detach().cpu().numpy()
        pbc_rows = _pbc_rows(pbc, len(counts))
        starts = np.cumsum([0] + counts)
        images = [Atoms(numbers=z[a:b], positions=pos[a:b], cell=cells[k], pbc=pbc_rows[k])
                  for k, (a, b) in enumerate(zip(starts[:-1], starts[1:]))]
        for k, atoms in enumerate(images):
            try:
                check_atoms(atoms)
            except InputError as error:
                raise InputError(f"system {k}: {error}") from None
        graphs = []
        for k, (atoms, edges) in enumerate(zip(images, self._edges(images))):
            try:
                check_distances(atoms, edges, self.min_distance, self.on_close)
            except InputError as error:
                raise InputError(f"system {k}: {error}") from None
            graphs.append(atoms_to_graph(atoms, self.cutoff, edges=edges))
        return {name: value.to(self._device) for name, value in batch_graphs(graphs).items()}

    # -- the model call ---------------------------------------------------------------------------
    def forward(self, state: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        """energy (n_systems,) eV, forces (n_atoms, 3) eV/Å, stress (n_systems, 3, 3) eV/Å³ of a state."""
        graph = self.graph(state)
        stress = self._compute_stress
        if stress:
            volume = torch.linalg.det(graph[keys.CELL]).abs()
            if bool((volume <= 1e-9).any()):
                k = int(torch.nonzero(volume <= 1e-9)[0])
                raise InputError(f"system {k}: stress σ = (1/V) ∂E/∂ε needs a cell with a volume, but this one "
                                 f"has {float(volume[k]):.3g} Å^3; give it a box or use compute_stress=False")
        out = self.model(graph, compute_forces=self._compute_forces, compute_stress=stress)
        results = {"energy": out[keys.ENERGY].to(self._dtype)}
        if self._compute_forces:
            results["forces"] = out[keys.FORCES].to(self._dtype)
        if stress:
            results["stress"] = out[keys.STRESS].to(self._dtype)
        if not all(bool(torch.isfinite(v).all()) for v in results.values()):
            raise InputError("the model returned NaN or infinite energy/forces/stress (coincident atoms?); "
                             "refusing to hand them on")
        return results


def vacuum_gaps(atoms: Atoms) -> np.ndarray:
    """Width (Å) of the widest atom-free slab across each cell direction (plane spacing × largest fractional gap).

    An atom sees a periodic image across direction i only within that gap, so a gap wider than
    the cutoff means periodicity along i changes nothing.

    >>> from ase_relaxed.structures import build_nanotube
    >>> [round(float(g), 2) for g in vacuum_gaps(build_nanotube(5, 0, vacuum=6.0))[:2]]
    [12.0, 12.0]
    """
    cell = atoms.cell.array
    spacing = abs(np.linalg.det(cell)) / np.linalg.norm(np.cross(cell[[1, 2, 0]], cell[[2, 0, 1]]), axis=1)
    fractions = np.sort(np.mod(atoms.cell.scaled_positions(atoms.positions), 1.0), axis=0)
    gaps = np.diff(np.vstack([fractions, fractions[:1] + 1.0]), axis=0).max(axis=0)
    return gaps * spacing


def atoms_to_state(images: Atoms | Sequence[Atoms], model: TorchSimModel, margin: float = VACUUM_MARGIN) -> Any:
    """A torch-sim ``SimState`` of ``images`` (any sizes, any mix of crystals, tubes, slabs) for ``model``.

    torch-sim 0.3.0 has one ``pbc`` flag per batch: molecules only → False; otherwise True, and every
    direction an image is not periodic along must hold vacuum wider than ``model.cutoff + skin + margin``
    Å (:func:`vacuum_gaps`), so that the periodic images it gains are out of the model's reach.
    """
    images = [images] if isinstance(images, Atoms) else list(images)
    if not images:
        raise InputError("atoms_to_state needs at least one structure")
    periodic = any(a.pbc.any() for a in images)
    reach = model.cutoff + model.skin + margin
    for k, atoms in enumerate(images):
        check_atoms(atoms, model.species)
        if not periodic or atoms.pbc.all():
            continue
        if not has_volume(atoms):
            raise InputError(f"image {k}: pbc={atoms.pbc.tolist()} with a cell without volume; torch-sim 0.3.0 has "
                             f"one pbc flag for all systems, so put it in a box: atoms.center(vacuum={reach:.1f})")
        gaps = vacuum_gaps(atoms)
        short = [i for i in range(3) if not atoms.pbc[i] and gaps[i] <= reach]
        if short:
            raise InputError(f"image {k}: pbc={atoms.pbc.tolist()} becomes pbc=True in torch-sim 0.3.0 (one flag for "
                             f"all systems), so the vacuum along axes {short} ({np.round(gaps[short], 2).tolist()} Å) "
                             f"must exceed cutoff + skin + margin = {reach:.2f} Å: atoms.center(vacuum=...) ")
    dtype, device = model.dtype, model.device
    cat = np.concatenate
    return ts.SimState(
        positions=torch.tensor(cat([a.positions for a in images]), dtype=dtype, device=device),
        masses=torch.tensor(cat([a.get_masses() for a in images]), dtype=dtype, device=device),
        cell=torch.tensor(np.stack([a.cell.array.T for a in images]), dtype=dtype, device=device),
        pbc=bool(periodic),
        atomic_numbers=torch.tensor(cat([a.numbers for a in images]), dtype=torch.long, device=device),
        system_idx=torch.repeat_interleave(torch.arange(len(images), device=device),
                                           torch.tensor([len(a) for a in images], device=device)),
    )


def langevin(model: TorchSimModel, state: Any, steps: int, temperature: float | Sequence[float] = 300.0,
             timestep: float = 0.5, friction: float = 0.01, seed: int = 0,
             initial_temperature: float | Sequence[float] | None = None) -> tuple[Any, np.ndarray]:
    """Run ``steps`` of torch-sim's batched BAOAB Langevin (``ts.nvt_langevin``) on every system of ``state``.

    ``temperature`` in K (one for all, or one per system), ``timestep`` in fs, ``friction`` γ in 1/fs (the
    CLI's ``--friction``); momenta start Maxwell–Boltzmann at ``initial_temperature`` (default: the target).
    The noise is seeded by ``seed`` without touching torch's global random state.  Returns the final state
    and the kinetic temperature (K) of every system at steps 0..steps, shape (steps + 1, n_systems).
    """
    units = ts.units.MetalUnits
    to_tensor = lambda value: torch.as_tensor(value, dtype=model.dtype).to(model.device)  # noqa: E731
    fs = 1e-3 * units.time  # torch-sim's metal time unit is sqrt(amu Å²/eV); units.time is one ps in it
    kT = to_tensor(temperature) * units.temperature
    kT0 = kT if initial_temperature is None else to_tensor(initial_temperature) * units.temperature
    init, update = ts.nvt_langevin(model, dt=to_tensor(timestep * fs), kT=kT, gamma=to_tensor(friction / fs),
                                   seed=seed)
    kelvin = lambda s: (ts.calc_kT(masses=s.masses, momenta=s.momenta, system_idx=s.system_idx)  # noqa: E731
                        / units.temperature).detach().cpu().numpy()
    devices = [model.device] if model.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        state = init(state, kT=kT0)
        temperatures = [kelvin(state)]
        for _ in range(int(steps)):
            state = update(state)
            temperatures.append(kelvin(state))
    return state, np.stack(temperatures)
