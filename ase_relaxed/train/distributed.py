"""Data-parallel training: the process group, disjoint shards of each global batch, and collectives.

Under ``torchrun`` (or ``ase-relaxed train --nproc N``) every rank r of R reads the same data, draws the
same global batch B (the permutation is seeded by (seed, epoch)) and keeps the disjoint shard B_r of it
(contiguous chunks, sizes differing by at most one). The global loss is a mean over B; a rank's share
of it is a sum over its shard divided by the global count,

    L = Σ_r L_r,   L_r = Σ_{k∈B_r} ℓ_k / |B|      (|B|: structures, force components or stress entries),

and since ``DistributedDataParallel`` *averages* gradients over ranks, each rank back-propagates R·L_r
(plus the data-free θ penalty once): the averaged gradient is then exactly ∇L, the gradient one
process computes on the whole batch. A rank whose shard would be empty (a short last batch) runs one
structure with weight 0, so every rank takes part in every all-reduce.

Nothing here is stored in a checkpoint: a run can resume at any world size.

>>> shard_of([10, 11, 12, 13, 14], rank=1, world_size=2)
([13, 14], True)
>>> shard_of([10], rank=1, world_size=2)  # empty shard: one structure, weight 0
([10], False)
>>> choose_backend("auto", cuda=False)
'gloo'
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Iterator, Sequence

import numpy as np
import torch

from ..errors import InputError

BACKEND_ENV = "ASE_RELAXED_DDP_BACKEND"  # gloo | nccl: used when the config says "auto"


@dataclass(frozen=True)
class World:
    """This process's place in the run: rank, world size, local rank, backend and the device it trains on."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str = "none"
    device: str = "cpu"

    @property
    def is_main(self) -> bool:
        """Rank 0 alone writes the log, checkpoints and models."""
        return self.rank == 0

    @property
    def parallel(self) -> bool:
        return self.world_size > 1

    def all_reduce(self, values: torch.Tensor, op: str = "sum") -> torch.Tensor:
        """Sum (or max) of ``values`` over ranks, in place; the identity for one rank."""
        if self.parallel:
            import torch.distributed as dist

            moved = values.to(self.device)
            dist.all_reduce(moved, op=dist.ReduceOp.MAX if op == "max" else dist.ReduceOp.SUM)
            values.copy_(moved.to(values.device))
        return values

    def broadcast(self, values: torch.Tensor) -> torch.Tensor:
        """Rank 0's ``values`` on every rank, in place."""
        if self.parallel:
            import torch.distributed as dist

            moved = values.to(self.device)
            dist.broadcast(moved, src=0)
            values.copy_(moved.to(values.device))
        return values

    def barrier(self) -> None:
        if self.parallel:
            import torch.distributed as dist

            dist.barrier()


def env_world() -> tuple[int, int, int]:
    """(rank, world size, local rank) from the variables torchrun sets; (0, 1, 0) outside it."""
    try:
        values = [int(os.environ.get(name, default)) for name, default in
                  (("RANK", 0), ("WORLD_SIZE", 1), ("LOCAL_RANK", 0))]
    except ValueError:
        raise InputError("RANK, WORLD_SIZE and LOCAL_RANK must be integers (they are set by torchrun)") from None
    rank, world_size, local_rank = values
    if world_size < 1 or not 0 <= rank < world_size:
        raise InputError(f"RANK={rank} does not fit WORLD_SIZE={world_size}")
    return rank, world_size, local_rank


def choose_backend(requested: str, cuda: bool | None = None) -> str:
    """``requested`` (gloo, nccl), else $ASE_RELAXED_DDP_BACKEND, else nccl with CUDA and gloo without."""
    cuda = torch.cuda.is_available() if cuda is None else cuda
    backend = requested if requested != "auto" else os.environ.get(BACKEND_ENV, "").strip().lower() or (
        "nccl" if cuda else "gloo")
    if backend not in ("gloo", "nccl"):
        raise InputError(f"{BACKEND_ENV}={backend!r}: the backend must be gloo or nccl")
    if backend == "nccl" and not cuda:
        raise InputError("distributed backend nccl needs CUDA, and no GPU is visible; use backend gloo on CPU")
    return backend


def check_world(world_size: int, batch_size: int, backend: str) -> None:
    """Input errors before any process group exists: more ranks than structures, or than GPUs for nccl."""
    if world_size > batch_size:
        raise InputError(f"{world_size} ranks but optim.batch_size is {batch_size}: each rank needs at least one "
                         "structure of every global batch; use at most batch_size ranks")
    if backend == "nccl" and world_size > torch.cuda.device_count():
        raise InputError(f"{world_size} ranks with nccl need {world_size} GPUs, {torch.cuda.device_count()} visible")


@contextmanager
def session(requested_backend: str, batch_size: int, timeout_s: float = 600.0) -> Iterator[World]:
    """This process's :class:`World`; with more than one rank, the process group for the duration."""
    rank, world_size, local_rank = env_world()
    if world_size == 1:
        yield World()
        return
    import torch.distributed as dist

    if not dist.is_available():
        raise InputError(f"WORLD_SIZE={world_size} but this torch build has no torch.distributed; train on one "
                         "process or install a torch wheel with distributed support")
    backend = choose_backend(requested_backend)
    check_world(world_size, batch_size, backend)

    device = f"cuda:{local_rank}" if backend == "nccl" else "cpu"
    if backend == "nccl":
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend, timeout=timedelta(seconds=timeout_s))
    try:
        yield World(rank, world_size, local_rank, backend, device)
    finally:
        dist.destroy_process_group()


def wrap(model: torch.nn.Module, world: World) -> torch.nn.Module:
    """``DistributedDataParallel`` around ``model`` for several ranks (gradients averaged); else ``model``."""
    if not world.parallel:
        return model
    import warnings

    from torch.nn.parallel import DistributedDataParallel

    # a few parameters get transposed (non-contiguous) gradients; DDP copies them into its buckets, correctly
    warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
    device_ids = [world.local_rank] if world.device.startswith("cuda") else None
    return DistributedDataParallel(model, device_ids=device_ids)


def shard_of(chosen: Sequence[int], rank: int, world_size: int) -> tuple[list[int], bool]:
    """This rank's contiguous, disjoint chunk of the global batch, and whether it counts (False: weight 0)."""
    chunks = np.array_split(np.asarray(chosen), world_size)
    mine = chunks[rank].tolist()
    return (mine, True) if mine else ([int(chosen[0])], False)


def shares(local: Sequence[dict], whole: Sequence[dict], counts: bool = True) -> dict[str, float]:
    """Fractions of the global batch ``whole`` (labelled graphs) that the shard ``local`` holds, per loss term:
    structures (energy, PITC, PISC), atoms (force components) and labelled stresses; all 0 if not ``counts``.

    >>> from .dataset import STRESS_MASK
    >>> g = lambda n, s: {"num_atoms": torch.tensor([n]), STRESS_MASK: torch.tensor([s])}
    >>> shares([g(2, True)], [g(2, True), g(6, False)])["loss_forces"]
    0.25
    """
    from .. import keys
    from .dataset import STRESS_MASK

    def ratio(key: str) -> float:
        total = sum(int(g[key].sum()) for g in whole)
        return sum(int(g[key].sum()) for g in local) / total if counts and total else 0.0

    structures = len(local) / len(whole) if counts else 0.0
    return {"loss_energy": structures, "loss_pitc": structures, "loss_pisc": structures,
            "loss_forces": ratio(keys.NUM_ATOMS), "loss_stress": ratio(STRESS_MASK)}
