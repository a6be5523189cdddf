"""The carbon families of issue 15: every family builds, is labelled, is sane, and resumes exactly (no tblite)."""

import json

import numpy as np
import pytest
from ase.io import read
from ase.neighborlist import neighbor_list

from ase_relaxed import InputError
from ase_relaxed.cli import main
from ase_relaxed.reference import carbon_families as cf
from ase_relaxed.reference.amorphous import MeltQuench, box_length
from ase_relaxed.reference.generate import reference_calculator

QUICK = MeltQuench(n_atoms=24, melt_steps=10, quench_steps=10, relax_steps=10)
FAMILIES = [*cf.FIXED_FAMILIES[:8], "cnt(5,0)-stone-wales", "cnt(5,0)-vacancy", *cf.FIXED_FAMILIES[8:]]
SMALL = dict(method="brenner", families=FAMILIES, min_length=8.0, thermal_steps=5, diamond_cell="primitive",
             diamond_repeat=2, slab_repeat=2, slab_layers=4, graphite_repeat=2, amorphous=QUICK, relax_steps=100)


def min_distance(atoms):
    d = neighbor_list("d", atoms, 3.0)
    return d.min()


def coordination(atoms, cutoff=1.8):
    return np.bincount(neighbor_list("i", atoms, cutoff), minlength=len(atoms))


@pytest.fixture(scope="module")
def md_calc():
    return reference_calculator("brenner")[0]


def test_default_families_are_all_known():
    assert len(set(cf.default_families())) == 13
    assert cf.FamiliesConfig().families == cf.default_families()
    for family in ("cnt(10,0)-stone-wales", "cnt(8,4)-vacancy", "graphite-AA"):
        assert cf.FamiliesConfig(families=[family]).families == [family]


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_builds_with_its_label(family, md_calc):
    config = cf.FamiliesConfig(**{**SMALL, "families": [family], "n_structures": 4})
    ideal = cf.ideal_structure(family, config) if family != "amorphous" else None
    for k in range(4):
        atoms = cf.make_family_structure(k, config, md_calc)
        assert atoms.info["family"] == family and atoms.info["index"] == k
        assert atoms.info["variant"] in cf.family_variants(family, config)
        assert min_distance(atoms) > 1.1, (family, atoms.info["variant"])
        assert np.all(atoms.get_velocities() == 0) and atoms.calc is None
        if ideal is not None and atoms.info["variant"] != "interlayer":
            assert len(atoms) == len(ideal) and atoms.pbc.tolist() == ideal.pbc.tolist()


def test_ideal_structures_are_what_their_names_say():
    config = cf.FamiliesConfig(**SMALL)
    diamond = cf.ideal_structure("diamond", config)
    assert len(diamond) == 16 and set(coordination(diamond)) == {4}
    assert len(cf.ideal_structure("diamond-vacancy", config)) == 15
    assert len(cf.diamond_bulk(cf.FamiliesConfig())) == 216  # the default: 3×3×3 conventional
    for face in ("100", "111"):
        slab = cf.ideal_structure(f"diamond({face})-slab", config)
        assert slab.pbc.tolist() == [True, True, False]
        bulk_like = coordination(slab) == 4
        surface = coordination(slab)[~bulk_like]
        assert bulk_like.any() and set(surface) == {2 if face == "100" else 3}  # 2 or 1 dangling bonds
    for stacking in ("AB", "AA"):
        graphite = cf.ideal_structure(f"graphite-{stacking}", config)
        z = np.unique(np.round(graphite.positions[:, 2], 6))
        assert len(z) == 2 and np.isclose(z[1] - z[0], config.graphite_distance)
        frac = graphite.get_scaled_positions()[:, :2]
        one, two = (frac[np.isclose(graphite.positions[:, 2], h)] for h in z)
        gap = one[:, None] - two[None]
        over = np.abs(gap - np.rint(gap)).max(axis=2).min(axis=1) < 1e-6  # in-plane, modulo the lattice
        assert over.all() if stacking == "AA" else 0 < over.sum() < len(one)  # AB: half of the atoms eclipsed
    c60, c20 = cf.ideal_structure("fullerene-C60", config), cf.ideal_structure("fullerene-C20", config)
    assert len(c60) == 60 and len(c20) == 20 and set(coordination(c60)) == set(coordination(c20)) == {3}
    for host in ("graphene", "cnt(5,0)"):
        pristine = cf.base_structure(host, config.tubes())
        defect = cf.ideal_structure(f"{host}-stone-wales", config)
        assert len(defect) == len(pristine) and set(coordination(defect)) == {3}
        bonds = lambda a: {tuple(sorted(p)) for p in zip(*neighbor_list("ij", a, 1.8))}  # noqa: E731
        assert bonds(defect) != bonds(pristine)  # a bond was turned, not just moved
        vacancy = cf.ideal_structure(f"{host}-vacancy", config)
        assert len(vacancy) == len(pristine) - 1 and (coordination(vacancy) == 2).sum() == 3


def test_interlayer_and_amorphous_draws(md_calc):
    config = cf.FamiliesConfig(**{**SMALL, "families": ["graphite-AB", "amorphous"], "n_structures": 12})
    scanned = []
    for k in range(12):
        atoms = cf.make_family_structure(k, config, md_calc)
        if atoms.info["variant"] == "interlayer":
            d = atoms.info["interlayer_distance"]
            assert config.interlayer_range[0] <= d <= config.interlayer_range[1]
            assert np.isclose(atoms.cell[2, 2], 2 * d)
            scanned.append(d)
        if atoms.info["family"] == "amorphous":
            assert atoms.info["variant"] == "quenched" and len(atoms) == QUICK.n_atoms
            assert np.isclose(atoms.cell[0, 0], box_length(QUICK.n_atoms, atoms.info["density_g_cm3"]))
    assert scanned  # the draw reaches the scan at least once in 6 graphite frames


def test_labels_and_provenance(tmp_path):
    config = cf.FamiliesConfig(**{**SMALL, "n_structures": len(FAMILIES)})
    frames = read(cf.generate_families(tmp_path / "f.extxyz", config, progress=False), index=":")
    assert [a.info["family"] for a in frames] == FAMILIES
    calc, _ = reference_calculator("brenner")
    for atoms in frames[::3]:
        fresh = atoms.copy()
        fresh.calc = calc
        assert abs(fresh.get_potential_energy() - atoms.get_potential_energy()) < 1e-6
        np.testing.assert_allclose(fresh.get_forces(), atoms.get_forces(), atol=1e-6)
    for atoms in frames:
        assert atoms.info["method"] == "brenner"
        settings = json.loads(atoms.info["method_settings"])
        assert settings["generator"]["kind"] == "carbon_families" and settings["generator"]["seed"] == 0
        assert settings["generator"]["config"]["families"] == FAMILIES
        assert ("stress" in atoms.calc.results) == bool(atoms.pbc.all())  # stress on 3D-periodic cells only


def test_resume_after_a_kill_equals_an_uninterrupted_run(tmp_path):
    n = 2 * len(FAMILIES) - 5
    whole = cf.generate_families(tmp_path / "whole.extxyz", cf.FamiliesConfig(**{**SMALL, "n_structures": n}),
                                 progress=False)
    part = tmp_path / "part.extxyz"
    for k in (4, 9):  # killed after k frames, twice, the second time mid-write
        cf.generate_families(part, cf.FamiliesConfig(**{**SMALL, "n_structures": k}), resume=True, progress=False)
    text = part.read_text()
    part.write_text(text[: int(len(text) * 0.95)])
    cf.generate_families(part, cf.FamiliesConfig(**{**SMALL, "n_structures": n}), resume=True, progress=False)
    assert part.read_text() == whole.read_text()
    with pytest.raises(InputError, match="other settings"):
        cf.generate_families(part, cf.FamiliesConfig(**{**SMALL, "n_structures": n + 1, "seed": 1}), resume=True,
                             progress=False)


def test_bad_families_and_the_cli(tmp_path, capsys):
    with pytest.raises(InputError, match="unknown family"):
        cf.FamiliesConfig(families=["nanodiamond"])
    with pytest.raises(InputError, match="should look like"):
        cf.FamiliesConfig(families=["cnt(ten,0)-vacancy"])
    out = tmp_path / "cli.extxyz"
    args = ["data", "--method", "brenner", "--families", "fullerene-C20", "graphene-vacancy", "-n", "3", "--out",
            str(out), "--quiet"]
    assert main(args) == 0
    assert [a.info["family"] for a in read(out, index=":")] == ["fullerene-C20", "graphene-vacancy", "fullerene-C20"]
    assert main(args) == 2 and "--resume" in capsys.readouterr().err
