"""Write the shipped random-weight demo model (smoke tests and demos only).

    python scripts/make_demo_model.py
"""

from pathlib import Path

from ase_relaxed import ModelConfig, build_model, save_model

OUT = Path(__file__).resolve().parents[1] / "ase_relaxed" / "pretrained" / "demo-carbon-random.safetensors"

if __name__ == "__main__":
    config = ModelConfig(species=["C"], cutoff=4.0, num_layers=2, channels=16, l_max=2, avg_num_neighbors=20.0, seed=1)
    save_model(build_model(config), OUT, training={"method": "none: random weights (seed 1), not trained"})
    print(f"wrote {OUT} ({OUT.stat().st_size / 1e3:.0f} kB)")
