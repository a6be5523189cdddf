"""Second-moment correlation length vs the exact periodic chain; majority-rule block spins."""

import numpy as np
import pytest

from ase_relaxed.errors import InputError
from ase_relaxed.rg import blocking_error, sample_ising_chain
from ase_relaxed.rg.blocks import correlation_length, majority_rule


def test_chain_correlation_length_matches_exact():
    # periodic chain: <s_0 s_r> = (t^r + t^(L-r)) / (1 + t^L), t = tanh K (transfer matrix)
    coupling, L = 1.0, 16
    t = np.tanh(coupling)
    r = np.arange(L)
    corr = (t**r + t ** (L - r)) / (1 + t**L)
    s0, sk = corr.sum(), (corr * np.cos(2 * np.pi * r / L)).sum()
    exact = np.sqrt(s0 / sk - 1) / (2 * np.sin(np.pi / L))
    xi, err = blocking_error(sample_ising_chain(L, coupling, 4000, seed=0), correlation_length)
    assert abs(xi - exact) < 3 * err and err < 0.1 * exact, (xi, err, exact)


def test_majority_rule_blocks():
    s = np.ones((2, 4, 4), dtype=np.int8)
    s[0, :2, :2] = -1
    s[1, 0, 0] = -1
    blocks = majority_rule(s, 2)
    assert blocks.shape == (2, 2, 2)
    assert blocks[0].tolist() == [[-1, 1], [1, 1]] and (blocks[1] == 1).all()
    tied = majority_rule(np.array([[1, -1] * 4] * 200), 2, seed=1)
    assert set(np.unique(tied).tolist()) == {-1, 1} and abs(tied.mean()) < 0.1  # ties broken at random
    with pytest.raises(InputError, match="divisible"):
        majority_rule(np.ones((1, 6, 6)), 4)
