"""Run the physics checks of ase_relaxed.testing on any model (or any ASE calculator).

    python examples/physics_checks.py [MODEL]
"""

import sys

import numpy as np
from ase.build import bulk

from ase_relaxed import RelaxedCalculator
from ase_relaxed.structures import build_nanotube
from ase_relaxed.testing import (
    assert_batch_equals_single,
    assert_equivariant,
    assert_forces_finite_differences,
    assert_periodic_images,
    assert_stress_numerical,
)

model = sys.argv[1] if len(sys.argv) > 1 else "demo-carbon-random"
calc = RelaxedCalculator(model, device="cpu", dtype="float64")
tube = build_nanotube(10, 0, length=1)
tube.rattle(0.05, seed=1)
crystal = bulk("C", "diamond", a=3.57)
crystal.rattle(0.05, seed=2)

checks = {
    "equivariance (tube)": lambda: assert_equivariant(calc, tube, np.random.default_rng(0)),
    "equivariance + stress (crystal)": lambda: assert_equivariant(calc, crystal, stress=True),
    "forces vs finite differences": lambda: assert_forces_finite_differences(calc, tube, indices=[0, 7]),
    "stress vs numerical stress": lambda: assert_stress_numerical(calc, crystal),
    "batch = single": lambda: assert_batch_equals_single(calc, [tube, crystal]),
    "periodic images, supercell": lambda: assert_periodic_images(calc, crystal),
}
for name, check in checks.items():
    print(f"{name:34s} max error {check():.2e}  ok")
