"""Restricted Boltzmann machine with **±1 (spin) units** for visible and hidden layers, trained by CD-k or PCD.

Energy :math:`E(v,h) = -a\\cdot v - b\\cdot h - v^\\top W h`, :math:`v_i, h_j \\in \\{-1, +1\\}` (Ising spins map
directly to visible units).  Summing out the hidden units gives the free energy
:math:`F(v) = -a\\cdot v - \\sum_j \\log(2\\cosh(b_j + (v^\\top W)_j))`, :math:`p_\\lambda(v) = e^{-F(v)}/Z`.
Conditionals: :math:`p(h_j{=}1|v) = \\sigma(2(b_j + (v^\\top W)_j))`, :math:`p(v_i{=}1|h) = \\sigma(2(a_i + (W h)_i))`.
Training ascends the log-likelihood with L1 regularisation on ``W`` (as in Mehta & Schwab):
:math:`\\Delta W = \\eta(\\langle v\\,\\tanh(b + v^\\top W)\\rangle_{data}
- \\langle \\cdot \\rangle_{model} - \\lambda_1 \\mathrm{sign}\\,W)`,
the model term from k Gibbs steps started at the data (CD-k) or at persistent chains (PCD).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..errors import InputError
from ._checks import check_float, check_int


def default_device() -> torch.device:
    """CUDA when present, else CPU.

    >>> default_device().type in ("cpu", "cuda")
    True
    """
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _log2cosh(x: torch.Tensor) -> torch.Tensor:
    return torch.logaddexp(x, -x)


def _spins(bits: torch.Tensor) -> torch.Tensor:
    return 2.0 * bits - 1.0


class RBM(torch.nn.Module):
    """±1 RBM with ``n_visible`` visible and ``n_hidden`` hidden units,
    :math:`E(v,h) = -a\\cdot v - b\\cdot h - v^\\top Wh`.

    >>> rbm = RBM(4, 2, seed=0, dtype=torch.float64, device="cpu")
    >>> v = torch.ones(3, 4, dtype=torch.float64)
    >>> bool(torch.allclose(rbm.free_energy(v), -rbm.log_partition_exact() - rbm.log_likelihood(v)))
    True
    """

    def __init__(self, n_visible: int, n_hidden: int, seed: int = 0, dtype: torch.dtype = torch.float32,
                 device: str | torch.device | None = None, weight_scale: float = 0.01) -> None:
        super().__init__()
        self.n_visible = check_int("n_visible", n_visible, 1)
        self.n_hidden = check_int("n_hidden", n_hidden, 1)
        weight_scale = check_float("weight_scale", weight_scale, minimum=0.0)
        device = torch.device(device) if device is not None else default_device()
        gen = torch.Generator().manual_seed(int(seed))
        w = weight_scale * torch.randn(self.n_visible, self.n_hidden, generator=gen, dtype=torch.float64)
        self.W = torch.nn.Parameter(w.to(dtype=dtype, device=device), requires_grad=False)
        self.a = torch.nn.Parameter(torch.zeros(self.n_visible, dtype=dtype, device=device), requires_grad=False)
        self.b = torch.nn.Parameter(torch.zeros(self.n_hidden, dtype=dtype, device=device), requires_grad=False)

    def _as_tensor(self, x: torch.Tensor | np.ndarray, width: int, name: str) -> torch.Tensor:
        t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
        t = t.to(dtype=self.W.dtype, device=self.W.device)
        if t.ndim == 1:
            t = t[None]
        if t.ndim != 2 or t.shape[1] != width:
            raise InputError(f"{name} must have shape (n, {width}), got {tuple(t.shape)}")
        return t

    def energy(self, v: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """:math:`E(v,h) = -a\\cdot v - b\\cdot h - v^\\top W h` per row.

        >>> RBM(2, 1, weight_scale=0.0, dtype=torch.float64, device="cpu").energy(torch.ones(1, 2), torch.ones(1, 1))
        tensor([-0.], dtype=torch.float64)
        """
        v = self._as_tensor(v, self.n_visible, "v")
        h = self._as_tensor(h, self.n_hidden, "h")
        return -(v @ self.a) - (h @ self.b) - ((v @ self.W) * h).sum(-1)

    def free_energy(self, v: torch.Tensor) -> torch.Tensor:
        """:math:`F(v) = -a\\cdot v - \\sum_j \\log 2\\cosh(b_j + (v^\\top W)_j)`,
        so :math:`e^{-F(v)} = \\sum_h e^{-E(v,h)}`.

        >>> RBM(3, 2, weight_scale=0.0, dtype=torch.float64, device="cpu").free_energy(torch.ones(1, 3))
        tensor([-1.3863], dtype=torch.float64)
        """
        v = self._as_tensor(v, self.n_visible, "v")
        return -(v @ self.a) - _log2cosh(self.b + v @ self.W).sum(-1)

    def mean_hidden(self, v: torch.Tensor) -> torch.Tensor:
        """:math:`\\langle h_j\\rangle_{p(h|v)} = \\tanh(b_j + (v^\\top W)_j)`.

        >>> RBM(2, 3, weight_scale=0.0, device="cpu").mean_hidden(torch.ones(1, 2)).tolist()
        [[0.0, 0.0, 0.0]]
        """
        v = self._as_tensor(v, self.n_visible, "v")
        return torch.tanh(self.b + v @ self.W)

    def mean_visible(self, h: torch.Tensor) -> torch.Tensor:
        """:math:`\\langle v_i\\rangle_{p(v|h)} = \\tanh(a_i + (W h)_i)`.

        >>> RBM(2, 3, weight_scale=0.0, device="cpu").mean_visible(torch.ones(1, 3)).tolist()
        [[0.0, 0.0]]
        """
        h = self._as_tensor(h, self.n_hidden, "h")
        return torch.tanh(self.a + h @ self.W.T)

    def sample_hidden(self, v: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Up pass: draw :math:`h \\sim p(h|v)`, :math:`p(h_j{=}1|v) = \\sigma(2(b_j + (v^\\top W)_j))`; ±1 values.

        >>> RBM(2, 3, device="cpu").sample_hidden(torch.ones(4, 2)).abs().unique().tolist()
        [1.0]
        """
        p = torch.sigmoid(2.0 * (self.b + self._as_tensor(v, self.n_visible, "v") @ self.W))
        return _spins(torch.bernoulli(p, generator=generator))

    def sample_visible(self, h: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Down pass: draw :math:`v \\sim p(v|h)`, :math:`p(v_i{=}1|h) = \\sigma(2(a_i + (W h)_i))`; ±1 values.

        >>> RBM(2, 3, device="cpu").sample_visible(torch.ones(4, 3)).shape
        torch.Size([4, 2])
        """
        p = torch.sigmoid(2.0 * (self.a + self._as_tensor(h, self.n_hidden, "h") @ self.W.T))
        return _spins(torch.bernoulli(p, generator=generator))

    def gibbs(self, v: torch.Tensor, k: int = 1, generator: torch.Generator | None = None) -> torch.Tensor:
        """``k`` block-Gibbs steps :math:`v \\to h \\sim p(h|v) \\to v' \\sim p(v|h)`; returns the last ``v``.

        >>> RBM(5, 2, device="cpu").gibbs(torch.ones(3, 5), k=2).shape
        torch.Size([3, 5])
        """
        k = check_int("k", k, 1)
        v = self._as_tensor(v, self.n_visible, "v")
        for _ in range(k):
            v = self.sample_visible(self.sample_hidden(v, generator), generator)
        return v

    def log_partition_exact(self) -> float:
        """:math:`\\log Z = \\log\\sum_v e^{-F(v)}` by enumerating the smaller layer (at most 24 units).

        >>> rbm = RBM(3, 2, weight_scale=0.0, dtype=torch.float64, device="cpu")
        >>> round(rbm.log_partition_exact() / math.log(2), 6)  # Z = 2^(3+2)
        5.0
        """
        from .exact import all_states

        small = min(self.n_visible, self.n_hidden)
        if small > 24:
            raise InputError(f"exact log Z needs a layer of at most 24 units, smallest has {small}")
        if self.n_visible <= self.n_hidden:
            v = torch.as_tensor(all_states(self.n_visible), dtype=self.W.dtype, device=self.W.device)
            return float(torch.logsumexp(-self.free_energy(v), 0))
        h = torch.as_tensor(all_states(self.n_hidden), dtype=self.W.dtype, device=self.W.device)
        f_h = -(h @ self.b) - _log2cosh(self.a + h @ self.W.T).sum(-1)
        return float(torch.logsumexp(-f_h, 0))

    def log_likelihood(self, v: torch.Tensor) -> torch.Tensor:
        """Exact :math:`\\log p_\\lambda(v) = -F(v) - \\log Z` (small RBMs only, see :meth:`log_partition_exact`).

        >>> rbm = RBM(2, 2, weight_scale=0.0, dtype=torch.float64, device="cpu")
        >>> round(float(rbm.log_likelihood(torch.ones(1, 2))[0].exp()), 6)  # uniform over 4 states
        0.25
        """
        return -self.free_energy(v) - self.log_partition_exact()


class _FewThreads:
    """Run small CPU matrix work on one thread: on a shared machine OpenMP barriers cost more than the work."""

    def __init__(self, rbm: RBM) -> None:
        self.active = rbm.W.device.type == "cpu" and rbm.n_visible * rbm.n_hidden < 65536
        self.saved = torch.get_num_threads()

    def __enter__(self) -> None:
        if self.active:
            torch.set_num_threads(1)

    def __exit__(self, *exc) -> None:
        if self.active:
            torch.set_num_threads(self.saved)


class CDTrainer:
    """CD-k (or PCD when ``persistent``) training of ``rbm`` on ±1 ``data``, one epoch per :meth:`run_epoch`.

    Per mini-batch :math:`\\Delta W = \\eta[\\langle v\\tanh(b+v^\\top W)^\\top\\rangle_{data} -
    \\langle\\cdot\\rangle_{chain} - \\lambda_1\\,\\mathrm{sign}\\,W]` (same for ``a``, ``b`` without L1),
    with momentum.  :meth:`state` holds everything the next epoch depends on (epoch count, momentum, random
    generator, persistent chains), so a trainer restored with :meth:`load_state` continues bit for bit.

    >>> rbm = RBM(3, 2, dtype=torch.float64, device="cpu")
    >>> t = CDTrainer(rbm, np.array([[1, 1, 1], [-1, -1, -1]] * 10), batch_size=5)
    >>> t.run_epoch(); t.epoch, sorted(t.state())
    (1, ['epoch', 'generator', 'vel.W', 'vel.a', 'vel.b'])
    """

    def __init__(self, rbm: RBM, data: torch.Tensor | np.ndarray, lr: float = 0.01, batch_size: int = 100,
                 k: int = 1, persistent: bool = False, l1: float = 0.0, momentum: float = 0.5, seed: int = 0) -> None:
        self.rbm = rbm
        self.batch_size = check_int("batch_size", batch_size, 1)
        self.k = check_int("k", k, 1)
        self.lr = check_float("lr", lr, positive=True)
        self.l1 = check_float("l1", l1, minimum=0.0)
        self.momentum = check_float("momentum", momentum, minimum=0.0)
        self.persistent = bool(persistent)
        self.x = rbm._as_tensor(data, rbm.n_visible, "data")
        if not bool(torch.all(self.x.abs() == 1)):
            raise InputError("data must hold only +1 and -1 (spin units)")
        self.gen = torch.Generator(device=self.x.device).manual_seed(int(seed))
        n = self.x.shape[0]
        self.batch_size = min(self.batch_size, n)
        self.chains = (self.x[torch.randint(n, (self.batch_size,), generator=self.gen, device=self.x.device)].clone()
                       if self.persistent else None)
        self.vel = [torch.zeros_like(p) for p in (rbm.W, rbm.a, rbm.b)]
        self.epoch = 0

    def run_epoch(self) -> None:
        """One pass over the shuffled data in mini-batches (a last incomplete batch is skipped)."""
        rbm, x, n = self.rbm, self.x, self.x.shape[0]
        with _FewThreads(rbm):
            order = torch.randperm(n, generator=self.gen, device=x.device)
            for start in range(0, n - self.batch_size + 1, self.batch_size):
                v0 = x[order[start:start + self.batch_size]]
                h0 = rbm.mean_hidden(v0)
                if self.persistent:
                    self.chains = rbm.gibbs(self.chains, self.k, self.gen)
                    vk = self.chains
                else:
                    vk = rbm.gibbs(v0, self.k, self.gen)
                hk = rbm.mean_hidden(vk)
                grads = ((v0.T @ h0 - vk.T @ hk) / v0.shape[0] - self.l1 * torch.sign(rbm.W),
                         (v0 - vk).mean(0), (h0 - hk).mean(0))
                for p, g, vv in zip((rbm.W, rbm.a, rbm.b), grads, self.vel):
                    vv.mul_(self.momentum).add_(g, alpha=self.lr)
                    p.data.add_(vv)
        self.epoch += 1

    def state(self) -> dict[str, torch.Tensor]:
        """CPU tensors of the training state (not the weights): ``epoch``, ``generator``, ``vel.*``, ``chains``."""
        out = {"epoch": torch.tensor([self.epoch], dtype=torch.int64), "generator": self.gen.get_state().clone()}
        out.update({f"vel.{name}": v.detach().cpu().clone() for name, v in zip("Wab", self.vel)})
        if self.chains is not None:
            out["chains"] = self.chains.detach().cpu().clone()
        return out

    def load_state(self, state: dict[str, torch.Tensor]) -> None:
        """Restore what :meth:`state` returned (shapes checked)."""
        for name, v in zip("Wab", self.vel):
            t = state[f"vel.{name}"]
            if t.shape != v.shape:
                raise InputError(f"training state vel.{name} has shape {tuple(t.shape)}, expected {tuple(v.shape)}")
            v.copy_(t)
        if self.persistent:
            if "chains" not in state or state["chains"].shape != self.chains.shape:
                raise InputError("training state has no persistent chains of the right shape")
            self.chains.copy_(state["chains"])
        self.gen.set_state(state["generator"].to(torch.uint8))
        self.epoch = int(state["epoch"][0])


def train_rbm(rbm: RBM, data: torch.Tensor | np.ndarray, epochs: int = 10, lr: float = 0.01, batch_size: int = 100,
              k: int = 1, persistent: bool = False, l1: float = 0.0, momentum: float = 0.5, seed: int = 0,
              callback=None) -> RBM:
    """Train ``rbm`` in place for ``epochs`` epochs of :class:`CDTrainer`; ``callback(epoch, rbm)`` after each.

    >>> data = np.array([[1, 1, 1], [-1, -1, -1]] * 50)
    >>> rbm = train_rbm(RBM(3, 2, dtype=torch.float64, device="cpu"), data, epochs=30, lr=0.1, batch_size=20)
    >>> bool(rbm.log_likelihood(torch.ones(1, 3)).exp() > 0.3)  # uniform would be 1/8
    True
    """
    epochs = check_int("epochs", epochs, 1)
    trainer = CDTrainer(rbm, data, lr=lr, batch_size=batch_size, k=k, persistent=persistent, l1=l1,
                        momentum=momentum, seed=seed)
    for epoch in range(epochs):
        trainer.run_epoch()
        if callback is not None:
            callback(epoch, rbm)
    return rbm


def kl_divergence(rbm: RBM, states: np.ndarray, probabilities: np.ndarray) -> float:
    """Exact :math:`KL(P\\|p_\\lambda) = \\sum_v P(v)\\log(P(v)/p_\\lambda(v))` over the listed ``states``.

    ``states`` must hold every state with :math:`P(v) > 0`.

    >>> from ase_relaxed.rg.exact import all_states
    >>> rbm = RBM(3, 2, weight_scale=0.0, dtype=torch.float64, device="cpu")
    >>> abs(kl_divergence(rbm, all_states(3), np.full(8, 1 / 8))) < 1e-12
    True
    """
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 1 or len(p) != len(states) or np.any(p < 0) or not math.isclose(p.sum(), 1.0, rel_tol=1e-9):
        raise InputError("probabilities must be a 1D distribution (>= 0, sum 1) over the given states")
    log_q = rbm.log_likelihood(torch.as_tensor(np.asarray(states))).detach().cpu().double().numpy()
    mask = p > 0
    return float(np.sum(p[mask] * (np.log(p[mask]) - log_q[mask])))
