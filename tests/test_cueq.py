"""cuEquivariance message tensor products (ase_relaxed.nn.cueq) against e3nn's.

On CPU cuEquivariance runs its own pure-torch code, so the weight permutation and the whole model are checked in the
default run; the CUDA kernels are checked under the ``gpu`` marker.
"""

import numpy as np
import pytest
import torch
from conftest import SYSTEMS, tiny_model
from e3nn import o3

from ase_relaxed import ModelConfig, RelaxedCalculator, build_model
from ase_relaxed.errors import InputError
from ase_relaxed.nn import InteractionBlock, select_tensor_product_backend
from ase_relaxed.nn.cueq import cuequivariance_installed, supports

pytest.importorskip("cuequivariance_torch", reason="cuequivariance-torch is not installed (it is in [dev])")
KERNELS = pytest.mark.skipif(not (torch.cuda.is_available() and cuequivariance_installed()[1]),
                             reason="needs CUDA and cuequivariance-ops-torch-cu12 (pip install 'ase_relaxed[gpu]')")


@pytest.mark.parametrize("irreps_in, l_edge", [("8x0e+8x1o+8x2e", 2), ("4x0e+4x1o", 3), ("3x0e+3x1e+3x2o+3x3e", 3)])
def test_each_path_of_a_block_matches_e3nn(irreps_in, l_edge):
    block = InteractionBlock(irreps_in, irreps_in, o3.Irreps.spherical_harmonics(l_edge), 2, 8).double()
    tp = block.tp
    assert supports(tp)
    assert select_tensor_product_backend(block, "cuequivariance", torch.device("cpu")) == "cuequivariance"
    fast = block.__dict__["_fast_tp"]
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(7, tp.irreps_in1.dim, generator=generator, dtype=torch.float64)
    y = torch.randn(7, tp.irreps_in2.dim, generator=generator, dtype=torch.float64)
    for k, instruction in enumerate(tp.instructions):  # one path at a time: a wrong permutation shows here
        w = torch.zeros(7, tp.weight_numel, dtype=torch.float64)
        start = sum(int(np.prod(i.path_shape)) for i in tp.instructions[:k])
        w[:, start:start + int(np.prod(instruction.path_shape))] = torch.randn(7, int(np.prod(instruction.path_shape)),
                                                                               generator=generator, dtype=torch.float64)
        reference = tp(x, y, w)
        assert reference.abs().max() > 0
        torch.testing.assert_close(fast(x, y, w), reference, rtol=1e-5, atol=1e-7)  # CG coefficients ~1e-7


@pytest.mark.parametrize("forces", ["conservative", "direct"])
@pytest.mark.parametrize("name", sorted(SYSTEMS))
def test_calculator_with_cuequivariance_equals_e3nn(name, forces):
    model = tiny_model("float64", forces=forces)
    atoms = SYSTEMS[name]()
    results = {}
    for backend in ("e3nn", "cuequivariance"):
        calc = RelaxedCalculator(model, device="cpu", tensor_product=backend)
        assert calc.tensor_product == backend and calc.todict()["tensor_product"] == backend
        atoms.calc = calc
        results[backend] = (atoms.get_potential_energy(), atoms.get_forces(),
                            atoms.get_stress() if atoms.cell.volume > 0 else np.zeros(6))
    for ours, theirs in zip(results["cuequivariance"], results["e3nn"]):
        np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-8)
    assert model.__dict__.get("_fast_tp") is None
    assert all(block.__dict__["_fast_tp"] is None for block in model.modules() if isinstance(block, InteractionBlock))


def test_backend_changes_no_parameter_and_no_state_dict_entry():
    model = build_model(ModelConfig(species=["C"], channels=8, l_max=2, dtype="float64"))
    keys = set(model.state_dict())
    select_tensor_product_backend(model, "cuequivariance", torch.device("cpu"))
    assert set(model.state_dict()) == keys
    assert select_tensor_product_backend(model, "e3nn", torch.device("cpu")) == "e3nn"
    assert all(block.__dict__["_fast_tp"] is None for block in model.modules() if isinstance(block, InteractionBlock))


def test_auto_is_e3nn_on_cpu_and_unknown_backends_are_one_clear_error():
    model = tiny_model("float64")
    assert RelaxedCalculator(model, device="cpu").tensor_product == "e3nn"
    with pytest.raises(InputError, match="tensor_product must be one of"):
        RelaxedCalculator(model, device="cpu", tensor_product="openequivariance")


@pytest.mark.gpu
@KERNELS
def test_cuda_kernels_equal_e3nn_in_float32():
    """The issue's bar: cuEquivariance's CUDA kernels equal the e3nn path to 1e-5 (float32), carbon-gfn1's size."""
    model = build_model(ModelConfig(species=["C"], cutoff=4.5, channels=32, l_max=2, dtype="float32"))
    from ase.build import nanotube

    tube = nanotube(10, 0, length=4, bond=1.42)
    tube.pbc = [False, False, True]
    tube.center(vacuum=5.0, axis=(0, 1))
    tube.rattle(0.05, seed=0)
    out = {}
    for backend in ("e3nn", "cuequivariance"):
        tube.calc = RelaxedCalculator(model, device="cuda", dtype="float32", tensor_product=backend)
        assert tube.calc.tensor_product == backend
        out[backend] = (tube.get_potential_energy() / len(tube), tube.get_forces())
    assert RelaxedCalculator(model, device="cuda", dtype="float32").tensor_product == "cuequivariance"  # auto
    np.testing.assert_allclose(out["cuequivariance"][0], out["e3nn"][0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out["cuequivariance"][1], out["e3nn"][1], rtol=1e-5, atol=1e-5)
