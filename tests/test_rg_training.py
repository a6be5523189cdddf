"""Resumable stack training (ase_relaxed.rg.training) and the locality targets on a small lattice."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ase_relaxed.errors import InputError, Interrupted
from ase_relaxed.interrupt import _request, graceful_stop
from ase_relaxed.rg import sample_ising
from ase_relaxed.rg.report import analyse
from ase_relaxed.rg.stack import RBMStack
from ase_relaxed.rg.training import train_stack

HYPER = dict(batch_size=40, lr=0.02, l1=0.003, momentum=0.5)


@pytest.fixture(scope="module")
def data():
    return sample_ising(6, 0.4, 400, seed=2).reshape(400, -1)


class Stop(Exception):
    pass


def _same(a: RBMStack, b: RBMStack) -> bool:
    return all(torch.equal(x.W, y.W) and torch.equal(x.a, y.a) and torch.equal(x.b, y.b)
               for x, y in zip(a.layers, b.layers))


@pytest.mark.parametrize("persistent", [False, True], ids=["CD", "PCD"])
@pytest.mark.parametrize("stop_at", [(0, 0), (0, 3), (1, 1)], ids=lambda s: f"layer{s[0]}-epoch{s[1]}")
def test_a_stopped_run_resumes_to_the_same_weights(data, tmp_path, persistent, stop_at):
    reference = train_stack([36, 9, 4], data, tmp_path / "ref.safetensors", epochs=5, seed=1, k=2,
                            persistent=persistent, device="cpu", **HYPER)

    def stop(layer, epoch, stack):
        if (layer, epoch) == stop_at:
            raise Stop

    path = tmp_path / "run.safetensors"
    with pytest.raises(Stop):
        train_stack([36, 9, 4], data, path, epochs=5, seed=1, k=2, persistent=persistent, device="cpu",
                    on_epoch=stop, **HYPER)
    partial = RBMStack.load(path)
    assert partial.metadata["progress"] == {"layer": stop_at[0], "epochs_done": stop_at[1] + 1}
    assert not _same(partial, reference)
    done = train_stack([36, 9, 4], data, path, epochs=5, seed=1, k=2, persistent=persistent, device="cpu",
                       resume=True, **HYPER)
    assert _same(done, reference) and _same(RBMStack.load(path), reference)


def test_sigterm_stops_after_a_checkpoint_and_resume_finishes(data, tmp_path):
    reference = train_stack([36, 9], data, tmp_path / "ref.safetensors", epochs=4, device="cpu", **HYPER)
    path = tmp_path / "run.safetensors"

    def signal_at_epoch_1(layer, epoch, stack):
        if epoch == 1:
            _request("SIGTERM")  # what the handler does when the signal arrives

    with graceful_stop(), pytest.raises(Interrupted, match="--resume"):
        train_stack([36, 9], data, path, epochs=4, device="cpu", on_epoch=signal_at_epoch_1, **HYPER)
    assert RBMStack.load(path).metadata["progress"]["epochs_done"] == 2
    assert _same(train_stack([36, 9], data, path, epochs=4, device="cpu", resume=True, **HYPER), reference)


def test_resume_with_other_settings_is_refused(data, tmp_path):
    path = tmp_path / "run.safetensors"
    train_stack([36, 9], data, path, epochs=2, device="cpu", **HYPER)
    with pytest.raises(InputError, match="l1"):
        train_stack([36, 9], data, path, epochs=2, device="cpu", resume=True, **{**HYPER, "l1": 0.1})
    with pytest.raises(InputError, match="data_sha256"):
        train_stack([36, 9], -data, path, epochs=2, device="cpu", resume=True, **HYPER)


def test_strong_l1_gives_local_fields_that_grow_with_depth():
    """12x12 at K = 0.408, 144-36-9 with L1 0.03: layer-1 locality at the block scale >= 3x its shuffled baseline,
    and the half-weight radius grows from layer 1 to layer 2 (the 20x20 numbers are in docs/rg.md)."""
    spins = sample_ising(12, 0.408, 3000, seed=0, thin=2, burn_in=500)
    stack = RBMStack([144, 36, 9], seed=0, device="cpu")
    stack.fit(spins.reshape(len(spins), -1), epochs=15, lr=0.01, l1=0.03, batch_size=100)
    one, two = analyse(stack, spins, n_reconstruct=500)["layers"]
    print(f"S(R=b): {one['locality_at_block_scale']:.2f} vs {one['locality_at_block_scale_shuffled']:.2f}; "
          f"R_1/2 {one['radius_half_median']:.2f} -> {two['radius_half_median']:.2f}")
    assert one["locality_at_block_scale"] >= 3 * one["locality_at_block_scale_shuffled"]
    assert two["radius_half_median"] > one["radius_half_median"]
    assert abs(one["reconstruction"]["abs_m"]["mean"] / np.abs(spins.mean(axis=(1, 2))).mean() - 1) < 0.1


def test_per_layer_l1(data, tmp_path):
    """A list of L1 strengths applies one per RBM: the first layer equals a run with that strength everywhere."""
    hyper = {k: v for k, v in HYPER.items() if k != "l1"}
    mixed = train_stack([36, 9, 4], data, tmp_path / "a.safetensors", epochs=3, device="cpu", l1=[0.05, 0.0], **hyper)
    same = train_stack([36, 9, 4], data, tmp_path / "b.safetensors", epochs=3, device="cpu", l1=0.05, **hyper)
    assert torch.equal(mixed.layers[0].W, same.layers[0].W) and not torch.equal(mixed.layers[1].W, same.layers[1].W)
    assert RBMStack.load(tmp_path / "a.safetensors").metadata["train"]["l1"] == [0.05, 0.0]
    with pytest.raises(InputError, match="one value per RBM"):
        train_stack([36, 9, 4], data, tmp_path / "c.safetensors", epochs=1, device="cpu", l1=[0.1], **hyper)
