"""The totally symmetric Γ modes of a tube: radial breathing mode (RBM) and G band.

At η = 0, μ = 0 the pattern ε = (ε₁, ε₂) of the two domain atoms repeats on every atom as u = R_g ε, so
the 6×6 block D(0, 0) of :class:`~ase_relaxed.phonons.HelicalPhonons` holds the totally symmetric (A)
modes: the z translation and the twist (ω = 0), the RBM (ε_a ∥ r̂_a in phase; ω_RBM ∝ 1/d), an
out-of-phase radial optical mode and the two tangential optical modes of the G band, G⁺ (axial) and
G⁻ (circumferential).  Each mode is classified by its weights Σ_a |ε_a · ê_a|² along the radial,
circumferential and axial unit vectors and by its overlap |⟨ε|b⟩|² with the breathing pattern
b = (r̂₁, r̂₂)/√2.

>>> # modes = gamma_modes(helical_phonons(10, 0, calc)); modes["rbm"]
"""

from __future__ import annotations

import numpy as np

from .helical import TO_CM


def gamma_modes(ph) -> dict:
    """Classify the eigenmodes of the totally symmetric block D(η = 0, μ = 0) of ``ph`` (HelicalPhonons).

    Returns the six frequencies (cm⁻¹) with the radial, circumferential and axial weights of each mode
    (Σ over both domain atoms of |ε · ê|², summing to 1), its overlap |⟨ε|b⟩|² with the breathing pattern
    b = (r̂_1, r̂_2)/√2, and the RBM, G⁺ (axial) and G⁻ (circumferential) frequencies.
    """
    domain = ph.line_group.domain
    r_hat = domain.copy()
    r_hat[:, 2] = 0.0
    r_hat /= np.linalg.norm(r_hat, axis=1, keepdims=True)
    phi_hat = np.cross([0.0, 0.0, 1.0], r_hat)
    z_hat = np.tile([0.0, 0.0, 1.0], (2, 1))
    values, vectors = np.linalg.eigh(ph.force_constants.dynamical_matrix(0.0, 0))
    freqs = np.sign(values) * np.sqrt(np.abs(values)) * TO_CM
    eps = vectors.T.reshape(6, 2, 3)  # mode, atom, xyz
    weights = {name: (np.abs(np.einsum("kai,ai->ka", eps, e)) ** 2).sum(axis=1)
               for name, e in (("radial", r_hat), ("circumferential", phi_hat), ("axial", z_hat))}
    breathing = np.abs(np.einsum("kai,ai->k", eps, r_hat / np.sqrt(2))) ** 2
    rbm = int(np.argmax(breathing))
    optical = freqs > 0.5 * freqs.max()  # the tangential optical modes sit at the top of the block
    g_plus = int(np.argmax(np.where(optical, weights["axial"], -1)))
    g_minus = int(np.argmax(np.where(optical, weights["circumferential"], -1)))
    return {"frequencies": freqs.tolist(), **{f"{k}_weight": v.tolist() for k, v in weights.items()},
            "breathing_overlap": breathing.tolist(), "rbm": float(freqs[rbm]),
            "rbm_overlap": float(breathing[rbm]), "g_plus_axial": float(freqs[g_plus]),
            "g_minus_circumferential": float(freqs[g_minus])}
