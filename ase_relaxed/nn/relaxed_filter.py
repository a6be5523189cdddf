"""Relaxed edge filter: learnable symmetry-breaking weights θ in every layer.

Hofgard et al., "Relaxed Equivariant Graph Neural Networks" (arXiv:2407.20471), Sec. 3:
each interaction layer carries a weight vector θ in the irreps

    θ ∈ m × (0e + 0o + 1o + 1e + 2e + 2o + … up to l_relaxed)

and every edge i → j uses the filter

    a_ij = TP(θ, Y(r̂_ij))                              (shared tensor product)
    m_ij = TP(h_j, a_ij ; w(|r_ij|))                   (the usual weighted message)

instead of the bare spherical harmonics Y. θ starts as 1 on ``0e`` and 0 elsewhere,
so a_ij = TP(1·0e, Y) ∝ Y and the model is exactly E(3)-equivariant at
initialisation.  Because θ is an equivariant quantity itself, the model is
*jointly* equivariant,

    f(R·x ; D(R)θ) = D(R) f(x ; θ),

so with a trained θ it keeps exactly the operations g with D(g)θ = θ (the
stabiliser of θ, see :func:`ase_relaxed.relaxed.stabilizer`).

The filter's irreps hold both parities for every l ≤ max(l_max, l_relaxed): a
non-scalar θ (e.g. a ``1e`` axial vector or a ``0o`` pseudoscalar) maps Y onto
the parity-swapped irreps, which the message tensor product then uses.

>>> from e3nn import o3
>>> f = RelaxedEdgeFilter(o3.Irreps.spherical_harmonics(2), l_relaxed=2)
>>> str(f.irreps_theta)
'1x0e+1x0o+1x1o+1x1e+1x2e+1x2o'
>>> float(f.theta_blocks()["2e"].abs().sum())  # exactly equivariant at initialisation
0.0
"""

from __future__ import annotations

import torch
from e3nn import o3

from .harmonics import wigner_d


def relaxed_irreps(l_relaxed: int, multiplicity: int = 1) -> o3.Irreps:
    """m × (0e + 0o + 1o + 1e + … + l e + l o), natural parity first for each l."""
    irreps = []
    for degree in range(l_relaxed + 1):
        natural = (-1) ** degree
        irreps += [(multiplicity, (degree, natural)), (multiplicity, (degree, -natural))]
    return o3.Irreps(irreps)


class RelaxedEdgeFilter(torch.nn.Module):
    """a_ij = TP(θ, Y(r̂_ij)) with learnable θ (one per layer)."""

    def __init__(self, irreps_sh: o3.Irreps | str, l_relaxed: int = 2, multiplicity: int = 1) -> None:
        super().__init__()
        irreps_sh = o3.Irreps(irreps_sh)
        if l_relaxed < 0 or multiplicity < 1:
            raise ValueError("l_relaxed must be >= 0 and multiplicity >= 1")
        self.irreps_theta = relaxed_irreps(l_relaxed, multiplicity)
        l_out = max(irreps_sh.lmax, l_relaxed)
        self.irreps_out = relaxed_irreps(l_out, 1)
        self.tp = o3.FullyConnectedTensorProduct(self.irreps_theta, irreps_sh, self.irreps_out)
        theta = torch.zeros(self.irreps_theta.dim)
        theta[:multiplicity] = 1.0  # the 0e block: the identity of the symmetry breaking
        self.theta = torch.nn.Parameter(theta)

    def forward(self, edge_sh: torch.Tensor) -> torch.Tensor:
        theta = self.theta.to(edge_sh.dtype).expand(edge_sh.shape[0], -1)
        return self.tp(theta, edge_sh)

    def theta_blocks(self) -> dict[str, torch.Tensor]:
        """θ as ``{"0e": (m, 1), "1o": (m, 3), ...}`` in e3nn's basis (detached)."""
        blocks = {}
        for (mul, ir), part in zip(self.irreps_theta, self.irreps_theta.slices()):
            blocks[str(ir)] = self.theta.detach()[part].reshape(mul, ir.dim)
        return blocks

    def penalty_l2(self) -> torch.Tensor:
        """‖θ − θ₀‖²: squared norm of everything but the ``0e`` block (zero at initialisation)."""
        mul = self.irreps_theta[0].mul
        return (self.theta[mul:] ** 2).sum()

    def penalty_group(self) -> torch.Tensor:
        """Σ_blocks ‖θ_block‖ over the non-scalar-``0e`` blocks (group lasso: whole blocks go to zero)."""
        norms = [self.theta[part].norm() for (_, ir), part in zip(self.irreps_theta, self.irreps_theta.slices())
                 if str(ir) != "0e"]
        return torch.stack(norms).sum()


@torch.no_grad()
def transform_theta(model: torch.nn.Module, matrix) -> None:
    """θ ← D(Q) θ in every relaxed layer of ``model`` for an orthogonal 3×3 ``Q`` (in place).

    With the atoms moved by Q as well, the joint equivariance f(Q·x; D(Q)θ) = D(Q) f(x; θ) holds.
    """
    energy_model = getattr(model, "energy_model", model)
    for layer in energy_model.relaxed_filters():
        blocks = [wigner_d(ir, matrix) for mul, ir in layer.irreps_theta for _ in range(mul)]
        d = torch.block_diag(*(torch.from_numpy(b) for b in blocks)).to(layer.theta.dtype)
        layer.theta.copy_(d @ layer.theta)
