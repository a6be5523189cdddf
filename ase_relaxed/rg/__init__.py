"""Variational renormalisation group with stacked RBMs on the Ising model (Mehta & Schwab, arXiv:1410.3831).

``ising``: Wolff + checkerboard Metropolis sampler and observables; ``autocorr``: integrated
autocorrelation time (Madras-Sokal windowing); ``exact``: enumeration of tiny lattices and exact 1D
decimation; ``rbm``: ±1 restricted Boltzmann machine with CD-k / PCD and L1; ``stack``: layer-by-layer
stack and safetensors files; ``analysis``: receptive fields, locality scores; ``blocks``: majority-rule
block spins and the second-moment correlation length.
"""

from .autocorr import autocorrelation, blocking_error, integrated_autocorrelation_time, mean_and_error
from .exact import all_states, chain_distribution, decimate_chain, exact_ising
from .ising import abs_magnetisation, energy_per_spin, sample_ising, sample_ising_chain, susceptibility

__all__ = [
    "abs_magnetisation", "all_states", "autocorrelation", "blocking_error", "chain_distribution", "decimate_chain",
    "energy_per_spin", "exact_ising", "integrated_autocorrelation_time", "mean_and_error", "sample_ising",
    "sample_ising_chain", "susceptibility",
]
