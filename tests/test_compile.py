"""Compiled inference (``RelaxedCalculator(model, compile=True)``) equals eager and compiles once.

Tracing alone takes ~15 s for a tiny model on 2 shared cores, AOTAutograd and inductor minutes, so only the
TorchDynamo-only test (backend ``"eager"``: tracing, dynamic shapes, recompilation count) and the cheap checks
run by default; ``aot_eager`` and inductor (the real ``compile=True``) are marked slow.
"""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import nanotube
from conftest import make_bulk, make_tube, tiny_model

from ase_relaxed import RelaxedCalculator
from ase_relaxed.errors import InputError


def longer_tube():
    tube = nanotube(10, 0, length=2, bond=1.42)  # 80 atoms: other atom and edge counts than make_tube's 40
    tube.pbc = [False, False, True]
    tube.center(vacuum=4.0, axis=(0, 1))
    tube.positions += np.random.default_rng(7).normal(scale=0.05, size=tube.positions.shape)
    return tube


def results(calc: RelaxedCalculator, atoms) -> dict[str, np.ndarray]:
    """E, F and σ from one call (asking for energy first and stress later would trace two graphs)."""
    calc.calculate(atoms.copy(), ["energy", "forces", "stress"])
    return {name: np.asarray(calc.results[name]) for name in ("energy", "forces", "stress")}


def assert_compiled_equals_eager(model, backend, tol: float) -> RelaxedCalculator:
    """Compiled E, F, σ equal eager on a tube; new positions and a longer tube compile nothing new."""
    eager = RelaxedCalculator(model, device="cpu")
    compiled = RelaxedCalculator(model, device="cpu", compile=backend)
    tube = make_tube()
    first = results(compiled, tube)
    graphs = compiled.compiled_graphs
    assert graphs >= 1 and compiled.compile_seconds > 0
    for name, value in results(eager, tube).items():
        assert np.allclose(first[name], value, rtol=0, atol=tol), name
    moved = tube.copy()
    moved.positions += np.random.default_rng(8).normal(scale=0.03, size=moved.positions.shape)
    for atoms in (moved, longer_tube()):
        ours, theirs = results(compiled, atoms), results(eager, atoms)
        for name, value in theirs.items():
            assert np.allclose(ours[name], value, rtol=0, atol=tol), name
    assert compiled.compiled_graphs == graphs, "new positions or a longer tube recompiled"
    return compiled


def test_compiled_path_equals_eager_and_does_not_recompile_dynamo_only():
    """TorchDynamo's trace (backend "eager": no AOTAutograd, no code generation) with dynamic shapes."""
    calc = assert_compiled_equals_eager(tiny_model("float64", num_layers=1), "eager", 1e-12)
    assert calc.todict()["compile"] == "eager"


@pytest.mark.slow
def test_compiled_path_equals_eager_and_does_not_recompile_aot_eager():
    """AOTAutograd's forward and backward graphs (the inductor path without code generation)."""
    assert_compiled_equals_eager(tiny_model("float64"), "aot_eager", 1e-10)


def test_compile_refuses_models_it_cannot_trace():
    from ase_relaxed.kernel import KernelConfig, build_kernel_model

    kernel = build_kernel_model(KernelConfig(n_representative=2, n_max=2, l_max=1, cutoff=3.0, energy_shift=[-7.0]))
    with pytest.raises(InputError, match="compile=True works for e3nn graph-network models") as error:
        RelaxedCalculator(kernel, device="cpu", compile=True)
    assert "\n" not in str(error.value)
    with pytest.raises(InputError, match="not one torch.compile knows"):
        RelaxedCalculator(tiny_model("float64"), device="cpu", compile="no-such-backend")


def test_compiled_models_are_cached_per_model_dtype_device():
    model = tiny_model("float64")
    first = RelaxedCalculator(model, device="cpu", compile="eager")
    assert RelaxedCalculator(model, device="cpu", compile="eager")._compiled is first._compiled
    assert RelaxedCalculator(model, device="cpu", dtype="float32", compile="eager")._compiled is not first._compiled
    assert RelaxedCalculator(model, device="cpu").compile_seconds == 0.0  # eager by default
    assert model.energy_model.__class__.__name__ == "EnergyModel"  # the caller's module is left eager


@pytest.mark.slow
def test_inductor_float64_equals_eager_and_does_not_recompile():
    assert_compiled_equals_eager(tiny_model("float64"), True, 1e-10)


@pytest.mark.slow
def test_inductor_direct_force_model_equals_eager():
    model = tiny_model("float64", forces="direct")
    eager = RelaxedCalculator(model, device="cpu")
    compiled = RelaxedCalculator(model, device="cpu", compile=True)
    for atoms in (make_bulk(), make_bulk()):  # the second call reuses the graph
        atoms.calc = compiled
        forces = atoms.get_forces()
        atoms.calc = eager
        assert np.allclose(forces, atoms.get_forces(), rtol=0, atol=1e-10)
    graphs = compiled.compiled_graphs
    atoms = make_tube()
    atoms.calc = compiled
    atoms.get_forces()
    assert compiled.compiled_graphs == graphs


@pytest.mark.parametrize("command", ["eval", "md", "relax", "phonons"])
def test_cli_compile_flag_reaches_the_calculator(command, tmp_path):
    """``--compile`` builds a compiled calculator (compiling itself waits for the first evaluation)."""
    from ase_relaxed.cli import build_parser
    from ase_relaxed.cli.common import make_calculator
    from ase_relaxed.cli.md import md_options

    extra = ["--out", str(tmp_path / "out")] if command == "phonons" else []
    args = build_parser().parse_args([command, "cnt:5,0", "--model", "demo-carbon-random", "--device", "cpu",
                                      "--compile", *extra])
    options = md_options(args) if command == "md" else args
    calc = make_calculator(options)
    assert calc.todict()["compile"] == "inductor" and calc.compiled_graphs == 0
    plain = build_parser().parse_args([command, "cnt:5,0", "--device", "cpu", *extra])
    assert not getattr(md_options(plain) if command == "md" else plain, "compile")
