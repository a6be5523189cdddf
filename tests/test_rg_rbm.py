"""±1 RBM: exact likelihood by enumeration, CD/PCD lowering an exact KL, stack file round trip, bad input."""

import itertools

import numpy as np
import pytest
import torch

from ase_relaxed.errors import InputError, ModelFileError
from ase_relaxed.rg import chain_distribution
from ase_relaxed.rg.rbm import RBM, kl_divergence, train_rbm
from ase_relaxed.rg.stack import RBMStack

F64 = dict(dtype=torch.float64, device="cpu")


@pytest.fixture(autouse=True)
def one_thread():
    # tiny matrices: OpenMP barriers on a shared 2-core machine cost 100x the work
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


def _random_rbm(n_v, n_h, seed):
    rbm = RBM(n_v, n_h, seed=seed, weight_scale=0.5, **F64)
    gen = torch.Generator().manual_seed(seed + 1)
    rbm.a.data = 0.3 * torch.randn(n_v, generator=gen, dtype=torch.float64)
    rbm.b.data = 0.3 * torch.randn(n_h, generator=gen, dtype=torch.float64)
    return rbm


def test_log_likelihood_equals_brute_force_joint_sum():
    # 9 visible, 3 hidden: sum exp(-E(v, h)) over all 2^12 joint states, straight from the energy function.
    rbm = _random_rbm(9, 3, seed=3)
    vs = torch.tensor(list(itertools.product([-1.0, 1.0], repeat=9)), dtype=torch.float64)
    hs = torch.tensor(list(itertools.product([-1.0, 1.0], repeat=3)), dtype=torch.float64)
    energies = torch.stack([rbm.energy(vs, h.expand(len(vs), 3)) for h in hs], dim=1)  # (512, 8)
    log_z = float(torch.logsumexp(-energies.reshape(-1), 0))
    log_p = torch.logsumexp(-energies, dim=1) - log_z
    assert rbm.log_partition_exact() == pytest.approx(log_z, abs=1e-10)
    assert torch.allclose(rbm.log_likelihood(vs), log_p, atol=1e-10)
    # the free energy is the hidden sum: F(v) = -log sum_h exp(-E(v,h))
    assert torch.allclose(rbm.free_energy(vs), -torch.logsumexp(-energies, dim=1), atol=1e-10)
    # enumerating the hidden side (n_visible > n_hidden) and the visible side (transposed RBM) agree
    flipped = RBM(3, 9, **F64)
    flipped.W.data, flipped.a.data, flipped.b.data = rbm.W.T.clone(), rbm.b.clone(), rbm.a.clone()
    assert flipped.log_partition_exact() == pytest.approx(log_z, abs=1e-10)


def test_conditionals_match_joint_distribution():
    rbm = _random_rbm(4, 2, seed=7)
    v = torch.tensor([[1.0, -1.0, 1.0, 1.0]], dtype=torch.float64)
    hs = torch.tensor(list(itertools.product([-1.0, 1.0], repeat=2)), dtype=torch.float64)
    weights = torch.softmax(-rbm.energy(v.expand(4, 4), hs), 0)
    assert torch.allclose(rbm.mean_hidden(v)[0], weights @ hs, atol=1e-12)


@pytest.mark.parametrize("persistent, lr, momentum, k", [(False, 0.05, 0.5, 1), (True, 0.02, 0.0, 5)])
def test_training_lowers_exact_kl(persistent, lr, momentum, k):
    states, p = chain_distribution(6, 0.8)
    rng = np.random.default_rng(0)
    data = states[rng.choice(len(p), size=4000, p=p)]
    rbm = RBM(6, 6, seed=0, **F64)
    kl0 = kl_divergence(rbm, states, p)
    train_rbm(rbm, data, epochs=40, lr=lr, momentum=momentum, batch_size=50, k=k, persistent=persistent, l1=1e-4,
              seed=1)
    kl1 = kl_divergence(rbm, states, p)
    assert kl0 > 1.0 and kl1 < 0.1 * kl0 and kl1 < 0.1, (kl0, kl1)


def test_stack_round_trip_and_refusals(tmp_path):
    stack = RBMStack([9, 4, 2], seed=2, **F64)
    stack.fit(np.sign(np.random.default_rng(0).normal(size=(50, 9))), epochs=1, batch_size=10)
    stack.metadata = {"coupling": 0.4}
    path = tmp_path / "s.safetensors"
    stack.save(path)
    again = RBMStack.load(path, device="cpu")
    assert again.sizes == [9, 4, 2] and again.metadata == {"coupling": 0.4}
    for x, y in zip(stack.layers, again.layers):
        assert torch.equal(x.W, y.W) and torch.equal(x.a, y.a) and torch.equal(x.b, y.b)
    assert torch.equal(stack.receptive_fields(2), stack.layers[0].W @ stack.layers[1].W)
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x80\x04pickle-ish")
    with pytest.raises(ModelFileError):
        RBMStack.load(bad)


def test_bad_input():
    with pytest.raises(InputError, match="n_hidden must be"):
        RBM(4, 0)
    rbm = RBM(3, 2, device="cpu")
    with pytest.raises(InputError, match="only \\+1 and -1"):
        train_rbm(rbm, np.array([[0, 1, 1]]))
    with pytest.raises(InputError, match="shape"):
        rbm.free_energy(torch.ones(2, 5))
    with pytest.raises(InputError, match="lr must be"):
        train_rbm(rbm, np.ones((2, 3)), lr=float("nan"))
