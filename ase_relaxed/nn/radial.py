"""Radial basis: Bessel functions times a smooth polynomial cutoff envelope.

    B_n(r) = sqrt(2 / r_c) * sin(n π r / r_c) / r,            n = 1 … N
    u(x)   = 1 - (p+1)(p+2)/2 x^p + p(p+2) x^(p+1) - p(p+1)/2 x^(p+2),   x = r / r_c

(Klicpera et al., DimeNet, ICLR 2020, eqs. 7-8.)  ``u`` and its first two
derivatives vanish at ``r_c``; beyond the cutoff the product is exactly zero,
so edges longer than ``r_c`` contribute nothing.

>>> import torch
>>> basis = BesselBasis(cutoff=5.0, num_basis=8)
>>> basis(torch.tensor([1.0, 6.0])).shape
torch.Size([2, 8])
"""

from __future__ import annotations

import math

import torch


class PolynomialEnvelope(torch.nn.Module):
    """Smooth cutoff u(r / r_c) of degree ``p`` (zero for r >= r_c)."""

    def __init__(self, cutoff: float, p: int = 6) -> None:
        super().__init__()
        self.cutoff = float(cutoff)
        self.p = int(p)

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        p = self.p
        x = r / self.cutoff
        u = 1.0 - (p + 1) * (p + 2) / 2 * x**p + p * (p + 2) * x ** (p + 1) - p * (p + 1) / 2 * x ** (p + 2)
        return u * (x < 1.0)


class BesselBasis(torch.nn.Module):
    """Bessel radial basis multiplied by :class:`PolynomialEnvelope`."""

    def __init__(self, cutoff: float, num_basis: int = 8, p: int = 6) -> None:
        super().__init__()
        self.cutoff = float(cutoff)
        self.register_buffer("frequencies", torch.arange(1, num_basis + 1) * math.pi / self.cutoff)
        self.envelope = PolynomialEnvelope(cutoff, p)

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        r = r.unsqueeze(-1)
        prefactor = math.sqrt(2.0 / self.cutoff)
        return prefactor * torch.sin(self.frequencies * r) / r * self.envelope(r)
