"""benchmarks/bench_direct_md.py: the NVE drift it reports is the fitted slope of E_tot(t), about zero for a
conservative model and not for a direct one."""

import sys
import warnings
from pathlib import Path

import pytest
from conftest import tiny_model

from ase_relaxed.structures import build_nanotube

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from bench_direct_md import nve_drift, plot_nve  # noqa: E402


@pytest.fixture(scope="module")
def drifts():
    tube = build_nanotube(11, 0, length=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {kind: nve_drift(tiny_model("float64", forces=kind), tube, 60) for kind in ("conservative", "direct")}


def test_trace_has_one_sample_per_ten_steps_from_zero(drifts):
    for figures in drifts.values():
        assert len(figures["trace_ps"]) == len(figures["trace_meV_per_atom"]) == 7
        assert figures["trace_meV_per_atom"][0] == 0.0 and figures["ps"] == pytest.approx(0.03)
        assert figures["max_excursion_meV_per_atom"] == pytest.approx(
            max(map(abs, figures["trace_meV_per_atom"])), abs=1e-5)  # the trace is rounded to 1e-5 meV/atom


def test_conservative_model_conserves_energy_and_direct_one_does_not(drifts):
    conservative, direct = drifts["conservative"], drifts["direct"]
    assert conservative["max_excursion_meV_per_atom"] < 0.05 * direct["max_excursion_meV_per_atom"]
    assert abs(conservative["drift_meV_per_atom_ps"]) < 0.05 * abs(direct["drift_meV_per_atom_ps"])


def test_plot_writes_the_figure(drifts, tmp_path):
    plot_nve(drifts, tmp_path / "nve.png")
    assert (tmp_path / "nve.png").stat().st_size > 1000
