"""RelaxedCalculator in an ordinary ASE script.

    python examples/calculator_basics.py
"""

from ase.build import bulk

from ase_relaxed import RelaxedCalculator
from ase_relaxed.structures import build_nanotube

calc = RelaxedCalculator("demo-carbon-random")  # a shipped name, a .safetensors path, or a model object

tube = build_nanotube(10, 0, length=2)  # 80 atoms, periodic along z only
tube.calc = calc
print(f"(10,0) tube: E = {tube.get_potential_energy():.4f} eV, max |F| = {abs(tube.get_forces()).max():.4f} eV/Å")

diamond = bulk("C", "diamond", a=3.57, cubic=True)
diamond.calc = calc
print("diamond stress (eV/Å^3):", diamond.get_stress().round(5))

# many structures, one forward pass
images = [diamond.copy() for _ in range(8)]
for k, image in enumerate(images):
    image.rattle(0.02, seed=k)
results = calc.calculate_batch(images, properties=("energy", "forces", "stress"))
print("batched energies:", [round(r["energy"], 4) for r in results])
