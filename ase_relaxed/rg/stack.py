"""A stack of ±1 RBMs trained layer by layer (Mehta & Schwab's deep variational RG), saved as safetensors.

Layer ``l`` is trained on hidden samples :math:`h^{(l-1)} \\sim p(h|h^{(l-2)})` of the layer below
(:math:`h^{(0)} = v`, the data).  Reconstruction from layer ``l``: up passes :math:`v\\to h^{(1)}\\to\\dots\\to h^{(l)}`
then down passes :math:`h^{(l)} \\to \\dots \\to v'`, each drawn from the RBM conditionals.  Files hold the
weights as tensors ``layer{i}.W/a/b`` and a JSON header ``ase_relaxed.rg`` (sizes, training metadata); loading
never executes code.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch

from .._version import __version__
from ..errors import InputError, ModelFileError
from ._checks import check_int
from .rbm import RBM, default_device, train_rbm

FORMAT = "ase_relaxed-rbm-stack-v1"


class RBMStack(torch.nn.Module):
    """RBMs of sizes ``sizes[0]-sizes[1]-...``; layer ``i`` has ``sizes[i]`` visible and ``sizes[i+1]`` hidden units.

    >>> stack = RBMStack([16, 4, 1], dtype=torch.float64, device="cpu")
    >>> stack.fit(np.ones((40, 16)), epochs=2, batch_size=10)
    >>> stack.receptive_fields(2).shape, stack.reconstruct(np.ones((3, 16)), layer=1).shape
    (torch.Size([16, 1]), torch.Size([3, 16]))
    """

    def __init__(self, sizes: list[int], seed: int = 0, dtype: torch.dtype = torch.float32,
                 device: str | torch.device | None = None, weight_scale: float = 0.01) -> None:
        super().__init__()
        if len(sizes) < 2:
            raise InputError(f"sizes needs at least 2 layer widths, got {list(sizes)}")
        self.sizes = [check_int("layer size", s, 1) for s in sizes]
        device = torch.device(device) if device is not None else default_device()
        self.layers = torch.nn.ModuleList(
            RBM(n_v, n_h, seed=seed + i, dtype=dtype, device=device, weight_scale=weight_scale)
            for i, (n_v, n_h) in enumerate(zip(self.sizes[:-1], self.sizes[1:])))
        self.metadata: dict = {}
        self.extra: dict[str, torch.Tensor] = {}

    @property
    def n_layers(self) -> int:
        """Number of RBMs.

        >>> RBMStack([4, 2, 1], device="cpu").n_layers
        2
        """
        return len(self.layers)

    def _layer(self, layer: int) -> int:
        layer = check_int("layer", layer, 0)
        if layer > self.n_layers:
            raise InputError(f"layer must be between 0 and {self.n_layers}, got {layer}")
        return layer

    def up(self, v: torch.Tensor | np.ndarray, layer: int, seed: int = 0) -> torch.Tensor:
        """Sampled hidden spins :math:`h^{(l)}` of ``v`` after ``layer`` up passes (``layer=0`` returns ``v``).

        >>> RBMStack([4, 2], device="cpu").up(np.ones((5, 4)), 1).shape
        torch.Size([5, 2])
        """
        layer = self._layer(layer)
        gen = torch.Generator(device=self.layers[0].W.device).manual_seed(int(seed))
        x = self.layers[0]._as_tensor(v, self.sizes[0], "v")
        for rbm in self.layers[:layer]:
            x = rbm.sample_hidden(x, gen)
        return x

    def down(self, h: torch.Tensor | np.ndarray, layer: int, seed: int = 0) -> torch.Tensor:
        """Sampled visible spins from hidden spins ``h`` of ``layer`` after ``layer`` down passes.

        >>> RBMStack([4, 2], device="cpu").down(np.ones((5, 2)), 1).shape
        torch.Size([5, 4])
        """
        layer = self._layer(layer)
        gen = torch.Generator(device=self.layers[0].W.device).manual_seed(int(seed) + 1)
        x = self.layers[layer - 1]._as_tensor(h, self.sizes[layer], "h") if layer else h
        for rbm in reversed(self.layers[:layer]):
            x = rbm.sample_visible(x, gen)
        return x

    def reconstruct(self, v: torch.Tensor | np.ndarray, layer: int, seed: int = 0,
                    gibbs_steps: int = 0) -> torch.Tensor:
        """Up to ``layer`` and back down, :math:`v \\to h^{(l)} \\to v'`, by sampled passes.

        ``gibbs_steps`` > 0 first runs that many block-Gibbs steps :math:`h^{(l-1)} \\leftrightarrow h^{(l)}`
        in the top RBM (a DBN sample of the top layer's model rather than of one up pass) before going down.

        >>> RBMStack([4, 2], device="cpu").reconstruct(np.ones((2, 4)), 1).abs().unique().tolist()
        [1.0]
        """
        layer = self._layer(layer)
        gibbs_steps = check_int("gibbs_steps", gibbs_steps, 0)
        if gibbs_steps == 0 or layer == 0:
            return self.down(self.up(v, layer, seed), layer, seed)
        top = self.layers[layer - 1]
        gen = torch.Generator(device=top.W.device).manual_seed(int(seed) + 2)
        below = top.gibbs(self.up(v, layer - 1, seed), gibbs_steps, gen)
        return self.down(below, layer - 1, seed)

    def hidden_data(self, data: torch.Tensor | np.ndarray, layer: int, seed: int = 0) -> torch.Tensor:
        """Training input of RBM ``layer`` (0-based): :math:`h^{(l)}` drawn layer by layer with generators
        seeded ``seed + 100 + i``, so that the same lower layers always give the same input (resumes).

        >>> RBMStack([4, 2, 1], device="cpu").hidden_data(np.ones((3, 4)), 1).shape
        torch.Size([3, 2])
        """
        layer = check_int("layer", layer, 0)
        if layer >= self.n_layers:
            raise InputError(f"layer must be between 0 and {self.n_layers - 1}, got {layer}")
        x = self.layers[0]._as_tensor(data, self.sizes[0], "data")
        for i in range(layer):
            x = self.layers[i].sample_hidden(x, torch.Generator(device=x.device).manual_seed(seed + 100 + i))
        return x

    def fit(self, data: torch.Tensor | np.ndarray, start_layer: int = 0, callback=None, seed: int = 0,
            **train_kwargs) -> None:
        """Train layers ``start_layer..`` in order, each on sampled hidden spins of the one below (:func:`train_rbm`).

        ``callback(layer_index, stack)`` runs after each layer (checkpointing).

        >>> s = RBMStack([4, 2], device="cpu"); s.fit(np.ones((10, 4)), epochs=1, batch_size=5); s.n_layers
        1
        """
        for i in range(start_layer, self.n_layers):
            train_rbm(self.layers[i], self.hidden_data(data, i, seed), seed=seed + i, **train_kwargs)
            if callback is not None:
                callback(i, self)

    def receptive_fields(self, layer: int) -> torch.Tensor:
        """Products of weight matrices :math:`W^{(1)}W^{(2)}\\cdots W^{(l)}`: column ``j`` is hidden unit ``j``'s field.

        >>> RBMStack([6, 3, 2], device="cpu").receptive_fields(2).shape
        torch.Size([6, 2])
        """
        layer = self._layer(layer)
        if layer == 0:
            raise InputError("receptive fields exist for layers 1..n_layers")
        field = self.layers[0].W
        for rbm in self.layers[1:layer]:
            field = field @ rbm.W
        return field.detach()

    def save(self, path: str | os.PathLike, extra: dict[str, torch.Tensor] | None = None) -> None:
        """Write weights to a ``.safetensors`` file with the sizes and :attr:`metadata` as a JSON header.

        ``extra`` tensors (a training state) are stored as ``train.<name>``; the file is written to a temporary
        name and renamed, so a kill mid-write leaves the previous file intact.

        >>> import tempfile
        >>> p = os.path.join(tempfile.mkdtemp(), "s.safetensors"); s = RBMStack([4, 2], device="cpu"); s.save(p)
        >>> bool(torch.equal(RBMStack.load(p, device="cpu").layers[0].W, s.layers[0].W))
        True
        """
        from safetensors.torch import save_file

        tensors = {}
        for i, rbm in enumerate(self.layers):
            for name in ("W", "a", "b"):
                tensors[f"layer{i}.{name}"] = getattr(rbm, name).detach().cpu().contiguous()
        for name, t in (extra or {}).items():
            tensors[f"train.{name}"] = t.detach().cpu().contiguous()
        header = {"format": FORMAT, "ase_relaxed.rg": json.dumps(
            {"sizes": self.sizes, "units": "spin (+1/-1)", "package_version": __version__,
             "metadata": self.metadata})}
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(f"{path}.tmp{os.getpid()}")
        save_file(tensors, str(tmp), metadata=header)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | torch.device | None = None) -> RBMStack:
        """Read a file written by :meth:`save` (safetensors only; a pickle or a damaged file is refused).

        Extra tensors saved with it are in :attr:`extra` (names without the ``train.`` prefix).

        >>> RBMStack.load("/nonexistent.safetensors")
        Traceback (most recent call last):
        ...
        ase_relaxed.errors.ModelFileError: RBM-stack file '/nonexistent.safetensors' does not exist
        """
        from ..models.io import read_safetensors

        header, tensors = read_safetensors(path, "RBM-stack file")
        if header.get("format") != FORMAT:
            raise ModelFileError(f"{str(path)!r} is not an {FORMAT} file (format {header.get('format')!r})")
        info = json.loads(header["ase_relaxed.rg"])
        dtype = tensors["layer0.W"].dtype
        stack = cls(info["sizes"], dtype=dtype, device=device)
        for i, rbm in enumerate(stack.layers):
            for name in ("W", "a", "b"):
                t = tensors[f"layer{i}.{name}"]
                if t.shape != getattr(rbm, name).shape or not bool(torch.isfinite(t).all()):
                    raise ModelFileError(f"{str(path)!r}: tensor layer{i}.{name} has a wrong shape or NaN values")
                getattr(rbm, name).data.copy_(t)
        stack.metadata = info.get("metadata", {})
        stack.extra = {k.removeprefix("train."): t for k, t in tensors.items() if k.startswith("train.")}
        return stack
