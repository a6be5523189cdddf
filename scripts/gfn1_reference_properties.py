"""What GFN1-xTB (tblite) itself gives for diamond, graphene, graphite and C60: the targets of issue 15.

    OMP_NUM_THREADS=1 nice -n 10 python scripts/gfn1_reference_properties.py      # ~15 min on one core
    python scripts/gfn1_reference_properties.py --parts diamond c60             # a subset

A model trained on GFN1-xTB labels is judged against GFN1-xTB, not against experiment, so this script
measures the reference method's own

* diamond: lattice constant a₀ and bulk modulus B₀ (Birch–Murnaghan fit, ``ase.eos.EquationOfState``, 7
  volumes within ±3 % of a₀) on two conventional supercells (default 2×2×2 = 64 and 3×3×3 = 216 atoms:
  tblite is Γ-only, so the supercell *is* the k-point mesh, and the two sizes show the convergence);
* diamond: the Γ optical (Raman) frequency by a frozen phonon, the two fcc sublattices displaced against
  each other by ±δ along x at a₀: ω² = −⟨F_A,x⟩ / (δ m) (central difference of the mean force on A);
* graphene: the in-plane lattice constant (6×6 and 9×9 sheets: multiples of 3, so K folds onto Γ);
* graphite: the AB (and AA) interlayer distance, in-plane a fixed at GFN1's 6×6 graphene value, c scanned
  on a 6×6 in-plane cell with 2 layers (144 atoms), the minimum a quartic fit through the 5 points around
  the lowest scanned energy; checked with 2 cells along c (4 layers, 288 atoms: 3 points, a parabola);
* C60 in vacuum, relaxed with GFN1 (FIRE, fmax 0.005 eV/Å): the 6:6 (hexagon–hexagon) and 5:6
  (pentagon–hexagon) bond lengths, bonds told apart by whether they lie on a 5-ring.

Resumable: every single point goes into ``benchmarks/results/gfn1_properties_cache.json`` as soon as it
is computed (the C60 relaxation saves its positions each step), so a killed run reruns only what is
missing. Output: ``benchmarks/results/gfn1_properties.json`` with provenance (tblite version, method,
electronic temperature, supercells, date, git commit).

The protocol is not tied to tblite: ``measure(Cache(None, calculator=lambda: calc), parts, ...)`` runs it with
any ASE calculator, in memory (``scripts/carbon_model_report.py`` does so for the shipped models).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from collections.abc import Callable
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path

import numpy as np
from ase import Atoms, units
from ase.build import bulk, graphene, molecule

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "gfn1_properties.json"
CACHE = ROOT / "benchmarks" / "results" / "gfn1_properties_cache.json"
PARTS = ("diamond", "phonon", "graphene", "graphite", "c60")
VACUUM_BOX = 20.0  # Å, the c of the graphene box and the C60 cube
DELTA = 0.01  # Å, frozen-phonon displacement of each sublattice


class Cache:
    """Single points by key, written to disk after every new one (kept in memory only when ``path`` is None).

    ``calculator``: a factory of the ASE calculator to use; by default GFN1-xTB (tblite) at ``electronic_temperature``.
    """

    def __init__(self, path: Path | None, electronic_temperature: float = 300.0,
                 calculator: Callable[[], object] | None = None):
        self.path, self.temperature, self.calculator = path, electronic_temperature, calculator
        self.data = json.loads(path.read_text()) if path is not None and path.exists() else {}
        self.calls, self.seconds = 0, 0.0

    def _calc(self):
        if self.calculator is not None:
            return self.calculator()
        from tblite.ase import TBLite

        return TBLite(method="GFN1-xTB", electronic_temperature=self.temperature, verbosity=0)

    def save(self) -> None:
        if self.path is None:
            return
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=1))
        tmp.replace(self.path)

    def point(self, key: str, atoms: Atoms, forces: bool = False) -> dict:
        """Energy (eV), optionally forces (eV/Å), of ``atoms``; computed once per key."""
        if key not in self.data or (forces and "forces" not in self.data[key]):
            atoms = atoms.copy()
            atoms.calc = self._calc()
            start = time.perf_counter()
            entry = {"energy": float(atoms.get_potential_energy()), "n_atoms": len(atoms)}
            if forces:
                entry["forces"] = atoms.get_forces().tolist()
            self.seconds += time.perf_counter() - start
            self.calls += 1
            self.data[key] = entry
            self.save()
            print(f"  {key}: {entry['energy'] / len(atoms):.6f} eV/atom ({time.perf_counter() - start:.1f} s)",
                  flush=True)
        return self.data[key]


def diamond(a: float, n: int) -> Atoms:
    """Conventional diamond cell (8 atoms) repeated n×n×n."""
    return bulk("C", "diamond", a=a, cubic=True).repeat(n)


def fit_eos(volumes: list[float], energies: list[float]) -> tuple[float, float, float]:
    """Birch–Murnaghan (V₀ Å³, E₀ eV, B₀ GPa)."""
    from ase.eos import EquationOfState

    v0, e0, b0 = EquationOfState(volumes, energies, eos="birchmurnaghan").fit()
    return float(v0), float(e0), float(b0 / units.kJ * 1.0e24)


def diamond_eos(cache: Cache, n: int, grid: np.ndarray) -> dict:
    volumes, energies = [], []
    for a in grid:
        atoms = diamond(float(a), n)
        volumes.append(atoms.get_volume() / len(atoms))
        energies.append(cache.point(f"diamond_{n}x{n}x{n}_a{a:.4f}", atoms)["energy"] / len(atoms))
    v0, e0, b0 = fit_eos(volumes, energies)
    return {"supercell": f"{n}x{n}x{n} conventional", "n_atoms": 8 * n**3, "a0_angstrom": (8 * v0) ** (1 / 3),
            "bulk_modulus_GPa": b0, "energy_per_atom_eV": e0, "lattice_constants_scanned": [round(float(a), 4)
                                                                                          for a in grid],
            "energies_per_atom_eV": energies}


def run_diamond(cache: Cache, sizes: list[int]) -> dict:
    coarse = diamond_eos(cache, sizes[0], np.round(np.linspace(3.40, 3.70, 7), 4))
    center = round(coarse["a0_angstrom"], 3)
    grid = np.round(center * (1.0 + 0.01 * np.arange(-3, 4)), 4)  # ±3 % in a, ±9 % in V
    out = {"coarse_scan": coarse, "centre_angstrom": center}
    for n in sizes:
        out[f"{n}x{n}x{n}"] = diamond_eos(cache, n, grid)
    # the cell of the diamond data (fcc primitive 4×4×4, 128 atoms) against the conventional ones, same a
    a = float(grid[3])
    prim = bulk("C", "diamond", a=a).repeat(4)
    out["energy_per_atom_at_centre_eV"] = {
        "primitive 4x4x4 (128 atoms)": cache.point(f"diamond_prim4x4x4_a{a:.4f}", prim)["energy"] / len(prim),
        **{f"conventional {n}x{n}x{n} ({8 * n**3} atoms)": cache.data[f"diamond_{n}x{n}x{n}_a{a:.4f}"]["energy"]
           / (8 * n**3) for n in sizes}}
    return out


def sublattice_a(atoms: Atoms, a: float) -> np.ndarray:
    """True on the fcc sublattice at the conventional-cell corners (4·x/a even), False on the other."""
    quarter = np.rint(4.0 * atoms.positions[:, 0] / a).astype(int)
    return quarter % 2 == 0


def optical_frequency(cache: Cache, n: int, a: float) -> dict:
    forces = []
    for sign in (+1, -1):
        atoms = diamond(a, n)
        on_a = sublattice_a(atoms, a)
        atoms.positions[on_a, 0] += sign * DELTA
        atoms.positions[~on_a, 0] -= sign * DELTA
        f = np.array(cache.point(f"phonon_{n}x{n}x{n}_a{a:.4f}_{'+' if sign > 0 else '-'}{DELTA}", atoms,
                                 forces=True)["forces"])
        forces.append(f[on_a, 0].mean())
    k = -(forces[0] - forces[1]) / (2.0 * DELTA)  # eV/Å² per atom of A for a displacement δ of both sublattices
    mass = atoms.get_masses()[0]
    omega_si = np.sqrt(k * units._e / (1.0e-20 * mass * units._amu))  # rad/s
    return {"supercell": f"{n}x{n}x{n} conventional", "a_angstrom": a, "delta_angstrom": DELTA,
            "frequency_cm-1": float(omega_si / (2.0 * np.pi * units._c * 100.0))}


def sheet(a: float, n: int) -> Atoms:
    atoms = graphene(a=a, vacuum=VACUUM_BOX / 2).repeat((n, n, 1))
    atoms.pbc = True
    return atoms


def quartic_minimum(x: list[float], y: list[float], points: int = 5, degree: int = 4) -> tuple[float, float]:
    """Minimum of a quartic (``degree``) through the 5 (``points``) around the lowest y (x and y there)."""
    order = np.argsort(x)
    x, y = np.asarray(x)[order], np.asarray(y)[order]
    lo = int(np.clip(np.argmin(y) - points // 2, 0, len(x) - points))
    xs, ys = x[lo:lo + points], y[lo:lo + points]
    poly = np.polynomial.Polynomial.fit(xs, ys, degree)
    fine = np.linspace(xs[0], xs[-1], 20001)
    best = int(np.argmin(poly(fine)))
    return float(fine[best]), float(poly(fine[best]))


def run_graphene(cache: Cache, sizes: list[int]) -> dict:
    out = {}
    grid = np.round(np.linspace(2.40, 2.52, 7), 4)
    for n in sizes:
        energies = [cache.point(f"graphene_{n}x{n}_a{a:.4f}", sheet(float(a), n))["energy"] / (2 * n * n)
                    for a in grid]
        a0, e0 = quartic_minimum(list(grid), energies)
        out[f"{n}x{n}"] = {"n_atoms": 2 * n * n, "a0_angstrom": a0, "energy_per_atom_eV": e0,
                           "bond_angstrom": a0 / np.sqrt(3), "lattice_constants_scanned": grid.tolist(),
                           "energies_per_atom_eV": energies}
    return out


def graphite(a: float, d: float, n: int, stacking: str, cells_c: int) -> Atoms:
    """Two layers per cell (AB: the second shifted by (2a₁ + a₂)/3, one bond), n×n in-plane."""
    layer = graphene(a=a)
    cell = layer.cell.array.copy()
    cell[2, 2] = 2 * d
    positions = [layer.positions + [0, 0, 0]]
    shift = (2 * cell[0] + cell[1]) / 3.0 if stacking == "AB" else np.zeros(3)  # A over B, B over a hollow
    positions.append(layer.positions + shift + [0, 0, d])
    atoms = Atoms("C4", positions=np.vstack(positions), cell=cell, pbc=True)
    atoms.wrap()
    return atoms.repeat((n, n, cells_c))


def interlayer_scan(cache: Cache, a: float, n: int, stacking: str, cells_c: int, grid: np.ndarray) -> dict:
    energies = []
    for d in grid:
        atoms = graphite(a, float(d), n, stacking, cells_c)
        key = f"graphite{stacking}_{n}x{n}x{cells_c}_a{a:.4f}_d{d:.3f}"
        energies.append(cache.point(key, atoms)["energy"] / len(atoms))
    d0, e0 = quartic_minimum(list(grid), energies) if len(grid) >= 5 else quartic_minimum(list(grid), energies, 3, 2)
    return {"stacking": stacking, "in_plane": f"{n}x{n}", "layers": 2 * cells_c, "n_atoms": 4 * n * n * cells_c,
            "in_plane_a_angstrom": a, "interlayer_distance_angstrom": d0, "energy_per_atom_eV": e0,
            "distances_scanned": [round(float(d), 3) for d in grid], "energies_per_atom_eV": energies}


def run_graphite(cache: Cache, a: float, n: int, check_c: bool) -> dict:
    grid = np.round(np.arange(3.00, 3.905, 0.10), 3)
    ab = interlayer_scan(cache, a, n, "AB", 1, grid)
    out = {"AB": ab, "AA": interlayer_scan(cache, a, n, "AA", 1, grid)}
    if check_c:  # AA comes out below AB with one cell along c: is that the Γ-only k_z sampling?
        for stacking in ("AB", "AA"):
            centre = round(out[stacking]["interlayer_distance_angstrom"] / 0.05) * 0.05
            out[f"{stacking}_2cells_c"] = interlayer_scan(cache, a, n, stacking, 2,
                                                          np.round(centre + 0.1 * np.arange(-1, 2), 3))
        out["AA_minus_AB_meV_per_atom"] = {
            "1 cell along c": 1000.0 * (out["AA"]["energy_per_atom_eV"] - ab["energy_per_atom_eV"]),
            "2 cells along c": 1000.0 * (out["AA_2cells_c"]["energy_per_atom_eV"]
                                         - out["AB_2cells_c"]["energy_per_atom_eV"])}
    # binding relative to isolated sheets at the same a (6 Å more vacuum than the widest scan point)
    far = interlayer_scan_point(cache, a, n, "AB", 8.0)
    out["AB"]["binding_meV_per_atom_vs_far_layers"] = 1000.0 * (ab["energy_per_atom_eV"] - far)
    out["AB"]["far_layers_distance_angstrom"] = 8.0
    return out


def interlayer_scan_point(cache: Cache, a: float, n: int, stacking: str, d: float) -> float:
    atoms = graphite(a, d, n, stacking, 1)
    return cache.point(f"graphite{stacking}_{n}x{n}x1_a{a:.4f}_d{d:.3f}", atoms)["energy"] / len(atoms)


def five_rings(bonds: set[tuple[int, int]], n_atoms: int) -> set[frozenset]:
    neighbours = {i: set() for i in range(n_atoms)}
    for i, j in bonds:
        neighbours[i].add(j)
        neighbours[j].add(i)
    rings = set()

    def walk(path: list[int]) -> None:
        if len(path) == 5:
            if path[0] in neighbours[path[-1]]:
                rings.add(frozenset(path))
            return
        for k in neighbours[path[-1]]:
            if k not in path:
                walk(path + [k])

    for i in range(n_atoms):
        walk([i])
    return rings


def run_c60(cache: Cache) -> dict:
    from ase.optimize import FIRE

    saved = cache.data.get("c60_relaxation", {})
    atoms = molecule("C60")
    atoms.center(vacuum=VACUUM_BOX / 2 - 3.5)
    if "positions" in saved:
        atoms.positions = np.array(saved["positions"])
    if not saved.get("converged"):
        atoms.calc = cache._calc()
        steps = saved.get("steps", 0)
        opt = FIRE(atoms, logfile=None)

        def checkpoint() -> None:
            nonlocal steps
            steps += 1
            cache.data["c60_relaxation"] = {"positions": atoms.positions.tolist(), "steps": steps}
            cache.save()

        opt.attach(checkpoint, interval=1)
        start = time.perf_counter()
        opt.run(fmax=0.005, steps=1000)
        cache.seconds += time.perf_counter() - start
        fmax = float(np.abs(atoms.get_forces()).max())
        cache.data["c60_relaxation"] = {"positions": atoms.positions.tolist(), "steps": steps, "converged": True,
                                        "energy": float(atoms.get_potential_energy()), "fmax": fmax}
        cache.save()
        saved = cache.data["c60_relaxation"]
        print(f"  C60 relaxed in {steps} steps, fmax {fmax:.4f} eV/Å", flush=True)
    distances = atoms.get_all_distances()
    bonds = {(i, j) for i in range(60) for j in range(i + 1, 60) if distances[i, j] < 1.65}
    rings = five_rings(bonds, 60)
    on_pentagon = {(i, j) for (i, j) in bonds if any({i, j} <= ring for ring in rings)}
    b56 = [distances[i, j] for (i, j) in on_pentagon]
    b66 = [distances[i, j] for (i, j) in bonds - on_pentagon]
    return {"n_bonds": len(bonds), "n_pentagons": len(rings), "relaxation_steps": saved["steps"],
            "fmax_eV_per_angstrom": saved["fmax"], "energy_eV": saved["energy"],
            "bond_6_6_angstrom": float(np.mean(b66)), "bond_6_6_spread": float(np.ptp(b66)), "n_6_6": len(b66),
            "bond_5_6_angstrom": float(np.mean(b56)), "bond_5_6_spread": float(np.ptp(b56)), "n_5_6": len(b56),
            "box_angstrom": float(atoms.cell[0, 0]), "pbc": "none (molecule, no cell)"}


def measure(cache: Cache, parts: list[str], results: dict, diamond_sizes: list[int], graphene_sizes: list[int],
            check_c: bool = True) -> dict:
    """Measure ``parts`` (of :data:`PARTS`) with the calculator of ``cache``, into ``results`` (returned)."""
    if "diamond" in parts or "phonon" in parts:
        print("diamond EOS", flush=True)
        results["diamond"] = run_diamond(cache, diamond_sizes)
    if "phonon" in parts:
        print("diamond Γ optical mode", flush=True)
        results["diamond_gamma_optical"] = {
            f"{n}x{n}x{n}": optical_frequency(cache, n, round(results["diamond"][f"{n}x{n}x{n}"]
                                                              ["a0_angstrom"], 4)) for n in diamond_sizes}
    if "graphene" in parts or "graphite" in parts:
        print("graphene lattice", flush=True)
        results["graphene"] = run_graphene(cache, graphene_sizes)
    if "graphite" in parts:
        n = graphene_sizes[0]
        a = round(results["graphene"][f"{n}x{n}"]["a0_angstrom"], 4)
        print(f"graphite interlayer scan at a = {a} Å", flush=True)
        results["graphite"] = run_graphite(cache, a, n, check_c)
    if "c60" in parts:
        print("C60 relaxation", flush=True)
        results["c60"] = run_c60(cache)
    return results


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    except OSError:
        return "unknown"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS), help="what to measure")
    parser.add_argument("--diamond-sizes", type=int, nargs="+", default=[2, 3], metavar="N",
                        help="conventional n×n×n supercells for the EOS (default: %(default)s)")
    parser.add_argument("--graphene-sizes", type=int, nargs="+", default=[6, 9], metavar="N",
                        help="n×n graphene sheets; the first fixes graphite's in-plane a (default: %(default)s)")
    parser.add_argument("--no-c-check", action="store_true", help="skip graphite AB with 2 cells along c")
    parser.add_argument("--electronic-temperature", type=float, default=300.0, help="K (default: %(default)s)")
    parser.add_argument("--cache", type=Path, default=CACHE, help="single-point cache (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results JSON (default: %(default)s)")
    args = parser.parse_args(argv)

    cache = Cache(args.cache, args.electronic_temperature)
    results = json.loads(args.out.read_text()) if args.out.exists() else {}
    results.setdefault("results", {})
    start = time.perf_counter()
    measure(cache, args.parts, results["results"], args.diamond_sizes, args.graphene_sizes, not args.no_c_check)
    results["provenance"] = {
        "method": "GFN1-xTB", "package": f"tblite {version('tblite')}", "ase": version("ase"),
        "electronic_temperature_K": args.electronic_temperature, "k_points": "Gamma only (supercells as k-meshes)",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "git_commit": git_commit(),
        "command": "OMP_NUM_THREADS=1 nice -n 10 python scripts/gfn1_reference_properties.py",
        "diamond_supercells": [f"{n}x{n}x{n} conventional ({8 * n**3} atoms)" for n in args.diamond_sizes],
        "graphene_supercells": [f"{n}x{n} ({2 * n * n} atoms, {VACUUM_BOX} Å box)" for n in args.graphene_sizes],
        "cache": str(args.cache.relative_to(ROOT) if args.cache.is_relative_to(ROOT) else args.cache),
        "new_single_points_this_run": cache.calls, "tblite_seconds_this_run": round(cache.seconds, 1),
        "wall_seconds_this_run": round(time.perf_counter() - start, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")
    return results


if __name__ == "__main__":
    main()
