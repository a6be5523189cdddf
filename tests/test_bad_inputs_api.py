"""The bad-input catalogue of the Python API: each case raises an ase_relaxed error whose message names it.

Calculator and model construction, structures the model cannot evaluate (unknown elements, empty,
NaN, coincident atoms, also through the raw ``calc.model(graph)``), configs, builder specs, model
files and checkpoints, phonons and MD set-ups that cannot work. Never a bare numpy/torch error.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, molecule
from ase.calculators.calculator import PropertyNotImplementedError

from ase_relaxed import ModelConfig, build_model, load_model, save_model
from ase_relaxed.calculator import RelaxedCalculator
from ase_relaxed.errors import AseRelaxedError
from ase_relaxed.graph import atoms_to_graph, neighbor_list
from ase_relaxed.md import MDOptions
from ase_relaxed.md.checkpoint import load_checkpoint
from ase_relaxed.phonons import helical_phonons
from ase_relaxed.reference.generate import DataConfig
from ase_relaxed.structures import from_spec, read_structures
from ase_relaxed.symmetry import line_group
from ase_relaxed.train.config import TrainConfig

TINY = dict(species=["C"], cutoff=3.0, num_layers=1, channels=4)


@pytest.fixture(scope="module")
def model():
    return build_model(ModelConfig(**TINY))


@pytest.fixture(scope="module")
def calc(model):
    return RelaxedCalculator(model)


def _energy(calc, atoms):
    return calc.get_potential_energy(atoms)


def _raw_model(calc, atoms):
    graph = atoms_to_graph(atoms, calc.cutoff)
    return calc.model(graph)


def _write(path, content: bytes):
    path.write_bytes(content)
    return path


def _nan_model_file(model, tmp_path):
    import copy

    import torch

    broken = copy.deepcopy(model)
    with torch.no_grad():
        for parameter in broken.parameters():
            parameter.fill_(math.nan)
    path = tmp_path / "nan.safetensors"
    save_model(broken, path)
    return path


def _phonons_of_bare_molecule():
    from matscipy.calculators.manybody import Manybody
    from matscipy.calculators.manybody.explicit_forms.tersoff_brenner import Brenner_PRB_42_9458_C_I, TersoffBrenner

    from ase_relaxed.phonons import compute_phonons

    mol = Atoms("C2", positions=[[0, 0, 0], [1.3, 0, 0]], pbc=[False, False, True])
    return compute_phonons(mol, Manybody(**TersoffBrenner(Brenner_PRB_42_9458_C_I)), [1, 1, 2], progress=False)


def _run_md(atoms, **options):
    from ase.calculators.emt import EMT

    from ase_relaxed.md import run_md

    return run_md(atoms, EMT(), steps=2, traj="none", log="none", checkpoint="none", quiet=True, **options)


TUBE = Atoms("Cu4", positions=[[0, 0, 0], [2.5, 0, 0], [0, 2.5, 1.3], [2.5, 2.5, 1.3]], cell=[12, 12, 2.6],
             pbc=[False, False, True])

CASES = [
    # calculator construction
    ("unknown-shipped-model", lambda m, c, t: RelaxedCalculator("no-such-model"), "no shipped model"),
    ("missing-model-file", lambda m, c, t: RelaxedCalculator(str(t / "no.safetensors")), "does not exist"),
    ("unknown-device", lambda m, c, t: RelaxedCalculator(m, device="tpu"), "device"),
    ("unknown-dtype", lambda m, c, t: RelaxedCalculator(m, dtype="float16"), "dtype"),
    ("unknown-on-close", lambda m, c, t: RelaxedCalculator(m, on_close="bogus"), "on_close"),
    ("negative-skin", lambda m, c, t: RelaxedCalculator(m, skin=-1.0), "skin"),
    ("nan-skin", lambda m, c, t: RelaxedCalculator(m, skin=math.nan), "skin"),
    ("negative-min-distance", lambda m, c, t: RelaxedCalculator(m, min_distance=-1.0), "min_distance"),
    ("unknown-neighbour-list", lambda m, c, t: neighbor_list(bulk("C"), 3.0, "foo"), "neighbour-list backend"),
    # structures the model cannot evaluate
    ("unknown-element", lambda m, c, t: _energy(c, bulk("Si")), r"\['Si'\] not in the model"),
    ("unknown-element-raw-model", lambda m, c, t: _raw_model(c, bulk("Si")), r"Si.*not in the model"),
    ("no-atoms", lambda m, c, t: _energy(c, Atoms()), "no atoms"),
    ("nan-positions", lambda m, c, t: _energy(c, Atoms("C2", positions=[[0, 0, 0], [np.nan, 0, 0]])), "NaN"),
    ("close-atoms", lambda m, c, t: _energy(c, Atoms("C2", positions=[[0, 0, 0], [0.3, 0, 0]])), "closer"),
    ("coincident-atoms-warn", lambda m, c, t: _energy(RelaxedCalculator(m, on_close="warn"),
                                                      Atoms("C2", positions=[[0, 0, 0], [0, 0, 0]])), "0 Å|coincid"),
    ("stress-of-a-molecule", lambda m, c, t: c.get_stress(molecule("CH4")[:1]), "stress|volume"),
    # configs
    ("species-as-string", lambda m, c, t: ModelConfig(species="CO"), "species"),
    ("cutoff-as-text", lambda m, c, t: ModelConfig(cutoff="far"), "cutoff.*far"),
    ("cutoff-negative", lambda m, c, t: ModelConfig(cutoff=-1.0), "cutoff"),
    ("cutoff-nan", lambda m, c, t: ModelConfig(cutoff=math.nan), "cutoff"),
    ("dtype-float16", lambda m, c, t: ModelConfig(dtype="float16"), "dtype"),
    ("md-replicas-zero", lambda m, c, t: MDOptions(replicas=0), "replicas"),
    ("train-batch-zero", lambda m, c, t: TrainConfig.from_dict({"optim": {"batch_size": 0}}), "batch_size"),
    ("data-count-negative", lambda m, c, t: DataConfig(n_structures=-5), "n_structures"),
    # builder specs and line groups
    ("spec-misspelt-option", lambda m, c, t: read_structures("cnt:5,0:lenght=4"), "lenght"),
    ("spec-negative-lattice", lambda m, c, t: from_spec("diamond:C:a=-3"), "a="),
    ("line-group-negative", lambda m, c, t: line_group(-1, 2), "chirality"),
    # model files and checkpoints
    ("random-bytes-model-file", lambda m, c, t: load_model(_write(t / "r.safetensors", b"\x00" * 64)),
     "not a readable"),
    ("nan-weights-model-file", lambda m, c, t: load_model(_nan_model_file(m, t)), "NaN|non-finite"),
    ("missing-md-checkpoint", lambda m, c, t: load_checkpoint(t / "none.npz"), "no checkpoint"),
    # phonons and MD set-ups that cannot work
    ("phonons-without-a-box", lambda m, c, t: _phonons_of_bare_molecule(), "3D cell|vacuum"),
    ("helical-zero-tube", lambda m, c, t: helical_phonons(0, 0, c), "chirality"),
    ("md-unknown-ensemble", lambda m, c, t: _run_md(bulk("Cu", cubic=True), ensemble="bogus"), "ensemble"),
    ("md-npt-of-a-tube", lambda m, c, t: _run_md(TUBE, ensemble="npt"), "3D-periodic"),
]


@pytest.mark.parametrize("name, make, fragment", CASES, ids=[c[0] for c in CASES])
def test_bad_api_input_raises_a_clear_error(name, make, fragment, model, calc, tmp_path):
    with pytest.raises((AseRelaxedError, PropertyNotImplementedError)) as caught:  # the latter: ASE's protocol
        make(model, calc, tmp_path)
    message = str(caught.value)
    assert "\n" not in message.strip() and message, message
    assert re.search(fragment, message, re.IGNORECASE), message
