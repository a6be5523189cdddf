"""Compiled inference: the energy model through ``torch.compile``, forces and stress by autograd through it.

    E = compiled(energy_model)(graph)          TorchDynamo traces EnergyModel.forward once, dynamic shapes
    F = −∂E/∂r,  σ = (1/V) ∂E/∂ε               the backward graph is traced by AOTAutograd and compiled too

Only the energy model is compiled; :class:`~ase_relaxed.models.output.ForceStressOutput` (or
:class:`~ase_relaxed.models.output.DirectForceOutput`) stays eager around it, so species checks, the strain
trick and the float64 results are exactly the eager ones.  ``dynamic=True`` makes the graph symbolic in the
numbers of atoms and edges: new positions, a new neighbour list or a longer tube reuse the compiled code.
What does compile a new graph (each once, then cached): asking for stress or not (the strain is a leaf or
absent), a direct-force model with and without autograd, a batch of one structure versus several (torch
specialises sizes 0 and 1), float32 versus float64, another device.

Why ``cpp.simdlen = 1`` (inductor on CPU, torch 2.13): the vectorised C++ kernels of the scatter-add of
messages (``index_add``/atomic add over edges) fail to compile, ``InductorError: AssertionError`` on
``is_vec`` in ``cpp.py``, or compile and corrupt the heap at run time (``free(): invalid pointer``) for some
edge counts.  Scalar kernels (simdlen 1) are correct (equal to eager to 3e-7 in float32) and still about 1.5x
eager at 1000 atoms.  The setting is passed as inductor ``config_patches`` of our compile only, never set
globally, so other ``torch.compile`` users in the process keep their vectorised kernels.

The backend counts the graphs it compiles (:attr:`CompiledModel.graphs`); every graph after the first is
logged (logger ``ase_relaxed.models.compiled``, INFO); ``TORCH_LOGS=recompiles`` shows torch's reasons.

>>> from ase_relaxed.models import ModelConfig, build_model
>>> compiled = compile_model(build_model(ModelConfig(species=["C"], channels=4, num_layers=1)), backend="eager")
>>> compiled.graphs, compiled.compile_seconds
(0, 0.0)
"""

from __future__ import annotations

import copy
import logging
import time
import weakref
from typing import Hashable

import torch

from ..errors import InputError
from .energy import EnergyModel
from .output import ForceStressOutput

LOG = logging.getLogger(__name__)

#: inductor settings of our compile only (see the module docstring: vectorised scatter-add kernels break)
INDUCTOR_PATCHES = {"cpp.simdlen": 1}

#: what ``compile=True`` means
DEFAULT_BACKEND = "inductor"


def check_backend(backend: str) -> str:
    """``backend`` if torch.compile knows it (``inductor``, ``aot_eager``, ``eager``, ...), else an InputError.

    >>> check_backend("inductor")
    'inductor'
    """
    known = set(torch._dynamo.list_backends(exclude_tags=())) | {"eager", "aot_eager", "inductor"}
    if backend not in known:
        raise InputError(f"compile backend {backend!r} is not one torch.compile knows; use True (inductor) or one of "
                         f"{sorted(known)}")
    return backend


def check_compilable(model: torch.nn.Module) -> None:
    """Raise a one-line :class:`InputError` unless ``model`` is a graph-network model torch.compile can trace.

    >>> check_compilable(torch.nn.Linear(2, 2))
    Traceback (most recent call last):
    ...
    ase_relaxed.errors.InputError: compile=True works for e3nn graph-network models (EnergyModel), not Linear; ...
    """
    energy = getattr(model, "energy_model", None) if isinstance(model, ForceStressOutput) else None
    if not isinstance(energy, EnergyModel):
        what = type(model).__name__ if energy is None else f"a model of {type(energy).__name__}"
        raise InputError(f"compile=True works for e3nn graph-network models (EnergyModel), not {what}; use "
                         "compile=False for this model")


class _CountingBackend:
    """A torch.compile backend that compiles with ``backend`` and counts (and logs) the graphs it gets."""

    def __init__(self, backend: str, owner: CompiledModel) -> None:
        self.backend = backend
        self.owner = weakref.ref(owner)

    def __call__(self, graph_module: torch.fx.GraphModule, example_inputs: list) -> object:
        owner = self.owner()
        if owner is not None:
            owner.graphs += 1
            if owner.graphs > 1:
                LOG.info("torch.compile: graph %d of %s (a recompilation or a new variant: stress, batch size, "
                         "autograd; TORCH_LOGS=recompiles says why)", owner.graphs, owner.name)
        if self.backend == "inductor":
            from torch._inductor.compile_fx import compile_fx

            return compile_fx(graph_module, example_inputs, config_patches=INDUCTOR_PATCHES)
        from torch._dynamo.backends.registry import lookup_backend

        return lookup_backend(self.backend)(graph_module, example_inputs)


class CompiledModel:
    """A force/stress model whose energy model runs compiled; called like the model itself.

    ``graphs``: graphs compiled so far (forward and backward of one variant count as one);
    ``compile_seconds``: wall time of the calls that compiled something (tracing + code generation);
    ``model``: the wrapper that runs (a shallow copy of the given one: the given module is never changed).
    """

    def __init__(self, model: ForceStressOutput, backend: str = DEFAULT_BACKEND) -> None:
        check_compilable(model)
        self.backend = check_backend(backend)
        self.name = f"{type(model.energy_model).__name__} ({model.dtype}, {next(model.parameters()).device})"
        self.graphs = 0
        self.compile_seconds = 0.0
        self.calls = 0
        wrapper = copy.copy(model)
        wrapper._modules = dict(model._modules)  # a new module table: the caller's wrapper keeps its eager model
        wrapper.energy_model = torch.compile(model.energy_model, backend=_CountingBackend(self.backend, self),
                                             dynamic=True)
        self.model = wrapper.eval()

    @property
    def dtype(self) -> torch.dtype:
        return self.model.dtype

    def __call__(self, data: dict[str, torch.Tensor], **kwargs) -> dict[str, torch.Tensor]:
        """The model's outputs for ``data`` (the keyword arguments of ``ForceStressOutput.forward``)."""
        before, start = self.graphs, time.perf_counter()
        out = self.model(data, **kwargs)
        self.calls += 1
        if self.graphs != before:
            self.compile_seconds += time.perf_counter() - start
        return out


#: compiled models by the caller's module (weakly) or by a key such as a model file's SHA-256
_BY_MODULE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_BY_KEY: dict[tuple, CompiledModel] = {}


def compile_model(model: ForceStressOutput, backend: str = DEFAULT_BACKEND, key: Hashable | None = None,
                  source: torch.nn.Module | None = None) -> CompiledModel:
    """The compiled version of ``model`` (ready for its dtype and device), from a cache when one exists.

    The cache holds one :class:`CompiledModel` per (model, dtype, device, backend): the model is ``key`` when
    given (e.g. a model file's SHA-256, so calculators loading the same file share one compile), else
    ``source`` (the module a caller handed over, held weakly), else ``model`` itself.
    """
    check_compilable(model)
    variant = (model.dtype, str(next(model.parameters()).device), check_backend(backend))
    if key is not None:
        table, entry = _BY_KEY, (key, *variant)
    else:
        table = _BY_MODULE.setdefault(model if source is None else source, {})
        entry = variant
    if entry not in table:
        table[entry] = CompiledModel(model, backend)
    return table[entry]
