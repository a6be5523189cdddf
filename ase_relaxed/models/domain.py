"""How far each atom's environment lies from what the model was trained on.

The descriptor of atom i is the model's own: the invariant (0e) features of every interaction block,
x_i = [h¹_i(0e), …, hᵀ_i(0e)] (``keys.NODE_FEATURES``), whitened with the training mean μ and covariance
C = V diag(λ) Vᵀ: z_i = (x_i − μ) W with W = V diag(max(λ, ε λ_max))^(−1/2) (``whiten=True``, the default since
the all-carbon ``carbon-gfn1``: with amorphous carbon in the data a few directions carry most of the spread,
and per-component standardisation z_i = (x_i − μ)/s hid compressed diamond among them; files fitted before
store only s and keep it).  From the training environments a farthest-point sample of K references {z_r} is kept;
its coverage radius ρ = max_train min_r |z − z_r| is the largest distance of any training environment to
the references.  The domain distance of an atom is

    d_i = min_r |z_i − z_r| / ρ          (d ≤ 1 for every training environment)

and an atom is outside the domain when d_i > ``factor``, stored with the domain (default 2, calibrated on the
tube-only ``carbon-gfn1-v1``: held-out tubes reach 1.56, a carbon chain 3.1, diamond 4.3; the all-carbon
``carbon-gfn1``, whitened, uses 1.3: its held-out families reach 1.12, a chain 1.51, 200 GPa diamond 1.59;
``scripts/fit_model_domain.py``, benchmarks/results/NAME_domain.json).  This is a
latent-space distance in the spirit of the uncertainty estimates of NequIP/Allegro users, written here
from the definition above.

>>> import torch
>>> train = torch.randn(500, 4, generator=torch.Generator().manual_seed(0))
>>> domain = fit_domain(train, n_reference=64)
>>> bool(domain.distances(train).max() <= 1.0 + 1e-9)
True
>>> bool(domain.distances(train[:1] + 100.0) > domain.factor)
True
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

#: prefix of the domain's tensors in a model file (the rest of the file is the model's state_dict)
TENSOR_PREFIX = "domain."


@dataclass
class Domain:
    """References (K, D) of whitened (or standardised) training descriptors, their mean and spread (D,), the
    whitening matrix W (D, D; None: standardise by the spread), coverage radius ρ."""

    reference: torch.Tensor
    mean: torch.Tensor
    scale: torch.Tensor
    radius: float
    factor: float = 2.0
    info: dict = field(default_factory=dict)
    whitening: torch.Tensor | None = None

    def transform(self, features: torch.Tensor) -> torch.Tensor:
        """z = (x − μ) W, or (x − μ)/s for a domain without a whitening matrix."""
        centred = features.to(torch.float64) - self.mean
        return centred / self.scale if self.whitening is None else centred @ self.whitening

    def distances(self, features: torch.Tensor) -> torch.Tensor:
        """d_i = min_r |z_i − z_r| / ρ for each row of ``features`` (n, D)."""
        if features.shape[-1] != self.reference.shape[1]:
            raise ValueError(f"descriptor has {features.shape[-1]} components, the domain {self.reference.shape[1]}")
        return _nearest(self.transform(features), self.reference) / self.radius

    def outside(self, features: torch.Tensor) -> torch.Tensor:
        """Indices of the atoms whose domain distance exceeds ``factor``."""
        return torch.nonzero(self.distances(features) > self.factor).flatten()

    def tensors(self) -> dict[str, torch.Tensor]:
        names = ("reference", "mean", "scale") + (() if self.whitening is None else ("whitening",))
        return {f"{TENSOR_PREFIX}{k}": getattr(self, k).contiguous() for k in names}

    def metadata(self) -> dict:
        how = "standardised" if self.whitening is None else "whitened"
        return {"radius": self.radius, "factor": self.factor, "n_reference": int(self.reference.shape[0]),
                "descriptor": f"0e features of every interaction block, {how}", **self.info}

    @classmethod
    def from_file_parts(cls, tensors: dict[str, torch.Tensor], metadata: dict) -> "Domain":
        parts = {k.removeprefix(TENSOR_PREFIX): v.to(torch.float64) for k, v in tensors.items()}
        info = {k: v for k, v in metadata.items() if k not in ("radius", "factor", "n_reference", "descriptor")}
        return cls(parts["reference"], parts["mean"], parts["scale"], float(metadata["radius"]),
                   float(metadata.get("factor", 2.0)), info, parts.get("whitening"))


def _nearest(z: torch.Tensor, reference: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
    """min over references of the Euclidean distance, in chunks of rows (bounded memory)."""
    return torch.cat([torch.cdist(z[k:k + chunk], reference).min(dim=1).values for k in range(0, len(z), chunk)])


def fit_domain(features: torch.Tensor, n_reference: int = 1024, factor: float = 2.0, info: dict | None = None,
               whiten: bool = True, eigenvalue_floor: float = 1e-6) -> Domain:
    """Whiten (or, ``whiten=False``, standardise) the training descriptors (n, D), keep a farthest-point sample
    of ``n_reference`` of them; whitening floors the covariance eigenvalues at ``eigenvalue_floor`` × the largest.

    Greedy farthest-point sampling from the environment nearest the mean: each step adds the training
    environment farthest from the references so far; ρ is the largest remaining distance.
    """
    x = features.detach().to(torch.float64)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"need at least two training descriptors as an (n, D) array, got shape {tuple(x.shape)}")
    mean, scale = x.mean(0), x.std(0).clamp(min=1e-8)
    whitening = None
    if whiten:
        eigenvalues, vectors = torch.linalg.eigh(torch.cov((x - mean).T).reshape(x.shape[1], x.shape[1]))
        floor = eigenvalue_floor * float(eigenvalues.max().clamp(min=1e-300))
        whitening = vectors / eigenvalues.clamp(min=floor).sqrt()
    z = (x - mean) / scale if whitening is None else (x - mean) @ whitening
    first = int((z**2).sum(1).argmin())
    chosen, nearest = [first], torch.cdist(z, z[first:first + 1]).squeeze(1)
    for _ in range(min(n_reference, len(z)) - 1):
        index = int(nearest.argmax())
        chosen.append(index)
        nearest = torch.minimum(nearest, torch.cdist(z, z[index:index + 1]).squeeze(1))
    radius = float(nearest.max())
    if radius <= 0:  # every environment is a reference: use the spacing of the references themselves
        radius = float(torch.cdist(z[chosen], z[chosen]).add(torch.eye(len(chosen)) * 1e300).min())
    return Domain(z[chosen].clone(), mean, scale, radius, factor, dict(info or {}, n_environments=len(z)), whitening)


def environment_descriptors(model: torch.nn.Module, frames, batch_size: int = 8) -> torch.Tensor:
    """The descriptors x_i (``keys.NODE_FEATURES``) of every atom of ``frames`` (ASE Atoms), stacked."""
    from .. import keys
    from ..graph import atoms_to_graph, batch_graphs

    frames = list(frames)
    rows = []
    with torch.no_grad():
        for start in range(0, len(frames), batch_size):
            graphs = [atoms_to_graph(a, model.config.cutoff) for a in frames[start:start + batch_size]]
            out = model(batch_graphs(graphs), compute_forces=False)
            if keys.NODE_FEATURES not in out:
                raise ValueError(f"{type(model).__name__} gives no per-atom descriptor; no domain can be fitted")
            rows.append(out[keys.NODE_FEATURES].to(torch.float64))
    return torch.cat(rows)
