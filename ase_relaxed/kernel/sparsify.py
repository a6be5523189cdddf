"""Choosing the kernel's representative environments: CUR decomposition or farthest-point sampling.

The kernel model needs W ≪ (training atoms) representatives p_w.  SPARC's MLFF (Sharma, Kumar,
Suryanarayana, arXiv:2408.07554) picks them by CUR sparsification; we use the deterministic,
iterative CUR of Imbalzano et al. (J. Chem. Phys. 148, 241730 (2018)) on the rows of the descriptor
matrix X (one row p̂_i per training environment):

    v₁ = top right-singular vector of X,     π_i = (X v₁)_i²   (leverage of row i on v₁),
    pick i* = argmax π_i,     X ← X (1 − x̂ x̂ᵀ),  x̂ = X_{i*} / |X_{i*}|,

repeated W times: each pick is the environment that carries most of the variance not yet spanned
by the ones already chosen.  Farthest-point sampling (:func:`farthest_point_sampling`)
maximises the smallest Euclidean distance instead and stays available (``selection="fps"``):

    i_{k+1} = argmax_i min_{j ≤ k} |p̂_i − p̂_{i_j}|.

>>> import torch
>>> x = torch.eye(4, dtype=torch.float64) * torch.tensor([4.0, 3.0, 2.0, 1.0], dtype=torch.float64)[:, None]
>>> cur_selection(x, 3)
[0, 1, 2]
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["cur_selection", "farthest_point_sampling", "select_representatives"]


def farthest_point_sampling(descriptors: torch.Tensor, count: int, seed: int = 0) -> list[int]:
    """Indices of ``count`` rows chosen greedily to maximise the minimum Euclidean distance."""
    n = descriptors.shape[0]
    count = min(count, n)
    generator = np.random.default_rng(seed)
    chosen = [int(generator.integers(n))]
    distance = torch.linalg.norm(descriptors - descriptors[chosen[0]], dim=1)
    for _ in range(count - 1):
        index = int(torch.argmax(distance))
        chosen.append(index)
        distance = torch.minimum(distance, torch.linalg.norm(descriptors - descriptors[index], dim=1))
    return chosen


def cur_selection(descriptors: torch.Tensor, count: int, power_iterations: int = 30) -> list[int]:
    """Indices of ``count`` rows of ``descriptors`` (n, D) chosen by iterative CUR (deterministic).

    The top singular vector of the projected X comes from the D × D Gram matrix P XᵀX P by power
    iteration (matrix-vector products only), warm-started from the previous step's vector, so one step
    costs O(D²) plus one (n × D) product.
    """
    generator = torch.Generator().manual_seed(0)
    x = descriptors.to(torch.float64)
    n = x.shape[0]
    count = min(int(count), n)
    xtx = x.T @ x
    projector = torch.eye(x.shape[1], dtype=torch.float64)
    top = torch.linalg.eigh(xtx)[1][:, -1]
    chosen: list[int] = []
    for _ in range(count):
        for _ in range(power_iterations):  # warm-started power iteration for the top singular vector
            top = projector @ (xtx @ (projector @ top))
            top = top / torch.linalg.norm(top).clamp_min(1e-300)
        score = (x @ (projector @ top)) ** 2
        if chosen:
            score[chosen] = -1.0
        index = int(torch.argmax(score))
        chosen.append(index)
        row = projector @ x[index]
        length = torch.linalg.norm(row)
        if length <= 1e-12:  # the rest lies in the span of the chosen rows: take any unchosen ones
            taken = set(chosen)
            rest = [i for i in range(n) if i not in taken]
            return chosen + rest[: count - len(chosen)]
        unit = row / length
        projector = projector - torch.outer(projector @ unit, unit)
        top = projector @ top + 1e-3 * torch.randn(x.shape[1], dtype=torch.float64, generator=generator)
    return chosen


def select_representatives(descriptors: torch.Tensor, count: int, selection: str = "cur", seed: int = 0) -> list[int]:
    """``count`` row indices by ``selection``: "cur" (:func:`cur_selection`), "fps" (farthest-point
    sampling from a random start) or "random"."""
    if selection == "cur":
        return cur_selection(descriptors, count)
    if selection == "fps":
        return farthest_point_sampling(descriptors, count, seed)
    if selection == "random":
        generator = torch.Generator().manual_seed(seed)
        return torch.randperm(descriptors.shape[0], generator=generator)[: min(count, descriptors.shape[0])].tolist()
    raise ValueError(f"selection must be 'cur', 'fps' or 'random', got {selection!r}")
