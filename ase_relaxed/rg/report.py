"""What a trained stack does to Ising samples: Monte Carlo reference values, receptive-field statistics per layer,
reconstructed observables, and the figures (used by ``ase-relaxed rg plot`` and ``scripts/rg_ising_experiment.py``).

Per layer :math:`l` (``sizes[l]`` hidden units on an ``L x L`` lattice) the block scale is
:math:`b_l = L/\\sqrt{n_l}` (2 for 400-100, 4 for 400-25); locality is reported at :math:`R = b_l` and at
:math:`R = L/4`, each against its shuffled baseline (:func:`~ase_relaxed.rg.analysis.summarize_fields`).
A unit is *live* when its own weight column has :math:`\\|W^{(l)}_{:j}\\| > 0.1\\max_j\\|W^{(l)}_{:j}\\|`; the L1
penalty drives the others to zero, and their receptive fields are noise (``*_live`` statistics leave them out).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ._checks import check_int
from .analysis import effective_radius, summarize_fields
from .autocorr import blocking_error, mean_and_error
from .blocks import correlation_length, majority_rule
from .ising import abs_magnetisation, energy_per_spin
from .stack import RBMStack

OBSERVABLES = (("abs_m", abs_magnetisation), ("energy", energy_per_spin))


def monte_carlo_summary(spins: np.ndarray, seed: int = 0) -> dict:
    """⟨|m|⟩ and ⟨E/N⟩ (units of J) with autocorrelation-corrected errors, :math:`\\xi_{2nd}` of the samples
    and :math:`b\\,\\xi_{2nd}` of their majority-rule blocks (b = 2, 4 where the block lattice is at least 2x2).

    >>> from ase_relaxed.rg import sample_ising
    >>> s = monte_carlo_summary(sample_ising(8, 0.2, 200, seed=0))
    >>> 0 < s["abs_m"]["mean"] <= 1, -2 <= s["energy"]["mean"] < 0, s["xi_2nd"]["sigma"] > 0
    (True, True, True)
    """
    mc = {}
    for name, fn in OBSERVABLES:
        mean, sigma, tau = mean_and_error(fn(spins))
        mc[name] = {"mean": mean, "sigma": sigma, "tau_int_samples": tau}
    xi, xi_err = blocking_error(spins, correlation_length)
    mc["xi_2nd"] = {"value": xi, "sigma": xi_err}
    L = spins.shape[1]
    for b in (2, 4):
        if L % b == 0 and L // b >= 2:
            xb, xb_err = blocking_error(majority_rule(spins, b, seed=seed), correlation_length)
            mc[f"majority_b{b}_xi_2nd_times_b"] = {"value": b * xb, "sigma": b * xb_err}
    return mc


def layer_summary(stack: RBMStack, spins: np.ndarray, layer: int, seed: int = 0, gibbs_steps: int = 0,
                  n_reconstruct: int | None = None) -> dict:
    """Receptive-field locality and radius (lattice units) of ``layer`` and the observables of reconstructions
    of the first ``n_reconstruct`` samples (all by default).

    >>> s = layer_summary(RBMStack([16, 4], device="cpu"), np.ones((20, 4, 4), dtype=np.int8), 1)
    >>> s["block_scale"], sorted(s["reconstruction"])
    (2.0, ['abs_m', 'energy', 'xi_2nd'])
    """
    L = spins.shape[1]
    fields = stack.receptive_fields(layer).cpu().double().numpy()
    b = L / np.sqrt(stack.sizes[layer])
    block = summarize_fields(fields, L, b, seed=seed)
    quarter = summarize_fields(fields, L, L / 4, seed=seed)
    sub = spins[:n_reconstruct]
    data = sub.reshape(len(sub), -1).astype(np.float32)
    with torch.no_grad():
        rec = stack.reconstruct(data, layer, seed=seed, gibbs_steps=gibbs_steps).cpu().numpy().reshape(sub.shape)
    recon = {name: {"mean": float(fn(rec).mean()), "std_of_mean": float(fn(rec).std() / np.sqrt(len(rec)))}
             for name, fn in OBSERVABLES}
    if len(rec) >= 20:
        rxi, rxi_err = blocking_error(rec, correlation_length)
        recon["xi_2nd"] = {"value": rxi, "sigma": rxi_err}
    else:
        recon["xi_2nd"] = {"value": correlation_length(rec), "sigma": None}
    radii = [effective_radius(fields[:, j].reshape(L, L)) for j in range(fields.shape[1])]
    norms = stack.layers[layer - 1].W.detach().norm(dim=0).cpu().double().numpy()
    live = norms >= 0.1 * norms.max()
    live_fields = summarize_fields(fields[:, live], L, b, seed=seed)
    return {"layer": layer, "units": stack.sizes[layer], "block_scale": float(b),
            "locality_at_block_scale": block["locality"],
            "locality_at_block_scale_shuffled": block["locality_shuffled"],
            "locality": quarter["locality"], "locality_shuffled": quarter["locality_shuffled"],
            "locality_radius": L / 4, "locality_std": quarter["locality_std"],
            "radius": quarter["radius"], "radius_median": float(np.median(radii)),
            "radius_half_median": quarter["radius_half_median"], "radius_half": quarter["radius_half"],
            "radius_half_shuffled": quarter["radius_half_shuffled"], "live_units": int(live.sum()),
            "radius_half_median_live": live_fields["radius_half_median"],
            "locality_at_block_scale_live": live_fields["locality"],
            "radius_shuffled": quarter["radius_shuffled"], "gibbs_steps": gibbs_steps, "n_reconstructed": len(sub),
            "reconstruction": recon}


def analyse(stack: RBMStack, spins: np.ndarray, seed: int = 0, gibbs_steps: int = 0,
            n_reconstruct: int | None = None) -> dict:
    """:func:`monte_carlo_summary` and :func:`layer_summary` of every layer of ``stack``.

    >>> from ase_relaxed.rg import sample_ising
    >>> a = analyse(RBMStack([16, 4, 1], device="cpu"), sample_ising(4, 0.2, 100, seed=0))
    >>> [layer["units"] for layer in a["layers"]]
    [4, 1]
    """
    gibbs_steps = check_int("gibbs_steps", gibbs_steps, 0)
    return {"monte_carlo": monte_carlo_summary(spins, seed),
            "layers": [layer_summary(stack, spins, layer, seed, gibbs_steps, n_reconstruct)
                       for layer in range(1, stack.n_layers + 1)]}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_receptive_fields(stack: RBMStack, L: int, folder: str | Path, prefix: str, dpi: int = 80) -> list[str]:
    """One PNG per layer, ``{prefix}-layer{l}.png``: the first 25 fields :math:`W^{(1)}\\cdots W^{(l)}`, L x L."""
    plt = _pyplot()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for layer in range(1, stack.n_layers + 1):
        fields = stack.receptive_fields(layer).cpu().double().numpy()
        n = min(fields.shape[1], 25)
        cols = int(np.ceil(np.sqrt(n)))
        rows = int(np.ceil(n / cols))
        fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.6 * rows), squeeze=False)
        for j, ax in enumerate(axes.flat):
            ax.axis("off")
            if j < n:
                f = fields[:, j].reshape(L, L)
                lim = max(np.abs(f).max(), 1e-12)
                ax.imshow(f, cmap="RdBu_r", vmin=-lim, vmax=lim)
        fig.suptitle(f"receptive fields, layer {layer} ({stack.sizes[layer]} units, first {n})")
        fig.tight_layout()
        name = folder / f"{prefix}-layer{layer}.png"
        fig.savefig(name, dpi=dpi)
        plt.close(fig)
        names.append(str(name))
    return names


def plot_locality(layers: list[dict], path: str | Path, dpi: int = 80) -> str:
    """Locality at the block scale and the effective radius per layer, with the shuffled baselines."""
    plt = _pyplot()
    x = [d["layer"] for d in layers]
    fig, (a, b) = plt.subplots(1, 2, figsize=(7, 3))
    a.plot(x, [d["locality_at_block_scale"] for d in layers], "o-", label="trained")
    a.plot(x, [d["locality_at_block_scale_shuffled"] for d in layers], "s--", label="shuffled")
    a.set(xlabel="layer", ylabel="fraction of |f| within R = b_l", xticks=x, ylim=(0, 1))
    a.legend()
    b.plot(x, [d["radius_half_median"] for d in layers], "o-", label="R_1/2 trained (median)")
    b.plot(x, [d["radius_half_shuffled"] for d in layers], "s--", label="R_1/2 shuffled")
    b.plot(x, [d["radius_median"] for d in layers], "^-", label="r_eff trained (median)")
    b.set(xlabel="layer", ylabel="radius (lattice units)", xticks=x)
    b.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return str(path)


def plot_reconstructions(stack: RBMStack, spins: np.ndarray, path: str | Path, n: int = 4, seed: int = 0,
                         gibbs_steps: int = 0, dpi: int = 80) -> str:
    """Rows: ``n`` samples, then their reconstructions from each layer (±1 maps)."""
    plt = _pyplot()
    n = min(n, len(spins))
    L = spins.shape[1]
    data = spins[:n].reshape(n, -1).astype(np.float32)
    rows = [spins[:n]]
    with torch.no_grad():
        for layer in range(1, stack.n_layers + 1):
            rows.append(stack.reconstruct(data, layer, seed=seed, gibbs_steps=gibbs_steps).cpu().numpy()
                        .reshape(n, L, L))
    fig, axes = plt.subplots(len(rows), n, figsize=(1.6 * n, 1.6 * len(rows)), squeeze=False)
    for r, row in enumerate(rows):
        for c in range(n):
            axes[r, c].imshow(row[c], cmap="gray", vmin=-1, vmax=1)
            axes[r, c].set_xticks([])
            axes[r, c].set_yticks([])
        axes[r, 0].set_ylabel("sample" if r == 0 else f"from layer {r}")
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return str(path)
