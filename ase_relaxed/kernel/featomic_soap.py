"""Standard SOAP power spectrum from featomic, as a differentiable torch module (positions and cell).

Bartók, Kondor, Csányi, PRB 87, 184115 (2013); featomic (Musil et al., J. Chem. Phys. 154, 114109
(2021)) computes the expansion of the smeared neighbour density of centre i of species a,

    ρ_i^a(r) = Σ_{j∈a, j≠i} u(r_ij) exp(−|r − r_ij|² / 2σ²) f_c(r_ij) ≈ Σ_{nlm} c^a_{nlm}(i) R_n(r) Y_lm(r̂),
    u(r) = 1 / (1 + (r / r₀)^m)   (radial scaling, Willatt, Musil, Ceriotti, PCCP 20, 29661 (2018)),

on GTO radial functions R_n (exact Gaussian–radial integrals, n < n_max, l ≤ l_max), and the power spectrum

    p_i(a n, a' n', l) = Σ_m c^a_{nlm}(i) c^{a'}_{n'lm}(i) / √(2l+1),

together with its analytic derivatives ∂p_i/∂r_j and ∂p_i/∂H|_r (H: the cell, rows = lattice vectors).
We keep each unordered pair (a n) ≤ (a' n') once and multiply off-diagonal entries by √2, so that p·q
equals the dot product of the full (symmetric) spectra; the kernel model then uses p̂ = p / |p|.

:class:`FeatomicPowerSpectrum` wraps the computation as a ``torch.autograd.Function``: its forward is
featomic's values, its backward contracts the incoming gradient G_i = ∂L/∂p_i with featomic's gradient
blocks,

    ∂L/∂r_j = Σ_i (∂p_i/∂r_j)ᵀ G_i,        ∂L/∂H = Σ_i (∂p_i/∂H)ᵀ G_i,

so forces (−∂E/∂r) and stress ((1/V) ∂E/∂ε, with r → r(1+ε), H → H(1+ε) in
:class:`~ase_relaxed.models.output.ForceStressOutput`) follow by ordinary autograd.  Non-periodic
directions are given fictitious cell vectors longer than the structure plus the cutoff, so a tube
(pbc F, F, T) sees exactly its axial images (featomic itself accepts only all-or-nothing periodicity).

>>> from ase.build import nanotube
>>> from ase_relaxed.graph import atoms_to_graph
>>> soap = FeatomicSOAP(["C"], cutoff=4.0, n_max=4, l_max=3)
>>> p = soap(atoms_to_graph(nanotube(5, 0, length=2), soap.cutoff))
>>> tuple(p.shape), soap.dimension, bool(torch.allclose(p.norm(dim=1), torch.ones(40, dtype=p.dtype)))
((40, 40), 40, True)
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from ase import Atoms
from ase.data import atomic_numbers

from .. import keys
from ..errors import InputError

__all__ = ["FeatomicSOAP", "FeatomicPowerSpectrum", "SOAPGradients", "compute_soap", "featomic_calculator",
           "featomic_version"]


def _featomic():
    try:
        import featomic
    except ImportError as error:  # pragma: no cover - featomic is an install requirement
        raise ImportError("the kernel model's default descriptor needs featomic: pip install 'featomic>=0.6.7'"
                          ) from error
    logging.getLogger().addFilter(_CellWarningFilter())
    return featomic


class _CellWarningFilter(logging.Filter):
    """featomic warns on every call that "cell" gradients changed meaning; we want exactly ∂p/∂H at fixed r."""

    def filter(self, record: logging.LogRecord) -> bool:
        return '"cell" gradients has changed' not in record.getMessage()


def featomic_version() -> str:
    """The installed featomic version (for benchmark provenance)."""
    return _featomic().__version__


def featomic_calculator(cutoff: float, n_max: int, l_max: int, sigma: float, smoothing: float,
                        center_atom_weight: float = 0.0, radial_scale: float | None = 1.5,
                        radial_exponent: int = 4):
    """featomic.SoapPowerSpectrum with a shifted-cosine cutoff, Gaussian density, GTO radial basis.

    ``center_atom_weight``: weight of the centre's own Gaussian in its density (0: left out; it is the same
    for every environment, so it only adds a constant to p and squeezes all kernel values towards 1).
    ``radial_scale`` r₀ (Å) and ``radial_exponent`` m: neighbour weights u(r) = 1 / (1 + (r/r₀)^m)
    (featomic's "Willatt2018" scaling, Willatt, Musil, Ceriotti, PCCP 20, 29661 (2018)), so the nearest
    shells dominate the spectrum; ``radial_scale=None``: every neighbour has weight 1.
    """
    density = {"type": "Gaussian", "width": float(sigma), "center_atom_weight": float(center_atom_weight)}
    if radial_scale is not None:
        density["scaling"] = {"type": "Willatt2018", "rate": 1.0, "scale": float(radial_scale),
                              "exponent": int(radial_exponent)}
    return _featomic().SoapPowerSpectrum(
        cutoff={"radius": float(cutoff), "smoothing": {"type": "ShiftedCosine", "width": float(smoothing)}},
        density=density,
        basis={"type": "TensorProduct", "max_angular": int(l_max), "radial": {"type": "Gto", "max_radial": n_max - 1}},
    )


def featomic_atoms(positions: np.ndarray, numbers: np.ndarray, cell: np.ndarray, pbc: np.ndarray,
                   cutoff: float) -> Atoms:
    """An ase.Atoms featomic can read: all-periodic with long fictitious vectors in the non-periodic
    directions (perpendicular to the periodic ones), or fully open with a zero cell."""
    pbc = np.asarray(pbc, bool)
    if not pbc.any():
        return Atoms(numbers=numbers, positions=positions, pbc=False)
    cell = np.array(cell, dtype=np.float64)
    periodic = cell[pbc]
    if np.linalg.matrix_rank(periodic, tol=1e-9) < len(periodic):
        raise InputError(f"the periodic cell vectors are degenerate: {periodic.tolist()}")
    # orthonormal complement of the periodic vectors
    basis = np.linalg.svd(periodic.reshape(-1, 3))[2]
    complement = basis[len(periodic):]
    extent = float(np.ptp(positions, axis=0).max()) if len(positions) else 0.0
    length = extent + 2 * cutoff + 1.0
    for k, vector in zip(np.flatnonzero(~pbc), complement):
        cell[k] = length * vector
    if np.linalg.det(cell) < 0:  # keep a right-handed cell
        cell[np.flatnonzero(~pbc)[0]] *= -1
    return Atoms(numbers=numbers, positions=positions, cell=cell, pbc=True)


@dataclass
class SOAPGradients:
    """Dense featomic output for a list of systems (centres concatenated in system order).

    ``values`` (n, D) unnormalised p_i; ``pair_centre``, ``pair_atom`` (P,) global indices (i, j) of the
    gradient samples ∂p_i/∂r_j with ``positions`` (P, 3, D); ``cell`` (n, 3, 3, D) ∂p_i/∂H_ab or None.
    """

    values: torch.Tensor
    pair_centre: torch.Tensor | None = None
    pair_atom: torch.Tensor | None = None
    positions: torch.Tensor | None = None
    cell: torch.Tensor | None = None


def compute_soap(calculator, systems: Sequence[Atoms], species: Sequence[str], n_max: int, l_max: int,
                 gradients: Sequence[str] = (), centres: Sequence[int] | None = None) -> SOAPGradients:
    """Run featomic on ``systems`` and return dense, √2-weighted, (a n) ≤ (a' n') spectra (and gradients).

    ``centres``: only these atoms of a single system are centres (rows in that order); all atoms are
    neighbours.  Without it every atom of every system is a centre.
    """
    from metatensor import Labels

    _featomic()  # a clear message if it is missing; the log filter
    numbers = [atomic_numbers[s] for s in species]
    pairs = [(a, b) for ia, a in enumerate(numbers) for b in numbers[ia:]]
    radial = [(n1, n2) for n1 in range(n_max) for n2 in range(n1, n_max)]
    props = np.array([[deg, n1, n2] for deg in range(l_max + 1) for n1, n2 in radial], dtype=np.int32)
    factor_same = torch.tensor([1.0 if n1 == n2 else math.sqrt(2.0) for _ in range(l_max + 1) for n1, n2 in radial],
                               dtype=torch.float64)
    n_props = len(props)
    sizes = [len(s) for s in systems]
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    if centres is not None:
        if len(systems) != 1:
            raise InputError("centres= selects atoms of a single system")
        row_of = {int(c): k for k, c in enumerate(centres)}
        selected = Labels(["system", "atom"], np.array([[0, int(c)] for c in centres], dtype=np.int32).reshape(-1, 2))
        n_rows = len(centres)
    else:
        selected, n_rows = None, int(offsets[-1])
    out = calculator.compute(list(systems), gradients=list(gradients), selected_samples=selected,
                             selected_properties=Labels(["l", "n_1", "n_2"], props))
    values = torch.zeros(n_rows, len(pairs) * n_props, dtype=torch.float64)
    result = SOAPGradients(values)
    pos_centre, pos_atom, pos_values, cell_values = [], [], [], None
    if "cell" in gradients:
        cell_values = torch.zeros(n_rows, 3, 3, values.shape[1], dtype=torch.float64)
    for key, block in out.items():
        _, t1, t2 = (int(v) for v in key.values)
        column = pairs.index((t1, t2)) * n_props
        columns = slice(column, column + n_props)
        factor = factor_same if t1 == t2 else torch.full((n_props,), math.sqrt(2.0), dtype=torch.float64)
        order = _property_order(block.properties.values, props)
        samples = block.samples.values
        if centres is None:
            rows = torch.as_tensor(offsets[samples[:, 0]] + samples[:, 1], dtype=torch.long)
        else:
            rows = torch.as_tensor([row_of[int(a)] for a in samples[:, 1]], dtype=torch.long)
        block_values = torch.as_tensor(np.asarray(block.values))[:, order] * factor
        values[rows, columns] = block_values
        if "positions" in gradients:
            grad = block.gradient("positions")
            gs = grad.samples.values
            pos_centre.append(rows[torch.as_tensor(gs[:, 0], dtype=torch.long)])
            pos_atom.append(torch.as_tensor(offsets[gs[:, 1]] + gs[:, 2], dtype=torch.long))
            g = torch.as_tensor(np.asarray(grad.values))[:, :, order] * factor
            pos_values.append((columns, g))
        if cell_values is not None:
            grad = block.gradient("cell")
            g = torch.as_tensor(np.asarray(grad.values))[:, :, :, order] * factor
            cell_values[rows[torch.as_tensor(grad.samples.values[:, 0], dtype=torch.long)], :, :, columns] = g
    if "positions" in gradients:
        result.pair_centre = torch.cat(pos_centre) if pos_centre else torch.zeros(0, dtype=torch.long)
        result.pair_atom = torch.cat(pos_atom) if pos_atom else torch.zeros(0, dtype=torch.long)
        dense = torch.zeros(len(result.pair_centre), 3, values.shape[1], dtype=torch.float64)
        start = 0
        for columns, g in pos_values:
            dense[start:start + len(g), :, columns] = g
            start += len(g)
        result.positions = dense
    result.cell = cell_values
    return result


def _property_order(have: np.ndarray, want: np.ndarray) -> np.ndarray:
    """Column permutation taking featomic's property order to ours."""
    index = {tuple(int(x) for x in row): k for k, row in enumerate(have)}
    return np.array([index[tuple(int(x) for x in row)] for row in want])


class FeatomicPowerSpectrum(torch.autograd.Function):
    """p = featomic(positions, cell); backward contracts with ∂p/∂r and ∂p/∂H (first derivatives only)."""

    @staticmethod
    def forward(ctx, positions: torch.Tensor, cell: torch.Tensor, soap: FeatomicSOAP,
                data: dict[str, torch.Tensor]) -> torch.Tensor:
        wants = ctx.needs_input_grad
        gradients = [name for name, w in (("positions", wants[0]), ("cell", wants[1])) if w]
        result = soap.compute(positions.detach(), cell.detach(), data, gradients)
        ctx.result, ctx.cell_shape, ctx.batch = result, cell.shape, data[keys.BATCH]
        ctx.pbc = data[keys.PBC]
        return result.values.to(positions.dtype)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_output: torch.Tensor):
        result = ctx.result
        grad_positions = grad_cell = None
        g = grad_output.to(torch.float64)
        if ctx.needs_input_grad[0]:
            per_pair = torch.einsum("pxd,pd->px", result.positions, g[result.pair_centre])
            grad_positions = torch.zeros(g.shape[0], 3, dtype=torch.float64).index_add(0, result.pair_atom, per_pair)
            grad_positions = grad_positions.to(grad_output.dtype)
        if ctx.needs_input_grad[1]:
            per_atom = torch.einsum("nabd,nd->nab", result.cell, g)
            grad_cell = torch.zeros(ctx.cell_shape, dtype=torch.float64).index_add(0, ctx.batch, per_atom)
            grad_cell = (grad_cell * ctx.pbc[:, :, None]).to(grad_output.dtype)  # fictitious vectors: no dependence
        return grad_positions, grad_cell, None, None


class FeatomicSOAP(torch.nn.Module):
    """Normalised standard SOAP power spectrum p̂_i of every atom of a (batched) graph dict, from featomic.

    Same interface as :class:`~ase_relaxed.kernel.soap.SOAPDescriptor`: ``species``, ``cutoff`` r_c (Å),
    ``n_max`` GTO radial functions, ``l_max``, ``sigma`` Gaussian density width (Å), plus ``smoothing``
    (Å), the width of the shifted-cosine cutoff, and the density weights ``center_atom_weight``,
    ``radial_scale`` r₀, ``radial_exponent`` m (:func:`featomic_calculator`).  ``dimension`` =
    S(S+1)/2 · n_max(n_max+1)/2 · (l_max+1) for S species.  The edge list of the graph is not used: featomic
    builds its own neighbour list.
    """

    def __init__(self, species: Sequence[str], cutoff: float, n_max: int = 8, l_max: int = 6, sigma: float = 0.529,
                 smoothing: float = 0.5, center_atom_weight: float = 0.0, radial_scale: float | None = 1.5,
                 radial_exponent: int = 4) -> None:
        super().__init__()
        self.species, self.cutoff, self.n_max, self.l_max = list(species), float(cutoff), int(n_max), int(l_max)
        self.sigma, self.smoothing = float(sigma), float(smoothing)
        self.calculator = featomic_calculator(self.cutoff, self.n_max, self.l_max, self.sigma, self.smoothing,
                                              center_atom_weight, radial_scale, radial_exponent)

    @property
    def dimension(self) -> int:
        s = len(self.species)
        return s * (s + 1) // 2 * self.n_max * (self.n_max + 1) // 2 * (self.l_max + 1)

    def systems(self, positions: torch.Tensor, cell: torch.Tensor, data: dict[str, torch.Tensor]) -> list[Atoms]:
        """One featomic-ready ase.Atoms per graph of the batch (atoms of a graph are contiguous)."""
        counts = torch.bincount(data[keys.BATCH], minlength=cell.shape[0]).tolist()
        pos = positions.detach().to(torch.float64).cpu().numpy()
        numbers = data[keys.ATOMIC_NUMBERS].cpu().numpy()
        pbc = data[keys.PBC].cpu().numpy()
        cells = cell.detach().to(torch.float64).cpu().numpy()
        out, start = [], 0
        for g, count in enumerate(counts):
            part = slice(start, start + count)
            out.append(featomic_atoms(pos[part], numbers[part], cells[g], pbc[g], self.cutoff))
            start += count
        return out

    def compute(self, positions: torch.Tensor, cell: torch.Tensor, data: dict[str, torch.Tensor],
                gradients: Sequence[str] = ()) -> SOAPGradients:
        """Unnormalised spectra (and the requested featomic gradients) of the graphs in ``data``."""
        return compute_soap(self.calculator, self.systems(positions, cell, data), self.species, self.n_max,
                            self.l_max, gradients)

    def normalise(self, p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(p / |p|, |p|) row-wise; a zero row (no neighbour) stays zero."""
        squared = (p * p).sum(dim=1, keepdim=True)
        norm = torch.sqrt(torch.clamp(squared, min=torch.finfo(p.dtype).tiny))
        return torch.where(squared > 0, p / norm, torch.zeros_like(p)), norm

    def forward(self, data: dict[str, torch.Tensor]) -> torch.Tensor:
        """p̂_i for every atom, shape (n_atoms, dimension), differentiable in positions and cell."""
        p = FeatomicPowerSpectrum.apply(data[keys.POSITIONS], data[keys.CELL], self, data)
        return self.normalise(p)[0]
