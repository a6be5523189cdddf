"""ASE calculator for ase_relaxed models, with batched evaluation.

>>> from ase.build import nanotube
>>> from ase_relaxed import RelaxedCalculator
>>> atoms = nanotube(10, 0, length=2)
>>> atoms.calc = RelaxedCalculator("demo-carbon-random")
>>> atoms.get_forces().shape
(80, 3)

``calc.calculate_batch(images)`` evaluates many structures of any size in one
forward pass per chunk and returns one result dict per image, equal to single
calls.  This is what phonopy displacements and MD replicas use.
"""

from __future__ import annotations

import copy
import math
import os
import warnings
from typing import Iterable, Sequence

import numpy as np
import torch
from ase import Atoms
from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes
from ase.stress import full_3x3_to_voigt_6_stress

from . import keys
from ._version import __version__
from .errors import InputError, NonConservativeForcesWarning, OutOfDomainWarning
from .graph import atoms_to_graph, batch_graphs, check_atoms, check_distances, has_volume, neighbor_list
from .models.compiled import DEFAULT_BACKEND, compile_model
from .models.memory import check_memory, default_batch_edges
from .models.resolve import DEFAULT_DTYPE, model_file, resolve_device, resolve_dtype, resolve_model  # noqa: F401
from .nn.cueq import resolve_tensor_product_backend, select_tensor_product_backend
from .pretrained import DEFAULT_MODEL


def _finite_number(name: str, value: float) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(value) or value < 0:
        raise InputError(f"{name} must be a finite number >= 0 (Å), got {value!r}")
    return value


#: what phonons from direct (non-conservative) forces get wrong
NOT_A_HESSIAN = "force constants from them are not a Hessian: not symmetric, and acoustic sums and frequencies are off"


def warn_if_not_conservative(calc, purpose: str, consequence: str) -> bool:
    """Warn once (per calculator and purpose) when ``calc`` has direct, non-conservative forces.

    For MD and phonon drivers that accept any ASE calculator: calculators that do not say
    (no ``warn_if_not_conservative`` method) are taken to be conservative.

    >>> warn_if_not_conservative(object(), "NVE", "energy drifts")
    False
    """
    method = getattr(calc, "warn_if_not_conservative", None)
    return bool(method(purpose, consequence)) if callable(method) else False


class RelaxedCalculator(Calculator):
    """Energy, per-atom energies, forces and stress from an ase_relaxed model.

    Parameters: ``model`` (module, path or shipped name; default the GFN1-xTB
    carbon model ``carbon-gfn1``), ``device`` ("auto", "cpu", "cuda"), ``dtype``
    (None: float64, whatever the model stores, since float32 round-off of the
    energy ruins finite differences, phonons and tight relaxations; "float32"
    opts in to speed), ``neighbor_list`` backend, ``skin`` (Å, ≥ 0; > 0 reuses
    the neighbour list while no atom moved more than skin/2), ``min_distance``
    (Å, ≥ 0) and ``on_close`` ("error", "warn", "ignore") for overlapping atoms
    (coincident ones always raise), ``max_edges_per_batch`` to bound the memory
    of :meth:`calculate_batch` (default 400k edges on CUDA; on CPU, where large
    graphs cost more per atom than small ones, the edges that fill 40 MiB of
    activations: 4,097 for carbon-gfn1 in float32).

    Stress σ = (1/V) ∂E/∂ε (eV/Å³, positions scaled with the cell) exists for
    every cell with a volume V, vacuum included, so tubes and slabs in a box
    have it too; only cells without volume (molecules) raise
    ``PropertyNotImplementedError``.

    When the model file records its training domain (:mod:`ase_relaxed.models.domain`),
    ``calc.domain_distance`` holds each atom's descriptor distance to the training environments
    (1 = the training coverage radius) after a calculation (``calc.batch_domain_distance``, one array
    per image, after :meth:`calculate_batch`; kept out of ``calc.results`` so that ASE's
    ``SinglePointCalculator(atoms, **calc.results)`` keeps working), and an ``OutOfDomainWarning``
    names the atoms beyond the domain's threshold, once per calculator. ``check_domain=False`` skips the
    check (it costs about 4 ms per call for 1000 atoms on 2 cores, ~2 % of a float32 energy+forces call).

    ``tensor_product`` ("auto", "e3nn", "cuequivariance"): the kernels of the message tensor products; "auto"
    takes cuEquivariance's CUDA kernels on a GPU when ``ase_relaxed[gpu]`` is installed (:mod:`ase_relaxed.nn.cueq`).

    ``compile=True`` runs the energy model through ``torch.compile`` (inductor; a backend name such as
    ``"aot_eager"`` picks another), forces and stress by autograd through it (:mod:`ase_relaxed.models.compiled`):
    the first call compiles (about a minute for carbon-gfn1 on CPU), later ones reuse the code for any positions
    and atom count; ``calc.compile_seconds`` and ``calc.compiled_graphs`` tell what compiling cost.
    """

    implemented_properties = ["energy", "free_energy", "energies", "forces", "stress", "forces_std"]

    def __init__(
        self,
        model: torch.nn.Module | str | os.PathLike = DEFAULT_MODEL,
        device: str | torch.device = "auto",
        dtype: str | torch.dtype | None = None,
        neighbor_list: str = "matscipy",
        skin: float = 0.0,
        min_distance: float = 0.5,
        on_close: str = "error",
        max_edges_per_batch: int | None = None,
        check_domain: bool = True,
        compile: bool | str = False,
        tensor_product: str = "auto",
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.device = resolve_device(device)
        dtype = resolve_dtype(dtype)
        self.skin = _finite_number("skin", skin)
        self.min_distance = _finite_number("min_distance", min_distance)
        if on_close not in ("error", "warn", "ignore"):
            raise InputError(f"on_close must be 'error', 'warn' or 'ignore', got {on_close!r}")
        path = model_file(model)
        module = resolve_model(model)
        self.model_name = "in-memory module" if path is None else str(model)
        self.model_sha256 = None if path is None else getattr(module, "sha256", None)
        if dtype != module.dtype:  # never convert the caller's module; one loaded here is ours
            module = copy.deepcopy(module).to(dtype) if path is None else module.to(dtype)
        if next(module.parameters()).device != self.device:
            module = copy.deepcopy(module).to(self.device)  # never move the caller's module
        if resolve_tensor_product_backend(tensor_product, self.device) != "e3nn" and module is model:
            module = copy.deepcopy(module)  # never change the caller's module's kernels
        #: the message tensor products: "e3nn" or "cuequivariance" (ase_relaxed.nn.cueq)
        self.tensor_product = select_tensor_product_backend(module, tensor_product, self.device)
        self.model = module.eval()
        self.dtype = self.model.dtype
        #: False for direct-force models: forces from an output head, not −∂E/∂r
        self.conservative = bool(getattr(self.model, "conservative", True))
        self._warned_not_conservative: set[str] = set()
        #: ``forces_std(atoms)`` (eV/Å, n × 3) of models with a posterior (the kernel family's Bayesian regression)
        self._forces_std = getattr(getattr(self.model, "energy_model", None), "forces_std", None)
        #: the model's training domain (models/domain.py), or None when its file records none
        self.domain = getattr(module, "domain", None) if check_domain else None
        self.domain_distance: np.ndarray | None = None
        self.batch_domain_distance: list[np.ndarray] | None = None
        self._warned_domain = False
        self.species = list(self.model.config.species)
        self.cutoff = float(self.model.config.cutoff)
        self.neighbor_backend = neighbor_list
        self.on_close = on_close
        if max_edges_per_batch is None:  # CPU: per-atom cost grows with graph size (benchmarks/README.md)
            max_edges_per_batch = (400_000 if self.device.type == "cuda"
                                   else default_batch_edges(self.model.config, self.dtype))
        self.max_edges_per_batch = int(max_edges_per_batch)
        if self.max_edges_per_batch < 1:
            raise InputError(f"max_edges_per_batch must be >= 1, got {max_edges_per_batch!r}")
        self._edge_cache: tuple | None = None
        self.neighbor_list_builds = 0
        self._compiled = None
        if compile:  # one compile per (model file or module, dtype, device), shared by calculators
            backend = DEFAULT_BACKEND if compile is True else str(compile)
            key = None if self.model_sha256 is None else ("sha256", self.model_sha256)
            self._compiled = compile_model(self.model, backend, key=key,
                                           source=model if isinstance(model, torch.nn.Module) else None)

    @property
    def has_forces_std(self) -> bool:
        """Whether the model has a posterior, so that ``results["forces_std"]`` can be asked for."""
        return self._forces_std is not None

    @property
    def compile_seconds(self) -> float:
        """Seconds spent compiling (0 without ``compile``; shared with calculators of the same compiled model)."""
        return 0.0 if self._compiled is None else self._compiled.compile_seconds

    @property
    def compiled_graphs(self) -> int:
        """Graphs torch.compile built for this calculator's model; a count that grows means recompilation."""
        return 0 if self._compiled is None else self._compiled.graphs

    def todict(self, skip_default: bool = True) -> dict:
        """What this calculator is, for trajectories and databases (ASE calls this).

        ``model``: the shipped name or file path given, or "in-memory module"; ``model_sha256``: SHA-256 of
        the model file when the calculator loaded one (None for a module); ``dtype``, ``device``,
        ``version`` (of ase_relaxed), ``forces`` ("conservative" or "direct"), ``domain`` (the training-domain
        check, None if the model file has none) and the neighbour-list settings.

        >>> RelaxedCalculator("demo-carbon-random", device="cpu").todict()["model"]
        'demo-carbon-random'
        """
        return {
            "model": self.model_name,
            "model_sha256": self.model_sha256,
            "forces": "conservative" if self.conservative else "direct",
            "domain": None if self.domain is None else {"factor": self.domain.factor,
                                                        "n_reference": int(self.domain.reference.shape[0])},
            "dtype": str(self.dtype).removeprefix("torch."),
            "device": str(self.device),
            "version": __version__,
            "neighbor_list": self.neighbor_backend,
            "skin": self.skin,
            "min_distance": self.min_distance,
            "on_close": self.on_close,
            "compile": None if self._compiled is None else self._compiled.backend,
            "tensor_product": self.tensor_product,
        }

    def warn_if_not_conservative(self, purpose: str, consequence: str) -> bool:
        """Warn once per ``purpose`` (e.g. "NVE") that a direct-force model's forces are not −∂E/∂r.

        Returns whether the forces are non-conservative.  :func:`warn_if_not_conservative` calls this
        for any ASE calculator (those without the attribute count as conservative).
        """
        if self.conservative:
            return False
        if purpose not in self._warned_not_conservative:
            self._warned_not_conservative.add(purpose)
            warnings.warn(f"model {self.model_name!r} has direct (non-conservative) forces, not −∂E/∂r; in {purpose}, "
                          f"{consequence}; use a conservative model (forces: conservative) for it",
                          NonConservativeForcesWarning, stacklevel=3)
        return True

    # -- graphs -------------------------------------------------------------
    def _edges(self, atoms: Atoms, use_cache: bool = True):
        """Neighbour list of ``atoms``, rebuilt only when needed.

        Reused while numbers, cell and pbc are unchanged and no atom moved
        (with ``skin > 0``: moved less than skin/2, the Verlet-list criterion).
        """
        cache = self._edge_cache if use_cache else None
        if cache is not None:
            numbers, cell, pbc, positions, edges = cache
            same_system = (
                np.array_equal(numbers, atoms.numbers)
                and np.array_equal(cell, atoms.cell.array)
                and np.array_equal(pbc, atoms.pbc)
            )
            if same_system:
                moved = np.linalg.norm(atoms.positions - positions, axis=1).max(initial=0.0)
                if moved == 0.0 or 2 * moved < self.skin:
                    return edges
        edges = neighbor_list(atoms, self.cutoff + self.skin, self.neighbor_backend)
        self.neighbor_list_builds += 1
        if use_cache:
            snapshot = (atoms.numbers.copy(), atoms.cell.array.copy(), atoms.pbc.copy(), atoms.positions.copy())
            self._edge_cache = (*snapshot, edges)
        return edges

    def _graph(self, atoms: Atoms, use_cache: bool = True) -> dict[str, torch.Tensor]:
        check_atoms(atoms, self.species)
        edges = self._edges(atoms, use_cache)
        check_distances(atoms, edges, self.min_distance, self.on_close)
        return atoms_to_graph(atoms, self.cutoff, edges=edges)

    def _evaluate(self, graph: dict[str, torch.Tensor], stress: bool) -> dict[str, torch.Tensor]:
        check_memory(self.model.config, graph[keys.EDGE_INDEX].shape[1], len(graph[keys.POSITIONS]), self.dtype,
                     self.device)  # one clear error before allocating, not an out-of-memory kill
        graph = {k: v.to(self.device) for k, v in graph.items()}
        model = self.model if self._compiled is None else self._compiled
        out = model(graph, compute_forces=True, compute_stress=stress)
        return {k: v.cpu() for k, v in out.items()}

    @staticmethod
    def _check_stress(atoms: Atoms, prefix: str = "") -> None:
        if not has_volume(atoms):
            raise PropertyNotImplementedError(
                f"{prefix}stress σ = (1/V) ∂E/∂ε needs a cell with a volume, but this one has volume "
                f"{atoms.cell.volume:.3g} Å^3 (cell lengths {np.round(atoms.cell.lengths(), 4).tolist()}, "
                f"pbc={atoms.pbc.tolist()}); give it a box (atoms.center(vacuum=...)) or ask for energy and forces only"
            )

    # -- ASE interface -------------------------------------------------------
    def calculate(self, atoms: Atoms | None = None, properties=("energy",), system_changes=all_changes) -> None:
        super().calculate(atoms, properties, system_changes)
        want_stress = "stress" in properties
        if want_stress:
            self._check_stress(self.atoms)
        out = self._evaluate(self._graph(self.atoms), stress=want_stress)
        self.results = self._to_results(out, 0, out[keys.FORCES], out[keys.ATOMIC_ENERGY], want_stress)
        self.domain_distance = self._domain_check(out.get(keys.NODE_FEATURES))
        if "forces_std" in properties:  # calc.get_property("forces_std", atoms)
            self.results["forces_std"] = self._posterior_force_std(self.atoms)

    def _posterior_force_std(self, atoms: Atoms) -> np.ndarray:
        if self._forces_std is None:
            raise PropertyNotImplementedError(f"forces_std needs a model with a posterior (the kernel family); "
                                              f"{self.model_name!r} has none")
        return np.asarray(self._forces_std(atoms))

    @staticmethod
    def _to_results(out, index: int, forces, energies, stress: bool, prefix: str = "") -> dict:
        energy = float(out[keys.ENERGY][index])
        if not (math.isfinite(energy) and bool(torch.isfinite(forces).all())):
            raise InputError(f"{prefix}the model returned NaN or infinite energy/forces (coincident atoms, or "
                             "atoms that coincide after float32 round-off of large coordinates?); refusing to "
                             "hand them on")
        results = {
            "energy": energy,
            "free_energy": energy,
            "energies": energies.numpy().copy(),
            "forces": forces.numpy().copy(),
        }
        if stress:
            results["stress"] = full_3x3_to_voigt_6_stress(out[keys.STRESS][index].numpy())
        return results

    def calculate_batch(
        self, images: Sequence[Atoms], properties: Iterable[str] = ("energy", "forces")
    ) -> list[dict]:
        """Evaluate ``images`` (any sizes) in as few forward passes as memory allows.

        Returns one dict per image with the keys of a single call (energy,
        free_energy, energies, forces, and stress when asked for); with a training domain,
        ``calc.batch_domain_distance`` then holds each image's per-atom domain distances.
        """
        properties = set(properties)
        unknown = properties - set(self.implemented_properties)
        if unknown:
            raise InputError(f"unknown properties {sorted(unknown)}; available: {self.implemented_properties}")
        want_stress = "stress" in properties
        graphs = []
        for index, atoms in enumerate(images):
            try:
                if want_stress:
                    self._check_stress(atoms, f"image {index}: ")
                graphs.append(self._graph(atoms, use_cache=False))
            except InputError as error:
                raise InputError(f"image {index}: {error}") from None
        results: list[dict] = []
        distances: list[np.ndarray | None] = []
        for chunk in self._chunks(graphs):
            out = self._evaluate(chunk[0] if len(chunk) == 1 else batch_graphs(chunk), stress=want_stress)
            sizes = [int(g[keys.NUM_ATOMS][0]) for g in chunk]
            forces = torch.split(out[keys.FORCES], sizes)
            energies = torch.split(out[keys.ATOMIC_ENERGY], sizes)
            features = torch.split(out[keys.NODE_FEATURES], sizes) if keys.NODE_FEATURES in out else [None] * len(sizes)
            for k in range(len(chunk)):
                prefix = f"image {len(results)}: "
                results.append(self._to_results(out, k, forces[k], energies[k], want_stress, prefix))
                distances.append(self._domain_check(features[k], prefix))
        self.batch_domain_distance = None if self.domain is None else distances
        if "forces_std" in properties:
            for atoms, result in zip(images, results):
                result["forces_std"] = self._posterior_force_std(atoms)
        return results

    def _domain_check(self, features: torch.Tensor | None, prefix: str = "") -> np.ndarray | None:
        """Per-atom domain distances (1 = the training coverage radius; None without a domain); warn once,
        naming the atoms, when some lie beyond the domain's factor (:mod:`ase_relaxed.models.domain`)."""
        if self.domain is None or features is None:
            return None
        distance = self.domain.distances(features)
        outside = torch.nonzero(distance > self.domain.factor).flatten().tolist()
        if outside and not self._warned_domain:
            self._warned_domain = True
            shown = ", ".join(map(str, outside[:12])) + (", ..." if len(outside) > 12 else "")
            warnings.warn(f"{prefix}{len(outside)} of {len(distance)} atoms lie outside the training domain of "
                          f"model {self.model_name!r} (descriptor distance up to {float(distance.max()):.2f} × the "
                          f"training coverage radius, threshold {self.domain.factor:g}): atoms [{shown}]; its "
                          "results there are extrapolations (warned once per calculator)", OutOfDomainWarning,
                          stacklevel=4)
        return distance.numpy().copy()

    def _chunks(self, graphs: list[dict]) -> Iterable[list[dict]]:
        chunk, edges = [], 0
        for graph in graphs:
            n_edges = graph[keys.EDGE_INDEX].shape[1]
            if chunk and edges + n_edges > self.max_edges_per_batch:
                yield chunk
                chunk, edges = [], 0
            chunk.append(graph)
            edges += n_edges
        if chunk:
            yield chunk
