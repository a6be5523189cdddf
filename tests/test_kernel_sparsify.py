"""Representative selection for the kernel model (SPARC's CUR sparsification, Sharma, Kumar, Suryanarayana,
arXiv:2408.07554; iterative CUR of Imbalzano et al., J. Chem. Phys. 148, 241730 (2018); farthest-point sampling)."""

from __future__ import annotations

import pytest
import torch

from ase_relaxed.kernel.sparsify import cur_selection, farthest_point_sampling, select_representatives


def random_rows(n: int = 60, d: int = 12, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=generator, dtype=torch.float64)
    return x / x.norm(dim=1, keepdim=True)


@pytest.mark.parametrize("selection", ["cur", "fps", "random"])
def test_selection_returns_the_requested_number_of_distinct_rows_deterministically(selection) -> None:
    x = random_rows()
    chosen = select_representatives(x, 10, selection, seed=3)
    assert len(chosen) == 10 and len(set(chosen)) == 10
    assert all(0 <= i < len(x) for i in chosen)
    assert select_representatives(x, 10, selection, seed=3) == chosen
    assert len(set(select_representatives(x, 100, selection))) == len(x)  # asking for more: every row once


def test_cur_picks_one_of_each_duplicated_row_first() -> None:
    """Rows that are exact copies of k distinct rows span k directions: CUR's first k picks cover all k."""
    k = 5
    distinct = random_rows(k, 8, seed=1) * torch.linspace(1.0, 2.0, k, dtype=torch.float64)[:, None]
    copies = torch.tensor([0, 1, 2, 3, 4, 0, 0, 1, 3, 3, 3, 2, 4, 4, 1, 0], dtype=torch.long)
    x = distinct[copies]
    chosen = cur_selection(x, k + 3)
    assert len(set(chosen)) == k + 3  # distinct indices even past the rank
    assert sorted(copies[chosen[:k]].tolist()) == list(range(k))  # the first k are one copy of each distinct row


def test_cur_prefers_the_dominant_direction() -> None:
    """CUR's first pick carries most of the variance: the row along the top singular vector of X."""
    x = random_rows(30, 6, seed=2) * 0.1
    x[17] = torch.tensor([5.0, 0.0, 0.0, 0.0, 0.0, 0.0], dtype=torch.float64)
    assert cur_selection(x, 1) == [17]


def test_fps_each_pick_is_the_farthest_from_the_previous_ones() -> None:
    """Every pick after the (random) first maximises the distance to its nearest earlier pick."""
    x = random_rows(40, 3, seed=4)
    chosen = farthest_point_sampling(x, 8, seed=2)
    for k in range(1, len(chosen)):
        nearest = torch.cdist(x, x[chosen[:k]]).min(dim=1).values
        assert nearest[chosen[k]] == nearest.max() > 0
