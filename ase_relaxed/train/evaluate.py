"""``ase-relaxed test``: metrics of a model on a labelled file, and parity plots.

>>> # metrics = test_model("model.safetensors", "data.extxyz", plot_dir="parity")
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..calculator import resolve_model
from ..errors import InputError
from .dataset import family_of, labelled_graph, read_labelled
from .metrics import error_metrics, predict


def parity_plot(prediction: dict, path: str | Path, title: str = "") -> Path:
    """Energies per atom and force components, predicted against reference (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 4))
    pairs = [
        (prediction["e_ref"] / prediction["n"], prediction["e"] / prediction["n"], "energy", "eV/atom"),
        (prediction["f_ref"].ravel(), prediction["f"].ravel(), "force components", "eV/Å"),
    ]
    for ax, (ref, pred, what, unit) in zip(axes, pairs):
        ax.scatter(ref, pred, s=4, alpha=0.5)
        low, high = float(min(ref.min(), pred.min())), float(max(ref.max(), pred.max()))
        ax.plot([low, high], [low, high], "k--", lw=0.8)
        rmse = float(np.sqrt(np.mean((pred - ref) ** 2)))
        ax.set(xlabel=f"reference {what} ({unit})", ylabel=f"model {what} ({unit})", title=f"RMSE {rmse:.3g} {unit}")
    fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def test_model(
    model, data_path: str | Path, plot_dir: str | Path | None = None, families: list[str] | None = None
) -> dict[str, float]:
    """Error metrics of ``model`` (module, path or shipped name) on the frames of ``data_path``.

    With ``families``, only frames whose ``info["family"]`` is one of them are used
    (e.g. the held-out chiralities of a training split).
    """
    module = resolve_model(model)
    frames = read_labelled(data_path, module.config.species)
    if families:
        known = sorted({family_of(a) for a in frames})
        unknown = sorted(set(families) - set(known))
        if unknown:
            raise InputError(f"families {unknown} are not in {str(data_path)!r}; it holds {known}")
        frames = [a for a in frames if family_of(a) in families]
    graphs = [labelled_graph(a, module.config.cutoff) for a in frames]
    prediction = predict(module, graphs)
    metrics = error_metrics(prediction)
    if plot_dir is not None:
        metrics["parity_plot"] = str(parity_plot(prediction, Path(plot_dir) / "parity.png", str(data_path)))
    return metrics


test_model.__test__ = False  # not a pytest test
