"""benchmarks/direct_force_table.py --means: seed means per setting, and weak-on against weak-off on shared seeds."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from direct_force_table import means  # noqa: E402


def record(seed: int, weak: bool, energy: float, consistency: float) -> dict:
    settings = {"delta": 0.003, "distribution": "centered", "pitc_ratio": 333.0, "pisc_ratio": 2.8}
    return {"forces": "direct", "N": 8, "labels": "energy+forces", "steps": 1200, "weak": weak, "seed": seed,
            "energy_rmse_per_atom": energy, "forces_rmse": 0.2, "consistency_rms": consistency,
            "config": {"settings": settings}}


def test_means_compare_weak_on_with_off_over_the_seeds_both_have():
    records = [record(0, False, 0.010, 2.0), record(1, False, 0.030, 2.0), record(2, False, 0.500, 9.0),
               record(0, True, 0.005, 1.0), record(1, True, 0.015, 0.5)]
    lines = means(records)
    off = next(line for line in lines if "| off |" in line)
    on = next(line for line in lines if "| on |" in line)
    assert "| 0,1,2 |" in off and "| 0,1 |" in on
    assert "| 10.00 ± 7.07 |" in on  # mean ± sample standard deviation of 5 and 15 meV/atom
    # seed 2 has no weak-on run, so it is left out of the comparison: (5 + 15) / (10 + 30) − 1 = −50 %
    assert "| -50 % (2) | 2.67× |" in on  # consistency (2 + 2) / (1 + 0.5)


def test_plot_keeps_one_weak_setting_and_every_control(tmp_path):
    from direct_force_plot import main, selected

    def with_settings(r: dict, delta: float, pitc: float, min_steps: int = 1200) -> dict:
        r["config"]["settings"] = {**r["config"]["settings"], "delta": delta, "pitc_ratio": pitc,
                                   "min_steps": min_steps}
        return r

    records = [with_settings(record(0, False, 0.010, 2.0), 0.05, 1.2),   # a control made under another δ₀
               with_settings(record(0, True, 0.005, 1.0), 0.003, 333.0),
               with_settings(record(1, True, 0.006, 1.0), 0.05, 1.2),    # another weak setting: left out
               with_settings(record(2, False, 0.010, 2.0), 0.003, 333.0, min_steps=4000)]  # another budget
    kept = selected(records, 0.003, 333.0, 1200)
    assert [(r["seed"], r["weak"]) for r in kept] == [(0, False), (0, True)]

    path = tmp_path / "records.json"
    path.write_text(__import__("json").dumps(records))
    assert main([str(path), "--png", str(tmp_path / "curve.png")]) == 0
    assert (tmp_path / "curve.png").stat().st_size > 10_000
    assert main([str(path), "--delta", "0.01", "--png", str(tmp_path / "none.png")]) == 2
    assert not (tmp_path / "none.png").exists()
    assert main([str(path), "--labels", "energy", "--png", str(tmp_path / "none.png")]) == 2  # no energy-only runs
