"""Memory of one energy+forces pass: the estimate scales as it should, matches a measured peak, and a request
that cannot fit is one clear error before anything is allocated (issue 21, item 4)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ase_relaxed import RelaxedCalculator, build_model
from ase_relaxed.cli import main
from ase_relaxed.errors import InputError
from ase_relaxed.kernel import KernelConfig
from ase_relaxed.models.config import ModelConfig
from ase_relaxed.models.memory import estimate_bytes
from ase_relaxed.structures import build_nanotube


def test_the_estimate_scales_with_edges_dtype_and_model_size() -> None:
    config = ModelConfig(num_layers=2, channels=32, l_max=2)
    one = estimate_bytes(config, 10_000, "float32")
    assert estimate_bytes(config, 20_000, "float32") == 2 * one
    assert estimate_bytes(config, 10_000, "float64") == 2 * one
    assert estimate_bytes(ModelConfig(num_layers=2, channels=64, l_max=2), 10_000, "float32") > 1.5 * one
    assert estimate_bytes(KernelConfig(), 10_000, "float64") is None  # no graph-network sizes: not estimated


def test_a_request_that_cannot_fit_is_refused_before_allocating(monkeypatch, capsys) -> None:
    atoms = build_nanotube(10, 0, length=25)  # 1000 atoms, ~0.2 GB in float32
    atoms.calc = RelaxedCalculator("carbon-gfn1", dtype="float32")
    monkeypatch.setenv("ASE_RELAXED_MEMORY_GB", "0.08")
    with pytest.raises(InputError, match=r"^evaluating 1,000 atoms \(24,000 edges\) needs about 0\.2 GB on cpu, but "
                       r"0\.1 GB are free"):
        atoms.get_forces()
    assert main(["eval", "cnt:10,0:length=25", "--dtype", "float64"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "use float32" in err
    monkeypatch.setenv("ASE_RELAXED_MEMORY_GB", "8")
    assert atoms.get_forces().shape == (1000, 3)


def test_the_estimate_matches_a_measured_peak() -> None:
    """A 2000-atom tube in a fresh process: peak RSS above the loaded model within ±35 % of the estimate."""
    sys.path.insert(0, "benchmarks")
    from bench_memory import CHILD

    out = subprocess.run([sys.executable, "-c", CHILD, "50", "carbon-gfn1", "float32", "1", "4000"],
                         capture_output=True, text=True, check=True)
    record = json.loads(out.stdout.strip().splitlines()[-1])
    assert 0.65 < record["measured_MB"] / record["estimate_MB"] < 1.35, record


def test_cpu_batch_chunks_are_capped_by_memory_not_by_count():
    """The CPU default of max_edges_per_batch fills the same activation bytes for any model and dtype."""
    from ase_relaxed.models.memory import CPU_BATCH_BYTES, default_batch_edges, estimate_bytes

    small = ModelConfig(species=["C"], num_layers=2, channels=32, l_max=2)
    big = ModelConfig(species=["C"], num_layers=2, channels=64, l_max=3)
    edges = {(c.channels, d): default_batch_edges(c, d) for c in (small, big) for d in ("float32", "float64")}
    assert edges[(32, "float32")] > edges[(64, "float32")] and edges[(32, "float64")] in (
        edges[(32, "float32")] // 2, edges[(32, "float32")] // 2 + 1)
    for (channels, dtype), n in edges.items():
        config = small if channels == 32 else big
        assert estimate_bytes(config, n, dtype) <= CPU_BATCH_BYTES < estimate_bytes(config, n + 1, dtype)
    calc = RelaxedCalculator(build_model(big.replace(dtype="float32")), device="cpu", dtype="float32")
    assert calc.max_edges_per_batch == edges[(64, "float32")]
