"""An RBM coarse-graining pairs of a periodic 8-spin chain reproduces decimation, tanh K' = tanh^2 K, approximately.

The coarse-grained distribution is exact: p(h) = sum_v P(v) p(h|v) over all 2^8 chain states.  Each hidden unit is
placed at the visible site of its largest |W| and given that weight's sign; the nearest-neighbour correlation c of
the ordered hidden spins is inverted with the exact 4-site periodic-chain formula c = (t + t^3) / (1 + t^4),
t = tanh K'.  An RBM does not decimate exactly (no hidden unit is forced onto one site), so the check is loose:
among two seeds the one of smallest KL(P || p_lambda) is kept, its KL must be < 0.03 and |t - tanh^2 K| < 0.04.
"""

import numpy as np
import pytest
import torch
from scipy.optimize import brentq

from ase_relaxed.rg import all_states, chain_distribution
from ase_relaxed.rg.rbm import RBM, kl_divergence, train_rbm


def coarse_grained_tanh(rbm, states, p):
    n_h = rbm.n_hidden
    hs = all_states(n_h).astype(float)
    with torch.no_grad():
        up = torch.sigmoid(2 * (rbm.b + torch.as_tensor(states, dtype=torch.float64) @ rbm.W)).numpy()
    p_h_given_v = np.prod(np.where(hs[None] > 0, up[:, None, :], 1 - up[:, None, :]), axis=2)
    p_h = p @ p_h_given_v
    w = rbm.W.numpy()
    site = np.argmax(np.abs(w), axis=0)
    sign = np.sign(w[site, np.arange(n_h)])
    order = np.argsort(site)
    h = hs[:, order] * sign[order]
    c = np.mean([(p_h * h[:, j] * h[:, (j + 1) % n_h]).sum() for j in range(n_h)])
    return brentq(lambda t: (t + t ** (n_h - 1)) / (1 + t**n_h) - c, 1e-12, 1 - 1e-12), sorted(site.tolist())


@pytest.mark.slow
def test_rbm_coarse_graining_of_chain_approximates_decimation():
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        coupling = 0.5
        states, p = chain_distribution(8, coupling)
        data = states[np.random.default_rng(0).choice(len(p), size=5000, p=p)]
        runs = []
        for seed in (0, 1):
            rbm = RBM(8, 4, seed=seed, weight_scale=0.1, dtype=torch.float64, device="cpu")
            train_rbm(rbm, data, epochs=60, lr=0.02, momentum=0.5, batch_size=50, k=5, seed=seed)
            runs.append((kl_divergence(rbm, states, p), rbm))
        kl, rbm = min(runs, key=lambda r: r[0])
        t, sites = coarse_grained_tanh(rbm, states, p)
        print(f"KL {kl:.4f}, sites {sites}, tanh K' {t:.4f} vs tanh^2 K {np.tanh(coupling) ** 2:.4f}")
        assert kl < 0.03
        assert abs(t - np.tanh(coupling) ** 2) < 0.04
    finally:
        torch.set_num_threads(saved)
