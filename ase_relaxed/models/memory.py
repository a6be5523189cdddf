"""How much memory one energy+forces evaluation of a graph network needs, estimated before allocating it.

The peak of a forward + backward pass is the activations kept for the backward pass, which live on the
edges. Measured on CPU (benchmarks/bench_memory.py, peak RSS above the loaded process) for three model sizes,
the bytes per edge follow

    bytes/edge ≈ s · L · (430 + 2.95 · C · (l_max + 1)²)

with s the bytes of the dtype (4 or 8), L interaction layers and C channels: carbon-gfn1 (L = 2, C = 32,
l_max = 2) needs 10.2 kB per edge in float32 (20.4 kB in float64), about 245 kB per atom of a nanotube
(24 edges per atom at 4.5 Å); the estimate is within 7 % of the measured peaks from 4k to 10k atoms.
:func:`check_memory` turns a request that cannot fit into one clear :class:`~ase_relaxed.errors.InputError`
before any tensor is allocated, instead of an out-of-memory kill.

>>> from ase_relaxed.models.config import ModelConfig
>>> config = ModelConfig(num_layers=2, channels=32, l_max=2)
>>> round(estimate_bytes(config, 24_000, "float32") / 2**20)        # a 1000-atom tube: MB
234
"""

from __future__ import annotations

import os

import torch

from ..errors import InputError

__all__ = ["available_bytes", "check_memory", "default_batch_edges", "estimate_bytes"]

#: fitted constants of the per-edge cost (bytes per layer per dtype byte): a fixed part and a part per
#: channel × spherical-harmonic component (benchmarks/results/memory.json)
PER_EDGE_FIXED, PER_EDGE_PER_FEATURE = 430.0, 2.95
#: keep this fraction of the available memory free
HEADROOM = 0.9
#: CPU chunk of ``calculate_batch``: the edges whose activations fill this many bytes. On CPU the per-atom cost grows
#: with the graph (benchmarks/results/batching.json), so chunks are capped by memory, not by count: 40 MiB is 4,097
#: edges for carbon-gfn1 in float32, at the measured optimum (4k) of its curve; bigger models get fewer edges
CPU_BATCH_BYTES = 40 * 2**20


def estimate_bytes(config, n_edges: int, dtype: str | torch.dtype) -> int | None:
    """Peak bytes of one energy+forces pass over ``n_edges`` edges, or None for models without the
    graph-network sizes (num_layers, channels, l_max), such as the kernel family."""
    try:
        layers, channels, l_max = int(config.num_layers), int(config.channels), int(config.l_max)
    except AttributeError:
        return None
    size = torch.empty((), dtype=getattr(torch, dtype) if isinstance(dtype, str) else dtype).element_size()
    return int(n_edges * size * layers * (PER_EDGE_FIXED + PER_EDGE_PER_FEATURE * channels * (l_max + 1) ** 2))


def default_batch_edges(config, dtype: str | torch.dtype, budget: int = CPU_BATCH_BYTES) -> int:
    """Edges per ``calculate_batch`` chunk on CPU: ``budget`` / (bytes per edge), at least 1; 4,000 for models without
    a per-edge estimate (the kernel family).

    >>> from ase_relaxed.models.config import ModelConfig
    >>> default_batch_edges(ModelConfig(num_layers=2, channels=32, l_max=2), "float32")   # carbon-gfn1
    4097
    """
    per_edge = estimate_bytes(config, 1, dtype)
    return 4_000 if not per_edge else max(1, int(budget // per_edge))


def available_bytes(device: torch.device | str = "cpu") -> int | None:
    """Free memory on ``device``: MemAvailable of /proc/meminfo on CPU (Linux), the CUDA allocator's free
    memory on a GPU; None where it cannot be read. ``ASE_RELAXED_MEMORY_GB`` overrides it (tests, shared nodes)."""
    override = os.environ.get("ASE_RELAXED_MEMORY_GB")
    if override:
        return int(float(override) * 2**30)
    device = torch.device(device)
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def check_memory(config, n_edges: int, n_atoms: int, dtype: str | torch.dtype,
                 device: torch.device | str = "cpu") -> None:
    """Raise InputError when one pass over this graph will not fit in the free memory of ``device``."""
    need = estimate_bytes(config, n_edges, dtype)
    free = available_bytes(device) if need else None
    if need is None or free is None or need <= HEADROOM * free:
        return
    half = ", use float32" if str(dtype).endswith("float64") else ""
    raise InputError(f"evaluating {n_atoms:,} atoms ({n_edges:,} edges) needs about {need / 2**30:.1f} GB on "
                     f"{torch.device(device).type}, but {free / 2**30:.1f} GB are free: split the system (LAMMPS "
                     f"with MPI ranks, docs/lammps.md){half}, or use a machine with more memory")
