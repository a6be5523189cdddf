"""The command line, run as a user would run it."""

import subprocess
import sys

import numpy as np
import pytest
from ase.io import read, write
from conftest import SYSTEMS, tiny_model

from ase_relaxed import __version__, save_model
from ase_relaxed.cli import main


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "ase_relaxed", *args], capture_output=True, text=True, timeout=300)


def test_version_and_help():
    out = run_cli("--version")
    assert out.returncode == 0 and __version__ in out.stdout
    out = run_cli("--help")
    assert out.returncode == 0 and "eval" in out.stdout and "models" in out.stdout
    out = run_cli("eval", "--help")
    assert out.returncode == 0 and "--model" in out.stdout and "--out" in out.stdout


def test_eval_all_frames_of_a_file(tmp_path, capsys):
    model_path = tmp_path / "tiny.safetensors"
    save_model(tiny_model(), model_path)
    frames = [SYSTEMS["bulk"](), SYSTEMS["tube"](), SYSTEMS["molecule"]()]
    write(tmp_path / "in.extxyz", frames)
    out_path = tmp_path / "out.extxyz"
    assert main(["eval", str(tmp_path / "in.extxyz"), "--model", str(model_path), "--out", str(out_path)]) == 0
    printed = capsys.readouterr().out
    assert "3 structure(s)" in printed and "n/a (not 3D periodic)" in printed
    results = read(out_path, index=":")
    assert len(results) == 3
    assert results[0].get_stress().shape == (6,)
    assert all(np.isfinite(r.get_forces()).all() for r in results)


def test_eval_builder_spec_with_shipped_model(tmp_path):
    out = run_cli("eval", "cnt:5,5:length=2", "--out", str(tmp_path / "o.extxyz"))
    assert out.returncode == 0, out.stderr
    tube = read(tmp_path / "o.extxyz")
    assert len(tube) == 40 and tube.pbc.tolist() == [False, False, True]  # (5,5): 20 atoms per cell
    assert tube.get_forces().shape == (40, 3)


@pytest.mark.parametrize(
    "args, message",
    [
        (["eval", "missing.xyz"], "does not exist"),
        (["eval", "molecule:H2O"], "not in the model"),
        (["eval", "cnt:10,0", "--model", "missing.safetensors"], "does not exist"),
        (["eval", "cnt:10,0", "--device", "cuda:7"], "CUDA is not available|device"),
    ],
)
def test_bad_input_gives_one_clear_line_and_no_traceback(args, message):
    out = run_cli(*args)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    import re

    assert re.search(message, out.stderr), out.stderr


def test_corrupt_model_file(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a model at all")
    out = run_cli("eval", "cnt:10,0", "--model", str(bad))
    assert out.returncode == 2 and "corrupt" in out.stderr and "Traceback" not in out.stderr
