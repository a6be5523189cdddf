"""cuEquivariance tensor products behind the interaction block's interface (GPU kernels, issue 21).

The message of an interaction block is the "uvu" tensor product with one weight vector per path
(Batzner et al., Nat. Commun. 13, 2453 (2022), eq. 3):

    m_ij[p] = w_ij[p] ⊙ C_p (x_j[a_p] ⊗ Y_ij[b_p])          (one path p = input irrep a_p, edge irrep b_p)

with C_p the Clebsch–Gordan coefficients of the path and w_ij = MLP(B(|r_ij|)).  NVIDIA's cuEquivariance
(``cuequivariance_torch.ChannelWiseTensorProduct``, the kernels MACE uses on GPUs) computes the same contraction
in e3nn's basis and normalisation ("component" irreps, "element" paths).  The two differ only in the order of the
weight blocks: e3nn keeps the order of its instructions, cuEquivariance orders the paths by output segment.  So

    w_cue = w_e3nn[:, π],   π = the weight columns of the instructions sorted by their output slot,

and the outputs agree to the precision of cuEquivariance's coefficients (about 1e-7 relative, so float32-exact).
The block's weights (the radial MLP) are untouched: model files do not change with the backend.

Backends: ``"e3nn"`` (always), ``"cuequivariance"`` (the CUDA kernels of ``cuequivariance-ops-torch-cu12``
on CUDA; cuEquivariance's own pure-torch code elsewhere, for tests), ``"auto"``: cuEquivariance on CUDA when its
kernels are installed (``pip install "ase_relaxed[gpu]"``), else e3nn.

>>> import torch
>>> from ase_relaxed.nn import InteractionBlock
>>> block = InteractionBlock("4x0e", "4x0e+4x1o", o3.Irreps.spherical_harmonics(1), 1, 8)
>>> select_tensor_product_backend(block, "auto", torch.device("cpu"))  # CPU: e3nn
'e3nn'
"""

from __future__ import annotations

import importlib.util

import torch
from e3nn import o3

from ..errors import InputError

TENSOR_PRODUCT_BACKENDS = ("auto", "e3nn", "cuequivariance")


def cuequivariance_installed() -> tuple[bool, bool]:
    """(the torch front end ``cuequivariance_torch`` is importable, its CUDA kernels are importable)."""
    frontend = importlib.util.find_spec("cuequivariance_torch") is not None
    kernels = frontend and importlib.util.find_spec("cuequivariance_ops_torch") is not None
    return frontend, kernels


def weight_permutation(tp: o3.TensorProduct) -> torch.Tensor:
    """π with w_cue = w_e3nn[:, π]: e3nn's weight columns regrouped by the output slot of their instruction."""
    starts, offset = [], 0
    for instruction in tp.instructions:
        size = _path_weight_numel(instruction)
        starts.append((instruction.i_out, offset, size))
        offset += size
    columns = [torch.arange(start, start + size) for _, start, size in sorted(starts, key=lambda s: s[0])]
    return torch.cat(columns)


def _path_weight_numel(instruction) -> int:
    numel = 1
    for n in instruction.path_shape:
        numel *= n
    return numel


def supports(tp: o3.TensorProduct) -> bool:
    """Whether ``tp`` is a product cuEquivariance's channel-wise kernel reproduces: uvu paths, edge multiplicity 1,
    one instruction per output slot, external per-edge weights."""
    outputs = [ins.i_out for ins in tp.instructions]
    return (not tp.internal_weights and not tp.shared_weights and len(set(outputs)) == len(outputs)
            and all(ins.connection_mode == "uvu" and ins.has_weight for ins in tp.instructions)
            and all(mul == 1 for mul, _ in tp.irreps_in2))


class CueqTensorProduct(torch.nn.Module):
    """``tp(x, y, w)`` of an e3nn uvu ``TensorProduct``, computed by ``cuequivariance_torch``."""

    def __init__(self, tp: o3.TensorProduct, *, device: torch.device, dtype: torch.dtype,
                 use_fallback: bool) -> None:
        super().__init__()
        import cuequivariance as cue
        import cuequivariance_torch as cuet

        self.cue = cuet.ChannelWiseTensorProduct(
            cue.Irreps("O3", str(tp.irreps_in1)), cue.Irreps("O3", str(tp.irreps_in2)),
            [cue.O3(ir.l, ir.p) for _, ir in tp.irreps_out], layout=cue.mul_ir, shared_weights=False,
            internal_weights=False, device=device, dtype=dtype, use_fallback=use_fallback)
        if str(self.cue.irreps_out) != str(tp.irreps_out) or self.cue.weight_numel != tp.weight_numel:
            raise ValueError(f"cuEquivariance lays out {self.cue.irreps_out} ({self.cue.weight_numel} weights), "
                             f"e3nn {tp.irreps_out} ({tp.weight_numel})")
        self.register_buffer("permutation", weight_permutation(tp).to(device), persistent=False)
        self.use_fallback = use_fallback

    def forward(self, x: torch.Tensor, y: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        return self.cue(x, y, weight.index_select(1, self.permutation))


def resolve_tensor_product_backend(backend: str, device: torch.device | str) -> str:
    """"e3nn" or "cuequivariance" for a requested ``backend`` ("auto": cuEquivariance on CUDA with its kernels)."""
    if backend not in TENSOR_PRODUCT_BACKENDS:
        raise InputError(f"tensor_product must be one of {', '.join(TENSOR_PRODUCT_BACKENDS)}; got {backend!r}")
    frontend, kernels = cuequivariance_installed()
    if backend == "auto":
        return "cuequivariance" if torch.device(device).type == "cuda" and kernels else "e3nn"
    if backend == "cuequivariance" and not frontend:
        raise InputError('tensor_product="cuequivariance" needs cuequivariance-torch: pip install "ase_relaxed[gpu]"')
    return backend


def select_tensor_product_backend(model: torch.nn.Module, backend: str, device: torch.device) -> str:
    """Set the message tensor product of every interaction block of ``model`` (already on ``device`` and in its
    dtype) to ``backend``; return the backend in use ("e3nn" or "cuequivariance").

    Blocks whose product cuEquivariance cannot reproduce (see :func:`supports`) stay on e3nn.
    """
    from .interaction import InteractionBlock

    backend = resolve_tensor_product_backend(backend, device)
    on_cuda = torch.device(device).type == "cuda"
    kernels = cuequivariance_installed()[1]
    blocks = [m for m in model.modules() if isinstance(m, InteractionBlock)]
    used = "e3nn"
    for block in blocks:
        fast = None
        if backend == "cuequivariance" and supports(block.tp):
            dtype = next(block.radial.parameters()).dtype
            fast = CueqTensorProduct(block.tp, device=torch.device(device), dtype=dtype,
                                     use_fallback=not (on_cuda and kernels))
            used = "cuequivariance"
        block.set_fast_tensor_product(fast)
    return used
